package yamlconf_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/internal/yamlconf"
)

type service struct {
	ID      string            `yaml:"id"`
	Timeout time.Duration     `yaml:"timeout"`
	Max     int64             `yaml:"max"`
	Headers map[string]string `yaml:"headers"`
}

// Default makes service a yamlconf.Defaulter.
func (s *service) Default() { s.Timeout, s.Max = 30*time.Second, 7 }

type supplier struct {
	Key      string    `yaml:"key"`
	Services []service `yaml:"services"`
}

type chain struct {
	yamlconf.Chain `yaml:",inline"`
	ChainID        string `yaml:"chain_id"`
}

type testConfig struct {
	Chain     chain                 `yaml:"chain"`
	Name      string                `yaml:"name"`
	Timeout   time.Duration         `yaml:"timeout"`
	Count     int                   `yaml:"count"`
	Ratio     float64               `yaml:"ratio"`
	On        bool                  `yaml:"on"`
	Tags      []string              `yaml:"tags"`
	Server    yamlconf.ServerLimits `yaml:"server"`
	Suppliers []supplier            `yaml:"suppliers"`
	Ptr       *service              `yaml:"ptr"`
	ByName    map[string]service    `yaml:"by_name"`
	Untagged  string
	Skipped   string `yaml:"-"`
}

func defaults() *testConfig {
	return &testConfig{Name: "default", Timeout: time.Minute, Count: 3, Tags: []string{"a"}, Server: yamlconf.DefaultServerLimits}
}

