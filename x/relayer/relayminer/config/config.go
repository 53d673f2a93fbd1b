package config

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/pokt-network/poktroll/x/relayer/internal/yamlconf"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// Defaults applied to fields absent from the file.
const (
	DefaultRequestTimeout = yamlconf.DefaultRequestTimeout
	DefaultMaxBodyBytes   = yamlconf.DefaultMaxBodyBytes
	DefaultGasPrices      = "0upokt"
	DefaultGasAdjustment  = 1.5
	DefaultStorePath      = "~/.poktroll/relayminer/store"
)

// DefaultRelayServers are the relay servers' limits absent from the file,
// and DefaultAuxMaxConnections the metrics and health endpoints' cap.
var (
	DefaultRelayServers      = yamlconf.DefaultServerLimits
	DefaultAuxMaxConnections = yamlconf.DefaultAuxMaxConnections
)

// maxChainIDLen is CometBFT's limit on a chain id.
const maxChainIDLen = 50

// The sections shared with the AppGate's configuration, and its errors.
type (
	// ServerLimits are an HTTP server's timeouts and connection cap.
	ServerLimits = yamlconf.ServerLimits
	// Endpoint is an auxiliary HTTP endpoint (metrics, health).
	Endpoint = yamlconf.Endpoint
	// MetricsEndpoint is the metrics endpoint, with its pprof switch.
	MetricsEndpoint = yamlconf.MetricsEndpoint
	// FieldError is a problem with one field of the configuration.
	FieldError = yamlconf.FieldError
)

// Config is a RelayMiner configuration file.
type Config struct {
	Chain Chain `yaml:"chain"`
	Store Store `yaml:"store"`
	// RelayServers bounds what clients can hold of each relay server (one
	// per listen address).
	RelayServers ServerLimits `yaml:"relay_servers"`
	// RelaySockets bound the relay sockets (WebSocket relays) of every
	// relay server.
	RelaySockets RelaySockets `yaml:"relay_sockets"`
	// Metrics is the Prometheus endpoint (/metrics), and the profiler's
	// when metrics.pprof is set.
	Metrics MetricsEndpoint `yaml:"metrics"`
	// Health is the health endpoint.
	Health    Endpoint   `yaml:"health"`
	Suppliers []Supplier `yaml:"suppliers"`
}

// Chain is how the RelayMiner reaches the chain (rpc_url, grpc_url), and
// how it pays for its claim and proof txs.
type Chain struct {
	yamlconf.Chain `yaml:",inline"`
	// ChainID is the expected chain id; empty means read it from the node.
	ChainID string `yaml:"chain_id"`
	// GasPrices are the gas prices of claim and proof txs (default 0upokt).
	GasPrices string `yaml:"gas_prices"`
	// GasAdjustment multiplies simulated gas (default 1.5).
	GasAdjustment float64 `yaml:"gas_adjustment"`
}

// RelaySockets bound the relay sockets (WebSocket relays) of the relay
// servers; see proxy.SocketLimits.
type RelaySockets struct {
	// MaxMessageBytes bounds a message's data either way (default 1 MiB).
	MaxMessageBytes int64 `yaml:"max_message_bytes"`
	// MaxConnectionsPerApplication bounds the sockets one application
	// has open at once (default 16).
	MaxConnectionsPerApplication int `yaml:"max_connections_per_application"`
	// IdleTimeout closes a socket with no message either way for as long
	// (default 2m).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MessagesPerSecond bounds an application's messages on one socket
	// (default 50).
	MessagesPerSecond int `yaml:"messages_per_second"`
	// MaxUnanswered bounds a socket's requests the backend has not
	// answered yet (default 256).
	MaxUnanswered int `yaml:"max_unanswered"`
}

// DefaultRelaySockets are the relay sockets' limits absent from the file.
var DefaultRelaySockets = RelaySockets{
	MaxMessageBytes: 1 << 20, MaxConnectionsPerApplication: 16, IdleTimeout: 2 * time.Minute,
	MessagesPerSecond: 50, MaxUnanswered: 256,
}

