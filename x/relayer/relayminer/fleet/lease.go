package fleet

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cosmossdk.io/log"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/session"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/store"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// persistEvery is how many mirrored messages may pass between two writes of
// the mirrored sequence to the local store (re-applying a relay after a
// restart is harmless: the relay log holds each relay once).
const persistEvery = 512

// mirrorLinger is how long the mirror waits for more messages before it
// writes those it has: a standby's checkpoint is at most that much behind
// the stream, and the local store takes one write per batch.
const mirrorLinger = 20 * time.Millisecond

// mirrorPullExpiry is how long each of the mirror's pull requests lasts.
const mirrorPullExpiry = 2 * time.Second

// mirrorStall is how long a seal waits for a mirror making no progress
// before it has the mirror open its consumer again.
const mirrorStall = time.Second

// lastSeqTimeout bounds one try at reading where the supplier's log ends.
const lastSeqTimeout = 2 * time.Second

// mirrorBatch bounds how many messages the mirror writes to the local store
// at once.
const mirrorBatch = 256

// persistPause is the least time between two writes of the mirrored
// sequence while the mirror keeps up with the stream.
const persistPause = 250 * time.Millisecond

// appliedKey is the local store key of the last stream sequence of
// supplier's messages mirrored into the local relay log.
func appliedKey(supplier string) []byte { return []byte("f/applied/" + supplier) }

// lease is one supplier's lease as this replica sees it: taken with Create
// (only if no replica holds it), renewed with Update(revision) every TTL/3,
// lost on any error or once TTL passed since the last renewal.
//
// Every replica, holder or not, mirrors the supplier's relays into its local
// session manager as they are published (a hot standby): the local relay
// log, with the last stream sequence it holds, is the replica's checkpoint
// of the fleet's log. A replica taking the lease then only catches up with
// what it had not mirrored yet (its lag, usually nothing) instead of
// replaying whole sessions, so a takeover costs the same whatever the
// sessions' size.
type lease struct {
	f        *Fleet
	supplier string
	key      string
	logger   log.Logger

	mu      sync.Mutex
	held    bool
	synced  bool   // the mirror caught up with the stream since the lease was taken
	term    uint64 // counts the times the lease was taken
	rev     uint64
	until   time.Time // the lease is ours until then, unless renewed
	taken   time.Time // when it was last taken
	applied uint64    // last stream sequence mirrored
	waiters []waiter

	ckpt         checkpointer         // the checkpoint goroutine's
	ckptCh       chan checkpointBatch // from the mirror to the checkpoint goroutine
	ckptGen      uint64               // the mirror's: batches not handed over (dropped, or not leading)
	reopen       func()               // stops the mirror's current consumer (it opens a new one)
	loaded       atomic.Int64         // relays loaded from the fleet's checkpoint at start
	loadedCovers atomic.Uint64        // the last sequence that checkpoint covered
}

type waiter struct {
	seq uint64
	ch  chan struct{}
}

// leadingTerm is the lease's term and whether this replica leads in it.
func (l *lease) leadingTerm() (uint64, bool) {
	leading := l.holds()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.term, leading
}

// holds reports whether this replica leads the supplier now: it holds the
// lease and its mirror caught up with the stream since it took it (so it
// knows every session the fleet served). A holder that could not renew in
// time (a paused process) stops leading at once, before it learns of the
// failure.
func (l *lease) holds() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held && l.synced && time.Now().Before(l.until)
}

// takenAt is when the lease was last taken.
func (l *lease) takenAt() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.taken
}

// caughtUp records that the mirror reached the end of the stream while the
// lease is held: from now on this replica leads.
func (l *lease) caughtUp() {
	l.mu.Lock()
	l.caughtUpLocked()
}

// caughtUpLocked is caughtUp with l.mu held; it unlocks it.
func (l *lease) caughtUpLocked() {
	if !l.held || l.synced {
		l.mu.Unlock()
		return
	}
	l.synced = true
	applied := l.applied
	l.mu.Unlock()
	l.f.metrics.FleetLeaseHolder.WithLabelValues(l.supplier).Set(1)
	l.logger.Info("caught up with the fleet's relay log: this replica runs the supplier's sessions' lifecycle", "mirrored_to", applied)
	if fn := l.f.onLease; fn != nil {
		fn(l.supplier, true)
	}
}

