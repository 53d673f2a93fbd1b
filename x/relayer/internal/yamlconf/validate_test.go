package yamlconf_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/internal/httplimit"
	"github.com/pokt-network/poktroll/x/relayer/internal/yamlconf"
)

func TestAddressValidators(t *testing.T) {
	const (
		notURL  = "is not an http(s) URL"
		badPort = "is not an http(s) URL: bad port"
		notAddr = "is not a host:port address"
		scheme  = "is not a host:port address (no scheme: it is dialed in plaintext)"
	)
	for _, tc := range []struct {
		value                 string
		httpURL, listen, dial string // the problem of each validator; "" for none
	}{
		{"http://node:26657", "", notAddr, scheme},
		{"https://node.example/rpc", "", notAddr, scheme},
		{"http://[::1]:8080/x", "", notAddr, scheme},
		{"http://node:", "", notAddr, scheme}, // empty port: the scheme's
		{"ftp://node", notURL, notAddr, scheme},
		{"node:26657", notURL, "", ""},
		{"http:///rpc", notURL, notAddr, scheme},
		{"htp//x", notURL, notAddr, notAddr},
		{"127.0.0.1:8080", notURL, "", ""},
		{"[::1]:8080", notURL, "", ""},
		{":8080", notURL, "", notAddr}, // every interface: listen only
		{"127.0.0.1", notURL, notAddr, notAddr},
		{"8080", notURL, notAddr, notAddr},
		// The port rule, one for all: 1 to 65535, decimal, no sign, no
		// leading zero.
		{"http://node:0080", badPort, notAddr, scheme},
		{"node:0080", notURL, notAddr, notAddr},
		{"http://node:0", badPort, notAddr, scheme},
		{"node:0", notURL, notAddr, notAddr},
		{"http://node:65536", badPort, notAddr, scheme},
		{":65536", notURL, notAddr, notAddr},
		{"node:65535", notURL, "", ""},
		{"node:+80", notURL, notAddr, notAddr},
		{"node:http", notURL, notAddr, notAddr},
	} {
		require.Equal(t, tc.httpURL, yamlconf.HTTPURL(tc.value), "HTTPURL(%q)", tc.value)
		require.Equal(t, tc.listen, yamlconf.ListenAddress(tc.value), "ListenAddress(%q)", tc.value)
		require.Equal(t, tc.dial, yamlconf.DialAddress(tc.value), "DialAddress(%q)", tc.value)
	}
}

func TestValidPort(t *testing.T) {
	for p, ok := range map[string]bool{
		"1": true, "80": true, "65535": true,
		"0": false, "0080": false, "00": false, "65536": false, "-1": false, "+80": false, " 80": false, "": false, "8o": false,
	} {
		require.Equal(t, ok, yamlconf.ValidPort(p), p)
	}
}

func TestHeaders(t *testing.T) {
	p := &yamlconf.Problems{}
	p.CheckHeaders("svc.headers", map[string]string{
		"Authorization": "Bearer x", "authorization": "y", "X-Tab": "a\tb",
		"Bad Header": "x", "": "x", "X-Newline": "a\nb", "X-Del": "\x7f",
	})
	require.Equal(t, map[string]string{
		"svc.headers.":              `"" is not a valid header name`,
		"svc.headers.Bad Header":    `"Bad Header" is not a valid header name`,
		"svc.headers.authorization": `is the same header as "Authorization" (header names are case-insensitive)`,
		"svc.headers.X-Newline":     "value holds a control character",
		"svc.headers.X-Del":         "value holds a control character",
	}, fieldErrors(t, p.Err()))
	require.True(t, yamlconf.ValidHeaderName("X-Custom_1.!#$%&'*+^`|~"))
	require.False(t, yamlconf.ValidHeaderName("X:Y"))
	require.True(t, yamlconf.ValidHeaderValue("any text, \ttabs too"))
}

func TestListeners(t *testing.T) {
	p := &yamlconf.Problems{}
	ls := &yamlconf.Listeners{}
	ls.Add("listen", "127.0.0.1:8080")
	ls.Add("metrics.listen", "127.0.0.1:9464")
	ls.Add("health.listen", "0.0.0.0:8080")       // overlaps listen
	ls.Add("other.listen", "127.0.0.2:9464")      // another host: fine
	ls.AddShared("s[0].listen", "0.0.0.0:8545")   // shared ...
	ls.AddShared("s[1].listen", "0.0.0.0:8545")   // ... the same address: fine
	ls.AddShared("s[2].listen", "127.0.0.1:8545") // the same port, another address
	ls.AddShared("s[3].listen", "[::]:9464")      // a shared one over a plain one
	ls.Check(p)
	require.Equal(t, map[string]string{
		"health.listen": `"0.0.0.0:8080" overlaps "127.0.0.1:8080" of listen`,
		"s[2].listen":   `"127.0.0.1:8545" overlaps "0.0.0.0:8545" of s[0].listen: listeners sharing a port must use the same listen address`,
		"s[3].listen":   `"[::]:9464" overlaps "127.0.0.1:9464" of metrics.listen`,
	}, fieldErrors(t, p.Err()))
}

