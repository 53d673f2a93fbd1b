package keeper_test

import (
	"testing"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"
	"github.com/cosmos/cosmos-sdk/types/query"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pokt-network/poktroll/testutil/relaytest"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// settleAt19 runs block 19's EndBlocker, where session 5-8's claims settle,
// with a fresh event manager.
func (cf claimFixture) settleAt19() {
	cf.t.Helper()
	cf.advanceTo(19)
	cf.resetEvents()
	cf.endBlock()
}

// requireNoClaims checks that no claim or proof of session 5-8 is left, in
// the claims and in both of their indexes.
func (cf claimFixture) requireNoClaims() {
	cf.t.Helper()
	for _, req := range []*types.QueryClaimsRequest{
		{},
		{SessionId: cf.hdr.SessionId},
		{SupplierOperatorAddress: cf.bob},
		{SupplierOperatorAddress: cf.carol},
		{ProofWindowCloseHeight: 19},
	} {
		res, err := cf.queries.Claims(cf.ctx, req)
		require.NoError(cf.t, err)
		require.Empty(cf.t, res.Claims, "%v", req)
	}
	for _, sup := range []string{cf.bob, cf.carol} {
		has, err := cf.k.Proofs.Has(cf.ctx, collections.Join(cf.hdr.SessionId, sup))
		require.NoError(cf.t, err)
		require.False(cf.t, has)
	}
}

// TestSettlement_CappedAtApplicationStake: a claim worth more than the
// application's stake is paid exactly that stake.
func TestSettlement_CappedAtApplicationStake(t *testing.T) {
	// 300 relays x 2 compute units x 5,000 = 3,000,000 > alice's 2,000,000.
	f := newClaimFixture(t, func(p *types.Params) { p.ComputeUnitsToTokensMultiplier = 5_000 })
	tr := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, numRelays)...)
	f.advanceTo(10)
	require.NoError(t, f.claim(f.bob, tr.Root()))
	f.advanceTo(15)
	require.NoError(t, f.prove(f.bob, tr.Prove(t, f.proofPath())))

	bobBefore, moduleBefore := f.balance(f.bob), f.moduleBalance()
	f.settleAt19()
	settled := eventsOf[*types.EventClaimSettled](f.fixture)
	require.Len(t, settled, 1)
	require.Equal(t, coin(2_000_000), settled[0].Amount)
	require.True(t, settled[0].Capped)
	require.True(t, settled[0].ProofRequired)
	require.Equal(t, uint64(numRelays*ethComputeUnits), settled[0].NumClaimedComputeUnits)
	require.Equal(t, bobBefore.AddRaw(2_000_000), f.balance(f.bob))
	require.Equal(t, moduleBefore.SubRaw(2_000_000), f.moduleBalance())
	require.Equal(t, coin(0), f.stake(f.alice))
	require.Equal(t, coin(2_000_000), f.stake(f.bob))
	require.Empty(t, eventsOf[*types.EventSupplierSlashed](f.fixture))
	f.requireNoClaims()
}

// TestSettlement_DifficultyMultiplier: under a target of 2^255-1 a relay is
// minable with probability 1/2, so each claimed relay stands for two and the
// payout doubles.
func TestSettlement_DifficultyMultiplier(t *testing.T) {
	half := target(0x7f)
	f := newClaimFixture(t, withTarget("eth", half), func(p *types.Params) { p.ComputeUnitsToTokensMultiplier = 3 })
	tr := relaytest.NewTree(t, ethComputeUnits, relaysByTarget(t, f.hdr, f.aliceKey, f.bobKey, numRelays, half, true)...)
	f.advanceTo(10)
	require.NoError(t, f.claim(f.bob, tr.Root()))
	f.advanceTo(15)
	require.NoError(t, f.prove(f.bob, tr.Prove(t, f.proofPath())))

	bobBefore := f.balance(f.bob)
	f.settleAt19()
	const want = numRelays * ethComputeUnits * 3 * 2 // count x CUPR x multiplier x 2^256/(target+1)
	settled := eventsOf[*types.EventClaimSettled](f.fixture)
	require.Len(t, settled, 1)
	require.Equal(t, coin(want), settled[0].Amount)
	require.False(t, settled[0].Capped)
	require.Equal(t, uint64(numRelays*ethComputeUnits), settled[0].NumClaimedComputeUnits)
	require.Equal(t, bobBefore.AddRaw(want), f.balance(f.bob))
	require.Equal(t, coin(2_000_000-want), f.stake(f.alice))
}

