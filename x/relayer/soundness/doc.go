// Package soundness holds adversarial tests of the relay protocol: dishonest
// suppliers build claim tries offline from relays signed with real on-chain
// keys and submit their claims and proofs as real txs to an in-process chain
// (testutil/network), which must reject every attack with its own error,
// slash the attackers and pay the honest supplier at most its share of the
// application's stake. It contains tests only.
package soundness
