package appgate

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"cosmossdk.io/log"
	cryptotypes "github.com/cosmos/cosmos-sdk/crypto/types"
	"github.com/gorilla/websocket"

	"github.com/pokt-network/poktroll/x/relayer/appgate/config"
	"github.com/pokt-network/poktroll/x/relayer/internal/httplimit"
	"github.com/pokt-network/poktroll/x/relayer/internal/secp"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// Chain is what the gateway reads from the chain (cached by the caller,
// except CurrentSession, which the gateway caches itself).
type Chain interface {
	// LatestHeight is the last block height seen.
	LatestHeight() int64
	// CurrentSession is the application's session for service at the
	// node's latest height (GetSession with block_height 0).
	CurrentSession(ctx context.Context, app, service string) (types.Session, error)
	ParamsAt(ctx context.Context, height int64) (types.Params, error)
	PubKey(ctx context.Context, addr string) (cryptotypes.PubKey, error)
}

// Signer is the staked application: its address and the key that signs
// its relay requests.
type Signer struct {
	Address string
	Key     cryptotypes.PrivKey
}

// Options tune a Gateway; zero values take the defaults.
type Options struct {
	// RequestTimeout is the deadline of a whole client request, retries
	// included (default config.DefaultRequestTimeout).
	RequestTimeout time.Duration
	// MaxBodyBytes bounds a client request's body (default
	// config.DefaultMaxBodyBytes). A supplier's response may be larger: it is
	// bounded by maxResponseBytes.
	MaxBodyBytes int64
	// FailureMemory is how long a failed supplier is tried only after the
	// others (default DefaultFailureMemory).
	FailureMemory time.Duration
	// Transport sends relays to suppliers (default: a pooled transport
	// that ignores proxy environment variables).
	Transport http.RoundTripper
	// CORS is the cross-origin policy (default: no origin allowed;
	// preflights are answered, never relayed).
	CORS config.CORS
	// SocketPing is how often the AppGate pings a supplier's relay socket
	// (default DefaultSocketPing): a client's subscription may see no
	// message for longer than a RelayMiner's idle timeout, and stays open.
	SocketPing time.Duration
	// RPCTypes are the services' RPC types (config.RPCTypeJSONRPC or
	// config.RPCTypeREST, the default) by service id: a refusal of a
	// JSON-RPC service's request is a JSON-RPC 2.0 error response.
	RPCTypes map[string]string
}

// maxResponseBytes bounds a supplier's marshalled RelayResponse.
const maxResponseBytes = 64 << 20

// DefaultSocketPing is how often a supplier's relay socket is pinged,
// well within a RelayMiner's default idle timeout (2m).
const DefaultSocketPing = 30 * time.Second

// retryPause is the wait before asking again when every supplier refused
// the session itself: the gateway's view of the chain and theirs differ
// by a block around a session's start or end.
const retryPause = 250 * time.Millisecond

// Gateway is the AppGate's HTTP handler: http://<listen>/<service_id>/...
type Gateway struct {
	app      Signer
	sign     func(msg []byte) ([]byte, error) // app.Key's signature, the fastest way
	services []string
	serves   map[string]bool
	jsonRPC  map[string]bool // services whose refusals are JSON-RPC errors
	chain    Chain
	opts     Options
	sessions *sessions
	picker   *picker
	client   *http.Client
	cors     *cors
	logger   log.Logger
	metrics  *Metrics
}

// NewGateway builds the handler for services, relaying as app.
func NewGateway(app Signer, services []string, chain Chain, opts Options, logger log.Logger, m *Metrics) *Gateway {
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = config.DefaultRequestTimeout
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = config.DefaultMaxBodyBytes
	}
	if opts.SocketPing <= 0 {
		opts.SocketPing = DefaultSocketPing
	}
	if opts.FailureMemory <= 0 {
		opts.FailureMemory = DefaultFailureMemory
	}
	if opts.Transport == nil {
		opts.Transport = &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
		}
	}
	if m == nil {
		m = NewMetrics()
	}
	logger = logger.With("module", "appgate")
	g := &Gateway{
		app:      app,
		sign:     app.Key.Sign,
		services: slices.Clone(services),
		serves:   map[string]bool{},
		jsonRPC:  map[string]bool{},
		chain:    chain,
		opts:     opts,
		sessions: newSessions(app.Address, services, chain, logger),
		picker:   newPicker(opts.FailureMemory),
		client:   &http.Client{Transport: opts.Transport},
		cors:     newCORS(opts.CORS),
		logger:   logger,
		metrics:  m,
	}
	if signer, err := secp.NewSigner(app.Key); err == nil {
		g.sign = signer.Sign
	}
	for _, s := range services {
		g.serves[s] = true
		g.jsonRPC[s] = opts.RPCTypes[s] == config.RPCTypeJSONRPC
	}
	return g
}

