package appgate

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"cosmossdk.io/log"
	cryptotypes "github.com/cosmos/cosmos-sdk/crypto/types"
	"github.com/gorilla/websocket"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// A client WebSocket (ws://<listen>/<service_id>/) is relayed over a relay
// socket to a supplier of the application's session: each client message
// is signed as a RelayRequest (payload a WebSocketMessage), each
// RelayResponse the supplier sends is verified (session, the request it
// names, the supplier's signature) and its message handed to the client
// as the backend sent it. Once the next session is current (follow), or
// when the supplier's socket ends (the supplier failed, or sent something
// unverifiable; the grace period is over: 4410), the AppGate opens one to
// a supplier of the current session and sends again, signed anew, the
// calls still unanswered and the client's open subscriptions. The answers
// to those subscriptions are not handed to the client (it had them); an
// eth_subscription's new subscription id is replaced, in the
// notifications, by the one the client knows. While the old session's
// socket still serves, a notification both carry is handed on once. After
// a failure the client may miss the notifications the backend sent
// between the two sockets.

// clientCloseNoSupplier closes a client's socket when no supplier of the
// session can take it.
const clientCloseNoSupplier = 4503

// serveSocket relays the client's WebSocket for service.
func (g *Gateway) serveSocket(w http.ResponseWriter, r *http.Request, service string) {
	cs := &clientSocket{g: g, service: service, lg: g.logger.With("service", service, "remote", r.RemoteAddr),
		subIDs: map[string]string{}}
	ctx, cancel := context.WithTimeout(r.Context(), g.opts.RequestTimeout)
	up, aerr := cs.open(ctx, nil)
	cancel()
	if aerr != nil {
		// Answered before the upgrade: the client gets the HTTP error.
		g.metrics.Requests.WithLabelValues(service, aerr.Code).Inc()
		g.writeError(w, service, nil, aerr)
		return
	}
	upgrader := websocket.Upgrader{CheckOrigin: func(r *http.Request) bool {
		origin := r.Header.Get("Origin")
		return origin == "" || g.cors.allowed(origin)
	}}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		up.close()
		g.metrics.Requests.WithLabelValues(service, CodeBadRequest).Inc()
		return
	}
	g.metrics.Requests.WithLabelValues(service, "socket").Inc()
	g.metrics.Sockets.WithLabelValues(service).Inc()
	defer g.metrics.Sockets.WithLabelValues(service).Dec()
	cs.client = conn
	conn.SetReadLimit(g.opts.MaxBodyBytes)
	cs.use(up)
	cs.run()
}

// clientSocket is one client's WebSocket.
type clientSocket struct {
	g       *Gateway
	service string
	lg      log.Logger
	client  *websocket.Conn
	cwmu    sync.Mutex // one writer to client at a time

	mu      sync.Mutex
	up      *upstream
	calls   []*call           // sent, not answered yet, and open subscriptions
	subIDs  map[string]string // a re-subscription's id -> the client's
	closed  bool
	failing map[string]bool // suppliers that failed this socket
	// old is the previous session's supplier socket while it overlaps up
	// (see follow); recent are the messages handed on meanwhile.
	old       *upstream
	recent    [][sha256.Size]byte
	following bool
}

// call is one client message sent on.
type call struct {
	mt       int
	data     []byte
	sub      bool   // a subscription: sent again on a new supplier's socket
	clientID string // for a subscription, the id the client was given
	answered bool
}

// upstream is one relay socket to a supplier.
type upstream struct {
	conn *websocket.Conn
	sess *session
	addr string
	pub  cryptotypes.PubKey
	wmu  sync.Mutex

	mu      sync.Mutex
	sent    map[string]*call // by relay key, at most maxSent
	order   []string         // sent's keys, oldest first
	resends map[string]bool  // relay keys of subscriptions sent again
	got     map[string]bool  // relay keys answered: each one relay, mined by the supplier
}

// maxSent bounds the requests a supplier socket remembers; maxCalls the
// client's calls kept to be sent again.
const (
	maxSent  = 4096
	maxCalls = 1024
)

func (u *upstream) close() { _ = u.conn.Close() }

