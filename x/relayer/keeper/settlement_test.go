package keeper_test

import (
	"testing"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"
	"github.com/cosmos/cosmos-sdk/types/query"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pokt-network/poktroll/testutil/relaytest"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// settleAtClose runs the EndBlocker of session 5-8's last proof window
// height, where its claims settle, with a fresh event manager.
func (cf claimFixture) settleAtClose() {
	cf.t.Helper()
	cf.advanceTo(cf.w.ProofWindowClose)
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
		{ProofWindowCloseHeight: cf.w.ProofWindowClose},
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

// claimedTokensOf is what a tree of n eth relays is worth under params p at
// the base difficulty.
func claimedTokensOf(p types.Params, n uint64) sdkmath.Int {
	return protocol.ClaimedTokens(n*ethComputeUnits, p.ComputeUnitsToTokensMultiplier, protocol.BaseDifficultyTarget)
}

// bigClaimRelays relays at multiplier bigClaimMultiplier are worth
// 3,000,000, more than alice's whole 2,000,000 stake.
const (
	bigClaimRelays     = 30
	bigClaimMultiplier = 50_000
)

// sessionClaim is a supplier's claim of a session, with its tree.
type sessionClaim struct {
	hdr types.SessionHeader
	w   protocol.Windows
	sup string
	tr  *relaytest.Tree
}

func withMultiplier(m uint64) func(*types.Params) {
	return func(p *types.Params) { p.ComputeUnitsToTokensMultiplier = m }
}

// TestSettlement_CappedAtSupplierShare: a claim worth more than the
// supplier's share of the application's stake at the session's start
// (2,000,000 / 2 suppliers) is paid exactly that share; the event reports
// the excess and the share.
func TestSettlement_CappedAtSupplierShare(t *testing.T) {
	f := newClaimFixture(t, withMultiplier(bigClaimMultiplier))
	tr := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, bigClaimRelays)...)
	require.NoError(t, f.claimAndProve(t, tr, nil))

	bobBefore, moduleBefore := f.balance(f.bob), f.moduleBalance()
	f.settleAtClose()
	require.Equal(t, []*types.EventClaimSettled{{Claim: f.claimed(f.bob, tr.Root), ProofRequired: true, NumClaimedComputeUnits: bigClaimRelays * ethComputeUnits,
		Amount: coin(1_000_000), Capped: true, Excess: coin(3_000_000 - 1_000_000), Share: coin(1_000_000)}}, eventsOf[*types.EventClaimSettled](f.fixture))
	require.Equal(t, bobBefore.AddRaw(1_000_000), f.balance(f.bob))
	require.Equal(t, moduleBefore.SubRaw(1_000_000), f.moduleBalance())
	require.Equal(t, coin(1_000_000), f.stake(f.alice))
	require.Equal(t, coin(2_000_000), f.stake(f.bob))
	require.Empty(t, eventsOf[*types.EventSupplierSlashed](f.fixture))
	f.requireNoClaims()
}

// TestSettlement_StakeAddedDuringTheSessionDoesNotRaiseTheShare: alice
// raises her stake from 2,000,000 to 5,000,000 in session 5-8; the session
// is still bounded by the 2,000,000 it started with, the next session by
// the new stake.
func TestSettlement_StakeAddedDuringTheSessionDoesNotRaiseTheShare(t *testing.T) {
	f := newClaimFixture(t, withMultiplier(bigClaimMultiplier))
	_, err := f.msgs.AddApplicationStake(f.ctx, &types.MsgAddApplicationStake{Address: f.alice, Amount: coin(3_000_000)})
	require.NoError(t, err)
	require.Equal(t, coin(5_000_000), f.stake(f.alice))
	s, _ := f.sessionAt(t, 6)
	require.Equal(t, coin(2_000_000), s.Application.Stake, "the session's application stake is its stake at the session's start")

	tr := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, bigClaimRelays)...)
	require.NoError(t, f.claimAndProve(t, tr, nil))
	next, _ := f.sessionAt(t, 9)
	require.Equal(t, coin(5_000_000), next.Application.Stake, "the next session starts with the raised stake")

	f.settleAtClose()
	settled := eventsOf[*types.EventClaimSettled](f.fixture)
	require.Len(t, settled, 1)
	require.Equal(t, coin(1_000_000), settled[0].Share, "2,000,000 at the session's start / 2 suppliers, not 5,000,000 / 2")
	require.Equal(t, coin(1_000_000), settled[0].Amount)
	require.True(t, settled[0].Capped)
	require.Equal(t, coin(2_000_000), settled[0].Excess)
	require.Equal(t, coin(4_000_000), f.stake(f.alice))
}

