package chain

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"cosmossdk.io/log"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"
	rpctypes "github.com/cometbft/cometbft/rpc/jsonrpc/types"
	cmttypes "github.com/cometbft/cometbft/types"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
)

// fakeChain is a CometBFT RPC endpoint (status, block, websocket) over a
// height the test advances.
type fakeChain struct {
	url        string
	subscribed chan struct{} // one per confirmed subscription (not blocking)

	mu     sync.Mutex
	height int64
	silent bool // subscriptions are confirmed, then get no event
	wsDown bool // the websocket endpoint answers 503
	subs   map[*websocket.Conn]string
}

func newFakeChain(t *testing.T, height int64) *fakeChain {
	f := &fakeChain{height: height, subscribed: make(chan struct{}, 100), subs: map[*websocket.Conn]string{}}
	upgrader := websocket.Upgrader{}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/websocket" {
			f.mu.Lock()
			down := f.wsDown
			f.mu.Unlock()
			if down {
				http.Error(w, "down", http.StatusServiceUnavailable)
				return
			}
			conn, err := upgrader.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer conn.Close()
			var req struct {
				ID string `json:"id"`
			}
			if conn.ReadJSON(&req) != nil {
				return
			}
			f.mu.Lock()
			if conn.WriteMessage(websocket.TextMessage, ack(req.ID)) != nil {
				f.mu.Unlock()
				return
			}
			if !f.silent {
				f.subs[conn] = req.ID
			}
			f.mu.Unlock()
			signal(f.subscribed)
			for {
				if _, _, err := conn.ReadMessage(); err != nil {
					break
				}
			}
			f.mu.Lock()
			delete(f.subs, conn)
			f.mu.Unlock()
			return
		}
		var req rpctypes.RPCRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		latest := f.height
		f.mu.Unlock()
		var result any
		switch req.Method {
		case "status":
			result = &ctypes.ResultStatus{SyncInfo: ctypes.SyncInfo{LatestBlockHeight: latest}}
		case "block":
			var p struct {
				Height string `json:"height"`
			}
			_ = json.Unmarshal(req.Params, &p)
			h, _ := strconv.ParseInt(p.Height, 10, 64)
			if h < 1 || h > latest {
				_ = json.NewEncoder(w).Encode(rpctypes.RPCInvalidParamsError(req.ID, nil))
				return
			}
			hdr := header(h)
			result = &ctypes.ResultBlock{BlockID: cmttypes.BlockID{Hash: hdr.Hash()}, Block: &cmttypes.Block{Header: hdr}}
		default:
			_ = json.NewEncoder(w).Encode(rpctypes.RPCMethodNotFoundError(req.ID))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(rpctypes.NewRPCSuccessResponse(req.ID, result))
	}))
	t.Cleanup(s.Close)
	f.url = s.URL
	return f
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// advance adds k blocks; subscribers hear of the last only.
func (f *fakeChain) advance(k int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.height += k
	for conn, id := range f.subs {
		_ = conn.WriteMessage(websocket.TextMessage, event(id, f.height))
	}
}

func (f *fakeChain) set(fn func(f *fakeChain)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// dropSubscriptions closes every websocket connection.
func (f *fakeChain) dropSubscriptions() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for conn := range f.subs {
		_ = conn.NetConn().Close()
		delete(f.subs, conn)
	}
}

// handedOut is what a FollowBlocks of the fake chain hands out.
type handedOut struct {
	t    *testing.T
	ch   chan int64
	last int64
}

func followFake(t *testing.T, f *fakeChain, poll time.Duration) *handedOut {
	c, err := NewClient(f.url, nil, nil, log.NewNopLogger(), WithSubscriber("test"))
	require.NoError(t, err)
	h := &handedOut{t: t, ch: make(chan int64, 1<<12)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.FollowBlocks(ctx, poll, func(_ context.Context, height int64) { h.ch <- height })
	}()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

// next waits for the next height handed out and checks it follows the
// last one.
func (h *handedOut) next() int64 {
	select {
	case got := <-h.ch:
		if h.last != 0 {
			require.Equal(h.t, h.last+1, got, "heights are handed out in order, each once")
		}
		h.last = got
		return got
	case <-time.After(30 * time.Second):
		h.t.Fatalf("no height after %d", h.last)
		return 0
	}
}

// upTo waits until height want was handed out and says how long it took.
func (h *handedOut) upTo(want int64) time.Duration {
	start := time.Now()
	for h.last < want {
		h.next()
	}
	return time.Since(start)
}

func TestFollowBlocks(t *testing.T) {
	const never = time.Hour // a poll interval that never fires

	t.Run("the first height comes at once, whether or not the websocket works", func(t *testing.T) {
		f := newFakeChain(t, 10)
		f.set(func(f *fakeChain) { f.wsDown = true })
		h := followFake(t, f, never)
		require.Equal(t, int64(10), h.next())
	})

	t.Run("events hand out every height, gaps filled by query, and a lost websocket is back within a second", func(t *testing.T) {
		f := newFakeChain(t, 10)
		h := followFake(t, f, never)
		require.Equal(t, int64(10), h.next())
		<-f.subscribed
		for i := 0; i < 5; i++ {
			f.advance(1)
			h.next()
		}
		f.advance(5) // one event for five blocks
		h.upTo(20)

		f.set(func(f *fakeChain) { f.wsDown = true })
		f.dropSubscriptions()
		f.advance(3) // nobody hears of these
		f.set(func(f *fakeChain) { f.wsDown = false })
		took := h.upTo(23)
		require.Less(t, took, 3*time.Second, "redials are at most 1 s apart")
		require.Empty(t, h.ch)
	})

	t.Run("a silent websocket: polling hands out every height and forces a resubscription", func(t *testing.T) {
		f := newFakeChain(t, 10)
		f.set(func(f *fakeChain) { f.silent = true })
		h := followFake(t, f, 20*time.Millisecond)
		require.Equal(t, int64(10), h.next())
		<-f.subscribed
		for i := 0; i < 3; i++ {
			f.advance(1)
			h.next()
		}
		// Two polls in a row found blocks the websocket did not announce.
		select {
		case <-f.subscribed:
		case <-time.After(30 * time.Second):
			t.Fatal("no resubscription")
		}
		f.advance(2)
		h.upTo(15)
	})

	t.Run("no websocket at all: polling alone", func(t *testing.T) {
		f := newFakeChain(t, 10)
		f.set(func(f *fakeChain) { f.wsDown = true })
		h := followFake(t, f, 20*time.Millisecond)
		for i := 0; i < 3; i++ {
			f.advance(2)
			h.upTo(10 + 2*int64(i+1))
		}
	})
}
