// Command soak is a soak benchmark of the RelayMiner: it sends N distinct
// relays, signed by an application key, from an HTTP client through the real
// relay path — a proxy.Server on loopback, the miner, the session.Manager
// and a leveldb store in a temp dir — to a JSON-RPC backend served in
// process, over several sessions. A fake chain in the program advances one
// block per N/(sessions*blocksPerSession) relays answered and hands every
// height to Manager.OnBlock, so a session is sealed, claimed, proven and
// deleted while the next session's relays are served, as in production.
//
// It prints, as it runs, throughput, latency, memory and store size, then a
// table per session (claim and proof times, store size around the proof)
// and totals. It exits non-zero if a relay is not answered 200 or a claim
// does not count every relay answered in its session.
//
//	make soak
//	go run -tags libsecp256k1_sdk ./scripts/soak -relays 5000000 -sessions 10
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	_ "net/http/pprof" // served with -pprof
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cosmos/cosmos-sdk/crypto/keys/secp256k1"
	sdk "github.com/cosmos/cosmos-sdk/types"
	dcrsecp "github.com/decred/dcrd/dcrec/secp256k1/v4"

	_ "github.com/pokt-network/poktroll/app" // bech32 prefixes
	"github.com/pokt-network/poktroll/x/relayer/relayminer/metrics"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/miner"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/proxy"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/session"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/store"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

type options struct {
	relays           int64
	sessions         int
	blocksPerSession int
	workers          int
	every            time.Duration
	dir              string
	syncWrites       bool
	cpuProfile       string
	memProfile       string
	pprofAddr        string
}

