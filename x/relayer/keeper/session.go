package keeper

import (
	"context"
	"errors"

	"cosmossdk.io/collections"
	"cosmossdk.io/collections/indexes"
	errorsmod "cosmossdk.io/errors"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// GetSession returns the session of an application for a service at height
// h: the current session or a past one whose proof window is still open.
// It is the one place the chain decides who may serve whom.
func (k Keeper) GetSession(ctx context.Context, appAddr, serviceID string, h int64) (types.Session, error) {
	cur := height(ctx)
	if h <= 0 {
		return types.Session{}, errorsmod.Wrapf(types.ErrInvalidHeight, "height %d is not positive", h)
	}
	if h > cur {
		return types.Session{}, errorsmod.Wrapf(types.ErrInvalidHeight, "height %d is in the future (current height %d)", h, cur)
	}
	if _, err := sdk.AccAddressFromBech32(appAddr); err != nil {
		return types.Session{}, errorsmod.Wrapf(types.ErrInvalidAddress, "application address %q: %v", appAddr, err)
	}
	if err := types.ValidateServiceID(serviceID); err != nil {
		return types.Session{}, err
	}
	p, err := k.ParamsAt(ctx, h)
	if err != nil {
		return types.Session{}, err
	}
	start := protocol.SessionStartHeight(p.NumBlocksPerSession, h)
	end := protocol.SessionEndHeight(p.NumBlocksPerSession, h)
	if pStart, err := k.ParamsAt(ctx, start); err == nil {
		p = pStart
	}
	if closeH := protocol.SessionWindows(p, end).ProofWindowClose; cur > closeH {
		return types.Session{}, errorsmod.Wrapf(types.ErrInvalidHeight, "session %d-%d of height %d closed its proof window at height %d (current height %d)", start, end, h, closeH, cur)
	}
	seed, err := k.blockHash(ctx, protocol.SessionSeedHeight(start))
	if err != nil {
		return types.Session{}, err
	}
	app, err := k.Applications.Get(ctx, appAddr)
	if errors.Is(err, collections.ErrNotFound) {
		return types.Session{}, errorsmod.Wrapf(types.ErrApplicationNotFound, "application %s is not staked", appAddr)
	} else if err != nil {
		return types.Session{}, err
	}
	if !protocol.ActiveAt(app.ActivationHeight, app.UnstakeSessionEndHeight, start) {
		return types.Session{}, errorsmod.Wrapf(types.ErrApplicationNotActive, "application %s is active from height %d (unstaked after %d); session starts at %d", appAddr, app.ActivationHeight, app.UnstakeSessionEndHeight, start)
	}
	if !containsString(app.ServiceIds, serviceID) {
		return types.Session{}, errorsmod.Wrapf(types.ErrApplicationNotForService, "application %s is not staked for service %q", appAddr, serviceID)
	}
	if _, err := k.ServiceAt(ctx, serviceID, start); err != nil {
		return types.Session{}, err
	}
	if app.Stake.Amount, err = k.appStakeAt(ctx, app, start); err != nil {
		return types.Session{}, err
	}
	sessionID := protocol.SessionID(seed, serviceID, appAddr, start)
	candidates, err := k.suppliersForService(ctx, serviceID, start)
	if err != nil {
		return types.Session{}, err
	}
	return types.Session{
		Header: types.SessionHeader{
			ApplicationAddress:      appAddr,
			ServiceId:               serviceID,
			SessionId:               sessionID,
			SessionStartBlockHeight: start,
			SessionEndBlockHeight:   end,
		},
		SessionNumber:       protocol.SessionNumber(p.NumBlocksPerSession, h),
		NumBlocksPerSession: int64(p.NumBlocksPerSession),
		Application:         app,
		Suppliers:           protocol.SelectSuppliers(sessionID, candidates, p.NumSuppliersPerSession),
	}, nil
}

// suppliersForService lists the suppliers of a service active at start.
func (k Keeper) suppliersForService(ctx context.Context, serviceID string, start int64) ([]types.Supplier, error) {
	iter, err := k.Suppliers.Indexes.Service.MatchExact(ctx, serviceID)
	if err != nil {
		return nil, err
	}
	var out []types.Supplier
	err = indexes.ScanValues(ctx, k.Suppliers, iter, func(s types.Supplier) bool {
		if protocol.ActiveAt(s.ActivationHeight, s.UnstakeSessionEndHeight, start) {
			out = append(out, s)
		}
		return false
	})
	return out, err
}

// blockHash returns the recorded hash of block h; height 0 (before the
// first block) has the empty hash.
func (k Keeper) blockHash(ctx context.Context, h int64) ([]byte, error) {
	if h <= 0 {
		return nil, nil
	}
	hash, err := k.BlockHashes.Get(ctx, h)
	if errors.Is(err, collections.ErrNotFound) {
		return nil, errorsmod.Wrapf(types.ErrBlockHashUnknown, "height %d", h)
	}
	return hash, err
}

// recordBlockHash stores the current block's hash and forgets the ones no
// session or proof can still need.
func (k Keeper) recordBlockHash(ctx context.Context) error {
	sdkCtx := sdk.UnwrapSDKContext(ctx)
	h := sdkCtx.BlockHeight()
	if err := k.BlockHashes.Set(ctx, h, sdkCtx.HeaderInfo().Hash); err != nil {
		return err
	}
	p, err := k.GetParams(ctx)
	if err != nil {
		return err
	}
	// The oldest hash still needed seeds a session whose proof window is
	// open: at most one session plus every offset back. Keep twice that, so
	// a later increase of the offsets still finds its hashes.
	if keepFrom := h - 2*lifecycleSpan(p) - 1; keepFrom > 0 {
		return k.BlockHashes.Clear(ctx, new(collections.Range[int64]).EndExclusive(keepFrom))
	}
	return nil
}

// lifecycleSpan is one session plus every window after it: how far back a
// session that can still be settled started.
func lifecycleSpan(p types.Params) int64 {
	return int64(p.NumBlocksPerSession) + protocol.SessionWindows(p, 0).ProofWindowClose
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