// run mirrors the supplier's relays, and takes and renews the lease, until
// ctx ends.
func (l *lease) run(ctx context.Context) {
	from := l.f.loadApplied(l.supplier)
	l.mu.Lock()
	l.applied = max(l.applied, from)
	l.mu.Unlock()
	mirrored := make(chan struct{})
	go func() {
		defer close(mirrored)
		l.mirror(ctx, from+1)
	}()
	defer func() { <-mirrored }()
	checkpointed := make(chan struct{})
	go func() {
		defer close(checkpointed)
		l.checkpoints(ctx)
	}()
	defer func() { <-checkpointed }()
	ttl := l.f.cfg.LeaseTTL
	tick := time.NewTicker(ttl / 3)
	defer tick.Stop()
	for {
		l.step(ctx, ttl)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// step renews a held lease, or tries to take a free one.
func (l *lease) step(ctx context.Context, ttl time.Duration) {
	cctx, cancel := context.WithTimeout(ctx, ttl/3)
	defer cancel()
	l.mu.Lock()
	held, rev := l.held, l.rev
	l.mu.Unlock()
	sent := time.Now()
	if held {
		rev, err := l.f.leases.Update(cctx, l.key, []byte(l.f.cfg.ReplicaID), rev)
		if err != nil {
			// A renewal whose answer was lost may have been stored: the
			// key then still names this replica, at a newer revision.
			if e, gerr := l.f.leases.Get(cctx, l.key); gerr == nil && string(e.Value()) == l.f.cfg.ReplicaID {
				rev, err = l.f.leases.Update(cctx, l.key, []byte(l.f.cfg.ReplicaID), e.Revision())
			}
		}
		if err != nil {
			if ctx.Err() == nil {
				l.lose(false, "renewal failed: "+err.Error())
			}
			return
		}
		l.mu.Lock()
		l.rev, l.until = rev, sent.Add(ttl)
		l.mu.Unlock()
		return
	}
	rev, err := l.f.leases.Create(cctx, l.key, []byte(l.f.cfg.ReplicaID))
	switch {
	case errors.Is(err, jetstream.ErrKeyExists):
		return // held by another replica
	case err != nil:
		if ctx.Err() == nil {
			l.logger.Debug("taking the supplier's lease", "error", err)
		}
		return
	}
	l.take(ctx, rev, sent.Add(ttl))
}

// take starts leading once the mirror holds every message the stream held
// when the lease was taken.
func (l *lease) take(ctx context.Context, rev uint64, until time.Time) {
	l.mu.Lock()
	l.held, l.synced, l.rev, l.until, l.taken = true, false, rev, until, time.Now()
	l.term++
	term, applied := l.term, l.applied
	l.mu.Unlock()
	l.f.metrics.FleetTakeovers.WithLabelValues(l.supplier).Inc()
	l.logger.Info("took the supplier's lease; catching up with the fleet's relay log", "revision", rev, "mirrored_to", applied)
	go l.catchUp(ctx, term)
}

// catchUp marks the lease's term synced once the mirror applied the last
// message the stream holds now.
func (l *lease) catchUp(ctx context.Context, term uint64) {
	var last uint64
	for {
		// Each try is bounded: right after the servers come back the
		// stream may have no leader yet, and a request would wait out the
		// client's whole API timeout after one is elected.
		tctx, cancel := context.WithTimeout(ctx, lastSeqTimeout)
		var err error
		last, err = l.f.lastSeq(tctx, l.supplier)
		cancel()
		if err == nil {
			break
		}
		l.logger.Error("reading the end of the fleet's relay log; retrying", "error", err)
		if !wait(ctx, 250*time.Millisecond) {
			return
		}
	}
	if l.waitApplied(ctx, last) != nil {
		return
	}
	l.mu.Lock()
	if l.term != term {
		l.mu.Unlock()
		return // lost and taken again since: that term catches up itself
	}
	l.caughtUpLocked()
}

// lose stops leading (the mirror goes on: this replica stays a hot
// standby), and with release the lease key is deleted so another replica
// takes over at once.
func (l *lease) lose(release bool, why string) {
	l.mu.Lock()
	if !l.held {
		l.mu.Unlock()
		return
	}
	l.held, l.synced = false, false
	rev := l.rev
	l.mu.Unlock()
	if release {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = l.f.leases.Delete(ctx, l.key, jetstream.LastRevision(rev))
		cancel()
	}
	l.f.metrics.FleetLeaseHolder.WithLabelValues(l.supplier).Set(0)
	l.logger.Info("gave up the supplier's lease: this replica stops claiming", "reason", why)
	if fn := l.f.onLease; fn != nil {
		fn(l.supplier, false)
	}
}

// mirror applies the supplier's messages from sequence from on, in stream
// order, to the local session manager, until ctx ends.
func (l *lease) mirror(ctx context.Context, from uint64) {
	sinceSave, saved := 0, time.Time{}
	defer func() { l.f.saveApplied(l.supplier, l.appliedSeq()) }()
	if from == 1 {
		// Nothing mirrored yet (a new machine): start from the fleet's
		// checkpoint, if there is one.
		l.f.mu.Lock()
		sessions := l.f.sessions
		l.f.mu.Unlock()
		covered, err := l.loadCheckpoint(ctx, sessions)
		switch {
		case err != nil:
			l.logger.Error("loading the fleet's checkpoint; mirroring the whole relay log instead", "error", err)
		case covered > 0:
			from = covered + 1
			l.advance(covered)
			l.f.saveApplied(l.supplier, covered)
		}
	}
	for ctx.Err() == nil {
		cons, err := l.f.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
			FilterSubjects: l.f.names.supplierFilters(l.supplier),
			DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
			OptStartSeq:    from,
		})
		if err != nil {
			l.logger.Error("opening the fleet's relay log to mirror it; retrying", "error", err)
			wait(ctx, time.Second)
			continue
		}
		// Pulls expire after mirrorPullExpiry, with heartbeats every half
		// of it: a consumer lost with its server (or every server) is
		// noticed, and opened again, after two missed heartbeats, not the
		// client's default ten seconds.
		it, err := cons.Messages(jetstream.PullExpiry(mirrorPullExpiry))
		if err != nil {
			l.logger.Error("reading the fleet's relay log; retrying", "error", err)
			wait(ctx, time.Second)
			continue
		}
		if info, err := cons.Info(ctx); err == nil && info.NumPending == 0 {
			l.caughtUp() // nothing to mirror
		}
		stop := context.AfterFunc(ctx, it.Stop)
		l.mu.Lock()
		l.reopen = it.Stop
		l.mu.Unlock()
		// Messages are applied in batches: those already waiting in the
		// stream, and those arriving within mirrorLinger of the batch's
		// first (up to mirrorBatch), go to the local store together.
		var batch []jetstream.Msg
		var seqs []uint64             // the batch's stream sequences
		var md *jetstream.MsgMetadata // the batch's last message's
		var first time.Time
	read:
		for {
			var msg jetstream.Msg
			var err error
			if len(batch) == 0 {
				msg, err = it.Next()
			} else {
				msg, err = it.Next(jetstream.NextMaxWait(max(mirrorLinger-time.Since(first), time.Millisecond)))
			}
			switch {
			case err != nil && len(batch) > 0 && errors.Is(err, nats.ErrTimeout):
				// Nothing more came within the linger: apply the batch.
			case err != nil:
				if ctx.Err() == nil {
					l.logger.Error("reading the fleet's relay log; reopening", "error", err)
				}
				break read
			default:
				m, err := msg.Metadata()
				if err != nil {
					l.logger.Error("a relay log message without metadata", "error", err)
					continue
				}
				if len(batch) == 0 {
					first = time.Now()
				}
				batch, seqs, md = append(batch, msg), append(seqs, m.Sequence.Stream), m
				if len(batch) < mirrorBatch && (md.NumPending > 0 || time.Since(first) < mirrorLinger) {
					continue
				}
			}
			if !l.apply(ctx, batch) {
				break read // ctx ended while the local store could not write
			}
			l.checkpointBatch(batch, seqs, md.Sequence.Stream)
			n := len(batch)
			batch, seqs = batch[:0], seqs[:0]
			from = md.Sequence.Stream + 1
			l.f.metrics.FleetConsumerLag.WithLabelValues(l.supplier).Set(float64(md.NumPending))
			age := 0.0
			if md.NumPending > 0 {
				age = time.Since(md.Timestamp).Seconds()
			}
			l.f.metrics.FleetCheckpointAge.WithLabelValues(l.supplier).Set(age)
			l.advance(md.Sequence.Stream)
			if md.NumPending == 0 {
				l.caughtUp()
			}
			// Caught up, the mirrored sequence is written at most every
			// persistPause, not after each batch: a restart mirrors again
			// what it missed, harmlessly.
			if sinceSave += n; sinceSave >= persistEvery || md.NumPending == 0 && time.Since(saved) >= persistPause {
				l.f.saveApplied(l.supplier, md.Sequence.Stream)
				sinceSave, saved = 0, time.Now()
			}
		}
		stop()
		it.Stop()
	}
}

