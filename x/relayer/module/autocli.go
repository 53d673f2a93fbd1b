package module

import (
	autocliv1 "cosmossdk.io/api/cosmos/autocli/v1"

	relayerapi "github.com/pokt-network/poktroll/api/poktroll/relayer"
)

// AutoCLIOptions describes the `poktrolld tx relayer` and `poktrolld q
// relayer` commands. Linking the pulsar api package (relayerapi) is what lets
// autocli read nested message fields declared in other files.
func (AppModule) AutoCLIOptions() *autocliv1.ModuleOptions {
	return &autocliv1.ModuleOptions{
		Query: &autocliv1.ServiceCommandDescriptor{
			Service: relayerapi.Query_ServiceDesc.ServiceName,
			RpcCommandOptions: []*autocliv1.RpcCommandOptions{
				{RpcMethod: "Params", Use: "params", Short: "Show the module params (at --at-height, default now)",
					FlagOptions: map[string]*autocliv1.FlagOptions{"height": {Name: "at-height", Usage: "block height the params were in force at (0: now)"}}},
				{RpcMethod: "Service", Use: "service [id]", Short: "Show a service",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "id"}},
					FlagOptions:    map[string]*autocliv1.FlagOptions{"height": {Name: "at-height", Usage: "block height to read the service at (0: now)"}}},
				{RpcMethod: "Services", Use: "services", Short: "List services"},
				{RpcMethod: "Application", Use: "application [address]", Short: "Show a staked application",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "address"}}},
				{RpcMethod: "Applications", Use: "applications", Short: "List staked applications"},
				{RpcMethod: "Supplier", Use: "supplier [operator-address]", Short: "Show a staked supplier",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "operator_address"}}},
				{RpcMethod: "Suppliers", Use: "suppliers", Short: "List staked suppliers"},
				{RpcMethod: "GetSession", Use: "get-session [application-address] [service-id] [block-height]",
					Short: "Show the session of an application and service at a height (0: now)",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{
						{ProtoField: "application_address"}, {ProtoField: "service_id"}, {ProtoField: "block_height", Optional: true},
					}},
				{RpcMethod: "Claim", Use: "claim [session-id] [supplier-operator-address]", Short: "Show a claim",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "session_id"}, {ProtoField: "supplier_operator_address"}}},
				{RpcMethod: "Claims", Use: "claims", Short: "List claims, filtered by --supplier-operator-address, --session-id or --proof-window-close-height"},
				{RpcMethod: "Proof", Use: "proof [session-id] [supplier-operator-address]", Short: "Show a submitted proof",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "session_id"}, {ProtoField: "supplier_operator_address"}}},
				{RpcMethod: "ProofRequirement", Use: "proof-requirement [session-id] [supplier-operator-address]", Short: "Say whether a claim must be proven",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "session_id"}, {ProtoField: "supplier_operator_address"}}},
			},
		},
		Tx: &autocliv1.ServiceCommandDescriptor{
			Service:              relayerapi.Msg_ServiceDesc.ServiceName,
			EnhanceCustomCommand: true,
			RpcCommandOptions: []*autocliv1.RpcCommandOptions{
				{RpcMethod: "UpdateParams", Use: "update-params [params-json]", Short: "Replace the module params (the signer must be the governance authority)",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "params"}}},
				{RpcMethod: "AddService", Use: "add-service [id] [name] [compute-units-per-relay]",
					Short: "Create a service, or update one you own",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{
						{ProtoField: "service_id"}, {ProtoField: "name"}, {ProtoField: "compute_units_per_relay"},
					}},
				{RpcMethod: "StakeApplication", Use: "stake-application [stake] [service-id...]",
					Short:          "Stake the signer as an application for services, e.g. 1000000upokt eth",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "stake"}, {ProtoField: "service_ids", Varargs: true}}},
				{RpcMethod: "AddApplicationStake", Use: "add-application-stake [amount]", Short: "Raise the signer's application stake",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "amount"}}},
				{RpcMethod: "UnstakeApplication", Use: "unstake-application", Short: "Unstake the signer's application after its current session"},
				{RpcMethod: "StakeSupplier", Use: "stake-supplier [stake] [service-json...]",
					Short:          `Stake the signer as a supplier, e.g. 1000000upokt '{"service_id":"eth","endpoint_url":"http://host:8545","rpc_type":"RPC_TYPE_JSON_RPC"}'`,
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "stake"}, {ProtoField: "services", Varargs: true}}},
				{RpcMethod: "AddSupplierStake", Use: "add-supplier-stake [amount]", Short: "Raise the signer's supplier stake",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "amount"}}},
				{RpcMethod: "UnstakeSupplier", Use: "unstake-supplier", Short: "Unstake the signer's supplier after its current session"},
				{RpcMethod: "CreateClaim", Use: "create-claim [session-header-json] [root-hash]",
					Short:          "Claim a session's SMST root (the RelayMiner does this for you)",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "session_header"}, {ProtoField: "root_hash"}}},
				{RpcMethod: "SubmitProof", Use: "submit-proof [session-header-json] [leaf-proof-json]...",
					Short:          "Prove a claim with one leaf proof per drawn point (the RelayMiner does this for you)",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "session_header"}, {ProtoField: "proofs", Varargs: true}}},
			},
		},
	}
}
