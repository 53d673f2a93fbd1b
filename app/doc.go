// Package app assembles the poktroll chain: the depinject app config naming
// every module (auth, bank, staking, distribution, mint, gov, consensus,
// genutil, tx and relayer) and the App type the daemon runs.
package app
