package keeper_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// fullGenesis is a valid genesis with two services, two applications, two
// suppliers and a claim with its proof.
func fullGenesis(f *fixture) types.GenesisState {
	owner := f.serviceOwner
	app1, app2 := f.newAccount("gen-app-1", 0), f.newAccount("gen-app-2", 0)
	sup1, sup2 := f.newAccount("gen-sup-1", 0), f.newAccount("gen-sup-2", 0)
	p := testParams()
	p.NumSuppliersPerSession = 7
	p.RelayDifficultyTargets = []types.RelayDifficultyTarget{{ServiceId: "eth", Target: bytes.Repeat([]byte{0x0f}, 32)}}
	hdr := types.SessionHeader{
		ApplicationAddress: app1, ServiceId: "eth",
		SessionId:               protocol.SessionID(nil, "eth", app1, 1),
		SessionStartBlockHeight: 1, SessionEndBlockHeight: 4,
	}
	return types.GenesisState{
		Params: p,
		Services: []types.Service{
			{Id: "eth", Name: "Ethereum", ComputeUnitsPerRelay: 2, OwnerAddress: owner},
			{Id: "sol", Name: "Solana", ComputeUnitsPerRelay: 1, OwnerAddress: owner},
		},
		Applications: []types.Application{
			{Address: app1, Stake: coin(2_000_000), ServiceIds: []string{"eth"}},
			{Address: app2, Stake: coin(3_000_000), ServiceIds: []string{"eth", "sol"}, ActivationHeight: 9, UnstakeSessionEndHeight: 12},
		},
		Suppliers: []types.Supplier{
			{OperatorAddress: sup1, Stake: coin(2_000_000), Services: supplierServices("eth")},
			{OperatorAddress: sup2, Stake: coin(4_000_000), Services: supplierServices("eth", "sol"), ActivationHeight: 5},
		},
		Claims: []types.Claim{{SupplierOperatorAddress: sup1, SessionHeader: hdr, RootHash: bytes.Repeat([]byte{1}, types.RootHashLength),
			ProofWindowCloseHeight: protocol.SessionWindows(p, hdr.SessionEndBlockHeight).ProofWindowClose}},
		Proofs: []types.Proof{{SupplierOperatorAddress: sup1, SessionHeader: hdr, LeafProofs: []types.LeafProof{
			// An empty side node reads back as []byte{}, not nil.
			{Leaf: []byte{1, 2, 3}, SideNodes: [][]byte{{}, bytes.Repeat([]byte{2}, protocol.NodeSize)}},
			{Leaf: []byte{4}},
		}}},
	}
}

func requireSameGenesis(t *testing.T, want, got *types.GenesisState) {
	t.Helper()
	require.Equal(t, want.Params, got.Params)
	require.ElementsMatch(t, want.Services, got.Services)
	require.ElementsMatch(t, want.Applications, got.Applications)
	require.ElementsMatch(t, want.Suppliers, got.Suppliers)
	require.ElementsMatch(t, want.Claims, got.Claims)
	require.ElementsMatch(t, want.Proofs, got.Proofs)
}

func TestGenesis_ExportAfterInitRoundTrips(t *testing.T) {
	scratch := newFixtureWithGenesis(t, *types.DefaultGenesis())
	gs := fullGenesis(scratch)
	require.NoError(t, gs.Validate())

	f := newFixtureWithGenesis(t, gs)
	got, err := f.k.ExportGenesis(f.ctx)
	require.NoError(t, err)
	requireSameGenesis(t, &gs, got)
	require.NoError(t, got.Validate())

	// The indexes are rebuilt too.
	require.ElementsMatch(t, []string{gs.Suppliers[0].OperatorAddress, gs.Suppliers[1].OperatorAddress}, f.supplierIndex("eth"))
	require.Equal(t, []string{gs.Suppliers[1].OperatorAddress}, f.supplierIndex("sol"))
	claims, err := f.queries.Claims(f.ctx, &types.QueryClaimsRequest{ProofWindowCloseHeight: gs.Claims[0].ProofWindowCloseHeight})
	require.NoError(t, err)
	require.Equal(t, gs.Claims, claims.Claims)
	svc, err := f.k.ServiceAt(f.ctx, "eth", 0)
	require.NoError(t, err)
	require.Equal(t, gs.Services[0], svc)

	// Exporting the imported export gives the same state again.
	f2 := newFixtureWithGenesis(t, *got)
	again, err := f2.k.ExportGenesis(f2.ctx)
	require.NoError(t, err)
	requireSameGenesis(t, got, again)
}

