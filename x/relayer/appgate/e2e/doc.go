// Package e2e holds the AppGate's end-to-end test: an in-process chain, two
// RelayMiners whose backend is the node's own CometBFT RPC, and an AppGate
// in front of them driven by CometBFT's RPC client. It has no non-test code.
package e2e