// OnBlock refreshes the sessions that ended before height h. The block
// follower calls it for every height in order.
func (g *Gateway) OnBlock(ctx context.Context, h int64) { g.sessions.onBlock(ctx, h) }

// Sessions returns each service's current session id (or why there is
// none), for health reports.
func (g *Gateway) Sessions() map[string]string { return g.sessions.snapshot() }

// ServeHTTP relays one client request and answers with the backend's
// response, or with a JSON error.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	service, rest := splitService(r.URL.Path)
	if isPreflight(r) {
		// Not a relay: answered here, sent to no supplier, mined nowhere.
		label, outcome := UnknownServiceLabel, "preflight"
		if g.serves[service] {
			label = service
		}
		if err := g.cors.preflight(w, r); err != nil {
			outcome = err.Code
			g.writeError(w, service, nil, err)
		}
		g.metrics.Requests.WithLabelValues(label, outcome).Inc()
		return
	}
	g.cors.allowOrigin(w.Header(), r.Header.Get("Origin"))
	if !g.serves[service] {
		// Counted under one fixed label: a label taken from the path would
		// make a series per request.
		g.metrics.Requests.WithLabelValues(UnknownServiceLabel, CodeUnknownService).Inc()
		writeError(w, newError(CodeUnknownService, fmt.Sprintf("no service %q here; served: /%s/", service, strings.Join(g.services, "/, /"))))
		return
	}
	if r.Method == http.MethodGet && websocket.IsWebSocketUpgrade(r) {
		g.serveSocket(w, r, service)
		return
	}
	res, body, err := g.handle(r, service, rest)
	if err != nil {
		g.metrics.Requests.WithLabelValues(service, err.Code).Inc()
		g.writeError(w, service, body, err)
	} else {
		g.metrics.Requests.WithLabelValues(service, "ok").Inc()
		writeResponse(w, res)
	}
	g.metrics.RequestDuration.WithLabelValues(service).Observe(time.Since(start).Seconds())
}

// HTTPServer is an http.Server serving the gateway within l (zero fields
// take httplimit.DefaultServer's): between reading a request and answering
// it, the gateway may work for its request timeout.
func (g *Gateway) HTTPServer(l httplimit.Limits) *http.Server {
	return httplimit.Server(g, l, g.opts.RequestTimeout, g.logger)
}

// splitService splits "/<service_id>/rest" into the service id and
// "/rest".
func splitService(path string) (string, string) {
	service, rest, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return service, "/" + rest
}

// writeError answers a request to service (body: as much of its body as
// was read) with err: a JSON-RPC 2.0 error response carrying the request's
// id for a JSON-RPC service, else the AppGate's JSON error.
func (g *Gateway) writeError(w http.ResponseWriter, service string, body []byte, err *Error) {
	if g.jsonRPC[service] {
		writeJSONRPCError(w, body, err)
		return
	}
	writeError(w, err)
}

// handle relays one client request. body is what was read of the
// request's body, for the error's request id.
func (g *Gateway) handle(r *http.Request, service, path string) (_ *types.HTTPResponse, body []byte, _ *Error) {
	if up := upgradeAsked(r.Header); up != "" {
		// Relayed as plain HTTP it would be another request, billed, and
		// the client would wait for a switch that never comes.
		return nil, nil, newError(CodeUpgradeNotSupported, fmt.Sprintf("the request asks to upgrade to %q: this AppGate relays HTTP requests, one request and its answer, and WebSockets opened by a GET", up))
	}
	ctx, cancel := context.WithTimeout(r.Context(), g.opts.RequestTimeout)
	defer cancel()
	limit := g.opts.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, nil, newError(CodeBodyTooLarge, fmt.Sprintf("request body of %d bytes is over the limit of %d bytes", r.ContentLength, limit))
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		if httplimit.TimedOut(err) {
			return nil, nil, newError(CodeBadRequest, "the request body was not received within the server's read timeout")
		}
		return nil, nil, newError(CodeBadRequest, "reading the request body: "+err.Error())
	}
	if int64(len(body)) > limit {
		return nil, nil, newError(CodeBodyTooLarge, fmt.Sprintf("request body is over the limit of %d bytes", limit))
	}
	if r.URL.RawQuery != "" {
		path += "?" + r.URL.RawQuery
	}
	in := &types.HTTPRequest{Method: r.Method, Path: path, Headers: types.HeadersFromHTTP(r.Header), Body: body}
	payload, err := in.Marshal()
	if err != nil {
		return nil, body, newError(CodeBadRequest, "encoding the request: "+err.Error())
	}
	res, rerr := g.relay(ctx, service, payload)
	return res, body, rerr
}