// apply mirrors a batch of messages. A relay the local store cannot write
// is retried until it is written (it must not be skipped: it was answered)
// or ctx ends (false).
func (l *lease) apply(ctx context.Context, msgs []jetstream.Msg) bool {
	relays := make([]session.Relay, 0, len(msgs))
	for _, msg := range msgs {
		if strings.HasPrefix(msg.Subject(), l.f.names.seal+".") {
			continue // a seal marker: nothing to mirror, only its place
		}
		hdr, cupr, relayKey, leaf, err := decodeRelay(l.f.headers, msg)
		if err != nil {
			l.logger.Error("skipping a malformed relay log message", "subject", msg.Subject(), "error", err)
			continue
		}
		relays = append(relays, session.Relay{Header: hdr, Supplier: l.supplier, ComputeUnitsPerRelay: cupr,
			Path: protocol.LeafPath(relayKey), Key: relayKey, Leaf: leaf})
	}
	f := l.f
	f.mu.Lock()
	sessions := f.sessions
	f.mu.Unlock()
	for len(relays) > 0 {
		errs := sessions.AddRelays(relays)
		retry := relays[:0:0]
		for i, err := range errs {
			hdr := relays[i].Header
			switch {
			case err == nil, errors.Is(err, session.ErrSessionClaimed):
				// Already sealed here: a message mirrored again after a
				// restart (it is in the trie already).
			case errors.Is(err, store.ErrUnavailable):
				if len(retry) == 0 {
					l.logger.Error("mirroring relays: the local store cannot write; retrying", "session_id", hdr.SessionId, "service", hdr.ServiceId, "error", err)
				}
				retry = append(retry, relays[i])
			default:
				l.logger.Error("mirroring a relay: skipped", "session_id", hdr.SessionId, "service", hdr.ServiceId, "error", err)
			}
		}
		if relays = retry; len(relays) > 0 && !wait(ctx, 250*time.Millisecond) {
			return false
		}
	}
	return true
}

