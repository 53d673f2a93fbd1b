// Package protocol holds the pure rules of the relayer protocol: session
// arithmetic, session ids and supplier selection, relay hashing, mining
// difficulty and signatures, claimed-token arithmetic, proof requirement and
// the sparse Merkle sum trie (SMST) conventions for claims and proofs.
//
// Both the on-chain keeper and the off-chain relay miner call these functions,
// so the two sides can never disagree about, say, which block seeds a proof
// or how a relay is weighted. To keep that guarantee every function here is
// deterministic and side-effect free: the package must never do I/O, read
// chain state, use wall-clock time or randomness, or depend on map iteration
// order. Callers fetch block hashes, params and stakes themselves and pass
// them in.
//
// Errors returned here are plain errors; callers wrap them in their own
// registered error types.
package protocol
