package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	errorsmod "cosmossdk.io/errors"
	"cosmossdk.io/log"
	"github.com/gorilla/websocket"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/metrics"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// A relay socket is a WebSocket on a relay server's listen address (the
// upgrade of a GET). Each message the application sends is a binary
// RelayRequest whose payload is a WebSocketMessage; it is checked as an
// HTTP relay is (signature, session, supplier, grace period, replay,
// meter) and its WebSocketMessage is sent on the socket's backend
// WebSocket. Each backend message is sent back as a supplier-signed
// RelayResponse, payload a WebSocketMessage, naming the request it answers
// (see socket.attribute). The first answer to a request is its relay: it
// is mined, and durable, before the application gets it. Later answers to
// the same request (a subscription's notifications) are signed and passed
// on but are not relays: they are not mined and not paid. A refused
// message gets a RelayResponse carrying its typed error, as over HTTP,
// and the socket stays open.
//
// The socket is bound to the session and supplier of its first admitted
// message, and its backend WebSocket is dialled then. It is closed with
// one of the close codes below, or 1009 for a message over the size limit
// and 1001 when the RelayMiner stops.

// Close codes of a relay socket: 4000 + the HTTP status of the same
// refusal (RFC 6455 leaves 4000-4999 to applications).
const (
	// CloseIdle: no message either way for the idle timeout.
	CloseIdle = 4408
	// CloseSessionOver: the session's grace period ended.
	CloseSessionOver = 4410
	// CloseTooManyConnections: the application already has its limit of
	// relay sockets open on this RelayMiner.
	CloseTooManyConnections = 4429
	// CloseBackendFailed: the backend WebSocket could not be opened, or
	// failed or closed.
	CloseBackendFailed = 4502
)

// SocketLimits bound the relay sockets of a server; zero fields take
// DefaultSocketLimits'.
type SocketLimits struct {
	// MaxMessageBytes bounds a message's data either way (an application
	// message's RelayRequest may be 64 KiB more).
	MaxMessageBytes int64
	// MaxConnectionsPerApplication bounds the sockets one application
	// has open at once.
	MaxConnectionsPerApplication int
	// IdleTimeout closes a socket with no message either way for as long.
	IdleTimeout time.Duration
	// MessagesPerSecond bounds an application's messages on one socket
	// (a burst of as many is allowed); a message beyond is refused.
	MessagesPerSecond int
	// MaxUnanswered bounds the requests of one socket the backend has not
	// answered yet; a message beyond is refused.
	MaxUnanswered int
}

// DefaultSocketLimits are the relay sockets' limits absent from the
// configuration.
var DefaultSocketLimits = SocketLimits{
	MaxMessageBytes:              1 << 20,
	MaxConnectionsPerApplication: 16,
	IdleTimeout:                  2 * time.Minute,
	MessagesPerSecond:            50,
	MaxUnanswered:                256,
}

// Or is l with its zero fields taken from d.
func (l SocketLimits) Or(d SocketLimits) SocketLimits {
	if l.MaxMessageBytes <= 0 {
		l.MaxMessageBytes = d.MaxMessageBytes
	}
	if l.MaxConnectionsPerApplication <= 0 {
		l.MaxConnectionsPerApplication = d.MaxConnectionsPerApplication
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = d.IdleTimeout
	}
	if l.MessagesPerSecond <= 0 {
		l.MessagesPerSecond = d.MessagesPerSecond
	}
	if l.MaxUnanswered <= 0 {
		l.MaxUnanswered = d.MaxUnanswered
	}
	return l
}

// SetSocketLimits sets the relay sockets' limits; call it before Start.
func (s *Server) SetSocketLimits(l SocketLimits) { s.socketLimits = l.Or(DefaultSocketLimits) }

// socketEnvelope is what a RelayRequest may hold beyond its payload.
const socketEnvelope = 64 << 10

// socketCheckInterval is how often a socket checks its session's grace
// period and its idle time.
const socketCheckInterval = 250 * time.Millisecond

// backendWS is the URL of the service's backend WebSocket: BackendWS, or
// Backend with its scheme made ws(s).
func (svc *Service) backendWS() string {
	if svc.BackendWS != nil {
		return svc.BackendWS.String()
	}
	u := *svc.Backend
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	default:
		u.Scheme = "ws"
	}
	return u.String()
}

