package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/session"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// Checkpoints. The lease holder writes, every Config.CheckpointEvery relays
// it mirrored, what a replica needs to rebuild the supplier's sessions
// without their bytes: per session one message under
// <prefix>.ckpt.<supplier>.<session> holding, for each relay since the last
// checkpoint, its key, the hash and size of its leaf bytes and its stream
// sequence (76 bytes), then a commit under <prefix>.ckptc.<supplier> naming
// the last stream sequence those messages cover. A replica starting on an
// empty store loads the committed checkpoint into its session manager (the
// leaf bytes stay in the stream, read by sequence when a proof needs one)
// and mirrors only what came after it. The trie needs no other state: it
// is built from the relays' keys and leaf hashes when the session is
// sealed. Checkpoint messages are purged with their session's relays.
const (
	hdrCovers = "Pokt-Covers" // the last stream sequence a checkpoint covers

	// DefaultCheckpointEvery is how many mirrored relays the lease holder
	// lets pass between two checkpoints.
	DefaultCheckpointEvery = 10_000

	// checkpointEntry is the size of one relay in a checkpoint message.
	checkpointEntry = 2*protocol.HashSize + 4 + 8
	// checkpointChunk bounds the relays in one checkpoint message (under
	// the servers' default 1 MiB payload limit).
	checkpointChunk = 8192
	// checkpointWait bounds writing or loading one checkpoint.
	checkpointWait = 30 * time.Second
)

// checkpointItem is one mirrored relay as a checkpoint records it.
type checkpointItem struct {
	hdr   types.SessionHeader
	cupr  uint64
	relay session.RemoteRelay
}

// checkpointer is the lease holder's checkpoint in the making; only the
// checkpoint goroutine uses it.
type checkpointer struct {
	gen      uint64 // the generation of batches it follows
	term     uint64 // the lease term it was started in; 0: not started
	covered  uint64 // the last sequence committed
	last     uint64 // the last sequence mirrored
	n        int
	sessions map[string][]checkpointItem // by session id
}

func (c *checkpointer) reset() { *c = checkpointer{gen: c.gen} }

func (c *checkpointer) add(it checkpointItem) {
	if it.relay.Seq <= c.covered {
		return
	}
	if c.sessions == nil {
		c.sessions = map[string][]checkpointItem{}
	}
	c.sessions[it.hdr.SessionId] = append(c.sessions[it.hdr.SessionId], it)
	c.n++
}

// checkpointBatch is a batch the mirror applied, for the checkpoint.
type checkpointBatch struct {
	items []checkpointItem
	last  uint64
	gen   uint64 // counts the batches dropped or not handed over before it
}

// checkpointBatch hands the relays of a batch the mirror applied to the
// checkpoint goroutine, while this replica leads. It never waits: a batch
// the goroutine has no room for is dropped, and the checkpoint then starts
// over from the last commit, reading the relays after it from the stream.
func (l *lease) checkpointBatch(msgs []jetstream.Msg, seqs []uint64, last uint64) {
	if _, leading := l.leadingTerm(); !leading || l.f.cfg.CheckpointEvery < 0 {
		// Not handed over: should this replica lead again, even in the
		// same term (a renewal that came late), its next batch starts the
		// checkpoint over, so no relay is left out of it.
		l.ckptGen++
		return
	}
	items := make([]checkpointItem, 0, len(msgs))
	for i, msg := range msgs {
		if strings.HasPrefix(msg.Subject(), l.f.names.relays+".") {
			if it, ok := l.f.checkpointItem(msg, seqs[i]); ok {
				items = append(items, it)
			}
		}
	}
	select {
	case l.ckptCh <- checkpointBatch{items: items, last: last, gen: l.ckptGen}:
	default:
		l.ckptGen++ // the next batch starts the checkpoint over
	}
}

// checkpoints writes the checkpoints from the batches the mirror hands
// over, until ctx ends.
func (l *lease) checkpoints(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-l.ckptCh:
			if b.gen != l.ckpt.gen {
				// Batches were dropped before this one: start over from
				// the last commit, up to this batch.
				l.ckpt.reset()
				l.ckpt.gen = b.gen
			}
			l.checkpoint(ctx, b.items, b.last)
		}
	}
}

