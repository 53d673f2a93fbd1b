package protocol_test

import (
	"math/rand"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

func validParams() types.Params {
	return types.Params{
		NumBlocksPerSession:          4,
		GracePeriodEndOffsetBlocks:   1,
		ClaimWindowOpenOffsetBlocks:  2,
		ClaimWindowCloseOffsetBlocks: 4,
		ProofWindowOpenOffsetBlocks:  1,
		ProofWindowCloseOffsetBlocks: 4,
	}
}

func TestSessionHeights(t *testing.T) {
	tests := []struct {
		n               uint64
		h               int64
		num, start, end int64
	}{
		{4, 1, 0, 1, 4},
		{4, 4, 0, 1, 4},
		{4, 5, 1, 5, 8},
		{4, 8, 1, 5, 8},
		{4, 9, 2, 9, 12},
		{1, 1, 0, 1, 1},
		{1, 7, 6, 7, 7},
		{10, 100, 9, 91, 100},
		{10, 101, 10, 101, 110},
		{0, 7, 6, 7, 7}, // N=0 is clamped to 1 rather than dividing by zero
	}
	for _, tt := range tests {
		require.Equal(t, tt.num, protocol.SessionNumber(tt.n, tt.h), "number n=%d h=%d", tt.n, tt.h)
		require.Equal(t, tt.start, protocol.SessionStartHeight(tt.n, tt.h), "start n=%d h=%d", tt.n, tt.h)
		require.Equal(t, tt.end, protocol.SessionEndHeight(tt.n, tt.h), "end n=%d h=%d", tt.n, tt.h)
	}
	require.Equal(t, int64(0), protocol.SessionSeedHeight(1))
	require.Equal(t, int64(4), protocol.SessionSeedHeight(5))
}

func TestSessionWindowsExample(t *testing.T) {
	w := protocol.SessionWindows(validParams(), 8)
	require.Equal(t, protocol.Windows{
		SessionEnd: 8, GracePeriodEnd: 9, ClaimSeed: 10, ClaimWindowOpen: 11, ClaimWindowClose: 15,
		ProofSeed: 15, ProofWindowOpen: 16, ProofWindowClose: 20,
	}, w)
	for h, want := range map[int64][3]bool{ // {in session or grace, in claim window, in proof window}
		4: {false, false, false}, 5: {true, false, false}, 9: {true, false, false}, 10: {false, false, false},
		11: {false, true, false}, 15: {false, true, false}, 16: {false, false, true},
		20: {false, false, true}, 21: {false, false, false},
	} {
		require.Equal(t, want, [3]bool{w.InSessionOrGrace(5, h), w.InClaimWindow(h), w.InProofWindow(h)}, "h=%d", h)
	}
}

// TestSessionArithmeticProperties checks the tiling and window ordering over
// many random (valid) params and heights.
func TestSessionArithmeticProperties(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	offset := func(min int) uint64 { return uint64(min + rng.Intn(21-min)) }
	for i := 0; i < 500; i++ {
		p := types.DefaultParams()
		p.NumBlocksPerSession = uint64(1 + rng.Intn(100))
		p.GracePeriodEndOffsetBlocks = offset(0)
		p.ClaimWindowOpenOffsetBlocks = offset(2)
		p.ClaimWindowCloseOffsetBlocks = offset(1)
		p.ProofWindowOpenOffsetBlocks = offset(1)
		p.ProofWindowCloseOffsetBlocks = offset(1)
		require.NoError(t, p.Validate())
		n, h := p.NumBlocksPerSession, 1+rng.Int63n(1_000_000)

		start, end := protocol.SessionStartHeight(n, h), protocol.SessionEndHeight(n, h)
		require.True(t, start >= 1 && start <= h && h <= end, "start %d h %d end %d", start, h, end)
		require.Equal(t, int64(n), end-start+1)
		require.Equal(t, (start-1)/int64(n), protocol.SessionNumber(n, h))
		require.Equal(t, start, protocol.SessionStartHeight(n, start))
		require.Equal(t, end, protocol.SessionEndHeight(n, start))
		require.Equal(t, end+1, protocol.SessionStartHeight(n, end+1), "next session starts right after")
		require.Equal(t, protocol.SessionNumber(n, h)+1, protocol.SessionNumber(n, end+1))
		if start > 1 {
			require.Equal(t, start-1, protocol.SessionEndHeight(n, start-1), "previous session ends right before")
		}

		w := protocol.SessionWindows(p, end)
		require.Equal(t, end, w.SessionEnd)
		require.LessOrEqual(t, w.SessionEnd, w.GracePeriodEnd)
		require.Equal(t, w.GracePeriodEnd+1, w.ClaimSeed, "minability is seeded after the last relay is served")
		require.Less(t, w.ClaimSeed, w.ClaimWindowOpen, "the seed block exists before a claim can land")
		require.Less(t, w.ClaimWindowOpen, w.ClaimWindowClose)
		require.Less(t, w.ClaimWindowClose, w.ProofWindowOpen)
		require.Less(t, w.ProofWindowOpen, w.ProofWindowClose)
		require.GreaterOrEqual(t, w.ProofSeed, w.ClaimWindowClose)
		require.Equal(t, w.ProofWindowOpen-1, w.ProofSeed)
		require.True(t, w.InSessionOrGrace(start, h))
		require.False(t, w.InSessionOrGrace(start, w.ClaimWindowOpen))
		require.False(t, w.InClaimWindow(w.GracePeriodEnd))
		require.False(t, w.InClaimWindow(w.ProofSeed+1))
		require.True(t, w.InProofWindow(w.ProofWindowOpen) && w.InProofWindow(w.ProofWindowClose))
		require.False(t, w.InProofWindow(w.ProofSeed) || w.InProofWindow(w.ProofWindowClose+1))
	}
}

func TestSessionID(t *testing.T) {
	seed := []byte{1, 2, 3}
	base := protocol.SessionID(seed, "svc", "app", 5)
	require.Regexp(t, "^[0-9a-f]{64}$", base)
	require.Equal(t, base, protocol.SessionID([]byte{1, 2, 3}, "svc", "app", 5), "deterministic")

	others := []string{
		protocol.SessionID([]byte{1, 2, 4}, "svc", "app", 5),
		protocol.SessionID(nil, "svc", "app", 5),
		protocol.SessionID(seed, "svc2", "app", 5),
		protocol.SessionID(seed, "svc", "app2", 5),
		protocol.SessionID(seed, "svc", "app", 6),
		// field-boundary shifts
		protocol.SessionID(seed, "sv", "capp", 5),
		protocol.SessionID(seed, "svca", "pp", 5),
		protocol.SessionID([]byte{1, 2}, string([]byte{3})+"svc", "app", 5),
	}
	require.NotContains(t, others, base)
	require.NotEqual(t, protocol.SessionID(nil, "ab", "c", 1), protocol.SessionID(nil, "a", "bc", 1))
	require.NotEqual(t, protocol.SessionID([]byte("a"), "b", "", 1), protocol.SessionID(nil, "ab", "", 1))
}

func suppliers(n int) []types.Supplier {
	out := make([]types.Supplier, n)
	for i := range out {
		out[i] = types.Supplier{OperatorAddress: "pokt1supplier" + string(rune('a'+i%26)) + string(rune('a'+i/26))}
	}
	return out
}

func addresses(ss []types.Supplier) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.OperatorAddress
	}
	return out
}