// sockets are a server's open relay sockets.
type sockets struct {
	mu      sync.Mutex
	open    map[*socket]struct{}
	perApp  map[string]int
	stopped bool
	wg      sync.WaitGroup
}

// add tracks sc, unless the server is stopping.
func (ss *sockets) add(sc *socket) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.stopped {
		return false
	}
	if ss.open == nil {
		ss.open, ss.perApp = map[*socket]struct{}{}, map[string]int{}
	}
	ss.open[sc] = struct{}{}
	ss.wg.Add(1)
	return true
}

func (ss *sockets) remove(sc *socket) {
	ss.mu.Lock()
	delete(ss.open, sc)
	ss.mu.Unlock()
	ss.wg.Done()
}

// admitApp counts one more socket of app, if it has fewer than max.
func (ss *sockets) admitApp(app string, max int) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.perApp[app] >= max {
		return false
	}
	ss.perApp[app]++
	return true
}

func (ss *sockets) releaseApp(app string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.perApp[app]--; ss.perApp[app] <= 0 {
		delete(ss.perApp, app)
	}
}

// stop closes every socket (1001: going away) and waits for them, at most
// until ctx is done.
func (ss *sockets) stop(ctx context.Context) {
	ss.mu.Lock()
	ss.stopped = true
	open := make([]*socket, 0, len(ss.open))
	for sc := range ss.open {
		open = append(open, sc)
	}
	ss.mu.Unlock()
	for _, sc := range open {
		sc.close(websocket.CloseGoingAway, "the RelayMiner is stopping", "shutdown")
	}
	done := make(chan struct{})
	go func() {
		ss.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// serveSocket upgrades r to a relay socket and serves it until it closes.
func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{
		HandshakeTimeout: s.limits.WriteTimeout,
		ReadBufferSize:   4096, WriteBufferSize: 4096,
		// Applications are authenticated by their signatures, per
		// message, not by where a page came from.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		// Upgrade answered with an HTTP error.
		s.metrics.RelaysFailed.WithLabelValues(metrics.UnknownService, "bad_request").Inc()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	sc := &socket{s: s, conn: conn, ctx: ctx, cancel: cancel, service: metrics.UnknownService,
		lg: s.logger.With("remote", r.RemoteAddr), byKey: map[string]*socketRelay{}, byID: map[string]*socketRelay{}, subs: map[string]*socketRelay{}}
	if !s.sockets.add(sc) {
		sc.close(websocket.CloseGoingAway, "the RelayMiner is stopping", "shutdown")
		return
	}
	defer s.sockets.remove(sc)
	s.metrics.SocketsOpen.WithLabelValues(sc.service).Inc()
	sc.run()
}

// socket is one relay socket.
type socket struct {
	s      *Server
	conn   *websocket.Conn
	ctx    context.Context // done once the socket is closed
	cancel context.CancelFunc
	lg     log.Logger
	wmu    sync.Mutex   // one writer to conn at a time
	active atomic.Int64 // time of the last message either way (unix ns)

	bound atomic.Pointer[binding] // set once, at the first admitted message

	// Read and written by the reader goroutine only.
	service string // metric label
	tokens  float64
	refill  time.Time

	mu        sync.Mutex
	closed    bool
	order     []*socketRelay          // requests tracked, oldest first
	byKey     map[string]*socketRelay // by relay key
	byID      map[string]*socketRelay // by JSON-RPC id
	subs      map[string]*socketRelay // subscribing requests, by subscription id
	last      *socketRelay            // the latest request
	app       string                  // counted in sockets.perApp
	closeOnce sync.Once
}

// binding is what a socket is bound to by its first admitted message.
type binding struct {
	hdr     types.SessionHeader
	svc     *Service
	windows protocol.Windows
	backend *websocket.Conn
	lg      log.Logger
}

// socketRelay is one request of a socket.
type socketRelay struct {
	a        admitted
	release  func() // gives back the meter's count, while not served
	answered bool   // its relay is mined and passed on
	dead     bool   // its answer could not be made durable: not passed on
	id       string // JSON-RPC id, raw, or ""
}

func (sc *socket) touch() { sc.active.Store(time.Now().UnixNano()) }

// run reads the application's messages until the socket closes.
func (sc *socket) run() {
	sc.touch()
	sc.conn.SetReadLimit(sc.s.socketLimits.MaxMessageBytes + socketEnvelope)
	sc.conn.SetPingHandler(func(data string) error {
		sc.touch()
		return sc.conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	sc.refill, sc.tokens = time.Now(), float64(sc.s.socketLimits.MessagesPerSecond)
	go sc.watch()
	for {
		mt, data, err := sc.conn.ReadMessage()
		if err != nil {
			switch {
			case errors.Is(err, websocket.ErrReadLimit):
				// The library answered 1009 (message too big).
				sc.close(websocket.CloseMessageTooBig, fmt.Sprintf("a message over %d bytes", sc.s.socketLimits.MaxMessageBytes+socketEnvelope), "message_too_big")
			case websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived):
				sc.close(websocket.CloseNormalClosure, "", "closed_by_application")
			default:
				sc.close(websocket.CloseAbnormalClosure, "", "read_failed")
			}
			return
		}
		sc.touch()
		sc.s.metrics.SocketMessages.WithLabelValues(sc.service, "in").Inc()
		if mt != websocket.BinaryMessage {
			sc.refuse(admitted{}, errorsmod.Wrap(types.ErrRelayBadRequest, "a relay socket's messages are binary RelayRequests"))
			continue
		}
		sc.relay(data)
	}
}

// allow takes one of the socket's message tokens.
func (sc *socket) allow() bool {
	rate := float64(sc.s.socketLimits.MessagesPerSecond)
	now := time.Now()
	sc.tokens = min(rate, sc.tokens+now.Sub(sc.refill).Seconds()*rate)
	sc.refill = now
	if sc.tokens < 1 {
		return false
	}
	sc.tokens--
	return true
}

// relay checks one application message and sends it to the backend.
func (sc *socket) relay(data []byte) {
	limits := sc.s.socketLimits
	if !sc.allow() {
		sc.refuse(admitted{}, errorsmod.Wrapf(types.ErrRelayRateLimited, "over %d messages a second on this socket", limits.MessagesPerSecond))
		return
	}
	a, err := sc.s.check(sc.ctx, data, true)
	if err == nil && int64(len(a.msg.Data)) > limits.MaxMessageBytes {
		err = errorsmod.Wrapf(types.ErrRelayBodyTooLarge, "message of %d bytes, limit %d", len(a.msg.Data), limits.MaxMessageBytes)
	}
	if err != nil {
		sc.refuse(a, err)
		return
	}
	b := sc.bound.Load()
	if b == nil {
		if b = sc.bind(a); b == nil {
			return
		}
	} else if *a.req.Meta.SessionHeader != b.hdr || a.svc != b.svc {
		sc.refuse(a, errorsmod.Wrapf(types.ErrRelayWrongSession, "this socket relays session %s of supplier %s; open another socket for session %s of supplier %s",
			b.hdr.SessionId, b.svc.Supplier, a.req.Meta.SessionHeader.SessionId, a.svc.Supplier))
		return
	}
	sc.mu.Lock()
	_, dup := sc.byKey[string(a.key)]
	unanswered := 0
	for _, r := range sc.order {
		if !r.answered && !r.dead {
			unanswered++
		}
	}
	sc.mu.Unlock()
	if dup {
		sc.refuse(a, errorsmod.Wrapf(types.ErrRelayDuplicate, "request %x was already sent on this socket (it is paid once)", a.key))
		return
	}
	if unanswered >= limits.MaxUnanswered {
		sc.refuse(a, errorsmod.Wrapf(types.ErrRelayRateLimited, "%d requests of this socket are unanswered", unanswered))
		return
	}
	r := &socketRelay{a: a, id: jsonRPCID(a.msg.Data)}
	if sc.s.meter != nil {
		// Counted before the backend sees it, as over HTTP.
		if r.release, err = sc.s.meter.Reserve(sc.ctx, b.hdr, b.svc.Supplier); err != nil {
			sc.refuse(a, err)
			return
		}
	}
	// Tracked before it is sent: its answer may come at once.
	sc.track(r)
	_ = b.backend.SetWriteDeadline(time.Now().Add(b.svc.Timeout))
	if err := b.backend.WriteMessage(int(a.msg.Type), a.msg.Data); err != nil {
		sc.refuse(a, errorsmod.Wrapf(types.ErrRelayBackendFailed, "sending to the backend's socket: %v", err))
		sc.close(CloseBackendFailed, "the backend's socket failed", "backend")
	}
}

// bind binds the socket to a's session and supplier, and opens the
// backend WebSocket; nil if the socket was closed instead.
func (sc *socket) bind(a admitted) *binding {
	hdr, svc := *a.req.Meta.SessionHeader, a.svc
	limits := sc.s.socketLimits
	if !sc.s.sockets.admitApp(hdr.ApplicationAddress, limits.MaxConnectionsPerApplication) {
		sc.refuse(a, errorsmod.Wrapf(types.ErrRelayRateLimited, "application %s has %d relay sockets open here", hdr.ApplicationAddress, limits.MaxConnectionsPerApplication))
		sc.close(CloseTooManyConnections, fmt.Sprintf("at most %d relay sockets per application", limits.MaxConnectionsPerApplication), "too_many_connections")
		return nil
	}
	sc.mu.Lock()
	sc.app = hdr.ApplicationAddress
	sc.mu.Unlock()
	header := http.Header{}
	for k, v := range svc.Headers {
		header.Set(k, v)
	}
	ctx, cancel := context.WithTimeout(sc.ctx, svc.Timeout)
	defer cancel()
	dialer := websocket.Dialer{HandshakeTimeout: svc.Timeout, ReadBufferSize: 4096, WriteBufferSize: 4096}
	backend, resp, err := dialer.DialContext(ctx, svc.backendWS(), header)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		sc.refuse(a, errorsmod.Wrapf(types.ErrRelayBackendFailed, "opening the backend's socket: %v", redact(err)))
		sc.close(CloseBackendFailed, "the backend's socket could not be opened", "backend")
		return nil
	}
	backend.SetReadLimit(limits.MaxMessageBytes)
	b := &binding{hdr: hdr, svc: svc, windows: a.windows, backend: backend,
		lg: sc.lg.With("session_id", hdr.SessionId, "application", hdr.ApplicationAddress, "supplier", svc.Supplier, "service", svc.ServiceID)}
	sc.mu.Lock()
	if sc.closed {
		// Closed while dialling: close did not see the backend.
		sc.mu.Unlock()
		_ = backend.Close()
		return nil
	}
	sc.bound.Store(b)
	sc.s.metrics.SocketsOpen.WithLabelValues(sc.service).Dec()
	sc.service = svc.ServiceID
	sc.s.metrics.SocketsOpen.WithLabelValues(sc.service).Inc()
	sc.mu.Unlock()
	b.lg.Debug("relay socket bound", "backend", redactURL(svc.backendWS()))
	go sc.fromBackend(b)
	return b
}

// redact is err without a URL's query or user (a backend's key may be
// there).
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			u.User, u.RawQuery = nil, ""
			return fmt.Errorf("%s %s: %w", ue.Op, u.Redacted(), ue.Err)
		}
	}
	return err
}

