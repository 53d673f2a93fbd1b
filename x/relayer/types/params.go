package types

import (
	"bytes"
	"fmt"

	errorsmod "cosmossdk.io/errors"
	sdkmath "cosmossdk.io/math"
	sdk "github.com/cosmos/cosmos-sdk/types"
)

// ProofRequestProbabilityAlways is proof_request_probability_ppm for "every
// claim must be proven".
const ProofRequestProbabilityAlways = 1_000_000

// DefaultParams are the parameters of a new chain.
func DefaultParams() Params {
	return Params{
		NumBlocksPerSession:            4,
		GracePeriodEndOffsetBlocks:     1,
		ClaimWindowOpenOffsetBlocks:    1,
		ClaimWindowCloseOffsetBlocks:   4,
		ProofWindowOpenOffsetBlocks:    1,
		ProofWindowCloseOffsetBlocks:   4,
		NumSuppliersPerSession:         15,
		MinApplicationStake:            sdk.NewCoin(DefaultDenom, sdkmath.NewInt(1_000_000)),
		MinSupplierStake:               sdk.NewCoin(DefaultDenom, sdkmath.NewInt(1_000_000)),
		ComputeUnitsToTokensMultiplier: 1,
		ProofRequestProbabilityPpm:     ProofRequestProbabilityAlways,
		ProofRequirementThreshold:      sdk.NewCoin(DefaultDenom, sdkmath.NewInt(20_000_000)),
		ProofMissingPenalty:            sdk.NewCoin(DefaultDenom, sdkmath.NewInt(100_000)),
	}
}

// Validate checks every field; the error names the first bad one.
func (p Params) Validate() error {
	invalid := func(field string, format string, args ...any) error {
		return errorsmod.Wrapf(ErrInvalidParams, "%s: %s", field, fmt.Sprintf(format, args...))
	}
	if p.NumBlocksPerSession < 1 {
		return invalid("num_blocks_per_session", "must be at least 1, got %d", p.NumBlocksPerSession)
	}
	// Claims only after the grace period (no relay can join a claimed tree),
	// and the proof seed block only after the claim window closed (no claim
	// can be shaped to its proof path): both offsets must be at least 1.
	for _, f := range []struct {
		name string
		v    uint64
	}{
		{"claim_window_open_offset_blocks", p.ClaimWindowOpenOffsetBlocks},
		{"claim_window_close_offset_blocks", p.ClaimWindowCloseOffsetBlocks},
		{"proof_window_open_offset_blocks", p.ProofWindowOpenOffsetBlocks},
		{"proof_window_close_offset_blocks", p.ProofWindowCloseOffsetBlocks},
		{"num_suppliers_per_session", p.NumSuppliersPerSession},
		{"compute_units_to_tokens_multiplier", p.ComputeUnitsToTokensMultiplier},
	} {
		if f.v < 1 {
			return invalid(f.name, "must be at least 1, got %d", f.v)
		}
	}
	const maxOffset = 1 << 20 // keeps every height sum far from overflow
	for _, f := range []struct {
		name string
		v    uint64
	}{
		{"num_blocks_per_session", p.NumBlocksPerSession},
		{"grace_period_end_offset_blocks", p.GracePeriodEndOffsetBlocks},
		{"claim_window_open_offset_blocks", p.ClaimWindowOpenOffsetBlocks},
		{"claim_window_close_offset_blocks", p.ClaimWindowCloseOffsetBlocks},
		{"proof_window_open_offset_blocks", p.ProofWindowOpenOffsetBlocks},
		{"proof_window_close_offset_blocks", p.ProofWindowCloseOffsetBlocks},
	} {
		if f.v > maxOffset {
			return invalid(f.name, "must be at most %d, got %d", maxOffset, f.v)
		}
	}
	if p.ProofRequestProbabilityPpm > ProofRequestProbabilityAlways {
		return invalid("proof_request_probability_ppm", "must be at most %d, got %d", ProofRequestProbabilityAlways, p.ProofRequestProbabilityPpm)
	}
	denom := p.MinApplicationStake.Denom
	for _, f := range []struct {
		name string
		c    sdk.Coin
	}{
		{"min_application_stake", p.MinApplicationStake},
		{"min_supplier_stake", p.MinSupplierStake},
		{"proof_requirement_threshold", p.ProofRequirementThreshold},
		{"proof_missing_penalty", p.ProofMissingPenalty},
	} {
		if err := f.c.Validate(); err != nil {
			return invalid(f.name, "%v", err)
		}
		if f.c.Denom != denom {
			return invalid(f.name, "denom %q differs from min_application_stake's %q", f.c.Denom, denom)
		}
	}
	seen := map[string]bool{}
	for i, t := range p.RelayDifficultyTargets {
		field := fmt.Sprintf("relay_difficulty_targets[%d]", i)
		if err := ValidateServiceID(t.ServiceId); err != nil {
			return invalid(field, "%v", err)
		}
		if seen[t.ServiceId] {
			return invalid(field, "service %q listed twice", t.ServiceId)
		}
		seen[t.ServiceId] = true
		if len(t.Target) != 32 {
			return invalid(field, "target must be 32 bytes, got %d", len(t.Target))
		}
		if bytes.Equal(t.Target, make([]byte, 32)) {
			return invalid(field, "target of all zeros makes no relay minable")
		}
	}
	return nil
}

// StakeDenom is the denom stakes and payments are made in.
func (p Params) StakeDenom() string { return p.MinApplicationStake.Denom }
