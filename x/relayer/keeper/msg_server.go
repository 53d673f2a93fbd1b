package keeper

import (
	"context"
	"errors"

	"cosmossdk.io/collections"
	errorsmod "cosmossdk.io/errors"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/gogoproto/proto"

	"github.com/pokt-network/poktroll/x/relayer/types"
)

type msgServer struct{ k Keeper }

// NewMsgServer returns the module's Msg service.
func NewMsgServer(k Keeper) types.MsgServer { return msgServer{k: k} }

var _ types.MsgServer = msgServer{}

func emit(ctx context.Context, ev proto.Message) error {
	return sdk.UnwrapSDKContext(ctx).EventManager().EmitTypedEvent(ev)
}

// Every handler runs the message's stateless checks itself too: messages can
// reach a handler without passing through ValidateBasic (e.g. authz, gov).

func (s msgServer) UpdateParams(ctx context.Context, msg *types.MsgUpdateParams) (*types.MsgUpdateParamsResponse, error) {
	if msg.Authority != s.k.authority {
		return nil, errorsmod.Wrapf(types.ErrUnauthorized, "only %s may update params, not %s", s.k.authority, msg.Authority)
	}
	if err := msg.ValidateBasic(); err != nil {
		return nil, err
	}
	if err := s.k.updateParams(ctx, msg.Params); err != nil {
		return nil, err
	}
	return &types.MsgUpdateParamsResponse{}, emit(ctx, &types.EventParamsUpdated{Params: msg.Params})
}

func (s msgServer) AddService(ctx context.Context, msg *types.MsgAddService) (*types.MsgAddServiceResponse, error) {
	if err := msg.ValidateBasic(); err != nil {
		return nil, err
	}
	svc := msg.ToService()
	existing, err := s.k.Services.Get(ctx, svc.Id)
	created := errors.Is(err, collections.ErrNotFound)
	if err != nil && !created {
		return nil, err
	}
	if !created && existing.OwnerAddress != msg.OwnerAddress {
		return nil, errorsmod.Wrapf(types.ErrUnauthorized, "service %q is owned by %s, not %s", svc.Id, existing.OwnerAddress, msg.OwnerAddress)
	}
	if err := s.k.setService(ctx, svc); err != nil {
		return nil, err
	}
	return &types.MsgAddServiceResponse{}, emit(ctx, &types.EventServiceUpdated{Service: svc, Created: created})
}

func (s msgServer) StakeApplication(ctx context.Context, msg *types.MsgStakeApplication) (*types.MsgStakeApplicationResponse, error) {
	if err := msg.ValidateBasic(); err != nil {
		return nil, err
	}
	app, err := s.k.stakeApplication(ctx, msg)
	if err != nil {
		return nil, err
	}
	return &types.MsgStakeApplicationResponse{ActivationHeight: app.ActivationHeight}, emit(ctx, &types.EventApplicationStaked{Application: app})
}

func (s msgServer) AddApplicationStake(ctx context.Context, msg *types.MsgAddApplicationStake) (*types.MsgAddApplicationStakeResponse, error) {
	if err := msg.ValidateBasic(); err != nil {
		return nil, err
	}
	app, err := s.k.addApplicationStake(ctx, msg)
	if err != nil {
		return nil, err
	}
	return &types.MsgAddApplicationStakeResponse{}, emit(ctx, &types.EventApplicationStaked{Application: app})
}

func (s msgServer) UnstakeApplication(ctx context.Context, msg *types.MsgUnstakeApplication) (*types.MsgUnstakeApplicationResponse, error) {
	if err := msg.ValidateBasic(); err != nil {
		return nil, err
	}
	app, completion, err := s.k.unstakeApplication(ctx, msg.Address)
	if err != nil {
		return nil, err
	}
	return &types.MsgUnstakeApplicationResponse{UnbondingEndHeight: completion},
		emit(ctx, &types.EventApplicationUnbondingBegin{Application: app, UnbondingEndHeight: completion})
}

func (s msgServer) StakeSupplier(ctx context.Context, msg *types.MsgStakeSupplier) (*types.MsgStakeSupplierResponse, error) {
	if err := msg.ValidateBasic(); err != nil {
		return nil, err
	}
	sup, err := s.k.stakeSupplier(ctx, msg)
	if err != nil {
		return nil, err
	}
	return &types.MsgStakeSupplierResponse{ActivationHeight: sup.ActivationHeight}, emit(ctx, &types.EventSupplierStaked{Supplier: sup})
}

func (s msgServer) AddSupplierStake(ctx context.Context, msg *types.MsgAddSupplierStake) (*types.MsgAddSupplierStakeResponse, error) {
	if err := msg.ValidateBasic(); err != nil {
		return nil, err
	}
	sup, err := s.k.addSupplierStake(ctx, msg)
	if err != nil {
		return nil, err
	}
	return &types.MsgAddSupplierStakeResponse{}, emit(ctx, &types.EventSupplierStaked{Supplier: sup})
}

func (s msgServer) UnstakeSupplier(ctx context.Context, msg *types.MsgUnstakeSupplier) (*types.MsgUnstakeSupplierResponse, error) {
	if err := msg.ValidateBasic(); err != nil {
		return nil, err
	}
	sup, completion, err := s.k.unstakeSupplier(ctx, msg.OperatorAddress)
	if err != nil {
		return nil, err
	}
	return &types.MsgUnstakeSupplierResponse{UnbondingEndHeight: completion},
		emit(ctx, &types.EventSupplierUnbondingBegin{Supplier: sup, UnbondingEndHeight: completion})
}

func (s msgServer) CreateClaim(ctx context.Context, msg *types.MsgCreateClaim) (*types.MsgCreateClaimResponse, error) {
	if err := msg.ValidateBasic(); err != nil {
		return nil, err
	}
	if err := s.k.createClaim(ctx, msg); err != nil {
		return nil, err
	}
	return &types.MsgCreateClaimResponse{}, nil
}

func (s msgServer) SubmitProof(ctx context.Context, msg *types.MsgSubmitProof) (*types.MsgSubmitProofResponse, error) {
	if err := msg.ValidateBasic(); err != nil {
		return nil, err
	}
	if err := s.k.submitProof(ctx, msg); err != nil {
		return nil, err
	}
	return &types.MsgSubmitProofResponse{}, nil
}
