package proxy_test

import (
	"bufio"
	"io"
	"net/http"
	"testing"
	"time"

	errorsmod "cosmossdk.io/errors"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/relaytest"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// relayTo is a signed relay request of f's session for the backend path.
func (f *fixture) relayTo(t testing.TB, method, path string, headers ...types.Header) []byte {
	payload, err := (&types.HTTPRequest{Method: method, Path: path, Headers: headers}).Marshal()
	require.NoError(t, err)
	hdr := f.header
	req := &types.RelayRequest{Meta: types.RelayRequestMetadata{SessionHeader: &hdr, SupplierOperatorAddress: f.sup.Address, Nonce: []byte(path)}, Payload: payload}
	relaytest.SignRequest(t, req, f.app.Key)
	return marshal(t, req)
}

// hijacked answers with raw bytes on the bare connection, then holds it
// until the other side closes it (reported on closed) or done is closed.
func hijacked(raw string, done <-chan struct{}, closed chan<- struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		if _, err := buf.WriteString(raw); err != nil || buf.Flush() != nil {
			return
		}
		cut := make(chan struct{})
		go func() {
			_, _ = io.Copy(io.Discard, bufio.NewReader(conn))
			close(cut)
		}()
		select {
		case <-cut:
			closed <- struct{}{}
		case <-done:
		}
	}
}

// TestBackendIsCutAtTheTimeoutWhateverItsStatusLine: a backend that
// switches protocols (101, the connection then held), or that keeps a
// relay's answer coming for ever, or never finishes it, holds neither the
// relay nor its connection past the service's request timeout (300 ms
// here). A 101 is refused at once as a failed backend, an answer not whole
// by the timeout as a timeout; none is mined.
func TestBackendIsCutAtTheTimeoutWhateverItsStatusLine(t *testing.T) {
	const timeout = 300 * time.Millisecond // the fixture's request_timeout
	done := make(chan struct{})
	closed := make(chan struct{}, 8)
	mux := http.NewServeMux()
	mux.Handle("/switch", hijacked("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhello", done, closed))
	mux.Handle("/bare-101", hijacked("HTTP/1.1 101 Switching Protocols\r\n\r\n", done, closed))
	mux.Handle("/no-status", hijacked("", done, closed))
	mux.Handle("/short-body", hijacked("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\":", done, closed))
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if _, err := w.Write([]byte("data: {}\n\n")); err != nil {
				closed <- struct{}{}
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-tick.C:
			case <-r.Context().Done():
				closed <- struct{}{}
				return
			case <-done:
				return
			}
		}
	})
	f := newFixture(t, mux, nil)
	t.Cleanup(func() { close(done) })

	tests := []struct {
		path   string
		status int
		err    *errorsmod.Error
		atOnce bool // refused before the timeout
	}{
		{"/switch", http.StatusBadGateway, types.ErrRelayBackendFailed, true},
		{"/bare-101", http.StatusBadGateway, types.ErrRelayBackendFailed, true},
		{"/no-status", http.StatusGatewayTimeout, types.ErrRelayBackendTimeout, false},
		{"/short-body", http.StatusGatewayTimeout, types.ErrRelayBackendTimeout, false},
		{"/stream", http.StatusGatewayTimeout, types.ErrRelayBackendTimeout, false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			start := time.Now()
			status, res := f.send(t, http.MethodPost, f.relayTo(t, http.MethodGet, tt.path))
			took := time.Since(start)
			require.Equal(t, tt.status, status)
			require.NotNil(t, res.Error)
			require.ErrorIs(t, res.Error.Err(), tt.err)
			if tt.atOnce {
				require.Less(t, took, timeout, "refused at once")
			} else {
				require.GreaterOrEqual(t, took, timeout)
			}
			require.Less(t, took, timeout+2*time.Second, "cut at the timeout")
			select {
			case <-closed: // the backend saw its connection closed
			case <-time.After(2 * time.Second):
				t.Fatal("the backend's connection is still held")
			}
		})
	}
	require.Zero(t, f.miner.count(), "nothing is mined")
}
