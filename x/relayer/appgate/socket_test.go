package appgate_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cosmos/cosmos-sdk/crypto/keys/secp256k1"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/appgate"
	"github.com/pokt-network/poktroll/x/relayer/appgate/config"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// wsSupplier is a RelayMiner's relay socket stand-in: it answers each
// signed message as a JSON-RPC backend would, signing its answers.
// "subscribe" gets subscription id "0x<name>"; notify sends its
// subscribers a notification.
type wsSupplier struct {
	t    *testing.T
	name string
	key  *secp256k1.PrivKey
	srv  *httptest.Server

	mu      sync.Mutex
	forge   bool // sign answers with another key
	refuse  bool // refuse every message (relay error)
	subs    []wsSub
	conns   []*wsConn
	seen    []*types.RelayRequest
	methods []string
	pings   int
}

type wsConn struct {
	mu   sync.Mutex
	conn *websocket.Conn
}

type wsSub struct {
	c   *wsConn
	req *types.RelayRequest
}

func newWSSupplier(t *testing.T, name string) *wsSupplier {
	s := &wsSupplier{t: t, name: name, key: secp256k1.GenPrivKey()}
	up := websocket.Upgrader{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c := &wsConn{conn: conn}
		conn.SetPingHandler(func(string) error {
			s.mu.Lock()
			s.pings++
			s.mu.Unlock()
			return nil
		})
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		defer conn.Close()
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			s.serve(c, data)
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *wsSupplier) serve(c *wsConn, data []byte) {
	req := &types.RelayRequest{}
	require.NoError(s.t, req.Unmarshal(data))
	var msg types.WebSocketMessage
	require.NoError(s.t, msg.Unmarshal(req.Payload))
	var call struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	_ = json.Unmarshal(msg.Data, &call)
	s.mu.Lock()
	s.seen = append(s.seen, req)
	s.methods = append(s.methods, call.Method)
	refuse := s.refuse
	if call.Method == "subscribe" {
		s.subs = append(s.subs, wsSub{c, req})
	}
	s.mu.Unlock()
	if refuse {
		key, err := protocol.RelayKey(req)
		require.NoError(s.t, err)
		res := &types.RelayResponse{Meta: types.RelayResponseMetadata{SessionHeader: req.Meta.SessionHeader, RelayKey: key},
			Error: &types.RelayError{Codespace: types.RelayCodespace, Code: types.ErrRelayOverServiced.ABCICode(), Message: "refused by " + s.name}}
		s.write(c, res)
		return
	}
	if call.Method == "subscribe" {
		s.answer(c, req, fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":"0x%s"}`, call.ID, s.name))
		return
	}
	s.answer(c, req, fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":"%s:%s"}`, call.ID, s.name, call.Method))
}

// answer sends req's signed answer carrying data.
func (s *wsSupplier) answer(c *wsConn, req *types.RelayRequest, data string) {
	payload, err := (&types.WebSocketMessage{Type: types.WebSocketText, Data: []byte(data)}).Marshal()
	require.NoError(s.t, err)
	key, err := protocol.RelayKey(req)
	require.NoError(s.t, err)
	res := &types.RelayResponse{Meta: types.RelayResponseMetadata{SessionHeader: req.Meta.SessionHeader, RelayKey: key}, Payload: payload}
	signable, err := protocol.ResponseSignableBytes(res)
	require.NoError(s.t, err)
	s.mu.Lock()
	signer := s.key
	if s.forge {
		signer = secp256k1.GenPrivKey()
	}
	s.mu.Unlock()
	res.Meta.SupplierSignature, err = signer.Sign(signable)
	require.NoError(s.t, err)
	s.write(c, res)
}

func (s *wsSupplier) write(c *wsConn, res *types.RelayResponse) {
	bz, err := res.Marshal()
	require.NoError(s.t, err)
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.conn.WriteMessage(websocket.BinaryMessage, bz)
}

// notify sends every subscriber notification i.
func (s *wsSupplier) notify(i int) {
	s.mu.Lock()
	subs := append([]wsSub(nil), s.subs...)
	s.mu.Unlock()
	for _, sub := range subs {
		s.answer(sub.c, sub.req, fmt.Sprintf(`{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"0x%s","result":%d}}`, s.name, i))
	}
}

// closeAll closes every socket with code.
func (s *wsSupplier) closeAll(code int) {
	s.mu.Lock()
	conns := append([]*wsConn(nil), s.conns...)
	s.mu.Unlock()
	for _, c := range conns {
		c.mu.Lock()
		_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, "test"), time.Now().Add(time.Second))
		_ = c.conn.Close()
		c.mu.Unlock()
	}
}

func (s *wsSupplier) calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.methods...)
}

