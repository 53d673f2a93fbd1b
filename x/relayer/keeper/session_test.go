package keeper_test

import (
	"testing"

	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// sessionFixture: services eth and sol; app alice staked for eth; suppliers
// s1, s2, s3 staked for eth; all staked at height 1, so active from 5.
type sessionFixture struct {
	*fixture
	alice     string
	suppliers []string
}

func newSessionFixture(t *testing.T, edits ...func(*types.Params)) sessionFixture {
	f := newFixture(t, edits...)
	f.addService("eth", 2)
	f.addService("sol", 1)
	sf := sessionFixture{fixture: f, alice: f.newAccount("alice", 10_000_000)}
	require.Equal(t, int64(5), f.stakeApp(sf.alice, 2_000_000, "eth").ActivationHeight)
	for _, name := range []string{"s1", "s2", "s3"} {
		addr := f.newAccount(name, 10_000_000)
		f.stakeSupplier(addr, 2_000_000, "eth")
		sf.suppliers = append(sf.suppliers, addr)
	}
	return sf
}

func operators(ss []types.Supplier) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.OperatorAddress
	}
	return out
}

func TestGetSession_BeforeActivation(t *testing.T) {
	f := newSessionFixture(t)
	f.advanceTo(4)
	for h := int64(1); h <= 4; h++ {
		_, err := f.k.GetSession(f.ctx, f.alice, "eth", h)
		require.ErrorIs(t, err, types.ErrApplicationNotActive, "height %d", h)
	}
	_, err := f.queries.GetSession(f.ctx, &types.QueryGetSessionRequest{ApplicationAddress: f.alice, ServiceId: "eth"})
	require.ErrorIs(t, err, types.ErrApplicationNotActive)
}

func TestGetSession_Active(t *testing.T) {
	f := newSessionFixture(t, func(p *types.Params) { p.NumSuppliersPerSession = 2 })
	f.advanceTo(6)

	res, err := f.queries.GetSession(f.ctx, &types.QueryGetSessionRequest{ApplicationAddress: f.alice, ServiceId: "eth", BlockHeight: 6})
	require.NoError(t, err)
	s := res.Session

	// Header: session 5-8, id seeded by the hash of block 4.
	seed, err := f.k.BlockHashes.Get(f.ctx, 4)
	require.NoError(t, err)
	require.Equal(t, blockHashOf(4), seed, "BeginBlocker records the header hash")
	wantHeader := types.SessionHeader{
		ApplicationAddress:      f.alice,
		ServiceId:               "eth",
		SessionId:               protocol.SessionID(blockHashOf(4), "eth", f.alice, 5),
		SessionStartBlockHeight: protocol.SessionStartHeight(4, 6),
		SessionEndBlockHeight:   protocol.SessionEndHeight(4, 6),
	}
	require.Equal(t, int64(5), wantHeader.SessionStartBlockHeight)
	require.Equal(t, int64(8), wantHeader.SessionEndBlockHeight)
	require.Equal(t, wantHeader, s.Header)
	require.NoError(t, s.Header.ValidateBasic())
	require.Equal(t, int64(1), s.SessionNumber)
	require.Equal(t, int64(4), s.NumBlocksPerSession)
	app, err := f.k.Applications.Get(f.ctx, f.alice)
	require.NoError(t, err)
	require.Equal(t, app, s.Application)

	// Suppliers: 2 of the 3, the ones protocol.SelectSuppliers ranks first.
	require.Len(t, s.Suppliers, 2)
	var all []types.Supplier
	for _, addr := range f.suppliers {
		sup, err := f.k.Suppliers.Get(f.ctx, addr)
		require.NoError(t, err)
		all = append(all, sup)
	}
	require.Equal(t, protocol.SelectSuppliers(wantHeader.SessionId, all, 2), s.Suppliers)
	require.Subset(t, f.suppliers, operators(s.Suppliers))
	require.NotEqual(t, s.Suppliers[0].OperatorAddress, s.Suppliers[1].OperatorAddress)

	// Deterministic, and every height of the session gives the same session.
	again, err := f.k.GetSession(f.ctx, f.alice, "eth", 6)
	require.NoError(t, err)
	require.Equal(t, s, again)
	now, err := f.queries.GetSession(f.ctx, &types.QueryGetSessionRequest{ApplicationAddress: f.alice, ServiceId: "eth"})
	require.NoError(t, err)
	require.Equal(t, s, now.Session, "block height 0 means the current height")
	five, err := f.k.GetSession(f.ctx, f.alice, "eth", 5)
	require.NoError(t, err)
	require.Equal(t, s, five)

	// The next session has another id, seeded by block 8's hash.
	f.advanceTo(9)
	next, err := f.k.GetSession(f.ctx, f.alice, "eth", 9)
	require.NoError(t, err)
	require.Equal(t, protocol.SessionID(blockHashOf(8), "eth", f.alice, 9), next.Header.SessionId)
	require.NotEqual(t, s.Header.SessionId, next.Header.SessionId)
	require.Equal(t, int64(2), next.SessionNumber)
}