// redactURL is u without its user or query.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	p.User, p.RawQuery = nil, ""
	return p.String()
}

// track records r as the socket's latest request.
func (sc *socket) track(r *socketRelay) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.order = append(sc.order, r)
	sc.byKey[string(r.a.key)] = r
	if r.id != "" {
		sc.byID[r.id] = r
	}
	sc.last = r
	// Answered requests are kept (later answers name them) up to
	// MaxUnanswered of them; the oldest are forgotten first.
	max := sc.s.socketLimits.MaxUnanswered
	for kept := len(sc.order); kept > 2*max; kept-- {
		i := 0
		for i < len(sc.order) && !sc.order[i].answered && !sc.order[i].dead {
			i++
		}
		if i == len(sc.order) {
			break
		}
		old := sc.order[i]
		sc.order = append(sc.order[:i], sc.order[i+1:]...)
		delete(sc.byKey, string(old.a.key))
		if sc.byID[old.id] == old {
			delete(sc.byID, old.id)
		}
		for sub, r := range sc.subs {
			if r == old {
				delete(sc.subs, sub)
			}
		}
	}
}

// fromBackend passes the backend's messages on until it closes.
func (sc *socket) fromBackend(b *binding) {
	for {
		mt, data, err := b.backend.ReadMessage()
		if err != nil {
			reason := "the backend's socket closed"
			if errors.Is(err, websocket.ErrReadLimit) {
				reason = fmt.Sprintf("the backend sent a message over %d bytes", sc.s.socketLimits.MaxMessageBytes)
			}
			sc.close(CloseBackendFailed, reason, "backend")
			return
		}
		sc.touch()
		r, first := sc.attribute(data)
		if r == nil {
			b.lg.Debug("backend message answering no request: dropped")
			continue
		}
		payload, err := (&types.WebSocketMessage{Type: uint32(mt), Data: data}).Marshal()
		if err != nil {
			continue
		}
		res, compact, err := sc.s.respond(r.a, payload)
		if err == nil && first {
			if err = sc.s.stillServable(&b.hdr, b.windows); err != nil {
				sc.done(r, false)
				sc.refuse(r.a, err)
				sc.close(CloseSessionOver, "the session's grace period ended", "session_over")
				return
			}
			// Durable before the application sees it, as over HTTP.
			err = sc.s.mine(sc.ctx, r.a, compact)
			sc.done(r, err == nil)
			if err == nil {
				sc.s.metrics.SocketRelays.WithLabelValues(sc.service).Inc()
				sc.s.metrics.RelaysServed.WithLabelValues(sc.service).Inc()
			}
		}
		if err != nil {
			sc.refuse(r.a, err)
			continue
		}
		sc.send(res)
	}
}

