package keeper_test

import (
	"strings"
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

// supplierIndex lists the operators the Suppliers service index holds for a
// service.
func (f *fixture) supplierIndex(serviceID string) []string {
	f.t.Helper()
	iter, err := f.k.Suppliers.Indexes.Service.MatchExact(f.ctx, serviceID)
	require.NoError(f.t, err)
	out, err := iter.PrimaryKeys()
	require.NoError(f.t, err)
	return out
}

func TestStakeSupplier_HappyPath(t *testing.T) {
	f := newFixture(t)
	f.addService("eth", 1)
	f.addService("sol", 1)
	bob := f.newAccount("bob", 5_000_000)
	f.advanceTo(6)

	f.resetEvents()
	services := []types.SupplierService{
		{ServiceId: "eth", EndpointUrl: "https://eth.bob.example:8545/rpc", RpcType: types.RPCType_RPC_TYPE_JSON_RPC},
		{ServiceId: "sol", EndpointUrl: "http://10.0.0.1:8899", RpcType: types.RPCType_RPC_TYPE_REST},
	}
	res, err := f.msgs.StakeSupplier(f.ctx, &types.MsgStakeSupplier{OperatorAddress: bob, Stake: coin(3_000_000), Services: services})
	require.NoError(t, err)
	require.Equal(t, int64(9), res.ActivationHeight, "staked in session 5-8: active from 9")
	require.Equal(t, sdkmath.NewInt(2_000_000), f.balance(bob))
	require.Equal(t, sdkmath.NewInt(3_000_000), f.moduleBalance())

	want := types.Supplier{OperatorAddress: bob, Stake: coin(3_000_000), Services: services, ActivationHeight: 9}
	got, err := f.k.Suppliers.Get(f.ctx, bob)
	require.NoError(t, err)
	require.Equal(t, want, got)
	evs := eventsOf[*types.EventSupplierStaked](f)
	require.Len(t, evs, 1)
	require.Equal(t, want, evs[0].Supplier)
	require.Equal(t, []string{bob}, f.supplierIndex("eth"))
	require.Equal(t, []string{bob}, f.supplierIndex("sol"))

	q, err := f.queries.Supplier(f.ctx, &types.QuerySupplierRequest{OperatorAddress: bob})
	require.NoError(t, err)
	require.Equal(t, want, q.Supplier)
}

func TestStakeSupplier_Rejections(t *testing.T) {
	f := newFixture(t)
	f.addService("eth", 1)
	f.addService("sol", 1)
	rich := f.newAccount("rich", 100_000_000)
	poor := f.newAccount("poor", 1_500_000)
	staked := f.newAccount("staked", 5_000_000)
	f.stakeSupplier(staked, 2_000_000, "eth")
	unbonding := f.newAccount("unbonding", 5_000_000)
	f.stakeSupplier(unbonding, 2_000_000, "eth")
	_, err := f.msgs.UnstakeSupplier(f.ctx, &types.MsgUnstakeSupplier{OperatorAddress: unbonding})
	require.NoError(t, err)

	withService := func(s types.SupplierService) []types.SupplierService { return []types.SupplierService{s} }
	eth := func(url string, rpc types.RPCType) types.SupplierService {
		return types.SupplierService{ServiceId: "eth", EndpointUrl: url, RpcType: rpc}
	}
	const okURL = "https://eth.example.com"
	const jsonRPC = types.RPCType_RPC_TYPE_JSON_RPC

	type tc struct {
		name string
		msg  *types.MsgStakeSupplier
		err  error
	}
	msg := func(addr string, amount sdk.Coin, services []types.SupplierService) *types.MsgStakeSupplier {
		return &types.MsgStakeSupplier{OperatorAddress: addr, Stake: amount, Services: services}
	}
	tests := []tc{
		{"below minimum", msg(rich, coin(minStake-1), supplierServices("eth")), types.ErrStakeBelowMinimum},
		{"wrong denom", msg(rich, sdk.NewInt64Coin("uatom", 2_000_000), supplierServices("eth")), types.ErrInvalidStake},
		{"zero stake", msg(rich, coin(0), supplierServices("eth")), types.ErrInvalidStake},
		{"unknown service", msg(rich, coin(2_000_000), supplierServices("eth", "nope")), types.ErrServiceNotFound},
		{"no service", msg(rich, coin(2_000_000), nil), types.ErrInvalidService},
		{"duplicate service", msg(rich, coin(2_000_000), supplierServices("eth", "sol", "eth")), types.ErrInvalidService},
		{"malformed service id", msg(rich, coin(2_000_000), withService(types.SupplierService{ServiceId: "e/th", EndpointUrl: okURL, RpcType: jsonRPC})), types.ErrInvalidServiceConfig},
		{"endpoint not a url", msg(rich, coin(2_000_000), withService(eth("not a url", jsonRPC))), types.ErrInvalidServiceConfig},
		{"endpoint empty", msg(rich, coin(2_000_000), withService(eth("", jsonRPC))), types.ErrInvalidServiceConfig},
		{"endpoint ftp", msg(rich, coin(2_000_000), withService(eth("ftp://eth.example.com", jsonRPC))), types.ErrInvalidServiceConfig},
		{"endpoint without host", msg(rich, coin(2_000_000), withService(eth("http://", jsonRPC))), types.ErrInvalidServiceConfig},
		{"endpoint relative", msg(rich, coin(2_000_000), withService(eth("/rpc", jsonRPC))), types.ErrInvalidServiceConfig},
		{"endpoint too long", msg(rich, coin(2_000_000), withService(eth(okURL+"/"+strings.Repeat("a", types.MaxEndpointURLLength), jsonRPC))), types.ErrInvalidServiceConfig},
		{"unspecified rpc type", msg(rich, coin(2_000_000), withService(eth(okURL, types.RPCType_RPC_TYPE_UNSPECIFIED))), types.ErrInvalidServiceConfig},
		{"unknown rpc type", msg(rich, coin(2_000_000), withService(eth(okURL, types.RPCType(99)))), types.ErrInvalidServiceConfig},
		{"insufficient funds", msg(poor, coin(2_000_000), supplierServices("eth")), sdkerrors.ErrInsufficientFunds},
		{"already staked", msg(staked, coin(2_000_000), supplierServices("eth")), types.ErrSupplierAlreadyStaked},
		{"unbonding", msg(unbonding, coin(2_000_000), supplierServices("eth")), types.ErrSupplierUnbonding},
	}
	for name, addr := range malformedAddresses() {
		tests = append(tests, tc{"address " + name, msg(addr, coin(2_000_000), supplierServices("eth")), types.ErrInvalidAddress})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.msg.OperatorAddress
			before, moduleBefore := f.balance(addr), f.moduleBalance()
			stateBefore, _ := f.k.Suppliers.Get(f.ctx, addr)
			indexBefore := f.supplierIndex("eth")
			_, err := f.msgs.StakeSupplier(f.ctx, tc.msg)
			require.ErrorIs(t, err, tc.err)
			require.Equal(t, before, f.balance(addr), "no coins may move")
			require.Equal(t, moduleBefore, f.moduleBalance(), "no coins may move")
			stateAfter, _ := f.k.Suppliers.Get(f.ctx, addr)
			require.Equal(t, stateBefore, stateAfter, "the supplier must not change")
			require.Equal(t, indexBefore, f.supplierIndex("eth"), "the service index must not change")
		})
	}
	f.stakeSupplier(rich, 2_000_000, "eth", "sol")
}

