package store_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/relayminer/store"
)

// TestValueFile: values appended are read back at their offsets, survive
// reopening, count in the store's size, and are gone once removed.
func TestValueFile(t *testing.T) {
	for _, sync := range []bool{false, true} {
		dir := t.TempDir()
		db, err := store.Open(dir, store.Options{SyncWrites: sync})
		require.NoError(t, err)
		before, err := db.Size()
		require.NoError(t, err)

		vf, err := db.OpenValueFile("s1")
		require.NoError(t, err)
		values := [][]byte{[]byte("first"), make([]byte, 4096), []byte("third")}
		offs := make([]int64, len(values))
		for i, v := range values {
			offs[i], err = vf.Append(v)
			require.NoError(t, err)
		}
		require.Equal(t, []int64{0, 5, 4101}, offs)
		require.NoError(t, vf.Close())

		vf, err = db.OpenValueFile("s1")
		require.NoError(t, err)
		for i, v := range values {
			got, err := vf.Read(offs[i], len(v))
			require.NoError(t, err)
			require.Equal(t, v, got)
		}
		_, err = vf.Read(4101, 6)
		require.Error(t, err, "a read past the end")
		off, err := vf.Append([]byte("after reopening"))
		require.NoError(t, err)
		require.Equal(t, int64(4106), off, "appends continue at the end")
		// Several values in one write: each at its own offset.
		many := [][]byte{[]byte("a"), []byte(""), []byte("bcd")}
		manyOffs, err := vf.AppendAll(many)
		require.NoError(t, err)
		require.Equal(t, []int64{4121, 4122, 4122}, manyOffs)
		for i, v := range many {
			got, err := vf.Read(manyOffs[i], len(v))
			require.NoError(t, err)
			require.Equal(t, v, got)
		}
		one, err := vf.AppendAll([][]byte{[]byte("e")})
		require.NoError(t, err)
		require.Equal(t, []int64{4125}, one)
		after, err := db.Size()
		require.NoError(t, err)
		require.GreaterOrEqual(t, after-before, int64(4126))

		require.NoError(t, vf.Close())
		require.NoError(t, db.RemoveValueFile("s1"))
		require.NoError(t, db.RemoveValueFile("s1"), "removing a missing file is not an error")
		_, err = os.Stat(filepath.Join(dir, "values", "s1"))
		require.ErrorIs(t, err, os.ErrNotExist)
		require.NoError(t, db.Close())

		db, err = store.Open(dir, store.Options{})
		require.NoError(t, err, "leveldb opens a directory holding the value files")
		require.NoError(t, db.Close())
	}
}
