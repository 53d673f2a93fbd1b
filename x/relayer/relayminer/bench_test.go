package relayminer_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"cosmossdk.io/log"
	cryptotypes "github.com/cosmos/cosmos-sdk/crypto/types"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/stretchr/testify/require"

	_ "github.com/pokt-network/poktroll/app" // bech32 prefixes
	"github.com/pokt-network/poktroll/testutil/jetstreamtest"
	"github.com/pokt-network/poktroll/testutil/relaytest"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/fleet"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/metrics"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/miner"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/proxy"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/session"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/store"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// benchChain answers from memory, as the chain client does from its cache
// once a session's first relay warmed it.
type benchChain struct {
	session types.Session
	pub     cryptotypes.PubKey
}

func (benchChain) LatestHeight() int64 { return 2 }
func (benchChain) Tip() int64          { return 2 }
func (benchChain) ParamsAt(context.Context, int64) (types.Params, error) {
	return types.DefaultParams(), nil
}
func (c benchChain) Session(context.Context, string, string, int64) (types.Session, error) {
	return c.session, nil
}
func (c benchChain) PubKey(context.Context, string) (cryptotypes.PubKey, error) { return c.pub, nil }
func (benchChain) ServiceAt(_ context.Context, id string, _ int64) (types.Service, error) {
	return types.Service{Id: id, ComputeUnitsPerRelay: 1}, nil
}
func (benchChain) BlockHash(context.Context, int64) ([]byte, error)              { return nil, nil }
func (benchChain) ProofRequired(context.Context, string, string) (bool, error)   { return true, nil }
func (benchChain) ClaimOf(context.Context, string, string) (*types.Claim, error) { return nil, nil }
func (benchChain) HasProof(context.Context, string, string) (bool, error)        { return false, nil }
func (benchChain) ClaimOutcome(context.Context, int64, string, string) (*types.EventClaimSettled, *types.EventClaimExpired, error) {
	return nil, nil, nil
}

type noTx struct{}

func (noTx) Submit(context.Context, string, int64, ...sdk.Msg) error { return nil }

const concurrency = 16

var backendBody = []byte(`{"jsonrpc":"2.0","id":1,"result":"0x10d4f"}`)

// BenchmarkRelay compares, in one run and at the same concurrency, relays
// sent through a RelayMiner with every check on (request signature, session,
// response signing, mining into a leveldb-backed session tree) against the
// same requests sent to the backend directly. Reports relays/s and p50/p99
// latency in microseconds.
//
// relayminer-jetstream is the same RelayMiner as one replica of a fleet
// (store.backend jetstream) on an embedded single-node JetStream server:
// every relay is appended to the shared log, and the replica, as lease
// holder, mirrors it into its leveldb session tree.
func BenchmarkRelay(b *testing.B) {
	for _, mode := range []string{leveldb, leveldbSync, jetstream} {
		be, rmURL, reqs, plain := setup(b, mode)
		if mode == leveldb {
			b.Run("direct", func(b *testing.B) { load(b, be.URL, func(i int) []byte { return plain }, 0) })
		}
		b.Run(mode, func(b *testing.B) { load(b, rmURL, func(int) []byte { return reqs() }, 0) })
	}
}

// BenchmarkRelayAt1000rps paces 2,000 relays at 1,000/s (use -benchtime 1x)
// to measure the latency the RelayMiner adds at that rate.
func BenchmarkRelayAt1000rps(b *testing.B) {
	be, rmURL, reqs, plain := setup(b, leveldb)
	b.Run("direct", func(b *testing.B) { load(b, be.URL, func(int) []byte { return plain }, time.Millisecond) })
	b.Run(leveldb, func(b *testing.B) { load(b, rmURL, func(int) []byte { return reqs() }, time.Millisecond) })
	_, jsURL, jsReqs, _ := setup(b, jetstream)
	b.Run(jetstream, func(b *testing.B) { load(b, jsURL, func(int) []byte { return jsReqs() }, time.Millisecond) })
}

// The RelayMiners setup starts.
const (
	leveldb     = "relayminer"            // leveldb store
	leveldbSync = "relayminer-syncwrites" // leveldb store, fsync on every write
	jetstream   = "relayminer-jetstream"  // one replica of a fleet on one JetStream server
)

