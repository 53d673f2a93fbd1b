package appgate_test

import (
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/hostile"
	"github.com/pokt-network/poktroll/testutil/metricstest"
	"github.com/pokt-network/poktroll/x/relayer/appgate"
	"github.com/pokt-network/poktroll/x/relayer/internal/httplimit"
	"github.com/pokt-network/poktroll/x/relayer/internal/httplimit/httplimittest"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// serveLimited serves the harness's gateway as the AppGate does, within l,
// and returns its address and its server's error log.
func (h *harness) serveLimited(l httplimit.Limits) (string, httplimittest.Errors) {
	h.t.Helper()
	ln, err := httplimit.Listen("127.0.0.1:0", l.Or(httplimit.DefaultServer).MaxConnections)
	require.NoError(h.t, err)
	srv := h.gw.HTTPServer(l)
	errs := httplimittest.NewErrors()
	srv.ErrorLog = httplimit.ErrorLog(errs)
	go func() { _ = srv.Serve(ln) }()
	h.t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String(), errs
}

// forgedServices are the forged service ids the tests send.
var forgedServices = hostile.ServiceIDs(service)

// TestForgedServicesGetJSONErrorsAndAddNoMetricSeries: 10,000 requests to
// /<forged service>/, many of them not UTF-8, each get the unknown_service
// JSON error; none panics the handler, and /metrics does not grow: they
// are all counted under one fixed label.
func TestForgedServicesGetJSONErrorsAndAddNoMetricSeries(t *testing.T) {
	const n = 10_000
	h := newHarness(t, 1, appgate.Options{})
	addr, errs := h.serveLimited(httplimit.Limits{})
	base := "http://" + addr + "/"

	h.failure(http.MethodGet, "/nope/", nil, nil, http.StatusNotFound, appgate.CodeUnknownService) // the fixed series
	before := metricstest.RenderMetrics(h.t, h.metrics.Registry)

	rng := mrand.New(mrand.NewPCG(1, 2))
	paths := make([]string, n)
	for i := range paths {
		for paths[i] == "" {
			id := forgedServices[i%len(forgedServices)].Gen(rng, i)
			if first, _, _ := strings.Cut(id, "/"); first == service || first == "other" {
				continue // a served service
			}
			paths[i] = url.PathEscape(id) + "/"
		}
	}
	// Workers only send and compare; the test's goroutine requires.
	const workers = 8
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []string
	)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				if msg := checkUnknownService(client, base+paths[i]); msg != "" {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("/%s (%s): %s", paths[i], forgedServices[i%len(forgedServices)].Name, msg))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	require.Empty(t, failures)
	require.Empty(t, errs.Lines(), "the server logged an error (a recovered panic?)")

	after := metricstest.RenderMetrics(h.t, h.metrics.Registry)
	require.InDelta(t, len(before), len(after), 16, "/metrics grew from %d to %d bytes:\n%s", len(before), len(after), after)
	require.Subset(t, []string{service, "other", appgate.UnknownServiceLabel}, metricstest.ServiceLabels(after))
	require.Contains(t, after, fmt.Sprintf(`appgate_requests_total{outcome="unknown_service",service="unknown"} %d`, n+1))
	require.Zero(t, h.sups[0].hits())
}

// checkUnknownService GETs u and describes how the answer differs from
// the unknown_service JSON error ("" if it does not).
func checkUnknownService(client *http.Client, u string) string {
	resp, err := client.Get(u)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err.Error()
	}
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil {
		return fmt.Sprintf("HTTP %d, not a JSON error: %v: %q", resp.StatusCode, err, body)
	}
	if resp.StatusCode != http.StatusNotFound || e.Error.Code != appgate.CodeUnknownService {
		return fmt.Sprintf("HTTP %d, %s; want 404, %s", resp.StatusCode, body, appgate.CodeUnknownService)
	}
	return ""
}

// TestSlowClientIsCutOffAtTheReadTimeout: a client sending its body (or
// its headers) a byte a second is cut off at the read timeout, with the
// bad_request JSON error once its headers arrived; nothing is relayed.
// A request whose supplier answers after the read timeout is relayed.
func TestSlowClientIsCutOffAtTheReadTimeout(t *testing.T) {
	const readTimeout = 300 * time.Millisecond
	h := newHarness(t, 1, appgate.Options{})
	addr, errs := h.serveLimited(httplimit.Limits{ReadHeaderTimeout: readTimeout, ReadTimeout: readTimeout})

	for _, tc := range []struct {
		name     string
		head     string
		answered bool
	}{
		{"body a byte a second", "POST /svc/ HTTP/1.1\r\nHost: appgate\r\nContent-Length: 100\r\n\r\n", true},
		{"headers a byte a second", "POST /svc/ HTTP/1.1\r\nHost: appgate\r\nX-Slow: ", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// 100 bytes at one a second would take 100 s.
			got := httplimittest.SlowBody(t, addr, tc.head, 100, time.Second, 5*time.Second)
			require.GreaterOrEqual(t, got.Elapsed, readTimeout)
			require.Less(t, got.Elapsed, readTimeout+2*time.Second, "cut off at the read timeout, not when the request completes")
			require.Less(t, got.Sent, 100)
			if tc.answered {
				require.NotNil(t, got.Response)
				require.Equal(t, http.StatusBadRequest, got.Response.StatusCode)
				var e apiError
				require.NoError(t, json.Unmarshal(got.Body, &e), "%s", got.Body)
				require.Equal(t, appgate.CodeBadRequest, e.Error.Code)
				require.Contains(t, e.Error.Message, "read timeout")
			}
		})
	}
	require.Zero(t, h.sups[0].hits())

	t.Run("supplier answering after the read timeout", func(t *testing.T) {
		sup := h.sups[0]
		sup.mu.Lock()
		backend := sup.backend
		sup.backend = func(in *types.HTTPRequest) *types.HTTPResponse {
			<-time.After(2 * readTimeout)
			return backend(in)
		}
		sup.mu.Unlock()
		resp, err := http.Post("http://"+addr+"/svc/x", "application/json", strings.NewReader(`{}`))
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		require.Contains(t, string(body), `"path":"/x"`)
	})
	require.Empty(t, errs.Lines())
}

// TestConnectionsBeyondTheCapWait: with max_connections 2, a third
// connection is not served until one of the two closes.
func TestConnectionsBeyondTheCapWait(t *testing.T) {
	h := newHarness(t, 1, appgate.Options{})
	addr, _ := h.serveLimited(httplimit.Limits{MaxConnections: 2})
	status := httplimittest.ConnectionCap(t, addr, 2, httplimittest.Request(http.MethodGet, "/nope/"), 300*time.Millisecond)
	require.Equal(t, http.StatusNotFound, status)
}
