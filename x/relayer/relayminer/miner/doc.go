// Package miner decides which served relays count: it hashes each relay,
// keeps it only if the hash meets the service's difficulty target in force
// at the session's start, and hands it to the session manager weighted by
// the service's compute units per relay. Rules come from x/relayer/protocol;
// it must never re-implement them, serve HTTP or talk to the chain itself.
package miner
