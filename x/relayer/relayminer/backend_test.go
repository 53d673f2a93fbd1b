package relayminer

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/relayminer/config"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/fleet"
)

// TestJetStreamDefaultsAgree: the config's defaults for store.jetstream are
// the fleet's own (the config package documents them; the fleet applies
// them to a Config built in code).
func TestJetStreamDefaultsAgree(t *testing.T) {
	got := fleetConfig(config.DefaultJetStream)
	require.Equal(t, fleet.Config{
		Replicas: fleet.DefaultReplicas, Prefix: fleet.DefaultPrefix, DuplicateWindow: fleet.DefaultDuplicateWindow,
		LeaseTTL: fleet.DefaultLeaseTTL, PublishTimeout: fleet.DefaultPublishTimeout, CheckpointEvery: fleet.DefaultCheckpointEvery,
	}, got)
}
