package keeper_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/relaytest"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// TestSettlement_OverservicedApplicationIsPaidProRata: alice stakes
// 2,000,000 for two services, eth and sol, each with suppliers bob and
// carol. Her two sessions starting at 5 have four claims, each worth
// 3,000,000 and payable its share, 1,000,000: 4,000,000 asked of a
// 2,000,000 stake, in one block. Each claim is paid the same half of its
// share (whatever its key), the stake is emptied and never overdrawn, and
// EventApplicationOverserviced says so.
func TestSettlement_OverservicedApplicationIsPaidProRata(t *testing.T) {
	cf := newClaimFixtureFor(t, []string{"eth", "sol"}, 2_000_000, nil, withMultiplier(bigClaimMultiplier))
	f := cf.fixture
	var claims []sessionClaim
	sessionIDs := map[string]bool{}
	for _, svc := range []string{"eth", "sol"} {
		s, err := f.k.GetSession(f.ctx, cf.alice, svc, 6)
		require.NoError(t, err)
		require.Len(t, s.Suppliers, 2)
		require.Equal(t, coin(2_000_000), s.Application.Stake)
		sessionIDs[s.Header.SessionId] = true
		w := protocol.SessionWindows(cf.params, s.Header.SessionEndBlockHeight)
		for _, sup := range []relaytest.Actor{cf.bobKey, cf.carolKey} {
			claims = append(claims, sessionClaim{s.Header, w, sup.Address,
				relaytest.NewTree(t, ethComputeUnits, newRelays(t, s.Header, cf.aliceKey, sup, bigClaimRelays)...)})
		}
	}
	w := claims[0].w
	f.advanceTo(w.ClaimWindowOpen)
	for _, c := range claims {
		require.NoError(t, cf.claimIn(c.hdr, c.sup, c.tr.Root))
	}
	f.advanceTo(w.ProofWindowOpen)
	for _, c := range claims {
		require.NoError(t, cf.proveIn(t, c.hdr, c.w, c.sup, c.tr))
	}
	bobBefore, carolBefore := f.balance(cf.bob), f.balance(cf.carol)
	f.advanceTo(w.ProofWindowClose)
	f.resetEvents()
	f.endBlock()

	settled := eventsOf[*types.EventClaimSettled](f)
	require.Len(t, settled, 4)
	for _, ev := range settled {
		require.Equal(t, coin(1_000_000), ev.Share)
		require.Equal(t, coin(500_000), ev.Amount, "4,000,000 asked of 2,000,000: every claim gets half of its share")
		require.True(t, ev.Capped)
		require.Equal(t, coin(2_500_000), ev.Excess)
	}
	over := eventsOf[*types.EventApplicationOverserviced](f)
	require.Len(t, over, 1)
	require.Equal(t, cf.alice, over[0].ApplicationAddress)
	require.Equal(t, coin(4_000_000), over[0].Claimed)
	require.Equal(t, coin(2_000_000), over[0].Available)
	require.Equal(t, coin(2_000_000), over[0].Paid)
	require.EqualValues(t, 4, over[0].NumClaims)
	require.Len(t, over[0].SessionIds, 2)
	for _, id := range over[0].SessionIds {
		require.True(t, sessionIDs[id])
	}
	require.Equal(t, coin(0), cf.stake(cf.alice))
	require.Equal(t, bobBefore.AddRaw(1_000_000), f.balance(cf.bob))
	require.Equal(t, carolBefore.AddRaw(1_000_000), f.balance(cf.carol))
}
