package protocol_test

import (
	"fmt"
	"testing"

	"cosmossdk.io/math"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

func TestProofPoints(t *testing.T) {
	seed := []byte("block-hash")
	pts := protocol.ProofPoints(seed, "session", "sup", 1000, 5)
	require.Len(t, pts, 5)
	require.Equal(t, pts, protocol.ProofPoints([]byte("block-hash"), "session", "sup", 1000, 5), "deterministic")
	for _, p := range pts {
		require.Less(t, p, uint64(1000))
	}
	require.NotEqual(t, pts, protocol.ProofPoints([]byte("block-hasi"), "session", "sup", 1000, 5))
	require.NotEqual(t, pts, protocol.ProofPoints(seed, "session2", "sup", 1000, 5))
	require.NotEqual(t, pts, protocol.ProofPoints(seed, "session", "sup2", 1000, 5))
	require.Equal(t, pts[:2], protocol.ProofPoints(seed, "session", "sup", 1000, 2), "point i does not depend on k")
	require.Empty(t, protocol.ProofPoints(seed, "session", "sup", 0, 5))
	require.Equal(t, []uint64{0, 0}, protocol.ProofPoints(seed, "session", "sup", 1, 2))
}

func claimN(i int) *types.Claim {
	return &types.Claim{
		SupplierOperatorAddress: "pokt1supplier",
		SessionHeader:           types.SessionHeader{SessionId: fmt.Sprintf("session-%d", i)},
		RootHash:                []byte{byte(i), byte(i >> 8), 9},
	}
}

func TestProofRequired(t *testing.T) {
	params := func(ppm uint64, threshold int64) types.Params {
		return types.Params{
			ProofRequestProbabilityPpm: ppm,
			ProofRequirementThreshold:  sdk.NewInt64Coin("upokt", threshold),
		}
	}
	seed := []byte("seed")
	count := func(p types.Params, tokens int64) int {
		n := 0
		for i := 0; i < 1000; i++ {
			if protocol.ProofRequired(p, math.NewInt(tokens), seed, claimN(i)) {
				n++
			}
		}
		return n
	}
	tests := []struct {
		name     string
		p        types.Params
		tokens   int64
		min, max int
	}{
		{"above threshold always", params(0, 100), 101, 1000, 1000},
		{"ppm 1e6 always", params(1_000_000, 100), 5, 1000, 1000},
		{"ppm 0 at threshold never", params(0, 100), 100, 0, 0},
		{"ppm 0 below threshold never", params(0, 100), 1, 0, 0},
		{"ppm 500000 about half", params(500_000, 100), 50, 400, 600},
		{"ppm 100000 about a tenth", params(100_000, 100), 50, 50, 150},
		{"unset threshold: any value above zero", types.Params{}, 1, 1000, 1000},
	}
	for _, tt := range tests {
		n := count(tt.p, tt.tokens)
		require.True(t, n >= tt.min && n <= tt.max, "%s: %d required", tt.name, n)
	}

	// the draw depends on the seed, so it can't be known at claim time
	p := params(500_000, 100)
	differ := 0
	for i := 0; i < 100; i++ {
		a := protocol.ProofRequired(p, math.NewInt(1), []byte("seed-a"), claimN(i))
		b := protocol.ProofRequired(p, math.NewInt(1), []byte("seed-b"), claimN(i))
		require.Equal(t, a, protocol.ProofRequired(p, math.NewInt(1), []byte("seed-a"), claimN(i)), "deterministic")
		if a != b {
			differ++
		}
	}
	require.Greater(t, differ, 20)
	require.True(t, protocol.ProofRequired(p, math.NewInt(1), seed, nil), "nil claim is required")
	require.False(t, protocol.ProofRequired(params(0, 100), math.Int{}, seed, claimN(1)), "nil tokens count as zero")
}
