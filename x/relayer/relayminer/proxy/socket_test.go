package proxy_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	errorsmod "cosmossdk.io/errors"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/metricstest"
	"github.com/pokt-network/poktroll/testutil/relaytest"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/proxy"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// socketBackend is a JSON-RPC WebSocket backend: "subscribe" is answered
// with subscription id "0xsub" and then three eth_subscription
// notifications; any other call with its method echoed.
func socketBackend(t testing.TB) http.Handler {
	up := websocket.Upgrader{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != "secret" {
			http.Error(w, "the service's headers are sent when dialling", http.StatusUnauthorized)
			return
		}
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var call struct {
				ID     json.RawMessage `json:"id"`
				Method string          `json:"method"`
			}
			_ = json.Unmarshal(data, &call)
			if call.Method != "subscribe" {
				_ = conn.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%s,"result":"echo:%s"}`, call.ID, call.Method))
				continue
			}
			_ = conn.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%s,"result":"0xsub"}`, call.ID))
			for i := range 3 {
				_ = conn.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"0xsub","result":%d}}`, i))
			}
		}
	})
}

// newSocketFixture is a relay server for socketBackend within limits.
func newSocketFixture(t testing.TB, miner proxy.Miner, limits proxy.SocketLimits) *fixture {
	return newFixtureWith(t, socketBackend(t), miner, nil, func(s *proxy.Server) { s.SetSocketLimits(limits) })
}

// dial opens a relay socket.
func (f *fixture) dial(t testing.TB) *websocket.Conn {
	conn, resp, err := websocket.DefaultDialer.Dial("ws://"+f.server.Addr()+"/", nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// socketRequest is a signed relay request of hdr carrying a text message.
func (f *fixture) socketRequest(t testing.TB, hdr types.SessionHeader, data string) *types.RelayRequest {
	payload, err := (&types.WebSocketMessage{Type: types.WebSocketText, Data: []byte(data)}).Marshal()
	require.NoError(t, err)
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	req := &types.RelayRequest{Meta: types.RelayRequestMetadata{SessionHeader: &hdr, SupplierOperatorAddress: f.sup.Address, Nonce: nonce}, Payload: payload}
	relaytest.SignRequest(t, req, f.app.Key)
	return req
}

func send(t testing.TB, conn *websocket.Conn, req *types.RelayRequest) {
	require.NoError(t, conn.WriteMessage(websocket.BinaryMessage, marshal(t, req)))
}

// next reads the socket's next RelayResponse.
func next(t testing.TB, conn *websocket.Conn) *types.RelayResponse {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	mt, data, err := conn.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, websocket.BinaryMessage, mt)
	res := &types.RelayResponse{}
	require.NoError(t, res.Unmarshal(data))
	return res
}

// answer checks res is the supplier's signed answer to req and returns
// the backend's message.
func (f *fixture) answer(t testing.TB, req *types.RelayRequest, res *types.RelayResponse) string {
	t.Helper()
	require.Nil(t, res.Error)
	require.NoError(t, protocol.VerifyResponseSignature(res, f.sup.Key.PubKey()))
	key, err := protocol.RelayKey(req)
	require.NoError(t, err)
	require.Equal(t, key, res.Meta.RelayKey, "the answer names the request it answers")
	require.Equal(t, *req.Meta.SessionHeader, *res.Meta.SessionHeader)
	var msg types.WebSocketMessage
	require.NoError(t, msg.Unmarshal(res.Payload))
	require.EqualValues(t, types.WebSocketText, msg.Type)
	return string(msg.Data)
}

// refused requires res to be a refusal with err.
func refused(t testing.TB, res *types.RelayResponse, err *errorsmod.Error) {
	t.Helper()
	require.NotNil(t, res.Error)
	require.ErrorIs(t, res.Error.Err(), err, res.Error.Message)
}

// closedWith reads until the socket closes and requires code.
func closedWith(t testing.TB, conn *websocket.Conn, code int) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := conn.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		require.True(t, errors.As(err, &ce), "not closed with a close frame: %v", err)
		require.Equal(t, code, ce.Code, ce.Text)
		return
	}
}

// gatedMiner is a fakeMiner whose Mine returns only once gate is closed.
type gatedMiner struct {
	fakeMiner
	gate chan struct{}
}

func (m *gatedMiner) Mine(ctx context.Context, req *types.RelayRequest, res *types.RelayResponse, key []byte) error {
	<-m.gate
	return m.fakeMiner.Mine(ctx, req, res, key)
}

// TestSocketMessagesAreRelaysMinedBeforeTheyArePassedOn: each message on
// a relay socket is a signed RelayRequest, answered by the supplier's
// signed RelayResponse naming it and carrying the backend's message; the
// relay is mined, and durable, before the application gets the answer.
func TestSocketMessagesAreRelaysMinedBeforeTheyArePassedOn(t *testing.T) {
	m := &gatedMiner{gate: make(chan struct{})}
	f := newSocketFixture(t, m, proxy.SocketLimits{})
	conn := f.dial(t)

	req := f.socketRequest(t, f.header, `{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}`)
	send(t, conn, req)
	_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, _, err := conn.ReadMessage()
	require.Error(t, err, "nothing is passed on before the relay is durable")
	conn = f.dial(t) // a read timeout ends a gorilla connection: a new socket
	close(m.gate)

	for i := range 3 {
		req := f.socketRequest(t, f.header, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"m%d"}`, 10+i, i))
		send(t, conn, req)
		require.JSONEq(t, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"result":"echo:m%d"}`, 10+i, i), f.answer(t, req, next(t, conn)))
	}
	require.Eventually(t, func() bool { return m.count() == 4 }, 5*time.Second, 10*time.Millisecond,
		"the first socket's relay is mined too, once the miner takes it")

	// What is mined is a relay like an HTTP relay's leaf.
	leaf, err := protocol.LeafBytes(m.relays[3])
	require.NoError(t, err)
	mined, err := protocol.DecodeLeaf(leaf)
	require.NoError(t, err)
	require.NoError(t, protocol.VerifyRequestSignature(mined.Req, f.app.Key.PubKey()))
	require.NoError(t, protocol.VerifyResponseSignature(mined.Res, f.sup.Key.PubKey()))

	text := metricstest.RenderMetrics(t, f.metrics.Registry)
	require.Contains(t, text, `relayminer_socket_relays_mined_total{service="eth"} 4`)
	require.Contains(t, text, `relayminer_socket_open{service="eth"} 2`)
}

// TestSubscriptionNotificationsNameTheSubscribingRequest: a subscription's
// notifications come back signed, each naming the subscribing request;
// only the subscription's first answer is a relay (mined once).
func TestSubscriptionNotificationsNameTheSubscribingRequest(t *testing.T) {
	f := newSocketFixture(t, nil, proxy.SocketLimits{})
	conn := f.dial(t)
	sub := f.socketRequest(t, f.header, `{"jsonrpc":"2.0","id":"s","method":"subscribe"}`)
	send(t, conn, sub)
	require.JSONEq(t, `{"jsonrpc":"2.0","id":"s","result":"0xsub"}`, f.answer(t, sub, next(t, conn)))
	for i := range 3 {
		require.JSONEq(t, fmt.Sprintf(`{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"0xsub","result":%d}}`, i), f.answer(t, sub, next(t, conn)))
	}
	req := f.socketRequest(t, f.header, `{"jsonrpc":"2.0","id":2,"method":"eth_chainId"}`)
	send(t, conn, req)
	require.Contains(t, f.answer(t, req, next(t, conn)), "echo:eth_chainId")
	require.Equal(t, 2, f.miner.count(), "the subscription and the call: one relay each")
}

// TestSocketRefusalsAreTypedAndMineNothing: a forged signature, another
// session, a text frame, a replay, a message over the size limit or the
// rate each get their typed error on the socket, which stays open; a
// message over the read limit closes it with 1009. None is mined.
func TestSocketRefusalsAreTypedAndMineNothing(t *testing.T) {
	f := newSocketFixture(t, nil, proxy.SocketLimits{MaxMessageBytes: 1024, MessagesPerSecond: 1000})
	conn := f.dial(t)
	other := relaytest.NewActor()

	forged := f.socketRequest(t, f.header, `{"id":1}`)
	relaytest.SignRequest(t, forged, other.Key)
	send(t, conn, forged)
	res := next(t, conn)
	refused(t, res, types.ErrRelayInvalidSignature)
	forgedKey, err := protocol.RelayKey(forged)
	require.NoError(t, err)
	require.Equal(t, forgedKey, res.Meta.RelayKey, "a refusal names the request refused")

	hdr := f.header
	hdr.SessionId = protocol.SessionID([]byte("x"), "eth", f.app.Address, 1)
	send(t, conn, f.socketRequest(t, hdr, `{"id":1}`))
	refused(t, next(t, conn), types.ErrRelayWrongSession)

	require.NoError(t, conn.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":1}`)))
	refused(t, next(t, conn), types.ErrRelayBadRequest)

	send(t, conn, f.socketRequest(t, f.header, strings.Repeat("x", 2048)))
	refused(t, next(t, conn), types.ErrRelayBodyTooLarge)
	require.Zero(t, f.miner.count())

	// The socket is still open, and a replay of a served request refused.
	ok := f.socketRequest(t, f.header, `{"jsonrpc":"2.0","id":1,"method":"a"}`)
	send(t, conn, ok)
	f.answer(t, ok, next(t, conn))
	send(t, conn, ok)
	refused(t, next(t, conn), types.ErrRelayDuplicate)
	require.Equal(t, 1, f.miner.count())

	require.NoError(t, conn.WriteMessage(websocket.BinaryMessage, make([]byte, 1024+64<<10+1)))
	closedWith(t, conn, websocket.CloseMessageTooBig)
	require.Equal(t, 1, f.miner.count(), "only the served request was mined")

	// Over the message rate.
	f = newSocketFixture(t, nil, proxy.SocketLimits{MessagesPerSecond: 2})
	conn = f.dial(t)
	var limited int
	for i := range 6 {
		send(t, conn, f.socketRequest(t, f.header, fmt.Sprintf(`{"id":%d,"method":"m"}`, i)))
	}
	for range 6 {
		if res := next(t, conn); res.Error != nil {
			refused(t, res, types.ErrRelayRateLimited)
			limited++
		}
	}
	require.GreaterOrEqual(t, limited, 3, "a burst of 2 a second, then refusals")
	require.Equal(t, 6-limited, f.miner.count())
}

