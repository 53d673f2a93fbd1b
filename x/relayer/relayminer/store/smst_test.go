package store

import (
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/pokt-network/smt"
	"github.com/pokt-network/smt/kvstore/simplemap"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/relaytest"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// testRelays builds n signed relays of one session and returns their bytes.
func testRelays(t testing.TB, n int) [][]byte {
	t.Helper()
	app, supplier := relaytest.NewActor(), relaytest.NewActor()
	hdr := types.SessionHeader{
		ApplicationAddress:      app.Address,
		ServiceId:               "eth",
		SessionId:               "d1b2a3f4",
		SessionStartBlockHeight: 1,
		SessionEndBlockHeight:   4,
	}
	relays := make([][]byte, n)
	for i := range relays {
		b, err := protocol.RelayBytes(relaytest.NewRelay(t, hdr, app, supplier, i))
		require.NoError(t, err)
		relays[i] = b
	}
	return relays
}

func insertAll(t testing.TB, trie smt.SparseMerkleSumTrie, relays [][]byte) {
	t.Helper()
	for i, r := range relays {
		require.NoError(t, protocol.InsertRelay(trie, r, uint64(1+i%5)))
	}
}

// proofPaths returns a few deterministic 32-byte proof paths.
func proofPaths(n int) [][]byte {
	paths := make([][]byte, n)
	for i := range paths {
		h := sha256.Sum256([]byte(fmt.Sprintf("block hash %d", i)))
		paths[i] = protocol.ProofPath(h[:], "d1b2a3f4")
	}
	return paths
}

// requireProofsVerify proves every path on trie and checks each proof
// against root, and that the proven leaf is one of relays.
func requireProofsVerify(t *testing.T, trie smt.SparseMerkleSumTrie, root []byte, relays [][]byte) [][]byte {
	t.Helper()
	known := make(map[string]bool, len(relays))
	for _, r := range relays {
		known[string(r)] = true
	}
	var proofs [][]byte
	for _, path := range proofPaths(8) {
		proof, err := protocol.ProveClosest(trie, path)
		require.NoError(t, err)
		leaf, weight, err := protocol.VerifyClosestProof(root, proof, path)
		require.NoError(t, err)
		require.True(t, known[string(leaf)], "proven leaf is not one of the relays")
		require.NotZero(t, weight)
		proofs = append(proofs, proof)
	}
	return proofs
}

func TestSMSTOnLevelDBMatchesSimpleMap(t *testing.T) {
	relays := testRelays(t, 500)
	db := openTestDB(t, t.TempDir(), Options{})

	onDisk := protocol.NewSMST(db.MapStore([]byte("n/supplier/session/")))
	inMem := protocol.NewSMST(simplemap.NewSimpleMap())
	// Commit part way through so that later inserts orphan (and delete)
	// persisted nodes in the leveldb store.
	insertAll(t, onDisk, relays[:200])
	insertAll(t, inMem, relays[:200])
	require.NoError(t, onDisk.Commit())
	require.NoError(t, inMem.Commit())
	insertAll(t, onDisk, relays[200:])
	insertAll(t, inMem, relays[200:])
	require.NoError(t, onDisk.Commit())
	require.NoError(t, inMem.Commit())

	root := onDisk.Root()
	require.Equal(t, inMem.Root(), root)
	parsed, err := protocol.ParseRoot(root)
	require.NoError(t, err)
	require.EqualValues(t, 500, parsed.Count)

	diskProofs := requireProofsVerify(t, onDisk, root, relays)
	memProofs := requireProofsVerify(t, inMem, root, relays)
	require.Equal(t, memProofs, diskProofs)
}

func TestSMSTReimportedAfterReopenProvesTheSameRoot(t *testing.T) {
	relays := testRelays(t, 500)
	dir := t.TempDir()
	prefix := []byte("n/supplier/session/")

	db, err := Open(dir, Options{SyncWrites: true})
	require.NoError(t, err)
	nodes := db.MapStore(prefix)
	trie := protocol.NewSMST(nodes)
	insertAll(t, trie, relays[:300])
	require.NoError(t, nodes.Atomic(func(b *Batch) error {
		if err := trie.Commit(); err != nil {
			return err
		}
		b.Put([]byte("m/supplier/session"), trie.Root())
		return nil
	}))
	root := []byte(trie.Root())
	require.NoError(t, db.Close())

	db = openTestDB(t, dir, Options{})
	recorded, err := db.Get([]byte("m/supplier/session"))
	require.NoError(t, err)
	require.Equal(t, root, recorded)
	trie = protocol.ImportSMST(db.MapStore(prefix), recorded)
	require.Equal(t, root, []byte(trie.Root()))
	requireProofsVerify(t, trie, root, relays[:300])

	// The re-imported trie keeps growing to the same root as one built in
	// memory in one go.
	insertAll(t, trie, relays[300:])
	require.NoError(t, trie.Commit())
	ref := protocol.NewSMST(simplemap.NewSimpleMap())
	insertAll(t, ref, relays)
	require.NoError(t, ref.Commit())
	require.Equal(t, ref.Root(), trie.Root())
	requireProofsVerify(t, trie, trie.Root(), relays)
}

func TestSMSTWithDeletedNodesFailsWithNotFound(t *testing.T) {
	relays := testRelays(t, 50)
	db := openTestDB(t, t.TempDir(), Options{})
	prefix := []byte("n/s/")
	trie := protocol.NewSMST(db.MapStore(prefix))
	insertAll(t, trie, relays)
	require.NoError(t, trie.Commit())
	root := trie.Root()

	require.NoError(t, db.DeletePrefix(prefix))
	_, err := protocol.ProveClosest(protocol.ImportSMST(db.MapStore(prefix), root), proofPaths(1)[0])
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorIs(t, err, simplemap.ErrKVStoreKeyNotFound)
}

func TestFailedAtomicCommitKeepsOldRootImportable(t *testing.T) {
	relays := testRelays(t, 200)
	db := openTestDB(t, t.TempDir(), Options{})
	prefix := []byte("n/s/")
	nodes := db.MapStore(prefix)
	trie := protocol.NewSMST(nodes)
	insertAll(t, trie, relays[:100])
	require.NoError(t, nodes.Atomic(func(*Batch) error { return trie.Commit() }))
	oldRoot := []byte(trie.Root())

	// The second commit orphans (deletes) nodes of the old root; failing
	// after it, as a crash would, must leave the old root whole.
	insertAll(t, trie, relays[100:])
	err := nodes.Atomic(func(*Batch) error {
		require.NoError(t, trie.Commit())
		return fmt.Errorf("crash")
	})
	require.Error(t, err)
	requireProofsVerify(t, protocol.ImportSMST(db.MapStore(prefix), oldRoot), oldRoot, relays[:100])
}
