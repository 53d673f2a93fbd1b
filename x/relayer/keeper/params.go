package keeper

import (
	"context"
	"errors"

	"cosmossdk.io/collections"
	errorsmod "cosmossdk.io/errors"

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
	return k.SetParams(ctx, p)
}
