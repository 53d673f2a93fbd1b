package appgate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/pokt-network/poktroll/x/relayer/types"
)

// Codes of the AppGate's own JSON errors, each always returned with the
// same HTTP status:
//
//	unknown_service         404  the path's first segment is not a configured service
//	                             (or the chain does not know the service)
//	body_too_large          413  the request body is over max_body_bytes
//	bad_request             400  the request body could not be read
//	application_not_staked  403  the application is not staked, or not for this service
//	application_not_active  503  the application's stake is not active in the current
//	                             session (staked after its start, or unstaked)
//	no_session              503  the session could not be read from the chain
//	no_suppliers            503  the session has no supplier with an endpoint for the service
//	suppliers_failed        502  every supplier of the session failed or was unverifiable
//	application_over_serviced 429 every supplier tried refused: the application's stake
//	                             cannot pay any of them for more relays in this session
//	timeout                 504  request_timeout passed before a supplier answered
//	upgrade_not_supported   501  the request asks to switch to another protocol than
//	                             WebSocket (opened by a GET), or is a WebSocket handshake
//	                             that is not a GET: not relayed
//	origin_not_allowed      403  a CORS preflight from an origin not in
//	                             cors.allowed_origins (answered here, never relayed)
//
// The body is {"error": {"code": ..., "message": ..., "attempts": [...]}},
// attempts listing each supplier tried and why it failed (429, 502 and 504
// only); for a JSON-RPC service, a JSON-RPC 2.0 error response carrying
// the request's id with that object in its data (writeJSONRPCError).
// A relayed response, whatever its status, is the backend's own.
const (
	CodeUnknownService       = "unknown_service"
	CodeBodyTooLarge         = "body_too_large"
	CodeBadRequest           = "bad_request"
	CodeApplicationNotStaked = "application_not_staked"
	CodeApplicationNotActive = "application_not_active"
	CodeNoSession            = "no_session"
	CodeNoSuppliers          = "no_suppliers"
	CodeSuppliersFailed      = "suppliers_failed"
	// CodeApplicationOverServiced: every supplier tried refused the relay
	// with types.ErrRelayOverServiced.
	CodeApplicationOverServiced = "application_over_serviced"
	CodeTimeout                 = "timeout"
	// CodeUpgradeNotSupported: the request asks to switch protocols; it
	// is not an HTTP relay and is not sent to any supplier.
	CodeUpgradeNotSupported = "upgrade_not_supported"
	// CodeOriginNotAllowed: a CORS preflight from an origin the config
	// does not allow.
	CodeOriginNotAllowed = "origin_not_allowed"
)

var statusOf = map[string]int{
	CodeUnknownService:          http.StatusNotFound,
	CodeBodyTooLarge:            http.StatusRequestEntityTooLarge,
	CodeBadRequest:              http.StatusBadRequest,
	CodeApplicationNotStaked:    http.StatusForbidden,
	CodeApplicationNotActive:    http.StatusServiceUnavailable,
	CodeNoSession:               http.StatusServiceUnavailable,
	CodeNoSuppliers:             http.StatusServiceUnavailable,
	CodeSuppliersFailed:         http.StatusBadGateway,
	CodeApplicationOverServiced: http.StatusTooManyRequests,
	CodeTimeout:                 http.StatusGatewayTimeout,
	CodeUpgradeNotSupported:     http.StatusNotImplemented,
	CodeOriginNotAllowed:        http.StatusForbidden,
}

// jsonRPCErrors are the JSON-RPC 2.0 error code and message of each
// refusal, for services whose clients speak JSON-RPC (rpc_types): codes in
// the range JSON-RPC 2.0 leaves to servers (-32000 to -32099), one per
// refusal, listed in the README.
var jsonRPCErrors = map[string]struct {
	code    int
	message string
}{
	CodeUnknownService:          {-32001, "service unknown"},
	CodeBodyTooLarge:            {-32002, "request too large"},
	CodeBadRequest:              {-32003, "request not received whole"},
	CodeApplicationNotStaked:    {-32004, "application not staked for the service"},
	CodeApplicationNotActive:    {-32005, "application not active in the current session"},
	CodeNoSession:               {-32006, "no session"},
	CodeNoSuppliers:             {-32007, "no suppliers in the session"},
	CodeSuppliersFailed:         {-32008, "every supplier failed"},
	CodeApplicationOverServiced: {-32009, "application over-serviced"},
	CodeTimeout:                 {-32010, "no supplier answered in time"},
	CodeUpgradeNotSupported:     {-32011, "protocol upgrade not supported"},
	CodeOriginNotAllowed:        {-32012, "origin not allowed"},
}