// open dials a supplier of the service's current sessions, preferring
// those that did not fail this socket.
func (cs *clientSocket) open(ctx context.Context, failing map[string]bool) (*upstream, *Error) {
	g := cs.g
	var last string
	for round := 0; round < 2; round++ {
		cands, err := g.sessions.candidates(ctx, cs.service, round > 0)
		if err != nil {
			if ctx.Err() != nil {
				return nil, newError(CodeTimeout, fmt.Sprintf("no supplier's socket opened within %s", g.opts.RequestTimeout))
			}
			return nil, sessionError(g.app.Address, cs.service, err)
		}
		turn := g.picker.nextTurn(cs.service)
		for _, sess := range cands {
			sups := g.picker.order(cs.service, sess.Suppliers, turn)
			// This socket's failed suppliers last.
			var fresh, failed []types.Supplier
			for _, s := range sups {
				if failing[s.OperatorAddress] {
					failed = append(failed, s)
				} else {
					fresh = append(fresh, s)
				}
			}
			for _, sup := range append(fresh, failed...) {
				up, err := cs.dial(ctx, sess, sup)
				if err == nil {
					return up, nil
				}
				last = fmt.Sprintf("%s: %v", sup.OperatorAddress, err)
				g.picker.fail(cs.service, sup.OperatorAddress)
				g.metrics.Relays.WithLabelValues(cs.service, sup.OperatorAddress, "unreachable").Inc()
				if ctx.Err() != nil {
					return nil, newError(CodeTimeout, fmt.Sprintf("no supplier's socket opened within %s: %s", g.opts.RequestTimeout, last))
				}
			}
		}
	}
	if last == "" {
		return nil, newError(CodeNoSuppliers, fmt.Sprintf("the sessions of service %q have no suppliers", cs.service))
	}
	return nil, newError(CodeSuppliersFailed, "no supplier's socket opened: "+last)
}

