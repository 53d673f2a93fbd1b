package network_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	sdkmath "cosmossdk.io/math"
	cmttypes "github.com/cometbft/cometbft/types"
	sdk "github.com/cosmos/cosmos-sdk/types"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/app"
	"github.com/pokt-network/poktroll/cmd/poktrolld/cmd"
	"github.com/pokt-network/poktroll/testutil/network"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// TestNetwork is the package's only network (one per process, see doc.go):
// every check is a subtest of it.
func TestNetwork(t *testing.T) {
	startedAt := time.Now()
	n := network.New(t,
		network.WithServices(
			types.Service{Id: "eth", Name: "Ethereum", ComputeUnitsPerRelay: 1},
			types.Service{Id: "sol", ComputeUnitsPerRelay: 2, OwnerAddress: "sol-owner"},
		),
		network.WithFundedAccounts("app1", "sup1", "sup2"),
		network.WithGenesisApplications(types.Application{Address: "gapp", ServiceIds: []string{"sol"}}),
		network.WithGenesisSuppliers(types.Supplier{OperatorAddress: "gsup", Services: []types.SupplierService{
			{ServiceId: "sol", EndpointUrl: "http://gsup.example:8899", RpcType: types.RPCType_RPC_TYPE_JSON_RPC},
		}}),
	)
	h, err := n.LatestHeight()
	require.NoError(t, err)
	t.Logf("network started in %s at height %d", time.Since(startedAt), h)

	t.Run("genesis", func(t *testing.T) { testGenesis(t, n) })
	t.Run("stake and get session", func(t *testing.T) { testStakeAndGetSession(t, n) })
	t.Run("second network fails fast", testSecondNetwork)
}

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the goroutine, as testing.T's does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func testSecondNetwork(t *testing.T) {
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		network.New(rec)
		rec.msg = "New returned"
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a second network.New blocked instead of failing")
	}
	require.Contains(t, rec.msg, "already runs a network in this process")
}

func testGenesis(t *testing.T, n *network.Network) {
	ctx := context.Background()
	q := n.RelayerQuery()

	params, err := q.Params(ctx, &types.QueryParamsRequest{})
	require.NoError(t, err)
	require.Equal(t, n.GenesisParams(), params.Params)

	sol, err := q.Service(ctx, &types.QueryServiceRequest{Id: "sol"})
	require.NoError(t, err)
	require.Equal(t, n.Address("sol-owner"), sol.Service.OwnerAddress)
	require.Equal(t, "sol", sol.Service.Name)

	// Genesis actors are in sessions from the start, and their stakes are
	// in the module account.
	h, err := n.LatestHeight()
	require.NoError(t, err)
	sess, err := q.GetSession(ctx, &types.QueryGetSessionRequest{ApplicationAddress: n.Address("gapp"), ServiceId: "sol", BlockHeight: h})
	require.NoError(t, err)
	require.Len(t, sess.Session.Suppliers, 1, "session at height %d: %+v", h, sess.Session)
	require.Equal(t, n.Address("gsup"), sess.Session.Suppliers[0].OperatorAddress)

	bank := banktypes.NewQueryClient(n.GRPCConn())
	bal, err := bank.Balance(ctx, &banktypes.QueryBalanceRequest{Address: authtypes.NewModuleAddress(types.ModuleName).String(), Denom: app.BondDenom})
	require.NoError(t, err)
	p := n.GenesisParams()
	require.True(t, bal.Balance.Amount.GTE(p.MinApplicationStake.Amount.Add(p.MinSupplierStake.Amount)), "module balance %s", bal.Balance)

	bal, err = bank.Balance(ctx, &banktypes.QueryBalanceRequest{Address: n.Address("app1"), Denom: app.BondDenom})
	require.NoError(t, err)
	require.Equal(t, network.DefaultAccountBalance, bal.Balance.Amount)
}