// TestSettlement_MissingRequiredProof: every claim must be proven (ppm
// 10^6); bob never proves, so his claim expires and he is slashed, and alice
// pays nothing.
func TestSettlement_MissingRequiredProof(t *testing.T) {
	f := newClaimFixture(t)
	tr := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, numRelays)...)
	f.advanceTo(10)
	require.NoError(t, f.claim(f.bob, tr.Root()))
	f.advanceTo(15)
	req, err := f.queries.ProofRequirement(f.ctx, &types.QueryProofRequirementRequest{SessionId: f.hdr.SessionId, SupplierOperatorAddress: f.bob})
	require.NoError(t, err)
	require.True(t, req.Required)

	bobBefore, moduleBefore := f.balance(f.bob), f.moduleBalance()
	f.settleAt19()
	wantClaim := types.Claim{SupplierOperatorAddress: f.bob, SessionHeader: f.hdr, RootHash: tr.Root(), ProofWindowCloseHeight: 19}
	require.Equal(t, []*types.EventClaimExpired{{Claim: wantClaim, Reason: "required proof missing"}}, eventsOf[*types.EventClaimExpired](f.fixture))
	require.Equal(t, []*types.EventSupplierSlashed{{SupplierOperatorAddress: f.bob, SessionId: f.hdr.SessionId, Penalty: coin(100_000)}},
		eventsOf[*types.EventSupplierSlashed](f.fixture))
	require.Empty(t, eventsOf[*types.EventClaimSettled](f.fixture))
	require.Equal(t, coin(2_000_000-100_000), f.stake(f.bob))
	require.Equal(t, coin(2_000_000), f.stake(f.alice), "the application pays nothing")
	require.Equal(t, bobBefore, f.balance(f.bob))
	require.Equal(t, sdkmath.NewInt(100_000), f.bank.burned.AmountOf(denom))
	require.Equal(t, moduleBefore.SubRaw(100_000), f.moduleBalance())
	f.requireNoClaims()
}

// TestSettlement_ProofNotRequired: with ppm 0 a claim worth no more than the
// threshold is never drawn, and is paid without a proof.
func TestSettlement_ProofNotRequired(t *testing.T) {
	f := newClaimFixture(t, func(p *types.Params) { p.ProofRequestProbabilityPpm = 0 })
	tr := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, numRelays)...)
	f.advanceTo(10)
	require.NoError(t, f.claim(f.bob, tr.Root()))
	f.advanceTo(15)
	req, err := f.queries.ProofRequirement(f.ctx, &types.QueryProofRequirementRequest{SessionId: f.hdr.SessionId, SupplierOperatorAddress: f.bob})
	require.NoError(t, err)
	require.False(t, req.Required)

	bobBefore, moduleBefore := f.balance(f.bob), f.moduleBalance()
	f.settleAt19()
	const want = numRelays * ethComputeUnits
	settled := eventsOf[*types.EventClaimSettled](f.fixture)
	require.Len(t, settled, 1)
	require.False(t, settled[0].ProofRequired)
	require.Equal(t, coin(want), settled[0].Amount)
	require.Equal(t, bobBefore.AddRaw(want), f.balance(f.bob))
	require.Equal(t, moduleBefore.SubRaw(want), f.moduleBalance())
	require.Equal(t, coin(2_000_000-want), f.stake(f.alice))
	require.Equal(t, coin(2_000_000), f.stake(f.bob), "nothing slashed")
	require.Empty(t, f.bank.burned)
	require.Empty(t, eventsOf[*types.EventClaimExpired](f.fixture))
	require.Empty(t, eventsOf[*types.EventSupplierSlashed](f.fixture))
	f.requireNoClaims()
}

