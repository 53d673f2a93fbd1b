// Command faults is a repeatable fault benchmark of the RelayMiner (make
// faults; not part of make test).
//
// It builds a one-validator chain from nothing in a fresh directory (10-block
// sessions, 1s blocks, every claim must be proven), serves a JSON-RPC
// backend itself, registers a service on it, stakes an application and a
// supplier through real txs, and starts the node, a RelayMiner and an
// AppGate as processes of bin/poktrolld. It sends relays through the AppGate
// for the whole run while it kills the RelayMiner with SIGKILL at random
// lifecycle points (mid-session, the block before the claim window opens,
// right after its claim is included, the block before the proof window
// opens, inside the proof window), restarting it at once on the same store,
// and restarts the node a few times. Then it waits for every session with
// answered relays to settle and reports, per session and in total, the
// relays answered 200, claimed and settled, the claims expired and the
// supplier slashes, read from the node's block results.
//
// It exits 1 when fewer relays settled than were answered or the supplier
// was slashed (unless -report-only), 130 on Ctrl-C. Every process it
// started is stopped on exit; the run directory (chain, configs, store,
// logs) is kept.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/pokt-network/poktroll/scripts/internal/localchain"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

type options struct {
	duration        time.Duration
	rate            int
	workers         int
	relayMinerKills int
	nodeRestarts    int
	seed            int64
	dir             string
	bin             string
	reportOnly      bool
}

func parseFlags() options {
	var o options
	flag.DurationVar(&o.duration, "duration", 200*time.Second, "how long relays are sent after the first session, counted in blocks at one a second (rounded up to whole sessions); faults are spread over it")
	flag.IntVar(&o.rate, "rate", 100, "relays per second sent through the AppGate")
	flag.IntVar(&o.workers, "workers", 8, "concurrent senders")
	flag.IntVar(&o.relayMinerKills, "relayminer-kills", 20, "kill -9 of the RelayMiner, each restarted at once")
	flag.IntVar(&o.nodeRestarts, "node-restarts", 5, "node restarts (SIGTERM or SIGKILL, 3-5s down)")
	flag.Int64Var(&o.seed, "seed", 0, "seed of the fault schedule (0: from the clock); the same seed gives the same schedule")
	flag.StringVar(&o.dir, "dir", "", "run directory, wiped at start (default: a new temporary directory)")
	flag.StringVar(&o.bin, "bin", "bin/poktrolld", "the poktrolld binary")
	flag.BoolVar(&o.reportOnly, "report-only", false, "exit 0 even when relays were lost or the supplier slashed")
	flag.Parse()
	if o.seed == 0 {
		o.seed = time.Now().UnixNano() % 1_000_000_000
	}
	if o.rate < 1 || o.workers < 1 || o.relayMinerKills < 0 || o.nodeRestarts < 0 || o.duration < time.Second {
		fmt.Fprintln(os.Stderr, "faults: -rate, -workers must be at least 1, kill counts not negative, -duration at least 1s")
		os.Exit(2)
	}
	return o
}

// runner holds everything of one run.
type runner struct {
	opts   options
	chain  *localchain.Chain // run directory, node home, logs, ports, RPC
	params types.Params

	heights *localchain.Heights
	abort   context.CancelCauseFunc // a fatal event (the node exited on its own)

	node, relayminer *localchain.Proc
	appgate          *localchain.Proc
	stopBackend      func()
	stopLoad         func()

	base       int64 // the block before the run's first session (a session end)
	faultCount int
}

func main() {
	os.Exit(run(parseFlags()))
}

// run returns the exit status.
func run(opts options) int {
	sigCtx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stopSignals()
	ctx, abort := context.WithCancelCause(sigCtx)
	defer abort(nil)

	r := &runner{opts: opts, params: chainParams(), abort: abort}
	defer r.cleanup()
	rep, err := r.run(ctx)
	switch {
	case sigCtx.Err() != nil:
		say("interrupted")
		return 130
	case err != nil:
		if cause := context.Cause(ctx); cause != nil && errors.Is(err, context.Canceled) {
			err = cause
		}
		sayErr("FAILED: %v", err)
		r.tailLogs()
		return 1
	}
	if fails := rep.failures(); len(fails) > 0 {
		for _, f := range fails {
			sayErr("FAILED: %s", f)
		}
		if opts.reportOnly {
			say("-report-only: exiting 0")
			return 0
		}
		return 1
	}
	say("PASSED: every answered relay settled, no slash")
	return 0
}

