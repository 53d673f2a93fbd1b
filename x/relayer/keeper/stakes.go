package keeper

import (
	"context"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"

	"github.com/pokt-network/poktroll/x/relayer/types"
)

// setApplication writes an application and records its stake amount at the
// current height in AppStakeHistory (the last write of a block wins).
// Every write of an application goes through here.
func (k Keeper) setApplication(ctx context.Context, app types.Application) error {
	if err := k.Applications.Set(ctx, app.Address, app); err != nil {
		return err
	}
	h := height(ctx)
	if err := k.AppStakeHistory.Set(ctx, collections.Join(app.Address, h), app.Stake.Amount); err != nil {
		return err
	}
	return k.pruneAppStakeHistory(ctx, app.Address, h)
}

// removeApplication deletes an application and its stake history.
func (k Keeper) removeApplication(ctx context.Context, addr string) error {
	if err := k.Applications.Remove(ctx, addr); err != nil {
		return err
	}
	return k.AppStakeHistory.Clear(ctx, collections.NewPrefixedPairRange[string, int64](addr))
}

// appStakeAt is the application's stake amount as of the end of block
// start-1: what the session starting at start is paid from. An application
// with no record before start (e.g. loaded from genesis at a later height)
// is taken at its current stake.
func (k Keeper) appStakeAt(ctx context.Context, app types.Application, start int64) (sdkmath.Int, error) {
	rng := collections.NewPrefixedPairRange[string, int64](app.Address).EndExclusive(start).Descending()
	iter, err := k.AppStakeHistory.Iterate(ctx, rng)
	if err != nil {
		return sdkmath.Int{}, err
	}
	defer iter.Close()
	if !iter.Valid() {
		return app.Stake.Amount, nil
	}
	return iter.Value()
}

// pruneAppStakeHistory forgets the records of addr no session that can
// still be settled needs: of those older than the span block hashes are
// kept for, only the newest stays (it is the stake at every later start
// until the next record).
func (k Keeper) pruneAppStakeHistory(ctx context.Context, addr string, h int64) error {
	p, err := k.GetParams(ctx)
	if err != nil {
		return err
	}
	keepFrom := h - 2*lifecycleSpan(p) - 1
	if keepFrom <= 0 {
		return nil
	}
	iter, err := k.AppStakeHistory.Iterate(ctx, collections.NewPrefixedPairRange[string, int64](addr).EndExclusive(keepFrom))
	if err != nil {
		return err
	}
	keys, err := iter.Keys()
	if err != nil {
		return err
	}
	for i := 0; i+1 < len(keys); i++ {
		if err := k.AppStakeHistory.Remove(ctx, keys[i]); err != nil {
			return err
		}
	}
	return nil
}
