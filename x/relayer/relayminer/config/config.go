package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	sdk "github.com/cosmos/cosmos-sdk/types"
	"gopkg.in/yaml.v3"

	"github.com/pokt-network/poktroll/x/relayer/internal/httplimit"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// Defaults applied to fields absent from the file.
const (
	DefaultRequestTimeout = 30 * time.Second
	DefaultMaxBodyBytes   = 4 << 20 // 4 MiB
	DefaultGasPrices      = "0upokt"
	DefaultGasAdjustment  = 1.5
	DefaultStorePath      = "~/.poktroll/relayminer/store"
)

// DefaultRelayServers are the relay servers' limits absent from the file,
// and DefaultAuxMaxConnections the metrics and health endpoints' cap.
var (
	DefaultRelayServers      = limitsOf(httplimit.DefaultServer)
	DefaultAuxMaxConnections = httplimit.DefaultAux.MaxConnections
)

// maxChainIDLen is CometBFT's limit on a chain id.
const maxChainIDLen = 50

// Config is a RelayMiner configuration file.
type Config struct {
	Chain Chain `yaml:"chain"`
	Store Store `yaml:"store"`
	// RelayServers bounds what clients can hold of each relay server (one
	// per listen address).
	RelayServers ServerLimits `yaml:"relay_servers"`
	Metrics      Metrics      `yaml:"metrics"`
	Health       Health       `yaml:"health"`
	Suppliers    []Supplier   `yaml:"suppliers"`
}