// run sets everything up, runs the load and the faults, waits for the
// settlements and reports.
func (r *runner) run(ctx context.Context) (*report, error) {
	before, err := r.setUp(ctx)
	if err != nil {
		return nil, err
	}
	schedule, loadEnd := r.plan()
	stats, err := r.runLoadAndFaults(ctx, schedule, loadEnd)
	if err != nil {
		return nil, err
	}
	settleUpTo, err := r.waitSettlements(ctx, stats)
	if err != nil {
		return nil, err
	}
	rep, err := r.collect(ctx, settleUpTo, stats, schedule)
	if err != nil {
		return nil, err
	}
	rep.before = before
	if rep.after, err = r.chain.Balances(ctx); err != nil {
		return nil, err
	}
	for _, p := range []*localchain.Proc{r.node, r.relayminer, r.appgate} {
		for _, c := range p.Crashes() {
			rep.crashes = append(rep.crashes, p.Name+": "+c)
		}
	}
	rep.lossLines = lossLines(r.relayminer.LogPath, 20)
	printSchedule(schedule, r.base, r.params)
	rep.print()
	return rep, nil
}

// setUp builds the chain, stakes the actors, starts every process and
// waits for the first session holding the supplier; it returns the
// balances before the run.
func (r *runner) setUp(ctx context.Context) (localchain.Balances, error) {
	if err := r.prepare(); err != nil {
		return localchain.Balances{}, err
	}
	say("seed %d (same seed, same schedule: -seed %d); run directory %s", r.opts.seed, r.opts.seed, r.chain.Dir)
	backend, stop, err := startBackend()
	if err != nil {
		return localchain.Balances{}, err
	}
	r.stopBackend = stop
	say("backend (JSON-RPC, answers every POST) at %s", backend)
	steps := []func(context.Context) error{
		r.initChain,
		r.startNode,
		r.stakeActors,
		func(ctx context.Context) error { return r.startRelayMiner(ctx, backend) },
		r.startAppGate,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return localchain.Balances{}, err
		}
	}
	first, err := r.waitSupplierInSession(ctx)
	if err != nil {
		return localchain.Balances{}, err
	}
	r.base = first.Start - 1
	say("session %d-%d holds the application and the supplier: the run starts", first.Start, first.End)
	return r.chain.Balances(ctx)
}

// prepare creates the run directory (wiping a previous run's) and picks
// the ports.
func (r *runner) prepare() error {
	bin, err := filepath.Abs(r.opts.bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s: %w (run make build)", bin, err)
	}
	dir, err := runDir(r.opts.dir)
	if err != nil {
		return err
	}
	ports, err := localchain.FreePorts(portLow, portHigh)
	if err != nil {
		return err
	}
	r.chain, err = localchain.New(bin, dir, chainID, "faults", ports, out)
	return err
}

// runMarker marks a directory as a faults run directory, which a later
// run may wipe.
const runMarker = ".faults-run"

func runDir(dir string) (string, error) {
	if dir == "" {
		return os.MkdirTemp("", "poktroll-faults-")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	entries, err := os.ReadDir(dir)
	if err == nil && len(entries) > 0 {
		if _, err := os.Stat(filepath.Join(dir, runMarker)); err != nil {
			return "", fmt.Errorf("%s is not empty and not a previous faults run (no %s): not wiping it", dir, runMarker)
		}
		if err := os.RemoveAll(dir); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, runMarker), nil, 0o644)
}

// startNode starts `poktrolld start` and follows its height.
func (r *runner) startNode(ctx context.Context) error {
	r.node = r.chain.Node()
	r.node.OnCrash = func(p *localchain.Proc, _ *exec.Cmd, err error) {
		r.abort(fmt.Errorf("the node exited on its own (%s); see %s", localchain.ExitText(err), p.LogPath))
	}
	if err := r.node.Start(); err != nil {
		return err
	}
	if _, err := r.chain.WaitNode(ctx, r.node, 0, 60*time.Second); err != nil {
		return err
	}
	r.heights = &localchain.Heights{RPC: r.chain.RPC}
	go r.heights.Follow(ctx)
	say("the node is producing blocks (RPC %s, gRPC %s), log %s", r.chain.RPCURL(), r.chain.GRPCAddr(), r.node.LogPath)
	return r.chain.CheckParams(ctx, r.params)
}

