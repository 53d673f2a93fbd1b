// Package httplimit bounds what a client can hold of the relayer's HTTP
// servers (the RelayMiner's relay servers, the AppGate, and their metrics
// and health endpoints): the time to send a request's headers and body, the
// time to take the response, the time a kept-alive connection may idle,
// and the connections held at once.
package httplimit

import (
	"errors"
	stdlog "log"
	"net"
	"net/http"
	"strings"
	"time"

	"cosmossdk.io/log"
	"golang.org/x/net/netutil"
)

// Limits of one HTTP server and its listener. A zero field takes the
// default's value (see Or).
type Limits struct {
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, headers and body, from
	// its first byte: a client sending slower is cut off. Once the body is
	// read, net/http lifts the read deadline: a handler still at work (a
	// relay waiting on its backend) is not cancelled at ReadTimeout.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing the response, beyond the handler's own
	// time: a request must be answered within ReadTimeout + the handler's
	// time (a backend's request timeout) + WriteTimeout of its headers.
	WriteTimeout time.Duration
	// IdleTimeout bounds the wait for a kept-alive connection's next
	// request.
	IdleTimeout time.Duration
	// MaxConnections caps the connections held at once; more wait, not
	// accepted, until one closes.
	MaxConnections int
}

// Defaults of a server taking client traffic (relay servers, the AppGate)
// and of the auxiliary endpoints (metrics, health).
var (
	DefaultServer = Limits{
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxConnections:    4096,
	}
	DefaultAux = Limits{
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		MaxConnections:    64,
	}
)

// Or returns l with its zero (or negative) fields taken from d.
func (l Limits) Or(d Limits) Limits {
	pick := func(v, def time.Duration) time.Duration {
		if v <= 0 {
			return def
		}
		return v
	}
	l.ReadHeaderTimeout = pick(l.ReadHeaderTimeout, d.ReadHeaderTimeout)
	l.ReadTimeout = pick(l.ReadTimeout, d.ReadTimeout)
	l.WriteTimeout = pick(l.WriteTimeout, d.WriteTimeout)
	l.IdleTimeout = pick(l.IdleTimeout, d.IdleTimeout)
	if l.MaxConnections <= 0 {
		l.MaxConnections = d.MaxConnections
	}
	return l
}

// Server is an http.Server serving h within l (zero fields of l take
// DefaultServer's). handlerTime is the longest the handler may
// legitimately work between reading a request and answering it (the
// backend's request timeout): the connection's write deadline is set past
// it. The server's own errors, recovered handler panics included, go to
// logger.
func Server(h http.Handler, l Limits, handlerTime time.Duration, logger log.Logger) *http.Server {
	l = l.Or(DefaultServer)
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.ReadTimeout + max(handlerTime, 0) + l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		ErrorLog:          ErrorLog(logger),
	}
}

// Listen listens on the TCP address addr, holding at most maxConns
// connections at once (no cap if maxConns <= 0): further connections wait
// in the kernel's backlog until one closes.
func Listen(addr string, maxConns int) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if maxConns > 0 {
		ln = netutil.LimitListener(ln, maxConns)
	}
	return ln, nil
}

// ErrorLog is a standard logger writing each line to logger at error
// level, for http.Server.ErrorLog.
func ErrorLog(logger log.Logger) *stdlog.Logger {
	return stdlog.New(logWriter{logger}, "", 0)
}

type logWriter struct{ logger log.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.logger.Error(strings.TrimSpace(string(p)), "module", "http")
	return len(p), nil
}

// TimedOut reports whether err is a deadline passing, such as a request
// body not received within ReadTimeout.
func TimedOut(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
