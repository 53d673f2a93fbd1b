package e2e_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cosmossdk.io/log"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	cmttypes "github.com/cometbft/cometbft/types"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/network"
	"github.com/pokt-network/poktroll/testutil/relayminerproc"
	"github.com/pokt-network/poktroll/x/relayer/appgate"
	appgateconfig "github.com/pokt-network/poktroll/x/relayer/appgate/config"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	rmconfig "github.com/pokt-network/poktroll/x/relayer/relayminer/config"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// TestAppGateSupplierKilled runs the two suppliers of a session as real
// `poktrolld relayminer start` processes, the node's CometBFT RPC their
// backend, and subscribes CometBFT's own client to NewBlock through an
// AppGate. The RelayMiner serving the subscription's socket is SIGKILLed:
// the client keeps getting blocks (through the other supplier), and every
// relay the AppGate got an answer to before the kill is claimed, proven
// and settled — the killed supplier's by its RelayMiner started again on
// the same store.
func TestAppGateSupplierKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("in-process network and subprocesses")
	}
	bin := relayminerproc.NewPoktrolld(t).Path(t)
	params := network.E2EParams()
	// One-second blocks: the AppGate replaces the supplier well within one.
	n := network.New(t,
		network.WithParams(params),
		network.WithBlockTime(time.Second),
		network.WithServices(types.Service{Id: service, Name: "CometBFT RPC", ComputeUnitsPerRelay: 2}),
		network.WithFundedAccounts("app", "supA", "supB"),
	)
	names := []string{"supA", "supB"}
	listens := map[string]string{"supA": network.FreeAddr(t), "supB": network.FreeAddr(t)}
	stake := sdk.NewInt64Coin(types.DefaultDenom, 10_000_000)
	var activation int64
	for _, sup := range names {
		res := n.MustSendTx(t, sup, &types.MsgStakeSupplier{OperatorAddress: n.Address(sup), Stake: stake,
			Services: []types.SupplierService{{ServiceId: service, EndpointUrl: "http://" + listens[sup], RpcType: types.RPCType_RPC_TYPE_JSON_RPC}}})
		var out types.MsgStakeSupplierResponse
		n.MsgResponse(t, res, 0, &out)
		activation = max(activation, out.ActivationHeight)
	}
	res := n.MustSendTx(t, "app", &types.MsgStakeApplication{Address: n.Address("app"), Stake: stake, ServiceIds: []string{service}})
	var appRes types.MsgStakeApplicationResponse
	n.MsgResponse(t, res, 0, &appRes)
	activation = max(activation, appRes.ActivationHeight)

	procs := map[string]*relayminerproc.Process{}
	for _, sup := range names {
		path, cfg := relayMinerProcessConfig(t, n, sup, listens[sup])
		procs[sup] = relayminerproc.Start(t, n, bin, path, cfg)
	}
	_, err := n.WaitForHeight(activation)
	require.NoError(t, err)

	ag := appgate.New(loadYAML(t, "appgate.yaml", fmt.Sprintf(`chain:
  rpc_url: %s
listen: %s
application:
  key_name: app
services: [%s]
request_timeout: 10s
metrics:
  listen: ""
health:
  listen: %s
`, n.RPCURL(), network.FreeAddr(t), service, network.FreeAddr(t)), appgateconfig.Load),
		appgate.Deps{Keyring: n.Keyring(), Codec: n.Codec(), Logger: log.NewTestLoggerError(t), PollInterval: 500 * time.Millisecond})
	require.NoError(t, ag.Start(context.Background()))
	t.Cleanup(func() { _ = ag.Stop(context.Background()) })
	gateURL := "http://" + ag.Addr() + "/" + service

	// Everything before the kill happens in one fresh session, S, once the
	// AppGate has seen the end of the previous one's grace period: every
	// relay answered before the kill is one of S's.
	cur, err := n.LatestHeight()
	require.NoError(t, err)
	start := protocol.SessionEndHeight(params.NumBlocksPerSession, cur) + 1
	previous := protocol.SessionWindows(params, start-1)
	for testutil.ToFloat64(ag.Metrics.BlockHeight) <= float64(previous.GracePeriodEnd) {
		_, err := n.WaitForNextBlock()
		require.NoError(t, err)
	}
	addr := map[string]string{"supA": n.Address("supA"), "supB": n.Address("supB")}
	ok := func(sup string) int { return relays(t, ag, addr[sup], "ok") }

	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	ws, err := rpchttp.New(gateURL, "/websocket")
	require.NoError(t, err)
	require.NoError(t, ws.Start())
	t.Cleanup(func() { _ = ws.Stop() })
	blocks, err := ws.Subscribe(ctx, "killed", cmttypes.EventQueryNewBlock.String(), 64)
	require.NoError(t, err)
	next := func() int64 {
		select {
		case ev := <-blocks:
			return ev.Data.(cmttypes.EventDataNewBlock).Block.Height
		case <-ctx.Done():
			t.Fatal("no block on the subscription")
			return 0
		}
	}
	// Its first block came after the subscription's answer: the supplier
	// that answered serves the socket.
	last := next()
	require.Equal(t, 1, ok("supA")+ok("supB"), "the subscription is one relay")
	victim, survivor := "supA", "supB"
	if ok("supB") == 1 {
		victim, survivor = "supB", "supA"
	}
	// A few plain HTTP relays too, through either supplier.
	viaGate, err := rpchttp.New(gateURL, "/websocket")
	require.NoError(t, err)
	for range 6 {
		_, err := viaGate.Status(ctx)
		require.NoError(t, err)
	}
	// Nothing is in flight to either supplier now: these are every relay
	// answered before the kill.
	answered := map[string]int{victim: ok(victim), survivor: ok(survivor)}
	killed, err := n.LatestHeight()
	require.NoError(t, err)
	require.Less(t, killed, protocol.SessionEndHeight(params.NumBlocksPerSession, start), "killed inside session S")
	procs[victim].Kill9(t)

	// What a client may see at the seam (README, Using the AppGate): after
	// a supplier's failure, no notification for what the backend sent
	// before the new socket subscribed. So the heights always increase, are
	// consecutive before the kill and after the seam, and may skip the
	// blocks made while the AppGate moved the subscription: one gap at
	// most, after the kill. Never a duplicate, never the socket closed.
	gaps, missed := 0, int64(0)
	for last < killed+4 {
		h := next()
		require.Greater(t, h, last, "blocks in order, none twice")
		if h != last+1 {
			gaps++
			missed += h - last - 1
			require.Equal(t, 1, gaps, "one seam: blocks %d-%d missed", last+1, h-1)
			require.GreaterOrEqual(t, h, killed, "blocks are missed only at the kill's seam")
		}
		last = h
	}
	require.Positive(t, relays(t, ag, addr[victim], "socket_failed"), "the killed supplier's socket failed")
	require.Greater(t, ok(survivor), answered[survivor], "the subscription was sent again, to the other supplier")
	t.Logf("%s served the subscription and was killed at height %d; blocks through %d kept coming through %s, %d missed at the seam",
		victim, killed, last, survivor, missed)

	// The killed RelayMiner, started again on its store, claims and proves
	// what it answered before it died.
	procs[victim].Start(t)
	require.NoError(t, ws.UnsubscribeAll(ctx, "killed"))
	require.NoError(t, ws.Stop())

	cur, err = n.LatestHeight()
	require.NoError(t, err)
	w := protocol.SessionWindows(params, protocol.SessionEndHeight(params.NumBlocksPerSession, cur))
	_, err = n.WaitForHeightWithTimeout(w.ProofWindowClose+1, 180*time.Second)
	require.NoError(t, err)
	claims := map[string]map[int64]*types.EventClaimCreated{victim: {}, survivor: {}}
	proven, settled := map[string]bool{}, map[string]*types.EventClaimSettled{}
	for _, ev := range n.RelayerEvents(t, activation, w.ProofWindowClose+1) {
		switch ev := ev.(type) {
		case *types.EventClaimCreated:
			for _, sup := range names {
				if ev.Claim.SupplierOperatorAddress == addr[sup] {
					claims[sup][ev.Claim.SessionHeader.SessionStartBlockHeight] = ev
				}
			}
		case *types.EventProofSubmitted:
			proven[ev.Claim.SupplierOperatorAddress+ev.Claim.SessionHeader.SessionId] = true
		case *types.EventClaimSettled:
			settled[ev.Claim.SupplierOperatorAddress+ev.Claim.SessionHeader.SessionId] = ev
		}
	}
	total := map[string]uint64{}
	for _, sup := range names {
		for _, c := range claims[sup] {
			key := c.Claim.SupplierOperatorAddress + c.Claim.SessionHeader.SessionId
			require.True(t, proven[key], "%s's claim of the session at %d proven", sup, c.Claim.SessionHeader.SessionStartBlockHeight)
			require.NotNil(t, settled[key], "%s's claim of the session at %d settled", sup, c.Claim.SessionHeader.SessionStartBlockHeight)
			require.Equal(t, c.NumRelays*2, settled[key].NumClaimedComputeUnits)
			total[sup] += c.NumRelays
		}
	}
	// The killed supplier got nothing after the kill in S (the AppGate
	// tried the other): its claim of S holds exactly what it answered.
	// (Its claims of earlier sessions, none expected, are counted: a relay
	// there would be one answered before the kill too.)
	require.NotNil(t, claims[victim][start], "the killed supplier claimed session S")
	var victimUpToS uint64
	for h, c := range claims[victim] {
		if h <= start {
			victimUpToS += c.NumRelays
		}
	}
	require.EqualValues(t, answered[victim], victimUpToS, "every relay the killed supplier answered before the kill, no more")
	// The other one's relays are mined before the AppGate gets them: its
	// claims hold at least every answer (the last, unsubscribing, call may
	// have been mined without the AppGate waiting for its answer).
	var survivorS uint64
	if answered[survivor] > 0 {
		require.NotNil(t, claims[survivor][start], "the other supplier claimed session S")
		survivorS = claims[survivor][start].NumRelays
	}
	require.GreaterOrEqual(t, survivorS, uint64(answered[survivor]))
	require.GreaterOrEqual(t, total[survivor], uint64(ok(survivor)))
	t.Logf("answered before the kill: %s %d (claimed %d), %s %d (claimed %d in S, %d in all, %d answered in all)",
		victim, answered[victim], victimUpToS,
		survivor, answered[survivor], survivorS, total[survivor], ok(survivor))
	t.Logf("%s lifecycle:\n%s", victim, procs[victim].Lifecycle())
}

// relayMinerProcessConfig writes a RelayMiner config for a subprocess
// serving the service for sup, with the node's CometBFT RPC as backend and
// a health endpoint, and returns its path and the config loaded.
func relayMinerProcessConfig(t *testing.T, n *network.Network, sup, listen string) (string, *rmconfig.Config) {
	path := filepath.Join(t.TempDir(), "relayminer.yaml")
	require.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf(`chain:
  rpc_url: %s
store:
  path: %s
metrics:
  listen: ""
health:
  listen: %s
suppliers:
  - key_name: %s
    services:
      - service_id: %s
        listen: %s
        backend_url: %s
        backend_ws_url: %s
        request_timeout: 5s
`, n.RPCURL(), t.TempDir(), network.FreeAddr(t), sup, service, listen, n.RPCURL(),
		"ws"+strings.TrimPrefix(n.RPCURL(), "http")+"/websocket")), 0o600))
	cfg, err := rmconfig.Load(path)
	require.NoError(t, err)
	return path, cfg
}
