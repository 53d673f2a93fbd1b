package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/pokt-network/poktroll/x/relayer/internal/httplimit"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// Defaults applied to fields absent from the file.
const (
	DefaultRequestTimeout = 30 * time.Second
	DefaultMaxBodyBytes   = 4 << 20 // 4 MiB
)

// DefaultServer are the limits of the listen address's server absent from
// the file, and DefaultAuxMaxConnections the metrics and health endpoints'
// cap.
var (
	DefaultServer            = limitsOf(httplimit.DefaultServer)
	DefaultAuxMaxConnections = httplimit.DefaultAux.MaxConnections
)

// Config is an AppGate configuration file.
type Config struct {
	Chain Chain `yaml:"chain"`
	// Listen is the host:port the AppGate serves http://<listen>/<service_id>/... on.
	Listen      string      `yaml:"listen"`
	Application Application `yaml:"application"`
	// Services are the ids of the services served; the application must be
	// staked for them (requests for one it is not staked for get a 403).
	Services []string `yaml:"services"`
	// RequestTimeout is the deadline of a whole client request, retries on
	// other suppliers included (default 30s).
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// MaxBodyBytes bounds a client request's body (default 4 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// Server bounds what clients can hold of the server on Listen.
	Server  ServerLimits `yaml:"server"`
	Metrics Endpoint     `yaml:"metrics"`
	Health  Endpoint     `yaml:"health"`
}

