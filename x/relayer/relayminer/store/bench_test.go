package store

import (
	"encoding/binary"
	"testing"

	"github.com/pokt-network/smt"
	"github.com/pokt-network/smt/kvstore/simplemap"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
)

// BenchmarkSMSTInsert inserts b.N distinct relays (weight 1) into one trie,
// committing every 1000 inserts as the session manager does:
//
//   - leveldb, leveldb-sync: the RelayMiner's way, each commit one atomic
//     write (MapStore.Atomic), without and with fsync;
//   - leveldb-unbatched: each node write its own leveldb write;
//   - simplemap: smt's in-memory map, the baseline.
func BenchmarkSMSTInsert(b *testing.B) {
	const commitEvery = 1000
	templates := testRelays(b, 64)

	run := func(b *testing.B, nodes func(b *testing.B) (smt.SparseMerkleSumTrie, func(commit func() error) error)) {
		// Distinct pre-built relay bytes: a real signed relay plus a counter.
		relays := make([][]byte, b.N)
		for i := range relays {
			t := templates[i%len(templates)]
			relays[i] = binary.BigEndian.AppendUint64(append(make([]byte, 0, len(t)+8), t...), uint64(i))
		}
		trie, commit := nodes(b)
		b.ReportAllocs()
		b.ResetTimer()
		for i, r := range relays {
			if err := protocol.InsertRelay(trie, r, 1); err != nil {
				b.Fatal(err)
			}
			if (i+1)%commitEvery == 0 {
				if err := commit(trie.Commit); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := commit(trie.Commit); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "inserts/s")
	}

	onLevelDB := func(sync, atomic bool) func(b *testing.B) (smt.SparseMerkleSumTrie, func(func() error) error) {
		return func(b *testing.B) (smt.SparseMerkleSumTrie, func(func() error) error) {
			db, err := Open(b.TempDir(), Options{SyncWrites: sync})
			require.NoError(b, err)
			b.Cleanup(func() { _ = db.Close() })
			nodes := db.MapStore([]byte("n/supplier/session/"))
			commit := func(c func() error) error { return c() }
			if atomic {
				commit = func(c func() error) error {
					return nodes.Atomic(func(*Batch) error { return c() })
				}
			}
			return protocol.NewSMST(nodes), commit
		}
	}

	b.Run("leveldb", func(b *testing.B) { run(b, onLevelDB(false, true)) })
	b.Run("leveldb-sync", func(b *testing.B) { run(b, onLevelDB(true, true)) })
	b.Run("leveldb-unbatched", func(b *testing.B) { run(b, onLevelDB(false, false)) })
	b.Run("simplemap", func(b *testing.B) {
		run(b, func(*testing.B) (smt.SparseMerkleSumTrie, func(func() error) error) {
			return protocol.NewSMST(simplemap.NewSimpleMap()), func(c func() error) error { return c() }
		})
	})
}
