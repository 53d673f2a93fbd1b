package appgate_test

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/appgate"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

func TestRequestReachesTheBackendAndTheAnswerComesBackUnchanged(t *testing.T) {
	h := newHarness(t, 1, appgate.Options{})
	sup := h.sups[0]
	sup.backend = func(in *types.HTTPRequest) *types.HTTPResponse {
		return &types.HTTPResponse{StatusCode: http.StatusTeapot, Body: []byte("short and stout"), Headers: []types.Header{
			{Name: "X-Backend", Values: []string{"one", "two"}},
			{Name: "Content-Type", Values: []string{"text/plain"}},
			{Name: "Connection", Values: []string{"close"}},
		}}
	}
	header := http.Header{
		"X-Custom":   {"a", "b"},
		"Connection": {"X-Hop"},
		"X-Hop":      {"dropped"},
	}
	status, got, body := h.do(http.MethodPut, "/svc/v1/blocks/3?full=true&x=%2F", strings.NewReader("payload"), header)
	require.Equal(t, http.StatusTeapot, status)
	require.Equal(t, "short and stout", string(body))
	require.Equal(t, []string{"one", "two"}, got.Values("X-Backend"))
	require.Equal(t, "text/plain", got.Get("Content-Type"))

	req := sup.last()
	require.Equal(t, sup.name, req.Meta.SupplierOperatorAddress)
	require.Equal(t, h.sessionAt(6).Header, *req.Meta.SessionHeader)
	in := &types.HTTPRequest{}
	require.NoError(t, in.Unmarshal(req.Payload))
	require.Equal(t, http.MethodPut, in.Method)
	require.Equal(t, "/v1/blocks/3?full=true&x=%2F", in.Path)
	require.Equal(t, "payload", string(in.Body))
	names := map[string][]string{}
	for _, hd := range in.Headers {
		names[hd.Name] = hd.Values
	}
	require.Equal(t, []string{"a", "b"}, names["X-Custom"])
	require.NotContains(t, names, "Connection")
	require.NotContains(t, names, "X-Hop", "headers named by Connection are hop-by-hop")

	// The service root, with or without the slash, is the backend's root.
	for _, path := range []string{"/svc", "/svc/"} {
		status, _, _ := h.do(http.MethodGet, path, nil, nil)
		require.Equal(t, http.StatusTeapot, status)
		in := &types.HTTPRequest{}
		require.NoError(t, in.Unmarshal(sup.last().Payload))
		require.Equal(t, "/", in.Path)
		require.Equal(t, http.MethodGet, in.Method)
	}
}

func TestLoadIsSpreadOverTheSessionsSuppliers(t *testing.T) {
	h := newHarness(t, 3, appgate.Options{})
	for range 12 {
		h.get("/svc/")
	}
	for _, s := range h.sups {
		require.Equal(t, 4, s.hits(), s.name)
	}
}

func TestForgedSupplierSignatureIsRetriedOnTheOtherSupplier(t *testing.T) {
	h := newHarness(t, 2, appgate.Options{})
	a, b := h.sups[0], h.sups[1]
	a.set(forge)
	for range 6 {
		require.Contains(t, string(h.get("/svc/x")), `"supplier":"supB"`)
	}
	require.Equal(t, 1, a.hits(), "a supplier that failed is tried last for a while")
	require.Equal(t, 6, b.hits())
	require.EqualValues(t, 1, h.relays("supA", "bad_signature"))
	require.EqualValues(t, 6, h.relays("supB", "ok"))
}

func TestEveryUnverifiableAnswerIsRetriedOnTheOtherSupplier(t *testing.T) {
	for _, tc := range []struct {
		b      behavior
		reason string
	}{
		{wrongHeader, "wrong_session_header"},
		{otherRequest, "bad_response"},
		{garbage, "bad_response"},
		{refuseBackend, "refused"},
		{refuseOverServiced, "over_serviced"},
		{forge, "bad_signature"},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			h := newHarness(t, 2, appgate.Options{})
			h.sups[0].set(tc.b)
			h.get("/svc/")
			require.Equal(t, 1, h.sups[0].hits())
			require.Equal(t, 1, h.sups[1].hits())
			require.EqualValues(t, 1, h.relays("supA", tc.reason))
		})
	}
}