func TestGenesis_ExportOfMessageBuiltState(t *testing.T) {
	f := newFixture(t)
	f.addService("eth", 3)
	alice, bob := f.newAccount("alice", 5_000_000), f.newAccount("bob", 5_000_000)
	f.advanceTo(3)
	f.stakeApp(alice, 2_000_000, "eth")
	f.stakeSupplier(bob, 2_000_000, "eth")
	f.advanceTo(6)
	_, err := f.msgs.UnstakeSupplier(f.ctx, &types.MsgUnstakeSupplier{OperatorAddress: bob})
	require.NoError(t, err)

	gs, err := f.k.ExportGenesis(f.ctx)
	require.NoError(t, err)
	require.NoError(t, gs.Validate())
	require.Equal(t, testParams(), gs.Params)
	require.Equal(t, []types.Service{{Id: "eth", Name: "eth service", ComputeUnitsPerRelay: 3, OwnerAddress: f.serviceOwner}}, gs.Services)
	require.Equal(t, []types.Application{{Address: alice, Stake: coin(2_000_000), ServiceIds: []string{"eth"}, ActivationHeight: 5}}, gs.Applications)
	require.Equal(t, []types.Supplier{{OperatorAddress: bob, Stake: coin(2_000_000), Services: supplierServices("eth"), ActivationHeight: 5, UnstakeSessionEndHeight: 8}}, gs.Suppliers)

	f2 := newFixtureWithGenesis(t, *gs)
	again, err := f2.k.ExportGenesis(f2.ctx)
	require.NoError(t, err)
	requireSameGenesis(t, gs, again)
}

func TestGenesis_InitRejectsInvalidParams(t *testing.T) {
	f := newFixture(t)
	p := testParams()
	p.NumBlocksPerSession = 0
	require.ErrorIs(t, f.k.InitGenesis(f.ctx, types.GenesisState{Params: p}), types.ErrInvalidParams)
}

func TestGenesisState_Validate(t *testing.T) {
	scratch := newFixtureWithGenesis(t, *types.DefaultGenesis())
	tests := []struct {
		name string
		edit func(*types.GenesisState)
		err  error
	}{
		{"bad params", func(gs *types.GenesisState) { gs.Params.NumSuppliersPerSession = 0 }, types.ErrInvalidParams},
		{"duplicate service", func(gs *types.GenesisState) { gs.Services = append(gs.Services, gs.Services[0]) }, types.ErrInvalidService},
		{"invalid service", func(gs *types.GenesisState) { gs.Services[1].ComputeUnitsPerRelay = 0 }, types.ErrInvalidService},
		{"service owner malformed", func(gs *types.GenesisState) { gs.Services[1].OwnerAddress = "pokt1x" }, types.ErrInvalidAddress},
		{"application with unknown service", func(gs *types.GenesisState) { gs.Applications[0].ServiceIds = []string{"nope"} }, types.ErrServiceNotFound},
		{"application without service", func(gs *types.GenesisState) { gs.Applications[0].ServiceIds = nil }, types.ErrInvalidService},
		{"application twice", func(gs *types.GenesisState) { gs.Applications = append(gs.Applications, gs.Applications[0]) }, types.ErrApplicationAlreadyStaked},
		{"application address malformed", func(gs *types.GenesisState) { gs.Applications[0].Address = "x" }, types.ErrInvalidAddress},
		{"application stake zero", func(gs *types.GenesisState) { gs.Applications[0].Stake = coin(0) }, types.ErrInvalidStake},
		{"application stake denom", func(gs *types.GenesisState) { gs.Applications[0].Stake.Denom = "uatom" }, types.ErrInvalidStake},
		{"supplier with unknown service", func(gs *types.GenesisState) { gs.Suppliers[0].Services = supplierServices("nope") }, types.ErrServiceNotFound},
		{"supplier twice", func(gs *types.GenesisState) { gs.Suppliers = append(gs.Suppliers, gs.Suppliers[0]) }, types.ErrSupplierAlreadyStaked},
		{"supplier endpoint not a url", func(gs *types.GenesisState) { gs.Suppliers[0].Services[0].EndpointUrl = "not a url" }, types.ErrInvalidServiceConfig},
		{"supplier address malformed", func(gs *types.GenesisState) { gs.Suppliers[0].OperatorAddress = "" }, types.ErrInvalidAddress},
		{"supplier stake denom", func(gs *types.GenesisState) { gs.Suppliers[0].Stake.Denom = "uatom" }, types.ErrInvalidStake},
	}
	require.NoError(t, fullGenesis(scratch).Validate())
	require.NoError(t, types.DefaultGenesis().Validate())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gs := fullGenesis(scratch)
			tc.edit(&gs)
			require.ErrorIs(t, gs.Validate(), tc.err)
		})
	}
}
