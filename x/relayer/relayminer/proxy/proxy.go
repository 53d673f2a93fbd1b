package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	errorsmod "cosmossdk.io/errors"
	"cosmossdk.io/log"
	cryptotypes "github.com/cosmos/cosmos-sdk/crypto/types"
	"github.com/gorilla/websocket"

	"github.com/pokt-network/poktroll/x/relayer/internal/httplimit"
	"github.com/pokt-network/poktroll/x/relayer/internal/secp"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/metrics"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/miner"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// Chain is what the proxy reads from the chain (cached by the caller).
type Chain interface {
	LatestHeight() int64
	ParamsAt(ctx context.Context, height int64) (types.Params, error)
	Session(ctx context.Context, app, service string, start int64) (types.Session, error)
	PubKey(ctx context.Context, addr string) (cryptotypes.PubKey, error)
	BlockHash(ctx context.Context, height int64) ([]byte, error)
}

// Miner records served relays.
type Miner interface {
	// Seen reports whether the request with relayKey was already served.
	Seen(hdr types.SessionHeader, supplier string, relayKey []byte) (bool, error)
	// Mine records a served relay (both halves compact and signed) and
	// returns once it is durable.
	Mine(ctx context.Context, req *types.RelayRequest, res *types.RelayResponse, relayKey []byte) error
}

// Meter counts each relay against what the application can pay the
// supplier for its session, before the backend is called (see the meter
// package). A relay past the budget is refused (types.ErrRelayOverServiced);
// release uncounts a relay that was not served.
type Meter interface {
	Reserve(ctx context.Context, hdr types.SessionHeader, supplier string) (release func(), err error)
}

// admitted is a relay request that passed every check.
type admitted struct {
	req     *types.RelayRequest    // as received
	in      types.HTTPRequest      // its payload
	msg     types.WebSocketMessage // its payload, on a relay socket
	compact types.RelayRequest     // its compact form, as its trie leaf holds it
	key     []byte                 // its key: the signable bytes the application signed
	svc     *Service
	windows protocol.Windows // of its session
}

// Service is one supplier's service behind this server.
type Service struct {
	ServiceID string
	Supplier  string              // operator address
	Key       cryptotypes.PrivKey // signs the supplier's responses

	sign    func(msg []byte) ([]byte, error) // Key's signature, the fastest way
	Backend *url.URL
	// BackendWS is the backend's WebSocket for relay sockets (nil:
	// Backend with a ws(s) scheme).
	BackendWS    *url.URL
	Timeout      time.Duration
	MaxBodyBytes int64
	Headers      map[string]string
}

// Server is one listen address's relay server.
type Server struct {
	listen   string
	services map[string]*Service // by supplier + "/" + service id
	maxBody  int64
	chain    Chain
	miner    Miner
	meter    Meter // nil: relays are not metered
	backend  *http.Client
	logger   log.Logger
	metrics  *metrics.Metrics
	limits   httplimit.Limits
	// socketLimits bound the relay sockets, sockets are those open.
	socketLimits SocketLimits
	sockets      sockets
	// handlerTime is the longest backend timeout of the services: how long
	// a relay may take between its request and its response.
	handlerTime time.Duration

	srv *http.Server
	ln  net.Listener
}

// New builds a server for services on listen.
func New(listen string, services []Service, chain Chain, miner Miner, logger log.Logger, m *metrics.Metrics) *Server {
	s := &Server{
		listen:       listen,
		services:     map[string]*Service{},
		chain:        chain,
		miner:        miner,
		logger:       logger.With("module", "proxy", "listen", listen),
		metrics:      m,
		limits:       httplimit.DefaultServer,
		socketLimits: DefaultSocketLimits,
		backend: &http.Client{Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     90 * time.Second,
		}},
	}
	for i := range services {
		svc := services[i]
		svc.sign = svc.Key.Sign
		if signer, err := secp.NewSigner(svc.Key); err == nil {
			svc.sign = signer.Sign
		}
		s.services[svc.Supplier+"/"+svc.ServiceID] = &svc
		s.maxBody = max(s.maxBody, svc.MaxBodyBytes)
		s.handlerTime = max(s.handlerTime, svc.Timeout)
		m.AddServices(svc.ServiceID)
	}
	return s
}

// SetLimits sets the server's timeouts and connection cap (zero fields
// take httplimit.DefaultServer's); call it before Start.
func (s *Server) SetLimits(l httplimit.Limits) { s.limits = l.Or(httplimit.DefaultServer) }

