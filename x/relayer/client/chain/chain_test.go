package chain_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"cosmossdk.io/log"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/network"
	"github.com/pokt-network/poktroll/x/relayer/client/chain"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// TestChainClient runs the client against a real in-process chain (one
// network per test binary).
func TestChainClient(t *testing.T) {
	if testing.Short() {
		t.Skip("in-process network")
	}
	n := network.New(t, network.WithFundedAccounts("sup"))
	ctx := context.Background()
	c, err := chain.NewClient(n.RPCURL(), n.QueryConn(), n.Codec(), log.NewNopLogger())
	require.NoError(t, err)
	_, err = c.Sync(ctx)
	require.NoError(t, err)

	t.Run("the submitter recovers when the key signed elsewhere, and returns chain rejections as module errors", func(t *testing.T) {
		s := chain.NewSubmitter(c, n.ClientCtx().TxConfig, n.Keyring(), chain.TxConfig{ChainID: n.ChainID(), GasPrices: sdk.NewDecCoins()}, log.NewNopLogger())
		addr, err := s.AddSigner("sup")
		require.NoError(t, err)
		service := func(id string, cu uint64) sdk.Msg {
			return &types.MsgAddService{OwnerAddress: addr, ServiceId: id, Name: id, ComputeUnitsPerRelay: cu}
		}
		require.NoError(t, s.Submit(ctx, addr, 0, service("a", 1)))

		// The operator uses the same key elsewhere: the submitter's sequence
		// is stale and must be refreshed, not fail the claim.
		n.MustSendTx(t, "sup", service("b", 1))
		require.NoError(t, s.Submit(ctx, addr, 0, service("c", 1)))
		for _, id := range []string{"a", "b", "c"} {
			_, err := n.RelayerQuery().Service(ctx, &types.QueryServiceRequest{Id: id})
			require.NoError(t, err, "service %s", id)
		}

		err = s.Submit(ctx, addr, 0, service("d", 0))
		require.ErrorIs(t, err, types.ErrInvalidService, "a refused tx comes back as the registered error")
		require.NoError(t, s.Submit(ctx, addr, 0, service("e", 1)), "a refused tx does not spoil the sequence")

		require.Error(t, s.Submit(ctx, n.Address(n.ValidatorName()), 0, service("f", 1)), "no key registered for that signer")
	})

	t.Run("blocks are handed out in order, each once", func(t *testing.T) {
		followCtx, cancel := context.WithCancel(ctx)
		var (
			mu      sync.Mutex
			heights []int64
			done    = make(chan struct{})
		)
		go func() {
			defer close(done)
			_ = c.FollowBlocks(followCtx, 200*time.Millisecond, func(_ context.Context, h int64) {
				mu.Lock()
				heights = append(heights, h)
				if len(heights) == 5 {
					cancel()
				}
				mu.Unlock()
			})
		}()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			cancel()
			t.Fatal("fewer than 5 blocks in 60 s")
		}
		mu.Lock()
		defer mu.Unlock()
		for i := 1; i < len(heights); i++ {
			require.Equal(t, heights[i-1]+1, heights[i], "heights %v", heights)
		}
		require.Equal(t, heights[len(heights)-1], c.LatestHeight())
		hash, err := c.BlockHash(ctx, heights[0])
		require.NoError(t, err)
		require.Len(t, hash, 32)
		empty, err := c.BlockHash(ctx, 0)
		require.NoError(t, err)
		require.Nil(t, empty, "height 0 seeds the first session with the empty hash")
	})

	t.Run("heights flow in order, each once, across outages of the node's RPC", func(t *testing.T) {
		p := newRPCProxy(t, strings.TrimPrefix(n.RPCURL(), "http://"))
		pc, err := chain.NewClient("http://"+p.addr(), n.QueryConn(), n.Codec(), log.NewNopLogger(), chain.WithSubscriber("chain-test"))
		require.NoError(t, err)
		latest := func() int64 {
			h, err := n.LatestHeight()
			require.NoError(t, err)
			return h
		}
		// Polls are 30 s apart: every recovery below is the websocket's.
		f := follow(t, pc, 30*time.Second)
		f.upTo(latest()+1, 30*time.Second)

		// The node's RPC is unreachable for 10 blocks (5 s).
		p.setDown(true)
		_, err = n.WaitForHeight(latest() + 10)
		require.NoError(t, err)
		p.setDown(false)
		target := latest()
		resumed := f.upTo(target, 30*time.Second)
		t.Logf("after a 10-block outage, the follower reached the chain's height %v after the RPC came back", resumed)
		require.Less(t, resumed, 3*time.Second, "redials are at most 1 s apart")

		// Thirty drops in a row, a third of them during a websocket
		// handshake or the first messages, a third the moment a connection
		// gets through.
		cuts := []int{1, 40, 100, 129, 130, 131, 160, 200, 600, 1500}
		for i := 0; i < 30; i++ {
			switch i % 3 {
			case 0:
				p.setDown(true)
				_, err := n.WaitForNextBlock()
				require.NoError(t, err)
				p.setDown(false)
			case 1:
				p.cutNextWS(cuts[i/3])
				p.setDown(true)
				p.setDown(false)
				awaitSignal(t, p.cut, "a websocket connection cut")
			case 2:
				p.drainAccepted()
				p.setDown(true)
				p.setDown(false)
				awaitSignal(t, p.accepted, "a connection through the proxy")
				p.setDown(true)
				p.setDown(false)
			}
		}
		target = latest()
		resumed = f.upTo(target, 30*time.Second)
		t.Logf("after 30 drops, the follower reached the chain's height %v after the last", resumed)
		require.Less(t, resumed, 3*time.Second)
		f.stop()
		require.Greater(t, f.count, 10)

		// The hashes learnt from the events (computed from the headers) are
		// the chain's.
		for h := f.last - 10; h <= f.last; h++ {
			hh := h
			want, err := n.RPCClient().Block(ctx, &hh)
			require.NoError(t, err)
			got, err := pc.BlockHash(ctx, h)
			require.NoError(t, err)
			require.Equal(t, []byte(want.BlockID.Hash), got, "hash of block %d", h)
		}
	})
}

