package protocol

import (
	"encoding/binary"

	"cosmossdk.io/math"

	"github.com/pokt-network/poktroll/x/relayer/types"
)

// ppmScale is one million parts per million.
const ppmScale = 1_000_000

// ProofRequired reports whether claim must be proven. A claim worth more
// than p.ProofRequirementThreshold always must; any other is drawn with
// probability p.ProofRequestProbabilityPpm / 10^6, using the first 8 bytes
// (big-endian) of sha256 over the length-prefixed proof seed block hash,
// session id, supplier operator address and root hash. The seed block comes
// after the claim window closes, so the draw is unknown while the claim can
// still change. A nil claim is always required (fail safe).
func ProofRequired(p types.Params, claimedTokens math.Int, proofSeedBlockHash []byte, claim *types.Claim) bool {
	if claim == nil {
		return true
	}
	threshold := p.ProofRequirementThreshold.Amount
	if threshold.IsNil() {
		threshold = math.ZeroInt()
	}
	if claimedTokens.IsNil() {
		claimedTokens = math.ZeroInt()
	}
	if claimedTokens.GT(threshold) {
		return true
	}
	h := hashFields(tagProofDraw, proofSeedBlockHash, []byte(claim.SessionHeader.SessionId),
		[]byte(claim.SupplierOperatorAddress), claim.RootHash)
	return binary.BigEndian.Uint64(h[:8])%ppmScale < p.ProofRequestProbabilityPpm
}