// SetMeter meters the relays served (nil: none is); call it before Start.
func (s *Server) SetMeter(m Meter) { s.meter = m }

// Start listens and serves in the background.
func (s *Server) Start(context.Context) error {
	ln, err := httplimit.Listen(s.listen, s.limits.MaxConnections)
	if err != nil {
		return fmt.Errorf("relay server on %s: %w", s.listen, err)
	}
	s.ln = ln
	s.srv = httplimit.Server(s, s.limits, s.handlerTime, s.logger)
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("relay server stopped", "error", err)
		}
	}()
	s.logger.Info("serving relays", "addr", ln.Addr().String(), "services", len(s.services),
		"max_connections", s.limits.MaxConnections, "read_timeout", s.limits.ReadTimeout)
	return nil
}

// Addr is the address the server listens on (after Start).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Stop stops accepting relays and waits for the ones in flight; relay
// sockets are closed (1001, going away).
func (s *Server) Stop(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	s.sockets.stop(ctx)
	return err
}

// ServeHTTP handles one relay, from the request bytes to the recorded relay,
// or, for a WebSocket handshake (a GET), a relay socket (see socket.go).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && websocket.IsWebSocketUpgrade(r) {
		s.serveSocket(w, r)
		return
	}
	start := time.Now()
	a, err := s.admit(w, r)
	var release func()
	if err == nil && s.meter != nil {
		// Counted before the backend is called: a relay past the budget
		// is neither forwarded nor mined.
		release, err = s.meter.Reserve(r.Context(), *a.req.Meta.SessionHeader, a.svc.Supplier)
	}
	if err == nil {
		var res *types.RelayResponse
		if res, err = s.serve(r.Context(), a); err != nil && release != nil {
			release() // not served: it will not be claimed
		}
		if err == nil {
			s.reply(w, http.StatusOK, res)
			s.metrics.RelaysServed.WithLabelValues(a.svc.ServiceID).Inc()
			s.metrics.RelayDuration.WithLabelValues(a.svc.ServiceID).Observe(time.Since(start).Seconds())
			return
		}
	}
	s.fail(w, a, err)
}

// admit reads the relay request and checks it may be served (see check).
// The returned request is set whenever it decoded.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) (admitted, error) {
	var a admitted
	if up := types.Upgrade(r.Header); up != "" {
		// Not read: the client waits for a switch, and this path serves
		// HTTP relays only.
		return a, errorsmod.Wrapf(types.ErrRelayUpgrade, "a %s asking to upgrade to %q: relays are POSTed RelayRequests, one request and its answer", r.Method, up)
	}
	if r.Method != http.MethodPost {
		return a, errorsmod.Wrapf(types.ErrRelayMethodNotAllowed, "got %s", r.Method)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody+64<<10))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return a, errorsmod.Wrapf(types.ErrRelayBodyTooLarge, "relay request over %d bytes", tooLarge.Limit)
		}
		if httplimit.TimedOut(err) {
			return a, errorsmod.Wrapf(types.ErrRelayBadRequest, "relay request not received within the read timeout (%s)", s.limits.ReadTimeout)
		}
		return a, errorsmod.Wrap(types.ErrRelayBadRequest, err.Error())
	}
	return s.check(r.Context(), body, false)
}