// ServerLimits are an HTTP server's timeouts and connection cap.
type ServerLimits struct {
	// ReadHeaderTimeout bounds reading a request's headers (default 10s).
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request, headers and body (up to
	// max_body_bytes); a client sending slower is cut off (default 30s).
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing the response beyond the backend's
	// request_timeout: a relay is answered within read_timeout +
	// request_timeout + write_timeout of its headers (default 30s).
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

// Chain is how the RelayMiner reaches the chain.
type Chain struct {
	// RPCURL is the CometBFT RPC endpoint, http(s); its websocket is at
	// /websocket.
	RPCURL string `yaml:"rpc_url"`
	// GRPCURL, optional, is a gRPC endpoint (host:port, plaintext) for
	// queries. Empty: queries are ABCI queries through RPCURL, which the node
	// serializes with block commits; Cosmos SDK v0.50's gRPC query path does
	// not (cosmos-sdk#22650).
	GRPCURL string `yaml:"grpc_url"`
	// ChainID is the expected chain id; empty means read it from the node.
	ChainID string `yaml:"chain_id"`
	// GasPrices are the gas prices of claim and proof txs (default 0upokt).
	GasPrices string `yaml:"gas_prices"`
	// GasAdjustment multiplies simulated gas (default 1.5).
	GasAdjustment float64 `yaml:"gas_adjustment"`
}

// Store is the RelayMiner's leveldb store.
type Store struct {
	// Path is the leveldb directory; a leading "~/" is expanded. A relative
	// path is relative to the working directory.
	Path string `yaml:"path"`
	// SyncWrites fsyncs every write, to survive power loss and not just a
	// process crash.
	SyncWrites bool `yaml:"sync_writes"`
}

// Metrics is the Prometheus endpoint.
type Metrics struct {
	// Listen is the host:port to serve /metrics on; empty disables it.
	Listen string `yaml:"listen"`
	// MaxConnections caps the connections held at once (default 64).
	MaxConnections int `yaml:"max_connections"`
}

// Health is the health endpoint.
type Health struct {
	// Listen is the host:port to serve health checks on; empty disables it.
	Listen string `yaml:"listen"`
	// MaxConnections caps the connections held at once (default 64).
	MaxConnections int `yaml:"max_connections"`
}

// Supplier is one supplier operator key and the services it serves.
type Supplier struct {
	// KeyName is the keyring key of the supplier operator.
	KeyName  string    `yaml:"key_name"`
	Services []Service `yaml:"services"`
}

// Service is one service served by a supplier.
type Service struct {
	ServiceID string `yaml:"service_id"`
	// Listen is the host:port where the RelayMiner serves this service's
	// relays. Several services (of one or more suppliers) may share a listen
	// address: relays are routed by their session header's service id and
	// their supplier operator address.
	Listen string `yaml:"listen"`
	// BackendURL is the absolute http(s) URL relays are forwarded to.
	BackendURL string `yaml:"backend_url"`
	// RequestTimeout bounds a backend request (default 30s).
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// MaxBodyBytes bounds request and response payloads (default 4 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// Headers are extra headers sent to the backend.
	Headers map[string]string `yaml:"headers"`
}

// UnmarshalYAML fills in defaults for the fields absent from the document.
// (yaml.v3's older unmarshaler interface is used because, unlike
// Node.Decode, it keeps the decoder's KnownFields setting.)
func (s *Service) UnmarshalYAML(unmarshal func(any) error) error {
	type plain Service // no UnmarshalYAML: avoids recursion
	p := plain{RequestTimeout: DefaultRequestTimeout, MaxBodyBytes: DefaultMaxBodyBytes}
	if err := unmarshal(&p); err != nil {
		return err
	}
	*s = Service(p)
	return nil
}

// ServiceRef is a service with the supplier key serving it.
type ServiceRef struct {
	KeyName string
	Service Service
}

// Load reads, parses and validates the configuration file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading relayminer config: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("relayminer config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse parses a configuration, rejecting unknown fields, applies defaults,
// expands a leading "~/" in store.path and validates the result.
func Parse(data []byte) (*Config, error) {
	// The document tree maps decoding errors, which yaml reports by line,
	// back to field paths. It also catches syntax errors.
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}

	cfg := &Config{
		Chain:        Chain{GasPrices: DefaultGasPrices, GasAdjustment: DefaultGasAdjustment},
		Store:        Store{Path: DefaultStorePath},
		RelayServers: DefaultRelayServers,
		Metrics:      Metrics{MaxConnections: DefaultAuxMaxConnections},
		Health:       Health{MaxConnections: DefaultAuxMaxConnections},
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) { // io.EOF: empty document
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return nil, decodeErrors(&doc, te)
		}
		return nil, err
	}
	if err := dec.Decode(new(yaml.Node)); !errors.Is(err, io.EOF) {
		return nil, errors.New("the file must hold a single YAML document")
	}

	path, err := expandHome(cfg.Store.Path)
	if err != nil {
		return nil, &FieldError{Field: "store.path", Problem: err.Error()}
	}
	cfg.Store.Path = path

	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// expandHome replaces a leading "~" or "~/" with the user's home directory.
func expandHome(path string) (string, error) {
	if path != "~" && !strings.HasPrefix(path, "~/") {
		if strings.HasPrefix(path, "~") {
			return "", fmt.Errorf("%q: only a leading \"~/\" is expanded", path)
		}
		return path, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("expanding %q: %w", path, err)
	}
	return filepath.Join(home, strings.TrimPrefix(path, "~")), nil
}

// FieldError is a problem with one field of the configuration.
type FieldError struct {
	Field   string // path such as suppliers[0].services[1].backend_url
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// Validate checks everything that can be checked without the keyring or the
// chain, and returns every problem found (joined), each naming its field.
func (c *Config) Validate() error {
	v := &validator{}

	v.check("chain.rpc_url", c.Chain.RPCURL, httpURL)
	if c.Chain.GRPCURL != "" {
		v.check("chain.grpc_url", c.Chain.GRPCURL, dialAddress)
	}
	if id := c.Chain.ChainID; id != "" && (len(id) > maxChainIDLen || strings.ContainsFunc(id, isSpaceOrControl)) {
		v.add("chain.chain_id", "%q is not a chain id (at most %d characters, no spaces)", id, maxChainIDLen)
	}
	if c.Chain.GasPrices == "" {
		v.add("chain.gas_prices", "must not be empty (use %q for free txs)", DefaultGasPrices)
	} else if _, err := sdk.ParseDecCoins(c.Chain.GasPrices); err != nil {
		v.add("chain.gas_prices", "%q is not a list of gas prices such as \"0.01upokt\": %v", c.Chain.GasPrices, err)
	}
	if a := c.Chain.GasAdjustment; !(a > 0) || math.IsInf(a, 0) {
		v.add("chain.gas_adjustment", "must be a positive number, got %v", a)
	}

	if c.Store.Path == "" {
		v.add("store.path", "must not be empty")
	}

	rs := c.RelayServers
	for _, d := range []struct {
		field string
		value time.Duration
	}{
		{"relay_servers.read_header_timeout", rs.ReadHeaderTimeout},
		{"relay_servers.read_timeout", rs.ReadTimeout},
		{"relay_servers.write_timeout", rs.WriteTimeout},
		{"relay_servers.idle_timeout", rs.IdleTimeout},
	} {
		if d.value <= 0 {
			v.add(d.field, "must be positive, got %v", d.value)
		}
	}
	if rs.ReadTimeout > 0 && rs.ReadHeaderTimeout > rs.ReadTimeout {
		v.add("relay_servers.read_header_timeout", "%v is longer than relay_servers.read_timeout (%v), which includes the headers", rs.ReadHeaderTimeout, rs.ReadTimeout)
	}
	if rs.MaxConnections <= 0 {
		v.add("relay_servers.max_connections", "must be positive, got %d", rs.MaxConnections)
	}
	if c.Metrics.Listen != "" && c.Metrics.MaxConnections <= 0 {
		v.add("metrics.max_connections", "must be positive, got %d", c.Metrics.MaxConnections)
	}
	if c.Health.Listen != "" && c.Health.MaxConnections <= 0 {
		v.add("health.max_connections", "must be positive, got %d", c.Health.MaxConnections)
	}

	listeners := map[string]string{} // field → address, for conflicts
	var listenerFields []string
	addListener := func(field, addr string) {
		listeners[field] = addr
		listenerFields = append(listenerFields, field)
	}
	if c.Metrics.Listen != "" && v.check("metrics.listen", c.Metrics.Listen, listenAddress) {
		addListener("metrics.listen", c.Metrics.Listen)
	}
	if c.Health.Listen != "" && v.check("health.listen", c.Health.Listen, listenAddress) {
		addListener("health.listen", c.Health.Listen)
	}

	if len(c.Suppliers) == 0 {
		v.add("suppliers", "at least one supplier is required")
	}
	keyNames := map[string]int{}
	for i, s := range c.Suppliers {
		sp := fmt.Sprintf("suppliers[%d]", i)
		if s.KeyName == "" {
			v.add(sp+".key_name", "is required")
		} else if first, dup := keyNames[s.KeyName]; dup {
			v.add(sp+".key_name", "%q is already suppliers[%d].key_name", s.KeyName, first)
		} else {
			keyNames[s.KeyName] = i
		}
		if len(s.Services) == 0 {
			v.add(sp+".services", "at least one service is required")
		}
		serviceIDs := map[string]int{}
		for j, svc := range s.Services {
			p := fmt.Sprintf("%s.services[%d]", sp, j)
			if err := types.ValidateServiceID(svc.ServiceID); err != nil {
				v.add(p+".service_id", "%v", err)
			} else if first, dup := serviceIDs[svc.ServiceID]; dup {
				v.add(p+".service_id", "%q is already served by %s.services[%d]", svc.ServiceID, sp, first)
			} else {
				serviceIDs[svc.ServiceID] = j
			}
			if v.check(p+".listen", svc.Listen, listenAddress) {
				addListener(p+".listen", svc.Listen)
			}
			v.check(p+".backend_url", svc.BackendURL, httpURL)
			if svc.RequestTimeout <= 0 {
				v.add(p+".request_timeout", "must be positive, got %v", svc.RequestTimeout)
			}
			if svc.MaxBodyBytes <= 0 {
				v.add(p+".max_body_bytes", "must be positive, got %d", svc.MaxBodyBytes)
			}
			canonical := map[string]string{}
			for _, name := range sortedKeys(svc.Headers) {
				hp := p + ".headers." + name
				if !validHeaderName(name) {
					v.add(hp, "%q is not a valid header name", name)
					continue
				}
				if !validHeaderValue(svc.Headers[name]) {
					v.add(hp, "value holds a control character")
				}
				cn := http.CanonicalHeaderKey(name)
				if other, dup := canonical[cn]; dup {
					v.add(hp, "is the same header as %q (header names are case-insensitive)", other)
				}
				canonical[cn] = name
			}
		}
	}

	// Two listeners may share an address only if both are services (one
	// HTTP server then serves them all); otherwise no two listeners may
	// bind overlapping addresses.
	for i, a := range listenerFields {
		for _, b := range listenerFields[:i] {
			aa, ba := listeners[a], listeners[b]
			bothServices := strings.HasPrefix(a, "suppliers") && strings.HasPrefix(b, "suppliers")
			if aa == ba && bothServices {
				continue
			}
			if overlaps(aa, ba) {
				if bothServices {
					v.add(a, "%q overlaps %q of %s: services sharing a port must use the same listen address", aa, ba, b)
				} else {
					v.add(a, "%q overlaps %q of %s", aa, ba, b)
				}
				break
			}
		}
	}
	return errors.Join(v.errs...)
}

// KeyNames returns the supplier key names, in file order. The start command
// resolves each in the keyring.
func (c *Config) KeyNames() []string {
	names := make([]string, len(c.Suppliers))
	for i, s := range c.Suppliers {
		names[i] = s.KeyName
	}
	return names
}

// ServiceIDs returns the ids of the services s serves, in file order. The
// start command checks that the supplier is staked for each.
func (s Supplier) ServiceIDs() []string {
	ids := make([]string, len(s.Services))
	for i, svc := range s.Services {
		ids[i] = svc.ServiceID
	}
	return ids
}

// ListenAddresses groups the services by listen address, in file order: one
// HTTP server runs per address.
func (c *Config) ListenAddresses() map[string][]ServiceRef {
	byAddr := map[string][]ServiceRef{}
	for _, s := range c.Suppliers {
		for _, svc := range s.Services {
			byAddr[svc.Listen] = append(byAddr[svc.Listen], ServiceRef{KeyName: s.KeyName, Service: svc})
		}
	}
	return byAddr
}

type validator struct{ errs []error }

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
}

// check runs fn on value and records its problem, if any, under field.
func (v *validator) check(field, value string, fn func(string) string) bool {
	if value == "" {
		v.add(field, "is required")
		return false
	}
	if problem := fn(value); problem != "" {
		v.add(field, "%q %s", value, problem)
		return false
	}
	return true
}

// httpURL checks an absolute http(s) URL with a host.
func httpURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return "is not an http(s) URL"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "is not an http(s) URL: bad port"
		}
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

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
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

// validHeaderValue rejects control characters other than tab.
func validHeaderValue(s string) bool {
	for _, c := range []byte(s) {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
