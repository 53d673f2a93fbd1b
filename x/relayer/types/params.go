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

// DefaultNumProofsPerClaim is how many leaves a proof opens by default. One
// already makes fabricated weight unprofitable in expectation (it is found
// with probability F/T); three find a claim that is half fabricated 7 times
// in 8, and keep a proof tx near 6 KB.
const DefaultNumProofsPerClaim = 3

// DefaultParams are the parameters of a new chain.
func DefaultParams() Params {
	return Params{
		NumBlocksPerSession:            4,
		GracePeriodEndOffsetBlocks:     1,
		ClaimWindowOpenOffsetBlocks:    2,
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
		NumProofsPerClaim:              DefaultNumProofsPerClaim,
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
	// The claim seed block (the one after the grace period, which decides
	// minability) must exist before a claim can be built, so the claim
	// window opens at least 2 blocks after the grace period; the proof seed
	// block comes only after the claim window closed (no claim can be shaped
	// to its proof points).
	if p.ClaimWindowOpenOffsetBlocks < 2 {
		return invalid("claim_window_open_offset_blocks", "must be at least 2 (the block after the grace period seeds minability), got %d", p.ClaimWindowOpenOffsetBlocks)
	}
	for _, f := range []struct {
		name string
		v    uint64
	}{
		{"claim_window_close_offset_blocks", p.ClaimWindowCloseOffsetBlocks},
		{"proof_window_open_offset_blocks", p.ProofWindowOpenOffsetBlocks},
		{"proof_window_close_offset_blocks", p.ProofWindowCloseOffsetBlocks},
		{"num_suppliers_per_session", p.NumSuppliersPerSession},
		{"num_proofs_per_claim", p.NumProofsPerClaim},
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
	if p.NumProofsPerClaim > MaxProofsPerClaim {
		return invalid("num_proofs_per_claim", "must be at most %d, got %d", MaxProofsPerClaim, p.NumProofsPerClaim)
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
	if err := p.validatePenalty(); err != nil {
		return err
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

// validatePenalty requires, when claims at or below the threshold are
// proven only with probability p < 1, a missing-proof penalty of at least
// threshold × (1−p)/p: a false claim worth at most the threshold then loses
// p × penalty in expectation, at least the (1−p) × threshold it gains when
// no proof is asked. With p = 0 only a zero threshold passes (every claim
// is then above it and always proven).
func (p Params) validatePenalty() error {
	ppm := p.ProofRequestProbabilityPpm
	if ppm >= ProofRequestProbabilityAlways {
		return nil
	}
	threshold, penalty := p.ProofRequirementThreshold.Amount, p.ProofMissingPenalty.Amount
	if threshold.IsNil() || penalty.IsNil() {
		return nil // reported by the coin checks
	}
	if ppm == 0 {
		if threshold.IsPositive() {
			return errorsmod.Wrapf(ErrInvalidParams, "proof_requirement_threshold: must be 0 when proof_request_probability_ppm is 0 "+
				"(claims at or below %s would never be proven: a false one would always pay)", p.ProofRequirementThreshold)
		}
		return nil
	}
	need := threshold.MulRaw(int64(ProofRequestProbabilityAlways - ppm))
	if penalty.MulRaw(int64(ppm)).LT(need) {
		return errorsmod.Wrapf(ErrInvalidParams, "proof_missing_penalty: %s is below proof_requirement_threshold × (1−p)/p = %s × %d/%d: "+
			"a false claim would pay in expectation", p.ProofMissingPenalty, p.ProofRequirementThreshold, ProofRequestProbabilityAlways-ppm, ppm)
	}
	// The penalty is burned from the supplier's stake: a stake smaller than
	// it would cap what a false claim can lose.
	if p.MinSupplierStake.Amount.LT(penalty) {
		return errorsmod.Wrapf(ErrInvalidParams, "min_supplier_stake: %s is below proof_missing_penalty %s, which proofs asked with probability p < 1 rely on",
			p.MinSupplierStake, p.ProofMissingPenalty)
	}
	return nil
}
