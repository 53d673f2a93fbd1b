package store

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"testing"

	"github.com/pokt-network/smt/kvstore/simplemap"
	"github.com/stretchr/testify/require"
)

func openTestDB(t testing.TB, dir string, opts Options) *DB {
	t.Helper()
	db, err := Open(dir, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestMapStoreBehavesLikeSimpleMap(t *testing.T) {
	db := openTestDB(t, t.TempDir(), Options{})
	ours, ref := db.MapStore([]byte("n/s1/")), simplemap.NewSimpleMap()
	// Noise under a neighbouring prefix that must stay invisible.
	require.NoError(t, db.Put([]byte("n/s0/k1"), []byte("x")))
	require.NoError(t, db.Put([]byte("n/s2/k1"), []byte("x")))

	rng := rand.New(rand.NewSource(1))
	key := func() []byte { return []byte(fmt.Sprintf("k%d", rng.Intn(50))) }
	for i := 0; i < 5000; i++ {
		switch op := rng.Intn(100); {
		case op < 40:
			k, v := key(), []byte(fmt.Sprintf("v%d", rng.Int()))
			require.Equal(t, ref.Set(k, v), ours.Set(k, v))
		case op < 70:
			k := key()
			want, wantErr := ref.Get(k)
			got, gotErr := ours.Get(k)
			require.Equal(t, want, got, "Get(%s)", k)
			if wantErr != nil {
				require.ErrorIs(t, gotErr, wantErr, "Get(%s)", k)
				require.ErrorIs(t, gotErr, ErrNotFound)
			} else {
				require.NoError(t, gotErr)
			}
		case op < 90:
			k := key()
			require.Equal(t, ref.Delete(k), ours.Delete(k))
		case op < 99:
			want, err := ref.Len()
			require.NoError(t, err)
			got, err := ours.Len()
			require.NoError(t, err)
			require.Equal(t, want, got)
		default:
			require.NoError(t, ref.ClearAll())
			require.NoError(t, ours.ClearAll())
		}
	}

	// Empty keys are rejected the same way.
	for _, err := range []error{
		func() error { _, err := ours.Get(nil); return err }(),
		ours.Set(nil, []byte("v")),
		ours.Delete([]byte{}),
	} {
		require.ErrorIs(t, err, simplemap.ErrKVStoreEmptyKey)
	}
	for _, k := range []string{"n/s0/k1", "n/s2/k1"} {
		_, err := db.Get([]byte(k))
		require.NoError(t, err, "neighbour %s was touched", k)
	}
}

func TestTwoPrefixesDoNotSeeEachOther(t *testing.T) {
	db := openTestDB(t, t.TempDir(), Options{})
	a, b := db.MapStore([]byte("a/")), db.MapStore([]byte("b/"))
	require.NoError(t, a.Set([]byte("k"), []byte("from a")))
	require.NoError(t, a.Set([]byte("only-a"), []byte("1")))
	require.NoError(t, b.Set([]byte("k"), []byte("from b")))

	v, err := a.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, "from a", string(v))
	v, err = b.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, "from b", string(v))
	_, err = b.Get([]byte("only-a"))
	require.ErrorIs(t, err, ErrNotFound)

	n, err := a.Len()
	require.NoError(t, err)
	require.Equal(t, 2, n)
	n, err = b.Len()
	require.NoError(t, err)
	require.Equal(t, 1, n)

	require.NoError(t, a.ClearAll())
	n, err = a.Len()
	require.NoError(t, err)
	require.Zero(t, n)
	v, err = b.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, "from b", string(v))
}

func TestDeletePrefixRemovesOnlyThatPrefix(t *testing.T) {
	defer func(n int) { deletePrefixChunk = n }(deletePrefixChunk)
	deletePrefixChunk = 7 // exercise several chunks

	db := openTestDB(t, t.TempDir(), Options{SyncWrites: true})
	var doomed, kept [][]byte
	for i := 0; i < 100; i++ {
		doomed = append(doomed, []byte(fmt.Sprintf("r/s1/%03d", i)))
	}
	doomed = append(doomed, []byte("r/s1/"), append([]byte("r/s1/"), 0xff, 0xff))
	kept = append(kept,
		[]byte("r/s1"), []byte("r/s0/999"), []byte("r/s10/000"), []byte("r/s2/000"),
		[]byte("r/s1."), []byte("r/s10"), []byte("m/r/s1/000"),
	)
	require.NoError(t, db.Write(func(b *Batch) {
		for _, k := range append(append([][]byte{}, doomed...), kept...) {
			b.Put(k, k)
		}
	}))

	require.NoError(t, db.DeletePrefix([]byte("r/s1/")))
	for _, k := range doomed {
		_, err := db.Get(k)
		require.ErrorIs(t, err, ErrNotFound, "%q survived", k)
	}
	for _, k := range kept {
		v, err := db.Get(k)
		require.NoError(t, err, "%q was deleted", k)
		require.Equal(t, k, v)
	}
	require.NoError(t, db.DeletePrefix([]byte("nothing/")))
}