// TestSettlement_EarlierSettlementLowersTheShareOfLaterSessions: session
// 5-8's settlement, at the end of block 20, takes 1,000,000 of alice's
// 2,000,000. Session 17-20, which started before it, keeps 2,000,000 as its
// bound; session 21-24 starts with 1,000,000, so each of its two suppliers
// may be paid at most 500,000.
func TestSettlement_EarlierSettlementLowersTheShareOfLaterSessions(t *testing.T) {
	f := newClaimFixture(t, withMultiplier(bigClaimMultiplier))
	tr := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, bigClaimRelays)...)
	require.NoError(t, f.claimAndProve(t, tr, nil))
	f.settleAtClose()
	require.Equal(t, int64(20), f.height)
	require.Equal(t, coin(1_000_000), f.stake(f.alice))
	s17, _ := f.sessionAt(t, 17)
	require.Equal(t, int64(17), s17.Header.SessionStartBlockHeight)
	require.Equal(t, coin(2_000_000), s17.Application.Stake, "session 17-20 started before the settlement")

	f.advanceTo(21)
	s21, w21 := f.sessionAt(t, 21)
	require.Equal(t, coin(1_000_000), s21.Application.Stake)
	require.Len(t, s21.Suppliers, 2)
	tr21 := relaytest.NewTree(t, ethComputeUnits, newRelays(t, s21.Header, f.aliceKey, f.bobKey, bigClaimRelays)...)
	f.advanceTo(w21.ClaimWindowOpen)
	require.NoError(t, f.claimIn(s21.Header, f.bob, tr21.Root))
	f.advanceTo(w21.ProofWindowOpen)
	require.NoError(t, f.proveIn(t, s21.Header, w21, f.bob, tr21))
	f.advanceTo(w21.ProofWindowClose)
	f.resetEvents()
	f.endBlock()
	settled := eventsOf[*types.EventClaimSettled](f.fixture)
	require.Len(t, settled, 1)
	require.Equal(t, coin(500_000), settled[0].Share)
	require.Equal(t, coin(500_000), settled[0].Amount)
	require.Equal(t, coin(2_500_000), settled[0].Excess)
	require.True(t, settled[0].Capped)
	require.Equal(t, coin(500_000), f.stake(f.alice))
}