// done marks r's first answer mined (ok) or not (its meter count is given
// back, and it gets no answer).
func (sc *socket) done(r *socketRelay, ok bool) {
	sc.mu.Lock()
	release := r.release
	r.release = nil
	r.answered, r.dead = ok, !ok
	sc.mu.Unlock()
	if !ok && release != nil {
		release()
	}
}

// attribute is the request a backend message answers, and whether it is
// its first answer (its relay). For JSON-RPC: the request with the
// message's id, or the subscribing request of the subscription the
// message notifies (eth_subscription's params.subscription, learnt from
// the subscribing request's answer; CometBFT's events carry the
// subscribing request's id). Otherwise the oldest request not answered
// yet, or, when all are, the latest request. A request that could not be
// made durable gets nothing more.
func (sc *socket) attribute(data []byte) (*socketRelay, bool) {
	ref := jsonRPCRefs(data)
	sc.mu.Lock()
	defer sc.mu.Unlock()
	var r *socketRelay
	if ref.id != "" {
		r = sc.byID[ref.id]
	}
	if r == nil && ref.subscription != "" {
		r = sc.subs[ref.subscription]
	}
	if r == nil {
		for _, o := range sc.order {
			if !o.answered && !o.dead {
				r = o
				break
			}
		}
	}
	if r == nil {
		r = sc.last
	}
	if r == nil || r.dead {
		return nil, false
	}
	if !r.answered && ref.id != "" && ref.id == r.id && ref.result != "" && len(sc.subs) < sc.s.socketLimits.MaxUnanswered {
		sc.subs[ref.result] = r
	}
	return r, !r.answered
}

