package appgate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"cosmossdk.io/log"
	"github.com/cosmos/cosmos-sdk/crypto/keys/secp256k1"
	cryptotypes "github.com/cosmos/cosmos-sdk/crypto/types"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/appgate"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

const (
	service = "svc"
	appAddr = "app1"
)

// fakeChain serves sessions of service from a function of the height; the
// application is staked for no other service.
type fakeChain struct {
	mu      sync.Mutex
	height  int64
	session func(h int64) (types.Session, error)
	params  types.Params
	pubs    map[string]cryptotypes.PubKey
	queries int
}

func (c *fakeChain) LatestHeight() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.height
}

func (c *fakeChain) CurrentSession(_ context.Context, app, svc string) (types.Session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if app != appAddr {
		return types.Session{}, fmt.Errorf("unexpected application %q", app)
	}
	if svc != service {
		return types.Session{}, types.ErrApplicationNotForService.Wrapf("application %s is not staked for service %q", app, svc)
	}
	c.queries++
	return c.session(c.height)
}

func (c *fakeChain) ParamsAt(context.Context, int64) (types.Params, error) { return c.params, nil }

func (c *fakeChain) PubKey(_ context.Context, addr string) (cryptotypes.PubKey, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if pk, ok := c.pubs[addr]; ok {
		return pk, nil
	}
	return nil, fmt.Errorf("account %s has no public key", addr)
}

func (c *fakeChain) setHeight(h int64) {
	c.mu.Lock()
	c.height = h
	c.mu.Unlock()
}

func (c *fakeChain) setSessions(f func(h int64) (types.Session, error)) {
	c.mu.Lock()
	c.session = f
	c.mu.Unlock()
}

func (c *fakeChain) queryCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queries
}

// behavior is how a fake supplier answers one relay.
type behavior int

const (
	serve        behavior = iota
	forge                 // signs with a key that is not the supplier's
	wrongHeader           // answers for another session
	otherRequest          // answers naming another request
	garbage               // answers bytes that are not a RelayResponse
	hang                  // answers only when the request is abandoned
	refuseWrongSession
	refuseExpired
	refuseBackend
	refuseOverServiced
)

// fakeSupplier is a RelayMiner stand-in: it checks the application's
// signature and answers per its behavior.
type fakeSupplier struct {
	t      *testing.T
	name   string
	key    *secp256k1.PrivKey
	appPub cryptotypes.PubKey
	srv    *httptest.Server

	mu       sync.Mutex
	behave   func(req *types.RelayRequest) behavior
	backend  func(in *types.HTTPRequest) *types.HTTPResponse
	requests []*types.RelayRequest
}

func newFakeSupplier(t *testing.T, name string, appPub cryptotypes.PubKey) *fakeSupplier {
	s := &fakeSupplier{t: t, name: name, key: secp256k1.GenPrivKey(), appPub: appPub}
	s.behave = func(*types.RelayRequest) behavior { return serve }
	s.backend = func(in *types.HTTPRequest) *types.HTTPResponse {
		return &types.HTTPResponse{StatusCode: 200,
			Headers: []types.Header{{Name: "Content-Type", Values: []string{"application/json"}}},
			Body:    []byte(fmt.Sprintf(`{"supplier":%q,"path":%q}`, name, in.Path))}
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *fakeSupplier) set(b behavior) { s.setFunc(func(*types.RelayRequest) behavior { return b }) }

func (s *fakeSupplier) setFunc(f func(req *types.RelayRequest) behavior) {
	s.mu.Lock()
	s.behave = f
	s.mu.Unlock()
}

func (s *fakeSupplier) hits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

func (s *fakeSupplier) last() *types.RelayRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[len(s.requests)-1]
}

func (s *fakeSupplier) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := &types.RelayRequest{}
	if err := req.Unmarshal(body); err != nil {
		s.t.Errorf("%s: not a RelayRequest: %v", s.name, err)
		return
	}
	if err := protocol.VerifyRequestSignature(req, s.appPub); err != nil {
		s.t.Errorf("%s: %v", s.name, err)
	}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	b, backend := s.behave(req), s.backend
	s.mu.Unlock()

	refuse := func(status int, e interface{ ABCICode() uint32 }) {
		res := &types.RelayResponse{Meta: types.RelayResponseMetadata{SessionHeader: req.Meta.SessionHeader},
			Error: &types.RelayError{Codespace: types.RelayCodespace, Code: e.ABCICode(), Message: "refused by " + s.name}}
		bz, _ := res.Marshal()
		w.WriteHeader(status)
		_, _ = w.Write(bz)
	}
	switch b {
	case garbage:
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("<html>oops</html>"))
		return
	case hang:
		<-r.Context().Done()
		return
	case refuseWrongSession:
		refuse(http.StatusForbidden, types.ErrRelayWrongSession)
		return
	case refuseExpired:
		refuse(http.StatusGone, types.ErrRelaySessionOver)
		return
	case refuseBackend:
		refuse(http.StatusBadGateway, types.ErrRelayBackendFailed)
		return
	case refuseOverServiced:
		refuse(http.StatusTooManyRequests, types.ErrRelayOverServiced)
		return
	}
	in := &types.HTTPRequest{}
	require.NoError(s.t, in.Unmarshal(req.Payload))
	payload, err := backend(in).Marshal()
	require.NoError(s.t, err)
	hdr := *req.Meta.SessionHeader
	if b == wrongHeader {
		hdr.SessionId = strings.Repeat("ab", 32)
	}
	relayKey, err := protocol.RelayKey(req)
	require.NoError(s.t, err)
	if b == otherRequest {
		relayKey = bytes.Repeat([]byte{7}, len(relayKey))
	}
	res := &types.RelayResponse{Meta: types.RelayResponseMetadata{SessionHeader: &hdr, RelayKey: relayKey}, Payload: payload}
	signable, err := protocol.ResponseSignableBytes(res)
	require.NoError(s.t, err)
	key := s.key
	if b == forge {
		key = secp256k1.GenPrivKey()
	}
	res.Meta.SupplierSignature, err = key.Sign(signable)
	require.NoError(s.t, err)
	bz, err := res.Marshal()
	require.NoError(s.t, err)
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(bz)
}