func TestStoppedSupplierIsSkipped(t *testing.T) {
	h := newHarness(t, 2, appgate.Options{})
	h.sups[0].srv.Close()
	for range 10 {
		require.Contains(t, string(h.get("/svc/")), "supB")
	}
	require.EqualValues(t, 1, h.relays("supA", "unreachable"))
	require.EqualValues(t, 10, h.relays("supB", "ok"))
}

func TestFailedSupplierGetsTrafficAgainAfterTheFailureMemory(t *testing.T) {
	h := newHarness(t, 2, appgate.Options{FailureMemory: 200 * time.Millisecond})
	a := h.sups[0]
	a.set(garbage)
	for range 4 {
		h.get("/svc/")
	}
	require.Equal(t, 1, a.hits())
	a.set(serve)
	time.Sleep(250 * time.Millisecond)
	for range 4 {
		h.get("/svc/")
	}
	require.Equal(t, 3, a.hits(), "back in the rotation")
}

func TestWhenEverySupplierFailedTheOnesThatFailedAreStillTried(t *testing.T) {
	h := newHarness(t, 2, appgate.Options{})
	h.sups[0].set(garbage)
	h.sups[1].set(garbage)
	h.failure(http.MethodGet, "/svc/", nil, nil, http.StatusBadGateway, appgate.CodeSuppliersFailed)
	h.sups[1].set(serve)
	h.get("/svc/")
}

func TestAllSuppliersFailingIs502WithEachAttempt(t *testing.T) {
	h := newHarness(t, 2, appgate.Options{})
	h.sups[0].set(forge)
	h.sups[1].srv.Close()
	e := h.failure(http.MethodPost, "/svc/", strings.NewReader("{}"), nil, http.StatusBadGateway, appgate.CodeSuppliersFailed)
	require.Len(t, e.Error.Attempts, 2)
	reasons := map[string]string{}
	for _, a := range e.Error.Attempts {
		reasons[a.Supplier] = a.Reason
		require.Equal(t, h.sessionAt(6).Header.SessionId, a.SessionID)
	}
	require.Equal(t, map[string]string{"supA": "bad_signature", "supB": "unreachable"}, reasons)
}

// TestOverServicedApplicationIs429WhenEverySupplierRefuses: a supplier
// that is paid no more for the session refuses with the typed error; the
// other supplier serves the request; once both refuse, the client gets the
// AppGate's own 429 with each attempt.
func TestOverServicedApplicationIs429WhenEverySupplierRefuses(t *testing.T) {
	h := newHarness(t, 2, appgate.Options{})
	h.sups[0].set(refuseOverServiced)
	require.Contains(t, string(h.get("/svc/x")), `"supplier":"supB"`)
	h.sups[1].set(refuseOverServiced)
	e := h.failure(http.MethodGet, "/svc/x", nil, nil, http.StatusTooManyRequests, appgate.CodeApplicationOverServiced)
	require.Len(t, e.Error.Attempts, 2)
	for _, a := range e.Error.Attempts {
		require.Equal(t, "over_serviced", a.Reason)
	}
	// A mix of reasons is still a 502.
	h.sups[0].set(garbage)
	h.failure(http.MethodGet, "/svc/x", nil, nil, http.StatusBadGateway, appgate.CodeSuppliersFailed)
}

func TestHangingSupplierLeavesTimeForAnother(t *testing.T) {
	h := newHarness(t, 2, appgate.Options{RequestTimeout: 2 * time.Second})
	h.sups[0].set(hang)
	within(t, 1900*time.Millisecond, func() { require.Contains(t, string(h.get("/svc/")), "supB") })
	require.EqualValues(t, 1, h.relays("supA", "timeout"))
}

func TestDeadlineIs504(t *testing.T) {
	h := newHarness(t, 2, appgate.Options{RequestTimeout: 300 * time.Millisecond})
	h.sups[0].set(hang)
	h.sups[1].set(hang)
	within(t, 2*time.Second, func() {
		e := h.failure(http.MethodGet, "/svc/", nil, nil, http.StatusGatewayTimeout, appgate.CodeTimeout)
		require.Len(t, e.Error.Attempts, 2)
	})
}

