package main

import (
	"context"

	"github.com/pokt-network/poktroll/scripts/internal/localchain"
)

// follower reads the supplier's claims, proofs and settlements from the
// relayer module's events, block by block, and prints them as they happen.
type follower struct {
	chain   *localchain.Chain
	next    int64                       // the next block to read
	pending map[string]localchain.Event // session id → its ClaimCreated, until settled

	settledAmount int64
	settledClaims int
	expiredClaims int // expired, or gone without a settlement event
}

// newFollower follows from the next block on.
func newFollower(ctx context.Context, chain *localchain.Chain) (*follower, error) {
	h, err := chain.RPC.Height(ctx)
	if err != nil {
		return nil, err
	}
	return &follower{chain: chain, next: h + 1, pending: map[string]localchain.Event{}}, nil
}

// follow reads the blocks committed since the last call. A block the node
// does not answer for is read again next time.
func (f *follower) follow(ctx context.Context) {
	h, err := f.chain.RPC.Height(ctx)
	if err != nil {
		return
	}
	for ; f.next <= h; f.next++ {
		events, err := f.chain.RPC.BlockEvents(ctx, f.next)
		if err != nil {
			return
		}
		evs, errs := localchain.SupplierEvents(f.next, events, f.chain.Supplier)
		for _, err := range errs {
			out.Warn("height %d: %v", f.next, err)
		}
		for _, ev := range evs {
			f.apply(ctx, ev)
		}
		f.closeWindows(f.next)
	}
}

// apply prints one event and keeps the claims' account.
func (f *follower) apply(ctx context.Context, ev localchain.Event) {
	sid := short(ev.SessionID)
	switch ev.Kind {
	case localchain.ClaimCreated:
		f.pending[ev.SessionID] = ev
		out.OK("claim: session %s… (blocks %d-%d): %d relays, %d compute units; proof window closes at height %d",
			sid, ev.SessionStart, ev.SessionEnd, ev.Root.Count, ev.Root.Sum, ev.Claim.ProofWindowCloseHeight)
	case localchain.ProofSubmitted:
		leaves, size, err := f.chain.ProofSize(ctx, ev.SessionID, ev.Height)
		if err != nil {
			out.OK("proof: session %s… proven at height %d (reading it: %v)", sid, ev.Height, err)
			return
		}
		out.OK("proof: session %s… proven with %d leaf proofs (%d bytes)", sid, leaves, size)
	case localchain.ClaimSettled:
		delete(f.pending, ev.SessionID)
		f.settledAmount += ev.Amount
		f.settledClaims++
		out.OK("settlement: session %s… paid %d%s to the supplier for %d compute units at height %d (proof required: %t, capped by the stake: %t)",
			sid, ev.Amount, denom, ev.ComputeUnits, ev.Height, ev.ProofRequired, ev.Capped)
	case localchain.ClaimExpired:
		delete(f.pending, ev.SessionID)
		f.expiredClaims++
		out.Warn("claim of session %s… expired at height %d: %s", sid, ev.Height, ev.Reason)
	case localchain.SupplierSlashed:
		out.Warn("the supplier was slashed %d%s at height %d (session %s…)", ev.Amount, denom, ev.Height, sid)
	}
}

// closeWindows counts the claims whose proof window closed at or before h
// without a settlement or an expiry: the chain settles every claim in the
// block its window closes.
func (f *follower) closeWindows(h int64) {
	for id, c := range f.pending {
		if c.Claim.ProofWindowCloseHeight <= h {
			delete(f.pending, id)
			f.expiredClaims++
			out.Warn("claim of session %s… left the chain at height %d without a settlement event", short(id), c.Claim.ProofWindowCloseHeight)
		}
	}
}

// short is the start of a session id, for one-line messages.
func short(id string) string {
	return id[:min(len(id), 16)]
}
