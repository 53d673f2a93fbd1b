package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"cosmossdk.io/log"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"
	cmttypes "github.com/cometbft/cometbft/types"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/network"
	"github.com/pokt-network/poktroll/x/relayer/appgate"
	appgateconfig "github.com/pokt-network/poktroll/x/relayer/appgate/config"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer"
	rmconfig "github.com/pokt-network/poktroll/x/relayer/relayminer/config"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

const service = "cometbft"

// TestAppGate runs a chain, two RelayMiners whose backend is the node's own
// CometBFT RPC, and an AppGate in front of them, and drives the AppGate with
// CometBFT's own RPC client.
func TestAppGate(t *testing.T) {
	if testing.Short() {
		t.Skip("in-process network")
	}
	// The start command's test needs the binary: build it meanwhile.
	bin := filepath.Join(t.TempDir(), "poktrolld")
	built := make(chan error, 1)
	go func() {
		out, err := exec.Command("go", "build", "-o", bin, "github.com/pokt-network/poktroll/cmd/poktrolld").CombinedOutput()
		if err != nil {
			err = fmt.Errorf("%w: %s", err, out)
		}
		built <- err
	}()

	n := network.New(t,
		network.WithParams(network.E2EParams()),
		network.WithServices(
			types.Service{Id: service, Name: "CometBFT RPC", ComputeUnitsPerRelay: 2},
			types.Service{Id: "other", Name: "A service the application is not staked for"},
		),
		network.WithFundedAccounts("app", "supA", "supB"),
	)
	listens := map[string]string{"supA": network.FreeAddr(t), "supB": network.FreeAddr(t)}
	stake := sdk.NewInt64Coin(types.DefaultDenom, 10_000_000)
	var activation int64
	for _, sup := range []string{"supA", "supB"} {
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

	miners := map[string]*relayminer.RelayMiner{}
	for _, sup := range []string{"supA", "supB"} {
		rm := relayminer.New(relayMinerConfig(t, n, sup, listens[sup]), relayminer.Deps{
			Keyring: n.Keyring(), Codec: n.Codec(), TxConfig: n.ClientCtx().TxConfig,
			Logger: log.NewTestLoggerError(t), PollInterval: 500 * time.Millisecond,
		})
		require.NoError(t, rm.Start(context.Background()))
		miners[sup] = rm
	}
	t.Cleanup(func() {
		for _, rm := range miners {
			_ = rm.Stop(context.Background())
		}
	})
	_, err := n.WaitForHeight(activation)
	require.NoError(t, err)

	cfg := appGateConfig(t, n)
	ag := appgate.New(cfg, appgate.Deps{Keyring: n.Keyring(), Codec: n.Codec(), Logger: log.NewTestLoggerError(t), PollInterval: 500 * time.Millisecond})
	require.NoError(t, ag.Start(context.Background()))
	t.Cleanup(func() { _ = ag.Stop(context.Background()) })
	gateURL := "http://" + ag.Addr()

	viaGate, err := rpchttp.New(gateURL+"/"+service, "/websocket")
	require.NoError(t, err)
	direct, err := rpchttp.New(n.RPCURL(), "/websocket")
	require.NoError(t, err)

	firstHeight, err := n.LatestHeight()
	require.NoError(t, err)
	sent := 0
	// relayUntil drives the AppGate until height h, comparing every answer
	// with the node's own; every request must succeed.
	relayUntil := func(h int64) {
		for {
			cur, err := n.LatestHeight()
			require.NoError(t, err)
			if cur >= h {
				return
			}
			sent += sameAnswers(t, viaGate, direct, cur)
			time.Sleep(50 * time.Millisecond)
		}
	}
	nextSessionStart := func() int64 {
		cur, err := n.LatestHeight()
		require.NoError(t, err)
		return protocol.SessionEndHeight(network.E2EParams().NumBlocksPerSession, cur) + 1
	}
	supA, supB := n.Address("supA"), n.Address("supB")

	t.Run("the AppGate answers as the node does, through both suppliers and a session rollover", func(t *testing.T) {
		relayUntil(nextSessionStart() + 3)
		require.Positive(t, relays(t, ag, supA, "ok"))
		require.Positive(t, relays(t, ag, supB, "ok"))
		require.EqualValues(t, sent, relays(t, ag, supA, "ok")+relays(t, ag, supB, "ok"), "one relay per request")
		t.Logf("%d requests: %d through supA, %d through supB", sent, relays(t, ag, supA, "ok"), relays(t, ag, supB, "ok"))
	})

	t.Run("a NewBlock subscription through the AppGate gets every block across a session boundary", func(t *testing.T) {
		// CometBFT's own client, its WebSocket pointed at the AppGate.
		ws, err := rpchttp.New(gateURL+"/"+service, "/websocket")
		require.NoError(t, err)
		require.NoError(t, ws.Start())
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		blocks, err := ws.Subscribe(ctx, "e2e", cmttypes.EventQueryNewBlock.String(), 64)
		require.NoError(t, err)
		cur, err := n.LatestHeight()
		require.NoError(t, err)
		params := network.E2EParams()
		w := protocol.SessionWindows(params, protocol.SessionEndHeight(params.NumBlocksPerSession, cur))
		// Past the next session's start and this one's grace period end,
		// when the supplier closes its socket (4410).
		until := w.GracePeriodEnd + 2
		var last int64
		for last < until {
			select {
			case ev := <-blocks:
				h := ev.Data.(cmttypes.EventDataNewBlock).Block.Height
				if last != 0 {
					require.Equal(t, last+1, h, "consecutive blocks")
				}
				last = h
			case <-ctx.Done():
				t.Fatalf("no block after height %d", last)
			}
		}
		require.NoError(t, ws.UnsubscribeAll(ctx, "e2e"))
		time.Sleep(time.Second) // its answer is a relay: let it come back before the socket closes
		require.NoError(t, ws.Stop())
		// The subscription, and its renewal in the next session, were
		// relays mined from relay sockets (paid: see the settlement test).
		var mined float64
		for _, rm := range miners {
			mined += testutil.ToFloat64(rm.Metrics.SocketRelays.WithLabelValues(service))
		}
		require.GreaterOrEqual(t, mined, 2.0, "the subscription in each session is a relay")
		t.Logf("blocks %d-%d through the AppGate's socket; session %d-%d, grace to %d", cur, last,
			protocol.SessionStartHeight(params.NumBlocksPerSession, cur), w.SessionEnd, w.GracePeriodEnd)
	})

	t.Run("malformed requests get JSON errors", func(t *testing.T) {
		jsonError(t, http.MethodGet, gateURL+"/nope/status", nil, http.StatusNotFound, appgate.CodeUnknownService, `no service "nope" here`)
		jsonError(t, http.MethodPost, gateURL+"/"+service+"/", bytes.Repeat([]byte("x"), int(cfg.MaxBodyBytes)+1),
			http.StatusRequestEntityTooLarge, appgate.CodeBodyTooLarge, "over the limit")
		jsonError(t, http.MethodPost, gateURL+"/other/", []byte(`{"jsonrpc":"2.0","id":1,"method":"status"}`),
			http.StatusForbidden, appgate.CodeApplicationNotStaked, `is not staked for service "other"`)

		resp, err := http.Get("http://" + cfg.Health.Listen)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var health struct {
			Height   int64             `json:"height"`
			Sessions map[string]string `json:"sessions"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&health))
		require.Positive(t, health.Height)
		require.Len(t, health.Sessions[service], 64, "the current session id")
		require.Contains(t, health.Sessions["other"], "error")
	})

	t.Run("with one supplier stopped every request still succeeds", func(t *testing.T) {
		// Clients subscribed to NewBlock through the AppGate, one of their
		// sockets at least through supA.
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		socketsOf := func(sup string) float64 {
			return testutil.ToFloat64(miners[sup].Metrics.SocketsOpen.WithLabelValues(service))
		}
		var subs []<-chan ctypes.ResultEvent
		for i := 0; i < 6 && (len(subs) == 0 || socketsOf("supA") == 0); i++ {
			ws, err := rpchttp.New(gateURL+"/"+service, "/websocket")
			require.NoError(t, err)
			require.NoError(t, ws.Start())
			t.Cleanup(func() { _ = ws.Stop() })
			blocks, err := ws.Subscribe(ctx, fmt.Sprintf("stopped-%d", i), cmttypes.EventQueryNewBlock.String(), 64)
			require.NoError(t, err)
			subs = append(subs, blocks)
		}
		require.Positive(t, socketsOf("supA"), "a subscription's socket goes through supA")
		socketRelaysB := testutil.ToFloat64(miners["supB"].Metrics.SocketRelays.WithLabelValues(service))
		okBBefore := relays(t, ag, supB, "ok")

		require.NoError(t, miners["supA"].Stop(context.Background()))
		delete(miners, "supA")
		stopped, err := n.LatestHeight()
		require.NoError(t, err)
		okA := relays(t, ag, supA, "ok")
		before := sent
		relayUntil(nextSessionStart() + 3)
		require.Positive(t, sent-before)
		require.Equal(t, okA, relays(t, ag, supA, "ok"))
		// Its socket's failure, or a request, found supA down: it is
		// tried last.
		require.Positive(t, relays(t, ag, supA, "unreachable")+relays(t, ag, supA, "socket_failed"), "supA was found failing, and skipped")
		for i, blocks := range subs {
			for h := int64(0); h <= stopped+1; {
				select {
				case ev := <-blocks:
					h = ev.Data.(cmttypes.EventDataNewBlock).Block.Height
				case <-ctx.Done():
					t.Fatalf("subscription %d got no block past height %d", i, stopped+1)
				}
			}
		}
		// supB answered every request, and the subscriptions moved to it.
		require.Eventually(t, func() bool {
			moved := testutil.ToFloat64(miners["supB"].Metrics.SocketRelays.WithLabelValues(service)) - socketRelaysB
			return relays(t, ag, supB, "ok")-okBBefore == sent-before+int(moved)
		}, 10*time.Second, 100*time.Millisecond, "supB answered every request, and each subscription moved to it")
		t.Logf("%d requests with supA stopped, all through supB; supA tried %d times; %d subscriptions kept getting blocks",
			sent-before, relays(t, ag, supA, "unreachable"), len(subs))
	})

	t.Run("the relays appear in settled claims", func(t *testing.T) {
		cur, err := n.LatestHeight()
		require.NoError(t, err)
		w := protocol.SessionWindows(network.E2EParams(), protocol.SessionEndHeight(network.E2EParams().NumBlocksPerSession, cur))
		_, err = n.WaitForHeightWithTimeout(w.ProofWindowClose+1, 120*time.Second)
		require.NoError(t, err)

		claims, settled := map[string]*types.EventClaimCreated{}, map[string]*types.EventClaimSettled{}
		for _, ev := range n.RelayerEvents(t, firstHeight, w.ProofWindowClose+1) {
			switch ev := ev.(type) {
			case *types.EventClaimCreated:
				if ev.Claim.SupplierOperatorAddress == supB && ev.Claim.SessionHeader.ApplicationAddress == n.Address("app") {
					claims[ev.Claim.SessionHeader.SessionId] = ev
				}
			case *types.EventClaimSettled:
				if ev.Claim.SupplierOperatorAddress == supB {
					settled[ev.Claim.SessionHeader.SessionId] = ev
				}
			}
		}
		require.GreaterOrEqual(t, len(claims), 2, "supB served relays in at least two sessions")
		var claimed uint64
		for id, c := range claims {
			require.Equal(t, service, c.Claim.SessionHeader.ServiceId)
			s := settled[id]
			require.NotNil(t, s, "supB's claim of session %s settled", id)
			require.Equal(t, c.NumRelays*2, s.NumClaimedComputeUnits)
			require.True(t, s.Amount.Amount.IsPositive())
			claimed += c.NumRelays
		}
		require.EqualValues(t, relays(t, ag, supB, "ok"), claimed, "every relay supB answered through the AppGate is in a settled claim")
		t.Logf("%d relays of supB in %d settled claims", claimed, len(claims))
	})

	// Last: its relays are in sessions the settlement check does not cover.
	t.Run("poktrolld appgate start serves until SIGTERM", func(t *testing.T) {
		require.NoError(t, <-built)
		listen, health := network.FreeAddr(t), network.FreeAddr(t)
		path := filepath.Join(t.TempDir(), "appgate.yaml")
		require.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf(`chain:
  rpc_url: %s
listen: %s
application:
  key_name: app
services: [%s]
health:
  listen: %s
`, n.RPCURL(), listen, service, health)), 0o600))
		cmd := exec.Command(bin, "appgate", "start", "--config", path, "--home", t.TempDir(),
			"--keyring-backend", "test", "--keyring-dir", n.KeyringDir(), "--poll-interval", "500ms")
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		require.NoError(t, cmd.Start())
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		defer func() {
			if t.Failed() {
				_ = cmd.Process.Kill()
				t.Logf("appgate output:\n%s", logs.String())
			}
		}()
		deadline := time.Now().Add(60 * time.Second)
		for {
			resp, err := http.Get("http://" + health)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			require.True(t, time.Now().Before(deadline), "the AppGate's health endpoint never answered")
			time.Sleep(100 * time.Millisecond)
		}
		viaCLI, err := rpchttp.New("http://"+listen+"/"+service, "/websocket")
		require.NoError(t, err)
		cur, err := n.LatestHeight()
		require.NoError(t, err)
		sameAnswers(t, viaCLI, direct, cur)

		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		select {
		case err := <-exited:
			require.NoError(t, err, "a clean exit on SIGTERM")
		case <-time.After(30 * time.Second):
			t.Fatal("the AppGate did not stop on SIGTERM")
		}
	})
}

// sameAnswers asks the AppGate and the node the same questions and
// requires the same answers, for the fields that do not change between
// calls. It returns the number of requests sent to the AppGate.
func sameAnswers(t *testing.T, viaGate, direct *rpchttp.HTTP, height int64) int {
	t.Helper()
	ctx := context.Background()
	gs, err := viaGate.Status(ctx)
	require.NoError(t, err)
	ds, err := direct.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, ds.NodeInfo, gs.NodeInfo)
	require.Equal(t, ds.ValidatorInfo, gs.ValidatorInfo)
	require.Equal(t, ds.SyncInfo.EarliestBlockHash, gs.SyncInfo.EarliestBlockHash)
	require.InDelta(t, ds.SyncInfo.LatestBlockHeight, gs.SyncInfo.LatestBlockHeight, 3)

	gi, err := viaGate.ABCIInfo(ctx)
	require.NoError(t, err)
	di, err := direct.ABCIInfo(ctx)
	require.NoError(t, err)
	require.Equal(t, di.Response.Data, gi.Response.Data)
	require.Equal(t, di.Response.Version, gi.Response.Version)
	require.Equal(t, di.Response.AppVersion, gi.Response.AppVersion)

	gb, err := viaGate.Block(ctx, &height)
	require.NoError(t, err)
	db, err := direct.Block(ctx, &height)
	require.NoError(t, err)
	require.Equal(t, db.BlockID, gb.BlockID)
	require.Equal(t, db.Block.Hash(), gb.Block.Hash())
	require.Equal(t, height, gb.Block.Height)
	return 3
}

// jsonError sends a request that must fail with an AppGate JSON error.
func jsonError(t *testing.T, method, url string, body []byte, status int, code, says string) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, status, resp.StatusCode, "%s", raw)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal(raw, &e), "%s", raw)
	require.Equal(t, code, e.Error.Code, "%s", raw)
	require.Contains(t, e.Error.Message, says)
}

// relays reads the AppGate's appgate_relays_total counter.
func relays(t *testing.T, ag *appgate.AppGate, supplier, outcome string) int {
	t.Helper()
	fams, err := ag.Metrics.Registry.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() != "appgate_relays_total" {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			want := map[string]string{"service": service, "supplier": supplier, "outcome": outcome}
			for _, l := range m.GetLabel() {
				if want[l.GetName()] != l.GetValue() {
					continue metrics
				}
			}
			return int(m.GetCounter().GetValue())
		}
	}
	return 0
}

// relayMinerConfig writes and loads a RelayMiner config serving the
// service for sup, with the node's CometBFT RPC as backend.
func relayMinerConfig(t *testing.T, n *network.Network, sup, listen string) *rmconfig.Config {
	return loadYAML(t, "relayminer.yaml", fmt.Sprintf(`chain:
  rpc_url: %s
store:
  path: %s
suppliers:
  - key_name: %s
    services:
      - service_id: %s
        listen: %s
        backend_url: %s
        backend_ws_url: %s
        request_timeout: 5s
`, n.RPCURL(), t.TempDir(), sup, service, listen, n.RPCURL(), "ws"+strings.TrimPrefix(n.RPCURL(), "http")+"/websocket"), rmconfig.Load)
}

// appGateConfig writes and loads the AppGate's config, in the shape of
// x/relayer/appgate/config/appgate.example.yaml.
func appGateConfig(t *testing.T, n *network.Network) *appgateconfig.Config {
	return loadYAML(t, "appgate.yaml", fmt.Sprintf(`chain:
  rpc_url: %s
listen: %s
application:
  key_name: app
services: [%s, other]
request_timeout: 10s
max_body_bytes: 65536
metrics:
  listen: ""
health:
  listen: %s
`, n.RPCURL(), network.FreeAddr(t), service, network.FreeAddr(t)), appgateconfig.Load)
}

func loadYAML[C any](t *testing.T, name, yaml string, load func(string) (C, error)) C {
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	cfg, err := load(path)
	require.NoError(t, err)
	return cfg
}
