package chain

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ctypes "github.com/cometbft/cometbft/rpc/core/types"
	rpctypes "github.com/cometbft/cometbft/rpc/jsonrpc/types"
	cmttypes "github.com/cometbft/cometbft/types"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
)

// fakeNode is a websocket endpoint that answers a subscribe request the way
// serve says.
func fakeNode(t *testing.T, serve func(conn *websocket.Conn, id string)) string {
	upgrader := websocket.Upgrader{}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/websocket" {
			http.NotFound(w, r)
			return
		}
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		var req struct {
			ID     string            `json:"id"`
			Method string            `json:"method"`
			Params map[string]string `json:"params"`
		}
		if conn.ReadJSON(&req) != nil || req.Method != "subscribe" || req.Params["query"] != blockQuery {
			return
		}
		serve(conn, req.ID)
	}))
	t.Cleanup(s.Close)
	endpoint, err := wsURL(s.URL)
	require.NoError(t, err)
	return endpoint
}

// header is a block header as a node would send it.
func header(h int64) cmttypes.Header {
	hash := func(b byte) []byte { return append(make([]byte, 31), b) }
	return cmttypes.Header{
		ChainID: "fake", Height: h, Time: time.Unix(1_700_000_000+h, 123456789).UTC(),
		LastBlockID:    cmttypes.BlockID{Hash: hash(byte(h - 1)), PartSetHeader: cmttypes.PartSetHeader{Total: 1, Hash: hash(7)}},
		ValidatorsHash: hash(1), NextValidatorsHash: hash(1), AppHash: hash(byte(h)), ProposerAddress: make([]byte, 20),
	}
}

// ack is the node's answer to subscribe. (These helpers run on the fake
// node's goroutines: they cannot fail a test, and json.Marshal of these
// types does not fail.)
func ack(id string) []byte {
	bz, _ := json.Marshal(rpctypes.NewRPCSuccessResponse(rpctypes.JSONRPCStringID(id), &ctypes.ResultSubscribe{}))
	return bz
}

// event is a NewBlockHeader event as CometBFT writes it.
func event(id string, h int64) []byte {
	res := &ctypes.ResultEvent{Query: blockQuery, Data: cmttypes.EventDataNewBlockHeader{Header: header(h)},
		Events: map[string][]string{"tm.event": {"NewBlockHeader"}}}
	bz, _ := json.Marshal(rpctypes.NewRPCSuccessResponse(rpctypes.JSONRPCStringID(id), res))
	return bz
}

// drain reads a subscription until its channel closes.
func drain(t *testing.T, s *blockSub) []blockEvent {
	var got []blockEvent
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-s.C:
			if !ok {
				return got
			}
			got = append(got, ev)
		case <-timeout:
			t.Fatal("the subscription's channel was not closed")
		}
	}
}