// TestApplicationOverItsSocketsIsClosedWith4429: the application's
// sockets beyond the limit are refused and closed with 4429.
func TestApplicationOverItsSocketsIsClosedWith4429(t *testing.T) {
	f := newSocketFixture(t, nil, proxy.SocketLimits{MaxConnectionsPerApplication: 1})
	first := f.dial(t)
	req := f.socketRequest(t, f.header, `{"id":1,"method":"a"}`)
	send(t, first, req)
	f.answer(t, req, next(t, first))

	second := f.dial(t)
	send(t, second, f.socketRequest(t, f.header, `{"id":2,"method":"a"}`))
	refused(t, next(t, second), types.ErrRelayRateLimited)
	closedWith(t, second, proxy.CloseTooManyConnections)
	require.Equal(t, 1, f.miner.count())

	// Once the first closes, the application may open another.
	require.NoError(t, first.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second)))
	require.Eventually(t, func() bool {
		return strings.Contains(metricstest.RenderMetrics(t, f.metrics.Registry), `relayminer_socket_closes_total{reason="closed_by_application",service="eth"} 1`)
	}, 5*time.Second, 20*time.Millisecond)
	third := f.dial(t)
	req = f.socketRequest(t, f.header, `{"id":3,"method":"a"}`)
	send(t, third, req)
	f.answer(t, req, next(t, third))
}

