package types

import "cosmossdk.io/collections"

const (
	// ModuleName is the module's name, store key and account name.
	ModuleName = "relayer"
	// StoreKey is the module's KV store key.
	StoreKey = ModuleName
	// DefaultDenom is the token stakes and payments are made in by default.
	DefaultDenom = "upokt"
)

// Store prefixes of the module's collections.
var (
	ParamsHistoryKey        = collections.NewPrefix(0)
	ServicesKey             = collections.NewPrefix(1)
	ServiceHistoryKey       = collections.NewPrefix(2)
	ApplicationsKey         = collections.NewPrefix(3)
	SuppliersKey            = collections.NewPrefix(4)
	SupplierServicesKey     = collections.NewPrefix(5)
	BlockHashesKey          = collections.NewPrefix(6)
	ApplicationUnbondingKey = collections.NewPrefix(7)
	SupplierUnbondingKey    = collections.NewPrefix(8)
	ClaimsKey               = collections.NewPrefix(9)
	ClaimsBySupplierKey     = collections.NewPrefix(10)
	ClaimsByProofCloseKey   = collections.NewPrefix(11)
	ProofsKey               = collections.NewPrefix(12)
	AppStakeHistoryKey      = collections.NewPrefix(13)
)
