package localchain

import (
	"fmt"

	abci "github.com/cometbft/cometbft/abci/types"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/gogoproto/proto"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// EventKind is one of the relayer module's events about a supplier's
// claims.
type EventKind int

const (
	ClaimCreated EventKind = iota
	ProofSubmitted
	ClaimSettled
	ClaimExpired
	SupplierSlashed
)

// eventKinds maps the typed events' names to their kinds.
var eventKinds = map[string]EventKind{
	proto.MessageName(&types.EventClaimCreated{}):    ClaimCreated,
	proto.MessageName(&types.EventProofSubmitted{}):  ProofSubmitted,
	proto.MessageName(&types.EventClaimSettled{}):    ClaimSettled,
	proto.MessageName(&types.EventClaimExpired{}):    ClaimExpired,
	proto.MessageName(&types.EventSupplierSlashed{}): SupplierSlashed,
}

// Event is one of those events, flattened.
type Event struct {
	Kind     EventKind
	Height   int64
	Supplier string

	// The claim it is about (all kinds but SupplierSlashed).
	Claim        types.Claim
	Root         protocol.Root // the claim's root: Count relays, Sum compute units
	SessionID    string
	SessionStart int64
	SessionEnd   int64

	NumRelays     int64  // ClaimCreated
	ComputeUnits  int64  // ClaimCreated, ClaimSettled
	Amount        int64  // ClaimSettled: paid; SupplierSlashed: penalty
	ProofRequired bool   // ClaimSettled
	Capped        bool   // ClaimSettled
	Reason        string // ClaimExpired
}

// SupplierEvents decodes the relayer events of block h that concern
// supplier. Events it cannot decode are returned as errors (and skipped).
func SupplierEvents(h int64, events []abci.Event, supplier string) ([]Event, []error) {
	var out []Event
	var errs []error
	for _, e := range events {
		kind, ok := eventKinds[e.Type]
		if !ok {
			continue
		}
		ev, err := decodeEvent(kind, e)
		if err != nil {
			errs = append(errs, fmt.Errorf("cannot decode %s: %w", e.Type, err))
			continue
		}
		if ev.Supplier == supplier {
			ev.Height = h
			out = append(out, ev)
		}
	}
	return out, errs
}

// decodeEvent decodes a typed event with the module's own types.
func decodeEvent(kind EventKind, e abci.Event) (Event, error) {
	msg, err := types.ParseEvent(e)
	if err != nil {
		return Event{}, err
	}
	ev := Event{Kind: kind}
	switch m := msg.(type) {
	case *types.EventClaimCreated:
		ev.NumRelays, ev.ComputeUnits = int64(m.NumRelays), int64(m.NumClaimedComputeUnits)
		return ev, ev.setClaim(m.Claim)
	case *types.EventProofSubmitted:
		return ev, ev.setClaim(m.Claim)
	case *types.EventClaimSettled:
		ev.ComputeUnits, ev.Amount = int64(m.NumClaimedComputeUnits), coinAmount(m.Amount)
		ev.ProofRequired, ev.Capped = m.ProofRequired, m.Capped
		return ev, ev.setClaim(m.Claim)
	case *types.EventClaimExpired:
		ev.Reason = m.Reason
		return ev, ev.setClaim(m.Claim)
	case *types.EventSupplierSlashed:
		ev.Supplier, ev.SessionID, ev.Amount = m.SupplierOperatorAddress, m.SessionId, coinAmount(m.Penalty)
		return ev, nil
	}
	return ev, fmt.Errorf("unexpected message %T", msg)
}

// setClaim fills in the claim, its session and its parsed root.
func (ev *Event) setClaim(c types.Claim) error {
	root, err := protocol.ParseRoot(c.RootHash)
	if err != nil {
		return err
	}
	h := c.SessionHeader
	ev.Claim, ev.Root, ev.Supplier = c, root, c.SupplierOperatorAddress
	ev.SessionID, ev.SessionStart, ev.SessionEnd = h.SessionId, h.SessionStartBlockHeight, h.SessionEndBlockHeight
	return nil
}

// coinAmount is the coin's amount (0 when unset).
func coinAmount(c sdk.Coin) int64 {
	if c.Amount.IsNil() {
		return 0
	}
	return c.Amount.Int64()
}
