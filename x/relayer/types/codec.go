package types

import (
	"github.com/cosmos/cosmos-sdk/codec"
	cdctypes "github.com/cosmos/cosmos-sdk/codec/types"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/msgservice"
)

// RegisterInterfaces registers the module's messages with the interface
// registry, so transactions carrying them decode.
func RegisterInterfaces(registry cdctypes.InterfaceRegistry) {
	registry.RegisterImplementations((*sdk.Msg)(nil),
		&MsgUpdateParams{},
		&MsgAddService{},
		&MsgStakeApplication{},
		&MsgAddApplicationStake{},
		&MsgUnstakeApplication{},
		&MsgStakeSupplier{},
		&MsgAddSupplierStake{},
		&MsgUnstakeSupplier{},
		&MsgCreateClaim{},
		&MsgSubmitProof{},
	)
	msgservice.RegisterMsgServiceDesc(registry, &_Msg_serviceDesc)
}

// RegisterLegacyAminoCodec registers the messages for amino JSON signing.
func RegisterLegacyAminoCodec(cdc *codec.LegacyAmino) {
	cdc.RegisterConcrete(&MsgUpdateParams{}, "poktroll/x/relayer/MsgUpdateParams", nil)
	cdc.RegisterConcrete(&MsgAddService{}, "poktroll/x/relayer/MsgAddService", nil)
	cdc.RegisterConcrete(&MsgStakeApplication{}, "poktroll/x/relayer/MsgStakeApplication", nil)
	cdc.RegisterConcrete(&MsgAddApplicationStake{}, "poktroll/x/relayer/MsgAddApplicationStake", nil)
	cdc.RegisterConcrete(&MsgUnstakeApplication{}, "poktroll/x/relayer/MsgUnstakeApplication", nil)
	cdc.RegisterConcrete(&MsgStakeSupplier{}, "poktroll/x/relayer/MsgStakeSupplier", nil)
	cdc.RegisterConcrete(&MsgAddSupplierStake{}, "poktroll/x/relayer/MsgAddSupplierStake", nil)
	cdc.RegisterConcrete(&MsgUnstakeSupplier{}, "poktroll/x/relayer/MsgUnstakeSupplier", nil)
	cdc.RegisterConcrete(&MsgCreateClaim{}, "poktroll/x/relayer/MsgCreateClaim", nil)
	cdc.RegisterConcrete(&MsgSubmitProof{}, "poktroll/x/relayer/MsgSubmitProof", nil)
	cdc.RegisterConcrete(&Params{}, "poktroll/x/relayer/Params", nil)
}
