package daemon

import (
	"net/http"
	"net/http/pprof"
	"time"

	"cosmossdk.io/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pokt-network/poktroll/x/relayer/internal/yamlconf"
)

// PprofPrefix is where the profiler's handlers are mounted on the metrics
// address when metrics.pprof is set.
const PprofPrefix = "/debug/pprof/"

// maxProfileTime is the longest profile or trace a request can take
// (?seconds=): the metrics server's write deadline is set past it when the
// profiler is on.
const maxProfileTime = 60 * time.Second

// MetricsHandler serves reg's metrics on every path and, when withPprof is
// set, net/http/pprof's handlers under PprofPrefix. Without it nothing of
// the profiler is reachable.
func MetricsHandler(reg *prometheus.Registry, withPprof bool) http.Handler {
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	if !withPprof {
		return metrics
	}
	mux := http.NewServeMux()
	mux.Handle("/", metrics)
	// Index serves the named profiles (heap, goroutine, allocs, block,
	// mutex, threadcreate) under the prefix; the others have handlers of
	// their own.
	mux.HandleFunc(PprofPrefix, pprof.Index)
	mux.HandleFunc(PprofPrefix+"cmdline", pprof.Cmdline)
	mux.HandleFunc(PprofPrefix+"profile", pprof.Profile)
	mux.HandleFunc(PprofPrefix+"symbol", pprof.Symbol)
	mux.HandleFunc(PprofPrefix+"trace", pprof.Trace)
	return mux
}

// ServeMetrics serves a daemon's metrics endpoint (config field
// "metrics"): reg's metrics, and the profiler when ep.Pprof is set. An
// empty listen address serves nothing. The server is shut down by stack.
func ServeMetrics(stack *Stack, logger log.Logger, ep yamlconf.MetricsEndpoint, reg *prometheus.Registry) error {
	var handlerTime time.Duration
	if ep.Pprof {
		handlerTime = maxProfileTime
	}
	if err := serveAux(stack, logger, "metrics.listen", ep.Listen, ep.MaxConnections, handlerTime, MetricsHandler(reg, ep.Pprof)); err != nil {
		return err
	}
	if ep.Pprof && ep.Listen != "" {
		logger.Info("serving the profiler on the metrics address", "addr", ep.Listen, "path", PprofPrefix)
	}
	return nil
}
