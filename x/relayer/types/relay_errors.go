package types

import (
	"net/http"

	errorsmod "cosmossdk.io/errors"
)

// RelayCodespace is the codespace of the errors a RelayMiner refuses a relay
// with, in the RelayError of its RelayResponse. They are part of the relay
// contract: the AppGate (or any client) reads them with RelayError.Err and
// errors.Is. Each is answered with its HTTP status (RelayErrorStatus).
const RelayCodespace = "relayminer"

// Relay refusals.
var (
	ErrRelayBadRequest       = errorsmod.Register(RelayCodespace, 2, "malformed relay request")
	ErrRelayUnknownService   = errorsmod.Register(RelayCodespace, 3, "service not served here")
	ErrRelayInvalidSignature = errorsmod.Register(RelayCodespace, 4, "invalid application signature")
	ErrRelayWrongSession     = errorsmod.Register(RelayCodespace, 5, "session does not match the chain")
	ErrRelaySessionOver      = errorsmod.Register(RelayCodespace, 6, "session is over")
	ErrRelayBackendTimeout   = errorsmod.Register(RelayCodespace, 7, "backend timed out")
	ErrRelayBackendFailed    = errorsmod.Register(RelayCodespace, 8, "backend request failed")
	ErrRelayBodyTooLarge     = errorsmod.Register(RelayCodespace, 9, "body too large")
	ErrRelayInternal         = errorsmod.Register(RelayCodespace, 10, "relay could not be recorded")
	ErrRelayMethodNotAllowed = errorsmod.Register(RelayCodespace, 11, "relays are POSTed")
	ErrRelayChainUnavailable = errorsmod.Register(RelayCodespace, 12, "chain state unavailable")
	ErrRelayDuplicate        = errorsmod.Register(RelayCodespace, 13, "relay request already served")
	ErrRelayStoreUnavailable = errorsmod.Register(RelayCodespace, 14, "relay store cannot write")
	// ErrRelayOverServiced: serving the relay would take the supplier past
	// what the application's stake can pay it for the session (the relay
	// meter); another supplier of the session may still serve it.
	ErrRelayOverServiced = errorsmod.Register(RelayCodespace, 15, "application over-serviced")
	// ErrRelayUpgrade: the relay server's request, or the HTTP request in
	// its payload, asks to switch protocols (Upgrade, e.g. a WebSocket
	// handshake). An HTTP relay is one request and its answer: such a
	// request is refused at once and never forwarded to the backend.
	ErrRelayUpgrade = errorsmod.Register(RelayCodespace, 16, "protocol upgrade is not an HTTP relay")
	// ErrRelayRateLimited: a relay socket's message beyond its messages
	// per second, or beyond the requests it may have unanswered at once.
	ErrRelayRateLimited = errorsmod.Register(RelayCodespace, 17, "relay socket over its message rate")
)

// relayErrors are the relay refusals with their HTTP status and metric
// reason.
var relayErrors = []struct {
	err    *errorsmod.Error
	status int
	reason string
}{
	{ErrRelayBadRequest, http.StatusBadRequest, "bad_request"},
	{ErrRelayUnknownService, http.StatusNotFound, "unknown_service"},
	{ErrRelayInvalidSignature, http.StatusUnauthorized, "bad_signature"},
	{ErrRelayWrongSession, http.StatusForbidden, "wrong_session"},
	{ErrRelaySessionOver, http.StatusGone, "expired_session"},
	{ErrRelayBackendTimeout, http.StatusGatewayTimeout, "backend_timeout"},
	{ErrRelayBackendFailed, http.StatusBadGateway, "backend_failed"},
	{ErrRelayBodyTooLarge, http.StatusRequestEntityTooLarge, "body_too_large"},
	{ErrRelayInternal, http.StatusInternalServerError, "internal"},
	{ErrRelayMethodNotAllowed, http.StatusMethodNotAllowed, "method"},
	{ErrRelayChainUnavailable, http.StatusServiceUnavailable, "chain_unavailable"},
	{ErrRelayDuplicate, http.StatusConflict, "duplicate"},
	{ErrRelayStoreUnavailable, http.StatusServiceUnavailable, "store_unavailable"},
	{ErrRelayOverServiced, http.StatusTooManyRequests, "over_serviced"},
	{ErrRelayUpgrade, http.StatusBadRequest, "upgrade"},
	{ErrRelayRateLimited, http.StatusTooManyRequests, "rate_limited"},
}

// RelayRefusal is the relay error err is (or wraps), with its HTTP status
// and metric reason; an error that is none of them is ErrRelayInternal.
func RelayRefusal(err error) (reg *errorsmod.Error, status int, reason string) {
	for _, e := range relayErrors {
		if errorsmod.IsOf(err, e.err) {
			return e.err, e.status, e.reason
		}
	}
	return ErrRelayInternal, http.StatusInternalServerError, "internal"
}

// NewRelayError is the RelayError a refused relay is answered with.
func NewRelayError(err error) *RelayError {
	reg, _, _ := RelayRefusal(err)
	return &RelayError{Codespace: RelayCodespace, Code: reg.ABCICode(), Message: err.Error()}
}

// Err is the registered error the RelayError carries (errors.Is matches it
// against the ErrRelay... values), with its message.
func (e *RelayError) Err() error {
	if e == nil {
		return nil
	}
	return errorsmod.ABCIError(e.Codespace, e.Code, e.Message)
}