// dial opens a relay socket to sup for sess.
func (cs *clientSocket) dial(ctx context.Context, sess *session, sup types.Supplier) (*upstream, error) {
	endpoint := endpointOf(sup, cs.service)
	u, err := url.Parse(endpoint)
	if err != nil || endpoint == "" {
		return nil, fmt.Errorf("no usable endpoint %q", endpoint)
	}
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	pub, err := cs.g.chain.PubKey(ctx, sup.OperatorAddress)
	if err != nil {
		return nil, err
	}
	conn, resp, err := (&websocket.Dialer{HandshakeTimeout: cs.g.opts.RequestTimeout}).DialContext(ctx, u.String(), nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(maxResponseBytes)
	return &upstream{conn: conn, sess: sess, addr: sup.OperatorAddress, pub: pub, sent: map[string]*call{}, resends: map[string]bool{}, got: map[string]bool{}}, nil
}

// use makes up the socket's supplier and reads it.
func (cs *clientSocket) use(up *upstream) {
	cs.mu.Lock()
	cs.up = up
	start := !cs.following
	cs.following = true
	cs.mu.Unlock()
	cs.lg.Debug("relaying the socket", "supplier", up.addr, "session_id", up.sess.Header.SessionId)
	go cs.fromSupplier(up)
	if start {
		go cs.follow()
	}
}

// run reads the client's messages until it closes.
func (cs *clientSocket) run() {
	defer cs.close(websocket.CloseNormalClosure, "")
	for {
		mt, data, err := cs.client.ReadMessage()
		if err != nil {
			return
		}
		cs.g.metrics.SocketMessages.WithLabelValues(cs.service, "in").Inc()
		c := &call{mt: mt, data: data}
		method := jsonRPCMethod(data)
		switch {
		case strings.HasSuffix(method, "unsubscribe_all"):
			cs.dropSubscriptions(func(*call) bool { return true })
		case strings.HasSuffix(method, "unsubscribe"):
			params := string(jsonRPCParams(data))
			cs.dropSubscriptions(func(o *call) bool {
				return o.clientID != "" && strings.Contains(params, o.clientID) || bytes.Equal(jsonRPCParams(o.data), jsonRPCParams(data))
			})
		case strings.HasSuffix(method, "subscribe"):
			c.sub = true
		}
		cs.mu.Lock()
		if c.sub || jsonRPCID(data) != "" {
			// Kept to be sent again on another supplier's socket until
			// answered (a subscription for as long as it is open); a
			// message without an id expects no answer.
			cs.calls = append(cs.calls, c)
			for i := 0; len(cs.calls) > maxCalls && i < len(cs.calls); {
				if cs.calls[i].sub {
					i++
					continue
				}
				cs.calls = append(cs.calls[:i], cs.calls[i+1:]...)
			}
		}
		up := cs.up
		cs.mu.Unlock()
		if up != nil {
			if err := cs.send(up, c, false); err != nil {
				cs.replace(up, err.Error())
			}
		}
	}
}

// dropSubscriptions forgets the subscriptions match selects.
func (cs *clientSocket) dropSubscriptions(match func(*call) bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	kept := cs.calls[:0]
	for _, c := range cs.calls {
		if !(c.sub && c.answered && match(c)) {
			kept = append(kept, c)
		}
	}
	cs.calls = kept
}

// send signs c for up's session and supplier and sends it.
func (cs *clientSocket) send(up *upstream, c *call, resend bool) error {
	payload, err := (&types.WebSocketMessage{Type: uint32(c.mt), Data: c.data}).Marshal()
	if err != nil {
		return err
	}
	hdr := up.sess.Header
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	req := &types.RelayRequest{Meta: types.RelayRequestMetadata{SessionHeader: &hdr, SupplierOperatorAddress: up.addr, Nonce: nonce}, Payload: payload}
	key, err := protocol.RelayKey(req)
	if err == nil {
		req.Meta.Signature, err = cs.g.sign(key)
	}
	var raw []byte
	if err == nil {
		raw, err = req.Marshal()
	}
	if err != nil {
		return err
	}
	up.mu.Lock()
	up.sent[string(key)] = c
	up.order = append(up.order, string(key))
	if resend {
		up.resends[string(key)] = true
	}
	for len(up.order) > maxSent {
		// The oldest are forgotten; a subscription's later answers then
		// pass as answers to no call of ours (still verified).
		old := up.order[0]
		up.order = up.order[1:]
		delete(up.sent, old)
		delete(up.resends, old)
		delete(up.got, old)
	}
	up.mu.Unlock()
	up.wmu.Lock()
	defer up.wmu.Unlock()
	_ = up.conn.SetWriteDeadline(time.Now().Add(cs.g.opts.RequestTimeout))
	return up.conn.WriteMessage(websocket.BinaryMessage, raw)
}

// fromSupplier verifies up's messages and hands them to the client, until
// up ends; then it is replaced.
func (cs *clientSocket) fromSupplier(up *upstream) {
	go cs.ping(up)
	for {
		_, data, err := up.conn.ReadMessage()
		if err != nil {
			cs.mu.Lock()
			gone := cs.closed || (cs.up != up && cs.old != up)
			cs.mu.Unlock()
			if gone {
				// Closed by the AppGate (the client left, or it was
				// replaced): not the supplier's failure.
				return
			}
			why := "the supplier's socket ended"
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				why = fmt.Sprintf("the supplier closed its socket (%d %s)", ce.Code, ce.Text)
				// The session's grace period ended (4410), or the socket
				// idled (4408): not the supplier's fault.
				if ce.Code == 4410 || ce.Code == 4408 {
					cs.replaceAfterSession(up, why)
					return
				}
			}
			cs.replace(up, why)
			return
		}
		res := &types.RelayResponse{}
		if err := res.Unmarshal(data); err != nil {
			cs.replace(up, "not a RelayResponse")
			return
		}
		up.mu.Lock()
		c, ok := up.sent[string(res.Meta.RelayKey)]
		resend := up.resends[string(res.Meta.RelayKey)]
		up.mu.Unlock()
		markResent := func() { // its first answer on this socket was seen
			up.mu.Lock()
			delete(up.resends, string(res.Meta.RelayKey))
			up.mu.Unlock()
		}
		if e := res.Error; e != nil {
			cs.g.metrics.Relays.WithLabelValues(cs.service, up.addr, "refused").Inc()
			cs.lg.Info("supplier refused a socket message", "supplier", up.addr, "code", e.Code, "error", e.Message)
			if ok && !c.answered {
				cs.refused(c, up, e)
			}
			continue
		}
		if got := res.Meta.SessionHeader; got == nil || *got != up.sess.Header {
			cs.replace(up, "an answer for another session")
			return
		}
		if err := protocol.VerifyResponseSignature(res, up.pub); err != nil {
			cs.replace(up, "bad supplier signature: "+err.Error())
			return
		}
		var msg types.WebSocketMessage
		if err := msg.Unmarshal(res.Payload); err != nil {
			cs.replace(up, "payload is not a WebSocketMessage")
			return
		}
		up.mu.Lock()
		relay := ok && !up.got[string(res.Meta.RelayKey)]
		if relay {
			up.got[string(res.Meta.RelayKey)] = true
		}
		up.mu.Unlock()
		if relay {
			// The request's first answer: the relay the supplier mined.
			cs.g.metrics.Relays.WithLabelValues(cs.service, up.addr, "ok").Inc()
		}
		if !ok {
			// An answer to a request forgotten (maxSent): signed by the
			// supplier for this session, passed on.
			cs.toClient(int(msg.Type), cs.clientView(msg.Data))
			continue
		}
		if resend {
			// The client has its subscription: learn its new id.
			markResent()
			if id := jsonRPCResult(msg.Data); id != "" && c.clientID != "" && id != c.clientID {
				cs.mu.Lock()
				cs.subIDs[id] = c.clientID
				cs.mu.Unlock()
			}
			continue
		}
		first := cs.answer(c)
		if !first && !c.sub {
			// A call sent again while two suppliers' sockets overlap:
			// answered already.
			continue
		}
		if first && c.sub {
			cs.mu.Lock()
			c.clientID = jsonRPCResult(msg.Data)
			cs.mu.Unlock()
		}
		view := cs.clientView(msg.Data)
		if cs.duplicate(view) {
			continue
		}
		cs.toClient(int(msg.Type), view)
	}
}