// validate records r's problems; path is where r stands.
func (r RelaySockets) validate(p *yamlconf.Problems, path string) {
	yamlconf.Positive(p, path+".max_message_bytes", r.MaxMessageBytes)
	yamlconf.Positive(p, path+".max_connections_per_application", r.MaxConnectionsPerApplication)
	yamlconf.Positive(p, path+".idle_timeout", r.IdleTimeout)
	yamlconf.Positive(p, path+".messages_per_second", r.MessagesPerSecond)
	yamlconf.Positive(p, path+".max_unanswered", r.MaxUnanswered)
}

// wsURL is the problem with a backend WebSocket URL, "" if none.
func wsURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Hostname() == "" {
		return "is not a ws(s) URL"
	}
	if port := u.Port(); port != "" && !yamlconf.ValidPort(port) {
		return "is not a ws(s) URL: bad port"
	}
	return ""
}

// Store is the RelayMiner's session store: its leveldb store, and, for a
// fleet of RelayMiners of one supplier, the JetStream they share.
type Store struct {
	// Path is the leveldb directory; a leading "~/" is expanded. A relative
	// path is relative to the working directory. A fleet's replica keeps
	// its mirror of the shared relay log there.
	Path string `yaml:"path"`
	// SyncWrites fsyncs every write, to survive power loss and not just a
	// process crash.
	SyncWrites bool `yaml:"sync_writes"`
	// Backend is BackendLevelDB (default: a RelayMiner alone) or
	// BackendJetStream (a fleet sharing JetStream).
	Backend string `yaml:"backend"`
	// JetStream is the fleet's JetStream, used with BackendJetStream.
	JetStream JetStream `yaml:"jetstream"`
}

// Store backends.
const (
	BackendLevelDB   = "leveldb"
	BackendJetStream = "jetstream"
)

// JetStream is how a fleet's replicas reach NATS JetStream and lay their
// shared relay log and leases out in it (see the fleet package).
type JetStream struct {
	// URLs are the JetStream servers, nats://host:port (tls:// for TLS).
	URLs []string `yaml:"urls"`
	// CredentialsFile is a NATS .creds file; Token a bearer token. At most
	// one of them.
	CredentialsFile string `yaml:"credentials_file"`
	Token           string `yaml:"token"`
	// TLS are PEM files: ca verifies the servers, cert and key are this
	// client's certificate (both or neither).
	TLS JetStreamTLS `yaml:"tls"`
	// Replicas is how many servers store each message (default 3).
	Replicas int `yaml:"replicas"`
	// Prefix names the stream, the lease bucket and the subjects (default
	// relayminer); every replica of a fleet uses the same.
	Prefix string `yaml:"prefix"`
	// DuplicateWindow is how long the servers remember a relay to refuse
	// it again (default 2m).
	DuplicateWindow time.Duration `yaml:"duplicate_window"`
	// LeaseTTL is how long a supplier's lease outlives its holder's last
	// renewal (default 5s).
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// PublishTimeout bounds appending a relay (default 2s).
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// CheckpointEvery is how many relays the lease holder mirrors between
	// two checkpoints of the shared log (default 10000).
	CheckpointEvery int `yaml:"checkpoint_every"`
}

// JetStreamTLS are the PEM files of a TLS connection to JetStream.
type JetStreamTLS struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// DefaultJetStream are the JetStream settings absent from the file.
var DefaultJetStream = JetStream{
	Replicas: 3, Prefix: "relayminer", DuplicateWindow: 2 * time.Minute,
	LeaseTTL: 5 * time.Second, PublishTimeout: 2 * time.Second, CheckpointEvery: 10_000,
}

