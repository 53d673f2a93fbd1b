package chain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// blockQuery is what the follower subscribes to. A NewBlockHeader event
// carries the header, whose hash the follower computes itself (as a light
// client does), so it needs neither the block's txs nor its events, which a
// NewBlock event would carry.
const blockQuery = "tm.event='NewBlockHeader'"

// wsConfig tunes a block subscription; the zero value means the defaults.
type wsConfig struct {
	// handshakeTimeout bounds the dial, the websocket upgrade and the
	// node's answer to the subscribe request.
	handshakeTimeout time.Duration
	// pingPeriod is how often the client pings the node.
	pingPeriod time.Duration
	// readTimeout ends a subscription that received nothing, not even a
	// pong, for that long: a dead peer that never closed the connection.
	readTimeout time.Duration
}

func (c wsConfig) withDefaults() wsConfig {
	if c.handshakeTimeout <= 0 {
		c.handshakeTimeout = 5 * time.Second
	}
	if c.pingPeriod <= 0 {
		c.pingPeriod = 5 * time.Second
	}
	if c.readTimeout <= 0 {
		c.readTimeout = 3 * c.pingPeriod
	}
	return c
}

// maxMessageBytes bounds one message from the node: a NewBlockHeader
// event is about 2 KB.
const maxMessageBytes = 1 << 20

// blockEvent is what a subscription hands out: the node's confirmation of
// the subscription, then one event per new block.
type blockEvent struct {
	subscribed bool
	block      block
}

// blockSub is one websocket subscription to new blocks. Its reader
// goroutine is the only sender on C and closes C when it stops, whatever
// the reason (connection lost, bad message, Close); Err then says why.
type blockSub struct {
	C <-chan blockEvent

	conn   *websocket.Conn
	cfg    wsConfig
	id     string
	cancel context.CancelFunc
	done   chan struct{} // closed once both goroutines returned
	err    error         // written by the reader before it closes C
}

// wsURL is the websocket endpoint of a CometBFT RPC URL.
func wsURL(rpcURL string) (string, error) {
	u, err := url.Parse(rpcURL)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "http", "tcp", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("unsupported scheme %q in %q", u.Scheme, rpcURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/websocket"
	return u.String(), nil
}

// subscribeBlocks dials the node's websocket and asks for new block
// headers. It returns once the request is sent; the node's confirmation
// comes on C. The subscription ends when ctx ends, on Close, or when the
// connection fails.
func subscribeBlocks(ctx context.Context, endpoint, id string, cfg wsConfig) (*blockSub, error) {
	cfg = cfg.withDefaults()
	dialer := websocket.Dialer{HandshakeTimeout: cfg.handshakeTimeout}
	conn, _, err := dialer.DialContext(ctx, endpoint, nil)
	if err != nil {
		return nil, fmt.Errorf("dialing %s: %w", endpoint, err)
	}
	conn.SetReadLimit(maxMessageBytes)
	req := map[string]any{"jsonrpc": "2.0", "id": id, "method": "subscribe", "params": map[string]string{"query": blockQuery}}
	_ = conn.SetWriteDeadline(time.Now().Add(cfg.handshakeTimeout))
	if err := conn.WriteJSON(req); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("subscribing to new blocks: %w", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(cfg.handshakeTimeout))
	conn.SetPongHandler(func(string) error {
		return conn.SetReadDeadline(time.Now().Add(cfg.readTimeout))
	})

	out := make(chan blockEvent, 16)
	ctx, cancel := context.WithCancel(ctx)
	s := &blockSub{C: out, conn: conn, cfg: cfg, id: id, cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.read(ctx, out) }()
	go func() { defer wg.Done(); s.keepAlive(ctx) }()
	go func() { wg.Wait(); close(s.done) }()
	return s, nil
}

// Close ends the subscription and waits for its goroutines.
func (s *blockSub) Close() {
	s.cancel()
	<-s.done
}

// Err is why the subscription ended; call it once C is closed.
func (s *blockSub) Err() error { return s.err }

// read decodes the node's messages until the connection fails or ctx ends.
// It alone sends on out, and closes it on return; it cancels ctx on return
// so that keepAlive closes the connection.
func (s *blockSub) read(ctx context.Context, out chan<- blockEvent) {
	var err error
	defer func() {
		s.err = err
		close(out)
		s.cancel()
	}()
	for {
		var msg []byte
		if _, msg, err = s.conn.ReadMessage(); err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return
		}
		_ = s.conn.SetReadDeadline(time.Now().Add(s.cfg.readTimeout))
		var ev blockEvent
		var ok bool
		if ev, ok, err = s.decode(msg); err != nil {
			return
		}
		if !ok {
			continue
		}
		select {
		case out <- ev:
		case <-ctx.Done():
			err = ctx.Err()
			return
		}
	}
}

// keepAlive pings the node every pingPeriod and closes the connection when
// ctx ends (Close, the caller's ctx, or the reader stopped). It is the only
// goroutine that closes the connection.
func (s *blockSub) keepAlive(ctx context.Context) {
	ticker := time.NewTicker(s.cfg.pingPeriod)
	defer ticker.Stop()
	defer func() {
		// A polite close lets the node drop the subscription at once; the
		// deadline keeps a dead peer from holding us.
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
		_ = s.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(100*time.Millisecond))
		_ = s.conn.Close()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if err := s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.cfg.handshakeTimeout)); err != nil {
				return
			}
		}
	}
}

// rpcResponse is a JSON-RPC response, as CometBFT sends both the answer to
// subscribe and every event (with the subscribe request's id).
type rpcResponse struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Data    string `json:"data"`
	} `json:"error"`
}

// decode reads one message: the subscription's confirmation, a block, or
// nothing of interest (ok false). A message that is not a JSON-RPC answer
// to our request, or an error from the node (a refused subscription, or
// one the node cancelled), ends the subscription.
func (s *blockSub) decode(msg []byte) (ev blockEvent, ok bool, err error) {
	var resp rpcResponse
	if err := json.Unmarshal(msg, &resp); err != nil {
		return ev, false, fmt.Errorf("undecodable message from the node: %w", err)
	}
	var id string
	if err := json.Unmarshal(resp.ID, &id); err != nil || id != s.id {
		return ev, false, fmt.Errorf("message from the node with unexpected id %s", resp.ID)
	}
	if resp.Error != nil {
		return ev, false, fmt.Errorf("node: %s (code %d): %s", resp.Error.Message, resp.Error.Code, resp.Error.Data)
	}
	var result struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(resp.Result, &result); err != nil {
		return ev, false, fmt.Errorf("undecodable result from the node: %w", err)
	}
	if len(result.Data) == 0 {
		// The answer to subscribe is an empty result.
		return blockEvent{subscribed: true}, true, nil
	}
	b, ok, err := blockOfEvent(result.Data)
	if err != nil {
		return ev, false, fmt.Errorf("undecodable event from the node: %w", err)
	}
	return blockEvent{block: b}, ok, nil
}

// errStalled forces a resubscription when the websocket goes quiet while
// blocks keep coming.
var errStalled = errors.New("no block event over the websocket while blocks were produced")
