package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/iterator"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/storage"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// ErrNotFound is returned by Get for a missing key.
var ErrNotFound = errors.New("store: key not found")

// ErrUnavailable wraps the error of a write refused because the store
// cannot write (a full disk, an I/O error) and has not recovered yet.
var ErrUnavailable = errors.New("store: cannot write")

// writeBufferSize is leveldb's memtable size. goleveldb writes a batch larger
// than this outside the journal, in a transaction that blocks every other
// write, so it is sized well above a claim trie's node batch (about 0.5 MiB)
// to keep those writes on the journal path, where they are group-committed
// with concurrent relay log writes.
const writeBufferSize = 16 << 20

// deletePrefixChunk is how many keys DeletePrefix deletes per write.
var deletePrefixChunk = 10_000

// reopenEvery is how often a store that failed a write tries to recover.
var reopenEvery = time.Second

// Options configures Open.
type Options struct {
	// SyncWrites fsyncs the journal on every write (Put, Delete, Write,
	// DeletePrefix chunks). goleveldb merges concurrent writes into one
	// journal write, so concurrent synced writes share an fsync (group
	// commit). Without it writes only reach the OS page cache: they survive
	// the process crashing or being killed (kill -9), not a power loss or
	// kernel crash.
	SyncWrites bool
	// WrapStorage, when set, wraps leveldb's on-disk storage: tests use it
	// to make writes fail as on a full disk.
	WrapStorage func(storage.Storage) storage.Storage
}

// DB is one leveldb database. It is safe for concurrent use.
//
// A failed write (a full disk, an I/O error) breaks goleveldb's journal for
// good: every later write fails the same way. So after a failed write the
// DB reopens itself, at most once every reopenEvery, on the next write: once
// space is back, writes succeed again without a restart. Reads keep working
// meanwhile.
type DB struct {
	dir  string
	opts Options
	wo   *opt.WriteOptions

	// mu is held shared by every operation (iterators hold it until
	// released) and exclusively to swap in a reopened database.
	mu     sync.RWMutex
	ldb    *leveldb.DB
	stor   storage.Storage // the on-disk storage, closed with ldb
	disk   storage.Storage // what ldb writes through (stor, or its wrap)
	closed bool

	broken     atomic.Bool // a write failed; reopen before the next one
	reopenMu   sync.Mutex
	lastReopen time.Time
	lastErr    error
}

// Open opens (creating if needed) the database in directory dir. A directory
// can be open by one DB at a time: a second Open fails while it is locked.
func Open(dir string, opts Options) (*DB, error) {
	db := &DB{dir: dir, opts: opts, wo: &opt.WriteOptions{Sync: opts.SyncWrites}}
	if err := db.open(); err != nil {
		return nil, err
	}
	return db, nil
}

func (db *DB) open() error {
	stor, err := storage.OpenFile(db.dir, false)
	if err != nil {
		return fmt.Errorf("opening leveldb store at %s: %w", db.dir, err)
	}
	var s storage.Storage = stor
	if db.opts.WrapStorage != nil {
		s = db.opts.WrapStorage(stor)
	}
	// The bloom filter spares a disk read for most lookups of absent keys
	// (the duplicate-request check on the relay path).
	ldb, err := leveldb.Open(s, &opt.Options{
		WriteBuffer: writeBufferSize,
		Filter:      filter.NewBloomFilter(10),
		// Tables four times leveldb's default: a store of a few sessions
		// holds a few hundred of them, whose index and filter blocks then
		// stay in the block cache, and a lookup of an absent key (the
		// duplicate-request check on the relay path) reads no disk.
		CompactionTableSize: 8 << 20,
		BlockCacheCapacity:  16 << 20,
	})
	if err != nil {
		_ = stor.Close()
		return fmt.Errorf("opening leveldb store at %s: %w", db.dir, err)
	}
	db.ldb, db.stor, db.disk = ldb, stor, s
	return nil
}

// probeNum names the scratch file probeDisk writes (far above leveldb's own
// file numbers).
const probeNum = 1 << 62

// probeDisk writes, syncs and removes a scratch file beside the database:
// whether the disk takes writes again, without touching the database.
func (db *DB) probeDisk() error {
	fd := storage.FileDesc{Type: storage.TypeTemp, Num: probeNum}
	w, err := db.disk.Create(fd)
	if err != nil {
		return err
	}
	_, err = w.Write(make([]byte, 64<<10))
	if err == nil {
		err = w.Sync()
	}
	err = errors.Join(err, w.Close(), db.disk.Remove(fd))
	return err
}

