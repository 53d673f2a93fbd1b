// Command localnet is the whole system on one machine, from nothing.
//
//	go run ./scripts/localnet           (make localnet)        run until Ctrl-C
//	go run ./scripts/localnet --check   (make localnet-check)  unattended, exit 0/1
//
// It builds poktrolld, creates a one-validator chain under ./localnet (wiped
// on every run) with short sessions, funds an application and a supplier in
// genesis, registers the service "cometbft" and stakes both through real
// txs. The service's backend is the node's own CometBFT JSON-RPC (status,
// block, abci_info, ...), so nothing else needs installing. It then starts
// the RelayMiner and the AppGate, sends relays through the AppGate and
// prints, as they happen, the relays served, the claim, the proof, the
// settlement and the balances before and after, then `poktrolld relayminer
// status` once.
//
// Interactive mode then keeps sending a relay every few seconds and printing
// claims and settlements until Ctrl-C. --check stops after the first
// settlements and exits 0 only if the supplier was paid exactly
//
//	relays served × compute units per relay × compute_units_to_tokens_multiplier
//
// within 5 minutes of the build (both modes give up, with the tail of the
// logs, if no settlement comes by then). Either way every process it started
// is stopped on exit, and it tells where the data and the logs are.
//
// Needs: go and make. Ports used, all on 127.0.0.1: 26656 (P2P), 26657
// (CometBFT RPC), 9090 (gRPC), 8545 (RelayMiner), 9465 (RelayMiner health),
// 8080 (AppGate).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pokt-network/poktroll/scripts/internal/localchain"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

const (
	chainID              = "poktroll-localnet"
	denom                = localchain.Denom
	serviceID            = "cometbft"
	serviceName          = "CometBFT JSON-RPC"
	computeUnitsPerRelay = 10
	firstRelays          = 20                // relays sent in the first session
	budget               = 300 * time.Second // from the build to the first settlement
)

// ports are today's localnet ports (README's curl examples use the AppGate's).
var ports = localchain.Ports{P2P: 26656, RPC: 26657, GRPC: 9090, Relay: 8545, RelayHealth: 9465, AppGate: 8080}

// chainParams are the chain's defaults (types.DefaultParams): 4-block
// sessions, grace 1, claim window opening 2 later for 4 blocks, proof window
// opening 1 later for 4 blocks, every claim proven; at one block a second a
// session is settled ~15s after it ends.
func chainParams() types.Params {
	return types.DefaultParams()
}

var out = &localchain.Printer{Name: "localnet", Color: localchain.IsTerminal(os.Stdout)}

// errBudget ends the wait for the first settlement.
var errBudget = errors.New("budget spent")

// errPortsBusy is a failure already explained.
var errPortsBusy = errors.New("ports in use")

// localnet holds everything of one run.
type localnet struct {
	check  bool
	root   string // the repository
	dir    string // root/localnet: everything the run writes
	params types.Params
	abort  context.CancelCauseFunc // a process exited on its own

	chain                     *localchain.Chain
	node, relayminer, appgate *localchain.Proc

	started    time.Time // after the build: the budget starts
	waitingFor string    // what the budget is being spent on

	relays   *relayer
	claims   *follower
	before   localchain.Balances
	expected int64 // what the first relays should pay
}

func main() {
	check := flag.Bool("check", false, "stop after the first settlements; exit 0 only if the supplier was paid exactly the expected amount")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: go run ./scripts/localnet [--check]\n\n"+
			"A one-node chain in ./localnet with a staked application and supplier, a RelayMiner,\n"+
			"an AppGate and relays through it; prints the claim, the proof and the settlement.\n"+
			"Runs until Ctrl-C, or with --check exits 0/1 once the first relays settled.")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "unknown argument: %s (see --help)\n", flag.Arg(0))
		os.Exit(2)
	}
	os.Exit(run(*check))
}

// run returns the exit status: 0, 1 on failure, 130 on Ctrl-C.
func run(check bool) int {
	sigCtx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	ctx, abort := context.WithCancelCause(sigCtx)
	defer abort(nil)

	l := &localnet{check: check, params: chainParams(), abort: abort}
	defer l.cleanup()
	err := l.run(ctx)
	switch {
	case sigCtx.Err() != nil:
		return 130
	case errors.Is(err, errPortsBusy):
		return 1
	case err != nil:
		out.Error("FAILED: %v", err)
		l.tailLogs()
		return 1
	}
	return 0
}

