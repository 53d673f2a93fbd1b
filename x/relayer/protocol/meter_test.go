package protocol_test

import (
	"testing"

	"cosmossdk.io/math"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
)

func ints(vs ...int64) []math.Int {
	out := make([]math.Int, len(vs))
	for i, v := range vs {
		out[i] = math.NewInt(v)
	}
	return out
}

func TestClaimPayableIsTheWorthWithinTheShare(t *testing.T) {
	for _, tc := range []struct {
		name               string
		worth, share, want int64
	}{
		{"within the share", 300, 500, 300},
		{"capped at the share", 700, 500, 500},
		{"no share", 700, 0, 0},
		{"worth nothing", 0, 500, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, math.NewInt(tc.want), protocol.ClaimPayable(math.NewInt(tc.worth), math.NewInt(tc.share)))
		})
	}
}

func TestProRataNeverPaysMoreThanAvailableAndIsOrderFree(t *testing.T) {
	for _, tc := range []struct {
		name      string
		payable   []math.Int
		available int64
		want      []math.Int
		short     bool
	}{
		{"fits: everyone in full", ints(100, 200), 300, ints(100, 200), false},
		{"fits with room", ints(100, 200), 1000, ints(100, 200), false},
		{"half the stake left: half each", ints(100, 200), 150, ints(50, 100), true},
		{"rounding down, dust stays", ints(1, 1, 1), 2, ints(0, 0, 0), true},
		{"uneven", ints(300, 100), 200, ints(150, 50), true},
		{"nothing left", ints(100, 200), 0, ints(0, 0), true},
		{"zero claims are paid zero", ints(0, 100), 50, ints(0, 50), true},
		{"no claims", nil, 10, []math.Int{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			paid, short := protocol.ProRata(tc.payable, math.NewInt(tc.available))
			require.Equal(t, tc.short, short)
			require.Equal(t, tc.want, paid)
			total := math.ZeroInt()
			for _, p := range paid {
				total = total.Add(p)
			}
			require.True(t, total.LTE(math.NewInt(tc.available)))
			// The same claims in reverse order get the same amounts.
			rev := make([]math.Int, len(tc.payable))
			for i, p := range tc.payable {
				rev[len(rev)-1-i] = p
			}
			revPaid, _ := protocol.ProRata(rev, math.NewInt(tc.available))
			for i := range paid {
				require.Equal(t, paid[i], revPaid[len(paid)-1-i])
			}
		})
	}
}

func TestSupplierBudget(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		share, stakeNow, pending int64
		numSuppliers             int
		want                     int64
	}{
		{"nothing pending: the share", 500, 1000, 0, 2, 500},
		{"an earlier session may take half the stake", 500, 1000, 500, 2, 250},
		{"earlier sessions may take it all", 500, 1000, 1000, 2, 0},
		{"more pending than staked", 500, 1000, 2000, 2, 0},
		{"stake raised since the session started: still the share", 500, 5000, 0, 2, 500},
		{"concurrent sessions of other services divide what is left", 500, 1000, 0, 4, 250},
		{"no suppliers", 500, 1000, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, math.NewInt(tc.want), protocol.SupplierBudget(math.NewInt(tc.share), math.NewInt(tc.stakeNow), math.NewInt(tc.pending), tc.numSuppliers))
		})
	}
}

// TestExpectedTokensMatchesClaimedTokensOnAverage: a served compute unit
// earns the multiplier in expectation whatever the difficulty: at the base
// target exactly, at a target admitting 1 relay in 2^k, 2^k times as much
// for each of the 2^-k minable ones.
func TestExpectedTokensMatchesClaimedTokensOnAverage(t *testing.T) {
	require.Equal(t, math.NewInt(12*7), protocol.ExpectedTokens(12, 7))
	require.Equal(t, protocol.ClaimedTokens(12, 7, protocol.BaseDifficultyTarget), protocol.ExpectedTokens(12, 7))
	for _, k := range []uint{1, 4, 8} {
		target := make([]byte, protocol.HashSize)
		for i := range target {
			target[i] = 0xff
		}
		// Clear the top k bits: (target+1)/2^256 = 2^-k.
		for b := uint(0); b < k; b++ {
			target[b/8] &^= 0x80 >> (b % 8)
		}
		perMinable := protocol.ClaimedTokens(12, 7, target)
		require.Equal(t, protocol.ExpectedTokens(12, 7), perMinable.QuoRaw(1<<k), "k=%d", k)
	}
}

func TestBudgetComputeUnits(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tokens math.Int
		mult   uint64
		want   uint64
	}{
		{"exact", math.NewInt(1000), 10, 100},
		{"rounds down: never more than the budget", math.NewInt(1009), 10, 100},
		{"zero budget", math.ZeroInt(), 10, 0},
		{"negative budget", math.NewInt(-5), 10, 0},
		{"free relays: no limit", math.NewInt(5), 0, ^uint64(0)},
		{"saturates", math.NewIntFromUint64(^uint64(0)).MulRaw(4), 1, ^uint64(0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := protocol.BudgetComputeUnits(tc.tokens, tc.mult)
			require.Equal(t, tc.want, got)
			if tc.mult > 0 && got != ^uint64(0) {
				require.True(t, protocol.ExpectedTokens(got, tc.mult).LTE(tc.tokens) || got == 0)
			}
		})
	}
}