func TestSelectSuppliers(t *testing.T) {
	candidates := suppliers(20)
	orig := addresses(candidates)
	got := protocol.SelectSuppliers("session-1", candidates, 5)
	require.Len(t, got, 5)
	require.Equal(t, orig, addresses(candidates), "input order untouched")
	require.Equal(t, addresses(got), addresses(protocol.SelectSuppliers("session-1", candidates, 5)), "deterministic")

	rng := rand.New(rand.NewSource(3))
	for i := 0; i < 20; i++ {
		shuffled := slices.Clone(candidates)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		require.Equal(t, addresses(got), addresses(protocol.SelectSuppliers("session-1", shuffled, 5)), "order independent")
	}
	for _, sel := range got {
		require.Contains(t, orig, sel.OperatorAddress)
	}
	require.Equal(t, addresses(got)[:3], addresses(protocol.SelectSuppliers("session-1", candidates, 3)), "prefix of the ranking")

	all := protocol.SelectSuppliers("session-1", candidates, 100)
	require.ElementsMatch(t, orig, addresses(all), "fewer candidates than max: all returned")
	require.Empty(t, protocol.SelectSuppliers("session-1", candidates, 0))
	require.Empty(t, protocol.SelectSuppliers("session-1", nil, 5))

	differs := 0
	for i := 0; i < 50; i++ {
		other := protocol.SelectSuppliers("session-x"+string(rune('a'+i)), candidates, 5)
		if !slices.Equal(addresses(got), addresses(other)) {
			differs++
		}
	}
	require.Greater(t, differs, 40, "session ids reshuffle the ranking")
}