// restartOnCrash is the OnCrash of the RelayMiner and the AppGate: an exit
// nobody asked for is a finding; the process is started again so that the
// run goes on.
func (r *runner) restartOnCrash(p *localchain.Proc, crashed *exec.Cmd, err error) {
	sayErrAt(r.heights.Now(), "%s (pid %d) exited on its own (%s); restarting it in 2s — see %s", p.Name, crashed.Process.Pid, localchain.ExitText(err), p.LogPath)
	if err := p.RestartAfterCrash(crashed, 2*time.Second); err != nil {
		sayErr("restarting %s: %v", p.Name, err)
	}
}

func (r *runner) startRelayMiner(ctx context.Context, backend string) error {
	var err error
	if r.relayminer, err = r.chain.RelayMiner("RelayMiner of the faults benchmark's supplier.", serviceID, backend); err != nil {
		return err
	}
	r.relayminer.OnCrash = r.restartOnCrash
	if err := r.relayminer.Start(); err != nil {
		return err
	}
	if err := r.chain.WaitRelayMiner(ctx, r.relayminer, 60*time.Second); err != nil {
		return err
	}
	say("RelayMiner serving %s on 127.0.0.1:%d, log %s", serviceID, r.chain.Ports.Relay, r.relayminer.LogPath)
	return nil
}

func (r *runner) startAppGate(ctx context.Context) error {
	var err error
	if r.appgate, err = r.chain.AppGate("AppGate of the faults benchmark's application.", serviceID); err != nil {
		return err
	}
	r.appgate.OnCrash = r.restartOnCrash
	if err := r.appgate.Start(); err != nil {
		return err
	}
	if err := r.chain.WaitAppGate(ctx, r.appgate, 60*time.Second); err != nil {
		return err
	}
	say("AppGate serving the application at %s, log %s", r.chain.AppGateURL(serviceID), r.appgate.LogPath)
	return nil
}

// plan draws the fault schedule and the height at which the load stops:
// the end of the run's sessions, or later if the last fault needs it.
func (r *runner) plan() ([]fault, int64) {
	n := int64(r.params.NumBlocksPerSession)
	runBlocks := ceilTo(int64(math.Ceil(r.opts.duration.Seconds())), n)
	schedule := makeSchedule(r.opts.seed, r.opts.relayMinerKills, r.opts.nodeRestarts, runBlocks, r.params)
	r.faultCount = len(schedule)
	loadEnd := r.base + n + runBlocks
	if len(schedule) > 0 {
		loadEnd = max(loadEnd, r.base+schedule[len(schedule)-1].Target+gapAfterNodeRestart)
	}
	say("load: %d relays/s from %d workers until height %d; %d faults:", r.opts.rate, r.opts.workers, loadEnd, len(schedule))
	for _, f := range schedule {
		detail("%2d. height %d: %s: %s", f.N, r.base+f.Target, f.Kind, f.describe(r.base, r.params))
	}
	return schedule, loadEnd
}

// runLoadAndFaults sends relays until loadEnd while the faults are
// injected, and returns the load's counters.
func (r *runner) runLoadAndFaults(ctx context.Context, schedule []fault, loadEnd int64) (loadStats, error) {
	l := newLoad(r.chain.AppGateURL(serviceID), r.opts.rate, r.opts.workers, r.heights, r.params.NumBlocksPerSession, r.base+1)
	loadCtx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan struct{})
	go func() {
		l.run(loadCtx)
		close(loadDone)
	}()
	r.stopLoad = func() { stopLoad(); <-loadDone }
	say("sending relays: POST %s", r.chain.AppGateURL(serviceID))

	injected := make(chan error, 1)
	go func() { injected <- r.inject(ctx, schedule) }()

	faultsDone := false
	lastSession := r.heights.Now() / int64(r.params.NumBlocksPerSession)
	for !faultsDone || r.heights.Now() < loadEnd {
		select {
		case <-ctx.Done():
			r.stopLoad()
			return loadStats{}, ctx.Err()
		case err := <-injected:
			if err != nil {
				r.stopLoad()
				return loadStats{}, err
			}
			faultsDone = true
		case <-time.After(500 * time.Millisecond):
		}
		lastSession = r.progress(l, lastSession)
	}
	r.stopLoad()
	stats := l.stats()
	say("load stopped at height %d: %d relays answered 200; failures: %s", r.heights.Now(), stats.totalAnswered(), stats.failures())
	return stats, nil
}

