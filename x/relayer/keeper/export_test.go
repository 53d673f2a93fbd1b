package keeper

import (
	"context"

	"github.com/pokt-network/poktroll/x/relayer/types"
)

// VerifyLeafProofAt runs, outside a transaction, the check MsgSubmitProof
// makes of each of its leaf proofs: p must open, in claim's trie, the leaf
// holding point, and that leaf must pass every relay rule of the claim's
// session (under its params, service and claim seed). Tests use it to try
// one claim against many proof seeds.
func (k Keeper) VerifyLeafProofAt(ctx context.Context, claim types.Claim, point uint64, p *types.LeafProof) error {
	rules, err := k.rulesOf(ctx, claim.SessionHeader)
	if err != nil {
		return err
	}
	claimSeed, err := k.blockHash(ctx, rules.windows.ClaimSeed)
	if err != nil {
		return err
	}
	return k.verifyLeafProof(ctx, claim, rules, claimSeed, point, p)
}