// Close closes the database. Writes that returned before Close are in the
// journal and are replayed by the next Open.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return nil
	}
	db.closed = true
	if db.ldb == nil {
		return nil
	}
	flushMemtable(db.ldb, db.wo)
	return errors.Join(db.ldb.Close(), db.stor.Close())
}

// closeMarker is the key flushMemtable writes.
var closeMarker = []byte("~close")

// flushMemtable writes the memtable to disk and waits until no memtable
// flush is in flight. goleveldb's Close does not wait for one (a flush
// finishing after Close races with it: a data race report under -race, or
// a send on a closed channel), and the next Open then has no journal to
// replay. Compacting the range of one key just written forces the flush
// and waits for it, without compacting anything else.
func flushMemtable(ldb *leveldb.DB, wo *opt.WriteOptions) {
	if ldb.Put(closeMarker, nil, wo) != nil {
		return // a broken journal: nothing more can be flushed
	}
	_ = ldb.CompactRange(util.Range{Start: closeMarker, Limit: append(bytes.Clone(closeMarker), 0)})
}

// write runs one write, first reopening the database if an earlier write
// failed.
func (db *DB) write(do func(ldb *leveldb.DB) error) error {
	if db.broken.Load() {
		if err := db.recover(); err != nil {
			return err
		}
	}
	db.mu.RLock()
	if db.closed || db.ldb == nil {
		db.mu.RUnlock()
		return db.unusable()
	}
	err := do(db.ldb)
	db.mu.RUnlock()
	if err != nil {
		db.reopenMu.Lock()
		db.lastErr = err
		db.reopenMu.Unlock()
		db.broken.Store(true)
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// recover reopens the database after a failed write, at most once every
// reopenEvery. It never waits for readers (an open iterator can last as
// long as a claim trie build): while any are active it reports the store
// still unavailable, and a later write tries again.
func (db *DB) recover() error {
	db.reopenMu.Lock()
	defer db.reopenMu.Unlock()
	if !db.broken.Load() {
		return nil
	}
	if time.Since(db.lastReopen) < reopenEvery {
		return fmt.Errorf("%w: %w", ErrUnavailable, db.lastErr)
	}
	db.lastReopen = time.Now()
	if !db.mu.TryLock() {
		return fmt.Errorf("%w: %w (recovery waits for open iterators)", ErrUnavailable, db.lastErr)
	}
	defer db.mu.Unlock()
	if db.closed {
		return leveldb.ErrClosed
	}
	if db.ldb != nil {
		// Reopen only once the disk takes writes: until then the open
		// database still serves reads.
		if err := db.probeDisk(); err != nil {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		flushMemtable(db.ldb, db.wo)
		_ = db.ldb.Close()
		_ = db.stor.Close()
		db.ldb, db.stor = nil, nil
	}
	if err := db.open(); err != nil {
		// Nothing is open now: the next write tries the open again.
		db.lastErr = err
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	db.broken.Store(false)
	return nil
}

// unusable is the error of an operation on a closed DB, or on one whose
// reopen failed (with mu held).
func (db *DB) unusable() error {
	if db.closed {
		return leveldb.ErrClosed
	}
	db.reopenMu.Lock()
	defer db.reopenMu.Unlock()
	return fmt.Errorf("%w: %w", ErrUnavailable, db.lastErr)
}

// Put sets key to value.
func (db *DB) Put(key, value []byte) error {
	return db.write(func(ldb *leveldb.DB) error { return ldb.Put(key, value, db.wo) })
}

// Get returns a copy of key's value, or ErrNotFound.
func (db *DB) Get(key []byte) ([]byte, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed || db.ldb == nil {
		return nil, db.unusable()
	}
	v, err := db.ldb.Get(key, nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return nil, ErrNotFound
	}
	return v, err
}

// Delete removes key; deleting a missing key is not an error.
func (db *DB) Delete(key []byte) error {
	return db.write(func(ldb *leveldb.DB) error { return ldb.Delete(key, db.wo) })
}

// Iterate calls fn for every key starting with prefix, in key order, on a
// snapshot taken when Iterate starts (fn may write to the DB). key and value
// are fn's own copies. The first error fn returns stops the iteration and is
// returned as is.
func (db *DB) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	it := db.NewIterator(prefix)
	defer it.Release()
	for it.Next() {
		if err := fn(clone(it.Key()), clone(it.Value())); err != nil {
			return err
		}
	}
	return it.Err()
}

// DeletePrefix deletes every key starting with prefix, deletePrefixChunk keys
// per write, in one pass over the keys (an iterator per chunk would walk
// the keys already deleted again, each time). It is not atomic: if
// interrupted, some keys remain and calling it again finishes the job.
func (db *DB) DeletePrefix(prefix []byte) error {
	it := db.NewIterator(prefix) // a snapshot: the deletes below do not move it
	defer it.Release()
	var b Batch
	for it.Next() {
		b.Delete(it.Key()) // Delete copies the key.
		if b.Len() >= deletePrefixChunk {
			if err := db.WriteBatch(&b); err != nil {
				return err
			}
			b.Reset()
		}
	}
	if err := it.Err(); err != nil {
		return err
	}
	if b.Len() == 0 {
		return nil
	}
	return db.WriteBatch(&b)
}

// Compact compacts the keys starting with prefix: once they are deleted,
// this is what gives their disk space back (leveldb keeps deleted keys'
// tombstones, and the data they hide, until a compaction reaches them).
func (db *DB) Compact(prefix []byte) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed || db.ldb == nil {
		return db.unusable()
	}
	return db.ldb.CompactRange(*util.BytesPrefix(prefix))
}

// Size is the size on disk of the database's directory: tables, journal,
// manifest and value files.
func (db *DB) Size() (int64, error) {
	var n int64
	for _, dir := range []string{db.dir, filepath.Join(db.dir, valuesDir)} {
		entries, err := os.ReadDir(dir)
		if err != nil && !(dir != db.dir && errors.Is(err, os.ErrNotExist)) {
			return 0, err
		}
		for _, e := range entries {
			if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
				n += info.Size()
			}
		}
	}
	return n, nil
}

// Batch collects writes that Write applies atomically.
type Batch struct{ b leveldb.Batch }

// Put adds setting key to value; key and value are copied.
func (b *Batch) Put(key, value []byte) { b.b.Put(key, value) }

// Delete adds deleting key; key is copied.
func (b *Batch) Delete(key []byte) { b.b.Delete(key) }

// Len is the number of writes in the batch.
func (b *Batch) Len() int { return b.b.Len() }

// Reset empties the batch for reuse.
func (b *Batch) Reset() { b.b.Reset() }

// Write calls fn to fill a batch, then applies it atomically (all or
// nothing, also across a crash). Writes apply in the order they were added.
func (db *DB) Write(fn func(b *Batch)) error {
	var b Batch
	fn(&b)
	return db.WriteBatch(&b)
}

// WriteBatch applies b atomically, like Write.
func (db *DB) WriteBatch(b *Batch) error {
	return db.write(func(ldb *leveldb.DB) error { return ldb.Write(&b.b, db.wo) })
}

// Iterator walks the keys under a prefix in key order, on a snapshot taken
// when it was made. Key and Value are valid until the next call to Next.
// Release it when done; until then it holds the database open.
type Iterator struct {
	db   *DB
	it   iterator.Iterator
	done bool
}

// NewIterator iterates the keys starting with prefix.
func (db *DB) NewIterator(prefix []byte) *Iterator {
	db.mu.RLock()
	if db.closed || db.ldb == nil {
		err := db.unusable()
		db.mu.RUnlock()
		return &Iterator{it: iterator.NewEmptyIterator(err), done: true}
	}
	return &Iterator{db: db, it: db.ldb.NewIterator(util.BytesPrefix(prefix), nil)}
}

// Next moves to the next key; false at the end or on an error (see Err).
func (it *Iterator) Next() bool { return it.it.Next() }

// Key is the current key.
func (it *Iterator) Key() []byte { return it.it.Key() }

// Value is the current value.
func (it *Iterator) Value() []byte { return it.it.Value() }

// Err is the error that ended the iteration, if any.
func (it *Iterator) Err() error { return it.it.Error() }

// Release frees the iterator. It may be called more than once.
func (it *Iterator) Release() {
	if it.done {
		it.it.Release()
		return
	}
	it.done = true
	it.it.Release()
	it.db.mu.RUnlock()
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
