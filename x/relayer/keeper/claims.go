package keeper

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"cosmossdk.io/collections"
	"cosmossdk.io/collections/indexes"
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
	if !w.InClaimWindow(h) {
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
	if err := k.Claims.Set(ctx, key, claim); err != nil {
		return err
	}
	return emit(ctx, &types.EventClaimCreated{Claim: claim, NumRelays: root.Count, NumClaimedComputeUnits: root.Sum})
}

// claimKey is the key of a claim and of its proof: (session id, supplier).
func claimKey(c types.Claim) collections.Pair[string, string] {
	return collections.Join(c.SessionHeader.SessionId, c.SupplierOperatorAddress)
}

// removeClaim deletes a claim (its index entries go with it) and its proof.
func (k Keeper) removeClaim(ctx context.Context, c types.Claim) error {
	if err := k.Claims.Remove(ctx, claimKey(c)); err != nil {
		return err
	}
	return k.Proofs.Remove(ctx, claimKey(c))
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
	if !w.InProofWindow(h) {
		return errorsmod.Wrapf(types.ErrOutsideProofWindow, "proof window for session %s is heights %d-%d, current height %d", hdr.SessionId, w.ProofWindowOpen, w.ProofWindowClose, h)
	}
	if has, err := k.Proofs.Has(ctx, key); err != nil {
		return err
	} else if has {
		return errorsmod.Wrapf(types.ErrProofExists, "supplier %s already proved session %s", msg.SupplierOperatorAddress, hdr.SessionId)
	}
	if want := rules.params.NumProofsPerClaim; uint64(len(msg.Proofs)) != want {
		return errorsmod.Wrapf(types.ErrWrongProofCount, "session %s needs %d leaf proofs, got %d", hdr.SessionId, want, len(msg.Proofs))
	}
	proofSeed, err := k.blockHash(ctx, w.ProofSeed)
	if err != nil {
		return err
	}
	claimSeed, err := k.blockHash(ctx, w.ClaimSeed)
	if err != nil {
		return err
	}
	root, err := protocol.ParseRoot(claim.RootHash)
	if err != nil {
		return errorsmod.Wrap(types.ErrInvalidRootHash, err.Error())
	}
	points := protocol.ProofPoints(proofSeed, hdr.SessionId, claim.SupplierOperatorAddress, root.Sum, uint64(len(msg.Proofs)))
	for i := range msg.Proofs {
		if err := k.verifyLeafProof(ctx, claim, rules, claimSeed, points[i], &msg.Proofs[i]); err != nil {
			return errorsmod.Wrapf(err, "proofs[%d] (point %d of %d)", i, points[i], root.Sum)
		}
	}
	if err := k.Proofs.Set(ctx, key, types.Proof{SupplierOperatorAddress: msg.SupplierOperatorAddress, SessionHeader: hdr, LeafProofs: msg.Proofs}); err != nil {
		return err
	}
	return emit(ctx, &types.EventProofSubmitted{Claim: claim})
}

