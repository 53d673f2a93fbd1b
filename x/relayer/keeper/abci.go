package keeper

import "context"

// BeginBlocker records the block hash that seeds session ids and proof paths.
func (k Keeper) BeginBlocker(ctx context.Context) error {
	return k.recordBlockHash(ctx)
}

// EndBlocker settles claims whose proof window closes now, then completes
// unbonding (an actor leaving now has had its last claims settled first).
func (k Keeper) EndBlocker(ctx context.Context) error {
	if err := k.settleClaims(ctx); err != nil {
		return err
	}
	return k.completeUnbonding(ctx)
}