// run builds, follows the first relays to their settlement and, unless
// check, keeps relaying.
func (l *localnet) run(ctx context.Context) error {
	var err error
	if l.root, err = repoRoot(); err != nil {
		return err
	}
	l.dir = filepath.Join(l.root, "localnet")
	if err := l.build(ctx); err != nil {
		return err
	}
	l.started = time.Now()
	first, cancel := context.WithDeadlineCause(ctx, l.started.Add(budget), errBudget)
	defer cancel()
	if err := l.untilSettled(first); err != nil {
		return l.why(first, err)
	}
	if l.check {
		out.OK("localnet check passed")
		return nil
	}
	return l.why(ctx, l.keepRelaying(ctx))
}

// why replaces the error of a step cut short by ctx by what cut it short:
// the budget spent or a process that exited.
func (l *localnet) why(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	cause := context.Cause(ctx)
	if errors.Is(cause, errBudget) {
		return fmt.Errorf("no settlement within %.0fs of the build (was waiting for: %s)", budget.Seconds(), l.waitingFor)
	}
	return cause
}

// untilSettled sets everything up, sends the first relays and waits for
// them to be paid.
func (l *localnet) untilSettled(ctx context.Context) error {
	steps := []func(context.Context) error{
		l.checkPorts,
		l.initChain,
		l.startNode,
		l.stakeActors,
		l.startRelayMiner,
		l.startAppGate,
		l.sendFirstRelays,
		l.waitForPayment,
		l.checkPayment,
		l.printStatus,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// repoRoot is the directory of go.mod at or above the working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run it inside the poktroll repository (no go.mod above the working directory)")
		}
		dir = parent
	}
}

// build runs `make build` (a no-op when make localnet just did it).
func (l *localnet) build(ctx context.Context) error {
	out.Say("building bin/poktrolld")
	cmd := exec.CommandContext(ctx, "make", "-C", l.root, "--no-print-directory", "-s", "build")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("make build: %w", err)
	}
	return nil
}

func (l *localnet) checkPorts(context.Context) error {
	busy := ports.Busy()
	if len(busy) == 0 {
		return nil
	}
	out.Error("port(s) %s on 127.0.0.1 already in use", strings.Trim(fmt.Sprint(busy), "[]"))
	out.Error("stop whatever listens there (a previous localnet? see: ss -ltnp) and try again")
	return errPortsBusy
}

// initChain creates the node home, keys, genesis and configs.
func (l *localnet) initChain(ctx context.Context) error {
	out.Say("creating a one-validator chain in %s", l.rel(l.dir))
	if err := os.RemoveAll(l.dir); err != nil {
		return err
	}
	if err := os.MkdirAll(l.dir, 0o755); err != nil {
		return err
	}
	var err error
	l.chain, err = localchain.New(filepath.Join(l.root, "bin", "poktrolld"), l.dir, chainID, "localnet", ports, out)
	if err != nil {
		return err
	}
	if err := l.chain.Init(ctx, l.params); err != nil {
		return err
	}
	out.Detail("application %s", l.chain.App)
	out.Detail("supplier    %s", l.chain.Supplier)
	return nil
}

// start starts a process; an exit nobody asked for ends the run.
func (l *localnet) start(p *localchain.Proc) error {
	p.OnCrash = func(p *localchain.Proc, crashed *exec.Cmd, err error) {
		l.abort(fmt.Errorf("%s (pid %d) exited (%s); see %s", p.Name, crashed.Process.Pid, localchain.ExitText(err), p.LogPath))
	}
	if err := p.Start(); err != nil {
		return err
	}
	out.Say("started %s (pid %d), log: %s", p.Name, p.PID(), l.rel(p.LogPath))
	return nil
}

func (l *localnet) startNode(ctx context.Context) error {
	l.node = l.chain.Node()
	if err := l.start(l.node); err != nil {
		return err
	}
	l.waitingFor = "the node's first block"
	if _, err := l.chain.WaitNode(ctx, l.node, 0, 60*time.Second); err != nil {
		return err
	}
	if err := l.chain.CheckParams(ctx, l.params); err != nil {
		return err
	}
	out.OK("chain %s is producing blocks (RPC %s, gRPC %s)", chainID, l.chain.RPCURL(), l.chain.GRPCAddr())
	return nil
}

func (l *localnet) stakeActors(ctx context.Context) error {
	out.Say("registering service %s (%d compute units per relay), staking the application and the supplier", serviceID, computeUnitsPerRelay)
	l.waitingFor = "the stakes"
	svc := localchain.Service{ID: serviceID, Name: serviceName, ComputeUnitsPerRelay: computeUnitsPerRelay}
	if err := l.chain.StakeActors(ctx, svc); err != nil {
		return err
	}
	out.Say("waiting for the stakes to take part in a session (from the next session start)")
	l.waitingFor = "a session with the application and the supplier"
	s, err := l.chain.WaitSupplierInSession(ctx, serviceID, 60*time.Second)
	if err != nil {
		return err
	}
	out.OK("session %s… holds the application and the supplier", s.ID[:16])
	return nil
}

