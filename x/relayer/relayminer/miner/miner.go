package miner

import (
	"context"
	"errors"
	"fmt"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/metrics"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/session"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/store"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// ErrSessionSealed is returned for a relay of a session whose claim trie was
// already built: it can no longer be counted.
var ErrSessionSealed = session.ErrSessionClaimed

// ErrRelayLogged is returned (wrapped) for a relay whose request was already
// logged in its session: a replay, paid once.
var ErrRelayLogged = session.ErrRelayLogged

// ErrStoreUnavailable is returned (wrapped) while the store cannot write (a
// full disk): the relay could not be made durable.
var ErrStoreUnavailable = store.ErrUnavailable

// Chain is what the miner reads from the chain (cached by the caller).
type Chain interface {
	ServiceAt(ctx context.Context, id string, height int64) (types.Service, error)
}

// Sessions stores mined relays.
type Sessions interface {
	Logged(hdr types.SessionHeader, supplier string, path []byte) (bool, error)
	AddRelay(hdr types.SessionHeader, supplier string, computeUnitsPerRelay uint64, path, relayKey, leaf []byte) error
}

// Miner records served relays as trie leaves.
type Miner struct {
	chain    Chain
	sessions Sessions
	metrics  *metrics.Metrics
}

// New builds a miner.
func New(chain Chain, sessions Sessions, m *metrics.Metrics) *Miner {
	return &Miner{chain: chain, sessions: sessions, metrics: m}
}

// Seen reports whether the request with relayKey was already served to
// supplier in session hdr: a replay, which would not be paid again.
func (m *Miner) Seen(hdr types.SessionHeader, supplier string, relayKey []byte) (bool, error) {
	return m.sessions.Logged(hdr, supplier, protocol.LeafPath(relayKey))
}

// Mine records a served relay: req and res in compact form and signed,
// relayKey the request's key. It returns once the relay is durable.
func (m *Miner) Mine(ctx context.Context, req *types.RelayRequest, res *types.RelayResponse, relayKey []byte) error {
	hdr := req.Meta.SessionHeader
	if hdr == nil {
		return errors.New("relay has no session header")
	}
	svc, err := m.chain.ServiceAt(ctx, hdr.ServiceId, hdr.SessionStartBlockHeight)
	if err != nil {
		return fmt.Errorf("service %q at session start %d: %w", hdr.ServiceId, hdr.SessionStartBlockHeight, err)
	}
	leaf, err := (&types.Relay{Req: req, Res: res}).Marshal()
	if err != nil {
		return err
	}
	if err := m.sessions.AddRelay(*hdr, req.Meta.SupplierOperatorAddress, svc.ComputeUnitsPerRelay, protocol.LeafPath(relayKey), relayKey, leaf); err != nil {
		return err
	}
	m.metrics.RelaysMined.WithLabelValues(m.metrics.Service(hdr.ServiceId)).Inc()
	return nil
}
