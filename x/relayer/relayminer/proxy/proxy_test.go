package proxy_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	errorsmod "cosmossdk.io/errors"
	cryptotypes "github.com/cosmos/cosmos-sdk/crypto/types"
	"github.com/stretchr/testify/require"

	_ "github.com/pokt-network/poktroll/app" // bech32 prefixes
	"github.com/pokt-network/poktroll/testutil/metricstest"
	"github.com/pokt-network/poktroll/testutil/relaytest"
	"github.com/pokt-network/poktroll/x/relayer/internal/httplimit"
	"github.com/pokt-network/poktroll/x/relayer/internal/httplimit/httplimittest"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/metrics"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/miner"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/proxy"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// fakeChain serves one session from memory, as the cached chain client would.
type fakeChain struct {
	sessionQueries atomic.Int64

	mu      sync.Mutex
	height  int64
	params  types.Params
	session types.Session
	keys    map[string]cryptotypes.PubKey
}

func (c *fakeChain) LatestHeight() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.height
}

func (c *fakeChain) setHeight(h int64) {
	c.mu.Lock()
	c.height = h
	c.mu.Unlock()
}
func (c *fakeChain) ParamsAt(context.Context, int64) (types.Params, error) { return c.params, nil }
func (c *fakeChain) Session(_ context.Context, app, service string, start int64) (types.Session, error) {
	c.sessionQueries.Add(1)
	h := c.session.Header
	if app != h.ApplicationAddress || service != h.ServiceId || start != h.SessionStartBlockHeight {
		return types.Session{}, fmt.Errorf("no session of %s for %s at %d", app, service, start)
	}
	return c.session, nil
}
func (*fakeChain) BlockHash(_ context.Context, h int64) ([]byte, error) {
	if h <= 0 {
		return nil, nil
	}
	return []byte{byte(h)}, nil
}
func (c *fakeChain) PubKey(_ context.Context, addr string) (cryptotypes.PubKey, error) {
	if k, ok := c.keys[addr]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("account %s has no public key", addr)
}

type fakeMiner struct {
	mu     sync.Mutex
	relays []*types.Relay
	keys   map[string]bool
}

func (m *fakeMiner) Seen(_ types.SessionHeader, _ string, key []byte) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.keys[string(key)], nil
}

func (m *fakeMiner) Mine(_ context.Context, req *types.RelayRequest, res *types.RelayResponse, key []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.relays = append(m.relays, &types.Relay{Req: req, Res: res})
	if m.keys == nil {
		m.keys = map[string]bool{}
	}
	m.keys[string(key)] = true
	return nil
}

func (m *fakeMiner) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.relays)
}

type fixture struct {
	app, sup relaytest.Actor
	chain    *fakeChain
	miner    *fakeMiner
	server   *proxy.Server
	url      string
	header   types.SessionHeader
	metrics  *metrics.Metrics
	errs     httplimittest.Errors // the server's error log
}

// newFixture starts a proxy for supplier sup serving "eth" from backend,
// within limits if given.
func newFixture(t testing.TB, backend http.Handler, miner proxy.Miner, limits ...httplimit.Limits) *fixture {
	return newMeteredFixture(t, backend, miner, nil, limits...)
}

// newMeteredFixture is newFixture whose relays are metered by meter.
func newMeteredFixture(t testing.TB, backend http.Handler, miner proxy.Miner, meter proxy.Meter, limits ...httplimit.Limits) *fixture {
	return newFixtureWith(t, backend, miner, meter, nil, limits...)
}

