package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
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
// it in between, within the publish timeout. It is safe for concurrent use.
type Counter struct {
	nc      *nats.Conn
	kv      jetstream.KeyValue
	names   names
	timeout time.Duration

	mu    sync.Mutex
	last  map[string]revision // the last revision seen of each key
	turns map[string]*turn    // keys being changed here

	lost atomic.Int64 // compare-and-sets lost to another change (benchmarks)
}

// revision is a count as stored at a revision of its key.
type revision struct {
	rev   uint64 // 0: the key holds nothing
	count uint64
}

// Counter is the fleet's relay meter count (one per Fleet).
func (f *Fleet) Counter() *Counter { return f.counter }

func newCounter(f *Fleet) *Counter {
	return &Counter{nc: f.nc, kv: f.meter, names: f.names, timeout: f.cfg.PublishTimeout, last: map[string]revision{}, turns: map[string]*turn{}}
}

// turn orders the changes this replica makes to one key: they would only
// lose compare-and-sets to one another.
type turn struct {
	ch    chan struct{} // holds a token while a change is under way
	users int           // guarded by Counter.mu
}

// take waits for key k's turn (or ctx's end) and returns its release.
func (c *Counter) take(ctx context.Context, k string) (func(), error) {
	c.mu.Lock()
	t := c.turns[k]
	if t == nil {
		t = &turn{ch: make(chan struct{}, 1)}
		c.turns[k] = t
	}
	t.users++
	c.mu.Unlock()
	done := func() {
		c.mu.Lock()
		if t.users--; t.users == 0 {
			delete(c.turns, k)
		}
		c.mu.Unlock()
	}
	select {
	case t.ch <- struct{}{}:
		return func() { <-t.ch; done() }, nil
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
}

// Add adds units to key's count unless it would pass limit (meter.Counter).
func (c *Counter) Add(ctx context.Context, key meter.Key, units, limit uint64) (uint64, bool, error) {
	return c.change(ctx, key, func(n uint64) (uint64, bool) {
		if n >= limit || units > limit-n {
			return n, false
		}
		return n + units, true
	})
}

// Sub takes units back from key's count (meter.Counter).
func (c *Counter) Sub(ctx context.Context, key meter.Key, units uint64) (uint64, error) {
	n, _, err := c.change(ctx, key, func(n uint64) (uint64, bool) { return n - min(n, units), true })
	return n, err
}

// Count is key's count (meter.Counter).
func (c *Counter) Count(ctx context.Context, key meter.Key) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	r, err := c.read(ctx, c.names.meterKey(key))
	if err != nil {
		return 0, fmt.Errorf("%w: reading the fleet's relay meter: %w", store.ErrUnavailable, err)
	}
	return r.count, nil
}

// change sets key's count to next(count) by compare-and-set, starting from
// the revision last seen (a first try without a read when this replica
// made the last change), reading again when it lost to another replica's
// change. This replica's changes of one key are made one at a time.
// next returning false leaves the count as it is.
func (c *Counter) change(ctx context.Context, key meter.Key, next func(uint64) (uint64, bool)) (uint64, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	k := c.names.meterKey(key)
	release, err := c.take(ctx, k)
	if err != nil {
		return 0, false, fmt.Errorf("%w: waiting for the fleet's relay meter of session %s: %w", store.ErrUnavailable, key.Session, err)
	}
	defer release()
	c.mu.Lock()
	r, known := c.last[k]
	c.mu.Unlock()
	pause := 200 * time.Microsecond
	for try := 1; ; try++ {
		if !known {
			var err error
			if r, err = c.read(ctx, k); err != nil {
				return 0, false, fmt.Errorf("%w: reading the fleet's relay meter: %w", store.ErrUnavailable, err)
			}
		}
		n, ok := next(r.count)
		if !ok && known {
			// Refused on the count this replica last saw: another may
			// have released since.
			known = false
			continue
		}
		if !ok || n == r.count {
			c.remember(k, r)
			return r.count, ok, nil
		}
		value := []byte(strconv.FormatUint(n, 10))
		var rev uint64
		var err error
		if r.rev == 0 {
			// Never written, or expired.
			rev, err = c.kv.Create(ctx, k, value)
		} else {
			rev, err = c.kv.Update(ctx, k, value, r.rev)
		}
		if err == nil {
			c.remember(k, revision{rev: rev, count: n})
			return n, true, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			c.forget(k)
			return 0, false, fmt.Errorf("%w: changing the fleet's relay meter: %w", store.ErrUnavailable, err)
		}
		// Another replica changed it first.
		c.lost.Add(1)
		known = false
		if try == maxCASTries {
			c.forget(k)
			return 0, false, fmt.Errorf("%w: the fleet's relay meter of session %s changed by others %d times in a row", store.ErrUnavailable, key.Session, try)
		}
		if !wait(ctx, pause/2+time.Duration(mrand.Int64N(int64(pause)))) {
			return 0, false, fmt.Errorf("%w: the fleet's relay meter of session %s: %w after %d tries", store.ErrUnavailable, key.Session, ctx.Err(), try)
		}
		pause = min(2*pause, 5*time.Millisecond)
	}
}

// read is key k's count as the bucket's stream leader holds it now. It
// asks the leader (the JetStream API's message get), not any server
// holding the bucket as a key-value Get may: a follower a replication
// round behind would make a change lose its compare-and-set once more, or
// a relay be refused just after a release made room for it.
func (c *Counter) read(ctx context.Context, k string) (revision, error) {
	req, err := json.Marshal(map[string]string{"last_by_subj": "$KV." + c.names.meter + "." + k})
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
	return revision{rev: res.Message.Seq, count: n}, nil
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