var jetStreamPrefix = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// validate checks the JetStream settings of a fleet.
func (j JetStream) validate(p *yamlconf.Problems, path string) {
	if len(j.URLs) == 0 {
		p.Add(path+".urls", "at least one server URL is required with store.backend %q", BackendJetStream)
	}
	for i, u := range j.URLs {
		p.Check(fmt.Sprintf("%s.urls[%d]", path, i), u, natsURL)
	}
	if j.CredentialsFile != "" && j.Token != "" {
		p.Add(path+".token", "set either %s.credentials_file or %s.token, not both", path, path)
	}
	if (j.TLS.Cert == "") != (j.TLS.Key == "") {
		field := path + ".tls.key"
		if j.TLS.Cert == "" {
			field = path + ".tls.cert"
		}
		p.Add(field, "tls.cert and tls.key go together")
	}
	if j.Replicas < 1 || j.Replicas > 5 {
		p.Add(path+".replicas", "must be 1 to 5, got %d", j.Replicas)
	}
	if !jetStreamPrefix.MatchString(j.Prefix) {
		p.Add(path+".prefix", "%q may only hold letters, digits, '-' and '_'", j.Prefix)
	}
	yamlconf.Positive(p, path+".duplicate_window", j.DuplicateWindow)
	yamlconf.Positive(p, path+".publish_timeout", j.PublishTimeout)
	if j.CheckpointEvery < 1 {
		p.Add(path+".checkpoint_every", "must be at least 1, got %d", j.CheckpointEvery)
	}
	if j.LeaseTTL < 300*time.Millisecond {
		p.Add(path+".lease_ttl", "must be at least 300ms (it is renewed every third of it), got %v", j.LeaseTTL)
	}
}

// natsURL is the problem with a JetStream server URL, "" if none.
func natsURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Port() == "" || (u.Scheme != "nats" && u.Scheme != "tls") {
		return "is not a nats://host:port (or tls://host:port) URL"
	}
	return ""
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
	// BackendWSURL is the backend's WebSocket, ws(s)://, for relay
	// sockets (default: BackendURL with a ws(s) scheme).
	BackendWSURL string `yaml:"backend_ws_url"`
	// RequestTimeout bounds a backend request (default 30s).
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// MaxBodyBytes bounds request and response payloads (default 4 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// Headers are extra headers sent to the backend.
	Headers map[string]string `yaml:"headers"`
}

// Default fills in the defaults of a service, before the file's values are
// decoded over them (see yamlconf.Defaulter).
func (s *Service) Default() {
	s.RequestTimeout = DefaultRequestTimeout
	s.MaxBodyBytes = DefaultMaxBodyBytes
}

// ServiceRef is a service with the supplier key serving it.
type ServiceRef struct {
	KeyName string
	Service Service
}

// Load reads, parses and validates the configuration file at path.
func Load(path string) (*Config, error) {
	return yamlconf.Load(path, "relayminer", Parse)
}

