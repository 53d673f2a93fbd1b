// Package relayminer assembles the RelayMiner from its parts: it resolves
// the suppliers' keys, checks their stakes on chain, opens the store,
// restores session trees, starts one relay server per listen address, the
// metrics and health endpoints, and follows blocks to drive claims and
// proofs. The parts live in proxy, miner, session, store and chain.
package relayminer
