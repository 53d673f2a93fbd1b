package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pokt-network/poktroll/x/relayer/relayminer/meter"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/store"
)

// MeterTTL is how long a relay meter count stays in the <PREFIX>_METER
// bucket after its last change. A count changes only while its session's
// relays are served (from the session's start to the end of its grace
// period), so its last change comes no earlier than the session's start;
// it is read until the session's claim window closes, before its proof
// window closes: num_blocks_per_session - 1 + the grace, claim and proof
// window offsets after the start (15 blocks with the default params, 71
// with 60-block sessions: 71 minutes at a block a minute). A day is far
// past that. An expired count is never needed again: no relay of its
// session is served any more.
const MeterTTL = 24 * time.Hour

// maxCASTries bounds the compare-and-set tries of one change of a count
// (each one lost to another replica's change).
const maxCASTries = 64

// maxCached bounds the counts whose last revision is remembered.
const maxCached = 1 << 14

// Counter is the relay meter's count shared by the replicas of a fleet
// (meter.Counter): one key per (supplier, application, session) in the
// <PREFIX>_METER bucket, holding the compute units reserved, in decimal.
// Each change is a read and a compare-and-set on the key's revision,
// tried again (after a short jittered pause) when another replica changed
// it in between, or when a read or write failed (a stream leader being
// elected), within the publish timeout. The changes this replica
// asks of one key while one is under way are combined into the next
// compare-and-set (each checked against its limit in turn): one write for
// a burst of relays of a session. It is safe for concurrent use.
type Counter struct {
	nc      *nats.Conn
	link    *link
	js      jetstream.JetStream
	names   names
	timeout time.Duration

	mu      sync.Mutex
	last    map[string]revision  // the last revision seen of each key
	pending map[string][]*change // by key, the changes waiting for the next compare-and-set

	lost   atomic.Int64 // compare-and-sets lost to another change (benchmarks)
	writes atomic.Int64 // compare-and-sets won (benchmarks)
}

// revision is a count as stored at a revision of its key.
type revision struct {
	rev   uint64 // 0: the key holds nothing
	count uint64
	write string // the id of the write that stored it
}

// hdrWrite carries a write's id: a replica whose write went unacknowledged
// recognises it when it reads the key again, and does not count twice.
const hdrWrite = "Pokt-Meter-Write"

// attempt is a write of a batch that may have landed unacknowledged.
type attempt struct {
	count uint64
	added []bool
}

// change is one Add (or Sub) waiting for its key's next compare-and-set.
type change struct {
	units, limit uint64
	sub          bool
	done         chan outcome // receives one outcome
}

type outcome struct {
	count uint64
	added bool
	err   error
}

// Counter is the fleet's relay meter count (one per Fleet).
func (f *Fleet) Counter() *Counter { return f.counter }

func newCounter(f *Fleet) *Counter {
	return &Counter{nc: f.nc, link: f.link, js: f.js, names: f.names, timeout: f.cfg.PublishTimeout,
		last: map[string]revision{}, pending: map[string][]*change{}}
}

// Add adds units to key's count unless it would pass limit (meter.Counter).
// It is bounded by the publish timeout, not by the context (see do).
func (c *Counter) Add(_ context.Context, key meter.Key, units, limit uint64) (uint64, bool, error) {
	o := c.do(key, &change{units: units, limit: limit})
	return o.count, o.added, o.err
}

// Sub takes units back from key's count (meter.Counter).
func (c *Counter) Sub(_ context.Context, key meter.Key, units uint64) (uint64, error) {
	o := c.do(key, &change{units: units, sub: true})
	return o.count, o.err
}

