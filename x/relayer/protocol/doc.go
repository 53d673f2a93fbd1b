// Package protocol holds the pure rules of the relayer protocol: session
// arithmetic, session ids and supplier selection, relay keys, leaves and
// signatures, minability, claimed-token arithmetic and stake shares, proof
// points and requirement, and the sparse Merkle sum trie (SMST) of claims:
// its node hashes, its one-pass builder, its prover and its verifier.
//
// Both the on-chain keeper and the off-chain relay miner call these functions,
// so the two sides can never disagree about, say, which block seeds a proof
// or how a relay is weighted. To keep that guarantee every function here is
// deterministic and side-effect free: the package must never do I/O, read
// chain state, use wall-clock time or randomness, or depend on map iteration
// order. Callers fetch block hashes, params and stakes themselves and pass
// them in; trie nodes are read and written through interfaces the caller
// implements.
//
// Errors returned here are plain errors; callers wrap them in their own
// registered error types.
package protocol
