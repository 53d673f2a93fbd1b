// Command soak is a soak benchmark of the RelayMiner: it sends N distinct
// relays, signed by an application key, from an HTTP client through the real
// relay path — a proxy.Server on loopback, the miner, the session.Manager
// and a leveldb store in a temp dir — to a JSON-RPC backend, over several
// sessions. A fake chain advances one block per
// N/(sessions*blocksPerSession) relays answered and hands every height to
// Manager.OnBlock, so a session is sealed, claimed, proven and deleted while
// the next session's relays are served, as in production.
//
// The RelayMiner runs in a process of its own, so that its memory is
// measured alone: the program re-executes itself (SOAK_ROLE=relayminer,
// same flags) as the RelayMiner process — fake chain, store, session
// manager, miner, proxy, fake submitter — which prints one ready line and
// serves a control endpoint on loopback (POST /height, GET /stats, GET
// /report, POST /memprofile; see runRelayMiner). This process, the load
// process, holds the load generator (workers building and signing the
// requests), the JSON-RPC backend, the block driver (it posts each height
// and moves on once the RelayMiner has it) and the sampler; it reads the
// RelayMiner process's RSS from /proc/<pid>/status and its Go heap from
// GET /stats. -cpuprofile, -memprofile and -pprof apply to the RelayMiner
// process; -miner-gogc and -miner-memlimit set its GOGC and GOMEMLIMIT (by default
// the RelayMiner's own default limit, relayminer.DefaultMemoryLimit).
//
// It prints, as it runs, throughput, latency, the RelayMiner's RSS, heap,
// allocation rate and GC rate, the load process's RSS, the store size and
// the height, then a table per session (claim and proof times, store size
// around the proof) and totals. It exits non-zero if a relay is not
// answered 200, a claim does not count every relay answered in its session,
// or a claim or proof is missing.
//
//	make soak
//	go run -tags libsecp256k1_sdk ./scripts/soak -relays 5000000 -sessions 10
//	make soak SOAK_FLAGS='-miner-memlimit 200MiB -memprofile /tmp/rm.heap'
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	_ "net/http/pprof" // served with -pprof
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cosmos/cosmos-sdk/crypto/keys/secp256k1"
	sdk "github.com/cosmos/cosmos-sdk/types"
	dcrsecp "github.com/decred/dcrd/dcrec/secp256k1/v4"

	_ "github.com/pokt-network/poktroll/app" // bech32 prefixes
	"github.com/pokt-network/poktroll/x/relayer/relayminer"
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
	minerGOGC        string
	minerMemLimit    string
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
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the RelayMiner process's whole run to this file")
	flag.StringVar(&o.memProfile, "memprofile", "", "write a heap profile of the RelayMiner process to this file when the last relay is answered")
	flag.StringVar(&o.pprofAddr, "pprof", "", "serve the RelayMiner process's net/http/pprof on this address (e.g. localhost:6060), with block and mutex profiling on")
	flag.StringVar(&o.minerGOGC, "miner-gogc", "", "GOGC of the RelayMiner process (default: inherited)")
	flag.StringVar(&o.minerMemLimit, "miner-memlimit", relayminer.DefaultMemoryLimit, "GOMEMLIMIT of the RelayMiner process, e.g. 200MiB, or off (default: the RelayMiner's own default, as relayminer start --memory-limit)")
	flag.Parse()
	var err error
	if os.Getenv(roleEnv) == roleRelayMiner {
		if err = runRelayMiner(o); err != nil {
			err = fmt.Errorf("the RelayMiner process: %w", err)
		}
	} else {
		err = run(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak: FAIL:", err)
		os.Exit(1)
	}
}