// try is one supplier of one session to send a relay to.
type try struct {
	sess     *session
	sup      types.Supplier
	requeued bool
}

// relay sends payload to the suppliers of service's sessions until one
// answers with a verified response. Round one tries each supplier of each
// servable session once, preferred session first; a supplier that failed
// is not tried again. When a supplier refuses a session itself (not
// current yet, or over), the session's other suppliers are tried after
// the other session, and the refusing supplier stays eligible.
// When every refusal was about the session, the gateway waits a moment,
// asks the chain again and makes a second round.
func (g *Gateway) relay(ctx context.Context, service string, payload []byte) (*types.HTTPResponse, *Error) {
	var attempts []Attempt
	failed := map[string]bool{}
	for round := 0; round < 2; round++ {
		cands, err := g.sessions.candidates(ctx, service, round > 0)
		if err != nil {
			if len(attempts) > 0 {
				break
			}
			if ctx.Err() != nil {
				return nil, g.timeout(attempts)
			}
			return nil, sessionError(g.app.Address, service, err)
		}
		var plan []try
		turn := g.picker.nextTurn(service)
		for _, s := range cands {
			for _, sup := range g.picker.order(service, s.Suppliers, turn) {
				plan = append(plan, try{sess: s, sup: sup})
			}
		}
		if len(plan) == 0 && len(attempts) == 0 {
			return nil, newError(CodeNoSuppliers, fmt.Sprintf("session %s of service %q has no suppliers", cands[0].Header.SessionId, service))
		}
		sessionRefusals := len(plan) > 0
		refused := map[string]bool{} // sessions a supplier refused in this round
		for i := 0; i < len(plan); i++ {
			t := plan[i]
			addr := t.sup.OperatorAddress
			if failed[addr] {
				continue
			}
			if refused[t.sess.Header.SessionId] && !t.requeued {
				// Try the other session first; this one's turn comes after.
				plan = append(plan, try{sess: t.sess, sup: t.sup, requeued: true})
				continue
			}
			if ctx.Err() != nil {
				return nil, g.timeout(attempts)
			}
			last := !slices.ContainsFunc(plan[i+1:], func(o try) bool {
				return o.sup.OperatorAddress != addr && !failed[o.sup.OperatorAddress]
			})
			res, a := g.attempt(ctx, t.sess, t.sup, payload, last)
			lg := g.logger.With("service", service, "session_id", t.sess.Header.SessionId, "supplier", addr)
			if a == nil {
				g.picker.succeed(service, addr)
				g.metrics.Relays.WithLabelValues(service, addr, "ok").Inc()
				lg.Debug("relayed", "status", res.StatusCode, "attempt", len(attempts)+1)
				return res, nil
			}
			g.metrics.Relays.WithLabelValues(service, addr, a.Reason).Inc()
			attempts = append(attempts, *a)
			if a.sessionLevel {
				refused[t.sess.Header.SessionId] = true
			} else {
				failed[addr] = true
				sessionRefusals = false
				g.picker.fail(service, addr)
			}
			lg.Info("supplier failed; trying another", "reason", a.Reason, "error", a.Message)
		}
		if !sessionRefusals || round > 0 {
			break
		}
		select {
		case <-ctx.Done():
			return nil, g.timeout(attempts)
		case <-time.After(retryPause):
		}
	}
	if ctx.Err() != nil {
		return nil, g.timeout(attempts)
	}
	code := CodeSuppliersFailed
	if len(attempts) > 0 && !slices.ContainsFunc(attempts, func(a Attempt) bool { return a.Reason != "over_serviced" }) {
		code = CodeApplicationOverServiced
	}
	e := newError(code, fmt.Sprintf("all %d attempts failed: %s", len(attempts), summary(attempts)))
	e.Attempts = attempts
	return nil, e
}

func (g *Gateway) timeout(attempts []Attempt) *Error {
	msg := fmt.Sprintf("no supplier answered within %s", g.opts.RequestTimeout)
	if len(attempts) > 0 {
		msg += ": " + summary(attempts)
	}
	e := newError(CodeTimeout, msg)
	e.Attempts = attempts
	return e
}

func summary(attempts []Attempt) string {
	parts := make([]string, len(attempts))
	for i, a := range attempts {
		parts[i] = fmt.Sprintf("%s: %s", a.Supplier, a.Reason)
	}
	return strings.Join(parts, "; ")
}