// refuse answers a refused message with its typed error.
func (sc *socket) refuse(a admitted, err error) {
	res, _ := sc.s.refusal(a, err)
	sc.send(res)
}

// send writes res to the application; a slow reader is cut off at the
// write timeout (its messages are not queued: the backend's wait).
func (sc *socket) send(res *types.RelayResponse) {
	bz, err := res.Marshal()
	if err != nil {
		return
	}
	sc.wmu.Lock()
	_ = sc.conn.SetWriteDeadline(time.Now().Add(sc.s.limits.WriteTimeout))
	err = sc.conn.WriteMessage(websocket.BinaryMessage, bz)
	sc.wmu.Unlock()
	if err != nil {
		sc.close(websocket.CloseAbnormalClosure, "", "write_failed")
		return
	}
	sc.touch()
	sc.s.metrics.SocketMessages.WithLabelValues(sc.metricService(), "out").Inc()
}

// metricService is the socket's service label, from any goroutine.
func (sc *socket) metricService() string {
	if b := sc.bound.Load(); b != nil {
		return b.svc.ServiceID
	}
	return metrics.UnknownService
}

// watch closes the socket when its session's grace period ends or it is
// idle.
func (sc *socket) watch() {
	t := time.NewTicker(socketCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-sc.ctx.Done():
			return
		case <-t.C:
		}
		if b := sc.bound.Load(); b != nil {
			if h := sc.s.chain.LatestHeight(); !b.windows.InSessionOrGrace(b.hdr.SessionStartBlockHeight, h) {
				sc.close(CloseSessionOver, fmt.Sprintf("session %s: its grace period ended at height %d", b.hdr.SessionId, b.windows.GracePeriodEnd), "session_over")
				return
			}
		}
		if idle := time.Since(time.Unix(0, sc.active.Load())); idle >= sc.s.socketLimits.IdleTimeout {
			sc.close(CloseIdle, fmt.Sprintf("no message for %s", sc.s.socketLimits.IdleTimeout), "idle")
			return
		}
	}
}

