package keeper

import (
	"context"
	"errors"
	"fmt"

	"cosmossdk.io/collections"
	errorsmod "cosmossdk.io/errors"
	sdkmath "cosmossdk.io/math"
	cryptotypes "github.com/cosmos/cosmos-sdk/crypto/types"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// sessionRules are the params and windows a session was started under.
type sessionRules struct {
	params  types.Params
	windows protocol.Windows
	service types.Service
}

func (k Keeper) rulesOf(ctx context.Context, h types.SessionHeader) (sessionRules, error) {
	p, err := k.ParamsAt(ctx, h.SessionStartBlockHeight)
	if err != nil {
		return sessionRules{}, err
	}
	svc, err := k.ServiceAt(ctx, h.ServiceId, h.SessionStartBlockHeight)
	if err != nil {
		return sessionRules{}, err
	}
	return sessionRules{params: p, windows: protocol.SessionWindows(p, h.SessionEndBlockHeight), service: svc}, nil
}

func (k Keeper) createClaim(ctx context.Context, msg *types.MsgCreateClaim) error {
	h := height(ctx)
	hdr := msg.SessionHeader
	session, err := k.GetSession(ctx, hdr.ApplicationAddress, hdr.ServiceId, hdr.SessionStartBlockHeight)
	if err != nil {
		return err
	}
	if session.Header != hdr {
		return errorsmod.Wrapf(types.ErrSessionMismatch, "claimed %s, chain has %s", &hdr, &session.Header)
	}
	if !supplierIn(session.Suppliers, msg.SupplierOperatorAddress) {
		return errorsmod.Wrapf(types.ErrSupplierNotInSession, "supplier %s is not in session %s", msg.SupplierOperatorAddress, hdr.SessionId)
	}
	rules, err := k.rulesOf(ctx, hdr)
	if err != nil {
		return err
	}
	w := rules.windows
	if h < w.ClaimWindowOpen || h > w.ClaimWindowClose {
		return errorsmod.Wrapf(types.ErrOutsideClaimWindow, "claim window for session %s is heights %d-%d, current height %d", hdr.SessionId, w.ClaimWindowOpen, w.ClaimWindowClose, h)
	}
	key := collections.Join(hdr.SessionId, msg.SupplierOperatorAddress)
	if has, err := k.Claims.Has(ctx, key); err != nil {
		return err
	} else if has {
		return errorsmod.Wrapf(types.ErrClaimExists, "supplier %s already claimed session %s", msg.SupplierOperatorAddress, hdr.SessionId)
	}
	root, err := protocol.ParseRoot(msg.RootHash)
	if err != nil {
		return errorsmod.Wrap(types.ErrInvalidRootHash, err.Error())
	}
	if root.Count == 0 {
		return errorsmod.Wrap(types.ErrInvalidRootHash, "root holds no relays")
	}
	cupr := rules.service.ComputeUnitsPerRelay
	if root.Count > root.Sum || root.Sum/root.Count != cupr || root.Sum%root.Count != 0 {
		return errorsmod.Wrapf(types.ErrClaimSumMismatch, "sum %d != count %d x compute units per relay %d", root.Sum, root.Count, cupr)
	}
	claim := types.Claim{
		SupplierOperatorAddress: msg.SupplierOperatorAddress,
		SessionHeader:           hdr,
		RootHash:                msg.RootHash,
		ProofWindowCloseHeight:  w.ProofWindowClose,
	}
	if err := k.setClaim(ctx, claim); err != nil {
		return err
	}
	return emit(ctx, &types.EventClaimCreated{Claim: claim, NumRelays: root.Count, NumClaimedComputeUnits: root.Sum})
}

func (k Keeper) setClaim(ctx context.Context, c types.Claim) error {
	id, sup := c.SessionHeader.SessionId, c.SupplierOperatorAddress
	if err := k.Claims.Set(ctx, collections.Join(id, sup), c); err != nil {
		return err
	}
	if err := k.ClaimsBySupplier.Set(ctx, collections.Join(sup, id)); err != nil {
		return err
	}
	return k.ClaimsByProofClose.Set(ctx, collections.Join(c.ProofWindowCloseHeight, collections.Join(id, sup)))
}

func (k Keeper) removeClaim(ctx context.Context, c types.Claim) error {
	id, sup := c.SessionHeader.SessionId, c.SupplierOperatorAddress
	for _, err := range []error{
		k.Claims.Remove(ctx, collections.Join(id, sup)),
		k.ClaimsBySupplier.Remove(ctx, collections.Join(sup, id)),
		k.ClaimsByProofClose.Remove(ctx, collections.Join(c.ProofWindowCloseHeight, collections.Join(id, sup))),
		k.Proofs.Remove(ctx, collections.Join(id, sup)),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

func (k Keeper) submitProof(ctx context.Context, msg *types.MsgSubmitProof) error {
	h := height(ctx)
	hdr := msg.SessionHeader
	key := collections.Join(hdr.SessionId, msg.SupplierOperatorAddress)
	claim, err := k.Claims.Get(ctx, key)
	if errors.Is(err, collections.ErrNotFound) {
		return errorsmod.Wrapf(types.ErrClaimNotFound, "supplier %s has no claim for session %s", msg.SupplierOperatorAddress, hdr.SessionId)
	} else if err != nil {
		return err
	}
	if claim.SessionHeader != hdr {
		return errorsmod.Wrapf(types.ErrSessionMismatch, "proof for %s, claim is for %s", &hdr, &claim.SessionHeader)
	}
	rules, err := k.rulesOf(ctx, hdr)
	if err != nil {
		return err
	}
	w := rules.windows
	if h < w.ProofWindowOpen || h > w.ProofWindowClose {
		return errorsmod.Wrapf(types.ErrOutsideProofWindow, "proof window for session %s is heights %d-%d, current height %d", hdr.SessionId, w.ProofWindowOpen, w.ProofWindowClose, h)
	}
	if has, err := k.Proofs.Has(ctx, key); err != nil {
		return err
	} else if has {
		return errorsmod.Wrapf(types.ErrProofExists, "supplier %s already proved session %s", msg.SupplierOperatorAddress, hdr.SessionId)
	}
	seed, err := k.blockHash(ctx, w.ProofSeed)
	if err != nil {
		return err
	}
	if err := k.verifyProof(ctx, claim, rules, protocol.ProofPath(seed, hdr.SessionId), msg.Proof); err != nil {
		return err
	}
	if err := k.Proofs.Set(ctx, key, types.Proof{SupplierOperatorAddress: msg.SupplierOperatorAddress, SessionHeader: hdr, ClosestMerkleProof: msg.Proof}); err != nil {
		return err
	}
	return emit(ctx, &types.EventProofSubmitted{Claim: claim})
}

// verifyProof checks a closest proof against a claim: it verifies in the
// claimed trie for the seeded path, and its leaf is a relay of that session
// and supplier, keyed by its own hash, signed by both sides and minable.
func (k Keeper) verifyProof(ctx context.Context, claim types.Claim, rules sessionRules, path, proof []byte) error {
	// VerifyClosestProof also checks the leaf is stored under its relay's hash.
	leafValue, leafWeight, err := protocol.VerifyClosestProof(claim.RootHash, proof, path)
	switch {
	case errors.Is(err, protocol.ErrProofPathMismatch):
		return errorsmod.Wrap(types.ErrProofPathMismatch, err.Error())
	case err != nil:
		return errorsmod.Wrap(types.ErrInvalidProof, err.Error())
	}
	if leafWeight != rules.service.ComputeUnitsPerRelay {
		return errorsmod.Wrapf(types.ErrInvalidProof, "leaf weight %d, service %q has %d compute units per relay", leafWeight, rules.service.Id, rules.service.ComputeUnitsPerRelay)
	}
	relayHash := protocol.RelayHash(leafValue)
	var relay types.Relay
	if err := relay.Unmarshal(leafValue); err != nil {
		return errorsmod.Wrapf(types.ErrInvalidRelay, "leaf does not decode as a relay: %v", err)
	}
	if relay.Req == nil || relay.Res == nil {
		return errorsmod.Wrap(types.ErrInvalidRelay, "relay lacks its request or response")
	}
	hdr := claim.SessionHeader
	reqHdr, resHdr := relay.Req.Meta.SessionHeader, relay.Res.Meta.SessionHeader
	if reqHdr == nil || resHdr == nil || *reqHdr != hdr || *resHdr != hdr {
		return errorsmod.Wrapf(types.ErrRelaySessionMismatch, "relay is not of session %s", hdr.SessionId)
	}
	if relay.Req.Meta.SupplierOperatorAddress != claim.SupplierOperatorAddress {
		return errorsmod.Wrapf(types.ErrRelaySessionMismatch, "relay was addressed to supplier %q, not %s", relay.Req.Meta.SupplierOperatorAddress, claim.SupplierOperatorAddress)
	}
	appKey, err := k.pubKey(ctx, hdr.ApplicationAddress)
	if err != nil {
		return errorsmod.Wrap(types.ErrInvalidAppSignature, err.Error())
	}
	if err := protocol.VerifyRequestSignature(relay.Req, appKey); err != nil {
		return errorsmod.Wrapf(types.ErrInvalidAppSignature, "application %s: %v", hdr.ApplicationAddress, err)
	}
	supKey, err := k.pubKey(ctx, claim.SupplierOperatorAddress)
	if err != nil {
		return errorsmod.Wrap(types.ErrInvalidSupplierSignature, err.Error())
	}
	if err := protocol.VerifyResponseSignature(relay.Res, supKey); err != nil {
		return errorsmod.Wrapf(types.ErrInvalidSupplierSignature, "supplier %s: %v", claim.SupplierOperatorAddress, err)
	}
	target := protocol.DifficultyTarget(rules.params, hdr.ServiceId)
	if !protocol.IsMinable(relayHash, target) {
		return errorsmod.Wrapf(types.ErrRelayAboveDifficulty, "relay hash %x is above the target %x of service %q", relayHash, target, hdr.ServiceId)
	}
	return nil
}

func (k Keeper) pubKey(ctx context.Context, addr string) (cryptotypes.PubKey, error) {
	acc, err := sdk.AccAddressFromBech32(addr)
	if err != nil {
		return nil, err
	}
	a := k.accounts.GetAccount(ctx, acc)
	if a == nil || a.GetPubKey() == nil {
		return nil, fmt.Errorf("account %s has no public key on chain", addr)
	}
	return a.GetPubKey(), nil
}

// claimedTokens is what a claim is worth under its session's rules.
func claimedTokens(rules sessionRules, root protocol.Root) sdkmath.Int {
	return protocol.ClaimedTokens(root.Sum, rules.params.ComputeUnitsToTokensMultiplier,
		protocol.DifficultyTarget(rules.params, rules.service.Id))
}

// ProofRequired says whether a claim must be proven, and the height of the
// block whose hash decides it (an error until that block exists).
func (k Keeper) ProofRequired(ctx context.Context, c types.Claim) (bool, int64, error) {
	rules, err := k.rulesOf(ctx, c.SessionHeader)
	if err != nil {
		return false, 0, err
	}
	seedHeight := rules.windows.ProofSeed
	seed, err := k.blockHash(ctx, seedHeight)
	if err != nil {
		return false, seedHeight, errorsmod.Wrapf(err, "proof seed block %d not produced yet", seedHeight)
	}
	root, err := protocol.ParseRoot(c.RootHash)
	if err != nil {
		return false, seedHeight, errorsmod.Wrap(types.ErrInvalidRootHash, err.Error())
	}
	return protocol.ProofRequired(rules.params, claimedTokens(rules, root), seed, &c), seedHeight, nil
}

// settleClaims settles or expires every claim whose proof window closes at
// the current height.
func (k Keeper) settleClaims(ctx context.Context) error {
	h := height(ctx)
	iter, err := k.ClaimsByProofClose.Iterate(ctx, collections.NewPrefixedPairRange[int64, collections.Pair[string, string]](h))
	if err != nil {
		return err
	}
	keys, err := iter.Keys()
	if err != nil {
		return err
	}
	for _, key := range keys {
		claim, err := k.Claims.Get(ctx, key.K2())
		if err != nil {
			return err
		}
		// Each claim settles atomically; one that cannot be settled must not
		// halt the chain: it expires, with the reason in its event.
		cacheCtx, write := sdk.UnwrapSDKContext(ctx).CacheContext()
		if err := k.settleClaim(cacheCtx, claim); err == nil {
			write()
		} else {
			k.Logger(ctx).Error("claim could not be settled; expiring it", "session_id", claim.SessionHeader.SessionId,
				"supplier", claim.SupplierOperatorAddress, "service", claim.SessionHeader.ServiceId, "error", err)
			if err := emit(ctx, &types.EventClaimExpired{Claim: claim, Reason: "settlement failed: " + err.Error()}); err != nil {
				return err
			}
		}
		if err := k.removeClaim(ctx, claim); err != nil {
			return err
		}
	}
	return nil
}

func (k Keeper) settleClaim(ctx context.Context, claim types.Claim) error {
	logger := k.Logger(ctx).With("session_id", claim.SessionHeader.SessionId, "supplier", claim.SupplierOperatorAddress, "service", claim.SessionHeader.ServiceId)
	rules, err := k.rulesOf(ctx, claim.SessionHeader)
	if err != nil {
		return err
	}
	root, err := protocol.ParseRoot(claim.RootHash)
	if err != nil {
		return err
	}
	required, _, err := k.ProofRequired(ctx, claim)
	if err != nil {
		return err
	}
	proven, err := k.Proofs.Has(ctx, collections.Join(claim.SessionHeader.SessionId, claim.SupplierOperatorAddress))
	if err != nil {
		return err
	}
	if required && !proven {
		logger.Info("claim expired: required proof missing")
		if err := emit(ctx, &types.EventClaimExpired{Claim: claim, Reason: "required proof missing"}); err != nil {
			return err
		}
		return k.slashSupplier(ctx, claim)
	}
	app, err := k.Applications.Get(ctx, claim.SessionHeader.ApplicationAddress)
	if errors.Is(err, collections.ErrNotFound) {
		logger.Error("claim expired: application no longer staked")
		return emit(ctx, &types.EventClaimExpired{Claim: claim, Reason: "application no longer staked"})
	} else if err != nil {
		return err
	}
	owed := claimedTokens(rules, root)
	amount := sdkmath.MinInt(owed, app.Stake.Amount)
	capped := amount.LT(owed)
	app.Stake.Amount = app.Stake.Amount.Sub(amount)
	if err := k.Applications.Set(ctx, app.Address, app); err != nil {
		return err
	}
	paid := sdk.NewCoin(app.Stake.Denom, amount)
	if err := k.release(ctx, claim.SupplierOperatorAddress, paid); err != nil {
		return err
	}
	logger.Info("claim settled", "amount", paid.String(), "capped", capped, "proof_required", required)
	return emit(ctx, &types.EventClaimSettled{Claim: claim, ProofRequired: required, NumClaimedComputeUnits: root.Sum, Amount: paid, Capped: capped})
}

func (k Keeper) slashSupplier(ctx context.Context, claim types.Claim) error {
	s, err := k.Suppliers.Get(ctx, claim.SupplierOperatorAddress)
	if errors.Is(err, collections.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	p, err := k.GetParams(ctx)
	if err != nil {
		return err
	}
	penalty := sdk.NewCoin(s.Stake.Denom, sdkmath.MinInt(p.ProofMissingPenalty.Amount, s.Stake.Amount))
	if !penalty.IsPositive() {
		return nil
	}
	s.Stake = s.Stake.Sub(penalty)
	if err := k.Suppliers.Set(ctx, s.OperatorAddress, s); err != nil {
		return err
	}
	if err := k.bank.BurnCoins(ctx, types.ModuleName, sdk.NewCoins(penalty)); err != nil {
		return err
	}
	return emit(ctx, &types.EventSupplierSlashed{SupplierOperatorAddress: s.OperatorAddress, SessionId: claim.SessionHeader.SessionId, Penalty: penalty})
}

func supplierIn(list []types.Supplier, addr string) bool {
	for _, s := range list {
		if s.OperatorAddress == addr {
			return true
		}
	}
	return false
}