// check decodes a relay request and checks it may be served: known
// service, current session the supplier belongs to, valid signature, not
// served before. Its payload is an HTTPRequest, or for a relay socket's
// message (socket) a WebSocketMessage. The returned request is set
// whenever it decoded.
func (s *Server) check(ctx context.Context, body []byte, socket bool) (admitted, error) {
	var a admitted
	req := &types.RelayRequest{}
	if err := req.Unmarshal(body); err != nil {
		return a, errorsmod.Wrapf(types.ErrRelayBadRequest, "not a RelayRequest: %v", err)
	}
	a.req = req
	hdr := req.Meta.SessionHeader
	if err := hdr.ValidateBasic(); err != nil {
		return a, errorsmod.Wrap(types.ErrRelayBadRequest, err.Error())
	}
	if len(req.PayloadHash) > 0 {
		return a, errorsmod.Wrap(types.ErrRelayBadRequest, "payload_hash is only for trie leaves: send the payload")
	}
	if n := len(req.Meta.Nonce); n > protocol.MaxNonceSize {
		return a, errorsmod.Wrapf(types.ErrRelayBadRequest, "nonce of %d bytes, at most %d", n, protocol.MaxNonceSize)
	}
	svc, ok := s.services[req.Meta.SupplierOperatorAddress+"/"+hdr.ServiceId]
	if !ok {
		return a, errorsmod.Wrapf(types.ErrRelayUnknownService, "supplier %q does not serve service %q here", req.Meta.SupplierOperatorAddress, hdr.ServiceId)
	}
	a.svc = svc
	if int64(len(req.Payload)) > svc.MaxBodyBytes {
		return a, errorsmod.Wrapf(types.ErrRelayBodyTooLarge, "payload of %d bytes, limit %d", len(req.Payload), svc.MaxBodyBytes)
	}
	if socket {
		if err := a.msg.Unmarshal(req.Payload); err != nil {
			return a, errorsmod.Wrapf(types.ErrRelayBadRequest, "a relay socket's payload is a WebSocketMessage: %v", err)
		}
	} else if err := a.in.Unmarshal(req.Payload); err != nil {
		return a, errorsmod.Wrapf(types.ErrRelayBadRequest, "payload is not an HTTPRequest: %v", err)
	}
	if up := types.PayloadUpgrade(a.in.Headers); up != "" {
		// Forwarded without its hop-by-hop headers it would be another
		// request; forwarded with them the backend could hold the
		// connection for ever. Refused before the meter counts it.
		return a, errorsmod.Wrapf(types.ErrRelayUpgrade, "the relayed %s %s asks to upgrade to %q: an HTTP relay is one request and its answer", a.in.Method, a.in.Path, up)
	}
	var err error
	if a.windows, err = s.checkSession(ctx, hdr, svc); err != nil {
		return a, err
	}
	pub, err := s.chain.PubKey(ctx, hdr.ApplicationAddress)
	if err != nil {
		return a, errorsmod.Wrap(types.ErrRelayInvalidSignature, err.Error())
	}
	// One payload hash and one request hash: the key is what was signed.
	if a.compact, err = protocol.CompactRequest(req); err != nil {
		return a, errorsmod.Wrap(types.ErrRelayBadRequest, err.Error())
	}
	if a.key, err = protocol.RequestSignableBytes(&a.compact); err != nil {
		return a, errorsmod.Wrap(types.ErrRelayBadRequest, err.Error())
	}
	if err := protocol.VerifySignature("relay request", a.key, req.Meta.Signature, pub); err != nil {
		return a, errorsmod.Wrapf(types.ErrRelayInvalidSignature, "application %s: %v", hdr.ApplicationAddress, err)
	}
	switch seen, err := s.miner.Seen(*hdr, svc.Supplier, a.key); {
	case err != nil:
		return a, errorsmod.Wrap(types.ErrRelayInternal, err.Error())
	case seen:
		return a, errorsmod.Wrapf(types.ErrRelayDuplicate, "request %x was already served in session %s (it is paid once)", a.key, hdr.SessionId)
	}
	return a, nil
}

// checkSession requires the header to be the chain's session, with the
// supplier in it, and the chain to be inside the session or its grace period.
// Everything that can be checked locally is checked before the chain is
// asked, so a flood of forged headers costs no chain queries: the session's
// heights must tile the chain and its id must be the one the protocol
// derives from the (cached) seed block hash.
func (s *Server) checkSession(ctx context.Context, hdr *types.SessionHeader, svc *Service) (protocol.Windows, error) {
	var w protocol.Windows
	cur := s.chain.LatestHeight()
	start := hdr.SessionStartBlockHeight
	if start > cur {
		return w, errorsmod.Wrapf(types.ErrRelayWrongSession, "session %s starts at height %d, current height %d", hdr.SessionId, start, cur)
	}
	p, err := s.chain.ParamsAt(ctx, start)
	if err != nil {
		return w, errorsmod.Wrap(types.ErrRelayChainUnavailable, err.Error())
	}
	if protocol.SessionStartHeight(p.NumBlocksPerSession, start) != start || protocol.SessionEndHeight(p.NumBlocksPerSession, start) != hdr.SessionEndBlockHeight {
		return w, errorsmod.Wrapf(types.ErrRelayWrongSession, "heights %d-%d are not a session", start, hdr.SessionEndBlockHeight)
	}
	if w = protocol.SessionWindows(p, hdr.SessionEndBlockHeight); !w.InSessionOrGrace(start, cur) {
		return w, errorsmod.Wrapf(types.ErrRelaySessionOver, "session %s ended at height %d (grace period to %d), current height %d", hdr.SessionId, hdr.SessionEndBlockHeight, w.GracePeriodEnd, cur)
	}
	seed, err := s.chain.BlockHash(ctx, protocol.SessionSeedHeight(start))
	if err != nil {
		return w, errorsmod.Wrap(types.ErrRelayChainUnavailable, err.Error())
	}
	if id := protocol.SessionID(seed, hdr.ServiceId, hdr.ApplicationAddress, start); id != hdr.SessionId {
		return w, errorsmod.Wrapf(types.ErrRelayWrongSession, "session id %s is not the chain's %s", hdr.SessionId, id)
	}
	session, err := s.chain.Session(ctx, hdr.ApplicationAddress, hdr.ServiceId, start)
	if err != nil {
		return w, errorsmod.Wrap(types.ErrRelayWrongSession, err.Error())
	}
	if session.Header != *hdr {
		return w, errorsmod.Wrapf(types.ErrRelayWrongSession, "relay is for session %s, chain has %s", hdr, &session.Header)
	}
	for _, sup := range session.Suppliers {
		if sup.OperatorAddress == svc.Supplier {
			return w, nil
		}
	}
	return w, errorsmod.Wrapf(types.ErrRelayWrongSession, "supplier %s is not in session %s", svc.Supplier, hdr.SessionId)
}