// close closes the socket with code and reason (once), and its backend
// WebSocket; the requests it leaves unanswered give back their meter
// count.
func (sc *socket) close(code int, reason, metricReason string) {
	sc.closeOnce.Do(func() {
		sc.mu.Lock()
		sc.closed = true
		var releases []func()
		for _, r := range sc.order {
			if r.release != nil {
				releases = append(releases, r.release)
				r.release = nil
			}
		}
		app := sc.app
		b := sc.bound.Load()
		sc.mu.Unlock()
		sc.cancel()
		if len(reason) > 120 {
			reason = reason[:120]
		}
		deadline := time.Now().Add(time.Second)
		if code != websocket.CloseAbnormalClosure {
			_ = sc.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), deadline)
		}
		_ = sc.conn.Close()
		service := sc.metricService()
		if b != nil {
			_ = b.backend.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), deadline)
			_ = b.backend.Close()
		}
		for _, release := range releases {
			release()
		}
		if app != "" {
			sc.s.sockets.releaseApp(app)
		}
		sc.s.metrics.SocketsOpen.WithLabelValues(service).Dec()
		sc.s.metrics.SocketCloses.WithLabelValues(service, metricReason).Inc()
		lg := sc.lg
		if b != nil {
			lg = b.lg
		}
		lg.Debug("relay socket closed", "code", code, "reason", reason, "why", metricReason)
	})
}

// rpcRefs are what ties a backend's JSON-RPC message to a request.
type rpcRefs struct {
	id           string // its id, raw
	subscription string // params.subscription, raw
	result       string // its result when a string or a number, raw
}

// jsonRPCID is the id of a JSON-RPC call (the first of a batch), raw, or
// "".
func jsonRPCID(data []byte) string { return jsonRPCRefs(data).id }

// jsonRPCRefs reads a JSON-RPC message (the first of a batch); the zero
// value for anything else.
func jsonRPCRefs(data []byte) rpcRefs {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || (data[0] != '{' && data[0] != '[') {
		return rpcRefs{}
	}
	if data[0] == '[' {
		var batch []json.RawMessage
		if json.Unmarshal(data, &batch) != nil || len(batch) == 0 {
			return rpcRefs{}
		}
		data = batch[0]
	}
	var m struct {
		ID     json.RawMessage `json:"id"`
		Result json.RawMessage `json:"result"`
		Params struct {
			Subscription json.RawMessage `json:"subscription"`
		} `json:"params"`
	}
	if json.Unmarshal(data, &m) != nil {
		return rpcRefs{}
	}
	scalar := func(raw json.RawMessage) string {
		raw = bytes.TrimSpace(raw)
		if len(raw) > 0 && (raw[0] == '"' || raw[0] == '-' || ('0' <= raw[0] && raw[0] <= '9')) {
			return string(raw)
		}
		return ""
	}
	return rpcRefs{id: scalar(m.ID), subscription: scalar(m.Params.Subscription), result: scalar(m.Result)}
}
