package relayminer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cosmossdk.io/log"
	cryptotypes "github.com/cosmos/cosmos-sdk/crypto/types"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/relaytest"
	"github.com/pokt-network/poktroll/x/relayer/appgate"
	appgateconfig "github.com/pokt-network/poktroll/x/relayer/appgate/config"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/metrics"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/miner"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/proxy"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/session"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/store"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// BenchmarkSocket compares, in one run, JSON-RPC messages sent over
// WebSockets through an AppGate and a RelayMiner (AppGate → relay socket →
// RelayMiner → backend WebSocket: every message signed and verified twice
// and its first answer mined into a leveldb session tree) against the same
// messages sent to the backend's WebSocket directly, over one socket and
// over 100. Reports messages/s and p50/p99 latency in microseconds. Use
// -benchtime 20000x.
func BenchmarkSocket(b *testing.B) {
	backend, gate := socketSetup(b)
	for _, sockets := range []int{1, 100} {
		b.Run(fmt.Sprintf("direct-%d", sockets), func(b *testing.B) { socketLoad(b, backend, sockets, b.N, 0) })
		b.Run(fmt.Sprintf("appgate-relayminer-%d", sockets), func(b *testing.B) { socketLoad(b, gate, sockets, b.N, 0) })
	}
}

// BenchmarkSocketAt1000mps paces 2,000 messages at 1,000/s over one socket
// (use -benchtime 1x) to measure the latency the AppGate and the
// RelayMiner add per message at that rate.
func BenchmarkSocketAt1000mps(b *testing.B) {
	backend, gate := socketSetup(b)
	b.Run("direct", func(b *testing.B) { socketLoad(b, backend, 1, 2000, time.Millisecond) })
	b.Run("appgate-relayminer", func(b *testing.B) { socketLoad(b, gate, 1, 2000, time.Millisecond) })
}

// socketWindow is how many messages are unanswered at once over all the
// sockets of a saturated run (at least one a socket).
const socketWindow = 64