// run is the load process: the backend, the RelayMiner process it starts,
// the load generator, the block driver, the sampler and the report.
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

	// The actors, and the load process's view of the chain (session
	// headers, and the height the RelayMiner acknowledged).
	appKey, supKey := secp256k1.GenPrivKey(), secp256k1.GenPrivKey()
	params, err := soakParams(o.blocksPerSession)
	if err != nil {
		return err
	}
	chain := newFakeChain(params, appKey.PubKey(), sdk.AccAddress(supKey.PubKey().Address()).String())
	rec := newRecorder(nil, chain, o.sessions)

	// The backend, in this process (a node is another process than the
	// RelayMiner in production too).
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":1,"result":"0x10d4f"}`))
	}))
	defer backend.Close()

	// The RelayMiner process.
	rm, err := startMiner(backend.URL, appKey.PubKey().(*secp256k1.PubKey), supKey, o.minerGOGC, o.minerMemLimit)
	if err != nil {
		return err
	}
	defer func() { _ = rm.stop() }()

	l := &load{
		total:    o.relays,
		perBlock: perBlock,
		url:      "http://" + rm.info.Proxy,
		client:   &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * o.workers, Proxy: nil}},
		appKey:   dcrsecp.PrivKeyFromBytes(appKey.Key),
		supplier: chain.supplier,
		chain:    chain,
		rec:      rec,
	}

	// The block driver: height 1 now, then one block per perBlock relays
	// answered, up to the last session's end. The load process moves to a
	// height once the RelayMiner has it.
	advance := func(wait bool) error {
		h := chain.height.Load() + 1
		if err := rm.height(h, wait); err != nil {
			return fmt.Errorf("handing height %d to the RelayMiner: %w", h, err)
		}
		chain.height.Store(h)
		return nil
	}
	if err := advance(false); err != nil {
		return err
	}
	blockCh := make(chan struct{}, blocks+1)
	l.blocks = blockCh
	driverDone := make(chan struct{})
	go func() {
		defer close(driverDone)
		broken := false
		for range blockCh {
			if !broken && chain.height.Load() < blocks {
				if err := advance(false); err != nil {
					l.fail(err.Error())
					broken = true
				}
			}
		}
	}()

	fmt.Printf("soak: %d relays over %d sessions of %d blocks (%d relays a block), %d workers, GOMAXPROCS %d, started %s\n",
		o.relays, o.sessions, o.blocksPerSession, perBlock, o.workers, runtime.GOMAXPROCS(0), time.Now().Format("15:04:05"))
	fmt.Printf("RelayMiner process %d (proxy %s, control %s, store in %s, GOGC %s, GOMEMLIMIT %s); load generator and backend in process %d\n\n",
		rm.pid(), rm.info.Proxy, rm.info.Control, rm.info.Dir, gogcString(rm.info.GOGC), memLimitString(rm.info.MemLimit), os.Getpid())
	before, err := rm.stats()
	if err != nil {
		return err
	}
	smp := newSampler(rm, chain, l, o.every)
	go smp.run()

	l.run(o.workers)
	close(blockCh)
	<-driverDone
	after, err := rm.stats()
	if err != nil {
		if n := l.failed.Load(); n > 0 {
			return fmt.Errorf("%d relay(s) failed; the first: %s; then %w", n, l.failMsg, err)
		}
		return err
	}
	if o.memProfile != "" {
		if err := rm.call(http.MethodPost, "/memprofile", nil); err != nil {
			return err
		}
	}

	// The tail: blocks go on (each one's work waited for) until the last
	// session's proof window closed and its settlement was read.
	last := rec.sessions[len(rec.sessions)-1].w
	for chain.height.Load() <= last.ProofWindowClose {
		if err := advance(true); err != nil {
			return err
		}
	}
	var mr minerReport
	if err := rm.call(http.MethodGet, "/report", &mr); err != nil {
		return err
	}
	smp.stop()
	end := minerEnd{before: before, after: after, report: mr}
	end.hwm, _ = procStatus(rm.pid(), "VmHWM")
	end.rss, _ = procStatus(rm.pid(), "VmRSS")
	end.anon, _ = procStatus(rm.pid(), "RssAnon")
	end.file, _ = procStatus(rm.pid(), "RssFile")
	if err := rm.stop(); err != nil {
		return err
	}
	return report(o, rec, l, smp, rm, end)
}

// minerEnd is what the load process read of the RelayMiner process at the
// end: its runtime before and after the relays were sent, its report, and
// its RSS.
type minerEnd struct {
	before, after minerStats
	report        minerReport
	hwm, rss      int64
	anon, file    int64 // RssAnon, RssFile at the end
}

func gogcString(p int) string {
	if p < 0 {
		return "off"
	}
	return strconv.Itoa(p)
}

func memLimitString(n int64) string {
	if n == math.MaxInt64 {
		return "none"
	}
	return fmt.Sprintf("%.0f MiB", mib(n))
}

// sampler samples both processes and the store every second, prints a
// progress line every `every`, and keeps the peaks.
type sampler struct {
	rm    *minerProc
	chain *fakeChain
	load  *load
	every int // seconds between printed lines

	quit, done chan struct{}

	// The RelayMiner process's peak RSS and Go heap in use, the load
	// process's peak RSS, and the store's peak size.
	peakRSS, peakHeap, peakLoadRSS, peakStore int64
	// minRate is the lowest 1-second relay rate while relays were sent,
	// and when it happened.
	minRate   float64
	minRateAt time.Duration
	statsErr  error // the first failed GET /stats
}

