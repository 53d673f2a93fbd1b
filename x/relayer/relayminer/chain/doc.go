// Package chain is the RelayMiner's view of the chain: cached queries over
// gRPC (params, services, sessions, account keys), a block follower over
// CometBFT's websocket that hands out every height in order even across
// disconnects, and a tx submitter that signs with the keyring, tracks account
// sequences and waits for inclusion.
//
// It must never decide protocol rules: it only reads and writes chain state.
package chain
