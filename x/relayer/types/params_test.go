package types_test

import (
	"bytes"
	"os"
	"testing"

	sdkmath "cosmossdk.io/math"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/types"
)

// TestMain sets the chain's bech32 prefix, as app.SetAddressPrefixes does.
func TestMain(m *testing.M) {
	cfg := sdk.GetConfig()
	cfg.SetBech32PrefixForAccount("pokt", "poktpub")
	os.Exit(m.Run())
}

func TestDefaultParamsAreValid(t *testing.T) {
	require.NoError(t, types.DefaultParams().Validate())
	require.NoError(t, types.DefaultGenesis().Validate())
}

func TestParamsValidate(t *testing.T) {
	const maxOffset = 1 << 20
	target := func(id string, b byte) types.RelayDifficultyTarget {
		return types.RelayDifficultyTarget{ServiceId: id, Target: bytes.Repeat([]byte{b}, 32)}
	}
	tests := []struct {
		name  string
		edit  func(*types.Params)
		field string // "" means valid
	}{
		{"defaults", func(*types.Params) {}, ""},
		{"no grace period", func(p *types.Params) { p.GracePeriodEndOffsetBlocks = 0 }, ""},
		{"offsets at the maximum", func(p *types.Params) {
			p.NumBlocksPerSession, p.GracePeriodEndOffsetBlocks, p.ProofWindowCloseOffsetBlocks = maxOffset, maxOffset, maxOffset
		}, ""},
		{"probability zero, threshold zero", func(p *types.Params) {
			p.ProofRequestProbabilityPpm, p.ProofRequirementThreshold = 0, sdk.NewInt64Coin(types.DefaultDenom, 0)
		}, ""},
		{"penalty at threshold x (1-p)/p", func(p *types.Params) {
			p.ProofRequestProbabilityPpm = 200_000
			p.ProofRequirementThreshold = sdk.NewInt64Coin(types.DefaultDenom, 25_000)
			p.ProofMissingPenalty = sdk.NewInt64Coin(types.DefaultDenom, 100_000)
		}, ""},
		{"claim window opens 2 blocks after the grace period", func(p *types.Params) { p.ClaimWindowOpenOffsetBlocks = 2 }, ""},
		{"one proof per claim", func(p *types.Params) { p.NumProofsPerClaim = 1 }, ""},
		{"max proofs per claim", func(p *types.Params) { p.NumProofsPerClaim = types.MaxProofsPerClaim }, ""},
		{"probability one", func(p *types.Params) { p.ProofRequestProbabilityPpm = types.ProofRequestProbabilityAlways }, ""},
		{"zero penalty", func(p *types.Params) { p.ProofMissingPenalty = sdk.NewInt64Coin(types.DefaultDenom, 0) }, ""},
		{"difficulty targets", func(p *types.Params) {
			p.RelayDifficultyTargets = []types.RelayDifficultyTarget{target("eth", 0x0f), target("sol", 0x01)}
		}, ""},

		{"zero blocks per session", func(p *types.Params) { p.NumBlocksPerSession = 0 }, "num_blocks_per_session"},
		{"blocks per session too large", func(p *types.Params) { p.NumBlocksPerSession = maxOffset + 1 }, "num_blocks_per_session"},
		{"grace period too large", func(p *types.Params) { p.GracePeriodEndOffsetBlocks = maxOffset + 1 }, "grace_period_end_offset_blocks"},
		{"zero claim window open", func(p *types.Params) { p.ClaimWindowOpenOffsetBlocks = 0 }, "claim_window_open_offset_blocks"},
		{"claim window opens right after the grace period", func(p *types.Params) { p.ClaimWindowOpenOffsetBlocks = 1 }, "claim_window_open_offset_blocks"},
		{"zero proofs per claim", func(p *types.Params) { p.NumProofsPerClaim = 0 }, "num_proofs_per_claim"},
		{"too many proofs per claim", func(p *types.Params) { p.NumProofsPerClaim = types.MaxProofsPerClaim + 1 }, "num_proofs_per_claim"},
		{"probability zero with a threshold", func(p *types.Params) { p.ProofRequestProbabilityPpm = 0 }, "proof_requirement_threshold"},
		{"penalty above the minimum supplier stake", func(p *types.Params) {
			p.ProofRequestProbabilityPpm = 500_000
			p.ProofRequirementThreshold = sdk.NewInt64Coin(types.DefaultDenom, 2_000_000)
			p.ProofMissingPenalty = sdk.NewInt64Coin(types.DefaultDenom, 2_000_000)
		}, "min_supplier_stake"},
		{"penalty one below threshold x (1-p)/p", func(p *types.Params) {
			p.ProofRequestProbabilityPpm = 200_000
			p.ProofRequirementThreshold = sdk.NewInt64Coin(types.DefaultDenom, 25_000)
			p.ProofMissingPenalty = sdk.NewInt64Coin(types.DefaultDenom, 99_999)
		}, "proof_missing_penalty"},
		{"claim window open too large", func(p *types.Params) { p.ClaimWindowOpenOffsetBlocks = maxOffset + 1 }, "claim_window_open_offset_blocks"},
		{"zero claim window close", func(p *types.Params) { p.ClaimWindowCloseOffsetBlocks = 0 }, "claim_window_close_offset_blocks"},
		{"claim window close too large", func(p *types.Params) { p.ClaimWindowCloseOffsetBlocks = maxOffset + 1 }, "claim_window_close_offset_blocks"},
		{"zero proof window open", func(p *types.Params) { p.ProofWindowOpenOffsetBlocks = 0 }, "proof_window_open_offset_blocks"},
		{"proof window open too large", func(p *types.Params) { p.ProofWindowOpenOffsetBlocks = maxOffset + 1 }, "proof_window_open_offset_blocks"},
		{"zero proof window close", func(p *types.Params) { p.ProofWindowCloseOffsetBlocks = 0 }, "proof_window_close_offset_blocks"},
		{"proof window close too large", func(p *types.Params) { p.ProofWindowCloseOffsetBlocks = maxOffset + 1 }, "proof_window_close_offset_blocks"},
		{"zero suppliers per session", func(p *types.Params) { p.NumSuppliersPerSession = 0 }, "num_suppliers_per_session"},
		{"zero token multiplier", func(p *types.Params) { p.ComputeUnitsToTokensMultiplier = 0 }, "compute_units_to_tokens_multiplier"},
		{"probability above one", func(p *types.Params) { p.ProofRequestProbabilityPpm = types.ProofRequestProbabilityAlways + 1 }, "proof_request_probability_ppm"},
		{"min application stake without denom", func(p *types.Params) { p.MinApplicationStake = sdk.Coin{Amount: sdkmath.NewInt(1)} }, "min_application_stake"},
		{"min application stake negative", func(p *types.Params) {
			p.MinApplicationStake = sdk.Coin{Denom: types.DefaultDenom, Amount: sdkmath.NewInt(-1)}
		}, "min_application_stake"},
		{"min supplier stake nil amount", func(p *types.Params) { p.MinSupplierStake = sdk.Coin{Denom: types.DefaultDenom} }, "min_supplier_stake"},
		{"min supplier stake other denom", func(p *types.Params) { p.MinSupplierStake = sdk.NewInt64Coin("uatom", 1) }, "min_supplier_stake"},
		{"threshold other denom", func(p *types.Params) { p.ProofRequirementThreshold = sdk.NewInt64Coin("uatom", 1) }, "proof_requirement_threshold"},
		{"penalty other denom", func(p *types.Params) { p.ProofMissingPenalty = sdk.NewInt64Coin("uatom", 1) }, "proof_missing_penalty"},
		{"penalty negative", func(p *types.Params) {
			p.ProofMissingPenalty = sdk.Coin{Denom: types.DefaultDenom, Amount: sdkmath.NewInt(-5)}
		}, "proof_missing_penalty"},
		{"target with bad service id", func(p *types.Params) { p.RelayDifficultyTargets = []types.RelayDifficultyTarget{target("e th", 1)} }, "relay_difficulty_targets[0]"},
		{"target with empty service id", func(p *types.Params) { p.RelayDifficultyTargets = []types.RelayDifficultyTarget{target("", 1)} }, "relay_difficulty_targets[0]"},
		{"target listed twice", func(p *types.Params) {
			p.RelayDifficultyTargets = []types.RelayDifficultyTarget{target("eth", 1), target("eth", 2)}
		}, "relay_difficulty_targets[1]"},
		{"target too short", func(p *types.Params) {
			p.RelayDifficultyTargets = []types.RelayDifficultyTarget{{ServiceId: "eth", Target: bytes.Repeat([]byte{1}, 31)}}
		}, "relay_difficulty_targets[0]"},
		{"target too long", func(p *types.Params) {
			p.RelayDifficultyTargets = []types.RelayDifficultyTarget{{ServiceId: "eth", Target: bytes.Repeat([]byte{1}, 33)}}
		}, "relay_difficulty_targets[0]"},
		{"target all zeros", func(p *types.Params) { p.RelayDifficultyTargets = []types.RelayDifficultyTarget{target("eth", 0)} }, "relay_difficulty_targets[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := types.DefaultParams()
			tc.edit(&p)
			err := p.Validate()
			if tc.field == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, types.ErrInvalidParams)
			require.Contains(t, err.Error(), tc.field+":", "the error names the bad field")
		})
	}
}

func TestMsgUpdateParamsValidateBasic(t *testing.T) {
	authority := sdk.AccAddress(bytes.Repeat([]byte{7}, 20)).String()
	require.NoError(t, (&types.MsgUpdateParams{Authority: authority, Params: types.DefaultParams()}).ValidateBasic())
	require.ErrorIs(t, (&types.MsgUpdateParams{Authority: "gov", Params: types.DefaultParams()}).ValidateBasic(), types.ErrInvalidAddress)
	bad := types.DefaultParams()
	bad.NumSuppliersPerSession = 0
	require.ErrorIs(t, (&types.MsgUpdateParams{Authority: authority, Params: bad}).ValidateBasic(), types.ErrInvalidParams)
}
