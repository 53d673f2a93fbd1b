// Package session is the RelayMiner's SessionManager: one sparse Merkle sum
// trie per (supplier, session) holding the relays mined in that session, and
// the claim/proof lifecycle that turns each trie into a claim, then a proof,
// then nothing.
//
// Durability: every mined relay is written to a relay log in the store before
// AddRelay returns (and so before the application gets its response); trie
// nodes are committed to the store in batches. On restart the trie of each
// open session is re-imported from its last committed root and the relay log
// is replayed into it, so no relay whose response was returned is lost.
//
// It must never serve HTTP or decide whether a relay is valid: the proxy and
// the miner do that before a relay reaches it.
package session