// TestSettlement_OverlappingSessionsNeverPayMoreThanTheStake: sessions 5-8
// and 9-12 both start with alice's 2,000,000, and both of their suppliers
// claim 3,000,000. Session 5-8 settles first and takes the whole stake;
// session 9-12's claims, within their shares, find nothing left, and the
// chain reports it (EventApplicationOverserviced). Alice never pays more
// than she staked.
func TestSettlement_OverlappingSessionsNeverPayMoreThanTheStake(t *testing.T) {
	f := newClaimFixture(t, withMultiplier(bigClaimMultiplier))
	var claims []sessionClaim
	for _, h := range []int64{6, 9} {
		f.advanceTo(h)
		s, w := f.sessionAt(t, h)
		require.Equal(t, coin(2_000_000), s.Application.Stake)
		for _, sup := range []relaytest.Actor{f.bobKey, f.carolKey} {
			claims = append(claims, sessionClaim{s.Header, w, sup.Address,
				relaytest.NewTree(t, ethComputeUnits, newRelays(t, s.Header, f.aliceKey, sup, bigClaimRelays)...)})
		}
	}
	f.resetEvents()
	for _, c := range claims {
		f.advanceTo(c.w.ClaimWindowOpen)
		require.NoError(t, f.claimIn(c.hdr, c.sup, c.tr.Root))
	}
	for _, c := range claims {
		f.advanceTo(c.w.ProofWindowOpen)
		require.NoError(t, f.proveIn(t, c.hdr, c.w, c.sup, c.tr))
	}
	f.advanceTo(claims[len(claims)-1].w.ProofWindowClose)
	f.endBlock()

	settled := eventsOf[*types.EventClaimSettled](f.fixture)
	require.Len(t, settled, 4)
	paid := sdkmath.ZeroInt()
	for _, ev := range settled {
		require.Equal(t, coin(1_000_000), ev.Share)
		require.True(t, ev.Capped)
		require.Equal(t, coin(3_000_000).Sub(ev.Amount), ev.Excess)
		if ev.Claim.SessionHeader == f.hdr {
			require.Equal(t, coin(1_000_000), ev.Amount, "session 5-8 settles first, within its share")
		} else {
			require.Equal(t, coin(0), ev.Amount, "session 9-12 finds the stake spent")
		}
		paid = paid.Add(ev.Amount.Amount)
	}
	require.Equal(t, sdkmath.NewInt(2_000_000), paid)
	require.Equal(t, coin(0), f.stake(f.alice))
	// Session 5-8 fit in the stake; session 9-12's claims, payable
	// 2,000,000 within their shares, found nothing left: the chain says so.
	over := eventsOf[*types.EventApplicationOverserviced](f.fixture)
	require.Len(t, over, 1)
	require.Equal(t, f.alice, over[0].ApplicationAddress)
	require.Equal(t, coin(2_000_000), over[0].Claimed)
	require.Equal(t, coin(0), over[0].Available)
	require.Equal(t, coin(0), over[0].Paid)
	require.EqualValues(t, 2, over[0].NumClaims)
	require.Equal(t, []string{claims[2].hdr.SessionId}, over[0].SessionIds)
}

// TestSettlement_Accounting: four suppliers in alice's session 5-8 (share
// 4,000,000 / 4): bob proves a small claim, carol proves a claim above her
// share, dave's proof fails (forged application signatures) so he has
// none, erin never proves. Every token is accounted for by the events:
// each supplier's balance moves by its EventClaimSettled amounts, its stake
// by its EventSupplierSlashed penalties, alice's stake by what her claims
// paid, and the module account by both.
func TestSettlement_Accounting(t *testing.T) {
	f := newClaimFixtureWith(t, 4_000_000, []string{"dave", "erin"}, withMultiplier(10_000))
	dave, erin := f.newAccount("dave", 0), f.newAccount("erin", 0) // same deterministic keys: already funded and staked
	suppliers := []string{f.bob, f.carol, dave, erin}
	trees := map[string]*relaytest.Tree{
		f.bob:   relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, 10)...),   // 200,000
		f.carol: relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.carolKey, 60)...), // 1,200,000 > share
		dave:    relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, signer("mallory", f.alice), signer("dave", dave), 20)...),
		erin:    relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, signer("erin", erin), 20)...),
	}
	balanceBefore, stakeBefore := map[string]sdkmath.Int{}, map[string]sdkmath.Int{}
	for _, s := range append([]string{f.alice}, suppliers...) {
		balanceBefore[s], stakeBefore[s] = f.balance(s), f.stake(s).Amount
	}
	moduleBefore, burnedBefore := f.moduleBalance(), f.bank.burned.AmountOf(denom)
	f.resetEvents()

	f.advanceTo(f.w.ClaimWindowOpen)
	for _, s := range suppliers {
		require.NoError(t, f.claim(s, trees[s].Root))
	}
	f.advanceTo(f.w.ProofWindowOpen)
	require.NoError(t, f.prove(f.bob, f.proofsOf(t, trees[f.bob], f.bob)))
	require.NoError(t, f.prove(f.carol, f.proofsOf(t, trees[f.carol], f.carol)))
	require.ErrorIs(t, f.prove(dave, f.proofsOf(t, trees[dave], dave)), types.ErrInvalidAppSignature)
	f.advanceTo(f.w.ProofWindowClose)
	f.endBlock()

	paid, penalties := map[string]sdkmath.Int{}, map[string]sdkmath.Int{}
	for _, s := range suppliers {
		paid[s], penalties[s] = sdkmath.ZeroInt(), sdkmath.ZeroInt()
	}
	totalPaid, totalBurned := sdkmath.ZeroInt(), sdkmath.ZeroInt()
	for _, ev := range eventsOf[*types.EventClaimSettled](f.fixture) {
		require.Equal(t, coin(1_000_000), ev.Share)
		paid[ev.Claim.SupplierOperatorAddress] = paid[ev.Claim.SupplierOperatorAddress].Add(ev.Amount.Amount)
		totalPaid = totalPaid.Add(ev.Amount.Amount)
	}
	for _, ev := range eventsOf[*types.EventSupplierSlashed](f.fixture) {
		penalties[ev.SupplierOperatorAddress] = penalties[ev.SupplierOperatorAddress].Add(ev.Penalty.Amount)
		totalBurned = totalBurned.Add(ev.Penalty.Amount)
	}
	for _, s := range suppliers {
		require.Equal(t, balanceBefore[s].Add(paid[s]), f.balance(s), "balance of %s", s)
		require.Equal(t, stakeBefore[s].Sub(penalties[s]), f.stake(s).Amount, "stake of %s", s)
	}
	require.Equal(t, stakeBefore[f.alice].Sub(totalPaid), f.stake(f.alice).Amount)
	require.Equal(t, balanceBefore[f.alice], f.balance(f.alice))
	require.Equal(t, moduleBefore.Sub(totalPaid).Sub(totalBurned), f.moduleBalance())
	require.Equal(t, burnedBefore.Add(totalBurned), f.bank.burned.AmountOf(denom))

	// And the outcome per supplier is the one the scenario calls for.
	require.Equal(t, map[string]sdkmath.Int{f.bob: sdkmath.NewInt(200_000), f.carol: sdkmath.NewInt(1_000_000), dave: sdkmath.ZeroInt(), erin: sdkmath.ZeroInt()}, paid)
	require.Equal(t, map[string]sdkmath.Int{f.bob: sdkmath.ZeroInt(), f.carol: sdkmath.ZeroInt(), dave: sdkmath.NewInt(100_000), erin: sdkmath.NewInt(100_000)}, penalties)
	require.Len(t, eventsOf[*types.EventClaimExpired](f.fixture), 2)
	f.requireNoClaims()
}