func (l *localnet) startRelayMiner(ctx context.Context) error {
	var err error
	l.relayminer, err = l.chain.RelayMiner("RelayMiner of the localnet supplier; the backend is the node's CometBFT RPC.",
		serviceID, l.chain.RPCURL())
	if err != nil {
		return err
	}
	if err := l.start(l.relayminer); err != nil {
		return err
	}
	l.waitingFor = "the RelayMiner's health endpoint"
	if err := l.chain.WaitRelayMiner(ctx, l.relayminer, 60*time.Second); err != nil {
		return err
	}
	out.OK("RelayMiner serving %s on 127.0.0.1:%d → backend %s", serviceID, ports.Relay, l.chain.RPCURL())
	return nil
}

func (l *localnet) startAppGate(ctx context.Context) error {
	url := l.chain.AppGateURL(serviceID)
	var err error
	if l.appgate, err = l.chain.AppGate("AppGate of the localnet application: "+url+"<path>.", serviceID); err != nil {
		return err
	}
	if err := l.start(l.appgate); err != nil {
		return err
	}
	l.waitingFor = fmt.Sprintf("the AppGate to listen on 127.0.0.1:%d", ports.AppGate)
	if err := l.chain.WaitAppGate(ctx, l.appgate, 60*time.Second); err != nil {
		return err
	}
	out.OK("AppGate serving the application at %s", url)
	return nil
}