func newSampler(rm *minerProc, c *fakeChain, l *load, every time.Duration) *sampler {
	return &sampler{rm: rm, chain: c, load: l, every: max(1, int(every/time.Second)), quit: make(chan struct{}), done: make(chan struct{}), minRate: -1}
}

func (s *sampler) stop() {
	close(s.quit)
	<-s.done
}

func (s *sampler) run() {
	defer close(s.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	fmt.Printf("%8s %10s %8s %8s %8s %8s %9s | %-35s | %-8s\n", "", "", "", "", "", "", "", "RelayMiner process", "load")
	fmt.Printf("%8s %10s %8s %8s %8s %8s %9s | %8s %8s %8s %8s | %8s %9s %6s\n",
		"elapsed", "relays", "relays/s", "min 1s", "p50 ms", "p99 ms", "max ms", "RSS MiB", "heap MiB", "alloc/s", "GC/s", "RSS MiB", "store MiB", "height")
	var (
		lastDone, lineDone int64
		lastAt, lineAt     = s.load.start, s.load.start
		lineHist           = s.load.latency.snapshot()
		lineMinRate        = -1.0
		lineStats, _       = s.rm.stats()
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
			rss, _ := procStatus(s.rm.pid(), "VmRSS")
			loadRSS, _ := procStatus(0, "VmRSS")
			ms, err := s.rm.stats()
			if err != nil && s.statsErr == nil {
				s.statsErr = err
				fmt.Fprintln(os.Stderr, "soak: reading the RelayMiner's stats:", err)
			}
			s.peakRSS = max(s.peakRSS, rss)
			s.peakHeap = max(s.peakHeap, int64(ms.HeapInuse))
			s.peakLoadRSS = max(s.peakLoadRSS, loadRSS)
			s.peakStore = max(s.peakStore, ms.Store)
			if ticks++; ticks%s.every != 0 {
				continue
			}
			h := s.load.latency.snapshot()
			dt := now.Sub(lineAt).Seconds()
			fmt.Printf("%8s %10d %8.0f %8.0f %8.2f %8.2f %9.1f | %8.1f %8.1f %8.1f %8.1f | %8.1f %9.1f %6d\n",
				now.Sub(s.load.start).Round(time.Second), done, float64(done-lineDone)/dt, max(lineMinRate, 0),
				ms2(quantile(h, lineHist, 0.5)), ms2(quantile(h, lineHist, 0.99)), ms2(s.load.latency.takeMax()),
				mib(rss), mib(int64(ms.HeapInuse)), mib(int64(ms.TotalAlloc-lineStats.TotalAlloc))/dt, float64(ms.NumGC-lineStats.NumGC)/dt,
				mib(loadRSS), mib(ms.Store), s.chain.height.Load())
			lineDone, lineAt, lineHist, lineMinRate, lineStats = done, now, h, -1, ms
		}
	}
}