// TestSettlement_SlashUsesTheSessionsPenalty: governance raises the
// missing-proof penalty while session 5-8's proof window is open; the
// session's claims are slashed with the penalty in force at its start.
func TestSettlement_SlashUsesTheSessionsPenalty(t *testing.T) {
	f := newClaimFixture(t)
	tr := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, 10)...)
	f.advanceTo(f.w.ClaimWindowOpen)
	require.NoError(t, f.claim(f.bob, tr.Root))
	f.advanceTo(f.w.ProofWindowOpen)
	p := f.params
	p.ProofMissingPenalty = coin(500_000)
	_, err := f.msgs.UpdateParams(f.ctx, &types.MsgUpdateParams{Authority: f.authority, Params: p})
	require.NoError(t, err)

	f.settleAtClose()
	require.Equal(t, []*types.EventSupplierSlashed{{SupplierOperatorAddress: f.bob, SessionId: f.hdr.SessionId, Penalty: coin(100_000)}},
		eventsOf[*types.EventSupplierSlashed](f.fixture))
	require.Equal(t, coin(2_000_000-100_000), f.stake(f.bob))
}

// TestSettlement_DifficultyMultiplier: under a target of 2^255-1 a relay is
// minable with probability 1/2, so each claimed relay stands for two and the
// payout doubles.
func TestSettlement_DifficultyMultiplier(t *testing.T) {
	half := target(0x7f)
	f := newClaimFixture(t, withTarget("eth", half), withMultiplier(3))
	tr := relaytest.NewTree(t, ethComputeUnits, relaysByTarget(t, f.hdr, f.aliceKey, f.bobKey, numRelays, f.claimSeed(), half, true)...)
	require.NoError(t, f.claimAndProve(t, tr, nil))

	bobBefore := f.balance(f.bob)
	f.settleAtClose()
	const want = numRelays * ethComputeUnits * 3 * 2 // count x CUPR x multiplier x 2^256/(target+1)
	settled := eventsOf[*types.EventClaimSettled](f.fixture)
	require.Len(t, settled, 1)
	require.Equal(t, coin(want), settled[0].Amount)
	require.False(t, settled[0].Capped)
	require.Equal(t, coin(0), settled[0].Excess)
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
	f.advanceTo(f.w.ClaimWindowOpen)
	require.NoError(t, f.claim(f.bob, tr.Root))
	f.advanceTo(f.w.ProofWindowOpen)
	req, err := f.queries.ProofRequirement(f.ctx, &types.QueryProofRequirementRequest{SessionId: f.hdr.SessionId, SupplierOperatorAddress: f.bob})
	require.NoError(t, err)
	require.True(t, req.Required)

	bobBefore, moduleBefore := f.balance(f.bob), f.moduleBalance()
	f.settleAtClose()
	require.Equal(t, []*types.EventClaimExpired{{Claim: f.claimed(f.bob, tr.Root), Reason: "required proof missing"}}, eventsOf[*types.EventClaimExpired](f.fixture))
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

// treeNotDrawn builds trees of n of bob's relays until the proof draw of
// session 5-8 leaves its claim unproven, and returns it.
func (cf claimFixture) treeNotDrawn(t *testing.T, n int) *relaytest.Tree {
	t.Helper()
	for attempt := 0; attempt < 30; attempt++ {
		tr := relaytest.NewTree(t, ethComputeUnits, newRelays(t, cf.hdr, cf.aliceKey, cf.bobKey, n)...)
		c := cf.claimed(cf.bob, tr.Root)
		if !protocol.ProofRequired(cf.params, claimedTokensOf(cf.params, uint64(n)), cf.proofSeed(), &c) {
			return tr
		}
	}
	t.Fatal("every tree drawn for a proof: is the probability below 1?")
	return nil
}

// withProbability sets proof_request_probability_ppm, the threshold and
// the penalty (which must cover threshold x (1-p)/p).
func withProbability(ppm uint64, threshold, penalty int64) func(*types.Params) {
	return func(p *types.Params) {
		p.ProofRequestProbabilityPpm, p.ProofRequirementThreshold, p.ProofMissingPenalty = ppm, coin(threshold), coin(penalty)
	}
}

// TestSettlement_ProofNotRequired: a claim worth no more than the threshold
// that the draw does not pick is paid without a proof.
func TestSettlement_ProofNotRequired(t *testing.T) {
	f := newClaimFixture(t, withProbability(500_000, 1_000, 100_000))
	tr := f.treeNotDrawn(t, numRelays)
	f.advanceTo(f.w.ClaimWindowOpen)
	require.NoError(t, f.claim(f.bob, tr.Root))
	f.advanceTo(f.w.ProofWindowOpen)
	req, err := f.queries.ProofRequirement(f.ctx, &types.QueryProofRequirementRequest{SessionId: f.hdr.SessionId, SupplierOperatorAddress: f.bob})
	require.NoError(t, err)
	require.False(t, req.Required)

	bobBefore, moduleBefore := f.balance(f.bob), f.moduleBalance()
	f.settleAtClose()
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

// TestProofRequirement_Threshold: claims worth more than
// proof_requirement_threshold must always be proven, whatever the draw.
// bob's 300 relays are worth the threshold exactly (and are not drawn);
// carol's 301 are worth 2 more.
func TestProofRequirement_Threshold(t *testing.T) {
	f := newClaimFixture(t, withProbability(500_000, numRelays*ethComputeUnits, 100_000))
	bobTree := f.treeNotDrawn(t, numRelays)
	carolTree := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.carolKey, numRelays+1)...)
	f.advanceTo(f.w.ClaimWindowOpen)
	require.NoError(t, f.claim(f.bob, bobTree.Root))
	require.NoError(t, f.claim(f.carol, carolTree.Root))
	f.advanceTo(f.w.ProofWindowOpen)
	for sup, want := range map[string]bool{f.bob: false, f.carol: true} {
		req, err := f.queries.ProofRequirement(f.ctx, &types.QueryProofRequirementRequest{SessionId: f.hdr.SessionId, SupplierOperatorAddress: sup})
		require.NoError(t, err)
		require.Equal(t, want, req.Required, sup)
		require.Equal(t, f.w.ProofSeed, req.SeedBlockHeight)
	}

	f.settleAtClose()
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
// protocol.ProofRequired makes from the hash of the proof seed block.
func TestProofRequirement_Draw(t *testing.T) {
	f := newClaimFixture(t, withProbability(500_000, 100_000, 100_000))
	worth := claimedTokensOf(f.params, numRelays)
	rootFor := func(i byte) []byte {
		root := rootOf(numRelays*ethComputeUnits, numRelays)
		root[0] = i
		return root
	}
	// bob claims root 0; carol the first root the draw answers otherwise
	// for, so both answers are checked.
	bobClaim := f.claimed(f.bob, rootFor(0))
	bobDrawn := protocol.ProofRequired(f.params, worth, f.proofSeed(), &bobClaim)
	var carolClaim types.Claim
	for i := byte(1); ; i++ {
		require.NotZero(t, i, "no root drawn otherwise")
		carolClaim = f.claimed(f.carol, rootFor(i))
		if protocol.ProofRequired(f.params, worth, f.proofSeed(), &carolClaim) != bobDrawn {
			break
		}
	}
	f.advanceTo(f.w.ClaimWindowOpen)
	claims := []types.Claim{bobClaim, carolClaim}
	for _, c := range claims {
		require.NoError(t, f.claim(c.SupplierOperatorAddress, c.RootHash))
	}
	f.advanceTo(f.w.ProofWindowOpen)
	for _, c := range claims {
		want := protocol.ProofRequired(f.params, worth, blockHashOf(f.w.ProofSeed), &c)
		req, err := f.queries.ProofRequirement(f.ctx, &types.QueryProofRequirementRequest{SessionId: f.hdr.SessionId, SupplierOperatorAddress: c.SupplierOperatorAddress})
		require.NoError(t, err)
		require.Equal(t, want, req.Required, c.SupplierOperatorAddress)
	}

	_, err := f.queries.ProofRequirement(f.ctx, &types.QueryProofRequirementRequest{SessionId: f.hdr.SessionId, SupplierOperatorAddress: f.newAccount("dave", 0)})
	require.Equal(t, codes.NotFound, status.Code(err))
	require.ErrorContains(t, err, types.ErrClaimNotFound.Error())
}

// TestClaimsQuery_Filters: claims of two applications' sessions 5-8 (proof
// window closing at 20) and of alice's session 9-12 (closing at 24), listed
// by each filter, before and after session 5-8 settles.
func TestClaimsQuery_Filters(t *testing.T) {
	f := newClaimFixture(t)
	dave := f.newAccount("dave", 10_000_000)
	f.stakeApp(dave, 2_000_000, "eth") // active from 9
	bobTree := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, numRelays)...)

	f.advanceTo(f.w.ClaimWindowOpen)
	daveSession, err := f.k.GetSession(f.ctx, dave, "eth", f.height)
	require.NoError(t, err)
	alice58 := f.claimed(f.bob, bobTree.Root)
	carol58 := f.claimed(f.carol, rootOf(20, 10))
	require.NoError(t, f.claim(f.bob, alice58.RootHash))
	require.NoError(t, f.claim(f.carol, carol58.RootHash))

	aliceSession, w912 := f.sessionAt(t, 10)
	require.Equal(t, f.nextSession(), aliceSession.Header)
	require.Equal(t, daveSession.Header.SessionEndBlockHeight, aliceSession.Header.SessionEndBlockHeight)
	require.Equal(t, f.w.ClaimWindowClose, w912.ClaimWindowOpen, "both sessions take claims at this height")
	f.advanceTo(w912.ClaimWindowOpen)
	alice912 := types.Claim{SupplierOperatorAddress: f.bob, SessionHeader: aliceSession.Header, RootHash: rootOf(40, 20), ProofWindowCloseHeight: w912.ProofWindowClose}
	dave912 := types.Claim{SupplierOperatorAddress: f.carol, SessionHeader: daveSession.Header, RootHash: rootOf(60, 30), ProofWindowCloseHeight: w912.ProofWindowClose}
	for _, c := range []types.Claim{alice912, dave912} {
		require.NoError(t, f.claimIn(c.SessionHeader, c.SupplierOperatorAddress, c.RootHash))
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
	require.ElementsMatch(t, []types.Claim{alice58, carol58}, list(&types.QueryClaimsRequest{ProofWindowCloseHeight: f.w.ProofWindowClose}))
	require.ElementsMatch(t, []types.Claim{alice912, dave912}, list(&types.QueryClaimsRequest{ProofWindowCloseHeight: w912.ProofWindowClose}))
	require.Empty(t, list(&types.QueryClaimsRequest{ProofWindowCloseHeight: f.w.ProofWindowClose - 1}))
	require.Empty(t, list(&types.QueryClaimsRequest{SupplierOperatorAddress: dave}))

	page, err := f.queries.Claims(f.ctx, &types.QueryClaimsRequest{SupplierOperatorAddress: f.bob, Pagination: &query.PageRequest{Limit: 1, CountTotal: true}})
	require.NoError(t, err)
	require.Len(t, page.Claims, 1)
	require.Equal(t, uint64(2), page.Pagination.Total)
	require.NotEmpty(t, page.Pagination.NextKey)

	_, err = f.queries.Claims(f.ctx, &types.QueryClaimsRequest{SupplierOperatorAddress: f.bob, ProofWindowCloseHeight: f.w.ProofWindowClose})
	require.Equal(t, codes.InvalidArgument, status.Code(err))
	require.ErrorContains(t, err, types.ErrInvalidRequest.Error())

	// bob proves his session 5-8 claim; carol does not prove hers.
	f.advanceTo(f.w.ProofWindowOpen)
	require.NoError(t, f.prove(f.bob, f.proofsOf(t, bobTree, f.bob)))
	f.settleAtClose()
	require.Len(t, eventsOf[*types.EventClaimSettled](f.fixture), 1)
	require.Len(t, eventsOf[*types.EventClaimExpired](f.fixture), 1)

	require.ElementsMatch(t, []types.Claim{alice912, dave912}, list(&types.QueryClaimsRequest{}))
	require.ElementsMatch(t, []types.Claim{alice912}, list(&types.QueryClaimsRequest{SupplierOperatorAddress: f.bob}))
	require.ElementsMatch(t, []types.Claim{dave912}, list(&types.QueryClaimsRequest{SupplierOperatorAddress: f.carol}))
	require.Empty(t, list(&types.QueryClaimsRequest{SessionId: f.hdr.SessionId}))
	require.Empty(t, list(&types.QueryClaimsRequest{ProofWindowCloseHeight: f.w.ProofWindowClose}))
	_, err = f.queries.Proof(f.ctx, &types.QueryProofRequest{SessionId: f.hdr.SessionId, SupplierOperatorAddress: f.bob})
	require.Equal(t, codes.NotFound, status.Code(err), "the proof is removed with its claim")
	_, err = f.queries.Claim(f.ctx, &types.QueryClaimRequest{SessionId: f.hdr.SessionId, SupplierOperatorAddress: f.bob})
	require.Equal(t, codes.NotFound, status.Code(err))
	require.ErrorContains(t, err, types.ErrClaimNotFound.Error())
}

