package types_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/types"
)

func TestPayloadHeadersCarryOnlyEndToEndHeaders(t *testing.T) {
	h := http.Header{
		"Content-Type":      {"application/json"},
		"Authorization":     {"Bearer x"},
		"Connection":        {"keep-alive, X-Hop"},
		"X-Hop":             {"named by Connection"},
		"Keep-Alive":        {"timeout=5"},
		"Transfer-Encoding": {"chunked"},
		"Content-Length":    {"12"},
		"Accept":            {"a", "b"},
	}
	got := types.HeadersFromHTTP(h)
	require.Equal(t, []types.Header{
		{Name: "Accept", Values: []string{"a", "b"}},
		{Name: "Authorization", Values: []string{"Bearer x"}},
		{Name: "Content-Type", Values: []string{"application/json"}},
	}, got, "sorted, hop-by-hop and Connection-named headers left out")

	back := types.HeadersToHTTP(append(got,
		types.Header{Name: "connection", Values: []string{"x-secret"}},
		types.Header{Name: "x-secret", Values: []string{"1"}},
		types.Header{Name: "host", Values: []string{"evil"}},
		types.Header{Name: "accept", Values: []string{"c"}}))
	require.Equal(t, http.Header{
		"Accept":        {"a", "b", "c"},
		"Authorization": {"Bearer x"},
		"Content-Type":  {"application/json"},
	}, back, "names canonicalised and merged; hop-by-hop left out")
}

func TestUpgradeIsFoundInAnyCaseAndOnlyWhenAsked(t *testing.T) {
	for _, tt := range []struct {
		name string
		h    http.Header
		want string
	}{
		{"websocket handshake", http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}}, "websocket"},
		{"Upgrade alone", http.Header{"Upgrade": {"h2c"}}, "h2c"},
		{"Connection alone", http.Header{"Connection": {"keep-alive, UPGRADE"}}, "upgrade"},
		{"empty Upgrade", http.Header{"Upgrade": {" "}}, ""},
		{"plain request", http.Header{"Connection": {"keep-alive"}, "Content-Type": {"application/json"}}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, types.Upgrade(tt.h))
			var payload []types.Header
			for name, values := range tt.h {
				payload = append(payload, types.Header{Name: strings.ToLower(name), Values: values})
			}
			require.Equal(t, tt.want, types.PayloadUpgrade(payload), "payload header names in lower case")
		})
	}
}
