package config

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/internal/yamlconf"
)

// fieldsAtFault are the fields err's problems name.
func fieldsAtFault(err error) []string {
	var out []string
	for _, e := range yamlconf.Unjoin(err) {
		var fe *FieldError
		if errors.As(e, &fe) {
			out = append(out, fe.Field)
		}
	}
	return out
}

func TestJetStreamBackendParsesWithDefaults(t *testing.T) {
	cfg, err := Parse([]byte(validYAML + `
store:
  path: /var/lib/relayminer
  backend: jetstream
  jetstream:
    urls: [nats://nats-1:4222, nats://nats-2:4222, tls://nats-3:4222]
    token: s3cret
    lease_ttl: 3s
`))
	require.NoError(t, err)
	want := DefaultJetStream
	want.URLs = []string{"nats://nats-1:4222", "nats://nats-2:4222", "tls://nats-3:4222"}
	want.Token = "s3cret"
	want.LeaseTTL = 3 * time.Second
	require.Equal(t, Store{Path: "/var/lib/relayminer", Backend: BackendJetStream, JetStream: want}, cfg.Store)
	require.Equal(t, 3, cfg.Store.JetStream.Replicas)
	require.Equal(t, 2*time.Minute, cfg.Store.JetStream.DuplicateWindow)
	require.Equal(t, 10_000, cfg.Store.JetStream.CheckpointEvery)
}

func TestJetStreamSettingAtFaultIsNamed(t *testing.T) {
	const ok = "\n    urls: [nats://127.0.0.1:4222]"
	for _, tc := range []struct {
		name  string
		store string // the store section's body
		field string
	}{
		{"unknown backend", "  backend: redis", "store.backend"},
		{"jetstream without urls", "  backend: jetstream", "store.jetstream.urls"},
		{"url without port", "  backend: jetstream\n  jetstream:\n    urls: [nats://host]", "store.jetstream.urls[0]"},
		{"http url", "  backend: jetstream\n  jetstream:\n    urls: [nats://a:1, http://b:2]", "store.jetstream.urls[1]"},
		{"token and credentials file", "  backend: jetstream\n  jetstream:" + ok + "\n    token: t\n    credentials_file: /c.creds", "store.jetstream.token"},
		{"tls cert without key", "  backend: jetstream\n  jetstream:" + ok + "\n    tls: {cert: c.pem}", "store.jetstream.tls.key"},
		{"tls key without cert", "  backend: jetstream\n  jetstream:" + ok + "\n    tls: {key: k.pem}", "store.jetstream.tls.cert"},
		{"zero replicas", "  backend: jetstream\n  jetstream:" + ok + "\n    replicas: 0", "store.jetstream.replicas"},
		{"seven replicas", "  backend: jetstream\n  jetstream:" + ok + "\n    replicas: 7", "store.jetstream.replicas"},
		{"prefix with a dot", "  backend: jetstream\n  jetstream:" + ok + "\n    prefix: a.b", "store.jetstream.prefix"},
		{"zero duplicate window", "  backend: jetstream\n  jetstream:" + ok + "\n    duplicate_window: 0s", "store.jetstream.duplicate_window"},
		{"short lease ttl", "  backend: jetstream\n  jetstream:" + ok + "\n    lease_ttl: 100ms", "store.jetstream.lease_ttl"},
		{"negative publish timeout", "  backend: jetstream\n  jetstream:" + ok + "\n    publish_timeout: -1s", "store.jetstream.publish_timeout"},
		{"zero checkpoint interval", "  backend: jetstream\n  jetstream:" + ok + "\n    checkpoint_every: 0", "store.jetstream.checkpoint_every"},
		{"unknown jetstream field", "  backend: jetstream\n  jetstream:" + ok + "\n    replica: 3", "store.jetstream.replica"},
		{"lease ttl not a duration", "  backend: jetstream\n  jetstream:" + ok + "\n    lease_ttl: 5", "store.jetstream.lease_ttl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(validYAML + "store:\n" + tc.store + "\n"))
			require.Error(t, err)
			require.Equal(t, []string{tc.field}, fieldsAtFault(err), "%v", err)
		})
	}
}

func TestJetStreamSettingsIgnoredWithLevelDB(t *testing.T) {
	// A fleet's settings may stay in the file while a RelayMiner runs
	// alone: they are decoded (unknown fields still refused), not required.
	cfg, err := Parse([]byte(validYAML + "store:\n  backend: leveldb\n  jetstream:\n    replicas: 0\n"))
	require.NoError(t, err)
	require.Equal(t, BackendLevelDB, cfg.Store.Backend)
}