func TestUnstakeSupplier_Lifecycle(t *testing.T) {
	f := newFixture(t)
	f.addService("eth", 1)
	f.addService("sol", 1)
	alice := f.newAccount("alice", 5_000_000)
	bob := f.newAccount("bob", 5_000_000)
	carol := f.newAccount("carol", 5_000_000)
	f.stakeApp(alice, 2_000_000, "eth")
	f.stakeSupplier(bob, 2_000_000, "eth", "sol")
	f.stakeSupplier(carol, 2_000_000, "eth")
	inSession := func(h int64) []string {
		t.Helper()
		s, err := f.k.GetSession(f.ctx, alice, "eth", h)
		require.NoError(t, err)
		var out []string
		for _, sup := range s.Suppliers {
			out = append(out, sup.OperatorAddress)
		}
		return out
	}

	// Unstake bob at 10, in session 9-12: in sessions through 12, stake
	// back when session 9-12's proof window closes, at 12 + 12 = 24.
	unbondEnd := protocol.SessionWindows(testParams(), 12).ProofWindowClose
	require.Equal(t, int64(24), unbondEnd)
	f.advanceTo(10)
	require.ElementsMatch(t, []string{bob, carol}, inSession(10))
	f.resetEvents()
	res, err := f.msgs.UnstakeSupplier(f.ctx, &types.MsgUnstakeSupplier{OperatorAddress: bob})
	require.NoError(t, err)
	require.Equal(t, unbondEnd, res.UnbondingEndHeight)
	begin := eventsOf[*types.EventSupplierUnbondingBegin](f)
	require.Len(t, begin, 1)
	require.Equal(t, unbondEnd, begin[0].UnbondingEndHeight)
	require.Equal(t, int64(12), begin[0].Supplier.UnstakeSessionEndHeight)

	_, err = f.msgs.UnstakeSupplier(f.ctx, &types.MsgUnstakeSupplier{OperatorAddress: bob})
	require.ErrorIs(t, err, types.ErrSupplierUnbonding)
	_, err = f.msgs.StakeSupplier(f.ctx, &types.MsgStakeSupplier{OperatorAddress: bob, Stake: coin(2_000_000), Services: supplierServices("eth")})
	require.ErrorIs(t, err, types.ErrSupplierUnbonding)

	require.ElementsMatch(t, []string{bob, carol}, inSession(10), "stays in the current session")
	f.advanceTo(13)
	require.ElementsMatch(t, []string{carol}, inSession(13), "gone from the next session")
	require.ElementsMatch(t, []string{bob, carol}, inSession(12), "the past session keeps its suppliers")

	f.advanceTo(unbondEnd)
	require.Equal(t, sdkmath.NewInt(3_000_000), f.balance(bob))
	require.ElementsMatch(t, []string{bob, carol}, f.supplierIndex("eth"))
	f.resetEvents()
	f.endBlock()
	require.Equal(t, sdkmath.NewInt(5_000_000), f.balance(bob), "stake returned exactly")
	require.Equal(t, sdkmath.NewInt(4_000_000), f.moduleBalance(), "alice's and carol's stakes remain")
	has, err := f.k.Suppliers.Has(f.ctx, bob)
	require.NoError(t, err)
	require.False(t, has)
	require.Equal(t, []string{carol}, f.supplierIndex("eth"), "index entry removed")
	require.Empty(t, f.supplierIndex("sol"), "index entry removed")
	end := eventsOf[*types.EventSupplierUnbondingEnd](f)
	require.Len(t, end, 1)
	require.Equal(t, bob, end[0].Supplier.OperatorAddress)
	_, err = f.queries.Supplier(f.ctx, &types.QuerySupplierRequest{OperatorAddress: bob})
	require.Equal(t, codes.NotFound, status.Code(err))

	_, err = f.msgs.UnstakeSupplier(f.ctx, &types.MsgUnstakeSupplier{OperatorAddress: bob})
	require.ErrorIs(t, err, types.ErrSupplierNotFound)
	f.advanceTo(unbondEnd + 1)
	require.Equal(t, protocol.SessionEndHeight(4, unbondEnd+1)+1, f.stakeSupplier(bob, 2_000_000, "sol").ActivationHeight)
	require.Equal(t, []string{carol}, f.supplierIndex("eth"))
	require.Equal(t, []string{bob}, f.supplierIndex("sol"))
}