// attempt sends one relay to one supplier and verifies its answer. An
// attempt that is not the last gets at most half of the time left.
func (g *Gateway) attempt(ctx context.Context, sess *session, sup types.Supplier, payload []byte, last bool) (*types.HTTPResponse, *Attempt) {
	hdr := sess.Header
	addr := sup.OperatorAddress
	fail := func(reason, format string, args ...any) *Attempt {
		return &Attempt{Supplier: addr, SessionID: hdr.SessionId, Reason: reason, Message: fmt.Sprintf(format, args...)}
	}
	endpoint := endpointOf(sup, hdr.ServiceId)
	if endpoint == "" {
		return nil, fail("no_endpoint", "supplier has no endpoint for service %q", hdr.ServiceId)
	}
	if deadline, ok := ctx.Deadline(); ok && !last {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Until(deadline)/2)
		defer cancel()
	}

	// A fresh nonce makes every call its own relay (two identical calls are
	// two relays, each paid once) and every attempt its own request.
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	req := &types.RelayRequest{Meta: types.RelayRequestMetadata{SessionHeader: &hdr, SupplierOperatorAddress: addr, Nonce: nonce}, Payload: payload}
	relayKey, err := protocol.RelayKey(req)
	if err == nil {
		req.Meta.Signature, err = g.sign(relayKey)
	}
	var raw []byte
	if err == nil {
		raw, err = req.Marshal()
	}
	if err != nil {
		// Not the supplier's fault, but no supplier can be sent this.
		return nil, fail("bad_request", "signing the relay request: %v", err)
	}
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(raw))
	if err != nil {
		return nil, fail("no_endpoint", "endpoint %q: %v", endpoint, err)
	}
	httpReq.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := g.client.Do(httpReq)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fail("timeout", "no answer from %s in time", endpoint)
		}
		return nil, fail("unreachable", "%v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, fail("timeout", "no full answer from %s in time", endpoint)
	case err != nil:
		return nil, fail("unreachable", "reading the answer: %v", err)
	case len(body) > maxResponseBytes:
		return nil, fail("bad_response", "answer over %d bytes", maxResponseBytes)
	}
	res := &types.RelayResponse{}
	if err := res.Unmarshal(body); err != nil {
		return nil, fail("bad_response", "HTTP %d, not a RelayResponse: %v", resp.StatusCode, err)
	}
	if e := res.Error; e != nil {
		a := fail("refused", "HTTP %d, %s code %d: %s", resp.StatusCode, e.Codespace, e.Code, e.Message)
		refusal := e.Err()
		if errors.Is(refusal, types.ErrRelayOverServiced) {
			// This supplier is paid no more for the session; another may be.
			a.Reason = "over_serviced"
		}
		a.sessionLevel = errors.Is(refusal, types.ErrRelayWrongSession) || errors.Is(refusal, types.ErrRelaySessionOver)
		return nil, a
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fail("bad_response", "HTTP %d without a relay error", resp.StatusCode)
	}
	if got := res.Meta.SessionHeader; got == nil || *got != hdr {
		return nil, fail("wrong_session_header", "response is for session %v, the request for %v", got, &hdr)
	}
	if !bytes.Equal(res.Meta.RelayKey, relayKey) {
		return nil, fail("bad_response", "response answers request %x, not %x", res.Meta.RelayKey, relayKey)
	}
	pub, err := g.chain.PubKey(ctx, addr)
	if err != nil {
		return nil, fail("no_public_key", "%v", err)
	}
	if err := protocol.VerifyResponseSignature(res, pub); err != nil {
		return nil, fail("bad_signature", "%v", err)
	}
	out := &types.HTTPResponse{}
	if err := out.Unmarshal(res.Payload); err != nil {
		return nil, fail("bad_response", "payload is not an HTTPResponse: %v", err)
	}
	if out.StatusCode < 200 || out.StatusCode > 999 { // a final status that net/http can write
		return nil, fail("bad_response", "backend status %d", out.StatusCode)
	}
	return out, nil
}

// endpointOf is the supplier's staked endpoint for service.
func endpointOf(sup types.Supplier, service string) string {
	for _, s := range sup.Services {
		if s.ServiceId == service {
			return s.EndpointUrl
		}
	}
	return ""
}

// writeResponse answers with the backend's status, headers and body,
// less its CORS headers: the AppGate's own (already set) decide which
// pages may read the answer.
func writeResponse(w http.ResponseWriter, res *types.HTTPResponse) {
	out := w.Header()
	for name, values := range types.HeadersToHTTP(res.Headers) {
		switch {
		case strings.HasPrefix(name, "Access-Control-"):
		case name == "Vary":
			out[name] = append(out[name], values...)
		default:
			out[name] = values
		}
	}
	status := int(res.StatusCode)
	if status != http.StatusNoContent && status != http.StatusNotModified {
		out.Set("Content-Length", strconv.Itoa(len(res.Body)))
	}
	w.WriteHeader(status)
	_, _ = w.Write(res.Body)
}
