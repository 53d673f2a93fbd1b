package main

import (
	"context"
	"fmt"
	"math/rand"
	"syscall"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/pokt-network/poktroll/scripts/internal/localchain"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// faultKind is a lifecycle point at which the RelayMiner is killed, or a
// node restart.
type faultKind int

const (
	killMidSession        faultKind = iota // in the middle of a session being served
	killBeforeClaimWindow                  // the block before the claim window opens (sealing, claiming)
	killAfterClaim                         // right after the session's claim tx was included
	killBeforeProofWindow                  // the block before the proof window opens (proving)
	killInProofWindow                      // a block inside the proof window
	restartNode                            // SIGTERM or SIGKILL of the node, restart after a pause
)

// relayMinerKinds are drawn uniformly for each RelayMiner kill.
var relayMinerKinds = []faultKind{killMidSession, killBeforeClaimWindow, killAfterClaim, killBeforeProofWindow, killInProofWindow}

func (k faultKind) String() string {
	return [...]string{"rm-kill mid-session", "rm-kill before claim window", "rm-kill after claim included",
		"rm-kill before proof window", "rm-kill in proof window", "node restart"}[k]
}

// fault is one scheduled fault. Heights in the schedule are relative to the
// run's base height (the block before the first session of the run), so
// that the same seed gives the same schedule whatever the base.
type fault struct {
	N      int
	Kind   faultKind
	Target int64 // relative height to act at (killAfterClaim: to start watching for the claim)
	// SessionEnd is the relative last height of the session whose lifecycle
	// is hit (the session served, for mid-session kills and node restarts).
	SessionEnd int64
	Signal     syscall.Signal // node restarts: how the node is stopped
	Pause      time.Duration  // node restarts: how long it stays down

	// Filled in when injected.
	At   int64 // absolute height at which it was injected (0: not injected)
	Note string
}

// Blocks left after a fault before the next one may start.
const (
	gapAfterKill        = 2
	gapAfterClaimWatch  = 3
	gapAfterNodeRestart = 8
)

// makeSchedule draws the faults of a run of runBlocks blocks (after the
// first session): each RelayMiner kill at a lifecycle point drawn
// uniformly, the node restarts at random places among them, spread over
// the run one slot each and aligned to their lifecycle point.
func makeSchedule(seed int64, relayMinerKills, nodeRestarts int, runBlocks int64, p types.Params) []fault {
	rng := rand.New(rand.NewSource(seed))
	kinds := make([]faultKind, 0, relayMinerKills+nodeRestarts)
	for range relayMinerKills {
		kinds = append(kinds, relayMinerKinds[rng.Intn(len(relayMinerKinds))])
	}
	for range nodeRestarts {
		kinds = append(kinds, restartNode)
	}
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	if len(kinds) == 0 {
		return nil
	}

	n := int64(p.NumBlocksPerSession)
	slot := max(runBlocks/int64(len(kinds)), 1)
	var next int64 // earliest relative height of the next fault
	out := make([]fault, 0, len(kinds))
	for i, k := range kinds {
		earliest := max(n+int64(i)*slot+rng.Int63n(slot/2+1), next)
		f := fault{N: i + 1, Kind: k}
		if k == restartNode {
			f.Target = earliest
			f.SessionEnd = protocol.SessionEndHeight(p.NumBlocksPerSession, earliest)
			f.Signal = []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL}[rng.Intn(2)]
			f.Pause = 3*time.Second + time.Duration(rng.Int63n(2001))*time.Millisecond
			next = f.Target + gapAfterNodeRestart
		} else {
			d := offsetFromSessionEnd(k, p, rng)
			// The first session whose point h = E+d comes at or after earliest,
			// among the sessions of the run (E >= n).
			e := max(ceilTo(earliest-d, n), n)
			f.Target, f.SessionEnd = e+d, e
			next = f.Target + gapAfterKill
			if k == killAfterClaim {
				next = f.Target + gapAfterClaimWatch
			}
		}
		out = append(out, f)
	}
	return out
}

// offsetFromSessionEnd is where kind k acts, counted from the last block of
// the session it hits (windows are the same for every session).
func offsetFromSessionEnd(k faultKind, p types.Params, rng *rand.Rand) int64 {
	n := int64(p.NumBlocksPerSession)
	w := protocol.SessionWindows(p, n)
	switch k {
	case killMidSession:
		return 1 + n/2 - n // the block halfway into the session
	case killBeforeClaimWindow:
		return w.ClaimWindowOpen - 1 - n
	case killAfterClaim:
		return w.ClaimWindowOpen - n
	case killBeforeProofWindow:
		return w.ProofWindowOpen - 1 - n
	case killInProofWindow:
		return w.ProofWindowOpen - n + rng.Int63n(w.ProofWindowClose-w.ProofWindowOpen+1)
	}
	panic("no lifecycle offset for " + k.String())
}

// ceilTo rounds v up to a multiple of m (m > 0).
func ceilTo(v, m int64) int64 {
	if v <= 0 {
		return 0
	}
	return (v + m - 1) / m * m
}