// procStatus reads a "kB" field of /proc/<pid>/status (pid 0: this
// process), in bytes.
func procStatus(pid int, field string) (int64, error) {
	path := "/proc/self/status"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	f, err := os.Open(path)
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
	return 0, fmt.Errorf("no %s in %s", field, path)
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
func report(o options, rec *recorder, l *load, smp *sampler, rm *minerProc, end minerEnd) error {
	var problems []string
	if n := l.failed.Load(); n > 0 {
		problems = append(problems, fmt.Sprintf("%d relay(s) failed; the first: %s", n, l.failMsg))
	}
	mr := end.report
	if len(mr.Sessions) != len(rec.sessions) {
		return fmt.Errorf("the RelayMiner reported %d sessions, want %d", len(mr.Sessions), len(rec.sessions))
	}
	for k, s := range rec.sessions {
		if mr.Sessions[k].SessionID != s.hdr.SessionId {
			return fmt.Errorf("the RelayMiner's session %d is %s, want %s", k+1, mr.Sessions[k].SessionID, s.hdr.SessionId)
		}
		s.mu.Lock()
		s.lifecycle = mr.Sessions[k]
		s.mu.Unlock()
	}

	fmt.Println("\nSessions")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "session\theights\trelays\tclaimed\tcount ok\tseal\tclaim-ready\tproof\tdelete\tstore@proof MiB\tstore@deleted MiB\tsettled MiB\tsettle\t")
	for k, s := range rec.sessions {
		s.mu.Lock()
		relays := s.relays.Load()
		ok := s.Claims == 1 && s.ClaimCount == uint64(relays)
		switch {
		case relays == 0:
			ok = s.Claims == 0
		case s.Claims != 1:
			problems = append(problems, fmt.Sprintf("session %d: %d claims submitted, want 1", k+1, s.Claims))
		case s.ClaimCount != uint64(relays):
			problems = append(problems, fmt.Sprintf("session %d: the claim counts %d relays, %d were answered", k+1, s.ClaimCount, relays))
		case s.Proofs != 1:
			problems = append(problems, fmt.Sprintf("session %d: %d proofs submitted, want 1", k+1, s.Proofs))
		}
		fmt.Fprintf(tw, "%d\t%d-%d\t%d\t%d\t%v\t%s\t%s\t%s\t%s\t%.1f\t%.1f\t%.1f\t%s\t\n",
			k+1, s.hdr.SessionStartBlockHeight, s.hdr.SessionEndBlockHeight, relays, s.ClaimCount, ok,
			secs(s.SealTook), secs(since(s.ClaimBlock, s.ClaimSent)), secs(since(s.ProofBlock, s.ProofSent)), secs(since(s.ProofSent, s.Deleted)),
			mib(s.StoreProof), mib(s.StoreDel), mib(s.StoreMin), secs(s.SettleTook))
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
	loadHWM, _ := procStatus(0, "VmHWM")
	all := l.latency.snapshot()
	var zero [256]int64
	lastStore := rec.sessions[len(rec.sessions)-1].StoreMin
	b, a := end.before, end.after
	allocated := a.TotalAlloc - b.TotalAlloc
	gcs := a.NumGC - b.NumGC

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
	fmt.Fprintf(tw, "RelayMiner process\tpid %d, GOGC %s, GOMEMLIMIT %s\n", rm.pid(), gogcString(rm.info.GOGC), memLimitString(rm.info.MemLimit))
	fmt.Fprintf(tw, "  peak RSS (VmHWM)\t%.1f MiB (sampled peak VmRSS %.1f MiB; at the end VmRSS %.1f MiB = RssAnon %.1f + RssFile %.1f + shmem)\n",
		mib(end.hwm), mib(smp.peakRSS), mib(end.rss), mib(end.anon), mib(end.file))
	fmt.Fprintf(tw, "  peak Go heap in use\t%.1f MiB (sampled; at the end %.1f MiB, runtime Sys %.1f MiB)\n", mib(smp.peakHeap), mib(int64(mr.Stats.HeapInuse)), mib(int64(mr.Stats.Sys)))
	fmt.Fprintf(tw, "  allocated while sending\t%.0f MiB, %.0f MiB/s, %.2f KiB and %.1f objects a relay\n",
		mib(int64(allocated)), mib(int64(allocated))/elapsed.Seconds(), float64(allocated)/1024/float64(max(done, 1)), float64(a.Mallocs-b.Mallocs)/float64(max(done, 1)))
	fmt.Fprintf(tw, "  CPU while sending\t%.1f s (%.0f%% of a CPU), %.0f µs a relay; GC's share of the CPU since start %.1f%%\n",
		(a.CPU - b.CPU).Seconds(), 100*(a.CPU-b.CPU).Seconds()/elapsed.Seconds(), float64((a.CPU-b.CPU).Microseconds())/float64(max(done, 1)), 100*a.GCCPU)
	fmt.Fprintf(tw, "  GC while sending\t%d cycles (%.1f/s, one per %.0f relays), pauses %s\n",
		gcs, float64(gcs)/elapsed.Seconds(), float64(done)/float64(max(gcs, 1)), (a.PauseTotal - b.PauseTotal).Round(time.Microsecond))
	fmt.Fprintf(tw, "load process (load generator, backend)\tpid %d, peak RSS (VmHWM) %.1f MiB (sampled peak VmRSS %.1f MiB)\n", os.Getpid(), mib(loadHWM), mib(smp.peakLoadRSS))
	fmt.Fprintf(tw, "peak store size\t%.1f MiB (sampled)\n", mib(smp.peakStore))
	fmt.Fprintf(tw, "store after last proof\t%.2f MiB (%.2f%% of peak)\n", mib(lastStore), 100*ratio(float64(lastStore), float64(smp.peakStore)))
	fmt.Fprintf(tw, "RelayMiner errors logged\t%d\n", mr.Errors)
	tw.Flush()

	if mr.Trees > 0 {
		problems = append(problems, fmt.Sprintf("%d session tree(s) still held after the last proof window", mr.Trees))
	}
	if mr.Errors > 0 {
		problems = append(problems, fmt.Sprintf("the RelayMiner logged %d error(s)", mr.Errors))
	}
	if smp.statsErr != nil {
		problems = append(problems, fmt.Sprintf("reading the RelayMiner's stats failed: %v", smp.statsErr))
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