// newFixtureWith is newMeteredFixture whose server setup sets up before
// it starts (if not nil).
func newFixtureWith(t testing.TB, backend http.Handler, miner proxy.Miner, meter proxy.Meter, setup func(*proxy.Server), limits ...httplimit.Limits) *fixture {
	be := httptest.NewServer(backend)
	t.Cleanup(be.Close)
	f := &fixture{app: relaytest.NewActor(), sup: relaytest.NewActor(), miner: &fakeMiner{},
		metrics: metrics.New(), errs: httplimittest.NewErrors()}
	if miner == nil {
		miner = f.miner
	}
	f.header = types.SessionHeader{
		ApplicationAddress: f.app.Address, ServiceId: "eth",
		SessionId:               protocol.SessionID(nil, "eth", f.app.Address, 1),
		SessionStartBlockHeight: 1, SessionEndBlockHeight: 4,
	}
	f.chain = &fakeChain{
		height: 2, params: types.DefaultParams(),
		session: types.Session{Header: f.header, Suppliers: []types.Supplier{{OperatorAddress: f.sup.Address}}},
		keys:    map[string]cryptotypes.PubKey{f.app.Address: f.app.Key.PubKey()},
	}
	beURL, err := url.Parse(be.URL)
	require.NoError(t, err)
	f.server = proxy.New("127.0.0.1:0", []proxy.Service{{
		ServiceID: "eth", Supplier: f.sup.Address, Key: f.sup.Key, Backend: beURL,
		Timeout: 300 * time.Millisecond, MaxBodyBytes: 1 << 16, Headers: map[string]string{"X-Api-Key": "secret"},
	}}, f.chain, miner, f.errs, f.metrics)
	for _, l := range limits {
		f.server.SetLimits(l)
	}
	if meter != nil {
		f.server.SetMeter(meter)
	}
	if setup != nil {
		setup(f.server)
	}
	require.NoError(t, f.server.Start(context.Background()))
	t.Cleanup(func() { _ = f.server.Stop(context.Background()) })
	f.url = "http://" + f.server.Addr()
	return f
}

// request builds a signed relay request carrying body.
func (f *fixture) request(t testing.TB, hdr types.SessionHeader, body []byte) *types.RelayRequest {
	payload, err := (&types.HTTPRequest{Method: "POST", Path: "/", Body: body,
		Headers: []types.Header{{Name: "Content-Type", Values: []string{"application/json"}}}}).Marshal()
	require.NoError(t, err)
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	req := &types.RelayRequest{Meta: types.RelayRequestMetadata{SessionHeader: &hdr, SupplierOperatorAddress: f.sup.Address, Nonce: nonce}, Payload: payload}
	relaytest.SignRequest(t, req, f.app.Key)
	return req
}

func (f *fixture) send(t testing.TB, method string, raw []byte) (int, *types.RelayResponse) {
	r, err := http.NewRequest(method, f.url, bytes.NewReader(raw))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	res := &types.RelayResponse{}
	require.NoError(t, res.Unmarshal(body))
	return resp.StatusCode, res
}

func marshal(t testing.TB, req *types.RelayRequest) []byte {
	bz, err := req.Marshal()
	require.NoError(t, err)
	return bz
}

func jsonRPCBackend(t testing.TB) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Seen-Key", r.Header.Get("X-Api-Key"))
		_, _ = fmt.Fprintf(w, `{"jsonrpc":"2.0","id":1,"result":%q}`, body)
	})
}

func TestValidRelayIsServedSignedAndMined(t *testing.T) {
	f := newFixture(t, jsonRPCBackend(t), nil)
	req := f.request(t, f.header, []byte(`{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}`))
	status, res := f.send(t, http.MethodPost, marshal(t, req))
	require.Equal(t, http.StatusOK, status)
	require.Nil(t, res.Error)
	require.NoError(t, protocol.VerifyResponseSignature(res, f.sup.Key.PubKey()))
	require.Equal(t, f.header, *res.Meta.SessionHeader)

	var out types.HTTPResponse
	require.NoError(t, out.Unmarshal(res.Payload))
	require.EqualValues(t, 200, out.StatusCode)
	require.Contains(t, string(out.Body), "eth_blockNumber")
	seen := ""
	for _, h := range out.Headers {
		if h.Name == "X-Seen-Key" {
			seen = h.Values[0]
		}
	}
	require.Equal(t, "secret", seen, "configured backend headers are sent")
	require.Equal(t, 1, f.miner.count())

	key, err := protocol.RelayKey(req)
	require.NoError(t, err)
	require.Equal(t, key, res.Meta.RelayKey, "the response names the request it answers")
	// What is mined is the relay's leaf: compact, canonical, both signatures
	// verifying without the payloads.
	leaf, err := protocol.LeafBytes(f.miner.relays[0])
	require.NoError(t, err)
	mined, err := protocol.DecodeLeaf(leaf)
	require.NoError(t, err)
	require.Empty(t, mined.Res.Payload)
	require.NoError(t, protocol.VerifyResponseSignature(mined.Res, f.sup.Key.PubKey()))
	require.NoError(t, protocol.VerifyRequestSignature(mined.Req, f.app.Key.PubKey()))
}