// harness is a Gateway over a fake chain whose sessions hold the fake
// suppliers.
type harness struct {
	t       *testing.T
	chain   *fakeChain
	sups    []*fakeSupplier
	gw      *appgate.Gateway
	metrics *appgate.Metrics
	url     string
}

func params() types.Params {
	p := types.DefaultParams()
	p.NumBlocksPerSession = 4
	p.GracePeriodEndOffsetBlocks = 1
	return p
}

func newHarness(t *testing.T, nSuppliers int, opts appgate.Options) *harness {
	return newHarnessWith(t, nSuppliers, opts, nil)
}

// newHarnessWith is newHarness that setup sets up (if not nil) before the
// gateway reads its first sessions.
func newHarnessWith(t *testing.T, nSuppliers int, opts appgate.Options, setup func(*harness)) *harness {
	appKey := secp256k1.GenPrivKey()
	h := &harness{t: t, chain: &fakeChain{height: 6, params: params(), pubs: map[string]cryptotypes.PubKey{}}}
	for i := range nSuppliers {
		s := newFakeSupplier(t, fmt.Sprintf("sup%c", 'A'+i), appKey.PubKey())
		h.chain.pubs[s.name] = s.key.PubKey()
		h.sups = append(h.sups, s)
	}
	h.chain.session = func(height int64) (types.Session, error) { return h.sessionAt(height, h.sups...), nil }
	h.metrics = appgate.NewMetrics()
	h.gw = appgate.NewGateway(appgate.Signer{Address: appAddr, Key: appKey}, []string{service, "other"}, h.chain, opts, log.NewTestLoggerError(t), h.metrics)
	srv := httptest.NewServer(h.gw)
	t.Cleanup(srv.Close)
	h.url = srv.URL
	if setup != nil {
		setup(h)
	}
	h.gw.OnBlock(context.Background(), h.chain.LatestHeight())
	return h
}

// sessionAt is the session holding height with the given suppliers.
func (h *harness) sessionAt(height int64, sups ...*fakeSupplier) types.Session {
	p := h.chain.params
	start := protocol.SessionStartHeight(p.NumBlocksPerSession, height)
	s := types.Session{Header: types.SessionHeader{
		ApplicationAddress: appAddr, ServiceId: service,
		SessionId:               protocol.SessionID(nil, service, appAddr, start),
		SessionStartBlockHeight: start, SessionEndBlockHeight: protocol.SessionEndHeight(p.NumBlocksPerSession, height),
	}}
	for _, sup := range sups {
		s.Suppliers = append(s.Suppliers, types.Supplier{OperatorAddress: sup.name,
			Services: []types.SupplierService{{ServiceId: service, EndpointUrl: sup.srv.URL}}})
	}
	return s
}

// advance moves the chain to height and hands the block to the gateway.
func (h *harness) advance(height int64) {
	h.chain.setHeight(height)
	h.gw.OnBlock(context.Background(), height)
}

// do sends a request and returns the status, headers and body.
func (h *harness) do(method, path string, body io.Reader, header http.Header) (int, http.Header, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, body)
	require.NoError(h.t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	return resp.StatusCode, resp.Header, out
}

// get relays GET path and requires a 200.
func (h *harness) get(path string) []byte {
	h.t.Helper()
	status, _, body := h.do(http.MethodGet, path, nil, nil)
	require.Equal(h.t, http.StatusOK, status, "%s", body)
	return body
}

// apiError is the AppGate's JSON error body.
type apiError struct {
	Error struct {
		Code     string `json:"code"`
		Message  string `json:"message"`
		Attempts []struct {
			Supplier  string `json:"supplier"`
			SessionID string `json:"session_id"`
			Reason    string `json:"reason"`
			Message   string `json:"message"`
		} `json:"attempts"`
	} `json:"error"`
}

// failure sends a request that must fail with status and code.
func (h *harness) failure(method, path string, body io.Reader, header http.Header, status int, code string) apiError {
	h.t.Helper()
	got, hdr, raw := h.do(method, path, body, header)
	require.Equal(h.t, status, got, "%s", raw)
	require.Equal(h.t, "application/json", hdr.Get("Content-Type"))
	var e apiError
	require.NoError(h.t, json.Unmarshal(raw, &e), "%s", raw)
	require.Equal(h.t, code, e.Error.Code, "%s", raw)
	require.NotEmpty(h.t, e.Error.Message)
	return e
}

// relays reads the appgate_relays_total counter.
func (h *harness) relays(supplier, outcome string) float64 {
	fams, err := h.metrics.Registry.Gather()
	require.NoError(h.t, err)
	for _, f := range fams {
		if f.GetName() != "appgate_relays_total" {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			want := map[string]string{"service": service, "supplier": supplier, "outcome": outcome}
			for _, l := range m.GetLabel() {
				if want[l.GetName()] != l.GetValue() {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// within fails the test if f takes longer than d.
func within(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	start := time.Now()
	f()
	require.Less(t, time.Since(start), d)
}