// A chain restarted from an export while a proof window is open must still
// settle its claims: the export carries the seed block hashes (and the
// claim's accepted proof). Without them the claim expires with its reason;
// the chain never halts.
func TestSettlement_AfterRestartFromExport(t *testing.T) {
	for _, withHashes := range []bool{true, false} {
		t.Run(map[bool]string{true: "with recorded hashes", false: "without hashes"}[withHashes], func(t *testing.T) {
			scratch := newFixtureWithGenesis(t, *types.DefaultGenesis())
			gs := fullGenesis(scratch)
			require.NotEmpty(t, gs.Claims)
			require.Len(t, gs.Proofs, len(gs.Claims), "every claim was proven before the export")
			closeAt := gs.Claims[0].ProofWindowCloseHeight
			w := protocol.SessionWindows(gs.Params, gs.Claims[0].SessionHeader.SessionEndBlockHeight)
			require.Equal(t, w.ProofWindowClose, closeAt)
			exportedAt := w.ProofWindowOpen + 1 // the chain resumes in the proof window
			if withHashes {
				for h := int64(1); h <= exportedAt; h++ {
					gs.BlockHashes = append(gs.BlockHashes, types.BlockHash{Height: h, Hash: blockHashOf(h)})
				}
			}
			f := newFixtureWithGenesis(t, gs)
			for _, a := range gs.Applications { // genesis stakes sit in the module account
				f.bank.modules[types.ModuleName] = f.bank.modules[types.ModuleName].Add(a.Stake)
			}
			f.height = exportedAt
			f.resetEvents()
			f.advanceTo(closeAt)
			f.endBlock() // must not fail, whatever the claim
			settled, expired := eventsOf[*types.EventClaimSettled](f), eventsOf[*types.EventClaimExpired](f)
			if withHashes {
				require.Len(t, settled, len(gs.Claims), "expired: %v", expired)
				require.Empty(t, expired)
				// The made-up root is worth far more than the stake: it is
				// paid the share of its session's only active supplier.
				require.Equal(t, gs.Applications[0].Stake, settled[0].Share)
				require.Equal(t, gs.Applications[0].Stake, settled[0].Amount)
				require.True(t, settled[0].Capped)
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

// TestSettlement_SupplierCannotUnbondBeforeItsLastSessionSettles: a stake
// comes back when the actor's last session settles, so no session may
// settle after a later one. Governance may not shrink the windows by more
// than one session (which would let dave, in session 5-8 closing at 20,
// unstake at 9 and leave at 18 with his stake: his unproven session 5-8
// claim could not be slashed, and session 5-8 would count two suppliers
// instead of three). Shrinking by exactly one session is accepted, and
// dave's stake then stays until session 5-8 has settled.
func TestSettlement_SupplierCannotUnbondBeforeItsLastSessionSettles(t *testing.T) {
	f := newClaimFixtureWith(t, 3_000_000, []string{"dave"}, withMultiplier(bigClaimMultiplier))
	dave := f.newAccount("dave", 0)
	bobTree := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, bigClaimRelays)...)
	daveTree := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, signer("dave", dave), 10)...)

	f.advanceTo(9)
	p := f.params
	p.ClaimWindowCloseOffsetBlocks, p.ProofWindowCloseOffsetBlocks = 1, 1 // 6 blocks shorter: more than a session (4)
	_, err := f.msgs.UpdateParams(f.ctx, &types.MsgUpdateParams{Authority: f.authority, Params: p})
	require.ErrorIs(t, err, types.ErrInvalidParams)
	p.ClaimWindowCloseOffsetBlocks, p.ProofWindowCloseOffsetBlocks = 2, 2 // exactly a session shorter
	_, err = f.msgs.UpdateParams(f.ctx, &types.MsgUpdateParams{Authority: f.authority, Params: p})
	require.NoError(t, err)
	res, err := f.msgs.UnstakeSupplier(f.ctx, &types.MsgUnstakeSupplier{OperatorAddress: dave})
	require.NoError(t, err)
	require.GreaterOrEqual(t, res.UnbondingEndHeight, f.w.ProofWindowClose, "dave leaves after session 5-8 settles")

	f.advanceTo(f.w.ClaimWindowOpen)
	require.NoError(t, f.claim(f.bob, bobTree.Root))
	require.NoError(t, f.claim(dave, daveTree.Root))
	f.advanceTo(f.w.ProofWindowOpen)
	require.NoError(t, f.prove(f.bob, f.proofsOf(t, bobTree, f.bob)))
	f.resetEvents()
	f.advanceTo(f.w.ProofWindowClose)
	f.endBlock()

	assert.Len(t, eventsOf[*types.EventSupplierSlashed](f.fixture), 1, "dave's missing proof is slashed")
	settled := eventsOf[*types.EventClaimSettled](f.fixture)
	require.Len(t, settled, 1)
	assert.Equal(t, coin(1_000_000).String(), settled[0].Share.String(), "session 5-8 had three suppliers")
}