func TestIterateVisitsPrefixInOrderAndStopsOnError(t *testing.T) {
	db := openTestDB(t, t.TempDir(), Options{})
	for _, k := range []string{"r/b", "r/a", "r/c", "q/a", "s/a"} {
		require.NoError(t, db.Put([]byte(k), []byte("v"+k)))
	}
	var seen []string
	require.NoError(t, db.Iterate([]byte("r/"), func(k, v []byte) error {
		require.Equal(t, "v"+string(k), string(v))
		seen = append(seen, string(k))
		// Writing while iterating is fine: the iteration reads a snapshot.
		return db.Delete(k)
	}))
	require.Equal(t, []string{"r/a", "r/b", "r/c"}, seen)
	_, err := db.Get([]byte("r/a"))
	require.ErrorIs(t, err, ErrNotFound)

	stop := errors.New("stop")
	n := 0
	err = db.Iterate(nil, func(k, v []byte) error { n++; return stop })
	require.ErrorIs(t, err, stop)
	require.Equal(t, 1, n)
}

func TestIterateHandsOutCopies(t *testing.T) {
	db := openTestDB(t, t.TempDir(), Options{})
	for i := 0; i < 10; i++ {
		require.NoError(t, db.Put([]byte(fmt.Sprintf("k%d", i)), []byte(fmt.Sprintf("v%d", i))))
	}
	var keys, values [][]byte
	require.NoError(t, db.Iterate(nil, func(k, v []byte) error {
		keys, values = append(keys, k), append(values, v)
		return nil
	}))
	for i := range keys {
		require.Equal(t, fmt.Sprintf("k%d", i), string(keys[i]))
		require.Equal(t, fmt.Sprintf("v%d", i), string(values[i]))
	}
}

func TestWriteBatchIsAppliedInOrder(t *testing.T) {
	db := openTestDB(t, t.TempDir(), Options{SyncWrites: true})
	require.NoError(t, db.Put([]byte("old"), []byte("1")))
	require.NoError(t, db.Write(func(b *Batch) {
		b.Put([]byte("a"), []byte("1"))
		b.Put([]byte("a"), []byte("2"))
		b.Delete([]byte("old"))
		b.Put([]byte("b"), []byte("3"))
		require.Equal(t, 4, b.Len())
	}))
	v, err := db.Get([]byte("a"))
	require.NoError(t, err)
	require.Equal(t, "2", string(v))
	_, err = db.Get([]byte("old"))
	require.ErrorIs(t, err, ErrNotFound)
	require.NoError(t, db.Write(func(*Batch) {})) // empty batch
}

func TestAtomicWritesNothingWhenItFails(t *testing.T) {
	db := openTestDB(t, t.TempDir(), Options{})
	m := db.MapStore([]byte("n/"))
	require.NoError(t, m.Set([]byte("old"), []byte("1")))

	boom := errors.New("boom")
	err := m.Atomic(func(b *Batch) error {
		require.NoError(t, m.Set([]byte("new"), []byte("2")))
		require.NoError(t, m.Delete([]byte("old")))
		b.Put([]byte("meta"), []byte("root"))
		// Reads inside see the pending writes.
		v, err := m.Get([]byte("new"))
		require.NoError(t, err)
		require.Equal(t, "2", string(v))
		_, err = m.Get([]byte("old"))
		require.ErrorIs(t, err, ErrNotFound)
		n, err := m.Len()
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Error(t, m.Atomic(func(*Batch) error { return nil }), "nested Atomic")
		return boom
	})
	require.ErrorIs(t, err, boom)
	_, err = m.Get([]byte("new"))
	require.ErrorIs(t, err, ErrNotFound)
	_, err = m.Get([]byte("old"))
	require.NoError(t, err)
	_, err = db.Get([]byte("meta"))
	require.ErrorIs(t, err, ErrNotFound)

	require.NoError(t, m.Atomic(func(b *Batch) error {
		require.NoError(t, m.Set([]byte("new"), []byte("2")))
		require.NoError(t, m.Delete([]byte("old")))
		b.Put([]byte("meta"), []byte("root"))
		return nil
	}))
	v, err := m.Get([]byte("new"))
	require.NoError(t, err)
	require.Equal(t, "2", string(v))
	_, err = m.Get([]byte("old"))
	require.ErrorIs(t, err, ErrNotFound)
	v, err = db.Get([]byte("meta"))
	require.NoError(t, err)
	require.Equal(t, "root", string(v))
}

func TestWritesSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{})
	require.NoError(t, err)
	require.NoError(t, db.Put([]byte("k"), []byte("v")))
	require.NoError(t, db.MapStore([]byte("n/")).Set([]byte("k"), []byte("node")))
	require.NoError(t, db.Close())

	db = openTestDB(t, dir, Options{})
	v, err := db.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
	v, err = db.MapStore([]byte("n/")).Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, "node", string(v))
}

func TestSecondOpenOfSameDirectoryFails(t *testing.T) {
	dir := t.TempDir()
	openTestDB(t, dir, Options{})
	_, err := Open(dir, Options{})
	require.Error(t, err)
}

func TestConcurrentSyncedWritesAllLand(t *testing.T) {
	db := openTestDB(t, t.TempDir(), Options{SyncWrites: true})
	const writers, each = 8, 50
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := db.MapStore([]byte(fmt.Sprintf("n/%d/", w)))
			for i := 0; i < each; i++ {
				k := []byte(fmt.Sprintf("%d", i))
				if i%2 == 0 {
					_ = db.Put(append([]byte(fmt.Sprintf("r/%d/", w)), k...), k)
				} else {
					_ = m.Set(k, k)
				}
			}
		}()
	}
	wg.Wait()
	n := 0
	require.NoError(t, db.Iterate(nil, func(k, v []byte) error {
		require.True(t, bytes.HasSuffix(k, v))
		n++
		return nil
	}))
	require.Equal(t, writers*each, n)
}