// wsHarness is a harness whose sessions hold WebSocket suppliers: bySession
// gives each session start height's suppliers.
func wsHarness(t *testing.T, opts appgate.Options, bySession func(start int64) []*wsSupplier) *harness {
	return newHarnessWith(t, 0, opts, func(h *harness) {
		// Sessions of 4 blocks whose grace period outlasts the next
		// session's first block: for a block both serve.
		h.chain.params.GracePeriodEndOffsetBlocks = 2
		h.chain.setSessions(func(height int64) (types.Session, error) {
			s := h.sessionAt(height)
			for _, sup := range bySession(s.Header.SessionStartBlockHeight) {
				h.chain.pubs[sup.name] = sup.key.PubKey() // called with h.chain.mu held
				s.Suppliers = append(s.Suppliers, types.Supplier{OperatorAddress: sup.name,
					Services: []types.SupplierService{{ServiceId: service, EndpointUrl: sup.srv.URL}}})
			}
			return s, nil
		})
	})
}

// dialClient opens a client WebSocket to the AppGate's path.
func (h *harness) dialClient(path string) *websocket.Conn {
	h.t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(h.url, "http")+path, nil)
	require.NoError(h.t, err)
	_ = resp.Body.Close()
	h.t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// read reads the client's next message, as text.
func read(t *testing.T, conn *websocket.Conn) string {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	mt, data, err := conn.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, websocket.TextMessage, mt)
	return string(data)
}

// TestClientSocketIsRelayedSignedAndVerified: a client's WebSocket
// messages reach the supplier as signed relay requests of the session, and
// the client gets exactly the backend's verified messages.
func TestClientSocketIsRelayedSignedAndVerified(t *testing.T) {
	a := newWSSupplier(t, "supA")
	h := wsHarness(t, appgate.Options{}, func(int64) []*wsSupplier { return []*wsSupplier{a} })
	conn := h.dialClient("/svc/")
	require.NoError(t, conn.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}`)))
	require.Equal(t, `{"jsonrpc":"2.0","id":1,"result":"supA:eth_blockNumber"}`, read(t, conn))
	a.mu.Lock()
	req := a.seen[0]
	a.mu.Unlock()
	require.Equal(t, h.sessionAt(6).Header, *req.Meta.SessionHeader)
	require.Equal(t, "supA", req.Meta.SupplierOperatorAddress)
	require.NotEmpty(t, req.Meta.Signature)

	// A supplier's forged answer never reaches the client.
	a.mu.Lock()
	a.forge = true
	a.mu.Unlock()
	require.NoError(t, conn.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":2,"method":"x"}`)))
	_ = conn.SetReadDeadline(time.Now().Add(700 * time.Millisecond))
	_, data, err := conn.ReadMessage()
	if err == nil {
		require.NotContains(t, string(data), "supA:x", "a forged answer was handed on")
	}
}

