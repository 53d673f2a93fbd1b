package fleet

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/session"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/store"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// Headers a relay message carries besides its bytes: the relay key ‖ the
// leaf bytes, what the session manager's AddRelay records (the lease
// holder hands them to it as they are).
const (
	hdrSession = "Pokt-Session" // base64 of the session header (protobuf)
	hdrCUPR    = "Pokt-Cupr"    // the service's compute units per relay
)

// Logged reports whether the relay on path was already served: appended by
// this replica recently, or in the local relay log (mirrored by the lease
// holder). A replay to another replica within the stream's duplicate
// window is refused when it is appended (AddRelay); see the README for the
// limit (miner.Sessions).
func (f *Fleet) Logged(hdr types.SessionHeader, supplier string, path []byte) (bool, error) {
	if f.recent.has(path) {
		return true, nil
	}
	f.mu.Lock()
	sessions := f.sessions
	f.mu.Unlock()
	if sessions == nil {
		return false, nil
	}
	return sessions.Logged(hdr, supplier, path)
}

// AddRelay appends a served relay to the shared log and returns once a
// quorum of JetStream servers stored it (miner.Sessions). A relay of a
// session already sealed is refused with session.ErrSessionClaimed, a
// relay already appended with session.ErrRelayLogged, and one the log
// could not take in time with store.ErrUnavailable: never answered, never
// counted.
func (f *Fleet) AddRelay(hdr types.SessionHeader, supplier string, cupr uint64, path, relayKey, leaf []byte) error {
	if len(relayKey) != protocol.HashSize {
		return fmt.Errorf("relay key of %d bytes, want %d", len(relayKey), protocol.HashSize)
	}
	if err := f.link.outage(f.cfg.PublishTimeout); err != nil {
		f.metrics.FleetPublishFailures.WithLabelValues("unavailable").Inc()
		return fmt.Errorf("appending to the fleet's relay log: %w", err)
	}
	encoded, err := f.headers.encode(hdr)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(f.names.relaySubject(supplier, hdr.SessionId))
	msg.Data = make([]byte, 0, len(relayKey)+len(leaf))
	msg.Data = append(append(msg.Data, relayKey...), leaf...)
	msg.Header.Set(hdrSession, encoded)
	msg.Header.Set(hdrCUPR, strconv.FormatUint(cupr, 10))
	ctx, cancel := context.WithTimeout(context.Background(), f.cfg.PublishTimeout)
	defer cancel()
	start := time.Now()
	ack, err := f.publish(ctx, msg,
		jetstream.WithMsgID(hex.EncodeToString(relayKey)),
		// The seal fence: taken only while the session's seal subject (of
		// the relay's fence shard) holds no message, checked by the
		// stream's leader in log order.
		jetstream.WithExpectLastSequenceForSubject(0, f.names.sealSubject(supplier, hdr.SessionId, fenceShard(relayKey))),
	)
	if err = f.appendOutcome(ack, err); err != nil {
		return err
	}
	f.metrics.FleetPublishLatency.Observe(time.Since(start).Seconds())
	f.recent.add(path)
	return nil
}

// appendOutcome maps a relay publish's outcome to the errors the proxy
// answers: session over (410), duplicate (409), store unavailable (503).
func (f *Fleet) appendOutcome(ack *jetstream.PubAck, err error) error {
	switch {
	case err == nil && ack.Duplicate:
		f.metrics.FleetPublishFailures.WithLabelValues("duplicate").Inc()
		return fmt.Errorf("%w: already in the fleet's relay log (stream sequence %d)", session.ErrRelayLogged, ack.Sequence)
	case err == nil:
		return nil
	case wrongLastSequence(err):
		f.metrics.FleetPublishFailures.WithLabelValues("session_over").Inc()
		return fmt.Errorf("%w: the session was sealed in the fleet's relay log", session.ErrSessionClaimed)
	default:
		// Not acknowledged by a quorum (servers down, no leader, timeout,
		// disconnected, limits): not durable, so not answered.
		f.metrics.FleetPublishFailures.WithLabelValues("unavailable").Inc()
		return fmt.Errorf("%w: appending to the fleet's relay log: %w", store.ErrUnavailable, err)
	}
}

