package keeper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

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
//
// Each claim is first judged alone: expired (a required proof missing, the
// application gone, an error), or payable its worth capped at the
// supplier's share (protocol.ClaimPayable). The payable claims are then
// paid per application, applications in address order and claims in key
// order: when an application's claims ask for more than its stake still
// holds, each is paid the same fraction of it (protocol.ProRata) and
// EventApplicationOverserviced says so. What a claim is paid thus depends
// neither on its key nor on the other claims' order.
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
	var payable []payableClaim
	for _, claim := range claims {
		// Each claim is judged (and expired, slashed) atomically; one that
		// cannot be settled must not halt the chain: it expires, with the
		// reason in its event.
		cacheCtx, write := sdk.UnwrapSDKContext(ctx).CacheContext()
		pc, ok, err := k.judgeClaim(cacheCtx, claim)
		if err == nil {
			write()
			if ok {
				payable = append(payable, pc)
			}
		} else if err := k.expireUnsettleable(ctx, claim, err); err != nil {
			return err
		}
	}
	if err := k.payClaims(ctx, payable); err != nil {
		return err
	}
	for _, claim := range claims {
		if err := k.removeClaim(ctx, claim); err != nil {
			return err
		}
	}
	return nil
}

// expireUnsettleable expires a claim that could not be settled.
func (k Keeper) expireUnsettleable(ctx context.Context, claim types.Claim, err error) error {
	k.Logger(ctx).Error("claim could not be settled; expiring it", "session_id", claim.SessionHeader.SessionId,
		"supplier", claim.SupplierOperatorAddress, "service", claim.SessionHeader.ServiceId, "error", err)
	return emit(ctx, &types.EventClaimExpired{Claim: claim, Reason: "settlement failed: " + err.Error()})
}

// payableClaim is a claim to be paid: what it is worth, the supplier's
// share, and what it may be paid before the stake is looked at.
type payableClaim struct {
	claim    types.Claim
	root     protocol.Root
	required bool
	owed     sdkmath.Int
	share    sdkmath.Int
	payable  sdkmath.Int
}

// judgeClaim expires a claim whose required proof is missing (and slashes
// its supplier) or whose application is gone, and otherwise says what it
// is worth and may be paid: ok is false for an expired claim.
func (k Keeper) judgeClaim(ctx context.Context, claim types.Claim) (pc payableClaim, ok bool, err error) {
	logger := k.Logger(ctx).With("session_id", claim.SessionHeader.SessionId, "supplier", claim.SupplierOperatorAddress, "service", claim.SessionHeader.ServiceId)
	rules, err := k.rulesOf(ctx, claim.SessionHeader)
	if err != nil {
		return pc, false, err
	}
	root, err := protocol.ParseRoot(claim.RootHash)
	if err != nil {
		return pc, false, err
	}
	required, _, err := k.ProofRequired(ctx, claim)
	if err != nil {
		return pc, false, err
	}
	proven, err := k.Proofs.Has(ctx, claimKey(claim))
	if err != nil {
		return pc, false, err
	}
	if required && !proven {
		logger.Info("claim expired: required proof missing")
		if err := emit(ctx, &types.EventClaimExpired{Claim: claim, Reason: "required proof missing"}); err != nil {
			return pc, false, err
		}
		return pc, false, k.slashSupplier(ctx, claim, rules.params)
	}
	if has, err := k.Applications.Has(ctx, claim.SessionHeader.ApplicationAddress); err != nil {
		return pc, false, err
	} else if !has {
		logger.Error("claim expired: application no longer staked")
		return pc, false, emit(ctx, &types.EventClaimExpired{Claim: claim, Reason: "application no longer staked"})
	}
	hdr := claim.SessionHeader
	session, err := k.GetSession(ctx, hdr.ApplicationAddress, hdr.ServiceId, hdr.SessionStartBlockHeight)
	if err != nil {
		return pc, false, err
	}
	// A supplier is paid at most its share of the stake the application
	// had at the session's start, and never more than is left of it.
	share := protocol.SupplierShare(session.Application.Stake.Amount, len(session.Suppliers))
	owed := claimedTokens(rules, root)
	return payableClaim{claim: claim, root: root, required: required, owed: owed, share: share,
		payable: protocol.ClaimPayable(owed, share)}, true, nil
}