// serve forwards the payload, signs the response and has it mined.
func (s *Server) serve(ctx context.Context, a admitted) (*types.RelayResponse, error) {
	out, err := s.forward(ctx, &a.in, a.svc)
	if err != nil {
		return nil, err
	}
	payload, err := out.Marshal()
	if err != nil {
		return nil, errorsmod.Wrap(types.ErrRelayInternal, err.Error())
	}
	hdr := a.req.Meta.SessionHeader
	if err := s.stillServable(hdr, a.windows); err != nil {
		return nil, err
	}
	res, compact, err := s.respond(a, payload)
	if err != nil {
		return nil, err
	}
	// The relay is durable before the application sees the response.
	if err := s.mine(ctx, a, compact); err != nil {
		return nil, err
	}
	return res, nil
}

// respond is the supplier-signed response to a's request carrying
// payload, and its compact form.
func (s *Server) respond(a admitted, payload []byte) (*types.RelayResponse, *types.RelayResponse, error) {
	res := &types.RelayResponse{Meta: types.RelayResponseMetadata{SessionHeader: a.req.Meta.SessionHeader, RelayKey: a.key}, Payload: payload}
	compact, err := protocol.CompactResponse(res)
	if err != nil {
		return nil, nil, errorsmod.Wrap(types.ErrRelayInternal, err.Error())
	}
	signable, err := protocol.ResponseSignableBytes(&compact)
	if err != nil {
		return nil, nil, errorsmod.Wrap(types.ErrRelayInternal, err.Error())
	}
	if res.Meta.SupplierSignature, err = a.svc.sign(signable); err != nil {
		return nil, nil, errorsmod.Wrapf(types.ErrRelayInternal, "signing response: %v", err)
	}
	compact.Meta.SupplierSignature = res.Meta.SupplierSignature
	return res, &compact, nil
}

// mine records a's relay, answered by compact, and returns once it is
// durable.
func (s *Server) mine(ctx context.Context, a admitted, compact *types.RelayResponse) error {
	hdr := a.req.Meta.SessionHeader
	if err := s.miner.Mine(ctx, &a.compact, compact, a.key); err != nil {
		if errors.Is(err, miner.ErrSessionSealed) {
			// The claim trie was built while the backend answered.
			return errorsmod.Wrapf(types.ErrRelaySessionOver, "session %s was sealed for its claim while the relay was served", hdr.SessionId)
		}
		if errors.Is(err, miner.ErrRelayLogged) {
			// A fleet's shared relay log holds it already: another replica
			// served the same request.
			return errorsmod.Wrapf(types.ErrRelayDuplicate, "request %x was already served in session %s (it is paid once)", a.key, hdr.SessionId)
		}
		if errors.Is(err, miner.ErrStoreUnavailable) {
			// Not durable: not answered. The relays answered before are.
			return errorsmod.Wrap(types.ErrRelayStoreUnavailable, err.Error())
		}
		return errorsmod.Wrap(types.ErrRelayInternal, err.Error())
	}
	return nil
}