// socketSetup starts a JSON-RPC backend WebSocket, a RelayMiner in front of
// it and an AppGate whose session's supplier is that RelayMiner; it
// returns the backend's and the AppGate's WebSocket URLs. The RelayMiner's
// per-socket rate limit is lifted (its default, 50 messages/s, is an
// application's fair share, not the path's cost) and it takes 100 sockets
// of the application.
func socketSetup(b *testing.B) (backendWS, gateWS string) {
	up := websocket.Upgrader{}
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var call struct {
				ID json.RawMessage `json:"id"`
			}
			_ = json.Unmarshal(data, &call)
			if conn.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%s,"result":"0x1b4"}`, call.ID)) != nil {
				return
			}
		}
	}))
	b.Cleanup(be.Close)
	backendWS = "ws" + strings.TrimPrefix(be.URL, "http")

	app, sup := relaytest.NewActor(), relaytest.NewActor()
	hdr := types.SessionHeader{ApplicationAddress: app.Address, ServiceId: "eth",
		SessionId: protocol.SessionID(nil, "eth", app.Address, 1), SessionStartBlockHeight: 1, SessionEndBlockHeight: 4}
	sess := types.Session{Header: hdr, Suppliers: []types.Supplier{{OperatorAddress: sup.Address}}}
	chain := benchChain{session: sess, pub: app.Key.PubKey()}
	db, err := store.Open(b.TempDir(), store.Options{})
	require.NoError(b, err)
	b.Cleanup(func() { _ = db.Close() })
	m := metrics.New()
	sessions := session.NewManager(db, chain, noTx{}, log.NewNopLogger(), m, session.Options{})
	beURL, _ := url.Parse(be.URL)
	wsURL, _ := url.Parse(backendWS)
	srv := proxy.New("127.0.0.1:0", []proxy.Service{{ServiceID: "eth", Supplier: sup.Address, Key: sup.Key,
		Backend: beURL, BackendWS: wsURL, Timeout: 10 * time.Second, MaxBodyBytes: 1 << 20}}, chain, miner.New(chain, sessions, m), log.NewNopLogger(), m)
	limits := proxy.DefaultSocketLimits
	limits.MessagesPerSecond = 1_000_000
	limits.MaxConnectionsPerApplication = 128
	srv.SetSocketLimits(limits)
	require.NoError(b, srv.Start(context.Background()))
	b.Cleanup(func() { _ = srv.Stop(context.Background()) })

	sess.Suppliers[0].Services = []types.SupplierService{{ServiceId: "eth", EndpointUrl: "http://" + srv.Addr(), RpcType: types.RPCType_RPC_TYPE_JSON_RPC}}
	gw := appgate.NewGateway(appgate.Signer{Address: app.Address, Key: app.Key}, []string{"eth"},
		gateChain{session: sess, supplier: sup.Key.PubKey()},
		appgate.Options{RPCTypes: map[string]string{"eth": appgateconfig.RPCTypeJSONRPC}}, log.NewNopLogger(), appgate.NewMetrics())
	gw.OnBlock(context.Background(), 2)
	gs := httptest.NewServer(gw)
	b.Cleanup(gs.Close)
	return backendWS, "ws" + strings.TrimPrefix(gs.URL, "http") + "/eth/"
}

// gateChain is the AppGate's chain: one session, its supplier's key.
type gateChain struct {
	session  types.Session
	supplier cryptotypes.PubKey
}

func (gateChain) LatestHeight() int64 { return 2 }
func (c gateChain) CurrentSession(context.Context, string, string) (types.Session, error) {
	return c.session, nil
}
func (gateChain) ParamsAt(context.Context, int64) (types.Params, error) {
	return types.DefaultParams(), nil
}
func (c gateChain) PubKey(context.Context, string) (cryptotypes.PubKey, error) {
	return c.supplier, nil
}

// socketLoad sends n JSON-RPC calls (ids 0..n-1) spread over `sockets`
// WebSockets to target, socketWindow/sockets (at least one) unanswered on
// each at a time, or paced one every `every`, failing on an error answer or
// a socket failure, and reports throughput and latency (call sent to its
// answer read).
func socketLoad(b *testing.B, target string, sockets, n int, every time.Duration) {
	conns := make([]*websocket.Conn, sockets)
	for i := range conns {
		c, resp, err := websocket.DefaultDialer.Dial(target, nil)
		require.NoError(b, err)
		_ = resp.Body.Close()
		conns[i] = c
	}
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	window := max(1, socketWindow/sockets)
	sent := make([]atomic.Int64, n) // unix nanoseconds
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var failed atomic.Int64
	var answered sync.WaitGroup
	answered.Add(n)
	var pace <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		pace = t.C
	}
	b.ResetTimer()
	start := time.Now()
	for _, c := range conns {
		slots := make(chan struct{}, window)
		go func() { // reader
			for {
				_, data, err := c.ReadMessage()
				if err != nil {
					return
				}
				var ans struct {
					ID    int              `json:"id"`
					Error *json.RawMessage `json:"error"`
				}
				if json.Unmarshal(data, &ans) != nil || ans.ID < 0 || ans.ID >= n {
					failed.Add(1)
					b.Errorf("unexpected answer %s", data)
					continue
				}
				if ans.Error != nil {
					failed.Add(1)
					b.Errorf("error answer %s", data)
				}
				lat[ans.ID] = time.Since(time.Unix(0, sent[ans.ID].Load()))
				<-slots
				answered.Done()
			}
		}()
		go func() { // writer
			for {
				slots <- struct{}{}
				if pace != nil {
					<-pace
				}
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				sent[i].Store(time.Now().UnixNano())
				if err := c.WriteMessage(websocket.TextMessage,
					fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,"method":"eth_blockNumber","params":[]}`, i)); err != nil {
					failed.Add(1)
					b.Errorf("write: %v", err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { answered.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		b.Fatalf("messages unanswered after 2 minutes (%d failed)", failed.Load())
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d of %d messages failed", f, n)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(lat[n/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[n*99/100].Microseconds()), "p99-µs")
}