// Count is key's count (meter.Counter).
func (c *Counter) Count(ctx context.Context, key meter.Key) (uint64, error) {
	if err := c.link.outage(c.timeout); err != nil {
		return 0, fmt.Errorf("reading the fleet's relay meter of session %s: %w", key.Session, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	p := newPause()
	for {
		r, err := c.read(ctx, c.names.meterKey(key))
		if err == nil {
			return r.count, nil
		}
		if !p.wait(ctx, maxErrorPause) {
			return 0, fmt.Errorf("%w: reading the fleet's relay meter of session %s: %w", store.ErrUnavailable, key.Session, err)
		}
	}
}

// do queues ch for key's next compare-and-set, starts one unless one is
// under way, and waits for its outcome. It does not give up with the
// caller's context: once queued, a change may be written, and its caller
// must know (a reservation nobody releases would stay counted). A batch's
// compare-and-set loop is bounded by the publish timeout, and a change
// waits for at most the batch under way before its own: about twice the
// publish timeout at worst (JetStream unreachable).
func (c *Counter) do(key meter.Key, ch *change) outcome {
	if err := c.link.outage(c.timeout); err != nil {
		return outcome{err: fmt.Errorf("the fleet's relay meter of session %s: %w", key.Session, err)}
	}
	k := c.names.meterKey(key)
	ch.done = make(chan outcome, 1)
	c.mu.Lock()
	q, running := c.pending[k]
	c.pending[k] = append(q, ch)
	c.mu.Unlock()
	if !running {
		go c.drain(k, key.Session)
	}
	return <-ch.done
}

// drain writes key k's queued changes, a batch per compare-and-set, until
// none is left.
func (c *Counter) drain(k, session string) {
	for {
		c.mu.Lock()
		batch := c.pending[k]
		if len(batch) == 0 {
			delete(c.pending, k)
			c.mu.Unlock()
			return
		}
		c.pending[k] = batch[:0:0] // empty, not nil: still running
		c.mu.Unlock()
		c.apply(k, session, batch)
	}
}

// apply makes a batch of changes of key k by compare-and-set, starting from
// the revision last seen (a first try without a read when this replica
// made the last change), reading again when it lost to another replica's
// change, and sends each change its outcome.
func (c *Counter) apply(k, session string, batch []*change) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	fail := func(err error) {
		c.forget(k)
		for _, ch := range batch {
			ch.done <- outcome{err: err}
		}
	}
	added := make([]bool, len(batch))
	c.mu.Lock()
	r, known := c.last[k]
	c.mu.Unlock()
	p := newPause()
	lost := 0
	var unacked map[string]attempt // by write id
	for {
		if !known {
			var err error
			if r, err = c.read(ctx, k); err != nil {
				// A stream leader being elected, a server going away:
				// tried again until the publish timeout.
				if !p.wait(ctx, maxErrorPause) {
					fail(fmt.Errorf("%w: reading the fleet's relay meter of session %s: %w", store.ErrUnavailable, session, err))
					return
				}
				continue
			}
			if a, ok := unacked[r.write]; ok {
				// An unacknowledged write of this batch landed.
				c.writes.Add(1)
				c.remember(k, r)
				c.send(batch, a.added, a.count)
				return
			}
		}
		n, refused := r.count, false
		for i, ch := range batch {
			switch {
			case ch.sub:
				n -= min(n, ch.units)
				added[i] = true
			case n >= ch.limit || ch.units > ch.limit-n:
				added[i], refused = false, true
			default:
				n += ch.units
				added[i] = true
			}
		}
		if refused && known {
			// Refused on the count this replica last saw: another may
			// have released since.
			known = false
			continue
		}
		if n == r.count {
			c.remember(k, r)
			c.send(batch, added, n)
			return
		}
		id := strconv.FormatUint(mrand.Uint64(), 36)
		rev, err := c.write(ctx, k, r.rev, n, id)
		if err == nil {
			c.writes.Add(1)
			c.remember(k, revision{rev: rev, count: n, write: id})
			c.send(batch, added, n)
			return
		}
		known = false
		if wrongLastSequence(err) || fenceBusy(err) {
			// Another replica changed it first.
			c.lost.Add(1)
			if lost++; lost == maxCASTries {
				fail(fmt.Errorf("%w: the fleet's relay meter of session %s changed by others %d times in a row", store.ErrUnavailable, session, lost))
				return
			}
			if !p.wait(ctx, maxConflictPause) {
				fail(fmt.Errorf("%w: the fleet's relay meter of session %s: %w after %d compare-and-sets lost", store.ErrUnavailable, session, ctx.Err(), lost))
				return
			}
			continue
		}
		// Not written, or written and not acknowledged: read again (the
		// write recognised by its id if it landed and is still the last)
		// and tried again until the publish timeout. (One that landed
		// and was changed over since cannot be recognised: counted
		// twice, the fleet serves less, never more.)
		if unacked == nil {
			unacked = map[string]attempt{}
		}
		unacked[id] = attempt{count: n, added: slices.Clone(added)}
		if !p.wait(ctx, maxErrorPause) {
			fail(fmt.Errorf("%w: changing the fleet's relay meter of session %s: %w", store.ErrUnavailable, session, err))
			return
		}
	}
}

// write stores count n at key k, tagged with id, if its last revision is
// still rev (0: it holds nothing), and returns the new revision. A
// compare-and-set lost is an APIError of wrongLastSequence or fenceBusy.
func (c *Counter) write(ctx context.Context, k string, rev, n uint64, id string) (uint64, error) {
	ctx, cancel := c.try(ctx)
	defer cancel()
	msg := nats.NewMsg(c.subject(k))
	msg.Header.Set(hdrWrite, id)
	msg.Data = []byte(strconv.FormatUint(n, 10))
	ack, err := c.js.PublishMsg(ctx, msg, jetstream.WithExpectLastSequencePerSubject(rev))
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// subject is key k's subject in the bucket's stream.
func (c *Counter) subject(k string) string { return "$KV." + c.names.meter + "." + k }

// try bounds one request to JetStream by a quarter of the publish timeout
// (at least 100ms): a request sent to a server as it stopped is never
// answered, and is sent again.
func (c *Counter) try(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, max(c.timeout/4, 100*time.Millisecond))
}

// Pauses between tries: after a compare-and-set lost to another replica
// (short: the key is free again within a replication round), and after an
// error (longer: a stream leader is being elected).
const (
	maxConflictPause = 5 * time.Millisecond
	maxErrorPause    = 50 * time.Millisecond
)

// pause is a growing, jittered pause between tries.
type pause time.Duration

func newPause() *pause { p := pause(200 * time.Microsecond); return &p }

// wait pauses (between half and one and a half times the current pause,
// which then doubles up to limit), false if ctx ended first.
func (p *pause) wait(ctx context.Context, limit time.Duration) bool {
	d := time.Duration(*p)
	*p = pause(min(2*d, limit))
	return wait(ctx, d/2+time.Duration(mrand.Int64N(int64(d))))
}

// send gives each change of a batch written at count n its outcome.
func (c *Counter) send(batch []*change, added []bool, n uint64) {
	for i, ch := range batch {
		ch.done <- outcome{count: n, added: added[i]}
	}
}

// read is key k's count as the bucket's stream leader holds it now. It
// asks the leader (the JetStream API's message get), not any server
// holding the bucket as a key-value Get may: a follower a replication
// round behind would make a change lose its compare-and-set once more, or
// a relay be refused just after a release made room for it.
func (c *Counter) read(ctx context.Context, k string) (revision, error) {
	ctx, cancel := c.try(ctx)
	defer cancel()
	req, err := json.Marshal(map[string]string{"last_by_subj": c.subject(k)})
	if err != nil {
		return revision{}, err
	}
	msg, err := c.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET.KV_"+c.names.meter, req)
	if err != nil {
		return revision{}, err
	}
	var res struct {
		Error *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
		Message *struct {
			Seq  uint64 `json:"seq"`
			Hdrs []byte `json:"hdrs"`
			Data []byte `json:"data"`
		} `json:"message"`
	}
	if err := json.Unmarshal(msg.Data, &res); err != nil {
		return revision{}, fmt.Errorf("message get of %s: %w", k, err)
	}
	switch {
	case res.Error != nil && res.Error.ErrCode == int(jetstream.JSErrCodeMessageNotFound):
		return revision{}, nil
	case res.Error != nil:
		return revision{}, fmt.Errorf("message get of %s: %s (%d)", k, res.Error.Description, res.Error.ErrCode)
	case res.Message == nil:
		return revision{}, fmt.Errorf("message get of %s: no message in the answer", k)
	case bytes.Contains(res.Message.Hdrs, []byte("KV-Operation")):
		// A delete or purge marker (not written by a Counter): no count,
		// at that revision.
		return revision{rev: res.Message.Seq}, nil
	}
	n, err := strconv.ParseUint(string(res.Message.Data), 10, 64)
	if err != nil {
		return revision{}, fmt.Errorf("key %s holds %q, not a count", k, res.Message.Data)
	}
	return revision{rev: res.Message.Seq, count: n, write: headerValue(res.Message.Hdrs, hdrWrite)}, nil
}

// headerValue is the value of header name in a message's raw headers
// ("NATS/1.0" and "Name: value" lines), "" when absent.
func headerValue(raw []byte, name string) string {
	for line := range strings.SplitSeq(string(raw), "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func (c *Counter) remember(k string, r revision) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.last[k]; !ok && len(c.last) >= maxCached {
		clear(c.last) // sessions come and go: start over
	}
	c.last[k] = r
}

func (c *Counter) forget(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.last, k)
}