func TestUnstakeSupplier_Rejections(t *testing.T) {
	f := newFixture(t)
	stranger := f.newAccount("stranger", 5_000_000)
	_, err := f.msgs.UnstakeSupplier(f.ctx, &types.MsgUnstakeSupplier{OperatorAddress: stranger})
	require.ErrorIs(t, err, types.ErrSupplierNotFound)
	for name, addr := range malformedAddresses() {
		_, err := f.msgs.UnstakeSupplier(f.ctx, &types.MsgUnstakeSupplier{OperatorAddress: addr})
		require.ErrorIs(t, err, types.ErrInvalidAddress, name)
	}
}

// The service index follows every write of a supplier, whoever makes it:
// a service dropped from a supplier leaves the index, one added enters it,
// and removing the supplier removes all of its entries.
func TestSupplierIndex_FollowsEveryWrite(t *testing.T) {
	f := newFixture(t)
	bob, carol := f.newAccount("bob", 0), f.newAccount("carol", 0)
	svc := func(ids ...string) []types.SupplierService {
		out := make([]types.SupplierService, len(ids))
		for i, id := range ids {
			out[i] = types.SupplierService{ServiceId: id, EndpointUrl: "https://" + id + ".example", RpcType: types.RPCType_RPC_TYPE_JSON_RPC}
		}
		return out
	}
	set := func(addr string, ids ...string) {
		t.Helper()
		require.NoError(t, f.k.Suppliers.Set(f.ctx, addr, types.Supplier{OperatorAddress: addr, Stake: coin(1), Services: svc(ids...)}))
	}

	set(bob, "eth", "sol")
	set(carol, "eth")
	require.ElementsMatch(t, []string{bob, carol}, f.supplierIndex("eth"))
	require.Equal(t, []string{bob}, f.supplierIndex("sol"))

	set(bob, "eth", "avax")
	require.ElementsMatch(t, []string{bob, carol}, f.supplierIndex("eth"))
	require.Empty(t, f.supplierIndex("sol"), "dropped service")
	require.Equal(t, []string{bob}, f.supplierIndex("avax"), "added service")

	require.NoError(t, f.k.Suppliers.Remove(f.ctx, bob))
	require.Equal(t, []string{carol}, f.supplierIndex("eth"))
	require.Empty(t, f.supplierIndex("avax"))
}
