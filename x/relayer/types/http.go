package types

import (
	"net/http"
	"net/textproto"
	"slices"
	"strings"
)

// hopHeaders are never carried in a relay payload (RFC 9110 §7.6.1), nor are
// Host and Content-Length: each hop sets its own.
var hopHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
	"Content-Length": true, "Host": true,
}

// hopByHop says whether header name (canonical) of h stays on its hop,
// including the headers h's Connection header names.
func hopByHop(h http.Header, name string) bool {
	if hopHeaders[name] {
		return true
	}
	for _, v := range h.Values("Connection") {
		for _, f := range strings.Split(v, ",") {
			if textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(f)) == name {
				return true
			}
		}
	}
	return false
}

// HeadersFromHTTP returns h's end-to-end headers as payload headers, sorted
// by name so that equal messages make equal payloads.
func HeadersFromHTTP(h http.Header) []Header {
	names := make([]string, 0, len(h))
	for name := range h {
		if !hopByHop(h, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	out := make([]Header, len(names))
	for i, name := range names {
		out[i] = Header{Name: name, Values: h[name]}
	}
	return out
}

// HeadersToHTTP returns payload headers as an http.Header, without the
// hop-by-hop ones.
func HeadersToHTTP(hs []Header) http.Header {
	h := http.Header{}
	for _, x := range hs {
		name := textproto.CanonicalMIMEHeaderKey(x.Name)
		h[name] = append(h[name], x.Values...)
	}
	// Decide on the whole header first: dropping Connection early would
	// hide the headers it names.
	var drop []string
	for name := range h {
		if hopByHop(h, name) {
			drop = append(drop, name)
		}
	}
	for _, name := range drop {
		delete(h, name)
	}
	return h
}

// Upgrade is the protocol switch h asks for: its Upgrade header's value, or
// "upgrade" when only its Connection header names one; "" when it asks for
// none. An HTTP relay is one request and its answer: a request asking to
// switch protocols (a WebSocket handshake) is not one.
func Upgrade(h http.Header) string {
	if v := strings.Join(h.Values("Upgrade"), ", "); strings.TrimSpace(v) != "" {
		return v
	}
	for _, v := range h.Values("Connection") {
		for _, f := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), "upgrade") {
				return "upgrade"
			}
		}
	}
	return ""
}

// PayloadUpgrade is Upgrade of a relay payload's headers, whatever the
// case of their names.
func PayloadUpgrade(hs []Header) string {
	h := http.Header{}
	for _, x := range hs {
		name := textproto.CanonicalMIMEHeaderKey(x.Name)
		if name == "Upgrade" || name == "Connection" {
			h[name] = append(h[name], x.Values...)
		}
	}
	return Upgrade(h)
}