// describe says which point of which session a fault hits, in absolute
// heights.
func (f fault) describe(base int64, p types.Params) string {
	e := base + f.SessionEnd
	s := e - int64(p.NumBlocksPerSession) + 1
	w := protocol.SessionWindows(p, e)
	switch f.Kind {
	case restartNode:
		return fmt.Sprintf("%s, down %.1fs, during session %d-%d", signalName(f.Signal), f.Pause.Seconds(), s, e)
	case killAfterClaim:
		return fmt.Sprintf("session %d-%d: watch from %d for its claim (claim window %d-%d)", s, e, base+f.Target, w.ClaimWindowOpen, w.ClaimWindowClose)
	case killInProofWindow, killBeforeProofWindow:
		return fmt.Sprintf("session %d-%d (proof window %d-%d)", s, e, w.ProofWindowOpen, w.ProofWindowClose)
	case killBeforeClaimWindow:
		return fmt.Sprintf("session %d-%d (claim window %d-%d)", s, e, w.ClaimWindowOpen, w.ClaimWindowClose)
	default:
		return fmt.Sprintf("session %d-%d", s, e)
	}
}

func signalName(s syscall.Signal) string {
	if s == syscall.SIGKILL {
		return "SIGKILL"
	}
	return "SIGTERM"
}

// inject runs the schedule, one fault after the other, each at its height.
// A RelayMiner fault whose height has passed (a node restart before it took
// longer than planned) moves to the same point of the next session.
func (r *runner) inject(ctx context.Context, schedule []fault) error {
	n := int64(r.params.NumBlocksPerSession)
	for i := range schedule {
		f := &schedule[i]
		for {
			target := r.base + f.Target
			if err := r.heights.WaitFor(ctx, target); err != nil {
				return err
			}
			if f.Kind == restartNode || r.heights.Now() == target {
				break
			}
			f.Note += fmt.Sprintf("moved from %d (height %d was past it); ", target, r.heights.Now())
			f.Target += n
			f.SessionEnd += n
		}
		var err error
		switch f.Kind {
		case restartNode:
			err = r.restartNode(ctx, f)
		case killAfterClaim:
			err = r.killAfterClaim(ctx, f)
		default:
			err = r.killRelayMiner(ctx, f)
		}
		if err != nil {
			return fmt.Errorf("fault %d (%s): %w", f.N, f.Kind, err)
		}
	}
	return nil
}

// killRelayMiner kills the RelayMiner with SIGKILL, restarts it at once on
// the same store and waits until it is healthy again.
func (r *runner) killRelayMiner(ctx context.Context, f *fault) error {
	f.At = r.heights.Now()
	oldPid := r.relayminer.PID()
	start := time.Now()
	if err := r.relayminer.Kill9AndRestart(); err != nil {
		return err
	}
	if err := localchain.WaitHTTP(ctx, r.chain.RelayMinerHealthURL(), 60*time.Second); err != nil {
		return fmt.Errorf("the RelayMiner did not come back: %w", err)
	}
	f.Note += fmt.Sprintf("healthy again after %.1fs", time.Since(start).Seconds())
	sayAt(f.At, "fault %d/%d: kill -9 RelayMiner (pid %d): %s; %s — %s", f.N, r.faultCount, oldPid,
		f.Kind, f.describe(r.base, r.params), f.Note)
	return nil
}

// killAfterClaim watches each block of the session's claim window for the
// supplier's claim and kills the RelayMiner as soon as it is included.
func (r *runner) killAfterClaim(ctx context.Context, f *fault) error {
	e := r.base + f.SessionEnd
	start := e - int64(r.params.NumBlocksPerSession) + 1
	w := protocol.SessionWindows(r.params, e)
	for h := r.base + f.Target; h <= w.ClaimWindowClose; h++ {
		if err := r.heights.WaitFor(ctx, h); err != nil {
			return err
		}
		events, err := r.blockEventsRetry(ctx, h)
		if err != nil {
			return err
		}
		for _, ev := range r.supplierEvents(h, events) {
			if ev.Kind == localchain.ClaimCreated && ev.SessionStart == start {
				f.Note += fmt.Sprintf("claim included at %d; ", h)
				return r.killRelayMiner(ctx, f)
			}
		}
	}
	f.Note += "no claim seen in the claim window: not killed"
	sayAt(r.heights.Now(), "fault %d/%d: %s: %s — %s", f.N, r.faultCount, f.Kind, f.describe(r.base, r.params), f.Note)
	return nil
}

// restartNode stops the node (SIGTERM or SIGKILL), leaves it down for the
// pause, starts it again on the same home and waits for a new block.
func (r *runner) restartNode(ctx context.Context, f *fault) error {
	f.At = r.heights.Now()
	oldPid := r.node.PID()
	start := time.Now()
	r.node.Stop(f.Signal, 30*time.Second)
	stopped := time.Since(start)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(f.Pause):
	}
	if err := r.node.Start(); err != nil {
		return err
	}
	h, err := r.chain.WaitNode(ctx, r.node, f.At, 90*time.Second)
	if err != nil {
		return err
	}
	f.Note += fmt.Sprintf("stopped in %.1fs, new block %d %.1fs after the signal", stopped.Seconds(), h, time.Since(start).Seconds())
	sayAt(f.At, "fault %d/%d: node restart (pid %d): %s — %s", f.N, r.faultCount, oldPid, f.describe(r.base, r.params), f.Note)
	return nil
}

// blockEventsRetry reads a block's events, retrying for a while: right
// after a restart the node may not answer yet.
func (r *runner) blockEventsRetry(ctx context.Context, h int64) ([]abci.Event, error) {
	var err error
	for range 60 {
		var evs []abci.Event
		if evs, err = r.chain.RPC.BlockEvents(ctx, h); err == nil {
			return evs, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("block_results of %d: %w", h, err)
}