// TestProofRequirement_Threshold: with ppm 0 only claims worth more than
// proof_requirement_threshold must be proven. bob's 300 relays are worth the
// threshold exactly; carol's 301 are worth 2 more.
func TestProofRequirement_Threshold(t *testing.T) {
	f := newClaimFixture(t, func(p *types.Params) {
		p.ProofRequestProbabilityPpm = 0
		p.ProofRequirementThreshold = coin(numRelays * ethComputeUnits)
	})
	bobTree := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, numRelays)...)
	carolTree := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.carolKey, numRelays+1)...)
	f.advanceTo(10)
	require.NoError(t, f.claim(f.bob, bobTree.Root()))
	require.NoError(t, f.claim(f.carol, carolTree.Root()))
	f.advanceTo(15)
	for sup, want := range map[string]bool{f.bob: false, f.carol: true} {
		req, err := f.queries.ProofRequirement(f.ctx, &types.QueryProofRequirementRequest{SessionId: f.hdr.SessionId, SupplierOperatorAddress: sup})
		require.NoError(t, err)
		require.Equal(t, want, req.Required, sup)
		require.Equal(t, int64(14), req.SeedBlockHeight)
	}

	f.settleAt19()
	settled := eventsOf[*types.EventClaimSettled](f.fixture)
	require.Len(t, settled, 1)
	require.Equal(t, f.bob, settled[0].Claim.SupplierOperatorAddress)
	expired := eventsOf[*types.EventClaimExpired](f.fixture)
	require.Len(t, expired, 1)
	require.Equal(t, f.carol, expired[0].Claim.SupplierOperatorAddress)
	require.Equal(t, coin(2_000_000-100_000), f.stake(f.carol))
	require.Equal(t, coin(2_000_000), f.stake(f.bob))
}

// TestProofRequirement_Draw: below the threshold the query answers the draw
// protocol.ProofRequired makes from the hash of the proof seed block 14.
func TestProofRequirement_Draw(t *testing.T) {
	f := newClaimFixture(t, func(p *types.Params) { p.ProofRequestProbabilityPpm = 500_000 })
	params, err := f.k.GetParams(f.ctx)
	require.NoError(t, err)
	f.advanceTo(10)
	var claims []types.Claim
	for i, sup := range []string{f.bob, f.carol} {
		root := rootOf(numRelays*ethComputeUnits, numRelays)
		root[0] = byte(i)
		require.NoError(t, f.claim(sup, root))
		claims = append(claims, types.Claim{SupplierOperatorAddress: sup, SessionHeader: f.hdr, RootHash: root, ProofWindowCloseHeight: 19})
	}
	f.advanceTo(15)
	drawn := map[bool]int{}
	for _, c := range claims {
		want := protocol.ProofRequired(params, sdkmath.NewInt(numRelays*ethComputeUnits), blockHashOf(14), &c)
		req, err := f.queries.ProofRequirement(f.ctx, &types.QueryProofRequirementRequest{SessionId: f.hdr.SessionId, SupplierOperatorAddress: c.SupplierOperatorAddress})
		require.NoError(t, err)
		require.Equal(t, want, req.Required, c.SupplierOperatorAddress)
		drawn[want]++
	}
	require.Len(t, drawn, 2, "the fixture draws one required and one not: otherwise the test shows little")

	_, err = f.queries.ProofRequirement(f.ctx, &types.QueryProofRequirementRequest{SessionId: f.hdr.SessionId, SupplierOperatorAddress: f.newAccount("dave", 0)})
	require.Equal(t, codes.NotFound, status.Code(err))
	require.ErrorContains(t, err, types.ErrClaimNotFound.Error())
}