// TestReplayedRequestIsRefusedAndMinedOnce: the same signed request sent
// twice is served once; the replay gets the typed duplicate error.
func TestReplayedRequestIsRefusedAndMinedOnce(t *testing.T) {
	f := newFixture(t, jsonRPCBackend(t), nil)
	raw := marshal(t, f.request(t, f.header, []byte(`{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}`)))
	status, _ := f.send(t, http.MethodPost, raw)
	require.Equal(t, http.StatusOK, status)
	status, res := f.send(t, http.MethodPost, raw)
	require.Equal(t, http.StatusConflict, status)
	require.Equal(t, types.ErrRelayDuplicate.ABCICode(), res.Error.Code)
	require.Equal(t, 1, f.miner.count())
	// The same call with a fresh nonce is a new relay.
	status, _ = f.send(t, http.MethodPost, marshal(t, f.request(t, f.header, []byte(`{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}`))))
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, 2, f.miner.count())
}

func TestRefusedRelaysGetTypedErrorsAndAreNotMined(t *testing.T) {
	slow := make(chan struct{})
	t.Cleanup(func() { close(slow) })
	f := newFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Slow") != "" {
			select {
			case <-slow:
			case <-r.Context().Done():
			}
		}
		if r.Header.Get("X-Big") != "" {
			_, _ = w.Write(make([]byte, 1<<17))
		}
	}), nil)
	other := relaytest.NewActor()

	tests := []struct {
		name   string
		raw    func() []byte
		method string
		height int64
		status int
		err    error
	}{
		{"not a relay", func() []byte { return []byte("garbage\xff\xff") }, "POST", 2, http.StatusBadRequest, types.ErrRelayBadRequest},
		{"GET", func() []byte { return nil }, "GET", 2, http.StatusMethodNotAllowed, types.ErrRelayMethodNotAllowed},
		{"forged signature", func() []byte {
			req := f.request(t, f.header, []byte(`{}`))
			relaytest.SignRequest(t, req, other.Key)
			return marshal(t, req)
		}, "POST", 2, http.StatusUnauthorized, types.ErrRelayInvalidSignature},
		{"tampered payload", func() []byte {
			req := f.request(t, f.header, []byte(`{}`))
			req.Payload = append(req.Payload, 0x22, 0)
			return marshal(t, req)
		}, "POST", 2, http.StatusUnauthorized, types.ErrRelayInvalidSignature},
		{"wrong session id", func() []byte {
			h := f.header
			h.SessionId = protocol.SessionID([]byte("x"), "eth", f.app.Address, 1)
			return marshal(t, f.request(t, h, []byte(`{}`)))
		}, "POST", 2, http.StatusForbidden, types.ErrRelayWrongSession},
		{"unknown service", func() []byte {
			h := f.header
			h.ServiceId = "btc"
			return marshal(t, f.request(t, h, []byte(`{}`)))
		}, "POST", 2, http.StatusNotFound, types.ErrRelayUnknownService},
		{"session over", func() []byte { return marshal(t, f.request(t, f.header, []byte(`{}`))) }, "POST", 100, http.StatusGone, types.ErrRelaySessionOver},
		{"payload too large", func() []byte { return marshal(t, f.request(t, f.header, make([]byte, 1<<17))) }, "POST", 2, http.StatusRequestEntityTooLarge, types.ErrRelayBodyTooLarge},
		{"compact form on the wire", func() []byte {
			req := f.request(t, f.header, []byte(`{}`))
			c, err := protocol.CompactRequest(req)
			require.NoError(t, err)
			return marshal(t, &c)
		}, "POST", 2, http.StatusBadRequest, types.ErrRelayBadRequest},
		{"nonce too long", func() []byte {
			req := f.request(t, f.header, []byte(`{}`))
			req.Meta.Nonce = make([]byte, protocol.MaxNonceSize+1)
			relaytest.SignRequest(t, req, f.app.Key)
			return marshal(t, req)
		}, "POST", 2, http.StatusBadRequest, types.ErrRelayBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.chain.setHeight(tt.height)
			status, res := f.send(t, tt.method, tt.raw())
			require.Equal(t, tt.status, status)
			require.NotNil(t, res.Error)
			require.Equal(t, types.RelayCodespace, res.Error.Codespace)
			require.Equal(t, tt.err.(interface{ ABCICode() uint32 }).ABCICode(), res.Error.Code, res.Error.Message)
		})
	}

	backendCases := []struct {
		name   string
		header string
		status int
		err    error
	}{
		{"backend timeout", "X-Slow", http.StatusGatewayTimeout, types.ErrRelayBackendTimeout},
		{"backend response too large", "X-Big", http.StatusRequestEntityTooLarge, types.ErrRelayBodyTooLarge},
	}
	f.chain.setHeight(2)
	for _, tt := range backendCases {
		t.Run(tt.name, func(t *testing.T) {
			payload, err := (&types.HTTPRequest{Method: "POST", Path: "/", Headers: []types.Header{{Name: tt.header, Values: []string{"1"}}}}).Marshal()
			require.NoError(t, err)
			hdr := f.header
			req := &types.RelayRequest{Meta: types.RelayRequestMetadata{SessionHeader: &hdr, SupplierOperatorAddress: f.sup.Address}, Payload: payload}
			relaytest.SignRequest(t, req, f.app.Key)
			status, res := f.send(t, "POST", marshal(t, req))
			require.Equal(t, tt.status, status)
			require.Equal(t, tt.err.(interface{ ABCICode() uint32 }).ABCICode(), res.Error.Code, res.Error.Message)
		})
	}
	require.Zero(t, f.miner.count(), "no refused relay is mined")
}

