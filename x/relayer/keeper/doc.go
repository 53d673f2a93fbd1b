// Package keeper holds the relayer module's on-chain state (params history,
// services, application and supplier stakes, block hashes, claims, proofs),
// its message and query servers and the block hooks that record block
// hashes, settle claims and complete unbonding. Protocol rules (session
// arithmetic, hashing, proof paths) come from x/relayer/protocol and are
// never re-implemented here.
package keeper
