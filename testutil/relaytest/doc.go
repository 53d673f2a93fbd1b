// Package relaytest builds signed relays and session trees for tests, the
// way an application, a supplier and the RelayMiner would, using only the
// protocol package's rules.
package relaytest