// Error is a request the AppGate could not relay.
type Error struct {
	Code     string    `json:"code"`
	Message  string    `json:"message"`
	Attempts []Attempt `json:"attempts,omitempty"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Status is the HTTP status the error is returned with.
func (e *Error) Status() int { return statusOf[e.Code] }

// Attempt is one failed try of a supplier.
type Attempt struct {
	Supplier  string `json:"supplier"`
	SessionID string `json:"session_id"`
	// Reason is one of: unreachable, timeout, refused (the supplier
	// answered with a relay error), over_serviced (it refused because the
	// application's stake cannot pay it for more), bad_response,
	// wrong_session_header, bad_signature, no_endpoint, no_public_key;
	// and, in appgate_relays_total only, socket_failed (a supplier's relay
	// socket failed: see socket.go).
	Reason  string `json:"reason"`
	Message string `json:"message"`

	// sessionLevel marks a refusal about the session itself (not current
	// yet, or over) rather than about the supplier: the supplier is not
	// marked as failed and may be tried with another session.
	sessionLevel bool
}

func newError(code, message string) *Error { return &Error{Code: code, Message: message} }

// writeError answers with err as JSON.
func writeError(w http.ResponseWriter, err *Error) {
	body, _ := json.Marshal(struct {
		Error *Error `json:"error"`
	}{err})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(err.Status())
	_, _ = w.Write(append(body, '\n'))
}

// jsonRPCError is a JSON-RPC 2.0 response carrying an error.
type jsonRPCError struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Error   struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		// Data is the AppGate's error, as services of other RPC types
		// get it: {"code","message","attempts"}.
		Data *Error `json:"data"`
	} `json:"error"`
}

// writeJSONRPCError answers a request to a JSON-RPC service with err as a
// JSON-RPC 2.0 error response carrying the request's id, or, for a batch,
// an array of them, one per call with an id (a notification gets none, as
// JSON-RPC 2.0 says). When no id can be read (the body is not JSON-RPC, or
// was not read: too large, a GET) the id is null, as JSON-RPC 2.0 says; a
// batch of notifications only gets one error, with a null id. The HTTP
// status is err's, as for other services.
func writeJSONRPCError(w http.ResponseWriter, body []byte, err *Error) {
	raw := jsonRPCErrorBody(body, err)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(raw)+1))
	w.WriteHeader(err.Status())
	_, _ = w.Write(append(raw, '\n'))
}

// jsonRPCErrorBody is err as the JSON-RPC 2.0 error response(s) to the
// request body (see writeJSONRPCError).
func jsonRPCErrorBody(body []byte, err *Error) []byte {
	one := jsonRPCError{JSONRPC: "2.0"}
	one.Error.Code = jsonRPCErrors[err.Code].code
	one.Error.Message = jsonRPCErrors[err.Code].message
	one.Error.Data = err
	ids, batch := requestIDs(body)
	var out any = &one
	if batch {
		all := make([]jsonRPCError, len(ids))
		for i, id := range ids {
			all[i] = one
			all[i].ID = id
		}
		out = all
	} else {
		one.ID = ids[0]
	}
	raw, _ := json.Marshal(out)
	return raw
}

// null is JSON's null, the id of a response to a request whose id is
// unknown.
var null = json.RawMessage("null")

// requestIDs are the ids of the JSON-RPC calls in body, as sent: one for a
// single call (null if it has none or body is not one), one per call with
// an id for a batch (at least one: null). An id that is not a string, a
// number or null is read as null.
func requestIDs(body []byte) (ids []json.RawMessage, batch bool) {
	body = bytes.TrimLeft(body, " \t\r\n")
	if len(body) > 0 && body[0] == '[' {
		var calls []json.RawMessage
		if json.Unmarshal(body, &calls) == nil {
			for _, c := range calls {
				if id, ok := callID(c); ok {
					ids = append(ids, id)
				}
			}
			if len(ids) == 0 {
				ids = append(ids, null)
			}
			return ids, true
		}
	}
	id, _ := callID(body)
	return []json.RawMessage{id}, false
}

// callID is the id of one JSON-RPC call (null if it is not a call or its
// id is not valid), and whether it expects an answer: false only for a
// notification, a call without an id.
func callID(call []byte) (json.RawMessage, bool) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(call, &fields) != nil {
		return null, true
	}
	id, ok := fields["id"]
	if !ok {
		return null, false
	}
	switch t := bytes.TrimSpace(id); {
	case len(t) > 0 && (t[0] == '"' || t[0] == '-' || ('0' <= t[0] && t[0] <= '9')):
		return t, true
	}
	return null, true
}

// sessionError maps the chain's refusal to give a session (a registered
// module error: the chain client explains refusals, see
// chain.Client.CurrentSession) to a client error.
func sessionError(app, service string, err error) *Error {
	why := err.Error()
	switch {
	case errors.Is(err, types.ErrApplicationNotForService):
		return newError(CodeApplicationNotStaked, fmt.Sprintf("application %s is not staked for service %q; the chain says: %s", app, service, why))
	case errors.Is(err, types.ErrApplicationNotFound):
		return newError(CodeApplicationNotStaked, fmt.Sprintf("application %s is not staked; the chain says: %s", app, why))
	case errors.Is(err, types.ErrApplicationNotActive):
		return newError(CodeApplicationNotActive, fmt.Sprintf("application %s has no active stake in the current session; the chain says: %s", app, why))
	case errors.Is(err, types.ErrServiceNotFound):
		return newError(CodeUnknownService, fmt.Sprintf("service %q does not exist on chain; the chain says: %s", service, why))
	}
	return newError(CodeNoSession, fmt.Sprintf("no session of application %s for service %q: %s", app, service, why))
}