// TestClaimsQuery_Filters: claims of two applications' sessions 5-8 (proof
// window closing at 19) and of alice's session 9-12 (closing at 23), listed
// by each filter, before and after session 5-8 settles.
func TestClaimsQuery_Filters(t *testing.T) {
	f := newClaimFixture(t)
	dave := f.newAccount("dave", 10_000_000)
	f.stakeApp(dave, 2_000_000, "eth") // active from 9
	bobTree := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, numRelays)...)

	f.advanceTo(10)
	daveSession, err := f.k.GetSession(f.ctx, dave, "eth", 10)
	require.NoError(t, err)
	alice58 := types.Claim{SupplierOperatorAddress: f.bob, SessionHeader: f.hdr, RootHash: bobTree.Root(), ProofWindowCloseHeight: 19}
	carol58 := types.Claim{SupplierOperatorAddress: f.carol, SessionHeader: f.hdr, RootHash: rootOf(20, 10), ProofWindowCloseHeight: 19}
	require.NoError(t, f.claim(f.bob, alice58.RootHash))
	require.NoError(t, f.claim(f.carol, carol58.RootHash))

	f.advanceTo(14)
	aliceSession, err := f.k.GetSession(f.ctx, f.alice, "eth", 10)
	require.NoError(t, err)
	require.Equal(t, f.nextSession(), aliceSession.Header)
	alice912 := types.Claim{SupplierOperatorAddress: f.bob, SessionHeader: aliceSession.Header, RootHash: rootOf(40, 20), ProofWindowCloseHeight: 23}
	dave912 := types.Claim{SupplierOperatorAddress: f.carol, SessionHeader: daveSession.Header, RootHash: rootOf(60, 30), ProofWindowCloseHeight: 23}
	for _, c := range []types.Claim{alice912, dave912} {
		_, err := f.msgs.CreateClaim(f.ctx, &types.MsgCreateClaim{SupplierOperatorAddress: c.SupplierOperatorAddress, SessionHeader: c.SessionHeader, RootHash: c.RootHash})
		require.NoError(t, err)
	}

	list := func(req *types.QueryClaimsRequest) []types.Claim {
		t.Helper()
		res, err := f.queries.Claims(f.ctx, req)
		require.NoError(t, err)
		return res.Claims
	}
	require.ElementsMatch(t, []types.Claim{alice58, carol58, alice912, dave912}, list(&types.QueryClaimsRequest{}))
	require.ElementsMatch(t, []types.Claim{alice58, alice912}, list(&types.QueryClaimsRequest{SupplierOperatorAddress: f.bob}))
	require.ElementsMatch(t, []types.Claim{carol58, dave912}, list(&types.QueryClaimsRequest{SupplierOperatorAddress: f.carol}))
	require.ElementsMatch(t, []types.Claim{alice58, carol58}, list(&types.QueryClaimsRequest{SessionId: f.hdr.SessionId}))
	require.ElementsMatch(t, []types.Claim{dave912}, list(&types.QueryClaimsRequest{SessionId: daveSession.Header.SessionId}))
	require.ElementsMatch(t, []types.Claim{alice58, carol58}, list(&types.QueryClaimsRequest{ProofWindowCloseHeight: 19}))
	require.ElementsMatch(t, []types.Claim{alice912, dave912}, list(&types.QueryClaimsRequest{ProofWindowCloseHeight: 23}))
	require.Empty(t, list(&types.QueryClaimsRequest{ProofWindowCloseHeight: 18}))
	require.Empty(t, list(&types.QueryClaimsRequest{SupplierOperatorAddress: dave}))

	page, err := f.queries.Claims(f.ctx, &types.QueryClaimsRequest{SupplierOperatorAddress: f.bob, Pagination: &query.PageRequest{Limit: 1, CountTotal: true}})
	require.NoError(t, err)
	require.Len(t, page.Claims, 1)
	require.Equal(t, uint64(2), page.Pagination.Total)
	require.NotEmpty(t, page.Pagination.NextKey)

	_, err = f.queries.Claims(f.ctx, &types.QueryClaimsRequest{SupplierOperatorAddress: f.bob, ProofWindowCloseHeight: 19})
	require.Equal(t, codes.InvalidArgument, status.Code(err))
	require.ErrorContains(t, err, types.ErrInvalidRequest.Error())

	// bob proves his session 5-8 claim; carol does not prove hers.
	f.advanceTo(15)
	require.NoError(t, f.prove(f.bob, bobTree.Prove(t, f.proofPath())))
	f.settleAt19()
	require.Len(t, eventsOf[*types.EventClaimSettled](f.fixture), 1)
	require.Len(t, eventsOf[*types.EventClaimExpired](f.fixture), 1)

	require.ElementsMatch(t, []types.Claim{alice912, dave912}, list(&types.QueryClaimsRequest{}))
	require.ElementsMatch(t, []types.Claim{alice912}, list(&types.QueryClaimsRequest{SupplierOperatorAddress: f.bob}))
	require.ElementsMatch(t, []types.Claim{dave912}, list(&types.QueryClaimsRequest{SupplierOperatorAddress: f.carol}))
	require.Empty(t, list(&types.QueryClaimsRequest{SessionId: f.hdr.SessionId}))
	require.Empty(t, list(&types.QueryClaimsRequest{ProofWindowCloseHeight: 19}))
	_, err = f.queries.Proof(f.ctx, &types.QueryProofRequest{SessionId: f.hdr.SessionId, SupplierOperatorAddress: f.bob})
	require.Equal(t, codes.NotFound, status.Code(err), "the proof is removed with its claim")
	_, err = f.queries.Claim(f.ctx, &types.QueryClaimRequest{SessionId: f.hdr.SessionId, SupplierOperatorAddress: f.bob})
	require.Equal(t, codes.NotFound, status.Code(err))
	require.ErrorContains(t, err, types.ErrClaimNotFound.Error())
}