// TestSocketIsClosedAtTheSessionsGracePeriodEnd: once the chain is past
// the session's grace period the socket is closed with 4410; an idle
// socket with 4408; a backend that cannot be opened with 4502.
func TestSocketIsClosedAtTheSessionsGracePeriodEnd(t *testing.T) {
	f := newSocketFixture(t, nil, proxy.SocketLimits{})
	conn := f.dial(t)
	req := f.socketRequest(t, f.header, `{"id":1,"method":"a"}`)
	send(t, conn, req)
	f.answer(t, req, next(t, conn))
	f.chain.setHeight(100)
	closedWith(t, conn, proxy.CloseSessionOver)

	f = newSocketFixture(t, nil, proxy.SocketLimits{IdleTimeout: 300 * time.Millisecond})
	conn = f.dial(t)
	start := time.Now()
	closedWith(t, conn, proxy.CloseIdle)
	require.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)

	f = newFixture(t, http.NotFoundHandler(), nil) // no WebSocket there
	conn = f.dial(t)
	send(t, conn, f.socketRequest(t, f.header, `{"id":1}`))
	refused(t, next(t, conn), types.ErrRelayBackendFailed)
	closedWith(t, conn, proxy.CloseBackendFailed)
	require.Zero(t, f.miner.count())
}