func TestSupplierNotInSessionIsRefused(t *testing.T) {
	f := newFixture(t, jsonRPCBackend(t), nil)
	f.chain.session.Suppliers = []types.Supplier{{OperatorAddress: relaytest.NewActor().Address}}
	status, res := f.send(t, "POST", marshal(t, f.request(t, f.header, []byte(`{}`))))
	require.Equal(t, http.StatusForbidden, status)
	require.Equal(t, types.ErrRelayWrongSession.ABCICode(), res.Error.Code)
	require.Zero(t, f.miner.count())
}

// Forged session headers are refused from local checks alone: a flood of
// them costs the chain nothing.
func TestForgedSessionsCostNoChainQuery(t *testing.T) {
	f := newFixture(t, jsonRPCBackend(t), nil)
	forged := []func(h *types.SessionHeader, i int){
		func(h *types.SessionHeader, i int) { // random id
			h.SessionId = protocol.SessionID([]byte{byte(i)}, "eth", h.ApplicationAddress, 1)
		},
		func(h *types.SessionHeader, i int) { // another application, its id recomputed
			h.ApplicationAddress = relaytest.NewActor().Address
		},
		func(h *types.SessionHeader, i int) { h.SessionEndBlockHeight = 7 },                                // not a session's range
		func(h *types.SessionHeader, i int) { h.SessionStartBlockHeight, h.SessionEndBlockHeight = 9, 12 }, // future
	}
	for i := 0; i < 40; i++ {
		h := f.header
		forged[i%len(forged)](&h, i)
		status, res := f.send(t, "POST", marshal(t, f.request(t, h, []byte(`{}`))))
		require.Equal(t, http.StatusForbidden, status, res.Error.GetMessage())
		require.Equal(t, types.ErrRelayWrongSession.ABCICode(), res.Error.Code)
	}
	require.Zero(t, f.chain.sessionQueries.Load(), "no forged header reached the chain")
	require.Zero(t, f.miner.count())

	// The real session still works, with one query.
	status, _ := f.send(t, "POST", marshal(t, f.request(t, f.header, []byte(`{}`))))
	require.Equal(t, http.StatusOK, status)
	require.EqualValues(t, 1, f.chain.sessionQueries.Load())
}