// duplicate reports whether data was handed on already while two
// suppliers' sockets overlap (the old session's and the new one's both
// carry the subscriptions' notifications), remembering it.
func (cs *clientSocket) duplicate(data []byte) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.old == nil {
		cs.recent = nil
		return false
	}
	sum := sha256.Sum256(canonicalJSON(data))
	if slices.Contains(cs.recent, sum) {
		return true
	}
	cs.recent = append(cs.recent, sum)
	if len(cs.recent) > 256 {
		cs.recent = cs.recent[1:]
	}
	return false
}

// canonicalJSON is data with its JSON objects' members sorted (numbers
// as written), or data itself when it is not JSON: two suppliers' copies
// of one notification compare equal whatever their members' order.
func canonicalJSON(data []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil || dec.More() {
		return data
	}
	out, err := json.Marshal(v)
	if err != nil {
		return data
	}
	return out
}

// follow moves the socket to a supplier of the next session as soon as
// that session is the current one, while the old session's socket still
// serves (to its grace period's end): the client's subscriptions are open
// on both for a while, and their notifications handed on once.
func (cs *clientSocket) follow() {
	t := time.NewTicker(followInterval)
	defer t.Stop()
	for range t.C {
		cs.mu.Lock()
		up, closed, overlapping := cs.up, cs.closed, cs.old != nil
		cs.mu.Unlock()
		if closed {
			return
		}
		if up == nil || overlapping {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), cs.g.opts.RequestTimeout)
		cands, err := cs.g.sessions.candidates(ctx, cs.service, false)
		cancel()
		if err != nil || len(cands) == 0 || cands[0].start() <= up.sess.start() {
			continue
		}
		cs.migrate(up)
	}
}

// followInterval is how often a client's socket checks for a new session.
const followInterval = 250 * time.Millisecond

