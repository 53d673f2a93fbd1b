// Package miner turns each served relay into its claim trie leaf: the relay's
// key (its request's signable bytes, which the proxy already verified), its
// trie path and its compact canonical bytes, weighted by the service's
// compute units per relay at the session's start, and hands it to the
// session manager. Which of a session's relays are minable cannot be known
// yet: it is drawn from the block after the session's grace period, when the
// session manager builds the claim trie.
//
// Rules come from x/relayer/protocol; it must never re-implement them, serve
// HTTP or talk to the chain itself.
package miner