func TestMalformedRequestsGetJSONErrors(t *testing.T) {
	h := newHarness(t, 1, appgate.Options{MaxBodyBytes: 1000})
	t.Run("unknown service", func(t *testing.T) {
		for _, path := range []string{"/nope/x", "/", "/svcs"} {
			e := h.failure(http.MethodGet, path, nil, nil, http.StatusNotFound, appgate.CodeUnknownService)
			require.Contains(t, e.Error.Message, "served: /svc/, /other/")
		}
	})
	t.Run("body over the limit", func(t *testing.T) {
		h.failure(http.MethodPost, "/svc/", bytes.NewReader(make([]byte, 1001)), nil, http.StatusRequestEntityTooLarge, appgate.CodeBodyTooLarge)
		// Without a Content-Length (chunked), the limit holds while reading.
		h.failure(http.MethodPost, "/svc/", struct{ *bytes.Reader }{bytes.NewReader(make([]byte, 5000))}, nil, http.StatusRequestEntityTooLarge, appgate.CodeBodyTooLarge)
		status, _, _ := h.do(http.MethodPost, "/svc/", bytes.NewReader(make([]byte, 1000)), nil)
		require.Equal(t, http.StatusOK, status, "a body at the limit is relayed")
	})
	t.Run("service the application is not staked for", func(t *testing.T) {
		e := h.failure(http.MethodGet, "/other/", nil, nil, http.StatusForbidden, appgate.CodeApplicationNotStaked)
		require.Contains(t, e.Error.Message, `application app1 is not staked for service "other"`)
	})
	require.Equal(t, 1, h.sups[0].hits(), "only the request at the limit reached a supplier")
}

func TestNoSessionErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   string
		says   string
	}{
		{"application not staked for the service", types.ErrApplicationNotForService.Wrapf("application %s is not staked for service %q", appAddr, service),
			http.StatusForbidden, appgate.CodeApplicationNotStaked, `is not staked for service "svc"`},
		{"application not staked", types.ErrApplicationNotFound.Wrapf("application %s is not staked", appAddr),
			http.StatusForbidden, appgate.CodeApplicationNotStaked, "application app1 is not staked"},
		{"application not active yet", types.ErrApplicationNotActive.Wrap("active from height 9"),
			http.StatusServiceUnavailable, appgate.CodeApplicationNotActive, "application app1 has no active stake"},
		{"service not on chain", types.ErrServiceNotFound.Wrap(service),
			http.StatusNotFound, appgate.CodeUnknownService, "does not exist on chain"},
		{"chain unreachable", errors.New("connection refused"),
			http.StatusServiceUnavailable, appgate.CodeNoSession, "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, 1, appgate.Options{})
			h.chain.setSessions(func(int64) (types.Session, error) { return types.Session{}, tc.err })
			h.advance(10) // the cached session and its grace period are over
			e := h.failure(http.MethodGet, "/svc/", nil, nil, tc.status, tc.code)
			require.Contains(t, e.Error.Message, tc.says)
		})
	}
}

func TestSessionWithoutSuppliersIs503(t *testing.T) {
	h := newHarness(t, 1, appgate.Options{})
	h.chain.setSessions(func(height int64) (types.Session, error) { return h.sessionAt(height), nil })
	h.advance(10)
	h.failure(http.MethodGet, "/svc/", nil, nil, http.StatusServiceUnavailable, appgate.CodeNoSuppliers)
}

func TestChainIsAskedOncePerBlockForAMissingSession(t *testing.T) {
	h := newHarness(t, 1, appgate.Options{})
	h.chain.setSessions(func(int64) (types.Session, error) {
		return types.Session{}, types.ErrApplicationNotForService.Wrap("not staked")
	})
	h.advance(10)
	before := h.chain.queryCount()
	for range 10 {
		h.failure(http.MethodGet, "/svc/", nil, nil, http.StatusForbidden, appgate.CodeApplicationNotStaked)
	}
	require.Equal(t, before, h.chain.queryCount(), "the block's answer is reused")
	h.chain.setSessions(func(height int64) (types.Session, error) { return h.sessionAt(height, h.sups...), nil })
	h.advance(11)
	h.get("/svc/")
	require.Equal(t, before+1, h.chain.queryCount())
}

func TestSessionIsCachedUntilItEnds(t *testing.T) {
	h := newHarness(t, 2, appgate.Options{})
	start := h.chain.queryCount()
	for height := int64(6); height <= 8; height++ { // session 5-8
		h.advance(height)
		for range 3 {
			h.get("/svc/")
		}
	}
	require.Equal(t, start, h.chain.queryCount())
	h.advance(9)
	require.Equal(t, start+1, h.chain.queryCount(), "asked once the session ended")
}