// fieldErrors flattens err into its problems by field; every one must be
// a *FieldError.
func fieldErrors(t *testing.T, err error) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range yamlconf.Unjoin(err) {
		var fe *yamlconf.FieldError
		require.True(t, errors.As(e, &fe), "not a field error: %v", e)
		_, dup := out[fe.Field]
		require.False(t, dup, "two problems for %s: %v", fe.Field, err)
		out[fe.Field] = fe.Problem
	}
	return out
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		problems   map[string]string             // the FieldErrors expected; nil: none
		check      func(*testing.T, *testConfig) // what decoded
	}{
		{name: "values", yaml: "name: x\ntimeout: 1m30s\ncount: 5\nratio: 2\non: true\ntags: [b, c]\nuntagged: u\nsuppliers: [{services: [{max: 4e6}]}]\n",
			check: func(t *testing.T, c *testConfig) {
				require.Equal(t, "x", c.Name)
				require.Equal(t, 90*time.Second, c.Timeout)
				require.Equal(t, 5, c.Count)
				require.Equal(t, 2.0, c.Ratio)
				require.True(t, c.On)
				require.Equal(t, []string{"b", "c"}, c.Tags, "a list replaces the default elements")
				require.Equal(t, "u", c.Untagged, "an untagged field is its lowercased name, as in yaml.v3")
				require.EqualValues(t, 4000000, c.Suppliers[0].Services[0].Max, "a whole float is an integer")
			}},
		{name: "unknown field", yaml: "name: x\nnmae: y\nchain: {rpc_url: http://a, grpc: b}\n",
			problems: map[string]string{"nmae": "unknown field (line 2)", "chain.grpc": "unknown field (line 3)"}},
		{name: "skipped field is unknown", yaml: "skipped: x\n",
			problems: map[string]string{"skipped": "unknown field (line 1)"}},
		{name: "duplicate field", yaml: "name: x\ncount: 1\nname: y\n",
			problems: map[string]string{"name": "given twice (line 3, first on line 1)"},
			check:    func(t *testing.T, c *testConfig) { require.Equal(t, "x", c.Name, "the first one is kept") }},
		{name: "duplicate nested field", yaml: "suppliers:\n  - key: a\n    key: b\n",
			problems: map[string]string{"suppliers[0].key": "given twice (line 3, first on line 2)"}},
		{name: "duplicate map key", yaml: "by_name:\n  a: {id: x}\n  a: {id: y}\n",
			problems: map[string]string{"by_name.a": "given twice (line 3, first on line 2)"}},
		{name: "wrong type: duration", yaml: "timeout: 30\nserver: {read_timeout: soon}\n",
			problems: map[string]string{
				"timeout":             `"30" is not a duration such as "10s" or "1m30s" (line 1)`,
				"server.read_timeout": `"soon" is not a duration such as "10s" or "1m30s" (line 2)`,
			},
			check: func(t *testing.T, c *testConfig) { require.Equal(t, time.Minute, c.Timeout, "the default stays") }},
		{name: "wrong type: int", yaml: "count: many\nsuppliers: [{services: [{max: 1.5}]}]\n",
			problems: map[string]string{
				"count":                        `"many" is not an integer (line 1)`,
				"suppliers[0].services[0].max": `"1.5" is not an integer (line 2)`,
			}},
		{name: "wrong type: list", yaml: "tags: a\nsuppliers: {key: k}\n",
			problems: map[string]string{"tags": `"a" is not a list (line 1)`, "suppliers": "got a mapping, want a list (line 2)"}},
		{name: "wrong type: mapping", yaml: "chain: [1]\nserver: off\nby_name: [x]\n",
			problems: map[string]string{
				"chain":   "got a list, want a mapping (line 1)",
				"server":  `"off" is not a mapping (line 2)`,
				"by_name": "got a list, want a mapping (line 3)",
			}},
		{name: "wrong type: scalars", yaml: "name: {a: 1}\nratio: high\non: maybe\n",
			problems: map[string]string{
				"name":  "got a mapping, want a string (line 1)",
				"ratio": `"high" is not a number (line 2)`,
				"on":    `"maybe" is not true or false (line 3)`,
			}},
		{name: "not a mapping at the top", yaml: "- a\n",
			problems: map[string]string{"(top level)": "got a list, want a mapping (line 1)"}},
		{name: "null keeps the default", yaml: "name: ~\ntimeout: null\ntags:\nserver:\n  read_timeout: ~\n",
			check: func(t *testing.T, c *testConfig) { require.Equal(t, defaults(), c) }},
		{name: "absent fields keep the default", yaml: "server: {read_timeout: 5s}\n",
			check: func(t *testing.T, c *testConfig) {
				want := yamlconf.DefaultServerLimits
				want.ReadTimeout = 5 * time.Second
				require.Equal(t, want, c.Server)
				require.Equal(t, "default", c.Name)
			}},
		{name: "slice element defaults", yaml: "suppliers:\n  - services:\n      - {id: a}\n      - {id: b, timeout: 1s, max: 9}\n      - ~\n",
			check: func(t *testing.T, c *testConfig) {
				require.Equal(t, []service{
					{ID: "a", Timeout: 30 * time.Second, Max: 7},
					{ID: "b", Timeout: time.Second, Max: 9},
					{Timeout: 30 * time.Second, Max: 7},
				}, c.Suppliers[0].Services)
			}},
		{name: "map value and pointer defaults", yaml: "by_name: {x: {id: x}, y: ~}\nptr: {max: 1}\n",
			check: func(t *testing.T, c *testConfig) {
				require.Equal(t, map[string]service{
					"x": {ID: "x", Timeout: 30 * time.Second, Max: 7},
					"y": {Timeout: 30 * time.Second, Max: 7},
				}, c.ByName)
				require.Equal(t, &service{Timeout: 30 * time.Second, Max: 1}, c.Ptr)
			}},
		{name: "inline fields", yaml: "chain: {rpc_url: http://a, grpc_url: b:1, chain_id: c}\n",
			check: func(t *testing.T, c *testConfig) {
				require.Equal(t, chain{Chain: yamlconf.Chain{RPCURL: "http://a", GRPCURL: "b:1"}, ChainID: "c"}, c.Chain)
			}},
		{name: "paths into maps and lists", yaml: "suppliers:\n  - key: a\n  - services:\n      - {id: x}\n      - headers: {Auth: [x]}\n",
			problems: map[string]string{"suppliers[1].services[1].headers.Auth": "got a list, want a string (line 5)"}},
		{name: "anchors, aliases and merge keys",
			yaml: "suppliers:\n  - key: a\n    services:\n      - &eth {id: eth, timeout: 5s}\n      - <<: *eth\n        id: eth2\n      - *eth\n",
			check: func(t *testing.T, c *testConfig) {
				require.Equal(t, []service{
					{ID: "eth", Timeout: 5 * time.Second, Max: 7},
					{ID: "eth2", Timeout: 5 * time.Second, Max: 7},
					{ID: "eth", Timeout: 5 * time.Second, Max: 7},
				}, c.Suppliers[0].Services)
			}},
		{name: "merged unknown field", yaml: "ptr:\n  <<: {id: a, bogus: 1}\n  id: b\n",
			problems: map[string]string{"ptr.bogus": "unknown field (line 2)"},
			check:    func(t *testing.T, c *testConfig) { require.Equal(t, "b", c.Ptr.ID, "an explicit key wins") }},
		{name: "merge of a scalar", yaml: "<<: 1\n",
			problems: map[string]string{"(top level)": "a merge (<<) takes a mapping or a list of mappings (line 1)"}},
		{name: "empty file", yaml: "",
			check: func(t *testing.T, c *testConfig) { require.Equal(t, defaults(), c) }},
		{name: "comments only", yaml: "# nothing yet\n",
			check: func(t *testing.T, c *testConfig) { require.Equal(t, defaults(), c) }},
		{name: "empty document", yaml: "---\n",
			check: func(t *testing.T, c *testConfig) { require.Equal(t, defaults(), c) }},
		{name: "all problems at once",
			yaml: "nmae: x\nname: [1]\ncount: x\nchain: {rpc_url: http://a, rpc_url: http://b}\nsuppliers:\n  - services: [{timeout: x, extra: 1}]\n  - services: 1\n",
			problems: map[string]string{
				"nmae":                             "unknown field (line 1)",
				"name":                             "got a list, want a string (line 2)",
				"count":                            `"x" is not an integer (line 3)`,
				"chain.rpc_url":                    "given twice (line 4, first on line 4)",
				"suppliers[0].services[0].timeout": `"x" is not a duration such as "10s" or "1m30s" (line 6)`,
				"suppliers[0].services[0].extra":   "unknown field (line 6)",
				"suppliers[1].services":            `"1" is not a list (line 7)`,
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaults()
			err := yamlconf.Decode([]byte(tc.yaml), cfg)
			if tc.problems == nil {
				require.NoError(t, err)
			} else {
				require.Equal(t, tc.problems, fieldErrors(t, err))
			}
			if tc.check != nil {
				tc.check(t, cfg)
			}
		})
	}
}

func TestDecodeDocumentErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"multiple documents", "name: a\n---\nname: b\n", "the file must hold a single YAML document"},
		{"an empty second document", "name: a\n---\n", "the file must hold a single YAML document"},
		{"a broken second document", "name: a\n---\n[\n", "the file must hold a single YAML document: yaml: line 3"},
		{"syntax error", "name: [\n", "yaml: line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := yamlconf.Decode([]byte(tc.yaml), defaults())
			require.ErrorContains(t, err, tc.want)
			var fe *yamlconf.FieldError
			require.False(t, errors.As(err, &fe), "a document error is not a field's")
		})
	}
}

func TestDecodeWantsAStructPointer(t *testing.T) {
	require.ErrorContains(t, yamlconf.Decode(nil, testConfig{}), "want a pointer to a struct")
	require.ErrorContains(t, yamlconf.Decode(nil, (*testConfig)(nil)), "want a pointer to a struct")
	require.ErrorContains(t, yamlconf.Decode(nil, new(int)), "want a pointer to a struct")
}
