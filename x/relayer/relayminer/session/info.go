package session

import "github.com/pokt-network/poktroll/x/relayer/types"

// Info is what a tree says of itself, for status reports.
type Info struct {
	Header               types.SessionHeader
	Supplier             string
	State                State
	ComputeUnitsPerRelay uint64
	// Added counts the relays this process logged in the tree (since it
	// started: a restarted RelayMiner does not count the log again).
	Added uint64
	// Logged and Minable count the relays in the log and in the claim
	// trie, and Root is the trie's root: set once the tree is sealed.
	Logged, Minable uint64
	Root            []byte
	// Busy says a claim or proof tx of the tree is in flight.
	Busy bool
}

// Info describes t.
func (t *Tree) Info() Info {
	m, busy := t.snapshot()
	return Info{
		Header: m.Header, Supplier: m.Supplier, State: m.State, ComputeUnitsPerRelay: m.ComputeUnitsPerRelay,
		Added: t.added.Load(), Logged: m.Logged, Minable: m.Minable, Root: m.Root, Busy: busy,
	}
}
