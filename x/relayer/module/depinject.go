package module

import (
	"cosmossdk.io/core/appmodule"
	"cosmossdk.io/core/store"
	"cosmossdk.io/depinject"
	"github.com/cosmos/cosmos-sdk/codec"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"
	govtypes "github.com/cosmos/cosmos-sdk/x/gov/types"

	modulev1 "github.com/pokt-network/poktroll/api/poktroll/relayer/module"
	"github.com/pokt-network/poktroll/x/relayer/keeper"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

func init() {
	appmodule.Register(&modulev1.Module{}, appmodule.Provide(ProvideModule))
}

// ModuleInputs is what the module needs from the app.
type ModuleInputs struct {
	depinject.In

	StoreService  store.KVStoreService
	Cdc           codec.Codec
	Config        *modulev1.Module
	AccountKeeper types.AccountKeeper
	BankKeeper    types.BankKeeper
}

// ModuleOutputs is what the module gives the app.
type ModuleOutputs struct {
	depinject.Out

	RelayerKeeper keeper.Keeper
	Module        appmodule.AppModule
}

// ProvideModule builds the keeper and module for depinject.
func ProvideModule(in ModuleInputs) ModuleOutputs {
	authority := authtypes.NewModuleAddress(govtypes.ModuleName).String()
	if in.Config.Authority != "" {
		authority = authtypes.NewModuleAddressOrBech32Address(in.Config.Authority).String()
	}
	k := keeper.NewKeeper(in.Cdc, in.StoreService, in.AccountKeeper, in.BankKeeper, authority)
	return ModuleOutputs{RelayerKeeper: k, Module: NewAppModule(in.Cdc, k)}
}