// followed records the heights a FollowBlocks hands out.
type followed struct {
	t       *testing.T
	heights chan int64
	first   int64
	last    int64
	count   int
	cancel  context.CancelFunc
	done    chan struct{}
}

func follow(t *testing.T, c *chain.Client, poll time.Duration) *followed {
	ctx, cancel := context.WithCancel(context.Background())
	f := &followed{t: t, heights: make(chan int64, 1<<16), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		_ = c.FollowBlocks(ctx, poll, func(_ context.Context, h int64) { f.heights <- h })
	}()
	t.Cleanup(func() { cancel(); <-f.done })
	return f
}

// record takes one handed-out height: it must follow the last one.
func (f *followed) record(h int64) {
	if f.count > 0 {
		require.Equal(f.t, f.last+1, h, "heights are handed out in order, each once (from %d)", f.first)
	} else {
		f.first = h
	}
	f.last = h
	f.count++
}

// upTo waits until height h was handed out and says how long it took.
func (f *followed) upTo(h int64, timeout time.Duration) time.Duration {
	start := time.Now()
	deadline := time.After(timeout)
	for f.count == 0 || f.last < h {
		select {
		case got := <-f.heights:
			f.record(got)
		case <-deadline:
			f.t.Fatalf("at height %d after %v, want %d", f.last, timeout, h)
		}
	}
	return time.Since(start)
}

// stop ends FollowBlocks and checks the heights it handed out last.
func (f *followed) stop() {
	f.cancel()
	<-f.done
	for {
		select {
		case got := <-f.heights:
			f.record(got)
		default:
			return
		}
	}
}

func awaitSignal(t *testing.T, ch <-chan struct{}, what string) {
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("no %s in 30 s", what)
	}
}

// rpcProxy forwards TCP to the node's RPC. It can refuse and drop every
// connection, and cut the next websocket connection after some bytes
// from the node.
type rpcProxy struct {
	ln       net.Listener
	target   string
	accepted chan struct{} // a connection got through (not blocking)
	cut      chan struct{} // a websocket connection was cut

	mu    sync.Mutex
	down  bool
	cutWS int
	conns map[net.Conn]bool
}

func newRPCProxy(t *testing.T, target string) *rpcProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &rpcProxy{ln: ln, target: target, accepted: make(chan struct{}, 1), cut: make(chan struct{}, 1), conns: map[net.Conn]bool{}}
	t.Cleanup(func() { _ = ln.Close(); p.setDown(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.handle(c)
		}
	}()
	return p
}

func (p *rpcProxy) addr() string { return p.ln.Addr().String() }

// track registers conns unless the proxy is down or dropped from (a conn
// no longer tracked); else it closes them.
func (p *rpcProxy) track(from net.Conn, conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down || (from != nil && !p.conns[from]) {
		for _, c := range conns {
			_ = c.Close()
		}
		return false
	}
	for _, c := range conns {
		p.conns[c] = true
	}
	return true
}

func (p *rpcProxy) handle(c net.Conn) {
	if !p.track(nil, c) {
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	if !p.track(c, c, up) {
		return
	}
	closeBoth := func() { _ = c.Close(); _ = up.Close() }
	first := make([]byte, 4096)
	nr, err := c.Read(first)
	if err != nil {
		closeBoth()
		return
	}
	cut := 0
	if bytes.HasPrefix(first[:nr], []byte("GET /websocket")) {
		p.mu.Lock()
		cut, p.cutWS = p.cutWS, 0
		p.mu.Unlock()
	}
	signal(p.accepted)
	if _, err := up.Write(first[:nr]); err != nil {
		closeBoth()
		return
	}
	go func() { _, _ = io.Copy(up, c); closeBoth() }()
	if cut > 0 {
		_, _ = io.CopyN(c, up, int64(cut))
		closeBoth()
		signal(p.cut)
		return
	}
	_, _ = io.Copy(c, up)
	closeBoth()
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// setDown drops every open connection and refuses new ones while down.
func (p *rpcProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			_ = c.Close()
		}
		p.conns = map[net.Conn]bool{}
	}
}

// cutNextWS makes the next websocket connection end after n bytes from
// the node: n < about 130 cuts the upgrade response, then the answer to
// subscribe, then the first event.
func (p *rpcProxy) cutNextWS(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutWS = n
	select {
	case <-p.cut:
	default:
	}
}

func (p *rpcProxy) drainAccepted() {
	select {
	case <-p.accepted:
	default:
	}
}
