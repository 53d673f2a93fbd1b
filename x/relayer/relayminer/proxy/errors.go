package proxy

import (
	"net/http"

	errorsmod "cosmossdk.io/errors"
)

// Codespace of the RelayMiner's relay errors.
const Codespace = "relayminer"

// Relay errors, each with the HTTP status it is returned with.
var (
	ErrBadRequest       = errorsmod.Register(Codespace, 2, "malformed relay request")
	ErrUnknownService   = errorsmod.Register(Codespace, 3, "service not served here")
	ErrInvalidSignature = errorsmod.Register(Codespace, 4, "invalid application signature")
	ErrWrongSession     = errorsmod.Register(Codespace, 5, "session does not match the chain")
	ErrSessionExpired   = errorsmod.Register(Codespace, 6, "session is over")
	ErrBackendTimeout   = errorsmod.Register(Codespace, 7, "backend timed out")
	ErrBackendFailed    = errorsmod.Register(Codespace, 8, "backend request failed")
	ErrBodyTooLarge     = errorsmod.Register(Codespace, 9, "body too large")
	ErrInternal         = errorsmod.Register(Codespace, 10, "relay could not be recorded")
	ErrMethodNotAllowed = errorsmod.Register(Codespace, 11, "relays are POSTed")
	ErrChainUnavailable = errorsmod.Register(Codespace, 12, "chain state unavailable")
	ErrDuplicateRelay   = errorsmod.Register(Codespace, 13, "relay request already served")
	ErrStoreUnavailable = errorsmod.Register(Codespace, 14, "relay store cannot write")
)

var statusOf = map[*errorsmod.Error]int{
	ErrBadRequest:       http.StatusBadRequest,
	ErrUnknownService:   http.StatusNotFound,
	ErrInvalidSignature: http.StatusUnauthorized,
	ErrWrongSession:     http.StatusForbidden,
	ErrSessionExpired:   http.StatusGone,
	ErrBackendTimeout:   http.StatusGatewayTimeout,
	ErrBackendFailed:    http.StatusBadGateway,
	ErrBodyTooLarge:     http.StatusRequestEntityTooLarge,
	ErrInternal:         http.StatusInternalServerError,
	ErrMethodNotAllowed: http.StatusMethodNotAllowed,
	ErrChainUnavailable: http.StatusServiceUnavailable,
	ErrDuplicateRelay:   http.StatusConflict,
	ErrStoreUnavailable: http.StatusServiceUnavailable,
}

// reasons are the metric labels of the errors.
var reasonOf = map[*errorsmod.Error]string{
	ErrBadRequest:       "bad_request",
	ErrUnknownService:   "unknown_service",
	ErrInvalidSignature: "bad_signature",
	ErrWrongSession:     "wrong_session",
	ErrSessionExpired:   "expired_session",
	ErrBackendTimeout:   "backend_timeout",
	ErrBackendFailed:    "backend_failed",
	ErrBodyTooLarge:     "body_too_large",
	ErrInternal:         "internal",
	ErrMethodNotAllowed: "method",
	ErrChainUnavailable: "chain_unavailable",
	ErrDuplicateRelay:   "duplicate",
	ErrStoreUnavailable: "store_unavailable",
}
