package yamlconf

import (
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// The validators below return "" for a valid value, or the problem, to be
// shown after the quoted value (see Problems.Check).

// HTTPURL checks an absolute http(s) URL with a host, and a valid port if
// one is given.
func HTTPURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return "is not an http(s) URL"
	}
	if p := u.Port(); p != "" && !ValidPort(p) {
		return "is not an http(s) URL: bad port"
	}
	return ""
}

// ListenAddress checks host:port to listen on; an empty host means every
// interface.
func ListenAddress(s string) string {
	_, port, err := net.SplitHostPort(s)
	if err != nil || !ValidPort(port) {
		return "is not a host:port address"
	}
	return ""
}

// DialAddress checks host:port to dial (in plaintext: no scheme).
func DialAddress(s string) string {
	if strings.Contains(s, "://") {
		return "is not a host:port address (no scheme: it is dialed in plaintext)"
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" || !ValidPort(port) {
		return "is not a host:port address"
	}
	return ""
}

// ValidPort reports whether p is a port number from 1 to 65535 written in
// decimal without a sign or leading zeros: "0080" is refused, as a value
// that is probably a typo and that tools read differently (some as octal).
// Port 0 (any free port) is refused too: a configured address must be one
// that clients can be told.
func ValidPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535 && p == strconv.Itoa(n)
}

// ValidHeaderName reports whether s is an HTTP header name (an RFC 9110
// token).
func ValidHeaderName(s string) bool { return IsToken(s) }

// IsToken reports whether s is an RFC 9110 token (a method or header name).
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// ValidHeaderValue reports whether s is an HTTP header value: no control
// character other than tab.
func ValidHeaderValue(s string) bool {
	for _, c := range []byte(s) {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// CheckHeaders records the problems of headers, the headers map at field:
// invalid names and values, and names given twice in different cases
// (header names are case-insensitive). Each problem names its header
// (field.Name), in sorted order.
func (p *Problems) CheckHeaders(field string, headers map[string]string) {
	canonical := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(headers)) {
		hp := field + "." + name
		if !ValidHeaderName(name) {
			p.Add(hp, "%q is not a valid header name", name)
			continue
		}
		if !ValidHeaderValue(headers[name]) {
			p.Add(hp, "value holds a control character")
		}
		cn := http.CanonicalHeaderKey(name)
		if other, dup := canonical[cn]; dup {
			p.Add(hp, "is the same header as %q (header names are case-insensitive)", other)
		}
		canonical[cn] = name
	}
}

// Listeners collects valid listen addresses to check that no two of them
// overlap.
type Listeners struct{ list []listener }

type listener struct {
	field, addr string
	shared      bool
}

// Add adds the listen address addr of field.
func (l *Listeners) Add(field, addr string) {
	l.list = append(l.list, listener{field: field, addr: addr})
}

// AddShared adds a listen address that other shared ones may give too,
// the very same address: one server then serves them all (the RelayMiner's
// services).
func (l *Listeners) AddShared(field, addr string) {
	l.list = append(l.list, listener{field: field, addr: addr, shared: true})
}

// Check records a problem for each listener that could not be bound
// beside an earlier one (the first it overlaps is named).
func (l *Listeners) Check(p *Problems) {
	for i, a := range l.list {
		for _, b := range l.list[:i] {
			bothShared := a.shared && b.shared
			if bothShared && a.addr == b.addr {
				continue
			}
			if overlaps(a.addr, b.addr) {
				if bothShared {
					p.Add(a.field, "%q overlaps %q of %s: listeners sharing a port must use the same listen address", a.addr, b.addr, b.field)
				} else {
					p.Add(a.field, "%q overlaps %q of %s", a.addr, b.addr, b.field)
				}
				break
			}
		}
	}
}

// overlaps reports whether two valid listen addresses could not both be
// bound: same port, and same host or either one every interface.
func overlaps(a, b string) bool {
	ah, ap, _ := net.SplitHostPort(a)
	bh, bp, _ := net.SplitHostPort(b)
	if ap != bp {
		return false
	}
	wildcard := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ah == bh || wildcard(ah) || wildcard(bh)
}