func testStakeAndGetSession(t *testing.T, n *network.Network) {
	ctx := context.Background()
	p := n.GenesisParams()
	app1, sup1, sup2 := n.Address("app1"), n.Address("sup1"), n.Address("sup2")
	ethEndpoint := func(url string) []types.SupplierService {
		return []types.SupplierService{{ServiceId: "eth", EndpointUrl: url, RpcType: types.RPCType_RPC_TYPE_JSON_RPC}}
	}

	// Rejections reach a block and carry the module's registered codes.
	below := p.MinApplicationStake.SubAmount(sdkmath.OneInt())
	res := n.SendTx(t, "app1", &types.MsgStakeApplication{Address: app1, Stake: below, ServiceIds: []string{"eth"}})
	require.Equal(t, types.ModuleName, res.Codespace, res.RawLog)
	require.Equal(t, types.ErrStakeBelowMinimum.ABCICode(), res.Code, res.RawLog)
	require.Positive(t, res.Height)

	res = n.SendTx(t, "sup1", &types.MsgStakeSupplier{OperatorAddress: sup1, Stake: p.MinSupplierStake, Services: []types.SupplierService{
		{ServiceId: "nope", EndpointUrl: "http://sup1.example:8545", RpcType: types.RPCType_RPC_TYPE_JSON_RPC},
	}})
	require.Equal(t, types.ModuleName, res.Codespace, res.RawLog)
	require.Equal(t, types.ErrServiceNotFound.ABCICode(), res.Code, res.RawLog)

	// A tx that fails its stateless checks is rejected by CheckTx.
	res = n.SendTx(t, "app1", &types.MsgStakeApplication{Address: app1, Stake: p.MinApplicationStake})
	require.Equal(t, types.ModuleName, res.Codespace, res.RawLog)
	require.Equal(t, types.ErrInvalidService.ABCICode(), res.Code, res.RawLog)
	require.Zero(t, res.Height)

	// Real stakes.
	res = n.MustSendTx(t, "app1", &types.MsgStakeApplication{Address: app1, Stake: p.MinApplicationStake, ServiceIds: []string{"eth"}})
	var appRes types.MsgStakeApplicationResponse
	n.MsgResponse(t, res, 0, &appRes)
	activation := appRes.ActivationHeight
	require.Greater(t, activation, res.Height)

	res = n.MustSendTx(t, "sup1", &types.MsgStakeSupplier{OperatorAddress: sup1, Stake: p.MinSupplierStake, Services: ethEndpoint("http://sup1.example:8545")})
	var supRes types.MsgStakeSupplierResponse
	n.MsgResponse(t, res, 0, &supRes)
	activation = max(activation, supRes.ActivationHeight)

	// Events: subscribe, then cause them.
	txEvents := n.SubscribeEvents(t, "tm.event='Tx' AND message.sender='"+sup2+"'")
	res = n.MustSendTx(t, "sup2", &types.MsgStakeSupplier{OperatorAddress: sup2, Stake: p.MinSupplierStake, Services: ethEndpoint("http://sup2.example:8545")})
	n.MsgResponse(t, res, 0, &supRes)
	activation = max(activation, supRes.ActivationHeight)
	ev, err := network.NextEvent(txEvents, 10*time.Second)
	require.NoError(t, err)
	require.Contains(t, ev.Events, "poktroll.relayer.EventSupplierStaked.supplier")
	require.Equal(t, res.TxHash, ev.Events["tx.hash"][0])

	block := n.WaitForEvent(t, "tm.event='NewBlock'", 10*time.Second)
	require.Greater(t, block.Data.(cmttypes.EventDataNewBlock).Block.Height, res.Height)

	_, err = n.WaitForHeight(activation)
	require.NoError(t, err)

	// The session, over the node's gRPC server and through `poktrolld q
	// relayer get-session`. (Other queries use QueryConn: see its comment.)
	grpcRes, err := types.NewQueryClient(n.GRPCConn()).GetSession(ctx, &types.QueryGetSessionRequest{ApplicationAddress: app1, ServiceId: "eth", BlockHeight: activation})
	require.NoError(t, err)

	out, err := n.ExecCLI(cmd.NewRootCmd(), append([]string{"q", "relayer", "get-session", app1, "eth", strconv.FormatInt(activation, 10)}, n.QueryFlags()...)...)
	require.NoError(t, err)
	var cliRes types.QueryGetSessionResponse
	require.NoError(t, n.Codec().UnmarshalJSON([]byte(out), &cliRes), out)

	require.Equal(t, grpcRes.Session.Header, cliRes.Session.Header)
	require.Equal(t, grpcRes.Session.Suppliers, cliRes.Session.Suppliers)
	require.Equal(t, grpcRes.Session, cliRes.Session)

	h := grpcRes.Session.Header
	require.Equal(t, app1, h.ApplicationAddress)
	require.Equal(t, "eth", h.ServiceId)
	require.NotEmpty(t, h.SessionId)
	require.LessOrEqual(t, h.SessionStartBlockHeight, activation)
	require.GreaterOrEqual(t, h.SessionEndBlockHeight, activation)
	var operators []string
	for _, s := range grpcRes.Session.Suppliers {
		operators = append(operators, s.OperatorAddress)
	}
	slices.Sort(operators)
	want := []string{sup1, sup2}
	slices.Sort(want)
	require.Equal(t, want, operators)

	// A tx through `poktrolld tx relayer add-service`.
	out, err = n.ExecCLI(cmd.NewRootCmd(), append([]string{"tx", "relayer", "add-service", "btc", "Bitcoin", "3"}, n.TxFlags("app1")...)...)
	require.NoError(t, err)
	var cliTx sdk.TxResponse
	require.NoError(t, n.Codec().UnmarshalJSON([]byte(out), &cliTx), out)
	require.Zero(t, cliTx.Code, cliTx.RawLog)
	res = n.WaitForTx(t, cliTx.TxHash)
	require.Zero(t, res.Code, res.RawLog)
	btc, err := n.RelayerQuery().Service(ctx, &types.QueryServiceRequest{Id: "btc"})
	require.NoError(t, err)
	require.Equal(t, types.Service{Id: "btc", Name: "Bitcoin", ComputeUnitsPerRelay: 3, OwnerAddress: app1}, btc.Service)

	// The stakes left the accounts.
	bank := banktypes.NewQueryClient(n.GRPCConn())
	bal, err := bank.Balance(ctx, &banktypes.QueryBalanceRequest{Address: app1, Denom: app.BondDenom})
	require.NoError(t, err)
	require.Equal(t, sdk.NewCoin(app.BondDenom, network.DefaultAccountBalance).Sub(p.MinApplicationStake), *bal.Balance)
}
