// Package appgate is the application side of relays: a plain HTTP server at
// http://<listen>/<service_id>/... that finds the application's current
// session for the service, picks one of its suppliers (round-robin, skipping
// the ones that failed recently), wraps the HTTP request in a RelayRequest
// signed with the application's key, sends it to the supplier's staked
// endpoint, checks the supplier's signature and session header, and returns
// the backend's status, headers and body unchanged. A supplier that fails is
// retried on another within the request's deadline; when none succeeds the
// client gets a JSON error (see errors.go for the codes and statuses).
// A client's WebSocket (a GET upgrade) is relayed over a relay socket to a
// supplier, every message signed and every answer verified, and moved to
// another supplier (of the next session, or in a failed one's place) with
// its open subscriptions (socket.go).
//
// It must never decide protocol rules (those are in x/relayer/protocol) nor
// write to the chain: it only reads sessions, params and public keys.
package appgate
