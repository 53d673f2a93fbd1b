// Package metrics defines the RelayMiner's Prometheus metrics. One Metrics
// value is made per process and handed to each part that records into it.
// It must never hold logic beyond naming and registering collectors.
package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// UnknownService is the service label of a relay for a service not
// configured here, or whose service id could not be read. Label values
// never come from a request: a client could otherwise add a series per
// request (or panic the handler with a label that is not valid UTF-8).
const UnknownService = "unknown"

// Metrics are the RelayMiner's counters, gauges and histograms.
type Metrics struct {
	Registry *prometheus.Registry

	// RelaysServed counts relays answered by the backend, by service.
	RelaysServed *prometheus.CounterVec
	// RelaysFailed counts refused or failed relays, by service and reason.
	RelaysFailed *prometheus.CounterVec
	// RelaysMined counts relays recorded in a session's relay log (the
	// minable ones among them are claimed), by service.
	RelaysMined *prometheus.CounterVec
	// RelayDuration is the time from request to response, by service.
	RelayDuration *prometheus.HistogramVec
	// Claims and Proofs count submissions, by outcome.
	Claims *prometheus.CounterVec
	Proofs *prometheus.CounterVec
	// Settlements counts how claims ended on chain: settled, expired, or
	// unknown (the node's block results were pruned).
	Settlements *prometheus.CounterVec
	// SessionTrees is how many session trees are held.
	SessionTrees prometheus.Gauge
	// TxLatency is the time from broadcast to inclusion.
	TxLatency prometheus.Histogram
	// BlockHeight is the last block height processed.
	BlockHeight prometheus.Gauge

	// A fleet's (store.backend: jetstream) metrics; absent otherwise.
	// FleetLeaseHolder is 1 while this RelayMiner holds the supplier's
	// lease (runs its sessions' lifecycle), else 0.
	FleetLeaseHolder *prometheus.GaugeVec
	// FleetTakeovers counts the supplier's leases this RelayMiner took.
	FleetTakeovers *prometheus.CounterVec
	// FleetPublishLatency is the time to append a relay to the shared log
	// (until its acknowledgement).
	FleetPublishLatency prometheus.Histogram
	// FleetPublishFailures counts relays the shared log did not take, by
	// reason: session_over, duplicate, unavailable.
	FleetPublishFailures *prometheus.CounterVec
	// FleetConsumerLag is how many of the supplier's messages this replica
	// has still to mirror from the shared log.
	FleetConsumerLag *prometheus.GaugeVec
	// FleetCheckpointAge is how far behind the shared log this replica's
	// mirror (its checkpoint of the log) is, in seconds: how old the last
	// message it mirrored was when mirrored, 0 once nothing is pending.
	FleetCheckpointAge *prometheus.GaugeVec
	// FleetCheckpoints counts the checkpoints of the supplier's relay log
	// this RelayMiner wrote as its lease holder.
	FleetCheckpoints *prometheus.CounterVec

	// Relay sockets (WebSocket relays), by service (UnknownService while
	// a socket has admitted no message). SocketsOpen is how many are open.
	SocketsOpen *prometheus.GaugeVec
	// SocketMessages counts socket messages by direction: in (from the
	// application), out (to it: backend messages and refusals).
	SocketMessages *prometheus.CounterVec
	// SocketRelays counts relays mined from sockets: an application's
	// message and the first backend message answering it.
	SocketRelays *prometheus.CounterVec
	// SocketCloses counts sockets closed by the RelayMiner, by reason
	// (session_over, idle, too_many_connections, backend, shutdown, ...).
	SocketCloses *prometheus.CounterVec

	// services are the configured service ids: with UnknownService, the
	// only values of the service label.
	services sync.Map
}

// AddServices declares configured service ids as values of the service
// label.
func (m *Metrics) AddServices(ids ...string) {
	for _, id := range ids {
		m.services.Store(id, struct{}{})
	}
}

// Service is the service label of id, a service id read from a request:
// id itself when it is a configured service, else UnknownService.
func (m *Metrics) Service(id string) string {
	if _, ok := m.services.Load(id); ok {
		return id
	}
	return UnknownService
}

