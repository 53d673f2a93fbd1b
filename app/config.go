package app

import (
	runtimev1alpha1 "cosmossdk.io/api/cosmos/app/runtime/v1alpha1"
	appv1alpha1 "cosmossdk.io/api/cosmos/app/v1alpha1"
	authmodulev1 "cosmossdk.io/api/cosmos/auth/module/v1"
	bankmodulev1 "cosmossdk.io/api/cosmos/bank/module/v1"
	consensusmodulev1 "cosmossdk.io/api/cosmos/consensus/module/v1"
	distrmodulev1 "cosmossdk.io/api/cosmos/distribution/module/v1"
	genutilmodulev1 "cosmossdk.io/api/cosmos/genutil/module/v1"
	govmodulev1 "cosmossdk.io/api/cosmos/gov/module/v1"
	mintmodulev1 "cosmossdk.io/api/cosmos/mint/module/v1"
	stakingmodulev1 "cosmossdk.io/api/cosmos/staking/module/v1"
	txconfigv1 "cosmossdk.io/api/cosmos/tx/config/v1"
	"cosmossdk.io/core/appconfig"
	"cosmossdk.io/depinject"
	"github.com/cosmos/cosmos-sdk/runtime"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/module"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"
	consensustypes "github.com/cosmos/cosmos-sdk/x/consensus/types"
	distrtypes "github.com/cosmos/cosmos-sdk/x/distribution/types"
	genutiltypes "github.com/cosmos/cosmos-sdk/x/genutil/types"
	govtypes "github.com/cosmos/cosmos-sdk/x/gov/types"
	minttypes "github.com/cosmos/cosmos-sdk/x/mint/types"
	stakingtypes "github.com/cosmos/cosmos-sdk/x/staking/types"

	// Modules register their depinject providers in init functions.
	_ "cosmossdk.io/api/cosmos/tx/config/v1"
	_ "github.com/cosmos/cosmos-sdk/x/auth"
	_ "github.com/cosmos/cosmos-sdk/x/auth/tx/config"
	_ "github.com/cosmos/cosmos-sdk/x/bank"
	_ "github.com/cosmos/cosmos-sdk/x/consensus"
	_ "github.com/cosmos/cosmos-sdk/x/distribution"
	"github.com/cosmos/cosmos-sdk/x/genutil"
	"github.com/cosmos/cosmos-sdk/x/gov"
	_ "github.com/cosmos/cosmos-sdk/x/mint"
	_ "github.com/cosmos/cosmos-sdk/x/staking"

	relayermodulev1 "github.com/pokt-network/poktroll/api/poktroll/relayer/module"
	_ "github.com/pokt-network/poktroll/x/relayer/module"
	relayertypes "github.com/pokt-network/poktroll/x/relayer/types"
)

const (
	// Name is the app's name.
	Name = "poktroll"
	// AccountAddressPrefix is the bech32 prefix of account addresses.
	AccountAddressPrefix = "pokt"
	// BondDenom is the staking and fee token.
	BondDenom = relayertypes.DefaultDenom
)

func init() {
	SetAddressPrefixes()
}

// SetAddressPrefixes sets the SDK's global bech32 prefixes to poktroll's. It
// is idempotent and runs when the package loads.
func SetAddressPrefixes() {
	cfg := sdk.GetConfig()
	cfg.SetBech32PrefixForAccount(AccountAddressPrefix, AccountAddressPrefix+"pub")
	cfg.SetBech32PrefixForValidator(AccountAddressPrefix+"valoper", AccountAddressPrefix+"valoperpub")
	cfg.SetBech32PrefixForConsensusNode(AccountAddressPrefix+"valcons", AccountAddressPrefix+"valconspub")
}

var (
	genesisOrder = []string{
		authtypes.ModuleName, banktypes.ModuleName, distrtypes.ModuleName, stakingtypes.ModuleName,
		minttypes.ModuleName, govtypes.ModuleName, relayertypes.ModuleName, genutiltypes.ModuleName,
		consensustypes.ModuleName,
	}

	moduleAccountPerms = []*authmodulev1.ModuleAccountPermission{
		{Account: authtypes.FeeCollectorName},
		{Account: distrtypes.ModuleName},
		{Account: minttypes.ModuleName, Permissions: []string{authtypes.Minter}},
		{Account: stakingtypes.BondedPoolName, Permissions: []string{authtypes.Burner, stakingtypes.ModuleName}},
		{Account: stakingtypes.NotBondedPoolName, Permissions: []string{authtypes.Burner, stakingtypes.ModuleName}},
		{Account: govtypes.ModuleName, Permissions: []string{authtypes.Burner}},
		// The relayer module escrows stakes, pays suppliers and burns penalties.
		{Account: relayertypes.ModuleName, Permissions: []string{authtypes.Burner}},
	}

	// Module accounts that may not receive plain bank sends.
	blockedAccounts = []string{
		authtypes.FeeCollectorName, distrtypes.ModuleName, stakingtypes.BondedPoolName,
		stakingtypes.NotBondedPoolName, relayertypes.ModuleName,
	}

	// Config is the depinject app config of the chain.
	Config = depinject.Configs(appconfig.Compose(&appv1alpha1.Config{
		Modules: []*appv1alpha1.ModuleConfig{
			{Name: runtime.ModuleName, Config: appconfig.WrapAny(&runtimev1alpha1.Module{
				AppName:       Name,
				BeginBlockers: []string{minttypes.ModuleName, distrtypes.ModuleName, stakingtypes.ModuleName, relayertypes.ModuleName},
				EndBlockers:   []string{govtypes.ModuleName, stakingtypes.ModuleName, relayertypes.ModuleName},
				OverrideStoreKeys: []*runtimev1alpha1.StoreKeyConfig{
					{ModuleName: authtypes.ModuleName, KvStoreKey: "acc"},
				},
				InitGenesis: genesisOrder,
			})},
			{Name: authtypes.ModuleName, Config: appconfig.WrapAny(&authmodulev1.Module{
				Bech32Prefix:             AccountAddressPrefix,
				ModuleAccountPermissions: moduleAccountPerms,
			})},
			{Name: "tx", Config: appconfig.WrapAny(&txconfigv1.Config{})},
			{Name: banktypes.ModuleName, Config: appconfig.WrapAny(&bankmodulev1.Module{BlockedModuleAccountsOverride: blockedAccounts})},
			{Name: stakingtypes.ModuleName, Config: appconfig.WrapAny(&stakingmodulev1.Module{})},
			{Name: distrtypes.ModuleName, Config: appconfig.WrapAny(&distrmodulev1.Module{})},
			{Name: minttypes.ModuleName, Config: appconfig.WrapAny(&mintmodulev1.Module{})},
			{Name: govtypes.ModuleName, Config: appconfig.WrapAny(&govmodulev1.Module{})},
			{Name: genutiltypes.ModuleName, Config: appconfig.WrapAny(&genutilmodulev1.Module{})},
			{Name: consensustypes.ModuleName, Config: appconfig.WrapAny(&consensusmodulev1.Module{})},
			{Name: relayertypes.ModuleName, Config: appconfig.WrapAny(&relayermodulev1.Module{})},
		},
	}),
		// genutil's and gov's client commands need their full module basics.
		depinject.Supply(map[string]module.AppModuleBasic{
			genutiltypes.ModuleName: genutil.NewAppModuleBasic(genutiltypes.DefaultMessageValidator),
			govtypes.ModuleName:     gov.NewAppModuleBasic(nil),
		}),
	)
)