func TestBlockSubscription(t *testing.T) {
	ctx := context.Background()
	fast := wsConfig{handshakeTimeout: 2 * time.Second, pingPeriod: 25 * time.Millisecond, readTimeout: 300 * time.Millisecond}

	t.Run("events are handed out, then an abrupt close ends the reader", func(t *testing.T) {
		endpoint := fakeNode(t, func(conn *websocket.Conn, id string) {
			_ = conn.WriteMessage(websocket.TextMessage, ack(id))
			for h := int64(5); h <= 7; h++ {
				_ = conn.WriteMessage(websocket.TextMessage, event(id, h))
			}
			_ = conn.NetConn().Close() // no close frame
		})
		s, err := subscribeBlocks(ctx, endpoint, "rm-1", wsConfig{})
		require.NoError(t, err)
		got := drain(t, s)
		require.Error(t, s.Err())
		require.Len(t, got, 4)
		require.True(t, got[0].subscribed)
		for i, h := range []int64{5, 6, 7} {
			hdr := header(h)
			require.Equal(t, block{height: h, hash: hdr.Hash()}, got[i+1].block)
		}
		s.Close()
		s.Close() // idempotent
	})

	t.Run("anything but an answer to our request ends the reader", func(t *testing.T) {
		for name, msg := range map[string]func(id string) (int, []byte){
			"garbage":    func(string) (int, []byte) { return websocket.TextMessage, []byte("{not json") },
			"binary":     func(string) (int, []byte) { return websocket.BinaryMessage, []byte{0xff, 0x00, 0x13} },
			"another id": func(string) (int, []byte) { return websocket.TextMessage, event("someone-else", 9) },
			"bad event": func(id string) (int, []byte) {
				return websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":"` + id + `","result":{"data":{"type":"nope","value":{}}}}`)
			},
			"no result": func(id string) (int, []byte) {
				return websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":"` + id + `"}`)
			},
			"cancelled sub": func(id string) (int, []byte) {
				return websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":"` + id + `","error":{"code":-32000,"message":"Server error","data":"subscription was canceled (reason: slow client)"}}`)
			},
			"huge": func(string) (int, []byte) {
				return websocket.TextMessage, []byte(`"` + strings.Repeat("x", maxMessageBytes+1) + `"`)
			},
		} {
			t.Run(name, func(t *testing.T) {
				endpoint := fakeNode(t, func(conn *websocket.Conn, id string) {
					_ = conn.WriteMessage(websocket.TextMessage, ack(id))
					_ = conn.WriteMessage(websocket.TextMessage, event(id, 3))
					_ = conn.WriteMessage(msg(id))
					// Then keep sending events: the reader must not take them.
					for h := int64(4); conn.WriteMessage(websocket.TextMessage, event(id, h)) == nil; h++ {
					}
				})
				s, err := subscribeBlocks(ctx, endpoint, "rm-1", wsConfig{})
				require.NoError(t, err)
				got := drain(t, s)
				require.Error(t, s.Err())
				require.Len(t, got, 2, "the confirmation and block 3, nothing after the bad message")
				require.Equal(t, int64(3), got[1].block.height)
				s.Close()
			})
		}
	})

	t.Run("a refused subscription ends the reader with the node's error", func(t *testing.T) {
		endpoint := fakeNode(t, func(conn *websocket.Conn, id string) {
			_ = conn.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":"`+id+`","error":{"code":-32603,"message":"Internal error","data":"max_subscription_clients 100 reached"}}`))
			_, _, _ = conn.ReadMessage()
		})
		s, err := subscribeBlocks(ctx, endpoint, "rm-1", wsConfig{})
		require.NoError(t, err)
		require.Empty(t, drain(t, s))
		require.ErrorContains(t, s.Err(), "max_subscription_clients")
		s.Close()
	})

	t.Run("a peer that answers nothing, not even pings, is given up", func(t *testing.T) {
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		endpoint := fakeNode(t, func(conn *websocket.Conn, id string) {
			_ = conn.WriteMessage(websocket.TextMessage, ack(id))
			<-release // never reads: no pong
		})
		s, err := subscribeBlocks(ctx, endpoint, "rm-1", fast)
		require.NoError(t, err)
		got := drain(t, s)
		require.Len(t, got, 1)
		var netErr interface{ Timeout() bool }
		require.ErrorAs(t, s.Err(), &netErr)
		require.True(t, netErr.Timeout(), "%v", s.Err())
		s.Close()
	})

	t.Run("a quiet peer that answers pings is kept", func(t *testing.T) {
		var pings atomic.Int64
		endpoint := fakeNode(t, func(conn *websocket.Conn, id string) {
			_ = conn.WriteMessage(websocket.TextMessage, ack(id))
			// Forty pings span more than three read timeouts.
			conn.SetPingHandler(func(data string) error {
				if pings.Add(1) == 40 {
					go func() { _ = conn.WriteMessage(websocket.TextMessage, event(id, 42)) }()
				}
				return conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
			})
			for {
				if _, _, err := conn.ReadMessage(); err != nil {
					return
				}
			}
		})
		s, err := subscribeBlocks(ctx, endpoint, "rm-1", fast)
		require.NoError(t, err)
		ev := <-s.C
		require.True(t, ev.subscribed)
		select {
		case ev, ok := <-s.C:
			require.True(t, ok, "the subscription ended: %v", s.Err())
			require.Equal(t, int64(42), ev.block.height)
		case <-time.After(30 * time.Second):
			t.Fatal("no event")
		}
		require.GreaterOrEqual(t, pings.Load(), int64(40))
		s.Close()
		require.Empty(t, drain(t, s))
		require.ErrorIs(t, s.Err(), context.Canceled)
	})

	t.Run("Close ends a subscription nobody reads while the node floods it", func(t *testing.T) {
		sent := make(chan struct{})
		endpoint := fakeNode(t, func(conn *websocket.Conn, id string) {
			_ = conn.WriteMessage(websocket.TextMessage, ack(id))
			for h := int64(1); conn.WriteMessage(websocket.TextMessage, event(id, h)) == nil; h++ {
				if h == 100 {
					close(sent)
				}
			}
		})
		s, err := subscribeBlocks(ctx, endpoint, "rm-1", wsConfig{})
		require.NoError(t, err)
		<-sent
		s.Close()
		drain(t, s)
		require.ErrorIs(t, s.Err(), context.Canceled)
	})

	t.Run("the caller's context ends the subscription", func(t *testing.T) {
		endpoint := fakeNode(t, func(conn *websocket.Conn, id string) {
			_ = conn.WriteMessage(websocket.TextMessage, ack(id))
			_, _, _ = conn.ReadMessage()
		})
		cctx, cancel := context.WithCancel(ctx)
		s, err := subscribeBlocks(cctx, endpoint, "rm-1", wsConfig{})
		require.NoError(t, err)
		require.True(t, (<-s.C).subscribed)
		cancel()
		require.Empty(t, drain(t, s))
		require.ErrorIs(t, s.Err(), context.Canceled)
		s.Close()
	})

	t.Run("no websocket there: the dial fails", func(t *testing.T) {
		endpoint := fakeNode(t, func(*websocket.Conn, string) {})
		_, err := subscribeBlocks(ctx, strings.Replace(endpoint, "/websocket", "/nope", 1), "rm-1", wsConfig{})
		require.Error(t, err)
		_, err = subscribeBlocks(ctx, "ws://127.0.0.1:1/websocket", "rm-1", wsConfig{})
		require.Error(t, err)
	})
}

func TestWSURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:26657":       "ws://127.0.0.1:26657/websocket",
		"https://rpc.example.com/":     "wss://rpc.example.com/websocket",
		"https://example.com/rpc":      "wss://example.com/rpc/websocket",
		"tcp://localhost:26657":        "ws://localhost:26657/websocket",
		"http://u:p@node:1?x=1":        "ws://u:p@node:1/websocket?x=1",
		"https://node:443/cosmos/rpc/": "wss://node:443/cosmos/rpc/websocket",
	} {
		got, err := wsURL(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	_, err := wsURL("unix:///tmp/sock")
	require.Error(t, err)
}