// TestAnswerAfterTheGracePeriodIsRefusedAndNotMined: a backend that answers
// after the session's grace period ended (the chain moved on while it held
// the relay) gets the relay refused as session over, and nothing is mined.
func TestAnswerAfterTheGracePeriodIsRefusedAndNotMined(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	f := newFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":1,"result":"0x1"}`))
	}), nil)
	raw := marshal(t, f.request(t, f.header, []byte(`{}`)))
	done := make(chan int, 1)
	go func() { // no require here: only the test's goroutine may stop it
		resp, err := http.Post(f.url, "application/x-protobuf", bytes.NewReader(raw))
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-arrived
	w := protocol.SessionWindows(f.chain.params, f.header.SessionEndBlockHeight)
	f.chain.setHeight(w.GracePeriodEnd + 1)
	close(release)
	require.Equal(t, http.StatusGone, <-done)
	require.Zero(t, f.miner.count())
}

// failingMiner cannot make relays durable (a full disk).
type failingMiner struct{ fakeMiner }

func (*failingMiner) Mine(context.Context, *types.RelayRequest, *types.RelayResponse, []byte) error {
	return fmt.Errorf("logging relay: %w", miner.ErrStoreUnavailable)
}

// TestRelayThatCannotBeMadeDurableIsRefusedWith503: a relay is answered
// only once it is durable; while the store cannot write, the application
// gets the typed store error and may try another supplier.
func TestRelayThatCannotBeMadeDurableIsRefusedWith503(t *testing.T) {
	f := newFixture(t, jsonRPCBackend(t), &failingMiner{})
	status, res := f.send(t, http.MethodPost, marshal(t, f.request(t, f.header, []byte(`{}`))))
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.Equal(t, types.ErrRelayStoreUnavailable.ABCICode(), res.Error.Code)
	require.Empty(t, res.Payload, "no answer without a durable relay")
}

// fakeMeter admits budget relays; released ones are admitted again.
type fakeMeter struct {
	mu       sync.Mutex
	budget   int
	used     int
	released int
}

func (m *fakeMeter) Reserve(context.Context, types.SessionHeader, string) (func(), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.used >= m.budget {
		return nil, errorsmod.Wrap(types.ErrRelayOverServiced, "budget used")
	}
	m.used++
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.used--
		m.released++
	}, nil
}

// TestOverServicedRelayIsRefusedBeforeTheBackendAndNotMined: a relay past
// the meter's budget gets 429 and the typed error; the backend never sees
// it and it is not mined. A relay the backend fails gives its place back.
func TestOverServicedRelayIsRefusedBeforeTheBackendAndNotMined(t *testing.T) {
	var calls atomic.Int64
	fail := atomic.Bool{}
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if fail.Load() {
			if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
				_ = c.Close() // a backend dropping the connection
			}
			return
		}
		jsonRPCBackend(t).ServeHTTP(w, r)
	})
	m := &fakeMeter{budget: 2}
	f := newMeteredFixture(t, backend, nil, m)
	send := func() (int, *types.RelayResponse) {
		return f.send(t, http.MethodPost, marshal(t, f.request(t, f.header, []byte(`{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}`))))
	}

	status, _ := send()
	require.Equal(t, http.StatusOK, status)
	fail.Store(true)
	status, res := send()
	require.Equal(t, http.StatusBadGateway, status, "%v", res.Error)
	require.Equal(t, 1, m.released, "the failed relay was not served: its units are given back")
	fail.Store(false)
	status, _ = send()
	require.Equal(t, http.StatusOK, status)

	status, res = send()
	require.Equal(t, http.StatusTooManyRequests, status)
	require.NotNil(t, res.Error)
	require.ErrorIs(t, res.Error.Err(), types.ErrRelayOverServiced)
	require.Empty(t, res.Payload)
	require.EqualValues(t, 3, calls.Load(), "the refused relay never reached the backend")
	require.Equal(t, 2, f.miner.count(), "only the served relays are mined")
	require.Contains(t, metricstest.RenderMetrics(t, f.metrics.Registry), `relayminer_relays_failed_total{reason="over_serviced",service="eth"} 1`)
}