// progress prints one line per session ended: the relays answered in it.
func (r *runner) progress(l *load, lastSession int64) int64 {
	n := int64(r.params.NumBlocksPerSession)
	h := r.heights.Now()
	cur := (h - 1) / n
	if cur == lastSession {
		return cur
	}
	stats := l.stats()
	start := (cur-1)*n + 1
	sayAt(h, "session %d-%d ended: %d relays answered in it, %d in all; failures so far: %s",
		start, start+n-1, stats.answered[start], stats.totalAnswered(), stats.failures())
	return cur
}

// waitSettlements waits until the proof window of the last session with
// answered relays has closed (its claim settles in that block) and returns
// that height.
func (r *runner) waitSettlements(ctx context.Context, stats loadStats) (int64, error) {
	var lastStart int64
	for start, count := range stats.answered {
		if count > 0 {
			lastStart = max(lastStart, start)
		}
	}
	if lastStart == 0 {
		return r.heights.Now(), nil
	}
	end := protocol.SessionEndHeight(r.params.NumBlocksPerSession, lastStart)
	closeAt := protocol.SessionWindows(r.params, end).ProofWindowClose
	say("waiting for the proof window of the last session (%d-%d) to close at height %d", lastStart, end, closeAt)
	if err := r.heights.WaitFor(ctx, closeAt+1); err != nil {
		return 0, err
	}
	return closeAt, nil
}

// cleanup stops every process started, the AppGate and the RelayMiner
// before the node they use, and says where the logs are.
func (r *runner) cleanup() {
	if r.stopLoad != nil {
		r.stopLoad()
	}
	started := localchain.Started(r.appgate, r.relayminer, r.node)
	if len(started) > 0 {
		say("stopping the processes it started")
	}
	for _, p := range started {
		p.Shutdown()
	}
	if r.stopBackend != nil {
		r.stopBackend()
	}
	if r.chain != nil {
		r.chain.Close()
		say("run directory (chain, keyring, configs, RelayMiner store): %s", r.chain.Dir)
		say("logs: %s/{node,relayminer,appgate,setup}.log", r.chain.Logs)
	}
}

// tailLogs prints the end of each process log after a failure.
func (r *runner) tailLogs() {
	if r.chain == nil {
		return
	}
	var paths []string
	for _, name := range []string{"node", "relayminer", "appgate"} {
		paths = append(paths, filepath.Join(r.chain.Logs, name+".log"))
	}
	out.TailLogs(paths, 15)
}

// printSchedule lists the faults as injected.
func printSchedule(schedule []fault, base int64, p types.Params) {
	fmt.Println()
	say("faults injected")
	for _, f := range schedule {
		at := "not injected"
		if f.At > 0 {
			at = fmt.Sprintf("at height %d", f.At)
		}
		detail("%2d. %s %s: %s — %s", f.N, f.Kind, at, f.describe(base, p), f.Note)
	}
}

// ---------------------------------------------------------------- output

// out prints the run's log: "[faults 15:04:05] ...", no colours.
var out = &localchain.Printer{Name: "faults"}

// say prints a line of the run's log; sayAt adds the height.
func say(format string, args ...any) { out.Say(format, args...) }

func sayAt(h int64, format string, args ...any) { out.SayAt(h, format, args...) }

// sayErr and sayErrAt print to stderr.
func sayErr(format string, args ...any) { out.Error(format, args...) }

func sayErrAt(h int64, format string, args ...any) { out.ErrorAt(h, format, args...) }

// detail prints an indented line under the previous one.
func detail(format string, args ...any) { out.Detail(format, args...) }