func main() {
	var o options
	flag.Int64Var(&o.relays, "relays", 1_000_000, "relays to send")
	flag.IntVar(&o.sessions, "sessions", 4, "sessions to spread them over")
	flag.IntVar(&o.blocksPerSession, "blocks-per-session", 10, "blocks per session")
	flag.IntVar(&o.workers, "workers", 8, "concurrent client workers")
	flag.DurationVar(&o.every, "every", 5*time.Second, "how often to print a progress line (sampled every second)")
	flag.StringVar(&o.dir, "dir", "", "directory for the store (default: a temp dir, removed at the end)")
	flag.BoolVar(&o.syncWrites, "sync-writes", false, "fsync every store write (the store's sync_writes)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.StringVar(&o.memProfile, "memprofile", "", "write a heap profile to this file when the last relay is answered")
	flag.StringVar(&o.pprofAddr, "pprof", "", "serve net/http/pprof on this address (e.g. localhost:6060), with block and mutex profiling on")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "soak: FAIL:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	blocks := int64(o.sessions * o.blocksPerSession)
	if o.relays < 1 || o.sessions < 1 || o.workers < 1 || o.blocksPerSession < 1 {
		return errors.New("-relays, -sessions, -workers and -blocks-per-session must be positive")
	}
	perBlock := (o.relays + blocks - 1) / blocks
	if perBlock < int64(2*o.workers) {
		// A request built in one block must be answered before its session
		// is sealed two blocks after its end.
		return fmt.Errorf("%d relays per block is too few for %d workers: send more relays or use fewer sessions", perBlock, o.workers)
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	if o.pprofAddr != "" {
		runtime.SetBlockProfileRate(int(100 * time.Microsecond))
		runtime.SetMutexProfileFraction(100)
		go func() { fmt.Fprintln(os.Stderr, "soak: pprof:", http.ListenAndServe(o.pprofAddr, nil)) }()
	}

	// The store.
	dir := o.dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "soak-store-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	db, err := store.Open(dir, store.Options{SyncWrites: o.syncWrites})
	if err != nil {
		return err
	}
	defer db.Close()

	// The actors and the fake chain.
	appKey, supKey := secp256k1.GenPrivKey(), secp256k1.GenPrivKey()
	params, err := soakParams(o.blocksPerSession)
	if err != nil {
		return err
	}
	chain := &fakeChain{
		params:   params,
		app:      sdk.AccAddress(appKey.PubKey().Address()).String(),
		appPub:   appKey.PubKey(),
		supplier: sdk.AccAddress(supKey.PubKey().Address()).String(),
		claims:   map[string]types.Claim{},
		proofs:   map[string]bool{},
	}
	rec := newRecorder(db, chain, o.sessions)
	logger := eventLog{rec: rec}

	// The backend and the RelayMiner's relay path.
	ctx := context.Background()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":1,"result":"0x10d4f"}`))
	}))
	defer backend.Close()
	backendURL, _ := url.Parse(backend.URL)
	m := metrics.New()
	manager := session.NewManager(db, chain, &submitter{chain: chain, rec: rec}, logger, m, session.Options{})
	if err := manager.Load(); err != nil {
		return err
	}
	srv := proxy.New("127.0.0.1:0", []proxy.Service{{ServiceID: serviceID, Supplier: chain.supplier, Key: supKey,
		Backend: backendURL, Timeout: 10 * time.Second, MaxBodyBytes: 1 << 20}}, chain, miner.New(chain, manager, m), logger, m)
	if err := srv.Start(ctx); err != nil {
		return err
	}
	defer func() { _ = srv.Stop(context.Background()) }()

	// The block driver: height 1 now, then one block per perBlock relays
	// answered, up to the last session's end.
	advance := func() {
		h := chain.height.Add(1)
		rec.block(h, time.Now())
		manager.OnBlock(ctx, h)
	}
	advance()
	blockCh := make(chan struct{}, blocks+1)
	driverDone := make(chan struct{})
	go func() {
		defer close(driverDone)
		for range blockCh {
			if chain.height.Load() < blocks {
				advance()
			}
		}
	}()

	l := &load{
		total:    o.relays,
		perBlock: perBlock,
		url:      "http://" + srv.Addr(),
		client:   &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * o.workers, Proxy: nil}},
		appKey:   dcrsecp.PrivKeyFromBytes(appKey.Key),
		supplier: chain.supplier,
		chain:    chain,
		rec:      rec,
		blocks:   blockCh,
	}

	fmt.Printf("soak: %d relays over %d sessions of %d blocks (%d relays a block), %d workers, store in %s, GOMAXPROCS %d, started %s\n\n",
		o.relays, o.sessions, o.blocksPerSession, perBlock, o.workers, dir, runtime.GOMAXPROCS(0), time.Now().Format("15:04:05"))
	smp := newSampler(db, chain, l, o.every)
	go smp.run()

	l.run(o.workers)
	close(blockCh)
	<-driverDone
	if o.memProfile != "" {
		if err := writeHeapProfile(o.memProfile); err != nil {
			return err
		}
	}

	// The tail: blocks go on (each one's work waited for) until the last
	// session's proof window closed and its settlement was read.
	last := rec.sessions[len(rec.sessions)-1].w
	for chain.height.Load() <= last.ProofWindowClose {
		manager.Wait()
		advance()
		manager.Wait()
	}
	rec.settling.Wait()
	smp.stop()

	return report(o, rec, l, smp, manager)
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	runtime.GC()
	return pprof.WriteHeapProfile(f)
}

// sampler samples the process and the store every second, prints a
// progress line every `every`, and keeps the peaks.
type sampler struct {
	db    *store.DB
	chain *fakeChain
	load  *load
	every int // seconds between printed lines

	quit, done chan struct{}

	peakRSS, peakHeap, peakStore int64
	// minRate is the lowest 1-second relay rate while relays were sent,
	// and when it happened.
	minRate   float64
	minRateAt time.Duration
}

func newSampler(db *store.DB, c *fakeChain, l *load, every time.Duration) *sampler {
	return &sampler{db: db, chain: c, load: l, every: max(1, int(every/time.Second)), quit: make(chan struct{}), done: make(chan struct{}), minRate: -1}
}

func (s *sampler) stop() {
	close(s.quit)
	<-s.done
}

