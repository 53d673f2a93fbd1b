package keeper

import (
	"context"
	"errors"

	"cosmossdk.io/collections"
	errorsmod "cosmossdk.io/errors"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// GetParams returns the params in force now.
func (k Keeper) GetParams(ctx context.Context) (types.Params, error) {
	return k.ParamsAt(ctx, height(ctx))
}

// ParamsAt returns the params in force at height h: the last ones written at
// or before h. Sessions read their windows, difficulty and prices from the
// params in force at their start height, so a change never moves a session
// that already started.
func (k Keeper) ParamsAt(ctx context.Context, h int64) (types.Params, error) {
	iter, err := k.ParamsHistory.Iterate(ctx, new(collections.Range[int64]).EndInclusive(h).Descending())
	if err != nil {
		return types.Params{}, err
	}
	defer iter.Close()
	if !iter.Valid() {
		return types.Params{}, errorsmod.Wrapf(types.ErrInvalidParams, "no params recorded at or before height %d", h)
	}
	return iter.Value()
}

// SetParams records p as in force from the current height on.
func (k Keeper) SetParams(ctx context.Context, p types.Params) error {
	if err := p.Validate(); err != nil {
		return err
	}
	return k.ParamsHistory.Set(ctx, height(ctx), p)
}

// updateParams applies governance's new params, refusing to re-tile sessions.
func (k Keeper) updateParams(ctx context.Context, p types.Params) error {
	cur, err := k.GetParams(ctx)
	if err != nil && !errors.Is(err, types.ErrInvalidParams) {
		return err
	}
	if err == nil && cur.NumBlocksPerSession != p.NumBlocksPerSession {
		return errorsmod.Wrapf(types.ErrParamImmutable, "num_blocks_per_session is %d; it cannot become %d", cur.NumBlocksPerSession, p.NumBlocksPerSession)
	}
	if err == nil && cur.StakeDenom() != p.StakeDenom() {
		return errorsmod.Wrapf(types.ErrParamImmutable, "stake denom is %q; it cannot become %q", cur.StakeDenom(), p.StakeDenom())
	}
	if err == nil {
		if err := k.checkSettlementOrder(ctx, p); err != nil {
			return err
		}
	}
	return k.SetParams(ctx, p)
}

// checkSettlementOrder refuses params under which the first session to use
// them would settle before the last session that does not: unbonding
// returns a stake when the actor's last session settles, which must then
// be after every session it took part in. Sessions N blocks apart keep
// their order as long as the lifecycle span (grace, claim and proof
// offsets) shrinks by at most N.
func (k Keeper) checkSettlementOrder(ctx context.Context, p types.Params) error {
	h := height(ctx)
	if h < 2 {
		return nil
	}
	lastOld, err := k.ParamsAt(ctx, protocol.SessionStartHeight(p.NumBlocksPerSession, h-1))
	if err != nil {
		return err
	}
	oldSpan, newSpan := lifecycleSpan(lastOld)-int64(lastOld.NumBlocksPerSession), lifecycleSpan(p)-int64(p.NumBlocksPerSession)
	if newSpan < oldSpan-int64(p.NumBlocksPerSession) {
		return errorsmod.Wrapf(types.ErrInvalidParams, "the grace, claim and proof offsets would shrink from %d to %d blocks in all, "+
			"more than one session (%d): a later session would settle before an earlier one", oldSpan, newSpan, p.NumBlocksPerSession)
	}
	return nil
}
