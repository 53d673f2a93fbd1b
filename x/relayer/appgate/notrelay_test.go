package appgate_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/metricstest"
	"github.com/pokt-network/poktroll/x/relayer/appgate"
	"github.com/pokt-network/poktroll/x/relayer/appgate/config"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

const page = "https://app.example.com"

// preflight is a browser's CORS preflight for a POST from origin.
func preflight(origin string) http.Header {
	return http.Header{"Origin": {origin}, "Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"content-type,x-custom"}}
}

// TestPreflightIsAnsweredByTheAppGateAndNotRelayed: a CORS preflight from
// an allowed origin gets 204 with what it asked for; from another origin a
// 403 origin_not_allowed naming the config field. Neither reaches a
// supplier (nothing is relayed, nothing mined). The real request from an
// allowed page may read its answer; the backend's own CORS headers never
// pass.
func TestPreflightIsAnsweredByTheAppGateAndNotRelayed(t *testing.T) {
	h := newHarness(t, 1, appgate.Options{CORS: config.CORS{AllowedOrigins: []string{page}, MaxAge: 5 * time.Minute}})
	sup := h.sups[0]
	sup.backend = func(*types.HTTPRequest) *types.HTTPResponse {
		return &types.HTTPResponse{StatusCode: 200, Body: []byte(`{}`), Headers: []types.Header{
			{Name: "Access-Control-Allow-Origin", Values: []string{"*"}},
			{Name: "Access-Control-Allow-Credentials", Values: []string{"true"}},
			{Name: "Vary", Values: []string{"Accept-Encoding"}},
		}}
	}

	status, got, body := h.do(http.MethodOptions, "/svc/", nil, preflight(page))
	require.Equal(t, http.StatusNoContent, status, "%s", body)
	require.Equal(t, page, got.Get("Access-Control-Allow-Origin"))
	require.Equal(t, "POST", got.Get("Access-Control-Allow-Methods"))
	require.Equal(t, "content-type, x-custom", got.Get("Access-Control-Allow-Headers"))
	require.Equal(t, "300", got.Get("Access-Control-Max-Age"))
	require.Contains(t, got.Values("Vary"), "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")

	e := h.failure(http.MethodOptions, "/svc/", nil, preflight("https://evil.example.com"), http.StatusForbidden, appgate.CodeOriginNotAllowed)
	require.Contains(t, e.Error.Message, "cors.allowed_origins")
	require.Zero(t, sup.hits(), "no preflight was relayed")

	// The request itself is relayed; only an allowed page may read it.
	status, got, _ = h.do(http.MethodPost, "/svc/", strings.NewReader(`{}`), http.Header{"Origin": {page}})
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, page, got.Get("Access-Control-Allow-Origin"))
	require.Empty(t, got.Get("Access-Control-Allow-Credentials"), "the backend's CORS headers are dropped")
	require.ElementsMatch(t, []string{"Origin", "Accept-Encoding"}, got.Values("Vary"))
	status, got, _ = h.do(http.MethodPost, "/svc/", strings.NewReader(`{}`), http.Header{"Origin": {"https://evil.example.com"}})
	require.Equal(t, http.StatusOK, status)
	require.Empty(t, got.Get("Access-Control-Allow-Origin"), "not the backend's *")
	// Errors carry the allowance too: the page can read why.
	_, got, _ = h.do(http.MethodGet, "/nope/", nil, http.Header{"Origin": {page}})
	require.Equal(t, page, got.Get("Access-Control-Allow-Origin"))

	// An OPTIONS that is no preflight is the client's own request.
	status, _, _ = h.do(http.MethodOptions, "/svc/", nil, http.Header{"Origin": {page}})
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, 3, sup.hits(), "two POSTs and one plain OPTIONS were relayed")

	text := metricstest.RenderMetrics(t, h.metrics.Registry)
	require.Contains(t, text, `appgate_requests_total{outcome="preflight",service="svc"} 1`)
	require.Contains(t, text, `appgate_requests_total{outcome="origin_not_allowed",service="svc"} 1`)
}

// TestCORSIsOffByDefault: without cors.allowed_origins every preflight is
// refused by the AppGate itself, and no answer lets a page read it; "*"
// allows any origin.
func TestCORSIsOffByDefault(t *testing.T) {
	h := newHarness(t, 1, appgate.Options{})
	e := h.failure(http.MethodOptions, "/svc/", nil, preflight(page), http.StatusForbidden, appgate.CodeOriginNotAllowed)
	require.Contains(t, e.Error.Message, "cross-origin requests are off (cors.allowed_origins is empty)")
	status, got, _ := h.do(http.MethodPost, "/svc/", strings.NewReader(`{}`), http.Header{"Origin": {page}})
	require.Equal(t, http.StatusOK, status)
	require.Empty(t, got.Get("Access-Control-Allow-Origin"))
	require.Equal(t, 1, h.sups[0].hits(), "only the POST was relayed")

	h = newHarness(t, 1, appgate.Options{CORS: config.CORS{AllowedOrigins: []string{"*"}}})
	status, got, _ = h.do(http.MethodOptions, "/svc/", nil, preflight("http://localhost:3000"))
	require.Equal(t, http.StatusNoContent, status)
	require.Equal(t, "*", got.Get("Access-Control-Allow-Origin"))
	require.Zero(t, h.sups[0].hits())
}

// TestUpgradeIsRefusedAtOnceAndNotRelayed: a request asking to switch to
// another protocol than WebSocket (which a GET opens: see socket.go), or a
// WebSocket handshake that is not a GET, is refused at once (501
// upgrade_not_supported), not held until the request timeout and not
// relayed as plain HTTP. An h2c upgrade (curl --http2) is ignored, as a
// server may: the request is relayed.
func TestUpgradeIsRefusedAtOnceAndNotRelayed(t *testing.T) {
	h := newHarness(t, 1, appgate.Options{RequestTimeout: 10 * time.Second})
	handshake := http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}, "Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}
	within(t, 2*time.Second, func() {
		e := h.failure(http.MethodGet, "/svc/", nil, http.Header{"Upgrade": {"IRC/6.9"}, "Connection": {"Upgrade"}}, http.StatusNotImplemented, appgate.CodeUpgradeNotSupported)
		require.Contains(t, e.Error.Message, `upgrade to "IRC/6.9"`)
		e = h.failure(http.MethodPost, "/svc/", nil, handshake, http.StatusNotImplemented, appgate.CodeUpgradeNotSupported)
		require.Contains(t, e.Error.Message, `upgrade to "websocket"`)
	})
	require.Zero(t, h.sups[0].hits(), "no upgrade was relayed")

	status, _, _ := h.do(http.MethodGet, "/svc/", nil, http.Header{"Upgrade": {"h2c"}, "Connection": {"Upgrade, HTTP2-Settings"}, "Http2-Settings": {"AAMAAABkAAQAoAAAAAIAAAAA"}})
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, 1, h.sups[0].hits())
}
