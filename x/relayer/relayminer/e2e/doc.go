// Package e2e holds the RelayMiner's end-to-end tests: an in-process chain,
// real staking txs, a backend, RelayMiners started from YAML configs and a
// client signing relays as the application. It has no non-test code.
package e2e
