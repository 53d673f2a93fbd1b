package protocol

import (
	"bytes"
	"encoding/hex"
	"math"
	"slices"
	"strings"

	"github.com/pokt-network/poktroll/x/relayer/types"
)

// MaxParamBlocks bounds every block-count param so that session and window
// heights can never overflow int64.
const MaxParamBlocks = math.MaxUint32

// blocks turns num_blocks_per_session into a usable divisor. Validated params
// never hit the clamps; they only keep the pure functions total.
func blocks(numBlocksPerSession uint64) int64 {
	switch {
	case numBlocksPerSession == 0:
		return 1
	case numBlocksPerSession > MaxParamBlocks:
		return MaxParamBlocks
	}
	return int64(numBlocksPerSession)
}

// SessionNumber is the 0-based number of the session holding height.
// Sessions tile the chain from height 1: session k covers [k*N+1, (k+1)*N].
// Heights below 1 get negative session numbers (floor division), which keeps
// the tiling consistent but never happens on a live chain.
func SessionNumber(numBlocksPerSession uint64, height int64) int64 {
	n := blocks(numBlocksPerSession)
	q, r := (height-1)/n, (height-1)%n
	if r < 0 {
		q--
	}
	return q
}

// SessionStartHeight is the first height of the session holding height.
func SessionStartHeight(numBlocksPerSession uint64, height int64) int64 {
	return SessionNumber(numBlocksPerSession, height)*blocks(numBlocksPerSession) + 1
}

// SessionEndHeight is the last height of the session holding height.
func SessionEndHeight(numBlocksPerSession uint64, height int64) int64 {
	return SessionStartHeight(numBlocksPerSession, height) + blocks(numBlocksPerSession) - 1
}

// Windows are the heights that follow a session's end. Every window is
// inclusive at both ends.
type Windows struct {
	SessionEnd       int64 // last height of the session
	GracePeriodEnd   int64 // last height at which the session's relays are served
	ClaimSeed        int64 // height whose block hash decides which relays are minable
	ClaimWindowOpen  int64 // first height a claim is accepted
	ClaimWindowClose int64 // last height a claim is accepted
	ProofSeed        int64 // height whose block hash draws the proof points and requirement
	ProofWindowOpen  int64 // first height a proof is accepted
	ProofWindowClose int64 // last height a proof is accepted; claims settle after it
}

// SessionWindows computes the windows of the session ending at
// sessionEndHeight. p must pass Params.Validate: then the claim seed block
// comes after the grace period and before the claim window opens, and the
// proof seed block after the claim window closes.
func SessionWindows(p types.Params, sessionEndHeight int64) Windows {
	w := Windows{SessionEnd: sessionEndHeight}
	w.GracePeriodEnd = w.SessionEnd + int64(p.GracePeriodEndOffsetBlocks)
	w.ClaimSeed = w.GracePeriodEnd + 1
	w.ClaimWindowOpen = w.GracePeriodEnd + int64(p.ClaimWindowOpenOffsetBlocks)
	w.ClaimWindowClose = w.ClaimWindowOpen + int64(p.ClaimWindowCloseOffsetBlocks)
	w.ProofWindowOpen = w.ClaimWindowClose + int64(p.ProofWindowOpenOffsetBlocks)
	w.ProofWindowClose = w.ProofWindowOpen + int64(p.ProofWindowCloseOffsetBlocks)
	w.ProofSeed = w.ProofWindowOpen - 1
	return w
}

// InSessionOrGrace reports whether relays for the session starting at
// sessionStart may be served at height h.
func (w Windows) InSessionOrGrace(sessionStart, h int64) bool {
	return sessionStart <= h && h <= w.GracePeriodEnd
}

// InClaimWindow reports whether a claim may be created at height h.
func (w Windows) InClaimWindow(h int64) bool {
	return w.ClaimWindowOpen <= h && h <= w.ClaimWindowClose
}

// InProofWindow reports whether a proof may be submitted at height h.
func (w Windows) InProofWindow(h int64) bool {
	return w.ProofWindowOpen <= h && h <= w.ProofWindowClose
}

// ActiveAt reports whether an actor (application or supplier) staked with
// these heights takes part in the session starting at start: from its
// activation height (the session start after it staked) to the end of the
// session it unstaked in (0: still staked).
func ActiveAt(activation, unstakeSessionEnd, start int64) bool {
	return activation <= start && (unstakeSessionEnd == 0 || start <= unstakeSessionEnd)
}

// SessionSeedHeight is the height whose block hash seeds the id of the
// session starting at sessionStartHeight. Height 0 means "no block": the
// seed hash is then empty.
func SessionSeedHeight(sessionStartHeight int64) int64 {
	return sessionStartHeight - 1
}

// SessionID is the lowercase hex sha256 of the length-prefixed seed block
// hash, service id, application address and session start height.
func SessionID(seedBlockHash []byte, serviceID, applicationAddress string, sessionStartHeight int64) string {
	return hex.EncodeToString(hashFields(tagSessionID,
		seedBlockHash, []byte(serviceID), []byte(applicationAddress), int64Bytes(sessionStartHeight)))
}

// SelectSuppliers picks the session's suppliers: candidates are ranked by
// sha256(sessionID ‖ operator_address) (length-prefixed), ties broken by
// address, and the first max are returned in rank order. The result does
// not depend on the order of candidates, which is left untouched. Operator
// addresses are expected to be unique.
func SelectSuppliers(sessionID string, candidates []types.Supplier, max uint64) []types.Supplier {
	type ranked struct {
		rank []byte
		s    types.Supplier
	}
	rs := make([]ranked, len(candidates))
	for i, s := range candidates {
		rs[i] = ranked{hashFields(tagSupplierRank, []byte(sessionID), []byte(s.OperatorAddress)), s}
	}
	slices.SortStableFunc(rs, func(a, b ranked) int {
		if c := bytes.Compare(a.rank, b.rank); c != 0 {
			return c
		}
		return strings.Compare(a.s.OperatorAddress, b.s.OperatorAddress)
	})
	if uint64(len(rs)) > max {
		rs = rs[:max]
	}
	out := make([]types.Supplier, len(rs))
	for i, r := range rs {
		out[i] = r.s
	}
	return out
}