func TestGetSession_Rejections(t *testing.T) {
	f := newSessionFixture(t)
	stranger := f.newAccount("stranger", 0)
	f.advanceTo(6)
	tests := []struct {
		name    string
		app     string
		service string
		h       int64
		err     error
	}{
		{"unknown application", stranger, "eth", 6, types.ErrApplicationNotFound},
		{"application not staked for service", f.alice, "sol", 6, types.ErrApplicationNotForService},
		{"height in the future", f.alice, "eth", 7, types.ErrInvalidHeight},
		{"height far in the future", f.alice, "eth", 1 << 40, types.ErrInvalidHeight},
		{"height zero", f.alice, "eth", 0, types.ErrInvalidHeight},
		{"negative height", f.alice, "eth", -4, types.ErrInvalidHeight},
		{"malformed application address", "pokt1nope", "eth", 6, types.ErrInvalidAddress},
		{"malformed service id", f.alice, "e th", 6, types.ErrInvalidService},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.k.GetSession(f.ctx, tc.app, tc.service, tc.h)
			require.ErrorIs(t, err, tc.err)
		})
	}
	// Through the query server too (height 0 there means "now", so it is
	// not an error case).
	_, err := f.queries.GetSession(f.ctx, &types.QueryGetSessionRequest{ApplicationAddress: f.alice, ServiceId: "eth", BlockHeight: 7})
	require.ErrorIs(t, err, types.ErrInvalidHeight)
	_, err = f.queries.GetSession(f.ctx, &types.QueryGetSessionRequest{ApplicationAddress: stranger, ServiceId: "eth"})
	require.ErrorIs(t, err, types.ErrApplicationNotFound)
	_, err = f.queries.GetSession(f.ctx, &types.QueryGetSessionRequest{ApplicationAddress: f.alice, ServiceId: "sol"})
	require.ErrorIs(t, err, types.ErrApplicationNotForService)
}

func TestGetSession_PastSessionServedUntilProofWindowCloses(t *testing.T) {
	f := newSessionFixture(t)
	f.advanceTo(7)
	want, err := f.k.GetSession(f.ctx, f.alice, "eth", 7)
	require.NoError(t, err)

	// Session 5-8 closes its proof window at 8 + 12 = 20, session 9-12 at
	// 24.
	w := protocol.SessionWindows(testParams(), 8)
	require.Equal(t, int64(20), w.ProofWindowClose)
	for _, cur := range []int64{9, w.ClaimSeed, w.ClaimWindowOpen, w.ProofSeed, w.ProofWindowOpen, w.ProofWindowClose} {
		f.advanceTo(cur)
		for _, h := range []int64{5, 8} {
			got, err := f.k.GetSession(f.ctx, f.alice, "eth", h)
			require.NoError(t, err, "current height %d, session height %d", cur, h)
			require.Equal(t, want, got, "current height %d, session height %d", cur, h)
		}
	}
	f.advanceTo(w.ProofWindowClose + 1)
	for _, h := range []int64{1, 4, 5, 8} {
		_, err = f.k.GetSession(f.ctx, f.alice, "eth", h)
		require.ErrorIs(t, err, types.ErrInvalidHeight, "height %d: its session's proof window closed", h)
	}
	_, err = f.queries.GetSession(f.ctx, &types.QueryGetSessionRequest{ApplicationAddress: f.alice, ServiceId: "eth", BlockHeight: 8})
	require.ErrorIs(t, err, types.ErrInvalidHeight)
	// Session 9-12 closes later: still served.
	require.Greater(t, protocol.SessionWindows(testParams(), 12).ProofWindowClose, f.height)
	_, err = f.k.GetSession(f.ctx, f.alice, "eth", 9)
	require.NoError(t, err)
}

