package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// valuesDir is the directory, inside the database's, of its value files.
// leveldb ignores names it did not make.
const valuesDir = "values"

// ValueFile is an append-only file of values kept apart from the database
// (a session's relay bytes): the database holds where each value is, so
// what leveldb sorts and compacts stays small whatever the values weigh,
// and deleting the values is removing one file. A value appended is in the
// OS page cache once Append returns, as a database write is (and on disk
// with SyncWrites): it survives the process being killed. Safe for
// concurrent use.
type ValueFile struct {
	mu   sync.Mutex
	f    *os.File
	size int64
	sync bool

	// syncMu serializes syncs; synced is the size the last one covered.
	// Appends waiting for a sync find their bytes covered by the one that
	// ran while they waited: concurrent appends share one fsync (group
	// commit), as leveldb's journal writes do.
	syncMu sync.Mutex
	synced int64
}

// OpenValueFile opens (creating if needed) the value file called name.
func (db *DB) OpenValueFile(name string) (*ValueFile, error) {
	dir := filepath.Join(db.dir, valuesDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	info, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return &ValueFile{f: f, size: info.Size(), sync: db.opts.SyncWrites}, nil
}

// RemoveValueFile deletes the value file called name; a missing one is not
// an error.
func (db *DB) RemoveValueFile(name string) error {
	err := os.Remove(filepath.Join(db.dir, valuesDir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// Append writes v at the end of the file and returns its offset. A failed
// write (a full disk) is undone and reported wrapping ErrUnavailable.
func (vf *ValueFile) Append(v []byte) (int64, error) {
	vf.mu.Lock()
	off := vf.size
	n, err := vf.f.WriteAt(v, off)
	if err != nil {
		if n > 0 {
			_ = vf.f.Truncate(off) // what a later value is written over anyway
		}
		vf.mu.Unlock()
		return 0, fmt.Errorf("%w: appending to %s: %v", ErrUnavailable, vf.f.Name(), err)
	}
	vf.size += int64(n)
	vf.mu.Unlock()
	if vf.sync {
		if err := vf.syncTo(off + int64(n)); err != nil {
			return 0, fmt.Errorf("%w: syncing %s: %v", ErrUnavailable, vf.f.Name(), err)
		}
	}
	return off, nil
}

// AppendAll writes vs at the end of the file, in order, in one write, and
// returns their offsets; like Append otherwise (all or none written).
func (vf *ValueFile) AppendAll(vs [][]byte) ([]int64, error) {
	if len(vs) == 1 {
		off, err := vf.Append(vs[0])
		return []int64{off}, err
	}
	n := 0
	for _, v := range vs {
		n += len(v)
	}
	buf := make([]byte, 0, n)
	offs := make([]int64, len(vs))
	for i, v := range vs {
		offs[i] = int64(len(buf))
		buf = append(buf, v...)
	}
	off, err := vf.Append(buf)
	if err != nil {
		return nil, err
	}
	for i := range offs {
		offs[i] += off
	}
	return offs, nil
}

// syncTo returns once the file's first end bytes are on disk: at once if a
// sync since they were written covered them, else after syncing
// everything appended so far.
func (vf *ValueFile) syncTo(end int64) error {
	vf.syncMu.Lock()
	defer vf.syncMu.Unlock()
	if vf.synced >= end {
		return nil
	}
	vf.mu.Lock()
	size := vf.size
	vf.mu.Unlock()
	if err := vf.f.Sync(); err != nil {
		return err
	}
	vf.synced = size
	return nil
}

// Read reads the n bytes at off.
func (vf *ValueFile) Read(off int64, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := vf.f.ReadAt(b, off); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("value at %d+%d is past the end of %s", off, n, vf.f.Name())
		}
		return nil, err
	}
	return b, nil
}

// Close closes the file.
func (vf *ValueFile) Close() error { return vf.f.Close() }