// checkpoint records the relays the mirror just applied (up to sequence
// last) and writes a checkpoint once CheckpointEvery are waiting, while
// this replica leads. A holder starting a term reads the last committed
// checkpoint and reads what came after it from the stream (what it
// mirrored as a standby), so each checkpoint continues the last one.
func (l *lease) checkpoint(ctx context.Context, items []checkpointItem, last uint64) {
	c := &l.ckpt
	term, leading := l.leadingTerm()
	if !leading || l.f.cfg.CheckpointEvery < 0 {
		c.reset()
		return
	}
	if c.term != term {
		c.reset()
		covered, err := l.f.lastCheckpoint(ctx, l.supplier)
		if err != nil {
			l.logger.Error("reading the fleet's last checkpoint; trying again with the next relays", "error", err)
			return
		}
		c.covered, c.last = covered, covered
		if covered < last {
			if err := l.f.readRelays(ctx, l.supplier, covered+1, last, c.add); err != nil {
				l.logger.Error("reading the relays since the fleet's last checkpoint; trying again with the next relays", "error", err)
				c.reset()
				return
			}
		}
		c.term = term
	} else {
		for _, it := range items {
			c.add(it)
		}
	}
	c.last = max(c.last, last)
	if c.n < l.f.cfg.CheckpointEvery {
		return
	}
	if err := l.f.writeCheckpoint(ctx, l.supplier, c); err != nil {
		l.logger.Error("writing a checkpoint of the fleet's relay log; trying again with the next relays", "error", err)
		return
	}
	l.f.metrics.FleetCheckpoints.WithLabelValues(l.supplier).Inc()
	l.logger.Debug("checkpoint of the fleet's relay log written", "relays", c.n, "covers", c.last)
	c.covered, c.n, c.sessions = c.last, 0, nil
}

// lastCheckpoint is the last stream sequence the supplier's committed
// checkpoints cover (0: none).
func (f *Fleet) lastCheckpoint(ctx context.Context, supplier string) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, checkpointWait)
	defer cancel()
	m, err := f.stream.GetLastMsgForSubject(ctx, f.names.commitSubject(supplier))
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	case len(m.Data) != 8:
		return 0, fmt.Errorf("checkpoint commit of %d bytes", len(m.Data))
	}
	return binary.BigEndian.Uint64(m.Data), nil
}

// writeCheckpoint publishes c's relays, per session, then the commit of
// the sequence they reach.
func (f *Fleet) writeCheckpoint(ctx context.Context, supplier string, c *checkpointer) error {
	ctx, cancel := context.WithTimeout(ctx, checkpointWait)
	defer cancel()
	covers := strconv.FormatUint(c.last, 10)
	for id, items := range c.sessions {
		encoded, err := f.headers.encode(items[0].hdr)
		if err != nil {
			return err
		}
		for start := 0; start < len(items); start += checkpointChunk {
			chunk := items[start:min(start+checkpointChunk, len(items))]
			msg := nats.NewMsg(f.names.checkpointSubject(supplier, id))
			msg.Header.Set(hdrSession, encoded)
			msg.Header.Set(hdrCUPR, strconv.FormatUint(items[0].cupr, 10))
			msg.Header.Set(hdrCovers, covers)
			msg.Data = make([]byte, 0, len(chunk)*checkpointEntry)
			for _, it := range chunk {
				msg.Data = append(append(msg.Data, it.relay.Key...), it.relay.LeafHash...)
				msg.Data = binary.BigEndian.AppendUint32(msg.Data, it.relay.Size)
				msg.Data = binary.BigEndian.AppendUint64(msg.Data, it.relay.Seq)
			}
			// A session's checkpoint goes when its relays are purged; one
			// written after that expires.
			if _, err := f.js.PublishMsg(ctx, msg, jetstream.WithMsgTTL(SealMarkerTTL)); err != nil {
				return fmt.Errorf("checkpoint of session %s: %w", id, err)
			}
		}
	}
	if _, err := f.js.Publish(ctx, f.names.commitSubject(supplier), binary.BigEndian.AppendUint64(nil, c.last)); err != nil {
		return fmt.Errorf("checkpoint commit: %w", err)
	}
	// Only the last commit counts.
	return f.stream.Purge(ctx, jetstream.WithPurgeSubject(f.names.commitSubject(supplier)), jetstream.WithPurgeKeep(1))
}

// loadCheckpoint records the supplier's committed checkpoint into the
// session manager and returns the last sequence it covers (0: none), from
// which the mirror goes on.
func (l *lease) loadCheckpoint(ctx context.Context, sessions *session.Manager) (uint64, error) {
	f := l.f
	ctx, cancel := context.WithTimeout(ctx, checkpointWait)
	defer cancel()
	covered, err := f.lastCheckpoint(ctx, l.supplier)
	if err != nil || covered == 0 {
		return 0, err
	}
	loaded := 0
	err = f.readAll(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{f.names.checkpointFilter(l.supplier)}},
		func(msg jetstream.Msg, _ *jetstream.MsgMetadata) (bool, error) {
			if c, err := strconv.ParseUint(msg.Headers().Get(hdrCovers), 10, 64); err != nil || c > covered {
				return true, nil // not committed: its relays are mirrored again
			}
			hdr, cupr, rs, err := f.decodeCheckpoint(msg)
			if err != nil {
				return false, err
			}
			if err := sessions.AddRemoteRelays(hdr, l.supplier, cupr, rs); err != nil && !errors.Is(err, session.ErrSessionClaimed) {
				return false, err
			}
			loaded += len(rs)
			return true, nil
		})
	if err != nil {
		return 0, err
	}
	l.loaded.Store(int64(loaded))
	l.loadedCovers.Store(covered)
	l.logger.Info("loaded the fleet's checkpoint: mirroring only what came after it", "relays", loaded, "covers", covered)
	return covered, nil
}

