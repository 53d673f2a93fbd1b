package yamlconf

import (
	"time"

	"github.com/pokt-network/poktroll/x/relayer/internal/httplimit"
)

// Defaults shared by the daemons' configurations.
const (
	// DefaultRequestTimeout bounds a request served (the AppGate's client
	// request, the RelayMiner's backend request).
	DefaultRequestTimeout = 30 * time.Second
	// DefaultMaxBodyBytes bounds a request's body: 4 MiB.
	DefaultMaxBodyBytes = 4 << 20
)

// DefaultServerLimits are the limits of a server taking client traffic
// (the AppGate's, the RelayMiner's relay servers) absent from the file,
// and DefaultAuxMaxConnections the metrics and health endpoints' cap.
var (
	DefaultServerLimits      = LimitsOf(httplimit.DefaultServer)
	DefaultAuxMaxConnections = httplimit.DefaultAux.MaxConnections
)

// Chain is how a daemon reaches the chain.
type Chain struct {
	// RPCURL is the CometBFT RPC endpoint, http(s); blocks are followed over
	// its websocket (at /websocket).
	RPCURL string `yaml:"rpc_url"`
	// GRPCURL, optional, is a gRPC endpoint (host:port, plaintext) for
	// queries. Empty: queries are ABCI queries through RPCURL, which the node
	// serializes with block commits; Cosmos SDK v0.50's gRPC query path does
	// not (cosmos-sdk#22650).
	GRPCURL string `yaml:"grpc_url"`
}

// Validate records c's problems; field is where c stands (e.g. "chain").
func (c Chain) Validate(p *Problems, field string) {
	p.Check(field+".rpc_url", c.RPCURL, HTTPURL)
	if c.GRPCURL != "" {
		p.Check(field+".grpc_url", c.GRPCURL, DialAddress)
	}
}

// ServerLimits are an HTTP server's timeouts and connection cap.
type ServerLimits struct {
	// ReadHeaderTimeout bounds reading a request's headers (default 10s).
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request, headers and body (up to
	// max_body_bytes); a client sending slower is cut off (default 30s).
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing the response beyond the request's own
	// request_timeout (the AppGate's, or the RelayMiner backend's): a
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
	return httplimit.Limits(l)
}

// LimitsOf are httplimit's limits in the configuration's form.
func LimitsOf(l httplimit.Limits) ServerLimits {
	return ServerLimits(l)
}

// Validate records l's problems; field is where l stands (e.g. "server").
func (l ServerLimits) Validate(p *Problems, field string) {
	Positive(p, field+".read_header_timeout", l.ReadHeaderTimeout)
	Positive(p, field+".read_timeout", l.ReadTimeout)
	Positive(p, field+".write_timeout", l.WriteTimeout)
	Positive(p, field+".idle_timeout", l.IdleTimeout)
	if l.ReadTimeout > 0 && l.ReadHeaderTimeout > l.ReadTimeout {
		p.Add(field+".read_header_timeout", "%v is longer than %s.read_timeout (%v), which includes the headers",
			l.ReadHeaderTimeout, field, l.ReadTimeout)
	}
	Positive(p, field+".max_connections", l.MaxConnections)
}

// Endpoint is an auxiliary HTTP endpoint (metrics, health).
type Endpoint struct {
	// Listen is the host:port to serve on; empty disables the endpoint.
	Listen string `yaml:"listen"`
	// MaxConnections caps the connections held at once (default 64; the
	// endpoint's timeouts are fixed).
	MaxConnections int `yaml:"max_connections"`
}

// DefaultEndpoint is an endpoint absent from the file: disabled, with the
// default cap.
func DefaultEndpoint() Endpoint {
	return Endpoint{MaxConnections: DefaultAuxMaxConnections}
}

// Validate records e's problems, if it is enabled, and adds its listen
// address to ls if valid; field is where e stands (e.g. "metrics").
func (e Endpoint) Validate(p *Problems, field string, ls *Listeners) {
	if e.Listen == "" {
		return
	}
	Positive(p, field+".max_connections", e.MaxConnections)
	if p.Check(field+".listen", e.Listen, ListenAddress) {
		ls.Add(field+".listen", e.Listen)
	}
}

// MetricsEndpoint is the Prometheus endpoint, which may also serve the Go
// profiler.
type MetricsEndpoint struct {
	Endpoint `yaml:",inline"`
	// Pprof mounts net/http/pprof's handlers under /debug/pprof/ on the
	// metrics address (default false: they expose the process's memory
	// and can cost CPU; keep the address private).
	Pprof bool `yaml:"pprof"`
}

// DefaultMetricsEndpoint is a metrics endpoint absent from the file:
// disabled, with the default cap, no profiler.
func DefaultMetricsEndpoint() MetricsEndpoint {
	return MetricsEndpoint{Endpoint: DefaultEndpoint()}
}
