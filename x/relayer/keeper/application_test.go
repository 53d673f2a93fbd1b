package keeper_test

import (
	"testing"

	sdkmath "cosmossdk.io/math"
	sdk "github.com/cosmos/cosmos-sdk/types"
	sdkerrors "github.com/cosmos/cosmos-sdk/types/errors"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

const minStake = 1_000_000 // types.DefaultParams' minimum stakes

func TestStakeApplication_HappyPath(t *testing.T) {
	f := newFixture(t)
	f.addService("eth", 1)
	f.addService("sol", 1)
	alice := f.newAccount("alice", 5_000_000)
	f.advanceTo(2)

	f.resetEvents()
	res, err := f.msgs.StakeApplication(f.ctx, &types.MsgStakeApplication{Address: alice, Stake: coin(2_000_000), ServiceIds: []string{"eth", "sol"}})
	require.NoError(t, err)
	require.Equal(t, int64(5), res.ActivationHeight, "staked in session 1-4: active from the next session start")

	require.Equal(t, sdkmath.NewInt(3_000_000), f.balance(alice))
	require.Equal(t, sdkmath.NewInt(2_000_000), f.moduleBalance())

	want := types.Application{Address: alice, Stake: coin(2_000_000), ServiceIds: []string{"eth", "sol"}, ActivationHeight: 5}
	got, err := f.k.Applications.Get(f.ctx, alice)
	require.NoError(t, err)
	require.Equal(t, want, got)
	evs := eventsOf[*types.EventApplicationStaked](f)
	require.Len(t, evs, 1)
	require.Equal(t, want, evs[0].Application)

	q, err := f.queries.Application(f.ctx, &types.QueryApplicationRequest{Address: alice})
	require.NoError(t, err)
	require.Equal(t, want, q.Application)
}

func TestStakeApplication_ActivationIsNextSessionStart(t *testing.T) {
	// N = 4: sessions 1-4, 5-8, 9-12.
	for h, want := range map[int64]int64{1: 5, 3: 5, 4: 5, 5: 9, 8: 9, 9: 13} {
		f := newFixture(t)
		f.addService("eth", 1)
		alice := f.newAccount("alice", minStake)
		f.advanceTo(h)
		res := f.stakeApp(alice, minStake, "eth")
		require.Equal(t, want, res.ActivationHeight, "staked at height %d", h)
	}
}

func TestStakeApplication_Rejections(t *testing.T) {
	f := newFixture(t)
	f.addService("eth", 1)
	rich := f.newAccount("rich", 100_000_000)
	poor := f.newAccount("poor", 1_500_000)
	staked := f.newAccount("staked", 5_000_000)
	f.stakeApp(staked, 2_000_000, "eth")
	unbonding := f.newAccount("unbonding", 5_000_000)
	f.stakeApp(unbonding, 2_000_000, "eth")
	_, err := f.msgs.UnstakeApplication(f.ctx, &types.MsgUnstakeApplication{Address: unbonding})
	require.NoError(t, err)

	type tc struct {
		name string
		msg  *types.MsgStakeApplication
		err  error
	}
	tests := []tc{
		{"below minimum", &types.MsgStakeApplication{Address: rich, Stake: coin(minStake - 1), ServiceIds: []string{"eth"}}, types.ErrStakeBelowMinimum},
		{"wrong denom", &types.MsgStakeApplication{Address: rich, Stake: sdk.NewInt64Coin("uatom", 2_000_000), ServiceIds: []string{"eth"}}, types.ErrInvalidStake},
		{"zero stake", &types.MsgStakeApplication{Address: rich, Stake: coin(0), ServiceIds: []string{"eth"}}, types.ErrInvalidStake},
		{"unknown service", &types.MsgStakeApplication{Address: rich, Stake: coin(2_000_000), ServiceIds: []string{"eth", "nope"}}, types.ErrServiceNotFound},
		{"no service", &types.MsgStakeApplication{Address: rich, Stake: coin(2_000_000)}, types.ErrInvalidService},
		{"service twice", &types.MsgStakeApplication{Address: rich, Stake: coin(2_000_000), ServiceIds: []string{"eth", "eth"}}, types.ErrInvalidService},
		{"malformed service id", &types.MsgStakeApplication{Address: rich, Stake: coin(2_000_000), ServiceIds: []string{"e th"}}, types.ErrInvalidService},
		{"insufficient funds", &types.MsgStakeApplication{Address: poor, Stake: coin(2_000_000), ServiceIds: []string{"eth"}}, sdkerrors.ErrInsufficientFunds},
		{"already staked", &types.MsgStakeApplication{Address: staked, Stake: coin(2_000_000), ServiceIds: []string{"eth"}}, types.ErrApplicationAlreadyStaked},
		{"unbonding", &types.MsgStakeApplication{Address: unbonding, Stake: coin(2_000_000), ServiceIds: []string{"eth"}}, types.ErrApplicationUnbonding},
	}
	for name, addr := range malformedAddresses() {
		tests = append(tests, tc{"address " + name, &types.MsgStakeApplication{Address: addr, Stake: coin(2_000_000), ServiceIds: []string{"eth"}}, types.ErrInvalidAddress})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, moduleBefore := f.balance(tc.msg.Address), f.moduleBalance()
			stateBefore, _ := f.k.Applications.Get(f.ctx, tc.msg.Address)
			_, err := f.msgs.StakeApplication(f.ctx, tc.msg)
			require.ErrorIs(t, err, tc.err)
			require.Equal(t, before, f.balance(tc.msg.Address), "no coins may move")
			require.Equal(t, moduleBefore, f.moduleBalance(), "no coins may move")
			stateAfter, _ := f.k.Applications.Get(f.ctx, tc.msg.Address)
			require.Equal(t, stateBefore, stateAfter, "the application must not change")
		})
	}
	// The rich account can stake: the failures above are the messages' own.
	f.stakeApp(rich, 2_000_000, "eth")
}

