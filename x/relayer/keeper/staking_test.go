package keeper_test

import (
	"testing"

	sdkmath "cosmossdk.io/math"
	sdk "github.com/cosmos/cosmos-sdk/types"
	sdkerrors "github.com/cosmos/cosmos-sdk/types/errors"
	"github.com/cosmos/gogoproto/proto"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/types"
)

// stakingActor is one kind of staked actor, as the add-stake tests see it.
type stakingActor struct {
	name string
	// stake stakes addr for "eth"; unstake starts its unbonding.
	stake   func(f *fixture, addr string, amount int64)
	unstake func(f *fixture, addr string) error
	// add sends the actor's add-stake message.
	add func(f *fixture, addr string, amount sdk.Coin) error
	// get reads the actor's stake, its activation height and the actor as
	// its staked event carries it.
	get func(f *fixture, addr string) (sdk.Coin, int64, proto.Message, error)
	// event lists the actors the staked events since the last reset carry.
	event               func(f *fixture) []proto.Message
	notFound, unbonding error
}

var stakingActors = []stakingActor{
	{
		name:  "application",
		stake: func(f *fixture, addr string, amount int64) { f.stakeApp(addr, amount, "eth") },
		unstake: func(f *fixture, addr string) error {
			_, err := f.msgs.UnstakeApplication(f.ctx, &types.MsgUnstakeApplication{Address: addr})
			return err
		},
		add: func(f *fixture, addr string, amount sdk.Coin) error {
			_, err := f.msgs.AddApplicationStake(f.ctx, &types.MsgAddApplicationStake{Address: addr, Amount: amount})
			return err
		},
		get: func(f *fixture, addr string) (sdk.Coin, int64, proto.Message, error) {
			a, err := f.k.Applications.Get(f.ctx, addr)
			return a.Stake, a.ActivationHeight, &a, err
		},
		event: func(f *fixture) []proto.Message {
			var out []proto.Message
			for _, e := range eventsOf[*types.EventApplicationStaked](f) {
				out = append(out, &e.Application)
			}
			return out
		},
		notFound: types.ErrApplicationNotFound, unbonding: types.ErrApplicationUnbonding,
	},
	{
		name:  "supplier",
		stake: func(f *fixture, addr string, amount int64) { f.stakeSupplier(addr, amount, "eth") },
		unstake: func(f *fixture, addr string) error {
			_, err := f.msgs.UnstakeSupplier(f.ctx, &types.MsgUnstakeSupplier{OperatorAddress: addr})
			return err
		},
		add: func(f *fixture, addr string, amount sdk.Coin) error {
			_, err := f.msgs.AddSupplierStake(f.ctx, &types.MsgAddSupplierStake{OperatorAddress: addr, Amount: amount})
			return err
		},
		get: func(f *fixture, addr string) (sdk.Coin, int64, proto.Message, error) {
			s, err := f.k.Suppliers.Get(f.ctx, addr)
			return s.Stake, s.ActivationHeight, &s, err
		},
		event: func(f *fixture) []proto.Message {
			var out []proto.Message
			for _, e := range eventsOf[*types.EventSupplierStaked](f) {
				out = append(out, &e.Supplier)
			}
			return out
		},
		notFound: types.ErrSupplierNotFound, unbonding: types.ErrSupplierUnbonding,
	},
}

// TestAddStake: an application or a supplier adds to its stake, which moves
// the coins to the module and emits its staked event without moving its
// activation; every bad addition is refused with its registered error and
// moves nothing.
func TestAddStake(t *testing.T) {
	for _, a := range stakingActors {
		t.Run(a.name, func(t *testing.T) {
			f := newFixture(t)
			f.addService("eth", 1)
			staker := f.newAccount("staker", 5_000_000)
			a.stake(f, staker, 2_000_000)

			f.resetEvents()
			require.NoError(t, a.add(f, staker, coin(700_000)))
			stake, activation, actor, err := a.get(f, staker)
			require.NoError(t, err)
			require.Equal(t, coin(2_700_000), stake)
			require.Equal(t, int64(5), activation, "adding stake does not move activation")
			require.Equal(t, sdkmath.NewInt(2_300_000), f.balance(staker))
			require.Equal(t, sdkmath.NewInt(2_700_000), f.moduleBalance())
			evs := a.event(f)
			require.Len(t, evs, 1)
			require.Equal(t, actor, evs[0], "the event carries the %s", a.name)

			stranger := f.newAccount("stranger", 5_000_000)
			unbonding := f.newAccount("unbonding", 5_000_000)
			a.stake(f, unbonding, 2_000_000)
			require.NoError(t, a.unstake(f, unbonding))

			type tc struct {
				name   string
				addr   string
				amount sdk.Coin
				err    error
			}
			tests := []tc{
				{"not staked", stranger, coin(1), a.notFound},
				{"unbonding", unbonding, coin(1), a.unbonding},
				{"wrong denom", staker, sdk.NewInt64Coin("uatom", 1), types.ErrInvalidStake},
				{"zero amount", staker, coin(0), types.ErrInvalidStake},
				{"insufficient funds", staker, coin(2_300_001), sdkerrors.ErrInsufficientFunds},
			}
			for name, addr := range malformedAddresses() {
				tests = append(tests, tc{"address " + name, addr, coin(1), types.ErrInvalidAddress})
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					before, moduleBefore := f.balance(tc.addr), f.moduleBalance()
					require.ErrorIs(t, a.add(f, tc.addr, tc.amount), tc.err)
					require.Equal(t, before, f.balance(tc.addr))
					require.Equal(t, moduleBefore, f.moduleBalance())
				})
			}
			stake, _, _, err = a.get(f, staker)
			require.NoError(t, err)
			require.Equal(t, coin(2_700_000), stake, "rejected additions must not change the stake")
		})
	}
}
