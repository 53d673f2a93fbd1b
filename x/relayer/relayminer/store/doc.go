// Package store is the RelayMiner's persistent storage: one embedded leveldb
// database holding, under plain key prefixes, the session manager's relay
// logs, claim trie nodes and session metadata (through Put, Get, Write,
// NewIterator, Iterate and DeletePrefix).
//
// It must never know what it stores: no relay, session or trie logic lives
// here, and no key layout beyond "a prefix is a namespace".
package store
