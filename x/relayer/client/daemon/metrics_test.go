package daemon_test

import (
	"context"
	"io"
	"net/http"
	"testing"

	"cosmossdk.io/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/network"
	"github.com/pokt-network/poktroll/x/relayer/client/daemon"
	"github.com/pokt-network/poktroll/x/relayer/internal/yamlconf"
)

func TestPprofReachableOnlyWhenEnabled(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pprof bool
	}{
		{name: "pprof off (default)", pprof: false},
		{name: "pprof on", pprof: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			c := prometheus.NewCounter(prometheus.CounterOpts{Name: "probe_total", Help: "probe"})
			reg.MustRegister(c)
			c.Inc()
			ep := yamlconf.DefaultMetricsEndpoint()
			ep.Listen = network.FreeAddr(t)
			ep.Pprof = tc.pprof
			var stack daemon.Stack
			require.NoError(t, daemon.ServeMetrics(&stack, log.NewNopLogger(), ep, reg))
			t.Cleanup(func() { require.NoError(t, stack.Stop(context.Background())) })

			get := func(path string) (int, string) {
				res, err := http.Get("http://" + ep.Listen + path)
				require.NoError(t, err)
				defer res.Body.Close()
				body, err := io.ReadAll(res.Body)
				require.NoError(t, err)
				return res.StatusCode, string(body)
			}
			status, body := get("/metrics")
			require.Equal(t, http.StatusOK, status)
			require.Contains(t, body, "probe_total 1")

			for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/heap?debug=1", "/debug/pprof/cmdline", "/debug/pprof/symbol"} {
				status, body := get(path)
				require.Equal(t, http.StatusOK, status, path)
				if tc.pprof {
					require.NotContains(t, body, "probe_total", path)
				} else {
					// Without pprof every path is the metrics page: nothing of
					// the profiler answers.
					require.Contains(t, body, "probe_total 1", path)
				}
			}
			if tc.pprof {
				_, body := get("/debug/pprof/goroutine?debug=1")
				require.Contains(t, body, "goroutine profile:")
				status, _ := get("/debug/pprof/profile?seconds=1")
				require.Equal(t, http.StatusOK, status)
			}
		})
	}
}

func TestMetricsDisabledServesNothing(t *testing.T) {
	var stack daemon.Stack
	ep := yamlconf.DefaultMetricsEndpoint()
	ep.Pprof = true
	require.NoError(t, daemon.ServeMetrics(&stack, log.NewNopLogger(), ep, prometheus.NewRegistry()))
	require.NoError(t, stack.Stop(context.Background()))
}
