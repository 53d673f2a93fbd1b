// Package metricstest reads Prometheus metrics in tests.
package metricstest

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// RenderMetrics is reg's /metrics page.
func RenderMetrics(t testing.TB, reg *prometheus.Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("testutil/metricstest: /metrics answered %d", rec.Code)
	}
	return rec.Body.String()
}

var serviceLabelRe = regexp.MustCompile(`service="([^"]*)"`)

// ServiceLabels are the distinct service label values on a /metrics page.
func ServiceLabels(page string) []string {
	var out []string
	for _, m := range serviceLabelRe.FindAllStringSubmatch(page, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}