func TestSessionRollover(t *testing.T) {
	h := newHarness(t, 2, appgate.Options{})
	old := h.sessionAt(8).Header // 5-8, grace period to 9
	next := h.sessionAt(9).Header
	sessionOf := func(s *fakeSupplier) string { return s.last().Meta.SessionHeader.SessionId }

	h.advance(8)
	h.get("/svc/")
	require.Equal(t, old.SessionId, sessionOf(h.sups[0]))

	// At the new session's first block, suppliers may not have seen it yet:
	// the previous session, still in its grace period, goes first.
	h.advance(9)
	h.get("/svc/")
	require.Equal(t, old.SessionId, sessionOf(h.sups[1]))

	// A supplier already past the grace period refuses it: the new session
	// is tried next (here with the same supplier, whose turn it is), and
	// the supplier is not counted as failed.
	h.sups[0].setFunc(func(req *types.RelayRequest) behavior {
		if req.Meta.SessionHeader.SessionId == old.SessionId {
			return refuseExpired
		}
		return serve
	})
	h.get("/svc/")
	require.Equal(t, next.SessionId, sessionOf(h.sups[0]))
	require.Equal(t, 1, h.sups[1].hits(), "supB was not needed")

	// Past the grace period only the new session is used.
	h.advance(10)
	for range 4 {
		h.get("/svc/")
	}
	require.Equal(t, next.SessionId, sessionOf(h.sups[0]))
	require.Equal(t, next.SessionId, sessionOf(h.sups[1]))
	require.Equal(t, 3, h.sups[1].hits(), "supA was not marked failed by the refusal")
}

func TestEverySupplierRefusingTheSessionIsAskedAgain(t *testing.T) {
	// The gateway and its suppliers see the chain a block apart: every
	// supplier refuses the session once, then accepts it.
	h := newHarness(t, 2, appgate.Options{})
	h.advance(10)
	var mu sync.Mutex
	refused := map[string]bool{}
	for _, s := range h.sups {
		s.setFunc(func(req *types.RelayRequest) behavior {
			mu.Lock()
			defer mu.Unlock()
			if !refused[s.name] {
				refused[s.name] = true
				return refuseWrongSession
			}
			return serve
		})
	}
	h.get("/svc/")
	require.EqualValues(t, 1, h.relays("supA", "refused"))
	require.EqualValues(t, 1, h.relays("supB", "refused"))
}

func TestLaggingNodeDoesNotMoveTheGatewayBack(t *testing.T) {
	h := newHarness(t, 1, appgate.Options{})
	h.advance(13) // session 13-16
	h.chain.setSessions(func(int64) (types.Session, error) { return h.sessionAt(9, h.sups...), nil })
	h.advance(17) // in 13-16's grace period, a node answers with 9-12
	h.get("/svc/")
	require.Equal(t, h.sessionAt(13).Header, *h.sups[0].last().Meta.SessionHeader)
}

func TestConcurrentRequests(t *testing.T) {
	h := newHarness(t, 3, appgate.Options{})
	h.sups[1].set(forge)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 20 {
				h.advance(9)
			}
			status, _, body := h.do(http.MethodPost, "/svc/", strings.NewReader(`{"id":1}`), nil)
			if status != http.StatusOK {
				t.Errorf("request %d: %d %s", i, status, body)
			}
		}()
	}
	wg.Wait()
	require.EqualValues(t, 40, h.relays("supA", "ok")+h.relays("supC", "ok"))
}

func TestBodilessStatusesStayBodiless(t *testing.T) {
	h := newHarness(t, 1, appgate.Options{})
	for _, code := range []uint32{http.StatusNoContent, http.StatusNotModified} {
		h.sups[0].backend = func(*types.HTTPRequest) *types.HTTPResponse {
			return &types.HTTPResponse{StatusCode: code, Headers: []types.Header{{Name: "Etag", Values: []string{`"v1"`}}}}
		}
		status, hdr, body := h.do(http.MethodGet, "/svc/", nil, nil)
		require.EqualValues(t, code, status)
		require.Empty(t, body)
		require.Equal(t, `"v1"`, hdr.Get("Etag"))
		require.Empty(t, hdr.Values("Content-Length"))
	}
}
