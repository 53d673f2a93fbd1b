package config

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/pokt-network/poktroll/x/relayer/internal/yamlconf"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// Defaults applied to fields absent from the file.
const (
	DefaultRequestTimeout = yamlconf.DefaultRequestTimeout
	DefaultMaxBodyBytes   = yamlconf.DefaultMaxBodyBytes
	// DefaultCORSMaxAge is how long a browser may cache the answer to a
	// preflight.
	DefaultCORSMaxAge = 10 * time.Minute
)

// RPC types of a service, as its clients speak it (the chain's RPCType).
const (
	// RPCTypeJSONRPC: clients speak JSON-RPC 2.0; the AppGate's own
	// refusals are JSON-RPC error objects carrying the request's id.
	RPCTypeJSONRPC = "json_rpc"
	// RPCTypeREST (the default): the AppGate's refusals are
	// {"error":{"code","message"}}.
	RPCTypeREST = "rest"
)

// DefaultServer are the limits of the listen address's server absent from
// the file, and DefaultAuxMaxConnections the metrics and health endpoints'
// cap.
var (
	DefaultServer            = yamlconf.DefaultServerLimits
	DefaultAuxMaxConnections = yamlconf.DefaultAuxMaxConnections
)

// The sections shared with the RelayMiner's configuration, and its errors.
type (
	// Chain is how the AppGate reaches the chain.
	Chain = yamlconf.Chain
	// ServerLimits are an HTTP server's timeouts and connection cap.
	ServerLimits = yamlconf.ServerLimits
	// Endpoint is an auxiliary HTTP endpoint (metrics, health).
	Endpoint = yamlconf.Endpoint
	// MetricsEndpoint is the metrics endpoint, with its pprof switch.
	MetricsEndpoint = yamlconf.MetricsEndpoint
	// FieldError is a problem with one field of the configuration.
	FieldError = yamlconf.FieldError
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
	// RPCTypes is the RPC type of each service (by id) that is not
	// RPCTypeREST: how the AppGate answers a request it refuses.
	RPCTypes map[string]string `yaml:"rpc_types"`
	// CORS lets web pages of other origins call the AppGate (off by
	// default). The AppGate answers preflights itself: they are never
	// relayed.
	CORS CORS `yaml:"cors"`
	// Server bounds what clients can hold of the server on Listen.
	Server ServerLimits `yaml:"server"`
	// Metrics is the Prometheus endpoint, and the profiler's when
	// metrics.pprof is set.
	Metrics MetricsEndpoint `yaml:"metrics"`
	Health  Endpoint        `yaml:"health"`
}

// CORS is the AppGate's cross-origin resource sharing policy.
type CORS struct {
	// AllowedOrigins are the origins (scheme://host[:port]) whose pages
	// may call the AppGate, or "*" alone for any; empty (the default):
	// none.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// MaxAge is how long a browser may cache a preflight's answer
	// (default 10m).
	MaxAge time.Duration `yaml:"max_age"`
}

// Validate records c's problems; field is where c stands ("cors").
func (c CORS) Validate(p *yamlconf.Problems, field string) {
	seen := map[string]int{}
	for i, o := range c.AllowedOrigins {
		f := fmt.Sprintf("%s.allowed_origins[%d]", field, i)
		if o == "*" {
			if len(c.AllowedOrigins) > 1 {
				p.Add(f, `"*" allows every origin: list it alone`)
			}
			continue
		}
		if !p.Check(f, o, origin) {
			continue
		}
		if first, dup := seen[o]; dup {
			p.Add(f, "%q is already %s.allowed_origins[%d]", o, field, first)
		}
		seen[o] = i
	}
	if c.MaxAge < 0 {
		p.Add(field+".max_age", "must not be negative, got %s", c.MaxAge)
	}
}

// origin checks a web origin as browsers send it: http(s)://host[:port],
// without a path, query or user, in lower case.
func origin(s string) string {
	if problem := yamlconf.HTTPURL(s); problem != "" {
		return "is not an origin: want http(s)://host[:port]"
	}
	u, _ := url.Parse(s)
	switch {
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Path != "" || strings.HasSuffix(s, "?") || strings.HasSuffix(s, "#"):
		return "is not an origin: want http(s)://host[:port], no path (not even a trailing slash), query or user"
	case strings.ToLower(s) != s:
		return "is not an origin as browsers send it: write it in lower case"
	}
	return ""
}

// Application is the staked application the AppGate signs relays for.
type Application struct {
	// KeyName is the application's key in the keyring.
	KeyName string `yaml:"key_name"`
}

// Load reads, parses and validates the configuration file at path.
func Load(path string) (*Config, error) {
	return yamlconf.Load(path, "appgate", Parse)
}

// Parse parses a configuration, rejecting unknown fields, applies
// defaults and validates the result. Every problem found is returned
// (joined), each a *FieldError naming its field.
func Parse(data []byte) (*Config, error) {
	cfg := &Config{
		RequestTimeout: DefaultRequestTimeout, MaxBodyBytes: DefaultMaxBodyBytes, Server: DefaultServer,
		CORS:    CORS{MaxAge: DefaultCORSMaxAge},
		Metrics: yamlconf.DefaultMetricsEndpoint(), Health: yamlconf.DefaultEndpoint(),
	}
	if err := yamlconf.Validated(yamlconf.Decode(data, cfg), cfg.Validate); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Validate checks everything that can be checked without the keyring or
// the chain, and returns every problem found (joined), each naming its
// field.
func (c *Config) Validate() error {
	p := &yamlconf.Problems{}
	c.Chain.Validate(p, "chain")
	if c.Application.KeyName == "" {
		p.Add("application.key_name", "is required")
	}
	if len(c.Services) == 0 {
		p.Add("services", "at least one service id is required")
	}
	seen := map[string]int{}
	for i, id := range c.Services {
		field := fmt.Sprintf("services[%d]", i)
		if err := types.ValidateServiceID(id); err != nil {
			p.Add(field, "%v", err)
		} else if first, dup := seen[id]; dup {
			p.Add(field, "%q is already services[%d]", id, first)
		} else {
			seen[id] = i
		}
	}
	for _, id := range slices.Sorted(maps.Keys(c.RPCTypes)) {
		field := "rpc_types." + id
		if _, ok := seen[id]; !ok {
			p.Add(field, "%q is not one of services", id)
		}
		if t := c.RPCTypes[id]; t != RPCTypeJSONRPC && t != RPCTypeREST {
			p.Add(field, "%q is not an RPC type: want %s or %s", t, RPCTypeJSONRPC, RPCTypeREST)
		}
	}
	c.CORS.Validate(p, "cors")
	yamlconf.Positive(p, "request_timeout", c.RequestTimeout)
	yamlconf.Positive(p, "max_body_bytes", c.MaxBodyBytes)
	c.Server.Validate(p, "server")

	listeners := &yamlconf.Listeners{}
	if p.Check("listen", c.Listen, yamlconf.ListenAddress) {
		listeners.Add("listen", c.Listen)
	}
	c.Metrics.Validate(p, "metrics", listeners)
	c.Health.Validate(p, "health", listeners)
	listeners.Check(p)
	return p.Err()
}