// A chain restarted from an export while a proof window is open must still
// settle its claims: the export carries the seed block hashes. Without them
// the claim expires with its reason; the chain never halts.
func TestSettlement_AfterRestartFromExport(t *testing.T) {
	for _, withHashes := range []bool{true, false} {
		t.Run(map[bool]string{true: "with recorded hashes", false: "without hashes"}[withHashes], func(t *testing.T) {
			scratch := newFixtureWithGenesis(t, *types.DefaultGenesis())
			gs := fullGenesis(scratch)
			require.NotEmpty(t, gs.Claims)
			gs.Proofs = nil
			// No proof needed: the claim settles if its seed block is known.
			gs.Params.ProofRequestProbabilityPpm = 0
			gs.Params.ProofRequirementThreshold.Amount = sdkmath.NewIntWithDecimal(1, 30)
			if withHashes {
				for h := int64(1); h <= 13; h++ {
					gs.BlockHashes = append(gs.BlockHashes, types.BlockHash{Height: h, Hash: blockHashOf(h)})
				}
			}
			f := newFixtureWithGenesis(t, gs)
			for _, a := range gs.Applications { // genesis stakes sit in the module account
				f.bank.modules[types.ModuleName] = f.bank.modules[types.ModuleName].Add(a.Stake)
			}
			f.height = 13 // the chain resumes at the height it was exported at
			f.resetEvents()
			f.advanceTo(15)
			f.endBlock() // must not fail, whatever the claim
			settled, expired := eventsOf[*types.EventClaimSettled](f), eventsOf[*types.EventClaimExpired](f)
			if withHashes {
				require.Len(t, settled, len(gs.Claims), "expired: %v", expired)
				require.Empty(t, expired)
			} else {
				require.Empty(t, settled)
				require.Len(t, expired, len(gs.Claims))
				require.Contains(t, expired[0].Reason, "settlement failed")
			}
			left, err := f.queries.Claims(f.ctx, &types.QueryClaimsRequest{})
			require.NoError(t, err)
			require.Empty(t, left.Claims, "settled or expired claims are removed")
		})
	}
}
