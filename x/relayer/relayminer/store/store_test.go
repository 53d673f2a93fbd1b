package store

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/diskfault"
)

func openTestDB(t testing.TB, dir string, opts Options) *DB {
	t.Helper()
	db, err := Open(dir, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
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

func TestWritesSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{})
	require.NoError(t, err)
	require.NoError(t, db.Put([]byte("k"), []byte("v")))
	var b Batch
	b.Put([]byte("n/k"), []byte("node"))
	require.NoError(t, db.WriteBatch(&b))
	require.NoError(t, db.Close())

	db = openTestDB(t, dir, Options{})
	v, err := db.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
	v, err = db.Get([]byte("n/k"))
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
			for i := 0; i < each; i++ {
				k := []byte(fmt.Sprintf("%d", i))
				if i%2 == 0 {
					_ = db.Put(append([]byte(fmt.Sprintf("r/%d/", w)), k...), k)
				} else {
					_ = db.Write(func(b *Batch) { b.Put(append([]byte(fmt.Sprintf("n/%d/", w)), k...), k) })
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

func TestIteratorWalksPrefixInOrderOnASnapshot(t *testing.T) {
	db := openTestDB(t, t.TempDir(), Options{})
	for _, k := range []string{"r/b", "r/a", "r/c", "q/a", "s/a"} {
		require.NoError(t, db.Put([]byte(k), []byte("v"+k)))
	}
	it := db.NewIterator([]byte("r/"))
	defer it.Release()
	require.NoError(t, db.Put([]byte("r/0"), []byte("late")), "written after the snapshot")
	var seen []string
	for it.Next() {
		require.Equal(t, "v"+string(it.Key()), string(it.Value()))
		seen = append(seen, string(it.Key()))
	}
	require.NoError(t, it.Err())
	require.Equal(t, []string{"r/a", "r/b", "r/c"}, seen)
}

// TestWritesResumeAfterTheDiskFrees: writes fail while the disk is full
// (ErrUnavailable) and succeed again once it frees, without reopening by
// hand; what was written before stays readable throughout.
func TestWritesResumeAfterTheDiskFrees(t *testing.T) {
	defer func(d time.Duration) { reopenEvery = d }(reopenEvery)
	reopenEvery = 0
	var disk diskfault.Disk
	db := openTestDB(t, t.TempDir(), Options{WrapStorage: disk.Wrap})
	require.NoError(t, db.Put([]byte("before"), []byte("1")))

	disk.SetFull(true)
	for i := 0; i < 3; i++ {
		require.ErrorIs(t, db.Put([]byte("during"), []byte("2")), ErrUnavailable)
		require.ErrorIs(t, db.Write(func(b *Batch) { b.Put([]byte("batch"), []byte("3")) }), ErrUnavailable)
	}
	v, err := db.Get([]byte("before"))
	require.NoError(t, err, "reads work while the disk is full")
	require.Equal(t, "1", string(v))

	disk.SetFull(false)
	require.NoError(t, db.Put([]byte("after"), []byte("4")))
	for _, k := range []string{"before", "after"} {
		_, err := db.Get([]byte(k))
		require.NoError(t, err, k)
	}
	_, err = db.Get([]byte("during"))
	require.ErrorIs(t, err, ErrNotFound, "a failed write left nothing")
}

// TestRecoveryWaitsForOpenIterators: a reopen never pulls the database out
// from under an iterator; the write that would reopen reports the store
// unavailable until the iterator is released.
func TestRecoveryWaitsForOpenIterators(t *testing.T) {
	defer func(d time.Duration) { reopenEvery = d }(reopenEvery)
	reopenEvery = 0
	var disk diskfault.Disk
	db := openTestDB(t, t.TempDir(), Options{WrapStorage: disk.Wrap})
	for i := 0; i < 10; i++ {
		require.NoError(t, db.Put([]byte(fmt.Sprintf("k%d", i)), []byte("v")))
	}
	disk.SetFull(true)
	require.ErrorIs(t, db.Put([]byte("x"), []byte("v")), ErrUnavailable)
	disk.SetFull(false)

	it := db.NewIterator([]byte("k"))
	require.True(t, it.Next())
	require.ErrorIs(t, db.Put([]byte("y"), []byte("v")), ErrUnavailable, "the iterator is open")
	n := 1
	for it.Next() {
		n++
	}
	require.NoError(t, it.Err())
	require.Equal(t, 10, n)
	it.Release()
	require.NoError(t, db.Put([]byte("y"), []byte("v")))
}
