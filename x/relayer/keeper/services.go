package keeper

import (
	"context"

	"cosmossdk.io/collections"
	errorsmod "cosmossdk.io/errors"

	"github.com/pokt-network/poktroll/x/relayer/types"
)

// ServiceAt returns service id as it was at height h.
func (k Keeper) ServiceAt(ctx context.Context, id string, h int64) (types.Service, error) {
	rng := collections.NewPrefixedPairRange[string, int64](id).EndInclusive(h).Descending()
	iter, err := k.ServiceHistory.Iterate(ctx, rng)
	if err != nil {
		return types.Service{}, err
	}
	defer iter.Close()
	if !iter.Valid() {
		return types.Service{}, errorsmod.Wrapf(types.ErrServiceNotFound, "service %q did not exist at height %d", id, h)
	}
	return iter.Value()
}

// setService writes the current version of a service and records it in the
// history at the current height.
func (k Keeper) setService(ctx context.Context, s types.Service) error {
	if err := k.Services.Set(ctx, s.Id, s); err != nil {
		return err
	}
	return k.ServiceHistory.Set(ctx, collections.Join(s.Id, height(ctx)), s)
}

// requireServices fails with ErrServiceNotFound naming the first unknown id.
func (k Keeper) requireServices(ctx context.Context, ids []string) error {
	for _, id := range ids {
		ok, err := k.Services.Has(ctx, id)
		if err != nil {
			return err
		}
		if !ok {
			return errorsmod.Wrapf(types.ErrServiceNotFound, "service %q", id)
		}
	}
	return nil
}