// setup starts a backend and a RelayMiner in front of it. reqs hands out a
// distinct signed relay request on each call (a replayed one would be
// refused as a duplicate).
func setup(b *testing.B, mode string) (be *httptest.Server, rmURL string, reqs func() []byte, plain []byte) {
	be = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(backendBody)
	}))
	b.Cleanup(be.Close)
	app, sup := relaytest.NewActor(), relaytest.NewActor()
	hdr := types.SessionHeader{ApplicationAddress: app.Address, ServiceId: "eth",
		SessionId: protocol.SessionID(nil, "eth", app.Address, 1), SessionStartBlockHeight: 1, SessionEndBlockHeight: 4}
	chain := benchChain{session: types.Session{Header: hdr, Suppliers: []types.Supplier{{OperatorAddress: sup.Address}}}, pub: app.Key.PubKey()}
	// Enough distinct requests for the calibration run and a 20,000x run.
	rmURL, reqs = startRelayMiner(b, be, chain, app, sup, hdr, benchRelayMiner{syncWrites: mode == leveldbSync, fleet: mode == jetstream}, 22_000)
	return be, rmURL, reqs, []byte(`{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}`)
}

// relayMinerChain is what a benchmark's RelayMiner reads of the chain.
type relayMinerChain interface {
	session.Chain
	proxy.Chain
	miner.Chain
}

// benchRelayMiner says how startRelayMiner's RelayMiner stores relays and
// meters them.
type benchRelayMiner struct {
	syncWrites bool // leveldb with fsync on every write
	fleet      bool // one replica of a fleet on an embedded JetStream server
	// meter, when set, gives the proxy its relay meter.
	meter func(fl *fleet.Fleet, sessions *session.Manager, m *metrics.Metrics) proxy.Meter
}

// startRelayMiner starts a RelayMiner in front of be serving sup's relays
// of hdr's session, and signs n distinct requests of app for it before the
// clock starts; reqs hands out the next one on each call (a replayed one
// would be refused as a duplicate).
func startRelayMiner(b *testing.B, be *httptest.Server, chain relayMinerChain, app, sup relaytest.Actor, hdr types.SessionHeader, o benchRelayMiner, n int) (rmURL string, reqs func() []byte) {
	db, err := store.Open(b.TempDir(), store.Options{SyncWrites: o.syncWrites})
	require.NoError(b, err)
	b.Cleanup(func() { _ = db.Close() })
	m := metrics.New()
	var opts session.Options
	var fl *fleet.Fleet
	if o.fleet {
		js := jetstreamtest.NewServer(b, jetstreamtest.Options{})
		fl, err = fleet.Open(context.Background(), fleet.Config{URLs: js.URLs(), Replicas: 1}, db, log.NewNopLogger(), m)
		require.NoError(b, err)
		b.Cleanup(fl.Stop)
		opts.Coordinator = fl
	}
	sessions := session.NewManager(db, chain, noTx{}, log.NewNopLogger(), m, opts)
	var logged miner.Sessions = sessions
	if fl != nil {
		fl.Start(context.Background(), sessions, sup.Address)
		logged = fl
	}
	beURL, _ := url.Parse(be.URL)
	srv := proxy.New("127.0.0.1:0", []proxy.Service{{ServiceID: "eth", Supplier: sup.Address, Key: sup.Key,
		Backend: beURL, Timeout: 10 * time.Second, MaxBodyBytes: 1 << 20}}, chain, miner.New(chain, logged, m), log.NewNopLogger(), m)
	if o.meter != nil {
		srv.SetMeter(o.meter(fl, sessions, m))
	}
	require.NoError(b, srv.Start(context.Background()))
	b.Cleanup(func() { _ = srv.Stop(context.Background()) })

	signed := make([][]byte, n)
	for i := range signed {
		body := []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"eth_blockNumber","params":[]}`, i))
		payload, _ := (&types.HTTPRequest{Method: "POST", Path: "/", Body: body}).Marshal()
		h := hdr
		req := &types.RelayRequest{Meta: types.RelayRequestMetadata{SessionHeader: &h, SupplierOperatorAddress: sup.Address}, Payload: payload}
		relaytest.SignRequest(b, req, app.Key)
		signed[i], _ = req.Marshal()
	}
	var next atomic.Int64
	return "http://" + srv.Addr(), func() []byte { return signed[int(next.Add(1)-1)%len(signed)] }
}

// load sends b.N requests from `concurrency` workers (or paced one every
// `every`), failing on any non-200, and reports throughput and latency.
func load(b *testing.B, target string, body func(int) []byte, every time.Duration) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency * 2}}
	n := b.N
	if every > 0 {
		n = 2000
	}
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var failed atomic.Int64
	var pace <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		pace = t.C
	}
	// Each run starts with the disk quiet: the kernel's write-back of what
	// an earlier run wrote (relay logs, value files) is not charged to it.
	syscall.Sync()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if pace != nil {
					<-pace
				}
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				resp, err := client.Post(target, "application/octet-stream", bytes.NewReader(body(i)))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				lat[i] = time.Since(t0)
				if err != nil || resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d of %d relays failed", f, n)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "relays/s")
	b.ReportMetric(float64(lat[n/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[n*99/100].Microseconds()), "p99-µs")
}