// wrongLastSequence reports a publish refused because its expected last
// sequence is not the stream's (10071: the fence subject holds a message).
func wrongLastSequence(err error) bool {
	var api *jetstream.APIError
	return errors.As(err, &api) && api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// fenceBusy reports a publish a replicated stream's leader turned away
// because another publish checking the same subject is still being
// replicated (10164): it admits one such publish per subject per round of
// replication. It was not stored; it is sent again.
func fenceBusy(err error) bool {
	var api *jetstream.APIError
	return errors.As(err, &api) && api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// publish publishes msg, sending it again while the stream's leader turns
// it away as fenceBusy, until ctx ends (with a short, growing, jittered
// pause).
func (f *Fleet) publish(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	pause := 100 * time.Microsecond
	for {
		ack, err := f.js.PublishMsg(ctx, msg, opts...)
		if !fenceBusy(err) {
			return ack, err
		}
		if !wait(ctx, pause/2+time.Duration(mrand.Int64N(int64(pause)))) {
			return nil, errors.Join(err, ctx.Err())
		}
		pause = min(2*pause, 10*time.Millisecond)
	}
}

// fenceShards is how many seal subjects a session's relays are spread over
// (by their key): a replicated stream admits one fenced publish per subject
// per replication round, so one subject would serialize a session's
// appends. Sealing publishes a marker on each.
const fenceShards = 16

func fenceShard(relayKey []byte) int { return int(relayKey[0]) % fenceShards }

// seal publishes the session's seal markers, the first and only message of
// each of its fence shards' seal subjects, and returns the highest of their
// stream sequences; where a marker is already there (another holder, or an
// earlier try), its sequence counts.
func (f *Fleet) seal(ctx context.Context, supplier, sessionID string) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	seqs := make([]uint64, fenceShards)
	errs := make([]error, fenceShards)
	var wg sync.WaitGroup
	for i := range fenceShards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seqs[i], errs[i] = f.sealShard(ctx, f.names.sealSubject(supplier, sessionID, i))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	return slices.Max(seqs), nil
}

func (f *Fleet) sealShard(ctx context.Context, subj string) (uint64, error) {
	msg := nats.NewMsg(subj)
	msg.Data = []byte(f.cfg.ReplicaID)
	ack, err := f.publish(ctx, msg, jetstream.WithExpectLastSequencePerSubject(0), jetstream.WithMsgTTL(SealMarkerTTL))
	switch {
	case err == nil:
		return ack.Sequence, nil
	case !wrongLastSequence(err):
		return 0, fmt.Errorf("publishing the seal marker %s: %w", subj, err)
	}
	m, err := f.stream.GetLastMsgForSubject(ctx, subj)
	if err != nil {
		return 0, fmt.Errorf("reading the seal marker %s: %w", subj, err)
	}
	return m.Sequence, nil
}

// recentSet remembers the trie paths of the relays this replica appended
// lately: up to n, in two generations (the older one dropped when the
// newer is full), so replays to the same replica are refused before they
// reach the backend, in bounded memory.
type recentSet struct {
	mu       sync.Mutex
	cur, old map[[protocol.HashSize]byte]struct{}
	half     int
}

func newRecentSet(n int) *recentSet {
	return &recentSet{cur: map[[protocol.HashSize]byte]struct{}{}, half: max(n/2, 1)}
}

func (r *recentSet) has(path []byte) bool {
	if len(path) != protocol.HashSize {
		return false
	}
	k := [protocol.HashSize]byte(path)
	r.mu.Lock()
	defer r.mu.Unlock()
	_, a := r.cur[k]
	_, b := r.old[k]
	return a || b
}

func (r *recentSet) add(path []byte) {
	if len(path) != protocol.HashSize {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cur) >= r.half {
		r.old, r.cur = r.cur, make(map[[protocol.HashSize]byte]struct{}, r.half)
	}
	r.cur[[protocol.HashSize]byte(path)] = struct{}{}
}

// headerCache keeps the encoded form (base64 of the protobuf) of the
// session headers in use, both ways: a session's relays all carry the same
// header, so appending and mirroring relays encode or decode it once per
// session instead of once per relay. Each way holds at most maxHeaders and
// starts over when full.
type headerCache struct {
	mu      sync.Mutex
	encoded map[string]string              // protobuf → encoded header
	decoded map[string]types.SessionHeader // encoded header → header
}

const maxHeaders = 1024

func newHeaderCache() *headerCache {
	return &headerCache{encoded: map[string]string{}, decoded: map[string]types.SessionHeader{}}
}

// encode returns hdr's encoded form.
func (c *headerCache) encode(hdr types.SessionHeader) (string, error) {
	raw, err := hdr.Marshal()
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.encoded[string(raw)]; ok {
		return e, nil
	}
	if len(c.encoded) >= maxHeaders {
		clear(c.encoded)
	}
	e := base64.StdEncoding.EncodeToString(raw)
	c.encoded[string(raw)] = e
	return e, nil
}

// decode returns the header encoded as e.
func (c *headerCache) decode(e string) (types.SessionHeader, error) {
	c.mu.Lock()
	hdr, ok := c.decoded[e]
	c.mu.Unlock()
	if ok {
		return hdr, nil
	}
	raw, err := base64.StdEncoding.DecodeString(e)
	if err != nil {
		return hdr, err
	}
	if err := hdr.Unmarshal(raw); err != nil {
		return hdr, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.decoded) >= maxHeaders {
		clear(c.decoded)
	}
	c.decoded[e] = hdr
	return hdr, nil
}