func TestUnstakeApplication_Lifecycle(t *testing.T) {
	f := newFixture(t)
	f.addService("eth", 1)
	alice := f.newAccount("alice", 5_000_000)
	f.advanceTo(2)
	f.stakeApp(alice, 2_000_000, "eth") // active from 5

	// Unstake during session 5-8: the app stays in sessions up to 8, and its
	// stake comes back when session 5-8's proof window closes:
	// 8 + grace 1 + claim open 2 + claim close 4 + proof open 1 + proof close 4 = 20.
	unbondEnd := protocol.SessionWindows(testParams(), 8).ProofWindowClose
	require.Equal(t, int64(20), unbondEnd)
	f.advanceTo(6)
	_, err := f.k.GetSession(f.ctx, alice, "eth", 6)
	require.NoError(t, err)
	f.resetEvents()
	res, err := f.msgs.UnstakeApplication(f.ctx, &types.MsgUnstakeApplication{Address: alice})
	require.NoError(t, err)
	require.Equal(t, unbondEnd, res.UnbondingEndHeight)
	app, err := f.k.Applications.Get(f.ctx, alice)
	require.NoError(t, err)
	require.Equal(t, int64(8), app.UnstakeSessionEndHeight)
	begin := eventsOf[*types.EventApplicationUnbondingBegin](f)
	require.Len(t, begin, 1)
	require.Equal(t, unbondEnd, begin[0].UnbondingEndHeight)
	require.Equal(t, app, begin[0].Application)

	// Unstaking twice, staking again or adding stake while unbonding fail.
	_, err = f.msgs.UnstakeApplication(f.ctx, &types.MsgUnstakeApplication{Address: alice})
	require.ErrorIs(t, err, types.ErrApplicationUnbonding)
	_, err = f.msgs.StakeApplication(f.ctx, &types.MsgStakeApplication{Address: alice, Stake: coin(2_000_000), ServiceIds: []string{"eth"}})
	require.ErrorIs(t, err, types.ErrApplicationUnbonding)

	// Still in the current session until its end.
	f.advanceTo(8)
	_, err = f.k.GetSession(f.ctx, alice, "eth", 8)
	require.NoError(t, err)

	// Gone from the next session on, but the past one is still served.
	f.advanceTo(9)
	_, err = f.k.GetSession(f.ctx, alice, "eth", 9)
	require.ErrorIs(t, err, types.ErrApplicationNotActive)
	_, err = f.k.GetSession(f.ctx, alice, "eth", 7)
	require.NoError(t, err)

	// Until the EndBlocker of the unbonding's last block the stake stays
	// escrowed.
	f.advanceTo(unbondEnd)
	require.Equal(t, sdkmath.NewInt(3_000_000), f.balance(alice))
	require.Equal(t, sdkmath.NewInt(2_000_000), f.moduleBalance())
	_, err = f.k.Applications.Get(f.ctx, alice)
	require.NoError(t, err)

	// That EndBlocker returns it exactly and removes the app.
	f.resetEvents()
	f.endBlock()
	require.Equal(t, sdkmath.NewInt(5_000_000), f.balance(alice))
	require.True(t, f.moduleBalance().IsZero())
	has, err := f.k.Applications.Has(f.ctx, alice)
	require.NoError(t, err)
	require.False(t, has)
	end := eventsOf[*types.EventApplicationUnbondingEnd](f)
	require.Len(t, end, 1)
	require.Equal(t, alice, end[0].Application.Address)
	_, err = f.queries.Application(f.ctx, &types.QueryApplicationRequest{Address: alice})
	require.Equal(t, codes.NotFound, status.Code(err))

	// Unstaking a removed app fails; staking again works.
	_, err = f.msgs.UnstakeApplication(f.ctx, &types.MsgUnstakeApplication{Address: alice})
	require.ErrorIs(t, err, types.ErrApplicationNotFound)
	f.advanceTo(unbondEnd + 1)
	require.Equal(t, protocol.SessionEndHeight(4, unbondEnd+1)+1, f.stakeApp(alice, 2_000_000, "eth").ActivationHeight)
}

func TestUnstakeApplication_Rejections(t *testing.T) {
	f := newFixture(t)
	stranger := f.newAccount("stranger", 5_000_000)
	_, err := f.msgs.UnstakeApplication(f.ctx, &types.MsgUnstakeApplication{Address: stranger})
	require.ErrorIs(t, err, types.ErrApplicationNotFound)
	for name, addr := range malformedAddresses() {
		_, err := f.msgs.UnstakeApplication(f.ctx, &types.MsgUnstakeApplication{Address: addr})
		require.ErrorIs(t, err, types.ErrInvalidAddress, name)
	}
}
