package main

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"cosmossdk.io/log"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/store"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// sessionStat is what the run saw of one session: the relays answered
// (counted by the load process) and the lifecycle (seen by the RelayMiner
// process, and copied into the load process's stat at the end).
type sessionStat struct {
	hdr    types.SessionHeader
	w      protocol.Windows
	relays atomic.Int64 // relays answered 200

	mu sync.Mutex
	lifecycle
}

// lifecycle is what the RelayMiner process saw of one session; it is sent
// to the load process as JSON in the final report.
type lifecycle struct {
	SessionID  string
	ClaimBlock time.Time     // OnBlock at the block before the claim window
	ClaimSent  time.Time     // the claim handed to the submitter
	Claims     int           // claims submitted
	ClaimCount uint64        // the claim root's relay count
	SealTook   time.Duration // the claim trie build, as the manager logged it
	ProofBlock time.Time     // OnBlock at the block before the proof window
	ProofSent  time.Time     // the proof handed to the submitter
	Proofs     int
	StoreProof int64     // store size when the proof was handed over
	Deleted    time.Time // the session's data deleted and compacted
	StoreDel   int64     // store size then
	StoreMin   int64     // the lowest store size in the few seconds after
	SettleTook time.Duration
}

// recorder collects per-session figures from the block driver, the
// submitter and the manager's log (in the RelayMiner process); the load
// process uses it for the session headers and its relay counts.
type recorder struct {
	db       *store.DB
	sessions []*sessionStat
	byID     map[string]*sessionStat
	errors   atomic.Int64 // errors the RelayMiner logged
	settling sync.WaitGroup
}

func newRecorder(db *store.DB, c *fakeChain, sessions int) *recorder {
	r := &recorder{db: db, byID: map[string]*sessionStat{}}
	n := int64(c.params.NumBlocksPerSession)
	for k := 0; k < sessions; k++ {
		start := int64(k)*n + 1
		s := &sessionStat{hdr: c.header(start), w: c.windows(start)}
		s.SessionID = s.hdr.SessionId
		r.sessions = append(r.sessions, s)
		r.byID[s.hdr.SessionId] = s
	}
	return r
}

// session is the stat of the session holding height h (nil past the last).
func (r *recorder) session(h int64) *sessionStat {
	for _, s := range r.sessions {
		if s.hdr.SessionStartBlockHeight <= h && h <= s.hdr.SessionEndBlockHeight {
			return s
		}
	}
	return nil
}

// block notes the time block h is handed to the manager.
func (r *recorder) block(h int64, at time.Time) {
	for _, s := range r.sessions {
		s.mu.Lock()
		switch h {
		case s.w.ClaimWindowOpen - 1:
			s.ClaimBlock = at
		case s.w.ProofWindowOpen - 1:
			s.ProofBlock = at
		}
		s.mu.Unlock()
	}
}

func (r *recorder) claimSubmitted(sessionID string, rootHash []byte) {
	now := time.Now()
	s := r.byID[sessionID]
	if s == nil {
		return
	}
	root, err := protocol.ParseRoot(rootHash)
	if err != nil {
		fmt.Fprintf(os.Stderr, "soak: claim of session %s: %v\n", sessionID, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Claims++
	s.ClaimSent, s.ClaimCount = now, root.Count
}

func (r *recorder) proofSubmitted(sessionID string) {
	now := time.Now()
	size := storeSize(r.db)
	s := r.byID[sessionID]
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Proofs++
	s.ProofSent, s.StoreProof = now, size
}

// sealed records the claim trie build time the manager logged.
func (r *recorder) sealed(s *sessionStat, took time.Duration) {
	s.mu.Lock()
	s.SealTook = took
	s.mu.Unlock()
}

// proven is called once the manager deleted and compacted the session's
// data. The store keeps shrinking for a moment after (leveldb removes the
// files a compaction made obsolete in the background) while the next
// session's relays make it grow: its lowest size over the next seconds is
// taken as "settled".
func (r *recorder) proven(s *sessionStat) {
	now := time.Now()
	size := storeSize(r.db)
	s.mu.Lock()
	s.Deleted, s.StoreDel = now, size
	s.mu.Unlock()
	r.settling.Add(1)
	go func() {
		defer r.settling.Done()
		low, lowAt := size, now
		for deadline := now.Add(15 * time.Second); time.Now().Before(deadline) && time.Since(lowAt) < time.Second; {
			time.Sleep(50 * time.Millisecond)
			if sz := storeSize(r.db); sz < low {
				low, lowAt = sz, time.Now()
			}
		}
		s.mu.Lock()
		s.StoreMin, s.SettleTook = low, lowAt.Sub(now)
		s.mu.Unlock()
	}()
}

func storeSize(db *store.DB) int64 {
	n, err := db.Size()
	if err != nil {
		return -1
	}
	return n
}

// eventLog is the RelayMiner's logger: errors and warnings go to stderr
// (and are counted), the session lifecycle's milestones go to the
// recorder, the rest is dropped.
type eventLog struct {
	rec *recorder
	kv  []any
}

var _ log.Logger = eventLog{}

func (l eventLog) field(key string, kv []any) any {
	all := append(append([]any(nil), l.kv...), kv...)
	for i := 0; i+1 < len(all); i += 2 {
		if all[i] == key {
			return all[i+1]
		}
	}
	return nil
}

func (l eventLog) Info(msg string, kv ...any) {
	id, _ := l.field("session_id", kv).(string)
	s := l.rec.byID[id]
	if s == nil {
		return
	}
	switch msg {
	case "session tree sealed":
		took, _ := l.field("took", kv).(time.Duration)
		l.rec.sealed(s, took)
	case "session proven":
		l.rec.proven(s)
	}
}

func (l eventLog) Warn(msg string, kv ...any) { l.print("WARN", msg, kv) }

func (l eventLog) Error(msg string, kv ...any) {
	l.rec.errors.Add(1)
	l.print("ERROR", msg, kv)
}

func (l eventLog) print(level, msg string, kv []any) {
	fmt.Fprintf(os.Stderr, "relayminer %s: %s %v\n", level, msg, append(append([]any(nil), l.kv...), kv...))
}

func (eventLog) Debug(string, ...any) {}

func (l eventLog) With(kv ...any) log.Logger {
	return eventLog{rec: l.rec, kv: append(append([]any(nil), l.kv...), kv...)}
}

func (eventLog) Impl() any { return nil }

// lifecycles copies every session's lifecycle, in session order.
func (r *recorder) lifecycles() []lifecycle {
	out := make([]lifecycle, len(r.sessions))
	for k, s := range r.sessions {
		s.mu.Lock()
		out[k] = s.lifecycle
		s.mu.Unlock()
	}
	return out
}
