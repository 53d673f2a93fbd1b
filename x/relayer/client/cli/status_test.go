package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRelayMinerStatusFlags: the command needs exactly one of --config and
// --addr, a known output and a sane --sessions, before it reads anything.
func TestRelayMinerStatusFlags(t *testing.T) {
	noHealth := filepath.Join(t.TempDir(), "relayminer.yaml")
	require.NoError(t, os.WriteFile(noHealth, []byte(`chain:
  rpc_url: http://127.0.0.1:26657
suppliers:
  - key_name: supplier
    services:
      - service_id: eth
        listen: 127.0.0.1:8545
        backend_url: http://127.0.0.1:8546
`), 0o600))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"neither", nil, "--config or --addr is required"},
		{"both", []string{"--addr", "127.0.0.1:1", "--config", "x.yaml"}, "not both"},
		{"bad output", []string{"--addr", "127.0.0.1:1", "-o", "yaml"}, "--output must be text or json"},
		{"no sessions", []string{"--addr", "127.0.0.1:1", "--sessions", "0"}, "--sessions must be from 1 to 100"},
		{"config without a health address", []string{"--config", noHealth}, "health.listen is empty"},
		{"nothing listening", []string{"--addr", "127.0.0.1:1"}, "reading the RelayMiner's status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := RelayMinerStatusCmd()
			cmd.SetArgs(tc.args)
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			require.ErrorContains(t, cmd.Execute(), tc.want)
		})
	}
}
