package keeper

import (
	"context"

	"cosmossdk.io/collections"

	"github.com/pokt-network/poktroll/x/relayer/types"
)

// InitGenesis loads the module state. Genesis applications and suppliers are
// active from the first block; their stakes must already be in the module
// account (add them to the bank genesis balances of the module account).
func (k Keeper) InitGenesis(ctx context.Context, gs types.GenesisState) error {
	if err := k.SetParams(ctx, gs.Params); err != nil {
		return err
	}
	for _, s := range gs.Services {
		if err := k.setService(ctx, s); err != nil {
			return err
		}
	}
	for _, a := range gs.Applications {
		if err := k.setApplication(ctx, a); err != nil {
			return err
		}
	}
	for _, s := range gs.Suppliers {
		if err := k.setSupplier(ctx, s); err != nil {
			return err
		}
	}
	for _, c := range gs.Claims {
		if err := k.Claims.Set(ctx, claimKey(c), c); err != nil {
			return err
		}
	}
	for _, b := range gs.BlockHashes {
		if err := k.BlockHashes.Set(ctx, b.Height, b.Hash); err != nil {
			return err
		}
	}
	for _, p := range gs.Proofs {
		if err := k.Proofs.Set(ctx, collections.Join(p.SessionHeader.SessionId, p.SupplierOperatorAddress), p); err != nil {
			return err
		}
	}
	return nil
}

// ExportGenesis writes the module state out.
func (k Keeper) ExportGenesis(ctx context.Context) (*types.GenesisState, error) {
	p, err := k.GetParams(ctx)
	if err != nil {
		return nil, err
	}
	gs := &types.GenesisState{Params: p}
	if err := k.Services.Walk(ctx, nil, func(_ string, s types.Service) (bool, error) {
		gs.Services = append(gs.Services, s)
		return false, nil
	}); err != nil {
		return nil, err
	}
	if err := k.Applications.Walk(ctx, nil, func(_ string, a types.Application) (bool, error) {
		gs.Applications = append(gs.Applications, a)
		return false, nil
	}); err != nil {
		return nil, err
	}
	if err := k.Suppliers.Walk(ctx, nil, func(_ string, s types.Supplier) (bool, error) {
		gs.Suppliers = append(gs.Suppliers, s)
		return false, nil
	}); err != nil {
		return nil, err
	}
	if err := k.Claims.Walk(ctx, nil, func(_ collections.Pair[string, string], c types.Claim) (bool, error) {
		gs.Claims = append(gs.Claims, c)
		return false, nil
	}); err != nil {
		return nil, err
	}
	if err := k.Proofs.Walk(ctx, nil, func(_ collections.Pair[string, string], p types.Proof) (bool, error) {
		gs.Proofs = append(gs.Proofs, p)
		return false, nil
	}); err != nil {
		return nil, err
	}
	if err := k.BlockHashes.Walk(ctx, nil, func(h int64, hash []byte) (bool, error) {
		gs.BlockHashes = append(gs.BlockHashes, types.BlockHash{Height: h, Hash: hash})
		return false, nil
	}); err != nil {
		return nil, err
	}
	return gs, nil
}