// payClaims pays the payable claims settling in this block out of their
// applications' stakes, pro rata when a stake cannot pay them all.
func (k Keeper) payClaims(ctx context.Context, claims []payableClaim) error {
	byApp := map[string][]payableClaim{}
	var apps []string
	for _, pc := range claims {
		a := pc.claim.SessionHeader.ApplicationAddress
		if _, seen := byApp[a]; !seen {
			apps = append(apps, a)
		}
		byApp[a] = append(byApp[a], pc)
	}
	slices.Sort(apps)
	for _, addr := range apps {
		group := byApp[addr]
		slices.SortFunc(group, func(a, b payableClaim) int {
			if c := strings.Compare(a.claim.SessionHeader.SessionId, b.claim.SessionHeader.SessionId); c != 0 {
				return c
			}
			return strings.Compare(a.claim.SupplierOperatorAddress, b.claim.SupplierOperatorAddress)
		})
		if err := k.payApplicationClaims(ctx, addr, group); err != nil {
			return err
		}
	}
	return nil
}

// payApplicationClaims pays one application's claims settling together.
func (k Keeper) payApplicationClaims(ctx context.Context, addr string, group []payableClaim) error {
	app, err := k.Applications.Get(ctx, addr)
	if err != nil {
		return err
	}
	denom := app.Stake.Denom
	payable := make([]sdkmath.Int, len(group))
	for i, pc := range group {
		payable[i] = pc.payable
	}
	available := app.Stake.Amount
	amounts, short := protocol.ProRata(payable, available)
	total := sdkmath.ZeroInt()
	for i, pc := range group {
		// Each payment is atomic: one that fails expires its claim only.
		cacheCtx, write := sdk.UnwrapSDKContext(ctx).CacheContext()
		if err := k.payClaim(cacheCtx, pc, amounts[i], short); err != nil {
			if err := k.expireUnsettleable(ctx, pc.claim, err); err != nil {
				return err
			}
			continue
		}
		write()
		total = total.Add(amounts[i])
	}
	if !short {
		return nil
	}
	claimed := sdkmath.ZeroInt()
	ids := make([]string, 0, len(group))
	for _, pc := range group {
		claimed = claimed.Add(pc.payable)
		if !slices.Contains(ids, pc.claim.SessionHeader.SessionId) {
			ids = append(ids, pc.claim.SessionHeader.SessionId)
		}
	}
	k.Logger(ctx).Info("application over-serviced: its claims are paid pro rata", "application", addr,
		"claimed", claimed.String(), "available", available.String(), "paid", total.String(), "claims", len(group), "sessions", ids)
	return emit(ctx, &types.EventApplicationOverserviced{ApplicationAddress: addr, Claimed: sdk.NewCoin(denom, claimed),
		Available: sdk.NewCoin(denom, available), Paid: sdk.NewCoin(denom, total), SessionIds: ids, NumClaims: uint64(len(group))})
}

// payClaim pays one claim amount out of its application's stake.
func (k Keeper) payClaim(ctx context.Context, pc payableClaim, amount sdkmath.Int, prorated bool) error {
	claim := pc.claim
	logger := k.Logger(ctx).With("session_id", claim.SessionHeader.SessionId, "supplier", claim.SupplierOperatorAddress, "service", claim.SessionHeader.ServiceId)
	app, err := k.Applications.Get(ctx, claim.SessionHeader.ApplicationAddress)
	if err != nil {
		return err
	}
	amount = sdkmath.MinInt(amount, app.Stake.Amount)
	capped := amount.LT(pc.owed)
	app.Stake.Amount = app.Stake.Amount.Sub(amount)
	if err := k.setApplication(ctx, app); err != nil {
		return err
	}
	denom := app.Stake.Denom
	paid := sdk.NewCoin(denom, amount)
	if err := k.release(ctx, claim.SupplierOperatorAddress, paid); err != nil {
		return err
	}
	excess := sdk.NewCoin(denom, pc.owed.Sub(amount))
	logger.Info("claim settled", "amount", paid.String(), "capped", capped, "excess", excess.String(), "prorated", prorated, "proof_required", pc.required)
	return emit(ctx, &types.EventClaimSettled{Claim: claim, ProofRequired: pc.required, NumClaimedComputeUnits: pc.root.Sum,
		Amount: paid, Capped: capped, Excess: excess, Share: sdk.NewCoin(denom, pc.share)})
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
