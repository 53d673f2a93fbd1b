package keeper

import (
	"context"
	"errors"

	"cosmossdk.io/collections"
	errorsmod "cosmossdk.io/errors"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/gogoproto/proto"

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

// actor is what staking needs to know of one kind of staked actor
// (applications, suppliers): stake, add-stake, unstake and unbonding are
// written once, over it.
type actor[T any] struct {
	k    Keeper
	kind string // "application" or "supplier", in error messages

	errNotFound, errUnbonding, errAlreadyStaked *errorsmod.Error
	minStake                                    func(types.Params) sdk.Coin

	get    func(ctx context.Context, addr string) (T, error)
	set    func(ctx context.Context, v T) error
	remove func(ctx context.Context, addr string) error
	// unbonding holds (completion height, address) of the unbonding actors.
	unbonding collections.KeySet[collections.Pair[int64, string]]
	// unbondingEnd is the event of a completed unbonding.
	unbondingEnd func(T) proto.Message
	// fields reads an actor's address and points at its stake and at the
	// end of the session it unstaked in (0 while staked).
	fields func(*T) (addr string, stake *sdk.Coin, unstakeSessionEnd *int64)
}

func (k Keeper) applications() actor[types.Application] {
	return actor[types.Application]{
		k: k, kind: "application",
		errNotFound: types.ErrApplicationNotFound, errUnbonding: types.ErrApplicationUnbonding, errAlreadyStaked: types.ErrApplicationAlreadyStaked,
		minStake:  func(p types.Params) sdk.Coin { return p.MinApplicationStake },
		get:       k.Applications.Get,
		set:       k.setApplication,
		remove:    k.removeApplication,
		unbonding: k.AppUnbonding,
		unbondingEnd: func(a types.Application) proto.Message {
			return &types.EventApplicationUnbondingEnd{Application: a}
		},
		fields: func(a *types.Application) (string, *sdk.Coin, *int64) {
			return a.Address, &a.Stake, &a.UnstakeSessionEndHeight
		},
	}
}

func (k Keeper) suppliers() actor[types.Supplier] {
	return actor[types.Supplier]{
		k: k, kind: "supplier",
		errNotFound: types.ErrSupplierNotFound, errUnbonding: types.ErrSupplierUnbonding, errAlreadyStaked: types.ErrSupplierAlreadyStaked,
		minStake:  func(p types.Params) sdk.Coin { return p.MinSupplierStake },
		get:       k.Suppliers.Get,
		set:       k.setSupplier,
		remove:    k.Suppliers.Remove,
		unbonding: k.SupplierUnbonding,
		unbondingEnd: func(s types.Supplier) proto.Message {
			return &types.EventSupplierUnbondingEnd{Supplier: s}
		},
		fields: func(s *types.Supplier) (string, *sdk.Coin, *int64) {
			return s.OperatorAddress, &s.Stake, &s.UnstakeSessionEndHeight
		},
	}
}

// setSupplier writes a supplier; the Suppliers index follows its services.
func (k Keeper) setSupplier(ctx context.Context, s types.Supplier) error {
	return k.Suppliers.Set(ctx, s.OperatorAddress, s)
}

// staked returns the actor staked at addr, errNotFound if there is none.
func (a actor[T]) staked(ctx context.Context, addr string) (T, error) {
	v, err := a.get(ctx, addr)
	if errors.Is(err, collections.ErrNotFound) {
		return v, errorsmod.Wrapf(a.errNotFound, "%s %s", a.kind, addr)
	}
	return v, err
}

// stake stakes a new actor at addr for serviceIDs; build makes it, given the
// height it becomes active at.
func (a actor[T]) stake(ctx context.Context, addr string, stake sdk.Coin, serviceIDs []string, build func(activation int64) T) (T, error) {
	var none T
	p, err := a.k.GetParams(ctx)
	if err != nil {
		return none, err
	}
	switch v, err := a.get(ctx, addr); {
	case err == nil:
		if _, _, unstakeEnd := a.fields(&v); *unstakeEnd != 0 {
			return none, errorsmod.Wrapf(a.errUnbonding, "%s %s is unbonding; stake again after it completes", a.kind, addr)
		}
		return none, errorsmod.Wrapf(a.errAlreadyStaked, "%s %s (use add-%s-stake to raise its stake)", a.kind, addr, a.kind)
	case !errors.Is(err, collections.ErrNotFound):
		return none, err
	}
	if err := checkStake(p, stake, a.minStake(p)); err != nil {
		return none, err
	}
	if err := a.k.requireServices(ctx, serviceIDs); err != nil {
		return none, err
	}
	if err := a.k.escrow(ctx, addr, stake); err != nil {
		return none, err
	}
	v := build(nextSessionStart(p, height(ctx)))
	return v, a.set(ctx, v)
}

// addStake raises the stake of the actor at addr by amount.
func (a actor[T]) addStake(ctx context.Context, addr string, amount sdk.Coin) (T, error) {
	v, err := a.staked(ctx, addr)
	if err != nil {
		return v, err
	}
	_, stake, unstakeEnd := a.fields(&v)
	if *unstakeEnd != 0 {
		return v, errorsmod.Wrapf(a.errUnbonding, "%s %s is unbonding", a.kind, addr)
	}
	if amount.Denom != stake.Denom {
		return v, errorsmod.Wrapf(types.ErrInvalidStake, "amount denom %q, want %q", amount.Denom, stake.Denom)
	}
	if err := a.k.escrow(ctx, addr, amount); err != nil {
		return v, err
	}
	*stake = stake.Add(amount)
	return v, a.set(ctx, v)
}

// unstake starts the unbonding of the actor at addr and returns the height
// it completes at.
func (a actor[T]) unstake(ctx context.Context, addr string) (T, int64, error) {
	v, err := a.staked(ctx, addr)
	if err != nil {
		return v, 0, err
	}
	_, _, unstakeEnd := a.fields(&v)
	if *unstakeEnd != 0 {
		return v, 0, errorsmod.Wrapf(a.errUnbonding, "%s %s is already unbonding", a.kind, addr)
	}
	sessionEnd, completion, err := a.k.unbondingSchedule(ctx)
	if err != nil {
		return v, 0, err
	}
	*unstakeEnd = sessionEnd
	if err := a.set(ctx, v); err != nil {
		return v, 0, err
	}
	return v, completion, a.unbonding.Set(ctx, collections.Join(completion, addr))
}

// completeUnbonding returns the stakes of the actors whose unbonding ends at
// or before height h and removes them.
func (a actor[T]) completeUnbonding(ctx context.Context, h int64) error {
	iter, err := a.unbonding.Iterate(ctx, collections.NewPrefixUntilPairRange[int64, string](h))
	if err != nil {
		return err
	}
	keys, err := iter.Keys()
	if err != nil {
		return err
	}
	for _, key := range keys {
		v, err := a.get(ctx, key.K2())
		if err != nil {
			return err
		}
		addr, stake, _ := a.fields(&v)
		if err := a.k.release(ctx, addr, *stake); err != nil {
			return err
		}
		if err := a.remove(ctx, addr); err != nil {
			return err
		}
		if err := a.unbonding.Remove(ctx, key); err != nil {
			return err
		}
		if err := emit(ctx, a.unbondingEnd(v)); err != nil {
			return err
		}
	}
	return nil
}

func (k Keeper) stakeApplication(ctx context.Context, msg *types.MsgStakeApplication) (types.Application, error) {
	return k.applications().stake(ctx, msg.Address, msg.Stake, msg.ServiceIds, func(activation int64) types.Application {
		return types.Application{Address: msg.Address, Stake: msg.Stake, ServiceIds: msg.ServiceIds, ActivationHeight: activation}
	})
}

func (k Keeper) addApplicationStake(ctx context.Context, msg *types.MsgAddApplicationStake) (types.Application, error) {
	return k.applications().addStake(ctx, msg.Address, msg.Amount)
}

func (k Keeper) unstakeApplication(ctx context.Context, addr string) (types.Application, int64, error) {
	return k.applications().unstake(ctx, addr)
}

func (k Keeper) stakeSupplier(ctx context.Context, msg *types.MsgStakeSupplier) (types.Supplier, error) {
	return k.suppliers().stake(ctx, msg.OperatorAddress, msg.Stake, supplierServiceIDs(msg.Services), func(activation int64) types.Supplier {
		return types.Supplier{OperatorAddress: msg.OperatorAddress, Stake: msg.Stake, Services: msg.Services, ActivationHeight: activation}
	})
}

func (k Keeper) addSupplierStake(ctx context.Context, msg *types.MsgAddSupplierStake) (types.Supplier, error) {
	return k.suppliers().addStake(ctx, msg.OperatorAddress, msg.Amount)
}

func (k Keeper) unstakeSupplier(ctx context.Context, addr string) (types.Supplier, int64, error) {
	return k.suppliers().unstake(ctx, addr)
}

// completeUnbonding returns the stakes of actors whose unbonding ends at or
// before the current height and removes them: applications, then suppliers.
func (k Keeper) completeUnbonding(ctx context.Context) error {
	h := height(ctx)
	if err := k.applications().completeUnbonding(ctx, h); err != nil {
		return err
	}
	return k.suppliers().completeUnbonding(ctx, h)
}