func TestProblems(t *testing.T) {
	p := &yamlconf.Problems{}
	require.NoError(t, p.Err())
	require.True(t, p.Check("a", "node:1", yamlconf.DialAddress))
	require.False(t, p.Check("b", "", yamlconf.DialAddress))
	require.False(t, p.Check("c", "x", yamlconf.DialAddress))
	p.Add("d", "is %d", 4)
	yamlconf.Positive(p, "e", time.Duration(0))
	yamlconf.Positive(p, "f", -1)
	yamlconf.Positive(p, "g", int64(1))
	require.Equal(t, map[string]string{
		"b": "is required",
		"c": `"x" is not a host:port address`,
		"d": "is 4",
		"e": "must be positive, got 0s",
		"f": "must be positive, got -1",
	}, fieldErrors(t, p.Err()))
	require.EqualError(t, &yamlconf.FieldError{Field: "x.y", Problem: "is bad"}, "x.y: is bad")
}

func TestValidatedLeavesOutFieldsThatDidNotDecode(t *testing.T) {
	fe := func(field, problem string) error { return &yamlconf.FieldError{Field: field, Problem: problem} }
	decodeErr := errors.Join(fe("chain", "got a list"), fe("services", "not a list"), fe("listen", "given twice"))
	validate := func() error {
		return errors.Join(
			fe("chain.rpc_url", "is required"),      // within chain: out
			fe("services", "at least one"),          // services itself: out
			fe("services[1]", "bad id"),             // within services: out
			fe("listen", "overlaps"),                // out
			fe("listener", "bad"),                   // another field: in
			fe("chainy", "bad"),                     // another field: in
			errors.Join(fe("health.listen", "bad")), // nested joins are flattened
		)
	}
	require.Equal(t, map[string]string{
		"chain": "got a list", "services": "not a list", "listen": "given twice",
		"listener": "bad", "chainy": "bad", "health.listen": "bad",
	}, fieldErrors(t, yamlconf.Validated(decodeErr, validate)))

	syntax := errors.New("yaml: line 1: bad")
	require.Equal(t, syntax, yamlconf.Validated(syntax, func() error { panic("not validated") }))
	require.NoError(t, yamlconf.Validated(nil, func() error { return nil }))
	require.Equal(t, map[string]string{"a": "b"}, fieldErrors(t, yamlconf.Validated(nil, func() error { return fe("a", "b") })))
}

func TestSections(t *testing.T) {
	require.Equal(t, httplimit.DefaultServer, yamlconf.DefaultServerLimits.Limits())
	require.Equal(t, yamlconf.ServerLimits{
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second,
		IdleTimeout: 2 * time.Minute, MaxConnections: 4096,
	}, yamlconf.LimitsOf(httplimit.DefaultServer))
	require.Equal(t, yamlconf.Endpoint{MaxConnections: httplimit.DefaultAux.MaxConnections}, yamlconf.DefaultEndpoint())

	p := &yamlconf.Problems{}
	ls := &yamlconf.Listeners{}
	yamlconf.Chain{RPCURL: "http://node:26657"}.Validate(p, "ok")
	yamlconf.Chain{GRPCURL: "http://node:9090"}.Validate(p, "chain")
	yamlconf.DefaultServerLimits.Validate(p, "ok")
	yamlconf.ServerLimits{ReadHeaderTimeout: time.Minute, ReadTimeout: time.Second, WriteTimeout: -1}.Validate(p, "server")
	yamlconf.Endpoint{}.Validate(p, "off", ls) // disabled: nothing checked
	yamlconf.Endpoint{Listen: ":9464"}.Validate(p, "metrics", ls)
	yamlconf.Endpoint{Listen: "nope", MaxConnections: 1}.Validate(p, "health", ls)
	ls.Check(p)
	require.Equal(t, map[string]string{
		"chain.rpc_url":              "is required",
		"chain.grpc_url":             `"http://node:9090" is not a host:port address (no scheme: it is dialed in plaintext)`,
		"server.read_header_timeout": "1m0s is longer than server.read_timeout (1s), which includes the headers",
		"server.write_timeout":       "must be positive, got -1ns",
		"server.idle_timeout":        "must be positive, got 0s",
		"server.max_connections":     "must be positive, got 0",
		"metrics.max_connections":    "must be positive, got 0",
		"health.listen":              `"nope" is not a host:port address`,
	}, fieldErrors(t, p.Err()))
}

func TestLoad(t *testing.T) {
	parse := func(data []byte) (*testConfig, error) {
		cfg := defaults()
		return cfg, yamlconf.Decode(data, cfg)
	}
	path := filepath.Join(t.TempDir(), "x.yaml")
	require.NoError(t, os.WriteFile(path, []byte("name: x\n"), 0o600))
	cfg, err := yamlconf.Load(path, "test", parse)
	require.NoError(t, err)
	require.Equal(t, "x", cfg.Name)

	require.NoError(t, os.WriteFile(path, []byte("nmae: x\n"), 0o600))
	cfg, err = yamlconf.Load(path, "test", parse)
	require.Nil(t, cfg)
	require.EqualError(t, err, "test config "+path+": nmae: unknown field (line 1)")
	var fe *yamlconf.FieldError
	require.ErrorAs(t, err, &fe)

	_, err = yamlconf.Load(filepath.Join(t.TempDir(), "missing.yaml"), "test", parse)
	require.ErrorIs(t, err, os.ErrNotExist)
	require.ErrorContains(t, err, "reading test config")
}
