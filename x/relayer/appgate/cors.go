package appgate

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/pokt-network/poktroll/x/relayer/appgate/config"
	"github.com/pokt-network/poktroll/x/relayer/internal/yamlconf"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// cors is the AppGate's cross-origin policy (config.CORS). The AppGate owns
// CORS: it answers preflights itself (they are not relays: nothing is sent
// to a supplier, nothing is mined), and its own Access-Control-* headers
// replace any a backend sent.
type cors struct {
	any     bool            // "*": every origin
	origins map[string]bool // the allowed origins
	maxAge  string          // Access-Control-Max-Age, in seconds
}

func newCORS(c config.CORS) *cors {
	p := &cors{origins: map[string]bool{}, maxAge: strconv.Itoa(int(c.MaxAge.Seconds()))}
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			p.any = true
		}
		p.origins[o] = true
	}
	return p
}

// allowed reports whether a page of origin may call the AppGate.
func (c *cors) allowed(origin string) bool { return origin != "" && (c.any || c.origins[origin]) }

// isPreflight reports whether r is a CORS preflight: an OPTIONS asking
// whether a cross-origin request may be made (Fetch standard). Any other
// OPTIONS is relayed as the client's own request.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
}

// allowOrigin sets, for a request from an allowed origin, the header that
// lets its page read the answer. Vary is set whatever the origin: the
// answer depends on it.
func (c *cors) allowOrigin(h http.Header, origin string) {
	if len(c.origins) == 0 {
		return
	}
	h.Add("Vary", "Origin")
	if !c.allowed(origin) {
		return
	}
	if c.any {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
	}
}

// preflight answers a preflight: 204 with the methods and headers asked
// for, to an allowed origin; an error naming the config field otherwise.
// Any method is relayed, and any header a page may set, so what is asked
// is what is allowed.
func (c *cors) preflight(w http.ResponseWriter, r *http.Request) *Error {
	origin := r.Header.Get("Origin")
	h := w.Header()
	h.Add("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
	if !c.allowed(origin) {
		if len(c.origins) == 0 {
			return newError(CodeOriginNotAllowed, fmt.Sprintf("cross-origin requests are off (cors.allowed_origins is empty): origin %q may not call this AppGate", origin))
		}
		return newError(CodeOriginNotAllowed, fmt.Sprintf("origin %q is not in cors.allowed_origins", origin))
	}
	method := r.Header.Get("Access-Control-Request-Method")
	if !yamlconf.IsToken(method) {
		return newError(CodeBadRequest, fmt.Sprintf("Access-Control-Request-Method %q is not a method", method))
	}
	c.allowOrigin(h, origin)
	h.Set("Access-Control-Allow-Methods", method)
	if asked := r.Header.Values("Access-Control-Request-Headers"); len(asked) > 0 {
		var names []string
		for _, v := range asked {
			for _, name := range strings.Split(v, ",") {
				if name = strings.TrimSpace(name); name != "" {
					if !yamlconf.IsToken(name) {
						return newError(CodeBadRequest, fmt.Sprintf("Access-Control-Request-Headers names %q, not a header", name))
					}
					names = append(names, name)
				}
			}
		}
		if len(names) > 0 {
			h.Set("Access-Control-Allow-Headers", strings.Join(names, ", "))
		}
	}
	h.Set("Access-Control-Max-Age", c.maxAge)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// upgradeAsked is the protocol switch r asks for, or "". An h2c upgrade is
// ignored, as RFC 9110 lets a server do: the request is answered in
// HTTP/1.1 (curl --http2 asks for one on every plain-HTTP request).
func upgradeAsked(h http.Header) string {
	up := types.Upgrade(h)
	if strings.EqualFold(strings.TrimSpace(up), "h2c") {
		return ""
	}
	return up
}
