// Package store is the RelayMiner's persistent storage: one embedded leveldb
// database holding the nodes of every session's sparse Merkle sum trie (each
// trie under its own key prefix, through MapStore, which implements smt's
// kvstore.MapStore) beside the session manager's relay log and session
// metadata (plain keys, through Put, Get, Iterate, DeletePrefix and Write).
//
// It must never know what it stores: no relay, session or trie logic lives
// here, and no key layout beyond "a prefix is a namespace".
package store
