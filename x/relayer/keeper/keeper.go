package keeper

import (
	"context"
	"fmt"

	"cosmossdk.io/collections"
	"cosmossdk.io/core/store"
	"cosmossdk.io/log"
	sdkmath "cosmossdk.io/math"
	"github.com/cosmos/cosmos-sdk/codec"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/pokt-network/poktroll/x/relayer/types"
)

// Keeper owns the relayer module's state.
type Keeper struct {
	cdc          codec.BinaryCodec
	storeService store.KVStoreService
	accounts     types.AccountKeeper
	bank         types.BankKeeper
	// authority may update params: the gov module account by default.
	authority string

	Schema        collections.Schema
	ParamsHistory collections.Map[int64, types.Params]
	Services      collections.Map[string, types.Service]
	// ServiceHistory keeps every version of a service by the height it was
	// written at, so sessions use the compute units in force at their start.
	ServiceHistory collections.Map[collections.Pair[string, int64], types.Service]
	Applications   collections.Map[string, types.Application]
	// Suppliers are indexed by service: Suppliers.Indexes.Service.
	Suppliers         *collections.IndexedMap[string, types.Supplier, SupplierIndexes]
	BlockHashes       collections.Map[int64, []byte]
	AppUnbonding      collections.KeySet[collections.Pair[int64, string]] // (completion height, address)
	SupplierUnbonding collections.KeySet[collections.Pair[int64, string]]
	// Claims, keyed (session id, supplier), are indexed by supplier and by
	// proof window close height: Claims.Indexes.Supplier and .ProofClose.
	Claims *collections.IndexedMap[collections.Pair[string, string], types.Claim, ClaimIndexes]
	// Proofs share their claim's key and are removed with it (removeClaim).
	Proofs collections.Map[collections.Pair[string, string], types.Proof]
	// AppStakeHistory records an application's stake amount after every
	// change, by the height of the change, so a session is bounded by the
	// stake at its start (see appStakeAt).
	AppStakeHistory collections.Map[collections.Pair[string, int64], sdkmath.Int]
}

// NewKeeper builds the keeper. authority must be a valid account address.
func NewKeeper(cdc codec.BinaryCodec, storeService store.KVStoreService, accounts types.AccountKeeper, bank types.BankKeeper, authority string) Keeper {
	if _, err := sdk.AccAddressFromBech32(authority); err != nil {
		panic(fmt.Sprintf("relayer keeper: invalid authority %q: %v", authority, err))
	}
	sb := collections.NewSchemaBuilder(storeService)
	pairSS := collections.PairKeyCodec(collections.StringKey, collections.StringKey)
	pairIS := collections.PairKeyCodec(collections.Int64Key, collections.StringKey)
	k := Keeper{
		cdc:          cdc,
		storeService: storeService,
		accounts:     accounts,
		bank:         bank,
		authority:    authority,

		ParamsHistory:     collections.NewMap(sb, types.ParamsHistoryKey, "params_history", collections.Int64Key, codec.CollValue[types.Params](cdc)),
		Services:          collections.NewMap(sb, types.ServicesKey, "services", collections.StringKey, codec.CollValue[types.Service](cdc)),
		ServiceHistory:    collections.NewMap(sb, types.ServiceHistoryKey, "service_history", collections.PairKeyCodec(collections.StringKey, collections.Int64Key), codec.CollValue[types.Service](cdc)),
		Applications:      collections.NewMap(sb, types.ApplicationsKey, "applications", collections.StringKey, codec.CollValue[types.Application](cdc)),
		Suppliers:         collections.NewIndexedMap(sb, types.SuppliersKey, "suppliers", collections.StringKey, codec.CollValue[types.Supplier](cdc), newSupplierIndexes(sb)),
		BlockHashes:       collections.NewMap(sb, types.BlockHashesKey, "block_hashes", collections.Int64Key, collections.BytesValue),
		AppUnbonding:      collections.NewKeySet(sb, types.ApplicationUnbondingKey, "application_unbonding", pairIS),
		SupplierUnbonding: collections.NewKeySet(sb, types.SupplierUnbondingKey, "supplier_unbonding", pairIS),
		Claims:            collections.NewIndexedMap(sb, types.ClaimsKey, "claims", pairSS, codec.CollValue[types.Claim](cdc), newClaimIndexes(sb, pairSS)),
		Proofs:            collections.NewMap(sb, types.ProofsKey, "proofs", pairSS, codec.CollValue[types.Proof](cdc)),
		AppStakeHistory:   collections.NewMap(sb, types.AppStakeHistoryKey, "app_stake_history", collections.PairKeyCodec(collections.StringKey, collections.Int64Key), sdk.IntValue),
	}
	schema, err := sb.Build()
	if err != nil {
		panic(fmt.Sprintf("relayer keeper: building the store schema: %v", err))
	}
	k.Schema = schema
	return k
}

// Authority is the address allowed to update params.
func (k Keeper) Authority() string { return k.authority }

// Logger is the module logger.
func (k Keeper) Logger(ctx context.Context) log.Logger {
	return sdk.UnwrapSDKContext(ctx).Logger().With("module", "x/"+types.ModuleName)
}

func height(ctx context.Context) int64 { return sdk.UnwrapSDKContext(ctx).BlockHeight() }
