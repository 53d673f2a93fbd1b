// Package httplimittest drives hostile clients against a server built with
// httplimit, for tests: one sending its body a byte at a time, and more
// connections than the server's cap.
package httplimittest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"cosmossdk.io/log"
	"github.com/stretchr/testify/require"
)

// Errors is a log.Logger recording its error lines (a server's ErrorLog,
// recovered handler panics included, goes there); other levels are
// dropped.
type Errors struct {
	mu    *sync.Mutex
	lines *[]string
}

// NewErrors is an empty recorder.
func NewErrors() Errors { return Errors{mu: &sync.Mutex{}, lines: new([]string)} }

// Lines are the error lines logged so far.
func (e Errors) Lines() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), *e.lines...)
}

func (e Errors) Error(msg string, keyVals ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	*e.lines = append(*e.lines, strings.TrimSpace(msg+" "+fmt.Sprint(keyVals...)))
}
func (Errors) Info(string, ...any)      {}
func (Errors) Warn(string, ...any)      {}
func (Errors) Debug(string, ...any)     {}
func (e Errors) With(...any) log.Logger { return e }
func (e Errors) Impl() any              { return e }

// Slow is what a slow client saw.
type Slow struct {
	// Response is the server's answer, if it gave one before closing
	// (its body read in Body).
	Response *http.Response
	Body     []byte
	// Elapsed is the time from dialing (before the server's clock for the
	// request starts) to the server closing the connection.
	Elapsed time.Duration
	// Sent is how many body bytes were sent.
	Sent int
}

// SlowBody sends head (a request line and headers, ending with the blank
// line, announcing a body of bodyLen bytes) to addr, then the body one
// byte per interval, and reads until the server closes the connection. It
// fails t if the server has not closed it within wait.
func SlowBody(t testing.TB, addr, head string, bodyLen int, interval, wait time.Duration) Slow {
	t.Helper()
	start := time.Now()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()

	_, err = io.WriteString(conn, head)
	require.NoError(t, err)
	var sent int
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() { // writes only: the test's goroutine checks
		defer close(stopped)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := 0; i < bodyLen; i++ {
			if _, err := conn.Write([]byte{'x'}); err != nil {
				return
			}
			sent++
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	require.NoError(t, conn.SetReadDeadline(start.Add(wait)))
	var out Slow
	br := bufio.NewReader(conn)
	if resp, err := http.ReadResponse(br, nil); err == nil {
		out.Response = resp
		out.Body, _ = io.ReadAll(resp.Body)
	}
	// The connection must be closed, not merely answered.
	_, err = io.Copy(io.Discard, br)
	out.Elapsed = time.Since(start)
	require.False(t, errors.Is(err, os.ErrDeadlineExceeded), "the server still held the connection after %s", wait)
	close(stop)
	_ = conn.Close()
	<-stopped
	out.Sent = sent
	return out
}

// ConnectionCap checks that addr, serving at most limit connections at
// once, makes one more wait: it opens limit connections, each served the
// request req (a full HTTP/1.1 request, kept alive), then one more whose
// request must go unanswered for wait; once one of the first is closed, it
// must be answered. It returns the last answer's status.
func ConnectionCap(t testing.TB, addr string, limit int, req string, wait time.Duration) int {
	t.Helper()
	roundTrip := func(conn net.Conn, br *bufio.Reader) (*http.Response, error) {
		if _, err := io.WriteString(conn, req); err != nil {
			return nil, err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return nil, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		return resp, errors.Join(err, resp.Body.Close())
	}
	held := make([]net.Conn, limit)
	for i := range held {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer conn.Close()
		held[i] = conn
		require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
		resp, err := roundTrip(conn, bufio.NewReader(conn))
		require.NoError(t, err, "connection %d of %d", i+1, limit)
		require.False(t, resp.Close, "connection %d must be kept alive", i+1)
	}

	extra, err := net.Dial("tcp", addr) // the kernel completes the handshake
	require.NoError(t, err)
	defer extra.Close()
	br := bufio.NewReader(extra)
	require.NoError(t, extra.SetDeadline(time.Now().Add(wait)))
	_, err = roundTrip(extra, br)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "connection %d was served while %d were held", limit+1, limit)

	require.NoError(t, held[0].Close())
	require.NoError(t, extra.SetDeadline(time.Now().Add(10*time.Second)))
	resp, err := http.ReadResponse(br, nil) // the request is already sent
	require.NoError(t, err, "connection %d must be served once one closed", limit+1)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// Request is an HTTP/1.1 request with no body, for ConnectionCap.
func Request(method, path string) string {
	return fmt.Sprintf("%s %s HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n", method, path)
}