// migrate opens a socket to a supplier of the current session and sends
// it the open subscriptions and unanswered calls; old keeps serving until
// it ends.
func (cs *clientSocket) migrate(old *upstream) {
	ctx, cancel := context.WithTimeout(context.Background(), cs.g.opts.RequestTimeout)
	next, aerr := cs.open(ctx, nil)
	cancel()
	if aerr != nil {
		cs.lg.Info("could not open a socket for the new session yet", "error", aerr.Message)
		return
	}
	cs.mu.Lock()
	if cs.closed || cs.up != old {
		cs.mu.Unlock()
		next.close()
		return
	}
	cs.old, cs.up = old, next
	again := append([]*call(nil), cs.calls...)
	cs.mu.Unlock()
	cs.lg.Debug("moving the socket to the new session", "supplier", next.addr, "session_id", next.sess.Header.SessionId)
	go cs.fromSupplier(next)
	for _, c := range again {
		if err := cs.send(next, c, c.sub && c.answered); err != nil {
			cs.replace(next, err.Error())
			return
		}
	}
}

// ping pings up until it ends.
func (cs *clientSocket) ping(up *upstream) {
	t := time.NewTicker(cs.g.opts.SocketPing)
	defer t.Stop()
	for range t.C {
		up.wmu.Lock()
		err := up.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(cs.g.opts.RequestTimeout))
		up.wmu.Unlock()
		if err != nil {
			return
		}
	}
}

// answer marks c answered; a call (not a subscription) is then forgotten.
// It reports whether this was c's first answer.
func (cs *clientSocket) answer(c *call) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	first := !c.answered
	c.answered = true
	if first && !c.sub {
		for i, o := range cs.calls {
			if o == c {
				cs.calls = append(cs.calls[:i], cs.calls[i+1:]...)
				break
			}
		}
	}
	return first
}

// refused answers a call the supplier refused with the AppGate's error
// (a JSON-RPC error carrying the call's id for a JSON-RPC service).
func (cs *clientSocket) refused(c *call, up *upstream, e *types.RelayError) {
	cs.answer(c)
	err := newError(CodeSuppliersFailed, fmt.Sprintf("supplier %s refused the message: %s code %d: %s", up.addr, e.Codespace, e.Code, e.Message))
	var body []byte
	if cs.g.jsonRPC[cs.service] {
		body = jsonRPCErrorBody(c.data, err)
	} else {
		body, _ = json.Marshal(struct {
			Error *Error `json:"error"`
		}{err})
	}
	cs.toClient(websocket.TextMessage, body)
}

// clientView is a backend message as the client knows it: an
// eth_subscription notification of a subscription opened again carries
// the id the client was given.
func (cs *clientSocket) clientView(data []byte) []byte {
	cs.mu.Lock()
	empty := len(cs.subIDs) == 0
	cs.mu.Unlock()
	if empty {
		return data
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return data
	}
	var params map[string]json.RawMessage
	if json.Unmarshal(m["params"], &params) != nil {
		return data
	}
	cs.mu.Lock()
	clientID, ok := cs.subIDs[string(bytes.TrimSpace(params["subscription"]))]
	cs.mu.Unlock()
	if !ok {
		return data
	}
	params["subscription"] = json.RawMessage(clientID)
	m["params"], _ = json.Marshal(params)
	out, err := json.Marshal(m)
	if err != nil {
		return data
	}
	return out
}

// toClient writes one message to the client.
func (cs *clientSocket) toClient(mt int, data []byte) {
	cs.cwmu.Lock()
	_ = cs.client.SetWriteDeadline(time.Now().Add(cs.g.opts.RequestTimeout))
	err := cs.client.WriteMessage(mt, data)
	cs.cwmu.Unlock()
	if err != nil {
		cs.close(websocket.CloseAbnormalClosure, "")
		return
	}
	cs.g.metrics.SocketMessages.WithLabelValues(cs.service, "out").Inc()
}

// replace replaces a supplier that failed the socket.
func (cs *clientSocket) replace(up *upstream, why string) {
	cs.g.picker.fail(cs.service, up.addr)
	cs.g.metrics.Relays.WithLabelValues(cs.service, up.addr, "socket_failed").Inc()
	cs.mu.Lock()
	if cs.failing == nil {
		cs.failing = map[string]bool{}
	}
	cs.failing[up.addr] = true
	cs.mu.Unlock()
	cs.reopen(up, why, false)
}

