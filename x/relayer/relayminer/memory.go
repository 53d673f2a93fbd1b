package relayminer

// DefaultMemoryLimit is the RelayMiner's soft memory limit (Go's
// GOMEMLIMIT) unless its operator sets another. What it holds live is
// bounded by configuration (leveldb's memtables, block cache and buffers,
// about 110 MiB, plus requests in flight); the rest of its heap is garbage
// from the relay path (about 20 KiB a relay). With no limit the Go runtime
// lets that garbage grow the heap to twice what is live, and more while a
// claim trie is built: `make soak SOAK_FLAGS='-sessions 1'` measured a
// 1,000,000-relay session at 517 MiB RSS without a limit and 264 MiB with
// this one, the GC's share of the CPU under 0.5% in both.
const DefaultMemoryLimit = "200MiB"
