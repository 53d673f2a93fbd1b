package metrics

import "github.com/prometheus/client_golang/prometheus"

// OtherApplications is the application label of the applications metered
// beyond MaxApplicationLabels at once.
const OtherApplications = "other"

// MaxApplicationLabels bounds the application label's values: the
// applications of the sessions metered at once, the first ones seen
// keeping their own series until their session ends.
const MaxApplicationLabels = 64

// Meter are the relay meter's metrics (see the meter package).
type Meter struct {
	// Refusals counts relays the meter refused, by service and reason:
	// share_used (the supplier served its whole share of the session),
	// earlier_sessions (the application's unsettled claims of earlier
	// sessions leave less than the share), no_stake (nothing left to pay).
	Refusals *prometheus.CounterVec
	// ShareUsed is, per application (at most MaxApplicationLabels of them
	// at once; the others share OtherApplications, which holds the ratio
	// last set for any of them) and service, the fraction of its current
	// budget a supplier used in the application's session: 1 is fully used.
	ShareUsed *prometheus.GaugeVec
}

// NewMeter makes the relay meter's metrics and registers them in reg.
func NewMeter(reg prometheus.Registerer) *Meter {
	m := &Meter{
		Refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "relayminer", Name: "meter_refusals_total", Help: "Relays refused by the relay meter (application over-serviced), by reason.",
		}, []string{"service", "reason"}),
		ShareUsed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "relayminer", Name: "meter_share_used_ratio", Help: "Fraction of its budget (its share of the application's stake) a supplier used in the application's session.",
		}, []string{"service", "application"}),
	}
	reg.MustRegister(m.Refusals, m.ShareUsed)
	return m
}