// replaceAfterSession moves the socket to the next session.
func (cs *clientSocket) replaceAfterSession(up *upstream, why string) { cs.reopen(up, why, true) }

// reopen opens a new supplier socket in up's place, and sends it the
// unanswered calls and the open subscriptions again. With no supplier
// the client's socket is closed.
func (cs *clientSocket) reopen(up *upstream, why string, sessionOver bool) {
	up.close()
	cs.mu.Lock()
	if cs.old == up {
		// The old session's socket ended: the overlap is over.
		cs.old = nil
	}
	if cs.closed || cs.up != up {
		cs.mu.Unlock()
		return
	}
	cs.up = nil
	failing := map[string]bool{}
	for a := range cs.failing {
		failing[a] = true
	}
	cs.mu.Unlock()
	cs.lg.Info("the supplier's socket ended; opening another", "supplier", up.addr, "why", why, "session_over", sessionOver)
	var next *upstream
	var aerr *Error
	for try := 0; try < 3 && next == nil; try++ {
		if try > 0 {
			// The next session may start a block later on the node.
			time.Sleep(retryPause)
		}
		ctx, cancel := context.WithTimeout(context.Background(), cs.g.opts.RequestTimeout)
		next, aerr = cs.open(ctx, failing)
		cancel()
	}
	if next == nil {
		cs.close(clientCloseNoSupplier, aerr.Code)
		return
	}
	cs.mu.Lock()
	if cs.closed {
		cs.mu.Unlock()
		next.close()
		return
	}
	again := append([]*call(nil), cs.calls...)
	cs.mu.Unlock()
	cs.use(next)
	for _, c := range again {
		if err := cs.send(next, c, c.sub && c.answered); err != nil {
			cs.replace(next, err.Error())
			return
		}
	}
}

// close closes the client's socket and the supplier's.
func (cs *clientSocket) close(code int, reason string) {
	cs.mu.Lock()
	if cs.closed {
		cs.mu.Unlock()
		return
	}
	cs.closed = true
	up := cs.up
	cs.mu.Unlock()
	if up != nil {
		up.close()
	}
	cs.mu.Lock()
	old := cs.old
	cs.mu.Unlock()
	if old != nil {
		old.close()
	}
	if code != websocket.CloseAbnormalClosure {
		_ = cs.client.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	}
	_ = cs.client.Close()
}

// jsonRPCID is a JSON-RPC call's id (the first of a batch), raw, or "".
func jsonRPCID(data []byte) string {
	var m struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(firstCall(data), &m) != nil {
		return ""
	}
	if id := bytes.TrimSpace(m.ID); len(id) > 0 && string(id) != "null" {
		return string(id)
	}
	return ""
}

// jsonRPCMethod is a JSON-RPC call's method (the first of a batch), or "".
func jsonRPCMethod(data []byte) string {
	var m struct {
		Method string `json:"method"`
	}
	if json.Unmarshal(firstCall(data), &m) != nil {
		return ""
	}
	return m.Method
}

// jsonRPCParams is a JSON-RPC call's params, raw and compacted.
func jsonRPCParams(data []byte) []byte {
	var m struct {
		Params json.RawMessage `json:"params"`
	}
	if json.Unmarshal(firstCall(data), &m) != nil {
		return nil
	}
	var out bytes.Buffer
	if json.Compact(&out, m.Params) != nil {
		return nil
	}
	return out.Bytes()
}

// jsonRPCResult is a JSON-RPC answer's result when it is a string or a
// number (a subscription id), raw; else "".
func jsonRPCResult(data []byte) string {
	var m struct {
		Result json.RawMessage `json:"result"`
	}
	if json.Unmarshal(firstCall(data), &m) != nil {
		return ""
	}
	r := bytes.TrimSpace(m.Result)
	if len(r) > 0 && (r[0] == '"' || r[0] == '-' || ('0' <= r[0] && r[0] <= '9')) {
		return string(r)
	}
	return ""
}

// firstCall is data, or the first element of a batch.
func firstCall(data []byte) []byte {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '[' {
		var batch []json.RawMessage
		if json.Unmarshal(data, &batch) != nil || len(batch) == 0 {
			return nil
		}
		return batch[0]
	}
	return data
}