// verifyLeafProof checks one leaf proof of a claim: it opens, in the claimed
// trie, the leaf holding the drawn point; that leaf is the canonical compact
// encoding of a relay of the claim's session and supplier, on its request's
// key, signed by both sides, answered (no relay error) by a response bound to
// that request, and minable under the claim seed.
func (k Keeper) verifyLeafProof(ctx context.Context, claim types.Claim, rules sessionRules, claimSeed []byte, point uint64, proof *types.LeafProof) error {
	relay, err := protocol.VerifyLeafProof(claim.RootHash, point, rules.service.ComputeUnitsPerRelay, proof)
	switch {
	case errors.Is(err, protocol.ErrLeafNotCanonical):
		return errorsmod.Wrap(types.ErrRelayNotCanonical, err.Error())
	case errors.Is(err, protocol.ErrLeafMalformed):
		return errorsmod.Wrap(types.ErrInvalidRelay, err.Error())
	case errors.Is(err, protocol.ErrProofPointOutside):
		return errorsmod.Wrap(types.ErrProofPointMismatch, err.Error())
	case err != nil:
		return errorsmod.Wrap(types.ErrInvalidProof, err.Error())
	}
	hdr := claim.SessionHeader
	reqHdr, resHdr := relay.Req.Meta.SessionHeader, relay.Res.Meta.SessionHeader
	if reqHdr == nil || resHdr == nil || *reqHdr != hdr || *resHdr != hdr {
		return errorsmod.Wrapf(types.ErrRelaySessionMismatch, "relay is not of session %s", hdr.SessionId)
	}
	if relay.Req.Meta.SupplierOperatorAddress != claim.SupplierOperatorAddress {
		return errorsmod.Wrapf(types.ErrRelaySessionMismatch, "relay was addressed to supplier %q, not %s", relay.Req.Meta.SupplierOperatorAddress, claim.SupplierOperatorAddress)
	}
	if n := len(relay.Req.Meta.Nonce); n > protocol.MaxNonceSize {
		return errorsmod.Wrapf(types.ErrInvalidRelay, "nonce of %d bytes, at most %d", n, protocol.MaxNonceSize)
	}
	if relay.Res.Error != nil {
		return errorsmod.Wrapf(types.ErrRelayRefused, "response carries %s error %d", relay.Res.Error.Codespace, relay.Res.Error.Code)
	}
	relayKey, err := protocol.RelayKey(relay.Req)
	if err != nil {
		return errorsmod.Wrap(types.ErrInvalidRelay, err.Error())
	}
	if !bytes.Equal(relay.Res.Meta.RelayKey, relayKey) {
		return errorsmod.Wrapf(types.ErrRelayResponseMismatch, "response answers request %x, leaf holds request %x", relay.Res.Meta.RelayKey, relayKey)
	}
	appKey, err := k.pubKey(ctx, hdr.ApplicationAddress)
	if err != nil {
		return errorsmod.Wrap(types.ErrInvalidAppSignature, err.Error())
	}
	if err := protocol.VerifySignature("relay request", relayKey, relay.Req.Meta.Signature, appKey); err != nil {
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
	if !protocol.IsMinable(claimSeed, relayKey, target) {
		return errorsmod.Wrapf(types.ErrRelayAboveDifficulty, "relay %x is not minable under target %x of service %q", relayKey, target, hdr.ServiceId)
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
	iter, err := k.Claims.Indexes.ProofClose.MatchExact(ctx, h)
	if err != nil {
		return err
	}
	// All of them are read before any is removed: the index is not
	// iterated while it changes.
	claims, err := indexes.CollectValues(ctx, k.Claims, iter)
	if err != nil {
		return err
	}
	for _, claim := range claims {
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
	proven, err := k.Proofs.Has(ctx, claimKey(claim))
	if err != nil {
		return err
	}
	if required && !proven {
		logger.Info("claim expired: required proof missing")
		if err := emit(ctx, &types.EventClaimExpired{Claim: claim, Reason: "required proof missing"}); err != nil {
			return err
		}
		return k.slashSupplier(ctx, claim, rules.params)
	}
	app, err := k.Applications.Get(ctx, claim.SessionHeader.ApplicationAddress)
	if errors.Is(err, collections.ErrNotFound) {
		logger.Error("claim expired: application no longer staked")
		return emit(ctx, &types.EventClaimExpired{Claim: claim, Reason: "application no longer staked"})
	} else if err != nil {
		return err
	}
	hdr := claim.SessionHeader
	session, err := k.GetSession(ctx, hdr.ApplicationAddress, hdr.ServiceId, hdr.SessionStartBlockHeight)
	if err != nil {
		return err
	}
	// A supplier is paid at most its share of the stake the application
	// had at the session's start, and never more than is left of it.
	share := protocol.SupplierShare(session.Application.Stake.Amount, len(session.Suppliers))
	owed := claimedTokens(rules, root)
	amount := sdkmath.MinInt(sdkmath.MinInt(owed, share), app.Stake.Amount)
	capped := amount.LT(owed)
	app.Stake.Amount = app.Stake.Amount.Sub(amount)
	if err := k.setApplication(ctx, app); err != nil {
		return err
	}
	denom := app.Stake.Denom
	paid := sdk.NewCoin(denom, amount)
	if err := k.release(ctx, claim.SupplierOperatorAddress, paid); err != nil {
		return err
	}
	excess := sdk.NewCoin(denom, owed.Sub(amount))
	logger.Info("claim settled", "amount", paid.String(), "capped", capped, "excess", excess.String(), "proof_required", required)
	return emit(ctx, &types.EventClaimSettled{Claim: claim, ProofRequired: required, NumClaimedComputeUnits: root.Sum,
		Amount: paid, Capped: capped, Excess: excess, Share: sdk.NewCoin(denom, share)})
}

// slashSupplier burns the missing-proof penalty of the claim's session
// params from the supplier's stake.
func (k Keeper) slashSupplier(ctx context.Context, claim types.Claim, p types.Params) error {
	s, err := k.Suppliers.Get(ctx, claim.SupplierOperatorAddress)
	if errors.Is(err, collections.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	penalty := sdk.NewCoin(s.Stake.Denom, sdkmath.MinInt(p.ProofMissingPenalty.Amount, s.Stake.Amount))
	if !penalty.IsPositive() {
		return nil
	}
	s.Stake = s.Stake.Sub(penalty)
	if err := k.setSupplier(ctx, s); err != nil {
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