func decodeRelay(headers *headerCache, msg jetstream.Msg) (types.SessionHeader, uint64, []byte, []byte, error) {
	h := msg.Headers()
	hdr, err := headers.decode(h.Get(hdrSession))
	if err != nil {
		return hdr, 0, nil, nil, fmt.Errorf("session header: %w", err)
	}
	cupr, err := strconv.ParseUint(h.Get(hdrCUPR), 10, 64)
	if err != nil {
		return hdr, 0, nil, nil, fmt.Errorf("compute units per relay: %w", err)
	}
	data := msg.Data()
	if len(data) <= protocol.HashSize {
		return hdr, 0, nil, nil, fmt.Errorf("relay of %d bytes", len(data))
	}
	return hdr, cupr, data[:protocol.HashSize], data[protocol.HashSize:], nil
}

// advance records seq as mirrored and wakes the waiters it satisfies.
func (l *lease) advance(seq uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.applied = seq
	kept := l.waiters[:0]
	for _, w := range l.waiters {
		if w.seq <= seq {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	l.waiters = kept
}

func (l *lease) appliedSeq() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.applied
}

// waitApplied returns once the mirror applied sequence seq.
func (l *lease) waitApplied(ctx context.Context, seq uint64) error {
	l.mu.Lock()
	if l.applied >= seq {
		l.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	l.waiters = append(l.waiters, waiter{seq: seq, ch: ch})
	l.mu.Unlock()
	stalled := time.NewTicker(mirrorStall)
	defer stalled.Stop()
	last := l.appliedSeq()
	for {
		select {
		case <-ch:
			// Every relay of the session is before seq: a restart never
			// mirrors one of them into the sealed tree again.
			l.f.saveApplied(l.supplier, l.appliedSeq())
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-stalled.C:
			// The mirror made no progress towards seq for mirrorStall: its
			// consumer may be stuck on a server that went away without
			// it noticing yet; it is opened again from where it was.
			if now := l.appliedSeq(); now != last {
				last = now
				continue
			}
			l.mu.Lock()
			reopen := l.reopen
			l.mu.Unlock()
			if reopen != nil {
				l.logger.Info("the mirror made no progress while a seal waits for it; opening its consumer again", "mirrored_to", last, "waiting_for", seq)
				reopen()
			}
		}
	}
}

// lastSeq is the stream sequence of the supplier's last message (0 if
// none).
func (f *Fleet) lastSeq(ctx context.Context, supplier string) (uint64, error) {
	var last uint64
	for _, filter := range f.names.supplierFilters(supplier) {
		m, err := f.stream.GetLastMsgForSubject(ctx, filter)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
		case err != nil:
			return 0, err
		default:
			last = max(last, m.Sequence)
		}
	}
	return last, nil
}

func (f *Fleet) loadApplied(supplier string) uint64 {
	v, err := f.db.Get(appliedKey(supplier))
	if err != nil || len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// saveApplied records the last sequence mirrored, so a restart resumes
// after it. Losing it (a store that cannot write) only mirrors more again.
func (f *Fleet) saveApplied(supplier string, seq uint64) {
	if seq == 0 {
		return
	}
	if err := f.db.Put(appliedKey(supplier), binary.BigEndian.AppendUint64(nil, seq)); err != nil {
		f.logger.Error("recording the mirrored sequence", "supplier", supplier, "error", err)
	}
}

// wait waits d or until ctx ends; false if ctx ended.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
