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
	// The penalty must cover threshold x (1-p)/p = 3 x threshold.
	updated.ProofRequirementThreshold = coin(30_000)
	updated.NumProofsPerClaim = 5
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
		{"claim window open offset 1", f.authority, with(func(p *types.Params) { p.ClaimWindowOpenOffsetBlocks = 1 }), types.ErrInvalidParams},
		{"zero proofs per claim", f.authority, with(func(p *types.Params) { p.NumProofsPerClaim = 0 }), types.ErrInvalidParams},
		{"17 proofs per claim", f.authority, with(func(p *types.Params) { p.NumProofsPerClaim = 17 }), types.ErrInvalidParams},
		{"penalty below threshold x (1-p)/p", f.authority, with(func(p *types.Params) {
			p.ProofRequestProbabilityPpm, p.ProofRequirementThreshold, p.ProofMissingPenalty = 250_000, coin(30_000), coin(89_999)
		}), types.ErrInvalidParams},
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

// TestParamsValidate_ClaimAndProofRules: the rules the relay protocol's
// soundness rests on. The claim window opens at least 2 blocks after the
// grace period (its first block seeds minability); a proof opens 1 to 16
// leaves; and when claims at or below the threshold are drawn with
// probability p < 1, the missing-proof penalty covers threshold x (1-p)/p,
// so a false claim loses in expectation. Each case is checked by Validate
// and by an UpdateParams through governance.
func TestParamsValidate_ClaimAndProofRules(t *testing.T) {
	penaltyCase := func(ppm uint64, threshold, penalty int64) func(*types.Params) {
		return func(p *types.Params) {
			p.ProofRequestProbabilityPpm, p.ProofRequirementThreshold, p.ProofMissingPenalty = ppm, coin(threshold), coin(penalty)
			if p.MinSupplierStake.Amount.LT(p.ProofMissingPenalty.Amount) {
				p.MinSupplierStake = p.ProofMissingPenalty // the stake must be able to pay it
			}
		}
	}
	tests := []struct {
		name string
		edit func(*types.Params)
		err  error // nil: valid
	}{
		{"claim window opens 1 block after the grace period", func(p *types.Params) { p.ClaimWindowOpenOffsetBlocks = 1 }, types.ErrInvalidParams},
		{"claim window opens 2 blocks after the grace period", func(p *types.Params) { p.ClaimWindowOpenOffsetBlocks = 2 }, nil},
		{"0 proofs per claim", func(p *types.Params) { p.NumProofsPerClaim = 0 }, types.ErrInvalidParams},
		{"1 proof per claim", func(p *types.Params) { p.NumProofsPerClaim = 1 }, nil},
		{"16 proofs per claim", func(p *types.Params) { p.NumProofsPerClaim = 16 }, nil},
		{"17 proofs per claim", func(p *types.Params) { p.NumProofsPerClaim = 17 }, types.ErrInvalidParams},
		// p = 1/4: the penalty must be at least 3 x threshold.
		{"penalty one below threshold x (1-p)/p", penaltyCase(250_000, 30_000, 89_999), types.ErrInvalidParams},
		{"penalty at threshold x (1-p)/p", penaltyCase(250_000, 30_000, 90_000), nil},
		{"penalty above threshold x (1-p)/p", penaltyCase(250_000, 30_000, 90_001), nil},
		// p = 10^-6: the penalty must be 999,999 x threshold.
		{"tiny probability, penalty one below", penaltyCase(1, 2, 1_999_997), types.ErrInvalidParams},
		{"tiny probability, penalty at the bound", penaltyCase(1, 2, 1_999_998), nil},
		{"penalty over the minimum supplier stake", func(p *types.Params) {
			penaltyCase(1, 2, 1_999_998)(p)
			p.MinSupplierStake.Amount = p.ProofMissingPenalty.Amount.SubRaw(1)
		}, types.ErrInvalidParams},
		{"probability 0 with a threshold", penaltyCase(0, 1, 1_000_000_000), types.ErrInvalidParams},
		{"probability 0, threshold 0: every claim is proven", penaltyCase(0, 0, 0), nil},
		{"probability 1: no penalty bound", penaltyCase(types.ProofRequestProbabilityAlways, 20_000_000, 0), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := testParams()
			tc.edit(&p)
			f := newFixture(t)
			_, err := f.msgs.UpdateParams(f.ctx, &types.MsgUpdateParams{Authority: f.authority, Params: p})
			got, gerr := f.k.GetParams(f.ctx)
			require.NoError(t, gerr)
			if tc.err == nil {
				require.NoError(t, p.Validate())
				require.NoError(t, err)
				require.Equal(t, p, got)
				return
			}
			require.ErrorIs(t, p.Validate(), tc.err)
			require.ErrorIs(t, err, tc.err)
			require.Equal(t, testParams(), got, "rejected params are not recorded")
		})
	}
}
