package proxy_test

import (
	"bytes"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/hostile"
	"github.com/pokt-network/poktroll/testutil/metricstest"
	"github.com/pokt-network/poktroll/x/relayer/internal/httplimit"
	"github.com/pokt-network/poktroll/x/relayer/internal/httplimit/httplimittest"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/metrics"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// forgedServiceIDs are the forged service ids the tests send.
var forgedServiceIDs = hostile.ServiceIDs("eth")

// TestForgedServiceIDsGetTypedErrorsAndAddNoMetricSeries: 10,000 relay
// requests with forged service ids, many of them not UTF-8, each get their
// typed error; none panics the handler (the server's error log stays
// empty), none reaches the chain, and /metrics does not grow.
func TestForgedServiceIDsGetTypedErrorsAndAddNoMetricSeries(t *testing.T) {
	const n = 10_000
	f := newFixture(t, jsonRPCBackend(t), nil)
	raw := func(service string) []byte {
		h := f.header
		h.ServiceId = service
		return marshal(t, &types.RelayRequest{Meta: types.RelayRequestMetadata{SessionHeader: &h, SupplierOperatorAddress: f.sup.Address}})
	}
	// want is the refusal of a relay for service: malformed, or not served.
	want := func(service string) (int, uint32) {
		if types.ValidateServiceID(service) != nil {
			return http.StatusBadRequest, types.ErrRelayBadRequest.ABCICode()
		}
		return http.StatusNotFound, types.ErrRelayUnknownService.ABCICode()
	}

	// One of each refusal first: the series they add are the fixed ones.
	for _, service := range []string{"btc", "\xff"} {
		status, res := f.send(t, http.MethodPost, raw(service))
		wantStatus, wantCode := want(service)
		require.Equal(t, wantStatus, status)
		require.Equal(t, wantCode, res.Error.Code)
	}
	before := metricstest.RenderMetrics(t, f.metrics.Registry)

	rng := mrand.New(mrand.NewPCG(1, 2))
	ids := make([]string, n)
	for i := range ids {
		for ids[i] == "" || ids[i] == "eth" {
			ids[i] = forgedServiceIDs[i%len(forgedServiceIDs)].Gen(rng, i)
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
				if msg := checkRefusal(client, f.url, raw(ids[i]), want); msg != "" {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("service %q (%s): %s", ids[i], forgedServiceIDs[i%len(forgedServiceIDs)].Name, msg))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	require.Empty(t, failures)
	require.Empty(t, f.errs.Lines(), "the server logged an error (a recovered panic?)")

	after := metricstest.RenderMetrics(t, f.metrics.Registry)
	require.InDelta(t, len(before), len(after), 16, "/metrics grew from %d to %d bytes:\n%s", len(before), len(after), after)
	require.Subset(t, []string{"eth", metrics.UnknownService}, metricstest.ServiceLabels(after))
	require.Contains(t, after, `relayminer_relays_failed_total{reason="bad_request",service="unknown"}`)
	require.Contains(t, after, `relayminer_relays_failed_total{reason="unknown_service",service="unknown"}`)
	require.Zero(t, f.chain.sessionQueries.Load())
	require.Zero(t, f.miner.count())
}

// checkRefusal sends raw and describes how its answer differs from the
// refusal want expects of it ("" if it does not).
func checkRefusal(client *http.Client, url string, raw []byte, want func(string) (int, uint32)) string {
	var req types.RelayRequest
	if err := req.Unmarshal(raw); err != nil {
		return err.Error()
	}
	resp, err := client.Post(url, "application/x-protobuf", bytes.NewReader(raw))
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err.Error()
	}
	res := &types.RelayResponse{}
	if err := res.Unmarshal(body); err != nil {
		return fmt.Sprintf("HTTP %d, not a RelayResponse: %v", resp.StatusCode, err)
	}
	wantStatus, wantCode := want(req.Meta.SessionHeader.ServiceId)
	if resp.StatusCode != wantStatus || res.Error == nil || res.Error.Codespace != types.RelayCodespace || res.Error.Code != wantCode {
		return fmt.Sprintf("HTTP %d, error %v; want HTTP %d, %s code %d", resp.StatusCode, res.Error, wantStatus, types.RelayCodespace, wantCode)
	}
	return ""
}

// TestSlowRelayRequestIsCutOffAtTheReadTimeout: a client sending its
// relay request a byte a second is answered with a typed error and cut off
// at the read timeout; one sending its headers so is cut off too.
func TestSlowRelayRequestIsCutOffAtTheReadTimeout(t *testing.T) {
	const readTimeout = 300 * time.Millisecond
	f := newFixture(t, jsonRPCBackend(t), nil, httplimit.Limits{ReadHeaderTimeout: readTimeout, ReadTimeout: readTimeout})

	for _, tc := range []struct {
		name string
		head string
	}{
		{"body a byte a second", "POST / HTTP/1.1\r\nHost: relayminer\r\nContent-Type: application/x-protobuf\r\nContent-Length: 100\r\n\r\n"},
		{"headers a byte a second", "POST / HTTP/1.1\r\nHost: relayminer\r\nX-Slow: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// 100 bytes at one a second would take 100 s.
			got := httplimittest.SlowBody(t, f.server.Addr(), tc.head, 100, time.Second, 5*time.Second)
			require.GreaterOrEqual(t, got.Elapsed, readTimeout)
			require.Less(t, got.Elapsed, readTimeout+2*time.Second, "cut off at the read timeout, not when the request completes")
			require.Less(t, got.Sent, 100)
			if strings.Contains(tc.head, "\r\n\r\n") { // the headers arrived: the relay server answers
				require.NotNil(t, got.Response)
				require.Equal(t, http.StatusBadRequest, got.Response.StatusCode)
				res := &types.RelayResponse{}
				require.NoError(t, res.Unmarshal(got.Body))
				require.Equal(t, types.ErrRelayBadRequest.ABCICode(), res.Error.Code)
				require.Contains(t, res.Error.Message, "not received within the read timeout")
			}
		})
	}
	require.Empty(t, f.errs.Lines())
}

// TestRelayOutlastingTheReadTimeoutIsServed: the read timeout bounds
// receiving the request, not serving it.
func TestRelayOutlastingTheReadTimeoutIsServed(t *testing.T) {
	const readTimeout = 100 * time.Millisecond
	f := newFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(2 * readTimeout): // within the service's 300ms timeout
		}
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":"0x1"}`)
	}), nil, httplimit.Limits{ReadHeaderTimeout: readTimeout, ReadTimeout: readTimeout})
	status, res := f.send(t, http.MethodPost, marshal(t, f.request(t, f.header, []byte(`{}`))))
	require.Equal(t, http.StatusOK, status, "%v", res.Error)
	require.Equal(t, 1, f.miner.count())
}

// TestRelayConnectionsBeyondTheCapWait: with max_connections 2, a third
// connection is not served until one of the two closes.
func TestRelayConnectionsBeyondTheCapWait(t *testing.T) {
	f := newFixture(t, jsonRPCBackend(t), nil, httplimit.Limits{MaxConnections: 2})
	status := httplimittest.ConnectionCap(t, f.server.Addr(), 2, httplimittest.Request(http.MethodGet, "/"), 300*time.Millisecond)
	require.Equal(t, http.StatusMethodNotAllowed, status)
}