func (s *sampler) run() {
	defer close(s.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	fmt.Printf("%8s %10s %8s %8s %8s %8s %9s %9s %9s %10s %6s\n",
		"elapsed", "relays", "relays/s", "min 1s", "p50 ms", "p99 ms", "max ms", "RSS MiB", "heap MiB", "store MiB", "height")
	var (
		lastDone, lineDone int64
		lastAt, lineAt     = s.load.start, s.load.start
		lineHist           = s.load.latency.snapshot()
		lineMinRate        = -1.0
		ticks              int
	)
	for {
		select {
		case <-s.quit:
			return
		case now := <-tick.C:
			done := s.load.done.Load()
			sending := done < s.load.total && s.load.failed.Load() == 0
			rate := float64(done-lastDone) / now.Sub(lastAt).Seconds()
			if sending && (lineMinRate < 0 || rate < lineMinRate) {
				lineMinRate = rate
			}
			if sending && (s.minRate < 0 || rate < s.minRate) {
				s.minRate, s.minRateAt = rate, now.Sub(s.load.start)
			}
			lastDone, lastAt = done, now
			rss, _ := procStatus("VmRSS")
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			size := storeSize(s.db)
			s.peakRSS = max(s.peakRSS, rss)
			s.peakHeap = max(s.peakHeap, int64(ms.HeapInuse))
			s.peakStore = max(s.peakStore, size)
			if ticks++; ticks%s.every != 0 {
				continue
			}
			h := s.load.latency.snapshot()
			fmt.Printf("%8s %10d %8.0f %8.0f %8.2f %8.2f %9.1f %9.1f %9.1f %10.1f %6d\n",
				now.Sub(s.load.start).Round(time.Second), done, float64(done-lineDone)/now.Sub(lineAt).Seconds(), max(lineMinRate, 0),
				ms2(quantile(h, lineHist, 0.5)), ms2(quantile(h, lineHist, 0.99)), ms2(s.load.latency.takeMax()),
				mib(rss), mib(int64(ms.HeapInuse)), mib(size), s.chain.height.Load())
			lineDone, lineAt, lineHist, lineMinRate = done, now, h, -1
		}
	}
}

// procStatus reads a "kB" field of /proc/self/status, in bytes.
func procStatus(field string) (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/self/status", field)
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func ms2(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func secs(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// report prints the per-session table and the totals, and says what failed.
func report(o options, rec *recorder, l *load, smp *sampler, manager *session.Manager) error {
	var problems []string
	if n := l.failed.Load(); n > 0 {
		problems = append(problems, fmt.Sprintf("%d relay(s) failed; the first: %s", n, l.failMsg))
	}

	fmt.Println("\nSessions")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "session\theights\trelays\tclaimed\tcount ok\tseal\tclaim-ready\tproof\tdelete\tstore@proof MiB\tstore@deleted MiB\tsettled MiB\tsettle\t")
	for k, s := range rec.sessions {
		s.mu.Lock()
		relays := s.relays.Load()
		ok := s.claims == 1 && s.claimCount == uint64(relays)
		switch {
		case relays == 0:
			ok = s.claims == 0
		case s.claims != 1:
			problems = append(problems, fmt.Sprintf("session %d: %d claims submitted, want 1", k+1, s.claims))
		case s.claimCount != uint64(relays):
			problems = append(problems, fmt.Sprintf("session %d: the claim counts %d relays, %d were answered", k+1, s.claimCount, relays))
		case s.proofs != 1:
			problems = append(problems, fmt.Sprintf("session %d: %d proofs submitted, want 1", k+1, s.proofs))
		}
		fmt.Fprintf(tw, "%d\t%d-%d\t%d\t%d\t%v\t%s\t%s\t%s\t%s\t%.1f\t%.1f\t%.1f\t%s\t\n",
			k+1, s.hdr.SessionStartBlockHeight, s.hdr.SessionEndBlockHeight, relays, s.claimCount, ok,
			secs(s.sealTook), secs(since(s.claimBlock, s.claimSent)), secs(since(s.proofBlock, s.proofSent)), secs(since(s.proofSent, s.deleted)),
			mib(s.storeProof), mib(s.storeDel), mib(s.storeMin), secs(s.settleTook))
		s.mu.Unlock()
	}
	tw.Flush()
	fmt.Println("  seal: the claim trie build (manager log); claim-ready: OnBlock at the block before the claim window -> claim submitted;")
	fmt.Println("  proof: OnBlock at the block before the proof window -> proof submitted; delete: proof submitted -> relays and trie deleted and compacted;")
	fmt.Println("  settled: the lowest store size within 1 s of no further drop after the delete (the next session's relays keep being written).")

	done := l.done.Load()
	elapsed := time.Duration(l.atEnd.Load())
	if elapsed == 0 {
		elapsed = time.Since(l.start)
	}
	first := 0.0
	if at := time.Duration(l.at10k.Load()); at > 0 {
		first = 10_000 / at.Seconds()
	}
	lastTenth := 0.0
	if at90, atEnd := time.Duration(l.at90.Load()), time.Duration(l.atEnd.Load()); at90 > 0 && atEnd > at90 {
		lastTenth = float64(l.total-l.total*9/10) / (atEnd - at90).Seconds()
	}
	hwm, _ := procStatus("VmHWM")
	all := l.latency.snapshot()
	var zero [256]int64
	lastStore := rec.sessions[len(rec.sessions)-1].storeMin

	fmt.Println("\nTotals")
	tw = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "relays answered\t%d of %d (%d failed)\n", done, o.relays, l.failed.Load())
	fmt.Fprintf(tw, "sessions\t%d of %d blocks, %d relays a block, %d workers\n", o.sessions, o.blocksPerSession, l.perBlock, o.workers)
	fmt.Fprintf(tw, "time sending\t%s\n", elapsed.Round(time.Millisecond))
	fmt.Fprintf(tw, "relays/s overall\t%.0f\n", float64(done)/elapsed.Seconds())
	fmt.Fprintf(tw, "relays/s first 10,000\t%.0f\n", first)
	fmt.Fprintf(tw, "relays/s last 10%%\t%.0f (%.2fx the first 10,000)\n", lastTenth, ratio(lastTenth, first))
	fmt.Fprintf(tw, "lowest 1 s relays/s\t%.0f (at %s)\n", max(smp.minRate, 0), smp.minRateAt.Round(time.Second))
	fmt.Fprintf(tw, "latency p50 / p99\t%.2f / %.2f ms\n", ms2(quantile(all, zero, 0.5)), ms2(quantile(all, zero, 0.99)))
	fmt.Fprintf(tw, "peak RSS (VmHWM)\t%.1f MiB (sampled peak VmRSS %.1f MiB)\n", mib(hwm), mib(smp.peakRSS))
	fmt.Fprintf(tw, "peak Go heap in use\t%.1f MiB (sampled)\n", mib(smp.peakHeap))
	fmt.Fprintf(tw, "peak store size\t%.1f MiB (sampled)\n", mib(smp.peakStore))
	fmt.Fprintf(tw, "store after last proof\t%.2f MiB (%.2f%% of peak)\n", mib(lastStore), 100*ratio(float64(lastStore), float64(smp.peakStore)))
	fmt.Fprintf(tw, "RelayMiner errors logged\t%d\n", rec.errors.Load())
	tw.Flush()

	if n := len(manager.Trees()); n > 0 {
		problems = append(problems, fmt.Sprintf("%d session tree(s) still held after the last proof window", n))
	}
	if n := rec.errors.Load(); n > 0 {
		problems = append(problems, fmt.Sprintf("the RelayMiner logged %d error(s)", n))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	fmt.Println("\nsoak: OK")
	return nil
}

func since(from, to time.Time) time.Duration {
	if from.IsZero() || to.IsZero() {
		return 0
	}
	return to.Sub(from)
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
