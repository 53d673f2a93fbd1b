package proxy_test

import (
	"bytes"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/metricstest"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// TestUpgradeIsRefusedAtOnceAndNeverForwarded: a request asking to switch
// protocols (a WebSocket handshake) is not an HTTP relay, whether the
// relay server's own request asks it or the relayed HTTP request does:
// each is refused at once with ErrRelayUpgrade (400), never reaches the
// backend, is not counted by the meter and is not mined.
func TestUpgradeIsRefusedAtOnceAndNeverForwarded(t *testing.T) {
	var calls atomic.Int64
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		jsonRPCBackend(t).ServeHTTP(w, r)
	})
	m := &fakeMeter{budget: 100}
	f := newMeteredFixture(t, backend, nil, m)
	handshake := http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}, "Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}

	tests := []struct {
		name   string
		method string
		header http.Header
		raw    []byte
	}{
		{"a WebSocket handshake POSTed to the relay server (a GET opens a relay socket)", http.MethodPost, handshake, nil},
		{"an h2c upgrade to the relay server", http.MethodGet, http.Header{"Upgrade": {"h2c"}, "Connection": {"Upgrade, HTTP2-Settings"}}, nil},
		{"a relay POSTed with an Upgrade header", http.MethodPost, http.Header{"Upgrade": {"h2c"}, "Connection": {"Upgrade, HTTP2-Settings"}}, f.relayTo(t, http.MethodPost, "/plain")},
		{"a relayed WebSocket handshake", http.MethodPost, nil, f.relayTo(t, http.MethodGet, "/ws",
			types.Header{Name: "upgrade", Values: []string{"websocket"}}, types.Header{Name: "connection", Values: []string{"Upgrade"}})},
		{"a relayed request naming upgrade in Connection only", http.MethodPost, nil, f.relayTo(t, http.MethodGet, "/conn",
			types.Header{Name: "Connection", Values: []string{"keep-alive, upgrade"}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := http.NewRequest(tt.method, f.url, bytes.NewReader(tt.raw))
			require.NoError(t, err)
			for k, v := range tt.header {
				r.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(r)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Equal(t, http.StatusBadRequest, resp.StatusCode)
			res := &types.RelayResponse{}
			require.NoError(t, res.Unmarshal(body))
			require.NotNil(t, res.Error)
			require.ErrorIs(t, res.Error.Err(), types.ErrRelayUpgrade)
		})
	}
	require.Zero(t, calls.Load(), "no upgrade reached the backend")
	require.Zero(t, m.used, "the meter counted none")
	require.Zero(t, f.miner.count(), "none is mined")
	// Refused before it is read, a request that asks the upgrade itself is
	// counted under no service.
	metricsText := metricstest.RenderMetrics(t, f.metrics.Registry)
	require.Contains(t, metricsText, `relayminer_relays_failed_total{reason="upgrade",service="unknown"} 3`)
	require.Contains(t, metricsText, `relayminer_relays_failed_total{reason="upgrade",service="eth"} 2`)

	// The same relay without the upgrade is served.
	status, res := f.send(t, http.MethodPost, f.relayTo(t, http.MethodGet, "/plain-get"))
	require.Equal(t, http.StatusOK, status, "%v", res.Error)
	require.EqualValues(t, 1, calls.Load())
}
