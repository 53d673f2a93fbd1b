package keeper_test

import (
	"testing"

	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/types"
)

func TestUpdateParams_ByAuthority(t *testing.T) {
	f := newFixture(t)
	old := testParams()
	f.advanceTo(7)

	updated := testParams()
	updated.NumSuppliersPerSession = 3
	updated.ProofRequestProbabilityPpm = 250_000
	updated.MinSupplierStake = coin(5_000_000)
	f.resetEvents()
	_, err := f.msgs.UpdateParams(f.ctx, &types.MsgUpdateParams{Authority: f.authority, Params: updated})
	require.NoError(t, err)

	got, err := f.k.GetParams(f.ctx)
	require.NoError(t, err)
	require.Equal(t, updated, got)
	evs := eventsOf[*types.EventParamsUpdated](f)
	require.Len(t, evs, 1)
	evParams := evs[0].Params
	if len(evParams.RelayDifficultyTargets) == 0 {
		evParams.RelayDifficultyTargets = nil // JSON decoding of the event gives [] for nil
	}
	require.Equal(t, updated, evParams)

	// History: heights before the update see the old params.
	for h, want := range map[int64]types.Params{0: old, 1: old, 6: old, 7: updated, 1000: updated} {
		p, err := f.k.ParamsAt(f.ctx, h)
		require.NoError(t, err, "height %d", h)
		require.Equal(t, want, p, "height %d", h)
	}
	q, err := f.queries.Params(f.ctx, &types.QueryParamsRequest{Height: 6})
	require.NoError(t, err)
	require.Equal(t, old, q.Params)
	q, err = f.queries.Params(f.ctx, &types.QueryParamsRequest{})
	require.NoError(t, err)
	require.Equal(t, updated, q.Params)

	// The new minimum applies to stakes from now on.
	f.addService("eth", 1)
	bob := f.newAccount("bob", 10_000_000)
	_, err = f.msgs.StakeSupplier(f.ctx, &types.MsgStakeSupplier{OperatorAddress: bob, Stake: coin(4_999_999), Services: supplierServices("eth")})
	require.ErrorIs(t, err, types.ErrStakeBelowMinimum)
	f.stakeSupplier(bob, 5_000_000, "eth")
}

func TestUpdateParams_Rejections(t *testing.T) {
	f := newFixture(t)
	f.advanceTo(3)
	stranger := f.newAccount("stranger", 0)
	with := func(edit func(*types.Params)) types.Params {
		p := testParams()
		edit(&p)
		return p
	}
	tests := []struct {
		name      string
		authority string
		params    types.Params
		err       error
	}{
		{"wrong authority", stranger, with(func(p *types.Params) { p.NumSuppliersPerSession = 3 }), types.ErrUnauthorized},
		{"malformed authority", "gov", with(func(p *types.Params) { p.NumSuppliersPerSession = 3 }), types.ErrUnauthorized},
		{"zero suppliers per session", f.authority, with(func(p *types.Params) { p.NumSuppliersPerSession = 0 }), types.ErrInvalidParams},
		{"zero claim window open offset", f.authority, with(func(p *types.Params) { p.ClaimWindowOpenOffsetBlocks = 0 }), types.ErrInvalidParams},
		{"probability above one", f.authority, with(func(p *types.Params) { p.ProofRequestProbabilityPpm = types.ProofRequestProbabilityAlways + 1 }), types.ErrInvalidParams},
		{"mixed denoms", f.authority, with(func(p *types.Params) { p.MinSupplierStake = sdk.NewInt64Coin("uatom", 1) }), types.ErrInvalidParams},
		{"num_blocks_per_session changed", f.authority, with(func(p *types.Params) { p.NumBlocksPerSession = 5 }), types.ErrParamImmutable},
		{"stake denom changed", f.authority, with(func(p *types.Params) {
			for _, c := range []*sdk.Coin{&p.MinApplicationStake, &p.MinSupplierStake, &p.ProofRequirementThreshold, &p.ProofMissingPenalty} {
				c.Denom = "uatom"
			}
		}), types.ErrParamImmutable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.resetEvents()
			_, err := f.msgs.UpdateParams(f.ctx, &types.MsgUpdateParams{Authority: tc.authority, Params: tc.params})
			require.ErrorIs(t, err, tc.err)
			p, err := f.k.GetParams(f.ctx)
			require.NoError(t, err)
			require.Equal(t, testParams(), p, "rejected params must not be recorded")
			require.Empty(t, eventsOf[*types.EventParamsUpdated](f))
		})
	}
}