// TestForgingSupplierIsReplacedAndTheCallSentAgain: a supplier whose
// answer does not verify is replaced by another of the session, and the
// unanswered call is sent to it again: the client gets one answer, the
// verified one.
func TestForgingSupplierIsReplacedAndTheCallSentAgain(t *testing.T) {
	for range 3 { // the socket opens to either supplier first
		a, b := newWSSupplier(t, "supA"), newWSSupplier(t, "supB")
		a.forge = true
		h := wsHarness(t, appgate.Options{}, func(int64) []*wsSupplier { return []*wsSupplier{a, b} })
		conn := h.dialClient("/svc/")
		require.NoError(t, conn.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":7,"method":"m"}`)))
		require.Equal(t, `{"jsonrpc":"2.0","id":7,"result":"supB:m"}`, read(t, conn))
		_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, extra, err := conn.ReadMessage()
		require.Error(t, err, "one answer only, got also %s", extra)
		require.Equal(t, []string{"m"}, b.calls())
	}
}

// TestSubscriptionSurvivesTheSessionsEnd: a client subscribed through the
// AppGate keeps its socket and its subscription across a session's end:
// once the next session is current the AppGate subscribes again with its
// supplier, hides that answer, and hands on the notifications under the
// subscription id the client knows; while both sessions' sockets serve, a
// notification both carry reaches the client once. The old session's
// supplier closing its socket at the grace period's end (4410) changes
// nothing for the client.
func TestSubscriptionSurvivesTheSessionsEnd(t *testing.T) {
	a, b := newWSSupplier(t, "supA"), newWSSupplier(t, "supB")
	h := wsHarness(t, appgate.Options{RPCTypes: map[string]string{service: config.RPCTypeJSONRPC}}, func(start int64) []*wsSupplier {
		if start <= 5 {
			return []*wsSupplier{a}
		}
		return []*wsSupplier{b}
	})
	conn := h.dialClient("/svc/")
	require.NoError(t, conn.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":"s","method":"subscribe","params":["newHeads"]}`)))
	require.Equal(t, `{"jsonrpc":"2.0","id":"s","result":"0xsupA"}`, read(t, conn))
	a.notify(0)
	require.Equal(t, `{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"0xsupA","result":0}}`, read(t, conn))

	// Session 9-12 is current at height 10; 5-8 serves to its grace end, 10.
	h.advance(10)
	require.Eventually(t, func() bool { return len(b.calls()) == 1 }, 5*time.Second, 10*time.Millisecond, "subscribed again with the new session's supplier")
	b.mu.Lock()
	require.Equal(t, h.sessionAt(10).Header, *b.seen[0].Meta.SessionHeader)
	b.mu.Unlock()
	a.notify(1)
	b.notify(1)
	// From either socket (the new one's rewritten: members may be reordered).
	require.JSONEq(t, `{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"0xsupA","result":1}}`, read(t, conn),
		"the new subscription's answer is not handed on; its notification carries the client's id")
	_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, dup, err := conn.ReadMessage()
	require.Error(t, err, "a notification both sockets carried is handed on once, got also %s", dup)

	conn = h.dialClient("/svc/") // a read timeout ends a gorilla connection: check on a second client
	require.NoError(t, conn.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":3,"method":"eth_chainId"}`)))
	require.Equal(t, `{"jsonrpc":"2.0","id":3,"result":"supB:eth_chainId"}`, read(t, conn))
	h.advance(11)
	a.closeAll(4410)
	b.notify(2)
	require.NoError(t, conn.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":4,"method":"eth_chainId"}`)))
	require.Equal(t, `{"jsonrpc":"2.0","id":4,"result":"supB:eth_chainId"}`, read(t, conn), "the socket stays open")
}

// TestRefusedSocketMessageGetsAJSONRPCError: a message the supplier
// refuses is answered with a JSON-RPC error carrying its id.
func TestRefusedSocketMessageGetsAJSONRPCError(t *testing.T) {
	a := newWSSupplier(t, "supA")
	a.refuse = true
	h := wsHarness(t, appgate.Options{RPCTypes: map[string]string{service: config.RPCTypeJSONRPC}}, func(int64) []*wsSupplier { return []*wsSupplier{a} })
	conn := h.dialClient("/svc/")
	require.NoError(t, conn.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":42,"method":"m"}`)))
	var e rpcError
	require.NoError(t, json.Unmarshal([]byte(read(t, conn)), &e))
	require.Equal(t, "42", string(e.ID))
	require.Equal(t, appgate.CodeSuppliersFailed, e.Error.Data.Code)
	require.Contains(t, e.Error.Data.Message, "refused by supA")
}

// TestSocketWithoutSuppliersGetsTheHTTPError: when no supplier's socket
// opens the handshake is answered with the AppGate's error.
func TestSocketWithoutSuppliersGetsTheHTTPError(t *testing.T) {
	h := wsHarness(t, appgate.Options{}, func(int64) []*wsSupplier { return nil })
	_, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(h.url, "http")+"/svc/", nil)
	require.ErrorIs(t, err, websocket.ErrBadHandshake)
	defer resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
}

// TestIdleSupplierSocketIsKeptAliveAndReopened: the AppGate pings its
// supplier sockets (a quiet subscription outlives a RelayMiner's idle
// timeout), and a supplier socket closed as idle (4408) is opened again
// with the client's subscription, the client's socket staying open.
func TestIdleSupplierSocketIsKeptAliveAndReopened(t *testing.T) {
	a := newWSSupplier(t, "supA")
	h := wsHarness(t, appgate.Options{SocketPing: 30 * time.Millisecond}, func(int64) []*wsSupplier { return []*wsSupplier{a} })
	conn := h.dialClient("/svc/")
	require.NoError(t, conn.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":1,"method":"subscribe"}`)))
	require.Equal(t, `{"jsonrpc":"2.0","id":1,"result":"0xsupA"}`, read(t, conn))
	require.Eventually(t, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.pings >= 2
	}, 5*time.Second, 10*time.Millisecond, "the supplier's socket is pinged")

	a.closeAll(4408)
	require.Eventually(t, func() bool { return len(a.calls()) == 2 }, 5*time.Second, 10*time.Millisecond, "subscribed again")
	a.mu.Lock()
	a.subs = a.subs[1:] // the closed socket's
	a.mu.Unlock()
	a.notify(7)
	require.Equal(t, `{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"0xsupA","result":7}}`, read(t, conn))
}