// ServerLimits are an HTTP server's timeouts and connection cap.
type ServerLimits struct {
	// ReadHeaderTimeout bounds reading a request's headers (default 10s).
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request, headers and body (up to
	// max_body_bytes); a client sending slower is cut off (default 30s).
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing the response beyond request_timeout: a
	// request is answered within read_timeout + request_timeout +
	// write_timeout of its headers (default 30s).
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout bounds a kept-alive connection's wait for its next
	// request (default 2m).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxConnections caps the connections held at once; more wait to be
	// accepted (default 4096).
	MaxConnections int `yaml:"max_connections"`
}

// Limits are the limits in httplimit's form.
func (l ServerLimits) Limits() httplimit.Limits {
	return httplimit.Limits{
		ReadHeaderTimeout: l.ReadHeaderTimeout, ReadTimeout: l.ReadTimeout, WriteTimeout: l.WriteTimeout,
		IdleTimeout: l.IdleTimeout, MaxConnections: l.MaxConnections,
	}
}

func limitsOf(l httplimit.Limits) ServerLimits {
	return ServerLimits{
		ReadHeaderTimeout: l.ReadHeaderTimeout, ReadTimeout: l.ReadTimeout, WriteTimeout: l.WriteTimeout,
		IdleTimeout: l.IdleTimeout, MaxConnections: l.MaxConnections,
	}
}

// Chain is how the AppGate reaches the chain.
type Chain struct {
	// RPCURL is the CometBFT RPC endpoint, http(s); blocks are followed over
	// its websocket.
	RPCURL string `yaml:"rpc_url"`
	// GRPCURL, optional, is a gRPC endpoint (host:port, plaintext) for
	// queries. Empty: queries are ABCI queries through RPCURL, which the node
	// serializes with block commits; Cosmos SDK v0.50's gRPC query path does
	// not (cosmos-sdk#22650).
	GRPCURL string `yaml:"grpc_url"`
}

// Application is the staked application the AppGate signs relays for.
type Application struct {
	// KeyName is the application's key in the keyring.
	KeyName string `yaml:"key_name"`
}

// Endpoint is an auxiliary HTTP endpoint (metrics, health).
type Endpoint struct {
	// Listen is the host:port to serve on; empty disables the endpoint.
	Listen string `yaml:"listen"`
	// MaxConnections caps the connections held at once (default 64; the
	// endpoint's timeouts are fixed).
	MaxConnections int `yaml:"max_connections"`
}

// FieldError is a problem with one field of the configuration.
type FieldError struct {
	Field   string // path such as services[1] or chain.grpc_url
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// Load reads, parses and validates the configuration file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading appgate config: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("appgate config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse parses a configuration, rejecting unknown fields, applies
// defaults and validates the result. Every problem found is returned
// (joined), each a *FieldError naming its field where the field is known.
func Parse(data []byte) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if err := singleDocument(data); err != nil {
		return nil, err
	}
	cfg := &Config{
		RequestTimeout: DefaultRequestTimeout, MaxBodyBytes: DefaultMaxBodyBytes, Server: DefaultServer,
		Metrics: Endpoint{MaxConnections: DefaultAuxMaxConnections}, Health: Endpoint{MaxConnections: DefaultAuxMaxConnections},
	}
	var errs []error
	if len(doc.Content) > 0 { // an empty file is an empty document
		decodeStrict(doc.Content[0], reflect.ValueOf(cfg).Elem(), "", &errs)
	}
	// Validate what did decode; a field that did not has its problem
	// already, and is left out.
	undecoded := map[string]bool{}
	for _, err := range errs {
		undecoded[err.(*FieldError).Field] = true
	}
	if err := cfg.Validate(); err != nil {
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			field := e.(*FieldError).Field
			if !undecoded[field] && !undecoded[strings.TrimRight(field, "[0123456789]")] {
				errs = append(errs, e)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

func singleDocument(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var first, second yaml.Node
	if err := dec.Decode(&first); err != nil {
		return nil // empty, or already reported by Unmarshal
	}
	if err := dec.Decode(&second); err == nil {
		return errors.New("the file must hold a single YAML document")
	}
	return nil
}

// decodeStrict decodes node n into v, walking structs field by field so
// that an unknown key or a value of the wrong type is reported with its
// field path. A null value leaves the default in place.
func decodeStrict(n *yaml.Node, v reflect.Value, path string, errs *[]error) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return
	}
	if v.Kind() == reflect.Struct {
		if n.Kind != yaml.MappingNode {
			*errs = append(*errs, &FieldError{Field: orTop(path), Problem: fmt.Sprintf("%s, want a mapping (line %d)", got(n), n.Line)})
			return
		}
		fields := map[string]int{}
		for i := 0; i < v.NumField(); i++ {
			if tag := v.Type().Field(i).Tag.Get("yaml"); tag != "" {
				fields[tag] = i
			}
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			if seen[k.Value] {
				*errs = append(*errs, &FieldError{Field: p, Problem: fmt.Sprintf("given twice (line %d)", k.Line)})
				continue
			}
			seen[k.Value] = true
			idx, ok := fields[k.Value]
			if !ok {
				*errs = append(*errs, &FieldError{Field: p, Problem: fmt.Sprintf("unknown field (line %d)", k.Line)})
				continue
			}
			decodeStrict(val, v.Field(idx), p, errs)
		}
		return
	}
	if v.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode {
		out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			decodeStrict(c, out.Index(i), fmt.Sprintf("%s[%d]", path, i), errs)
		}
		v.Set(out)
		return
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		*errs = append(*errs, &FieldError{Field: orTop(path), Problem: fmt.Sprintf("%s, want %s (line %d)", got(n), want(v.Type()), n.Line)})
	}
}

func orTop(path string) string {
	if path == "" {
		return "(top level)"
	}
	return path
}

// got describes a node for an error message.
func got(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "got a mapping"
	case yaml.SequenceNode:
		return "got a list"
	}
	return fmt.Sprintf("got %q", n.Value)
}

// want names what a Go type of Config accepts.
func want(t reflect.Type) string {
	switch {
	case t == reflect.TypeOf(time.Duration(0)):
		return `a duration such as "10s" or "1m30s"`
	case t.Kind() == reflect.Slice:
		return "a list"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return "an integer"
	}
	return t.String()
}