// decodeCheckpoint reads one checkpoint message: its session, compute
// units per relay and relays.
func (f *Fleet) decodeCheckpoint(msg jetstream.Msg) (types.SessionHeader, uint64, []session.RemoteRelay, error) {
	hdr, err := f.headers.decode(msg.Headers().Get(hdrSession))
	if err != nil {
		return hdr, 0, nil, fmt.Errorf("checkpoint session header: %w", err)
	}
	cupr, err := strconv.ParseUint(msg.Headers().Get(hdrCUPR), 10, 64)
	if err != nil {
		return hdr, 0, nil, fmt.Errorf("checkpoint compute units per relay: %w", err)
	}
	data := msg.Data()
	if len(data)%checkpointEntry != 0 {
		return hdr, 0, nil, fmt.Errorf("checkpoint of session %s: %d bytes", hdr.SessionId, len(data))
	}
	rs := make([]session.RemoteRelay, 0, len(data)/checkpointEntry)
	for ; len(data) > 0; data = data[checkpointEntry:] {
		const h = protocol.HashSize
		rs = append(rs, session.RemoteRelay{Key: data[:h], LeafHash: data[h : 2*h],
			Size: binary.BigEndian.Uint32(data[2*h:]), Seq: binary.BigEndian.Uint64(data[2*h+4:])})
	}
	return hdr, cupr, rs, nil
}

// readRelays hands fn the supplier's relays from sequence from to to, as
// checkpoint items.
func (f *Fleet) readRelays(ctx context.Context, supplier string, from, to uint64, fn func(checkpointItem)) error {
	ctx, cancel := context.WithTimeout(ctx, checkpointWait)
	defer cancel()
	return f.readAll(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: f.names.supplierFilters(supplier)[:1], // relays only
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    from,
	}, func(msg jetstream.Msg, md *jetstream.MsgMetadata) (bool, error) {
		if md.Sequence.Stream > to {
			return false, nil
		}
		if it, ok := f.checkpointItem(msg, md.Sequence.Stream); ok {
			fn(it)
		}
		return true, nil
	})
}

// readAll hands fn, in stream order, the messages an ordered consumer of
// cfg finds in the stream now, until fn says stop or fails.
func (f *Fleet) readAll(ctx context.Context, cfg jetstream.OrderedConsumerConfig, fn func(jetstream.Msg, *jetstream.MsgMetadata) (bool, error)) error {
	cons, err := f.stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return err
	}
	msgs, err := cons.Messages()
	if err != nil {
		return err
	}
	defer msgs.Stop()
	for pending := info.NumPending; pending > 0; {
		msg, err := msgs.Next(jetstream.NextContext(ctx))
		if err != nil {
			return err
		}
		md, err := msg.Metadata()
		if err != nil {
			return err
		}
		pending = md.NumPending
		if more, err := fn(msg, md); !more || err != nil {
			return err
		}
	}
	return nil
}

// checkpointItem is a relay message's checkpoint item (false for a
// malformed one, which the mirror skips too).
func (f *Fleet) checkpointItem(msg jetstream.Msg, seq uint64) (checkpointItem, bool) {
	hdr, cupr, relayKey, leaf, err := decodeRelay(f.headers, msg)
	if err != nil {
		return checkpointItem{}, false
	}
	h := sha256.Sum256(leaf)
	return checkpointItem{hdr: hdr, cupr: cupr, relay: session.RemoteRelay{
		Key: relayKey, LeafHash: h[:], Size: uint32(len(leaf)), Seq: seq}}, true
}

// Leaf reads the leaf bytes of supplier's relay at stream sequence seq
// (session.RemoteLeaves: relays loaded from a checkpoint).
func (f *Fleet) Leaf(supplier string, seq uint64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), checkpointWait)
	defer cancel()
	f.remoteReads.Add(1)
	m, err := f.stream.GetMsg(ctx, seq)
	if err != nil {
		return nil, fmt.Errorf("relay at sequence %d of the fleet's log: %w", seq, err)
	}
	if want := f.names.relays + "." + f.names.token(supplier) + "."; len(m.Subject) <= len(want) || m.Subject[:len(want)] != want {
		return nil, fmt.Errorf("sequence %d of the fleet's log is %s, not a relay of supplier %s", seq, m.Subject, supplier)
	}
	if len(m.Data) <= protocol.HashSize {
		return nil, fmt.Errorf("relay at sequence %d of %d bytes", seq, len(m.Data))
	}
	return m.Data[protocol.HashSize:], nil
}