// sendFirstRelays prints the balances, waits for a new session and sends
// the first relays in it.
func (l *localnet) sendFirstRelays(ctx context.Context) error {
	var err error
	if l.before, err = l.chain.Balances(ctx); err != nil {
		return err
	}
	out.Say("balances before the relays")
	printBalances(l.before)
	if err := l.waitSessionStart(ctx); err != nil {
		return err
	}
	if l.claims, err = newFollower(ctx, l.chain); err != nil {
		return err
	}
	l.relays = &relayer{url: l.chain.AppGateURL(serviceID)}
	out.Say(`sending %d relays through the AppGate, each as: curl -X POST %s -d '{"jsonrpc":"2.0","method":"status",...}'`, firstRelays, l.relays.url)
	l.waitingFor = "sending relays"
	for i := 1; i <= firstRelays; i++ {
		l.relays.send(ctx, methods[i%len(methods)])
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if l.relays.served == 0 {
		return errors.New("no relay was served")
	}
	m := l.params.ComputeUnitsToTokensMultiplier
	l.expected = int64(l.relays.served) * computeUnitsPerRelay * int64(m)
	out.OK("%d of %d relays served; expected payment %d relays × %d compute units × %d = %d%s",
		l.relays.served, firstRelays, l.relays.served, computeUnitsPerRelay, m, l.expected, denom)
	return nil
}

// waitSessionStart waits until the next session has started and the
// current one's grace period is over, so that the relays that follow land
// in one session.
func (l *localnet) waitSessionStart(ctx context.Context) error {
	s, err := l.chain.Session(ctx, serviceID)
	if err != nil {
		return err
	}
	after := protocol.SessionWindows(l.params, s.End).GracePeriodEnd + 1
	l.waitingFor = fmt.Sprintf("the session after height %d", s.End)
	err = localchain.WaitUntil(ctx, 30*time.Second, 500*time.Millisecond, func() bool {
		h, err := l.chain.RPC.Height(ctx)
		return err == nil && h >= after
	})
	if errors.Is(err, localchain.ErrTimeout) {
		return fmt.Errorf("timed out after 30s waiting for %s", l.waitingFor)
	}
	return err
}

// waitForPayment follows the chain until no claim is pending and the
// settlements paid the expected amount (or a claim expired).
func (l *localnet) waitForPayment(ctx context.Context) error {
	out.Say("following the claim, the proof and the settlement (one block a second)")
	l.waitingFor = fmt.Sprintf("the settlement of %d%s", l.expected, denom)
	for {
		l.claims.follow(ctx)
		c := l.claims
		if len(c.pending) == 0 && (c.settledAmount >= l.expected || c.expiredClaims > 0) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// checkPayment compares the balances after the settlement with those
// before: the supplier must have been paid exactly the expected amount out
// of the application's stake.
func (l *localnet) checkPayment(ctx context.Context) error {
	after, err := l.chain.Balances(ctx)
	if err != nil {
		return err
	}
	out.Say("balances after the settlement")
	printBalances(after)
	paid := after.SupplierBalance - l.before.SupplierBalance
	appPaid := l.before.AppStake - after.AppStake
	out.Detail("supplier +%d%s, application stake -%d%s (expected %d%s)", paid, denom, appPaid, denom, l.expected, denom)
	c := l.claims
	if paid != l.expected || appPaid != l.expected || c.settledAmount != l.expected || c.expiredClaims > 0 {
		return fmt.Errorf("expected the supplier to be paid %d%s from the application stake; got supplier +%d, stake -%d, settled %d in %d claim(s), %d expired",
			l.expected, denom, paid, appPaid, c.settledAmount, c.settledClaims, c.expiredClaims)
	}
	out.OK("settled: the supplier was paid exactly %d%s for %d relays in %d claim(s) (%.0fs after the build)",
		l.expected, denom, l.relays.served, c.settledClaims, time.Since(l.started).Seconds())
	return nil
}

// printStatus prints `poktrolld relayminer status` once, after the first
// settlement: the RelayMiner's sessions, claims, proofs and earnings.
func (l *localnet) printStatus(ctx context.Context) error {
	addr := fmt.Sprintf("127.0.0.1:%d", ports.RelayHealth)
	l.waitingFor = "poktrolld relayminer status"
	cmd := exec.CommandContext(ctx, l.chain.Bin, "relayminer", "status", "--addr", addr)
	report, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s relayminer status --addr %s: %v: %s", l.chain.Bin, addr, err, report)
	}
	out.Say("the RelayMiner's status (%s relayminer status --addr %s; -o json for scripts)", l.rel(l.chain.Bin), addr)
	for _, line := range strings.Split(strings.TrimRight(string(report), "\n"), "\n") {
		out.Detail("%s", line)
	}
	return nil
}

// keepRelaying sends a relay every 3s and prints claims, proofs and
// settlements until Ctrl-C.
func (l *localnet) keepRelaying(ctx context.Context) error {
	out.Say("running: a relay every 3s, claims, proofs and settlements as they happen; Ctrl-C stops everything")
	out.Detail(`send your own: curl -s -X POST %s -H 'Content-Type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"status","params":{}}'`, l.relays.url)
	out.Detail("or query:      %s q relayer claims --home %s -o json", l.chain.Bin, l.chain.Home)
	nextRelay, settled := time.Now(), l.claims.settledClaims
	for {
		if time.Now().After(nextRelay) {
			l.relays.send(ctx, randomMethod())
			nextRelay = time.Now().Add(3 * time.Second)
		}
		l.claims.follow(ctx)
		if l.claims.settledClaims > settled {
			settled = l.claims.settledClaims
			l.printNow(ctx)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// printNow prints the supplier's balance and the application's stake.
func (l *localnet) printNow(ctx context.Context) {
	b, err := l.chain.Balances(ctx)
	if err != nil {
		return
	}
	out.Detail("supplier balance now %d%s, application stake %d%s (%d relays served in all)",
		b.SupplierBalance, denom, b.AppStake, denom, l.relays.served)
}

func printBalances(b localchain.Balances) {
	out.Detail("application stake   %d%s", b.AppStake, denom)
	out.Detail("application balance %d%s", b.AppBalance, denom)
	out.Detail("supplier balance    %d%s", b.SupplierBalance, denom)
}

// cleanup stops every process started, newest first (AppGate, RelayMiner,
// node), and tells where the data and logs are.
func (l *localnet) cleanup() {
	if started := localchain.Started(l.appgate, l.relayminer, l.node); len(started) > 0 {
		fmt.Println()
		out.Say("stopping the %d process(es) it started", len(started))
		for _, p := range started {
			p.Shutdown()
		}
	}
	if l.chain != nil {
		l.chain.Close()
	}
	if _, err := os.Stat(l.dir); l.dir != "" && err == nil {
		out.Say("data (chain, keyring, configs, RelayMiner store): %s", l.dir)
		out.Say("logs: %s/{node,relayminer,appgate}.log", filepath.Join(l.dir, "logs"))
	}
}

// tailLogs prints the end of every process log after a failure.
func (l *localnet) tailLogs() {
	var paths []string
	for _, name := range []string{"node", "relayminer", "appgate"} {
		paths = append(paths, filepath.Join(l.dir, "logs", name+".log"))
	}
	out.TailLogs(paths, 25)
}

// rel is path relative to the repository, for shorter lines.
func (l *localnet) rel(path string) string {
	if rel, err := filepath.Rel(l.root, path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}
