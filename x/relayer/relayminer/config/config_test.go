package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/internal/httplimit"
	"github.com/pokt-network/poktroll/x/relayer/internal/yamlconf"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/proxy"
)

const validYAML = `
chain:
  rpc_url: http://127.0.0.1:26657
  grpc_url: 127.0.0.1:9090
  chain_id: poktroll
metrics:
  listen: 127.0.0.1:9464
health:
  listen: 127.0.0.1:9465
suppliers:
  - key_name: supplier1
    services:
      - service_id: eth
        listen: 0.0.0.0:8545
        backend_url: http://127.0.0.1:8546
        request_timeout: 10s
        max_body_bytes: 1024
        headers: {Authorization: "Bearer x"}
      - service_id: sol
        listen: 0.0.0.0:8545
        backend_url: https://sol.example:8899/rpc
  - key_name: supplier2
    services:
      - service_id: eth
        listen: 0.0.0.0:8545
        backend_url: http://127.0.0.1:8546
`

func TestValidConfigParsesWithDefaults(t *testing.T) {
	cfg, err := Parse([]byte(validYAML))
	require.NoError(t, err)

	home, err := os.UserHomeDir()
	require.NoError(t, err)
	require.Equal(t, Chain{
		Chain:     yamlconf.Chain{RPCURL: "http://127.0.0.1:26657", GRPCURL: "127.0.0.1:9090"},
		ChainID:   "poktroll",
		GasPrices: "0upokt", GasAdjustment: 1.5,
	}, cfg.Chain)
	require.Equal(t, Store{Path: filepath.Join(home, ".poktroll/relayminer/store"), Backend: BackendLevelDB, JetStream: DefaultJetStream}, cfg.Store)
	require.Equal(t, ServerLimits{
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second,
		IdleTimeout: 2 * time.Minute, MaxConnections: 4096,
	}, cfg.RelayServers)
	require.Equal(t, httplimit.DefaultServer, cfg.RelayServers.Limits())
	require.Equal(t, MetricsEndpoint{Endpoint: Endpoint{Listen: "127.0.0.1:9464", MaxConnections: 64}}, cfg.Metrics)
	require.Equal(t, Endpoint{Listen: "127.0.0.1:9465", MaxConnections: 64}, cfg.Health)

	eth := cfg.Suppliers[0].Services[0]
	require.Equal(t, 10*time.Second, eth.RequestTimeout)
	require.EqualValues(t, 1024, eth.MaxBodyBytes)
	require.Equal(t, map[string]string{"Authorization": "Bearer x"}, eth.Headers)
	sol := cfg.Suppliers[0].Services[1]
	require.Equal(t, DefaultRequestTimeout, sol.RequestTimeout)
	require.EqualValues(t, DefaultMaxBodyBytes, sol.MaxBodyBytes)
	require.Equal(t, DefaultRequestTimeout, cfg.Suppliers[1].Services[0].RequestTimeout)

	require.Equal(t, []string{"supplier1", "supplier2"}, cfg.KeyNames())
	require.Equal(t, []string{"eth", "sol"}, cfg.Suppliers[0].ServiceIDs())
	byAddr := cfg.ListenAddresses()
	require.Len(t, byAddr, 1)
	refs := byAddr["0.0.0.0:8545"]
	require.Len(t, refs, 3)
	require.Equal(t, "supplier1", refs[1].KeyName)
	require.Equal(t, "sol", refs[1].Service.ServiceID)
	require.Equal(t, "supplier2", refs[2].KeyName)
}

func TestExplicitValuesOverrideDefaults(t *testing.T) {
	cfg, err := Parse([]byte(validYAML + `
store:
  path: /var/lib/relayminer
  sync_writes: true
`))
	require.NoError(t, err)
	require.Equal(t, Store{Path: "/var/lib/relayminer", SyncWrites: true, Backend: BackendLevelDB, JetStream: DefaultJetStream}, cfg.Store)

	cfg, err = Parse([]byte(validYAML + `
relay_servers:
  read_timeout: 15s
  max_connections: 100
`))
	require.NoError(t, err)
	require.Equal(t, ServerLimits{
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 15 * time.Second, WriteTimeout: 30 * time.Second,
		IdleTimeout: 2 * time.Minute, MaxConnections: 100,
	}, cfg.RelayServers, "absent fields keep their defaults")
	cfg, err = Parse([]byte(strings.Replace(validYAML, "  listen: 127.0.0.1:9465\n", "  listen: 127.0.0.1:9465\n  max_connections: 8\n", 1)))
	require.NoError(t, err)
	require.Equal(t, 8, cfg.Health.MaxConnections)
	require.Equal(t, 64, cfg.Metrics.MaxConnections)

	cfg, err = Parse([]byte(strings.Replace(validYAML, "  chain_id: poktroll\n",
		"  gas_prices: 0.01upokt\n  gas_adjustment: 2\n", 1)))
	require.NoError(t, err)
	require.Equal(t, "0.01upokt", cfg.Chain.GasPrices)
	require.Equal(t, 2.0, cfg.Chain.GasAdjustment)
	require.Empty(t, cfg.Chain.ChainID)
}

func TestStorePathTildeIsExpanded(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	for path, want := range map[string]string{
		"~/relayminer/db": filepath.Join(home, "relayminer/db"),
		`"~"`:             home, // a bare ~ is YAML null
		"relative/db":     "relative/db",
		"/abs/~/db":       "/abs/~/db",
	} {
		cfg, err := Parse([]byte(validYAML + "store:\n  path: " + path + "\n"))
		require.NoError(t, err, path)
		require.Equal(t, want, cfg.Store.Path, path)
	}
	_, err := Parse([]byte(validYAML + "store:\n  path: ~bob/db\n"))
	require.ErrorContains(t, err, `store.path: "~bob/db": only a leading "~/" is expanded`)
}

func TestExampleConfigIsValid(t *testing.T) {
	cfg, err := Load("relayminer.example.yaml")
	require.NoError(t, err)
	require.Equal(t, DefaultRelayServers, cfg.RelayServers, "the example shows the defaults")
	require.Len(t, cfg.Suppliers, 2)
	require.Len(t, cfg.ListenAddresses()["0.0.0.0:8545"], 3)
}

func TestLoadNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(path, []byte("chain: {}\n"), 0o600))
	_, err := Load(path)
	require.ErrorContains(t, err, path)
	require.ErrorContains(t, err, "chain.rpc_url: is required")

	_, err = Load(filepath.Join(t.TempDir(), "missing.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestBadFieldIsNamed(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old, new string // replaced once in validYAML
		want     string
	}{
		{"unknown top-level field", "metrics:", "bogus: 1\nmetrics:",
			"bogus: unknown field"},
		{"unknown chain field", "  chain_id: poktroll", "  chainid: poktroll",
			"chain.chainid: unknown field"},
		{"unknown service field", "        request_timeout: 10s", "        timeout: 10s",
			"suppliers[0].services[0].timeout: unknown field"},
		{"missing rpc_url", "  rpc_url: http://127.0.0.1:26657\n", "",
			"chain.rpc_url: is required"},
		{"rpc_url not http", "rpc_url: http://127.0.0.1:26657", "rpc_url: 127.0.0.1:26657",
			`chain.rpc_url: "127.0.0.1:26657" is not an http(s) URL`},
		{"grpc_url with scheme", "grpc_url: 127.0.0.1:9090", "grpc_url: http://127.0.0.1:9090",
			`chain.grpc_url: "http://127.0.0.1:9090" is not a host:port address`},
		{"bad gas prices", "  chain_id: poktroll", "  gas_prices: cheap",
			`chain.gas_prices: "cheap" is not a list of gas prices`},
		{"zero gas adjustment", "  chain_id: poktroll", "  gas_adjustment: 0",
			"chain.gas_adjustment: must be a positive number"},
		{"chain id with space", "chain_id: poktroll", "chain_id: pokt roll",
			`chain.chain_id: "pokt roll" is not a chain id`},
		{"bad metrics listen", "listen: 127.0.0.1:9464", "listen: 127.0.0.1",
			`metrics.listen: "127.0.0.1" is not a host:port address`},
		{"health on metrics port", "listen: 127.0.0.1:9465", "listen: 0.0.0.0:9464",
			`health.listen: "0.0.0.0:9464" overlaps "127.0.0.1:9464" of metrics.listen`},
		{"no suppliers", validYAML[strings.Index(validYAML, "suppliers:"):], "",
			"suppliers: at least one supplier is required"},
		{"missing key_name", "  - key_name: supplier2\n    services:", "  - services:",
			"suppliers[1].key_name: is required"},
		{"duplicate key_name", "key_name: supplier2", "key_name: supplier1",
			`suppliers[1].key_name: "supplier1" is already suppliers[0].key_name`},
		{"supplier without services", `  - key_name: supplier2
    services:
      - service_id: eth
        listen: 0.0.0.0:8545
        backend_url: http://127.0.0.1:8546
`, "  - key_name: supplier2\n",
			"suppliers[1].services: at least one service is required"},
		{"bad service id", "service_id: sol", "service_id: so/l",
			`suppliers[0].services[1].service_id: service id "so/l" may only hold letters, digits, '-' and '_'`},
		{"missing service id", "      - service_id: sol\n        listen", "      - listen",
			"suppliers[0].services[1].service_id: service id is empty"},
		{"duplicate service", "service_id: sol", "service_id: eth",
			`suppliers[0].services[1].service_id: "eth" is already served by suppliers[0].services[0]`},
		{"bad listen", "        listen: 0.0.0.0:8545\n        backend_url: https", "        listen: 8545\n        backend_url: https",
			`suppliers[0].services[1].listen: "8545" is not a host:port address`},
		{"listen port out of range", "        listen: 0.0.0.0:8545\n        backend_url: https", "        listen: :85450\n        backend_url: https",
			`suppliers[0].services[1].listen: ":85450" is not a host:port address`},
		{"listen is a URL", "        listen: 0.0.0.0:8545\n        backend_url: https", "        listen: http://0.0.0.0:8545\n        backend_url: https",
			`suppliers[0].services[1].listen: "http://0.0.0.0:8545" is not a host:port address`},
		{"same port other address", "        listen: 0.0.0.0:8545\n        backend_url: https", "        listen: 127.0.0.1:8545\n        backend_url: https",
			`suppliers[0].services[1].listen: "127.0.0.1:8545" overlaps "0.0.0.0:8545" of suppliers[0].services[0].listen: listeners sharing a port must use the same listen address`},
		{"service on metrics port", "        listen: 0.0.0.0:8545\n        backend_url: https", "        listen: :9464\n        backend_url: https",
			`suppliers[0].services[1].listen: ":9464" overlaps "127.0.0.1:9464" of metrics.listen`},
		{"bad backend URL", "backend_url: https://sol.example:8899/rpc", "backend_url: htp//x",
			`suppliers[0].services[1].backend_url: "htp//x" is not an http(s) URL`},
		{"backend URL without host", "backend_url: https://sol.example:8899/rpc", "backend_url: http:///rpc",
			`suppliers[0].services[1].backend_url: "http:///rpc" is not an http(s) URL`},
		{"backend URL port with a leading zero", "backend_url: https://sol.example:8899/rpc", "backend_url: https://sol.example:08899/rpc",
			`suppliers[0].services[1].backend_url: "https://sol.example:08899/rpc" is not an http(s) URL: bad port`},
		{"missing backend URL", "        backend_url: https://sol.example:8899/rpc\n", "",
			"suppliers[0].services[1].backend_url: is required"},
		{"zero timeout", "request_timeout: 10s", "request_timeout: 0s",
			"suppliers[0].services[0].request_timeout: must be positive, got 0s"},
		{"negative timeout", "request_timeout: 10s", "request_timeout: -5s",
			"suppliers[0].services[0].request_timeout: must be positive, got -5s"},
		{"timeout not a duration", "request_timeout: 10s", "request_timeout: 10",
			`suppliers[0].services[0].request_timeout: "10" is not a duration such as "10s"`},
		{"timeout garbage", "request_timeout: 10s", "request_timeout: ten seconds please",
			`suppliers[0].services[0].request_timeout: "ten seconds please" is not a duration`},
		{"zero max body", "max_body_bytes: 1024", "max_body_bytes: 0",
			"suppliers[0].services[0].max_body_bytes: must be positive, got 0"},
		{"negative max body", "max_body_bytes: 1024", "max_body_bytes: -1",
			"suppliers[0].services[0].max_body_bytes: must be positive, got -1"},
		{"max body not a number", "max_body_bytes: 1024", "max_body_bytes: 4MiB",
			`suppliers[0].services[0].max_body_bytes: "4MiB" is not an integer`},
		{"bad header name", `headers: {Authorization: "Bearer x"}`, `headers: {"Bad Header": x}`,
			`suppliers[0].services[0].headers.Bad Header: "Bad Header" is not a valid header name`},
		{"header twice", `headers: {Authorization: "Bearer x"}`, `headers: {Authorization: a, authorization: b}`,
			`suppliers[0].services[0].headers.authorization: is the same header as "Authorization"`},
		{"services not a list", `  - key_name: supplier2
    services:
      - service_id: eth
        listen: 0.0.0.0:8545
        backend_url: http://127.0.0.1:8546
`, "  - key_name: supplier2\n    services: eth\n",
			`suppliers[1].services: "eth" is not a list`},
		{"chain not a mapping", "chain:\n", "chain: [1]\nx:\n",
			"chain: got a list, want a mapping"},
		{"unknown relay_servers field", "metrics:", "relay_servers:\n  read_timout: 5s\nmetrics:",
			"relay_servers.read_timout: unknown field"},
		{"zero read timeout", "metrics:", "relay_servers:\n  read_timeout: 0s\nmetrics:",
			"relay_servers.read_timeout: must be positive, got 0s"},
		{"negative write timeout", "metrics:", "relay_servers:\n  write_timeout: -1s\nmetrics:",
			"relay_servers.write_timeout: must be positive, got -1s"},
		{"zero idle timeout", "metrics:", "relay_servers:\n  idle_timeout: 0s\nmetrics:",
			"relay_servers.idle_timeout: must be positive, got 0s"},
		{"zero read header timeout", "metrics:", "relay_servers:\n  read_header_timeout: 0s\nmetrics:",
			"relay_servers.read_header_timeout: must be positive, got 0s"},
		{"header timeout over read timeout", "metrics:", "relay_servers:\n  read_header_timeout: 1m\n  read_timeout: 5s\nmetrics:",
			"relay_servers.read_header_timeout: 1m0s is longer than relay_servers.read_timeout (5s)"},
		{"read timeout not a duration", "metrics:", "relay_servers:\n  read_timeout: 30\nmetrics:",
			`relay_servers.read_timeout: "30" is not a duration`},
		{"zero max connections", "metrics:", "relay_servers:\n  max_connections: 0\nmetrics:",
			"relay_servers.max_connections: must be positive, got 0"},
		{"max connections not a number", "metrics:", "relay_servers:\n  max_connections: lots\nmetrics:",
			`relay_servers.max_connections: "lots" is not an integer`},
		{"negative metrics max connections", "  listen: 127.0.0.1:9464\n", "  listen: 127.0.0.1:9464\n  max_connections: -1\n",
			"metrics.max_connections: must be positive, got -1"},
		{"zero health max connections", "  listen: 127.0.0.1:9465\n", "  listen: 127.0.0.1:9465\n  max_connections: 0\n",
			"health.max_connections: must be positive, got 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Contains(t, validYAML, tc.old)
			_, err := Parse([]byte(strings.Replace(validYAML, tc.old, tc.new, 1)))
			require.Error(t, err)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestAllProblemsAreReported(t *testing.T) {
	_, err := Parse([]byte(`
chain: {grpc_url: "x"}
suppliers:
  - services: [{service_id: eth, listen: ":1", backend_url: "ftp://x", request_timeout: 0s}]
`))
	require.Error(t, err)
	for _, want := range []string{
		"chain.rpc_url: is required",
		`chain.grpc_url: "x" is not a host:port address`,
		"suppliers[0].key_name: is required",
		`suppliers[0].services[0].backend_url: "ftp://x" is not an http(s) URL`,
		"suppliers[0].services[0].request_timeout: must be positive",
	} {
		require.ErrorContains(t, err, want)
	}
}

func TestDecodingAndValidationProblemsTogether(t *testing.T) {
	_, err := Parse([]byte(`
chain: {grpc_url: "x", rpc_url: [a]}
store: {path: 1, sync: true}
suppliers:
  - key_name: k
    services: [{service_id: eth, listen: ":1", backend_url: "http://b", request_timeout: 10}]
`))
	require.Error(t, err)
	for _, want := range []string{
		"chain.rpc_url: got a list, want a string (line 2)",
		`chain.grpc_url: "x" is not a host:port address`,
		"store.sync: unknown field (line 3)",
		`suppliers[0].services[0].request_timeout: "10" is not a duration such as "10s" or "1m30s" (line 6)`,
	} {
		require.ErrorContains(t, err, want)
	}
	require.NotContains(t, err.Error(), "chain.rpc_url: is required", "no second problem for a field that did not decode")
	require.NotContains(t, err.Error(), "request_timeout: must be positive")
}

func TestSyntaxAndDocumentErrors(t *testing.T) {
	_, err := Parse([]byte("chain: [\n"))
	require.Error(t, err)
	_, err = Parse([]byte(validYAML + "---\nchain: {}\n"))
	require.ErrorContains(t, err, "single YAML document")
	_, err = Parse(nil)
	require.ErrorContains(t, err, "chain.rpc_url: is required")
	_, err = Parse([]byte(strings.Replace(validYAML, "metrics:", "chain: {}\nmetrics:", 1)))
	require.ErrorContains(t, err, "chain: given twice (line 6, first on line 2)")
}

func TestValidateOnBuiltConfig(t *testing.T) {
	cfg := &Config{
		Chain:        Chain{Chain: yamlconf.Chain{RPCURL: "https://rpc.example", GRPCURL: "grpc.example:443"}, GasPrices: "0upokt", GasAdjustment: 1.5},
		Store:        Store{Path: "/tmp/x"},
		RelayServers: DefaultRelayServers,
		Suppliers: []Supplier{{KeyName: "k", Services: []Service{{
			ServiceID: "eth", Listen: ":8545", BackendURL: "http://b", RequestTimeout: time.Second, MaxBodyBytes: 1,
		}}}},
	}
	require.NoError(t, cfg.Validate())
	cfg.Suppliers[0].Services[0].MaxBodyBytes = 0
	require.ErrorContains(t, cfg.Validate(), "suppliers[0].services[0].max_body_bytes: must be positive")
	cfg.Suppliers[0].Services[0].MaxBodyBytes = 1
	cfg.RelayServers = ServerLimits{}
	require.ErrorContains(t, cfg.Validate(), "relay_servers.read_timeout: must be positive")
	cfg.RelayServers = DefaultRelayServers
	cfg.Metrics.Listen = "127.0.0.1:9464"
	require.ErrorContains(t, cfg.Validate(), "metrics.max_connections: must be positive, got 0")
}

func TestMetricsPprofIsOffUnlessSet(t *testing.T) {
	cfg, err := Parse([]byte(validYAML))
	require.NoError(t, err)
	require.False(t, cfg.Metrics.Pprof)

	on := strings.Replace(validYAML, "metrics:\n", "metrics:\n  pprof: true\n", 1)
	require.NotEqual(t, validYAML, on)
	cfg, err = Parse([]byte(on))
	require.NoError(t, err)
	require.True(t, cfg.Metrics.Pprof)
	require.Equal(t, "127.0.0.1:9464", cfg.Metrics.Listen)
}

func TestRelaySocketsTakeDefaultsAndNameTheirFields(t *testing.T) {
	cfg, err := Parse([]byte(validYAML))
	require.NoError(t, err)
	require.Equal(t, DefaultRelaySockets, cfg.RelaySockets)
	require.Equal(t, proxy.DefaultSocketLimits, proxy.SocketLimits(DefaultRelaySockets), "the proxy's defaults are the file's")
	require.Empty(t, cfg.Suppliers[0].Services[0].BackendWSURL)

	cfg, err = Parse([]byte(strings.Replace(validYAML, "        backend_url: http://127.0.0.1:8546\n",
		"        backend_url: http://127.0.0.1:8546\n        backend_ws_url: wss://ws.example.com:8547/ws\n", 1) + `
relay_sockets:
  messages_per_second: 10
  idle_timeout: 30s
`))
	require.NoError(t, err)
	require.Equal(t, "wss://ws.example.com:8547/ws", cfg.Suppliers[0].Services[0].BackendWSURL)
	want := DefaultRelaySockets
	want.MessagesPerSecond, want.IdleTimeout = 10, 30*time.Second
	require.Equal(t, want, cfg.RelaySockets, "absent fields keep their defaults")

	_, err = Parse([]byte(strings.Replace(validYAML, "        backend_url: http://127.0.0.1:8546\n",
		"        backend_url: http://127.0.0.1:8546\n        backend_ws_url: http://127.0.0.1:8546\n", 1) + `
relay_sockets:
  max_message_bytes: 0
  max_connections_per_application: -1
  max_unanswered: 0
`))
	var problems []string
	for _, e := range yamlconf.Unjoin(err) {
		var fe *FieldError
		require.ErrorAs(t, e, &fe)
		problems = append(problems, fe.Field+": "+fe.Problem)
	}
	require.ElementsMatch(t, []string{
		`suppliers[0].services[0].backend_ws_url: "http://127.0.0.1:8546" is not a ws(s) URL`,
		"relay_sockets.max_message_bytes: must be positive, got 0",
		"relay_sockets.max_connections_per_application: must be positive, got -1",
		"relay_sockets.max_unanswered: must be positive, got 0",
	}, problems)
}
