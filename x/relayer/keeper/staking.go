package keeper

import (
	"context"

	"cosmossdk.io/collections"
	errorsmod "cosmossdk.io/errors"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// Staking rules shared by applications and suppliers:
//   - a new stake takes part in sessions from the next session start on, so
//     a running session's membership never changes;
//   - services are fixed for the life of a stake (unstake and stake again
//     to change them); add-stake only raises the amount;
//   - unstaking keeps the actor in sessions until the end of the current one,
//     and returns the stake when that session's proof window closes, after
//     its claims are settled.

// checkStake checks denom and minimum.
func checkStake(p types.Params, stake, minimum sdk.Coin) error {
	if stake.Denom != p.StakeDenom() {
		return errorsmod.Wrapf(types.ErrInvalidStake, "stake denom %q, want %q", stake.Denom, p.StakeDenom())
	}
	if stake.IsLT(minimum) {
		return errorsmod.Wrapf(types.ErrStakeBelowMinimum, "stake %s is below the minimum %s", stake, minimum)
	}
	return nil
}

// escrow moves coins from an account into the module account.
func (k Keeper) escrow(ctx context.Context, addr string, c sdk.Coin) error {
	acc, err := sdk.AccAddressFromBech32(addr)
	if err != nil {
		return errorsmod.Wrapf(types.ErrInvalidAddress, "%q: %v", addr, err)
	}
	return k.bank.SendCoinsFromAccountToModule(ctx, acc, types.ModuleName, sdk.NewCoins(c))
}

// release moves coins from the module account to an account.
func (k Keeper) release(ctx context.Context, addr string, c sdk.Coin) error {
	if !c.IsPositive() {
		return nil
	}
	acc, err := sdk.AccAddressFromBech32(addr)
	if err != nil {
		return err
	}
	return k.bank.SendCoinsFromModuleToAccount(ctx, types.ModuleName, acc, sdk.NewCoins(c))
}

// nextSessionStart is the first height of the session after the current one.
func nextSessionStart(p types.Params, h int64) int64 {
	return protocol.SessionEndHeight(p.NumBlocksPerSession, h) + 1
}

// unbondingSchedule says when an actor unstaking now leaves sessions (the end
// of the current session) and when its stake comes back (that session's
// proof window close).
func (k Keeper) unbondingSchedule(ctx context.Context) (sessionEnd, completion int64, err error) {
	h := height(ctx)
	p, err := k.GetParams(ctx)
	if err != nil {
		return 0, 0, err
	}
	start := protocol.SessionStartHeight(p.NumBlocksPerSession, h)
	pStart, err := k.ParamsAt(ctx, start)
	if err != nil {
		return 0, 0, err
	}
	sessionEnd = protocol.SessionEndHeight(p.NumBlocksPerSession, h)
	return sessionEnd, protocol.SessionWindows(pStart, sessionEnd).ProofWindowClose, nil
}

// activeAt says whether an actor with these heights takes part in the
// session starting at start.
func activeAt(activation, unstakeSessionEnd, start int64) bool {
	return activation <= start && (unstakeSessionEnd == 0 || start <= unstakeSessionEnd)
}

func (k Keeper) stakeApplication(ctx context.Context, msg *types.MsgStakeApplication) (types.Application, error) {
	p, err := k.GetParams(ctx)
	if err != nil {
		return types.Application{}, err
	}
	if app, err := k.Applications.Get(ctx, msg.Address); err == nil {
		if app.UnstakeSessionEndHeight != 0 {
			return types.Application{}, errorsmod.Wrapf(types.ErrApplicationUnbonding, "application %s is unbonding; stake again after it completes", msg.Address)
		}
		return types.Application{}, errorsmod.Wrapf(types.ErrApplicationAlreadyStaked, "application %s (use add-application-stake to raise its stake)", msg.Address)
	}
	if err := checkStake(p, msg.Stake, p.MinApplicationStake); err != nil {
		return types.Application{}, err
	}
	if err := k.requireServices(ctx, msg.ServiceIds); err != nil {
		return types.Application{}, err
	}
	if err := k.escrow(ctx, msg.Address, msg.Stake); err != nil {
		return types.Application{}, err
	}
	app := types.Application{
		Address:          msg.Address,
		Stake:            msg.Stake,
		ServiceIds:       msg.ServiceIds,
		ActivationHeight: nextSessionStart(p, height(ctx)),
	}
	return app, k.setApplication(ctx, app)
}

func (k Keeper) addApplicationStake(ctx context.Context, msg *types.MsgAddApplicationStake) (types.Application, error) {
	app, err := k.Applications.Get(ctx, msg.Address)
	if err != nil {
		return app, errorsmod.Wrapf(types.ErrApplicationNotFound, "application %s", msg.Address)
	}
	if app.UnstakeSessionEndHeight != 0 {
		return app, errorsmod.Wrapf(types.ErrApplicationUnbonding, "application %s is unbonding", msg.Address)
	}
	if msg.Amount.Denom != app.Stake.Denom {
		return app, errorsmod.Wrapf(types.ErrInvalidStake, "amount denom %q, want %q", msg.Amount.Denom, app.Stake.Denom)
	}
	if err := k.escrow(ctx, msg.Address, msg.Amount); err != nil {
		return app, err
	}
	app.Stake = app.Stake.Add(msg.Amount)
	return app, k.setApplication(ctx, app)
}

func (k Keeper) unstakeApplication(ctx context.Context, addr string) (types.Application, int64, error) {
	app, err := k.Applications.Get(ctx, addr)
	if err != nil {
		return app, 0, errorsmod.Wrapf(types.ErrApplicationNotFound, "application %s", addr)
	}
	if app.UnstakeSessionEndHeight != 0 {
		return app, 0, errorsmod.Wrapf(types.ErrApplicationUnbonding, "application %s is already unbonding", addr)
	}
	sessionEnd, completion, err := k.unbondingSchedule(ctx)
	if err != nil {
		return app, 0, err
	}
	app.UnstakeSessionEndHeight = sessionEnd
	if err := k.Applications.Set(ctx, addr, app); err != nil {
		return app, 0, err
	}
	return app, completion, k.AppUnbonding.Set(ctx, collections.Join(completion, addr))
}

func (k Keeper) stakeSupplier(ctx context.Context, msg *types.MsgStakeSupplier) (types.Supplier, error) {
	p, err := k.GetParams(ctx)
	if err != nil {
		return types.Supplier{}, err
	}
	if s, err := k.Suppliers.Get(ctx, msg.OperatorAddress); err == nil {
		if s.UnstakeSessionEndHeight != 0 {
			return types.Supplier{}, errorsmod.Wrapf(types.ErrSupplierUnbonding, "supplier %s is unbonding; stake again after it completes", msg.OperatorAddress)
		}
		return types.Supplier{}, errorsmod.Wrapf(types.ErrSupplierAlreadyStaked, "supplier %s (use add-supplier-stake to raise its stake)", msg.OperatorAddress)
	}
	if err := checkStake(p, msg.Stake, p.MinSupplierStake); err != nil {
		return types.Supplier{}, err
	}
	ids := make([]string, len(msg.Services))
	for i, s := range msg.Services {
		ids[i] = s.ServiceId
	}
	if err := k.requireServices(ctx, ids); err != nil {
		return types.Supplier{}, err
	}
	if err := k.escrow(ctx, msg.OperatorAddress, msg.Stake); err != nil {
		return types.Supplier{}, err
	}
	s := types.Supplier{
		OperatorAddress:  msg.OperatorAddress,
		Stake:            msg.Stake,
		Services:         msg.Services,
		ActivationHeight: nextSessionStart(p, height(ctx)),
	}
	return s, k.setSupplier(ctx, s)
}

// setSupplier writes a supplier and its service index entries.
func (k Keeper) setSupplier(ctx context.Context, s types.Supplier) error {
	for _, svc := range s.Services {
		if err := k.SupplierServices.Set(ctx, collections.Join(svc.ServiceId, s.OperatorAddress)); err != nil {
			return err
		}
	}
	return k.Suppliers.Set(ctx, s.OperatorAddress, s)
}

func (k Keeper) addSupplierStake(ctx context.Context, msg *types.MsgAddSupplierStake) (types.Supplier, error) {
	s, err := k.Suppliers.Get(ctx, msg.OperatorAddress)
	if err != nil {
		return s, errorsmod.Wrapf(types.ErrSupplierNotFound, "supplier %s", msg.OperatorAddress)
	}
	if s.UnstakeSessionEndHeight != 0 {
		return s, errorsmod.Wrapf(types.ErrSupplierUnbonding, "supplier %s is unbonding", msg.OperatorAddress)
	}
	if msg.Amount.Denom != s.Stake.Denom {
		return s, errorsmod.Wrapf(types.ErrInvalidStake, "amount denom %q, want %q", msg.Amount.Denom, s.Stake.Denom)
	}
	if err := k.escrow(ctx, msg.OperatorAddress, msg.Amount); err != nil {
		return s, err
	}
	s.Stake = s.Stake.Add(msg.Amount)
	return s, k.Suppliers.Set(ctx, s.OperatorAddress, s)
}

func (k Keeper) unstakeSupplier(ctx context.Context, addr string) (types.Supplier, int64, error) {
	s, err := k.Suppliers.Get(ctx, addr)
	if err != nil {
		return s, 0, errorsmod.Wrapf(types.ErrSupplierNotFound, "supplier %s", addr)
	}
	if s.UnstakeSessionEndHeight != 0 {
		return s, 0, errorsmod.Wrapf(types.ErrSupplierUnbonding, "supplier %s is already unbonding", addr)
	}
	sessionEnd, completion, err := k.unbondingSchedule(ctx)
	if err != nil {
		return s, 0, err
	}
	s.UnstakeSessionEndHeight = sessionEnd
	if err := k.Suppliers.Set(ctx, addr, s); err != nil {
		return s, 0, err
	}
	return s, completion, k.SupplierUnbonding.Set(ctx, collections.Join(completion, addr))
}

// completeUnbonding returns the stakes of actors whose unbonding ends at or
// before the current height and removes them.
func (k Keeper) completeUnbonding(ctx context.Context) error {
	sdkCtx := sdk.UnwrapSDKContext(ctx)
	h := height(ctx)
	rng := collections.NewPrefixUntilPairRange[int64, string](h)
	apps, err := k.AppUnbonding.Iterate(ctx, rng)
	if err != nil {
		return err
	}
	appKeys, err := apps.Keys()
	if err != nil {
		return err
	}
	for _, key := range appKeys {
		app, err := k.Applications.Get(ctx, key.K2())
		if err != nil {
			return err
		}
		if err := k.release(ctx, app.Address, app.Stake); err != nil {
			return err
		}
		if err := k.removeApplication(ctx, app.Address); err != nil {
			return err
		}
		if err := k.AppUnbonding.Remove(ctx, key); err != nil {
			return err
		}
		if err := sdkCtx.EventManager().EmitTypedEvent(&types.EventApplicationUnbondingEnd{Application: app}); err != nil {
			return err
		}
	}
	sups, err := k.SupplierUnbonding.Iterate(ctx, rng)
	if err != nil {
		return err
	}
	supKeys, err := sups.Keys()
	if err != nil {
		return err
	}
	for _, key := range supKeys {
		s, err := k.Suppliers.Get(ctx, key.K2())
		if err != nil {
			return err
		}
		if err := k.release(ctx, s.OperatorAddress, s.Stake); err != nil {
			return err
		}
		for _, svc := range s.Services {
			if err := k.SupplierServices.Remove(ctx, collections.Join(svc.ServiceId, s.OperatorAddress)); err != nil {
				return err
			}
		}
		if err := k.Suppliers.Remove(ctx, s.OperatorAddress); err != nil {
			return err
		}
		if err := k.SupplierUnbonding.Remove(ctx, key); err != nil {
			return err
		}
		if err := sdkCtx.EventManager().EmitTypedEvent(&types.EventSupplierUnbondingEnd{Supplier: s}); err != nil {
			return err
		}
	}
	return nil
}