// Validate checks everything that can be checked without the keyring or
// the chain, and returns every problem found (joined), each naming its
// field.
func (c *Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	check := func(field, value string, fn func(string) string) bool {
		if value == "" {
			add(field, "is required")
			return false
		}
		if problem := fn(value); problem != "" {
			add(field, "%q %s", value, problem)
			return false
		}
		return true
	}

	check("chain.rpc_url", c.Chain.RPCURL, httpURL)
	if c.Chain.GRPCURL != "" {
		check("chain.grpc_url", c.Chain.GRPCURL, dialAddress)
	}
	if c.Application.KeyName == "" {
		add("application.key_name", "is required")
	}
	if len(c.Services) == 0 {
		add("services", "at least one service id is required")
	}
	seen := map[string]int{}
	for i, id := range c.Services {
		field := fmt.Sprintf("services[%d]", i)
		if err := types.ValidateServiceID(id); err != nil {
			add(field, "%v", err)
		} else if first, dup := seen[id]; dup {
			add(field, "%q is already services[%d]", id, first)
		} else {
			seen[id] = i
		}
	}
	if c.RequestTimeout <= 0 {
		add("request_timeout", "must be positive, got %v", c.RequestTimeout)
	}
	if c.MaxBodyBytes <= 0 {
		add("max_body_bytes", "must be positive, got %d", c.MaxBodyBytes)
	}
	srv := c.Server
	for _, d := range []struct {
		field string
		value time.Duration
	}{
		{"server.read_header_timeout", srv.ReadHeaderTimeout},
		{"server.read_timeout", srv.ReadTimeout},
		{"server.write_timeout", srv.WriteTimeout},
		{"server.idle_timeout", srv.IdleTimeout},
	} {
		if d.value <= 0 {
			add(d.field, "must be positive, got %v", d.value)
		}
	}
	if srv.ReadTimeout > 0 && srv.ReadHeaderTimeout > srv.ReadTimeout {
		add("server.read_header_timeout", "%v is longer than server.read_timeout (%v), which includes the headers", srv.ReadHeaderTimeout, srv.ReadTimeout)
	}
	if srv.MaxConnections <= 0 {
		add("server.max_connections", "must be positive, got %d", srv.MaxConnections)
	}
	for _, e := range []struct {
		field string
		ep    Endpoint
	}{{"metrics", c.Metrics}, {"health", c.Health}} {
		if e.ep.Listen != "" && e.ep.MaxConnections <= 0 {
			add(e.field+".max_connections", "must be positive, got %d", e.ep.MaxConnections)
		}
	}

	type listener struct{ field, addr string }
	var listeners []listener
	if check("listen", c.Listen, listenAddress) {
		listeners = append(listeners, listener{"listen", c.Listen})
	}
	for _, l := range []listener{{"metrics.listen", c.Metrics.Listen}, {"health.listen", c.Health.Listen}} {
		if l.addr != "" && check(l.field, l.addr, listenAddress) {
			listeners = append(listeners, l)
		}
	}
	for i, a := range listeners {
		for _, b := range listeners[:i] {
			if overlaps(a.addr, b.addr) {
				add(a.field, "%q overlaps %q of %s", a.addr, b.addr, b.field)
				break
			}
		}
	}
	return errors.Join(errs...)
}

// httpURL checks an absolute http(s) URL with a host.
func httpURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return "is not an http(s) URL"
	}
	if p := u.Port(); p != "" && !validPort(p) {
		return "is not an http(s) URL: bad port"
	}
	return ""
}

// listenAddress checks host:port to listen on; an empty host means every
// interface.
func listenAddress(s string) string {
	_, port, err := net.SplitHostPort(s)
	if err != nil || !validPort(port) {
		return "is not a host:port address"
	}
	return ""
}

// dialAddress checks host:port to dial.
func dialAddress(s string) string {
	if strings.Contains(s, "://") {
		return "is not a host:port address (no scheme: it is dialed in plaintext)"
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" || !validPort(port) {
		return "is not a host:port address"
	}
	return ""
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535 && p == strconv.Itoa(n)
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
