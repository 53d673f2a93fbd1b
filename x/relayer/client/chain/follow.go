package chain

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Reconnection of the block subscription.
const (
	// redialMin and redialMax bound the wait before redialing the websocket:
	// it doubles from redialMin after each failure, up to redialMax, so a
	// node that comes back is followed again within about redialMax.
	redialMin = 100 * time.Millisecond
	redialMax = time.Second
	// healthyAfter is how long a subscription must have lived for the wait
	// to start again from redialMin.
	healthyAfter = 5 * time.Second
	// queryTimeout bounds each status and block query of a catch-up, so a
	// node that accepts connections but does not answer cannot stall it.
	queryTimeout = 5 * time.Second
)

// FollowBlocks calls fn with every block height in order, each once, from
// the node's latest height at start, until ctx ends; it returns ctx's error.
//
// It hands out the latest height at once, then learns of new blocks from a
// websocket subscription to new block headers and, as a fallback, by
// polling the node's status every pollInterval. Whatever the source, every
// height it missed (while the websocket was down, or between two events)
// is handed out first. A lost subscription is redialed after 100 ms,
// doubling up to 1 s; polling goes on meanwhile. Two polls that find
// blocks with no event in between force a resubscription: a subscription
// can be up and yet silent.
func (c *Client) FollowBlocks(ctx context.Context, pollInterval time.Duration, fn func(context.Context, int64)) error {
	if pollInterval <= 0 {
		pollInterval = 2 * time.Second
	}
	events := make(chan blockEvent)
	kick := make(chan struct{}, 1)
	subCtx, cancel := context.WithCancel(ctx)
	subDone := make(chan struct{})
	go func() {
		defer close(subDone)
		c.subscribeLoop(subCtx, events, kick)
	}()
	defer func() {
		cancel()
		<-subDone
	}()

	var next int64
	catchUp := func(target int64, source string) bool {
		before := next
		if err := c.catchUp(ctx, &next, target, fn); err != nil && ctx.Err() == nil {
			c.logger.Warn("catching up with the chain", "source", source, "next_height", next, "error", err)
		}
		return next > before
	}
	catchUp(0, "start")
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	quiet := 0 // polls that found new blocks since the last event
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev := <-events:
			quiet = 0
			if ev.subscribed {
				// (Re)subscribed: whatever was missed is handed out now.
				catchUp(0, "subscribed")
				continue
			}
			c.recordHash(ev.block.height, ev.block.hash)
			catchUp(ev.block.height, "event")
		case <-ticker.C:
			if !catchUp(0, "poll") {
				continue
			}
			if quiet++; quiet >= 2 {
				quiet = 0
				select {
				case kick <- struct{}{}:
				default:
				}
			}
		}
	}
}

// subscribeLoop keeps a block subscription up until ctx ends, forwarding
// its events to out. A kick makes it resubscribe.
func (c *Client) subscribeLoop(ctx context.Context, out chan<- blockEvent, kick <-chan struct{}) {
	backoff := redialMin
	failures := 0
	var lostAt time.Time
	for {
		lived, err := c.subscribeOnce(ctx, out, kick, lostAt, failures)
		if ctx.Err() != nil {
			return
		}
		if lived > 0 {
			lostAt, failures = time.Now(), 0
			if lived >= healthyAfter {
				backoff = redialMin
			}
		}
		failures++
		// Up to a fifth less than the backoff, so that clients that lost
		// the same node do not all come back at the same instant.
		wait := backoff - rand.N(backoff/5+1)
		if lived > 0 {
			c.logger.Warn("block subscription lost; polling until it is back", "subscriber", c.subscriber, "error", err, "lived", lived.Round(time.Millisecond).String(), "retry_in", wait.Round(time.Millisecond).String())
		} else {
			c.logger.Debug("block subscription failed", "subscriber", c.subscriber, "error", err, "attempt", failures, "retry_in", wait.Round(time.Millisecond).String())
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		backoff = min(2*backoff, redialMax)
	}
}

// subscribeOnce runs one subscription until it fails, is kicked or ctx
// ends. lived is how long it was confirmed by the node (0 if never).
func (c *Client) subscribeOnce(ctx context.Context, out chan<- blockEvent, kick <-chan struct{}, lostAt time.Time, failures int) (lived time.Duration, err error) {
	id := fmt.Sprintf("%s-%d", c.subscriber, c.subSeq.Add(1))
	sub, err := subscribeBlocks(ctx, c.wsURL, id, c.ws)
	if err != nil {
		return 0, err
	}
	defer sub.Close()
	var since time.Time
	defer func() {
		if !since.IsZero() {
			lived = time.Since(since)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-kick:
			if !since.IsZero() {
				return 0, errStalled
			}
		case ev, ok := <-sub.C:
			if !ok {
				return 0, sub.Err()
			}
			if ev.subscribed {
				since = time.Now()
				select { // a kick from before this subscription is stale
				case <-kick:
				default:
				}
				if lostAt.IsZero() {
					c.logger.Info("block subscription established", "subscriber", c.subscriber, "id", id)
				} else {
					c.logger.Info("block subscription back", "subscriber", c.subscriber, "id", id, "down_for", time.Since(lostAt).Round(time.Millisecond).String(), "attempts", failures)
				}
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
	}
}

// catchUp hands out every height from *next to target (the node's latest
// when target is 0); *next is the first height not handed out yet, 0 before
// the first.
func (c *Client) catchUp(ctx context.Context, next *int64, target int64, fn func(context.Context, int64)) error {
	if target == 0 {
		qctx, cancel := context.WithTimeout(ctx, queryTimeout)
		st, err := c.rpc.Status(qctx)
		cancel()
		if err != nil {
			return fmt.Errorf("node status: %w", err)
		}
		target = st.SyncInfo.LatestBlockHeight
	}
	if target > c.tip.Load() {
		c.tip.Store(target)
	}
	if *next == 0 {
		*next = target
	}
	for ; *next <= target; *next++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		qctx, cancel := context.WithTimeout(ctx, queryTimeout)
		_, err := c.BlockHash(qctx, *next)
		cancel()
		if err != nil {
			return err
		}
		c.advance(*next)
		fn(ctx, *next)
	}
	return nil
}