// New makes and registers the metrics in a fresh registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		RelaysServed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "relayminer", Name: "relays_served_total", Help: "Relays answered with a backend response.",
		}, []string{"service"}),
		RelaysFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "relayminer", Name: "relays_failed_total", Help: "Relays refused or failed, by reason.",
		}, []string{"service", "reason"}),
		RelaysMined: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "relayminer", Name: "relays_mined_total", Help: "Relays recorded in a session's relay log (the minable ones are claimed).",
		}, []string{"service"}),
		Settlements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "relayminer", Name: "settlements_total", Help: "Claims as they ended on chain: settled, expired or unknown.",
		}, []string{"result"}),
		RelayDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "relayminer", Name: "relay_duration_seconds", Help: "Time from relay request to response.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"service"}),
		Claims: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "relayminer", Name: "claims_total", Help: "Claims submitted, by outcome.",
		}, []string{"outcome"}),
		Proofs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "relayminer", Name: "proofs_total", Help: "Proofs submitted, by outcome.",
		}, []string{"outcome"}),
		SessionTrees: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "relayminer", Name: "session_trees", Help: "Session trees held.",
		}),
		TxLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "relayminer", Name: "tx_latency_seconds", Help: "Time from tx broadcast to inclusion.",
			Buckets: prometheus.ExponentialBuckets(0.1, 2, 10),
		}),
		BlockHeight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "relayminer", Name: "block_height", Help: "Last block height processed.",
		}),
	}
	m.FleetLeaseHolder = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "relayminer", Subsystem: "fleet", Name: "lease_holder", Help: "1 while this RelayMiner holds the supplier's lease.",
	}, []string{"supplier"})
	m.FleetTakeovers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "relayminer", Subsystem: "fleet", Name: "takeovers_total", Help: "Supplier leases this RelayMiner took.",
	}, []string{"supplier"})
	m.FleetPublishLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "relayminer", Subsystem: "fleet", Name: "publish_latency_seconds", Help: "Time to append a relay to the shared relay log.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	})
	m.FleetPublishFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "relayminer", Subsystem: "fleet", Name: "publish_failures_total", Help: "Relays the shared relay log did not take, by reason.",
	}, []string{"reason"})
	m.FleetConsumerLag = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "relayminer", Subsystem: "fleet", Name: "consumer_lag", Help: "Messages of the supplier this replica has still to mirror.",
	}, []string{"supplier"})
	m.FleetCheckpointAge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "relayminer", Subsystem: "fleet", Name: "checkpoint_age_seconds", Help: "How far behind the shared log this replica's mirror is (0 when nothing is pending).",
	}, []string{"supplier"})
	m.FleetCheckpoints = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "relayminer", Subsystem: "fleet", Name: "checkpoints_total", Help: "Checkpoints of the supplier's relay log written as its lease holder.",
	}, []string{"supplier"})
	m.SocketsOpen = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "relayminer", Subsystem: "socket", Name: "open", Help: "Relay sockets (WebSocket relays) open.",
	}, []string{"service"})
	m.SocketMessages = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "relayminer", Subsystem: "socket", Name: "messages_total", Help: "Relay socket messages, by direction (in: from the application, out: to it).",
	}, []string{"service", "direction"})
	m.SocketRelays = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "relayminer", Subsystem: "socket", Name: "relays_mined_total", Help: "Relays mined from relay sockets.",
	}, []string{"service"})
	m.SocketCloses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "relayminer", Subsystem: "socket", Name: "closes_total", Help: "Relay sockets closed by the RelayMiner, by reason.",
	}, []string{"service", "reason"})
	m.Registry.MustRegister(m.SocketsOpen, m.SocketMessages, m.SocketRelays, m.SocketCloses)
	m.Registry.MustRegister(m.FleetLeaseHolder, m.FleetTakeovers, m.FleetPublishLatency, m.FleetPublishFailures, m.FleetConsumerLag, m.FleetCheckpointAge, m.FleetCheckpoints)
	m.Registry.MustRegister(m.RelaysServed, m.RelaysFailed, m.RelaysMined, m.RelayDuration, m.Settlements,
		m.Claims, m.Proofs, m.SessionTrees, m.TxLatency, m.BlockHeight)
	return m
}