// Parse parses a configuration, rejecting unknown fields, applies defaults,
// expands a leading "~/" in store.path and validates the result. Every
// problem found is returned (joined), each a *FieldError naming its field.
func Parse(data []byte) (*Config, error) {
	cfg := &Config{
		Chain:        Chain{GasPrices: DefaultGasPrices, GasAdjustment: DefaultGasAdjustment},
		Store:        Store{Path: DefaultStorePath, Backend: BackendLevelDB, JetStream: DefaultJetStream},
		RelayServers: DefaultRelayServers,
		RelaySockets: DefaultRelaySockets,
		Metrics:      yamlconf.DefaultMetricsEndpoint(),
		Health:       yamlconf.DefaultEndpoint(),
	}
	err := yamlconf.Validated(yamlconf.Decode(data, cfg), func() error {
		path, err := expandHome(cfg.Store.Path)
		if err != nil {
			return errors.Join(&FieldError{Field: "store.path", Problem: err.Error()}, cfg.Validate())
		}
		cfg.Store.Path = path
		return cfg.Validate()
	})
	if err != nil {
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

// Validate checks everything that can be checked without the keyring or the
// chain, and returns every problem found (joined), each naming its field.
func (c *Config) Validate() error {
	p := &yamlconf.Problems{}

	c.Chain.Validate(p, "chain")
	if id := c.Chain.ChainID; id != "" && (len(id) > maxChainIDLen || strings.ContainsFunc(id, isSpaceOrControl)) {
		p.Add("chain.chain_id", "%q is not a chain id (at most %d characters, no spaces)", id, maxChainIDLen)
	}
	if c.Chain.GasPrices == "" {
		p.Add("chain.gas_prices", "must not be empty (use %q for free txs)", DefaultGasPrices)
	} else if _, err := sdk.ParseDecCoins(c.Chain.GasPrices); err != nil {
		p.Add("chain.gas_prices", "%q is not a list of gas prices such as \"0.01upokt\": %v", c.Chain.GasPrices, err)
	}
	if a := c.Chain.GasAdjustment; !(a > 0) || math.IsInf(a, 0) {
		p.Add("chain.gas_adjustment", "must be a positive number, got %v", a)
	}

	if c.Store.Path == "" {
		p.Add("store.path", "must not be empty")
	}
	switch c.Store.Backend {
	case "", BackendLevelDB: // "" in a Config built in code
	case BackendJetStream:
		c.Store.JetStream.validate(p, "store.jetstream")
	default:
		p.Add("store.backend", "%q is not a store backend: %q or %q", c.Store.Backend, BackendLevelDB, BackendJetStream)
	}

	c.RelayServers.Validate(p, "relay_servers")
	if c.RelaySockets != (RelaySockets{}) { // zero in a Config built in code: the defaults
		c.RelaySockets.validate(p, "relay_sockets")
	}
	listeners := &yamlconf.Listeners{}
	c.Metrics.Validate(p, "metrics", listeners)
	c.Health.Validate(p, "health", listeners)

	if len(c.Suppliers) == 0 {
		p.Add("suppliers", "at least one supplier is required")
	}
	keyNames := map[string]int{}
	for i, s := range c.Suppliers {
		sp := fmt.Sprintf("suppliers[%d]", i)
		if s.KeyName == "" {
			p.Add(sp+".key_name", "is required")
		} else if first, dup := keyNames[s.KeyName]; dup {
			p.Add(sp+".key_name", "%q is already suppliers[%d].key_name", s.KeyName, first)
		} else {
			keyNames[s.KeyName] = i
		}
		if len(s.Services) == 0 {
			p.Add(sp+".services", "at least one service is required")
		}
		serviceIDs := map[string]int{}
		for j, svc := range s.Services {
			sv := fmt.Sprintf("%s.services[%d]", sp, j)
			if err := types.ValidateServiceID(svc.ServiceID); err != nil {
				p.Add(sv+".service_id", "%v", err)
			} else if first, dup := serviceIDs[svc.ServiceID]; dup {
				p.Add(sv+".service_id", "%q is already served by %s.services[%d]", svc.ServiceID, sp, first)
			} else {
				serviceIDs[svc.ServiceID] = j
			}
			// Services may share a listen address: one HTTP server then
			// serves them all.
			if p.Check(sv+".listen", svc.Listen, yamlconf.ListenAddress) {
				listeners.AddShared(sv+".listen", svc.Listen)
			}
			p.Check(sv+".backend_url", svc.BackendURL, yamlconf.HTTPURL)
			if svc.BackendWSURL != "" {
				p.Check(sv+".backend_ws_url", svc.BackendWSURL, wsURL)
			}
			yamlconf.Positive(p, sv+".request_timeout", svc.RequestTimeout)
			yamlconf.Positive(p, sv+".max_body_bytes", svc.MaxBodyBytes)
			p.CheckHeaders(sv+".headers", svc.Headers)
		}
	}
	listeners.Check(p)
	return p.Err()
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

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }
