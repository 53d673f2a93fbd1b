package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/appgate/config"
	"github.com/pokt-network/poktroll/x/relayer/internal/httplimit"
)

const valid = `
chain:
  rpc_url: http://127.0.0.1:26657
  grpc_url: 127.0.0.1:9090
listen: 127.0.0.1:8080
application:
  key_name: app
services: [cometbft, eth]
request_timeout: 10s
max_body_bytes: 4194304
metrics:
  listen: ""
health:
  listen: 127.0.0.1:8081
`

func TestValidConfigLoads(t *testing.T) {
	cfg, err := config.Parse([]byte(valid))
	require.NoError(t, err)
	require.Equal(t, &config.Config{
		Chain:          config.Chain{RPCURL: "http://127.0.0.1:26657", GRPCURL: "127.0.0.1:9090"},
		Listen:         "127.0.0.1:8080",
		Application:    config.Application{KeyName: "app"},
		Services:       []string{"cometbft", "eth"},
		RequestTimeout: 10 * time.Second,
		MaxBodyBytes:   4194304,
		Server:         config.DefaultServer,
		CORS:           config.CORS{MaxAge: config.DefaultCORSMaxAge},
		Metrics:        config.MetricsEndpoint{Endpoint: config.Endpoint{MaxConnections: 64}},
		Health:         config.Endpoint{Listen: "127.0.0.1:8081", MaxConnections: 64},
	}, cfg)
}

func TestAbsentFieldsTakeDefaults(t *testing.T) {
	cfg, err := config.Parse([]byte(`
chain: {rpc_url: "https://node.example", grpc_url: "node.example:9090"}
listen: ":8080"
application: {key_name: app}
services:
  - eth
`))
	require.NoError(t, err)
	require.Equal(t, config.DefaultRequestTimeout, cfg.RequestTimeout)
	require.EqualValues(t, config.DefaultMaxBodyBytes, cfg.MaxBodyBytes)
	require.Empty(t, cfg.Metrics.Listen)
	require.Empty(t, cfg.Health.Listen)
	require.Equal(t, config.ServerLimits{
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second,
		IdleTimeout: 2 * time.Minute, MaxConnections: 4096,
	}, cfg.Server)
	require.Equal(t, httplimit.DefaultServer, cfg.Server.Limits())
	require.Equal(t, config.DefaultAuxMaxConnections, cfg.Metrics.MaxConnections)
	require.Equal(t, config.DefaultAuxMaxConnections, cfg.Health.MaxConnections)
}

func TestServerLimitsOverrideDefaults(t *testing.T) {
	cfg, err := config.Parse([]byte(valid + `
server:
  read_timeout: 15s
  write_timeout: 1m
  max_connections: 100
`))
	require.NoError(t, err)
	require.Equal(t, config.ServerLimits{
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 15 * time.Second, WriteTimeout: time.Minute,
		IdleTimeout: 2 * time.Minute, MaxConnections: 100,
	}, cfg.Server, "absent fields keep their defaults")
	cfg, err = config.Parse([]byte(strings.Replace(valid, "  listen: 127.0.0.1:8081\n", "  listen: 127.0.0.1:8081\n  max_connections: 8\n", 1)))
	require.NoError(t, err)
	require.Equal(t, 8, cfg.Health.MaxConnections)
}

func TestServerLimitProblemsNameTheirField(t *testing.T) {
	for _, tc := range []struct {
		name, yaml     string
		field, problem string
	}{
		{"unknown field", "server: {read_timout: 5s}", "server.read_timout", "unknown field (line 15)"},
		{"zero read timeout", "server: {read_timeout: 0s}", "server.read_timeout", "must be positive, got 0s"},
		{"negative write timeout", "server: {write_timeout: -1s}", "server.write_timeout", "must be positive, got -1s"},
		{"zero idle timeout", "server: {idle_timeout: 0s}", "server.idle_timeout", "must be positive, got 0s"},
		{"zero header timeout", "server: {read_header_timeout: 0s}", "server.read_header_timeout", "must be positive, got 0s"},
		{"header timeout over read timeout", "server: {read_header_timeout: 1m, read_timeout: 5s}", "server.read_header_timeout",
			"1m0s is longer than server.read_timeout (5s), which includes the headers"},
		{"timeout not a duration", "server: {read_timeout: 30}", "server.read_timeout", `"30" is not a duration such as "10s" or "1m30s" (line 15)`},
		{"zero max connections", "server: {max_connections: 0}", "server.max_connections", "must be positive, got 0"},
		{"max connections not a number", "server: {max_connections: lots}", "server.max_connections", `"lots" is not an integer (line 15)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, map[string]string{tc.field: tc.problem}, fieldErrors(t, valid+tc.yaml+"\n"))
		})
	}
	got := fieldErrors(t, strings.Replace(valid, "  listen: 127.0.0.1:8081\n", "  listen: 127.0.0.1:8081\n  max_connections: 0\n", 1))
	require.Equal(t, map[string]string{"health.max_connections": "must be positive, got 0"}, got)
}

func TestGRPCURLIsOptional(t *testing.T) {
	cfg, err := config.Parse([]byte(strings.Replace(valid, "  grpc_url: 127.0.0.1:9090\n", "", 1)))
	require.NoError(t, err)
	require.Empty(t, cfg.Chain.GRPCURL)
}

func TestExampleConfigLoads(t *testing.T) {
	cfg, err := config.Load("appgate.example.yaml")
	require.NoError(t, err)
	require.Equal(t, []string{"cometbft"}, cfg.Services)
	require.Equal(t, "app", cfg.Application.KeyName)
	require.Equal(t, config.DefaultServer, cfg.Server, "the example shows the defaults")
	require.Equal(t, map[string]string{"cometbft": config.RPCTypeJSONRPC}, cfg.RPCTypes)
	require.Equal(t, config.CORS{AllowedOrigins: []string{}, MaxAge: config.DefaultCORSMaxAge}, cfg.CORS, "CORS is off")
}

// fieldErrors parses doc and returns its problems by field.
func fieldErrors(t *testing.T, doc string) map[string]string {
	t.Helper()
	_, err := config.Parse([]byte(doc))
	require.Error(t, err)
	out := map[string]string{}
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var fe *config.FieldError
		require.True(t, errors.As(err, &fe), "not a field error: %v", err)
		out[fe.Field] = fe.Problem
	}
	walk(err)
	return out
}

func TestEveryProblemNamesItsField(t *testing.T) {
	got := fieldErrors(t, `
chain:
  rpc_url: ftp://node
  grpc_url: http://node:9090
listen: 8080
application: {}
services: [ok, "bad id", ok]
request_timeout: 0s
max_body_bytes: -1
metrics: {listen: "127.0.0.1:8080"}
health: {listen: "nonsense"}
`)
	require.Len(t, got, 9, "%v", got)
	require.Contains(t, got["chain.rpc_url"], "not an http(s) URL")
	require.Contains(t, got["chain.grpc_url"], "no scheme")
	require.Contains(t, got["listen"], "not a host:port")
	require.Contains(t, got["application.key_name"], "required")
	require.Contains(t, got["services[1]"], "may only hold")
	require.Contains(t, got["services[2]"], "already services[0]")
	require.Contains(t, got["request_timeout"], "positive")
	require.Contains(t, got["max_body_bytes"], "positive")
	require.Contains(t, got["health.listen"], "not a host:port")
}

func TestListenersMustNotOverlap(t *testing.T) {
	got := fieldErrors(t, strings.Replace(valid, "health:\n  listen: 127.0.0.1:8081", "health:\n  listen: 0.0.0.0:8080", 1))
	require.Equal(t, map[string]string{"health.listen": `"0.0.0.0:8080" overlaps "127.0.0.1:8080" of listen`}, got)
}

func TestDecodingErrorsNameTheField(t *testing.T) {
	got := fieldErrors(t, `
chain:
  rpc_url: http://node:26657
  grpc_url: node:9090
  chain_id: poktroll
listen: 127.0.0.1:8080
application: {key_name: app, password: x}
services: eth
request_timeout: 10
max_body_bytes: 4MiB
metrics: [a]
health: {listen: nope}
`)
	require.Equal(t, "unknown field (line 5)", got["chain.chain_id"])
	require.Equal(t, "unknown field (line 7)", got["application.password"])
	require.Equal(t, `"eth" is not a list (line 8)`, got["services"])
	require.Equal(t, `"10" is not a duration such as "10s" or "1m30s" (line 9)`, got["request_timeout"])
	require.Equal(t, `"4MiB" is not an integer (line 10)`, got["max_body_bytes"])
	require.Equal(t, "got a list, want a mapping (line 11)", got["metrics"])
	require.Equal(t, `"nope" is not a host:port address`, got["health.listen"], "the fields that decoded are validated too")
	require.Len(t, got, 7, "no second problem for a field that did not decode (services)")
}

func TestKeyGivenTwiceIsRefused(t *testing.T) {
	got := fieldErrors(t, valid+"listen: 127.0.0.1:9999\n")
	require.Equal(t, map[string]string{"listen": "given twice (line 15, first on line 5)"}, got)
}

func TestEmptyFileNamesEveryRequiredField(t *testing.T) {
	got := fieldErrors(t, "")
	require.Len(t, got, 4)
	for _, f := range []string{"chain.rpc_url", "listen", "application.key_name", "services"} {
		require.Contains(t, got, f)
	}
}

func TestSecondDocumentIsRefused(t *testing.T) {
	_, err := config.Parse([]byte(valid + "---\nlisten: x\n"))
	require.ErrorContains(t, err, "single YAML document")
}

func TestLoadNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "appgate.yaml")
	require.NoError(t, os.WriteFile(path, []byte("listen: [\n"), 0o600))
	_, err := config.Load(path)
	require.ErrorContains(t, err, path)
	_, err = config.Load(filepath.Join(t.TempDir(), "missing.yaml"))
	require.ErrorContains(t, err, "reading appgate config")
}

func TestRPCTypesAndCORSLoad(t *testing.T) {
	cfg, err := config.Parse([]byte(valid + `
rpc_types: {eth: json_rpc, cometbft: rest}
cors:
  allowed_origins: ["https://app.example.com", "http://localhost:3000"]
  max_age: 1h
`))
	require.NoError(t, err)
	require.Equal(t, map[string]string{"eth": config.RPCTypeJSONRPC, "cometbft": config.RPCTypeREST}, cfg.RPCTypes)
	require.Equal(t, config.CORS{AllowedOrigins: []string{"https://app.example.com", "http://localhost:3000"}, MaxAge: time.Hour}, cfg.CORS)

	cfg, err = config.Parse([]byte(valid + "cors: {allowed_origins: ['*']}\n"))
	require.NoError(t, err)
	require.Equal(t, config.CORS{AllowedOrigins: []string{"*"}, MaxAge: config.DefaultCORSMaxAge}, cfg.CORS, "max_age takes its default")
}

func TestRPCTypeAndCORSProblemsNameTheirField(t *testing.T) {
	got := fieldErrors(t, valid+`
rpc_types: {eth: jsonrpc, btc: rest}
cors:
  allowed_origins:
    - https://app.example.com/
    - app.example.com
    - https://App.example.com
    - https://user@app.example.com
    - http://localhost:3000
    - http://localhost:3000
    - "*"
  max_age: -1s
`)
	require.Equal(t, map[string]string{
		"rpc_types.eth":           `"jsonrpc" is not an RPC type: want json_rpc or rest`,
		"rpc_types.btc":           `"btc" is not one of services`,
		"cors.allowed_origins[0]": `"https://app.example.com/" is not an origin: want http(s)://host[:port], no path (not even a trailing slash), query or user`,
		"cors.allowed_origins[1]": `"app.example.com" is not an origin: want http(s)://host[:port]`,
		"cors.allowed_origins[2]": `"https://App.example.com" is not an origin as browsers send it: write it in lower case`,
		"cors.allowed_origins[3]": `"https://user@app.example.com" is not an origin: want http(s)://host[:port], no path (not even a trailing slash), query or user`,
		"cors.allowed_origins[5]": `"http://localhost:3000" is already cors.allowed_origins[4]`,
		"cors.allowed_origins[6]": `"*" allows every origin: list it alone`,
		"cors.max_age":            "must not be negative, got -1s",
	}, got)
}
