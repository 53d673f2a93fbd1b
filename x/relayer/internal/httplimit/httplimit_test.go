package httplimit_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/internal/httplimit"
	"github.com/pokt-network/poktroll/x/relayer/internal/httplimit/httplimittest"
)

// serve runs h within l on a fresh port and returns its address.
func serve(t *testing.T, h http.Handler, l httplimit.Limits, handlerTime time.Duration, errs httplimittest.Errors) string {
	t.Helper()
	ln, err := httplimit.Listen("127.0.0.1:0", l.MaxConnections)
	require.NoError(t, err)
	srv := httplimit.Server(h, l, handlerTime, errs)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func TestLimitsOrTakesTheDefaultsOfZeroFields(t *testing.T) {
	l := httplimit.Limits{ReadTimeout: time.Second, MaxConnections: -1}.Or(httplimit.DefaultServer)
	want := httplimit.DefaultServer
	want.ReadTimeout = time.Second
	require.Equal(t, want, l)
	require.Equal(t, httplimit.DefaultAux, httplimit.Limits{}.Or(httplimit.DefaultAux))
}

// A handler that works longer than ReadTimeout after reading the request
// (a relay waiting on its backend) is neither cancelled nor cut off.
func TestHandlerMayOutliveTheReadTimeout(t *testing.T) {
	const readTimeout = 100 * time.Millisecond
	errs := httplimittest.NewErrors()
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case <-r.Context().Done():
			http.Error(w, "cancelled: "+context.Cause(r.Context()).Error(), http.StatusServiceUnavailable)
		case <-time.After(3 * readTimeout): // the backend's answer
			_, _ = fmt.Fprintf(w, "ok %s", body)
		}
	}), httplimit.Limits{ReadHeaderTimeout: readTimeout, ReadTimeout: readTimeout, WriteTimeout: time.Second}, time.Second, errs)

	for _, tc := range []struct {
		name, method string
		body         io.Reader
		want         string
	}{
		{"with a body", http.MethodPost, strings.NewReader("hello"), "ok hello"},
		{"without a body", http.MethodGet, nil, "ok "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, "http://"+addr+"/", tc.body)
			require.NoError(t, err)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode, "%s", got)
			require.Equal(t, tc.want, string(got))
		})
	}
	require.Empty(t, errs.Lines())
}

func TestSlowBodyIsCutOffAtTheReadTimeout(t *testing.T) {
	const readTimeout = 300 * time.Millisecond
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			status := http.StatusBadRequest
			if httplimit.TimedOut(err) {
				status = http.StatusRequestTimeout
			}
			http.Error(w, err.Error(), status)
		}
	}), httplimit.Limits{ReadHeaderTimeout: readTimeout, ReadTimeout: readTimeout}, time.Second, httplimittest.NewErrors())

	// 100 bytes at one a second would take 100 s.
	got := httplimittest.SlowBody(t, addr, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", 100, time.Second, 5*time.Second)
	require.GreaterOrEqual(t, got.Elapsed, readTimeout)
	require.Less(t, got.Elapsed, readTimeout+2*time.Second, "cut off at the read timeout, not when the body completes")
	require.Less(t, got.Sent, 100)
	require.NotNil(t, got.Response)
	require.Equal(t, http.StatusRequestTimeout, got.Response.StatusCode)

	// Headers alone, sent slowly, are cut off too.
	got = httplimittest.SlowBody(t, addr, "POST / HTTP/1.1\r\n", 100, time.Second, 5*time.Second)
	require.Less(t, got.Elapsed, readTimeout+2*time.Second)
}

func TestConnectionsBeyondTheCapWait(t *testing.T) {
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}), httplimit.Limits{MaxConnections: 2}, 0, httplimittest.NewErrors())
	status := httplimittest.ConnectionCap(t, addr, 2, httplimittest.Request(http.MethodGet, "/"), 300*time.Millisecond)
	require.Equal(t, http.StatusOK, status)
}

func TestHandlerPanicsGoToTheErrorLog(t *testing.T) {
	errs := httplimittest.NewErrors()
	addr := serve(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom")
	}), httplimit.Limits{}, 0, errs)
	_, err := http.Get("http://" + addr + "/")
	require.Error(t, err, "a panicking handler answers nothing")
	require.Eventually(t, func() bool { return len(errs.Lines()) > 0 }, 5*time.Second, 10*time.Millisecond)
	require.Contains(t, errs.Lines()[0], "panic serving")
	require.Contains(t, errs.Lines()[0], "boom")
}