// stillServable refuses a relay whose backend answered after the session's
// grace period: a session that is over never takes another relay (its tree
// may be sealed, claimed or gone), so the answer is not returned either.
func (s *Server) stillServable(hdr *types.SessionHeader, w protocol.Windows) error {
	if cur := s.chain.LatestHeight(); !w.InSessionOrGrace(hdr.SessionStartBlockHeight, cur) {
		return errorsmod.Wrapf(types.ErrRelaySessionOver, "session %s ended its grace period at height %d while the backend answered (height %d)", hdr.SessionId, w.GracePeriodEnd, cur)
	}
	return nil
}

func (s *Server) forward(ctx context.Context, in *types.HTTPRequest, svc *Service) (*types.HTTPResponse, error) {
	method := in.Method
	if method == "" {
		method = http.MethodPost
	}
	target := *svc.Backend
	path, query, _ := strings.Cut(in.Path, "?")
	target.Path = strings.TrimSuffix(target.Path, "/") + "/" + strings.TrimPrefix(path, "/")
	target.RawQuery = query
	ctx, cancel := context.WithTimeout(ctx, svc.Timeout)
	defer cancel()
	r, err := http.NewRequestWithContext(ctx, method, target.String(), bytes.NewReader(in.Body))
	if err != nil {
		return nil, errorsmod.Wrapf(types.ErrRelayBadRequest, "building backend request: %v", err)
	}
	r.Header = types.HeadersToHTTP(in.Headers)
	for k, v := range svc.Headers {
		r.Header.Set(k, v)
	}
	resp, err := s.backend.Do(r)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, errorsmod.Wrapf(types.ErrRelayBackendTimeout, "no answer within %s", svc.Timeout)
		}
		return nil, errorsmod.Wrap(types.ErrRelayBackendFailed, err.Error())
	}
	// The body is closed at the deadline whatever it is: net/http stops
	// watching the context once a response switched protocols (its body
	// is then the raw connection), so only closing it cuts a read.
	stop := context.AfterFunc(ctx, func() { _ = resp.Body.Close() })
	defer func() {
		stop()
		_ = resp.Body.Close()
	}()
	if resp.StatusCode < 200 {
		// A relay is answered by a final status: a backend switching
		// protocols (101), or answering another 1xx as final, answered
		// no HTTP request. Refused at once rather than read until the
		// deadline.
		return nil, errorsmod.Wrapf(types.ErrRelayBackendFailed, "backend answered %q: an HTTP relay takes a final (2xx-5xx) answer", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, svc.MaxBodyBytes+1))
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, errorsmod.Wrapf(types.ErrRelayBackendTimeout, "no full answer within %s", svc.Timeout)
		}
		return nil, errorsmod.Wrap(types.ErrRelayBackendFailed, err.Error())
	}
	if int64(len(body)) > svc.MaxBodyBytes {
		return nil, errorsmod.Wrapf(types.ErrRelayBodyTooLarge, "backend response over %d bytes", svc.MaxBodyBytes)
	}
	return &types.HTTPResponse{StatusCode: uint32(resp.StatusCode), Headers: types.HeadersFromHTTP(resp.Header), Body: body}, nil
}

func (s *Server) reply(w http.ResponseWriter, status int, res *types.RelayResponse) {
	bz, err := res.Marshal()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(status)
	_, _ = w.Write(bz)
}

// fail answers a refused relay with its typed error.
func (s *Server) fail(w http.ResponseWriter, a admitted, err error) {
	res, status := s.refusal(a, err)
	s.reply(w, status, res)
}

// refusal is the response to a refused relay, carrying its typed error,
// and its HTTP status; the refusal is counted and logged. Its metric
// labels are a configured service id (or metrics.UnknownService) and a
// fixed reason, never a request field.
func (s *Server) refusal(a admitted, err error) (*types.RelayResponse, int) {
	_, status, reason := types.RelayRefusal(err)
	req, service, lg := a.req, metrics.UnknownService, s.logger
	res := &types.RelayResponse{Error: types.NewRelayError(err)}
	// The refused request, when it decoded that far: a client with
	// several requests in flight (a relay socket's) knows which.
	res.Meta.RelayKey = a.key
	if req != nil && req.Meta.SessionHeader != nil {
		hdr := req.Meta.SessionHeader
		res.Meta.SessionHeader = hdr
		service = s.metrics.Service(hdr.ServiceId)
		lg = lg.With("session_id", hdr.SessionId, "supplier", req.Meta.SupplierOperatorAddress, "service", hdr.ServiceId)
	}
	if a.svc != nil {
		service = a.svc.ServiceID
	}
	s.metrics.RelaysFailed.WithLabelValues(service, reason).Inc()
	lg.Debug("relay refused", "reason", reason, "error", err)
	return res, status
}
