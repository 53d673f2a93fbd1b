package protocol

import (
	"math/big"

	"cosmossdk.io/math"
)

// The rules of what a supplier can be paid out of an application's stake:
// settlement applies them to claims, and the RelayMiner's relay meter
// applies the same rules ahead of time, so that it serves no relay it
// would not be paid for.
//
// A claim is worth ClaimedTokens. It is paid at most the supplier's share
// of the application's stake at the session's start (SupplierShare):
// ClaimPayable. Claims settle session by session; when the claims settling
// in one block ask, within their shares, for more than the stake still
// holds, each is paid its pro rata part of what is left (ProRata), so the
// outcome depends neither on the claims' order nor on their keys.

// ClaimPayable is the most a claim worth worth can be paid before what is
// left of the stake is known: its worth, at most the supplier's share.
func ClaimPayable(worth, share math.Int) math.Int {
	if worth.IsNil() || share.IsNil() || !worth.IsPositive() || !share.IsPositive() {
		return math.ZeroInt()
	}
	return math.MinInt(worth, share)
}

// ProRata is what each of the claims settling together is paid out of
// available, given what each is payable (ClaimPayable): all of it when
// their sum fits, else floor(payable × available / sum) each, so every
// claim loses the same fraction and the total paid never passes available
// (the remainder of the rounding, less than one token per claim, stays in
// the stake). short reports the second case. The result has the order of
// payable.
func ProRata(payable []math.Int, available math.Int) (paid []math.Int, short bool) {
	sum := math.ZeroInt()
	for _, p := range payable {
		if !p.IsNil() && p.IsPositive() {
			sum = sum.Add(p)
		}
	}
	if available.IsNil() || available.IsNegative() {
		available = math.ZeroInt()
	}
	paid = make([]math.Int, len(payable))
	short = sum.GT(available)
	for i, p := range payable {
		switch {
		case p.IsNil() || !p.IsPositive():
			paid[i] = math.ZeroInt()
		case !short:
			paid[i] = p
		default:
			v := new(big.Int).Mul(p.BigInt(), available.BigInt())
			paid[i] = math.NewIntFromBigInt(v.Quo(v, sum.BigInt()))
		}
	}
	return paid, short
}

// SupplierBudget is the most a supplier of a session can still expect to
// be paid, in tokens, for serving it: its share (what settlement caps its
// claim at), and no more than its even part of what the stake will hold
// once the claims of earlier sessions are paid. Those settle first
// (sessions settle in order) and may take pendingEarlier (the sum of their
// ClaimPayable); the session's claims then share what is left
// (stakeNow − pendingEarlier) pro rata with every claim settling in the
// same block: numSuppliers counts the suppliers of all of them (the
// application's sessions of every service that start at the same height).
// If every supplier serves at most its budget, every claim is paid in full.
func SupplierBudget(share, stakeNow, pendingEarlier math.Int, numSuppliers int) math.Int {
	if numSuppliers <= 0 || share.IsNil() || stakeNow.IsNil() || !share.IsPositive() {
		return math.ZeroInt()
	}
	if pendingEarlier.IsNil() {
		pendingEarlier = math.ZeroInt()
	}
	left := stakeNow.Sub(pendingEarlier)
	if !left.IsPositive() {
		return math.ZeroInt()
	}
	return math.MinInt(share, left.QuoRaw(int64(numSuppliers)))
}

// ExpectedTokens is what serving computeUnits is expected to be paid.
// A served relay is minable with probability (target+1)/2^256 (see
// IsMinable), and a minable relay is paid 2^256/(target+1) times its
// compute units (ClaimedTokens): the difficulty multiplier and the
// probability cancel, so in expectation a served compute unit earns
// multiplier tokens whatever the target. (With the base target, every
// relay is minable and this is exact.)
func ExpectedTokens(computeUnits, computeUnitsToTokensMultiplier uint64) math.Int {
	v := new(big.Int).SetUint64(computeUnits)
	return math.NewIntFromBigInt(v.Mul(v, new(big.Int).SetUint64(computeUnitsToTokensMultiplier)))
}

// BudgetComputeUnits is how many compute units can be served within a
// budget of tokens: the most whose ExpectedTokens is at most tokens,
// floor(tokens / multiplier), saturating at the largest uint64. A zero
// multiplier (relays are free) gives no limit.
func BudgetComputeUnits(tokens math.Int, computeUnitsToTokensMultiplier uint64) uint64 {
	if computeUnitsToTokensMultiplier == 0 {
		return ^uint64(0)
	}
	if tokens.IsNil() || !tokens.IsPositive() {
		return 0
	}
	q := tokens.Quo(math.NewIntFromUint64(computeUnitsToTokensMultiplier))
	if !q.IsUint64() {
		return ^uint64(0)
	}
	return q.Uint64()
}
