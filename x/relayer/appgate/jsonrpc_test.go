package appgate_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/appgate"
	"github.com/pokt-network/poktroll/x/relayer/appgate/config"
)

// rpcError is a JSON-RPC 2.0 error response as a client reads it.
type rpcError struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Error   struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Data    struct {
			Code     string            `json:"code"`
			Message  string            `json:"message"`
			Attempts []json.RawMessage `json:"attempts"`
		} `json:"data"`
	} `json:"error"`
}

// rpcFailure sends a request that must be refused with status, and
// returns the JSON-RPC error response (batch: the array) it got.
func (h *harness) rpcFailure(method, path string, body io.Reader, header http.Header, status int, out any) {
	h.t.Helper()
	got, hdr, raw := h.do(method, path, body, header)
	require.Equal(h.t, status, got, "%s", raw)
	require.Equal(h.t, "application/json", hdr.Get("Content-Type"))
	require.NoError(h.t, json.Unmarshal(raw, out), "%s", raw)
}

// TestJSONRPCServiceRefusalsAreJSONRPCErrorsWithTheRequestsID: for a
// service whose rpc_type is json_rpc, a refused request gets a JSON-RPC
// 2.0 error carrying its own id (a string or a number, as sent), with the
// refusal's documented code and the AppGate's error in data; a batch gets
// one per call with an id; a body that is not JSON-RPC gets a null id. The
// HTTP status is the refusal's. Other services keep the JSON error.
func TestJSONRPCServiceRefusalsAreJSONRPCErrorsWithTheRequestsID(t *testing.T) {
	h := newHarness(t, 2, appgate.Options{MaxBodyBytes: 1000, RPCTypes: map[string]string{service: config.RPCTypeJSONRPC}})
	for _, s := range h.sups {
		s.set(refuseBackend)
	}

	for _, id := range []string{`7`, `"call-7"`, `-1.5e3`, `null`} {
		var e rpcError
		h.rpcFailure(http.MethodPost, "/svc/", strings.NewReader(`{"jsonrpc":"2.0","id":`+id+`,"method":"eth_blockNumber","params":[]}`), nil, http.StatusBadGateway, &e)
		require.Equal(t, "2.0", e.JSONRPC)
		require.Equal(t, id, string(e.ID), "the request's own id")
		require.Equal(t, -32008, e.Error.Code)
		require.Equal(t, "every supplier failed", e.Error.Message)
		require.Equal(t, appgate.CodeSuppliersFailed, e.Error.Data.Code)
		require.Contains(t, e.Error.Data.Message, "all 2 attempts failed")
		require.Len(t, e.Error.Data.Attempts, 2, "the current detail is in data")
	}

	t.Run("batch", func(t *testing.T) {
		var all []rpcError
		h.rpcFailure(http.MethodPost, "/svc/", strings.NewReader(`[
			{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"},
			{"jsonrpc":"2.0","id":"two","method":"eth_chainId"},
			{"jsonrpc":"2.0","method":"eth_subscription_ack"},
			{"jsonrpc":"2.0","id":{"bad":1},"method":"x"},
			42
		]`), nil, http.StatusBadGateway, &all)
		var ids []string
		for _, e := range all {
			require.Equal(t, -32008, e.Error.Code)
			require.Equal(t, appgate.CodeSuppliersFailed, e.Error.Data.Code)
			ids = append(ids, string(e.ID))
		}
		require.Equal(t, []string{`1`, `"two"`, `null`, `null`}, ids, "one per call with an id; the notification gets none")

		h.rpcFailure(http.MethodPost, "/svc/", strings.NewReader(`[{"jsonrpc":"2.0","method":"a"}]`), nil, http.StatusBadGateway, &all)
		require.Len(t, all, 1, "a batch of notifications gets one error")
		require.Equal(t, "null", string(all[0].ID))
	})

	t.Run("refusals before any supplier", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			method string
			body   io.Reader
			header http.Header
			status int
			code   string
			rpc    int
		}{
			{"body too large", http.MethodPost, bytes.NewReader(append([]byte(`{"jsonrpc":"2.0","id":3,"x":"`), make([]byte, 1000)...)), nil, http.StatusRequestEntityTooLarge, appgate.CodeBodyTooLarge, -32002},
			{"upgrade", http.MethodGet, nil, http.Header{"Upgrade": {"IRC/6.9"}, "Connection": {"Upgrade"}}, http.StatusNotImplemented, appgate.CodeUpgradeNotSupported, -32011},
			{"preflight", http.MethodOptions, nil, preflight(page), http.StatusForbidden, appgate.CodeOriginNotAllowed, -32012},
			{"not JSON-RPC", http.MethodPost, strings.NewReader(`not json`), nil, http.StatusBadGateway, appgate.CodeSuppliersFailed, -32008},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var e rpcError
				h.rpcFailure(tc.method, "/svc/", tc.body, tc.header, tc.status, &e)
				require.Equal(t, "2.0", e.JSONRPC)
				require.Equal(t, "null", string(e.ID), "no id could be read")
				require.Equal(t, tc.rpc, e.Error.Code)
				require.Equal(t, tc.code, e.Error.Data.Code)
			})
		}
	})

	t.Run("other services keep the JSON error", func(t *testing.T) {
		h.failure(http.MethodPost, "/other/", strings.NewReader(`{"jsonrpc":"2.0","id":1}`), nil, http.StatusForbidden, appgate.CodeApplicationNotStaked)
		h.failure(http.MethodPost, "/nope/", strings.NewReader(`{"jsonrpc":"2.0","id":1}`), nil, http.StatusNotFound, appgate.CodeUnknownService)
	})
}

// TestEveryRefusalHasAJSONRPCCode: each refusal code has its own
// JSON-RPC code in the range JSON-RPC 2.0 leaves to servers.
func TestEveryRefusalHasAJSONRPCCode(t *testing.T) {
	codes := appgate.JSONRPCCodes()
	require.Len(t, codes, len(appgate.Codes()))
	seen := map[int]string{}
	for _, c := range appgate.Codes() {
		n, ok := codes[c]
		require.True(t, ok, c)
		require.True(t, n <= -32000 && n >= -32099, "%s: %d", c, n)
		require.NotContains(t, seen, n, "%s and %s share %d", c, seen[n], n)
		seen[n] = c
	}
}
