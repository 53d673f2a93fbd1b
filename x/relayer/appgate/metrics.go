package appgate

import "github.com/prometheus/client_golang/prometheus"

// UnknownServiceLabel is the service label of a request for a service not
// configured here (its path's first segment, whatever it holds). Label
// values never come from a request: a client could otherwise add a series
// per request (or panic the handler with a label that is not valid UTF-8).
const UnknownServiceLabel = "unknown"

// Metrics are the AppGate's Prometheus metrics. One Metrics value is made
// per AppGate.
type Metrics struct {
	Registry *prometheus.Registry

	// Requests counts client requests by service and outcome: "ok" for a
	// relayed response (whatever the backend's status), else the error code.
	// The service is a configured one, or UnknownServiceLabel.
	Requests *prometheus.CounterVec
	// RequestDuration is the time from client request to response, by
	// service, errors included.
	RequestDuration *prometheus.HistogramVec
	// Relays counts relay attempts by service, supplier and outcome: "ok"
	// for a verified response, else the attempt's failure reason. Its
	// cardinality is bounded by the suppliers staked for the services.
	Relays *prometheus.CounterVec
	// BlockHeight is the last block height processed.
	BlockHeight prometheus.Gauge
	// Sockets is how many client WebSockets are open, by service.
	Sockets *prometheus.GaugeVec
	// SocketMessages counts client WebSocket messages, by service and
	// direction (in: from the client, out: to it).
	SocketMessages *prometheus.CounterVec
}

// NewMetrics makes and registers the metrics in a fresh registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "appgate", Name: "requests_total", Help: "Client requests, by service and outcome (ok or error code).",
		}, []string{"service", "outcome"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "appgate", Name: "request_duration_seconds", Help: "Time from client request to response.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"service"}),
		Relays: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "appgate", Name: "relays_total", Help: "Relay attempts, by service, supplier and outcome (ok or failure reason).",
		}, []string{"service", "supplier", "outcome"}),
		BlockHeight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "appgate", Name: "block_height", Help: "Last block height processed.",
		}),
	}
	m.Sockets = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "appgate", Name: "sockets", Help: "Client WebSockets open, by service.",
	}, []string{"service"})
	m.SocketMessages = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "appgate", Name: "socket_messages_total", Help: "Client WebSocket messages, by service and direction (in: from the client, out: to it).",
	}, []string{"service", "direction"})
	m.Registry.MustRegister(m.Requests, m.RequestDuration, m.Relays, m.BlockHeight, m.Sockets, m.SocketMessages)
	return m
}
