// Package session is the RelayMiner's SessionManager: per (supplier,
// session), a relay log and then a claim trie (a sparse Merkle sum trie,
// see x/relayer/protocol), and the claim/proof lifecycle that turns each into
// a claim, then a proof, then nothing.
//
// Durability: every relay is written to its session's relay log in the
// store before AddRelay returns (and so before the application gets its
// response): its leaf bytes are appended to the session's value file, then
// a small entry (its key, the hash of its leaf bytes, their place in the
// file) goes in the log. The log holds each relay once, keyed by the trie
// path of its request's key, so iterating it yields the trie's leaves in
// order, and the trie is built from the entries alone. When the
// block after the session's grace period exists (the claim seed, which
// decides minability), the tree is sealed: the claim trie is built in one
// pass from the log's minable relays, its nodes over 64 leaves or more
// written to the store (a proof rebuilds the small subtrees below), and
// then claimed. Nothing per relay is held in memory, and a restart replays
// nothing: no relay whose response was returned is lost.
//
// It must never serve HTTP or decide whether a relay is valid: the proxy and
// the miner do that before a relay reaches it.
package session
