package miner

import (
	"context"
	"fmt"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/metrics"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// Chain is what the miner reads from the chain (cached by the caller).
type Chain interface {
	ParamsAt(ctx context.Context, height int64) (types.Params, error)
	ServiceAt(ctx context.Context, id string, height int64) (types.Service, error)
}

// Sessions stores mined relays.
type Sessions interface {
	AddRelay(hdr types.SessionHeader, supplier string, computeUnitsPerRelay uint64, relayHash, relay []byte) error
}

// Miner filters served relays by difficulty and records the minable ones.
type Miner struct {
	chain    Chain
	sessions Sessions
	metrics  *metrics.Metrics
}

// New builds a miner.
func New(chain Chain, sessions Sessions, m *metrics.Metrics) *Miner {
	return &Miner{chain: chain, sessions: sessions, metrics: m}
}

// Mine hashes a served relay and, if it is minable, records it; it returns
// whether it was recorded. It returns once the relay is durable.
func (m *Miner) Mine(ctx context.Context, relay *types.Relay) (bool, error) {
	hdr := relay.Req.Meta.SessionHeader
	if hdr == nil {
		return false, fmt.Errorf("relay has no session header")
	}
	start := hdr.SessionStartBlockHeight
	p, err := m.chain.ParamsAt(ctx, start)
	if err != nil {
		return false, fmt.Errorf("params at session start %d: %w", start, err)
	}
	svc, err := m.chain.ServiceAt(ctx, hdr.ServiceId, start)
	if err != nil {
		return false, fmt.Errorf("service %q at session start %d: %w", hdr.ServiceId, start, err)
	}
	raw, err := protocol.RelayBytes(relay)
	if err != nil {
		return false, err
	}
	hash := protocol.RelayHash(raw)
	if !protocol.IsMinable(hash, protocol.DifficultyTarget(p, hdr.ServiceId)) {
		return false, nil
	}
	if err := m.sessions.AddRelay(*hdr, relay.Req.Meta.SupplierOperatorAddress, svc.ComputeUnitsPerRelay, hash, raw); err != nil {
		return false, err
	}
	m.metrics.RelaysMined.WithLabelValues(hdr.ServiceId).Inc()
	return true, nil
}
