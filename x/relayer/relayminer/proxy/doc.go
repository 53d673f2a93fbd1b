// Package proxy is the RelayerProxy: one HTTP server per listen address
// that takes signed RelayRequests, checks the application's signature and
// session against the chain, has the relay meter count it against what the
// application can pay (a relay past that is refused before the backend is
// called), forwards the payload to the service's backend,
// signs the RelayResponse with the supplier's key, has the miner record the
// relay and replies. A refused relay gets a RelayResponse carrying a typed
// error and a fitting HTTP status, is counted, and is never mined.
//
// A GET upgrading to a WebSocket opens a relay socket (socket.go): each
// application message a signed RelayRequest checked as above, each backend
// message a supplier-signed RelayResponse naming the request it answers,
// a request's first answer mined before it is passed on.
//
// It must never write session trees or talk to the chain except through the
// small interfaces it is given.
package proxy