// TestGetSession_ApplicationStakeIsTheStakeAtSessionStart: a session's
// application carries the stake it had at the end of the block before the
// session's start, whatever happened to it since; sessions starting after a
// change see it.
func TestGetSession_ApplicationStakeIsTheStakeAtSessionStart(t *testing.T) {
	f := newSessionFixture(t)
	f.advanceTo(4)
	// Added at 4, the last block before session 5-8: it counts for 5-8.
	_, err := f.msgs.AddApplicationStake(f.ctx, &types.MsgAddApplicationStake{Address: f.alice, Amount: coin(500_000)})
	require.NoError(t, err)
	f.advanceTo(5)
	// Added at 5, session 5-8's first block: it counts from session 9-12.
	_, err = f.msgs.AddApplicationStake(f.ctx, &types.MsgAddApplicationStake{Address: f.alice, Amount: coin(1_000_000)})
	require.NoError(t, err)
	f.advanceTo(7)
	_, err = f.msgs.AddApplicationStake(f.ctx, &types.MsgAddApplicationStake{Address: f.alice, Amount: coin(2_000_000)})
	require.NoError(t, err)
	stakeIn := func(h int64) sdk.Coin {
		t.Helper()
		s, err := f.k.GetSession(f.ctx, f.alice, "eth", h)
		require.NoError(t, err)
		return s.Application.Stake
	}
	for _, h := range []int64{5, 6, 7} {
		require.Equal(t, coin(2_500_000), stakeIn(h), "height %d", h)
	}
	res, err := f.queries.GetSession(f.ctx, &types.QueryGetSessionRequest{ApplicationAddress: f.alice, ServiceId: "eth"})
	require.NoError(t, err)
	require.Equal(t, coin(2_500_000), res.Session.Application.Stake, "through the query server too")
	app, err := f.k.Applications.Get(f.ctx, f.alice)
	require.NoError(t, err)
	require.Equal(t, coin(5_500_000), app.Stake, "the application itself has its current stake")

	f.advanceTo(9)
	require.Equal(t, coin(5_500_000), stakeIn(9))
	require.Equal(t, coin(2_500_000), stakeIn(8), "the past session is unchanged")
}

func TestGetSession_SupplierStakedMidSessionJoinsNextSession(t *testing.T) {
	f := newSessionFixture(t) // 15 suppliers per session: no one is left out
	f.advanceTo(6)
	require.ElementsMatch(t, f.suppliers, f.sessionSuppliers(6))

	late := f.newAccount("late", 10_000_000)
	require.Equal(t, int64(9), f.stakeSupplier(late, 2_000_000, "eth").ActivationHeight)
	require.ElementsMatch(t, f.suppliers, f.sessionSuppliers(6), "a running session's membership never changes")
	f.advanceTo(8)
	require.ElementsMatch(t, f.suppliers, f.sessionSuppliers(8))

	f.advanceTo(9)
	require.ElementsMatch(t, append([]string{late}, f.suppliers...), f.sessionSuppliers(9))
	require.ElementsMatch(t, f.suppliers, f.sessionSuppliers(8), "the past session is unchanged")
}

func (f sessionFixture) sessionSuppliers(h int64) []string {
	f.t.Helper()
	s, err := f.k.GetSession(f.ctx, f.alice, "eth", h)
	require.NoError(f.t, err)
	return operators(s.Suppliers)
}

func TestGetSession_SuppliersOfOtherServicesExcluded(t *testing.T) {
	f := newSessionFixture(t)
	solOnly := f.newAccount("sol-only", 10_000_000)
	f.stakeSupplier(solOnly, 2_000_000, "sol")
	f.advanceTo(5)
	require.ElementsMatch(t, f.suppliers, f.sessionSuppliers(5))
}

func TestGetSession_GenesisActorsActiveFromFirstSession(t *testing.T) {
	gs := types.GenesisState{Params: testParams()}
	f := newFixtureWithGenesis(t, gs) // makes the service owner
	app, sup := f.newAccount("gen-app", 0), f.newAccount("gen-sup", 0)
	gs.Services = []types.Service{{Id: "eth", Name: "eth", ComputeUnitsPerRelay: 1, OwnerAddress: f.serviceOwner}}
	gs.Applications = []types.Application{{Address: app, Stake: coin(2_000_000), ServiceIds: []string{"eth"}}}
	gs.Suppliers = []types.Supplier{{OperatorAddress: sup, Stake: coin(2_000_000), Services: supplierServices("eth")}}
	require.NoError(t, gs.Validate())
	require.NoError(t, f.k.InitGenesis(f.ctx, gs))
	f.advanceTo(2)

	s, err := f.k.GetSession(f.ctx, app, "eth", 1)
	require.NoError(t, err)
	// Session 1-4 has no block before it: its seed hash is empty.
	require.Equal(t, protocol.SessionID(nil, "eth", app, 1), s.Header.SessionId)
	require.Equal(t, int64(1), s.Header.SessionStartBlockHeight)
	require.Equal(t, int64(4), s.Header.SessionEndBlockHeight)
	require.Equal(t, int64(0), s.SessionNumber)
	require.Equal(t, []string{sup}, operators(s.Suppliers))
}

func TestGetSession_ParamsChangeAppliesFromNextSession(t *testing.T) {
	f := newSessionFixture(t) // 15 suppliers per session
	f.advanceTo(6)
	require.Len(t, f.sessionSuppliers(6), 3)

	p := testParams()
	p.NumSuppliersPerSession = 1
	_, err := f.msgs.UpdateParams(f.ctx, &types.MsgUpdateParams{Authority: f.authority, Params: p})
	require.NoError(t, err)
	f.advanceTo(7)
	require.Len(t, f.sessionSuppliers(7), 3, "session 5-8 keeps the params in force at its start")
	require.Len(t, f.sessionSuppliers(5), 3)
	f.advanceTo(9)
	require.Len(t, f.sessionSuppliers(9), 1, "session 9-12 uses the new params")
}
