package store

import (
	"errors"
	"fmt"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/iterator"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// ErrNotFound is returned by Get for a missing key.
var ErrNotFound = errors.New("store: key not found")

// writeBufferSize is leveldb's memtable size. goleveldb writes a batch larger
// than this outside the journal, in a transaction that blocks every other
// write, so it is sized well above a claim trie's node batch (about 0.5 MiB)
// to keep those writes on the journal path, where they are group-committed
// with concurrent relay log writes.
const writeBufferSize = 16 << 20

// deletePrefixChunk is how many keys DeletePrefix deletes per write.
var deletePrefixChunk = 10_000

// Options configures Open.
type Options struct {
	// SyncWrites fsyncs the journal on every write (Put, Delete, Write,
	// DeletePrefix chunks, MapStore writes). goleveldb merges concurrent
	// writes into one journal write, so concurrent synced writes share an
	// fsync (group commit). Without it writes only reach the OS page cache:
	// they survive the process crashing or being killed (kill -9), not a
	// power loss or kernel crash.
	SyncWrites bool
}

// DB is one leveldb database. It is safe for concurrent use.
type DB struct {
	ldb *leveldb.DB
	wo  *opt.WriteOptions
}

// Open opens (creating if needed) the database in directory dir. A directory
// can be open by one DB at a time: a second Open fails while it is locked.
func Open(dir string, opts Options) (*DB, error) {
	// The bloom filter spares a disk read for most lookups of absent keys
	// (the duplicate-request check on the relay path).
	ldb, err := leveldb.OpenFile(dir, &opt.Options{WriteBuffer: writeBufferSize, Filter: filter.NewBloomFilter(10)})
	if err != nil {
		return nil, fmt.Errorf("opening leveldb store at %s: %w", dir, err)
	}
	return &DB{ldb: ldb, wo: &opt.WriteOptions{Sync: opts.SyncWrites}}, nil
}

// Close closes the database. Writes that returned before Close are in the
// journal and are replayed by the next Open.
func (db *DB) Close() error { return db.ldb.Close() }

// Put sets key to value.
func (db *DB) Put(key, value []byte) error { return db.ldb.Put(key, value, db.wo) }

// Get returns a copy of key's value, or ErrNotFound.
func (db *DB) Get(key []byte) ([]byte, error) {
	v, err := db.ldb.Get(key, nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return nil, ErrNotFound
	}
	return v, err
}

// Delete removes key; deleting a missing key is not an error.
func (db *DB) Delete(key []byte) error { return db.ldb.Delete(key, db.wo) }

// Iterate calls fn for every key starting with prefix, in key order, on a
// snapshot taken when Iterate starts (fn may write to the DB). key and value
// are fn's own copies. The first error fn returns stops the iteration and is
// returned as is.
func (db *DB) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	it := db.ldb.NewIterator(util.BytesPrefix(prefix), nil)
	defer it.Release()
	for it.Next() {
		if err := fn(clone(it.Key()), clone(it.Value())); err != nil {
			return err
		}
	}
	return it.Error()
}

// DeletePrefix deletes every key starting with prefix, deletePrefixChunk keys
// per write. It is not atomic: if interrupted, some keys remain and calling
// it again finishes the job.
func (db *DB) DeletePrefix(prefix []byte) error {
	it := db.ldb.NewIterator(util.BytesPrefix(prefix), nil)
	defer it.Release()
	b := new(leveldb.Batch)
	for it.Next() {
		b.Delete(it.Key()) // Delete copies the key.
		if b.Len() >= deletePrefixChunk {
			if err := db.ldb.Write(b, db.wo); err != nil {
				return err
			}
			b.Reset()
		}
	}
	if err := it.Error(); err != nil {
		return err
	}
	return db.ldb.Write(b, db.wo)
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
func (db *DB) WriteBatch(b *Batch) error { return db.ldb.Write(&b.b, db.wo) }

// Iterator walks the keys under a prefix in key order, on a snapshot taken
// when it was made. Key and Value are valid until the next call to Next.
// Release it when done.
type Iterator struct{ it iterator.Iterator }

// NewIterator iterates the keys starting with prefix.
func (db *DB) NewIterator(prefix []byte) *Iterator {
	return &Iterator{it: db.ldb.NewIterator(util.BytesPrefix(prefix), nil)}
}

// Next moves to the next key; false at the end or on an error (see Err).
func (it *Iterator) Next() bool { return it.it.Next() }

// Key is the current key.
func (it *Iterator) Key() []byte { return it.it.Key() }

// Value is the current value.
func (it *Iterator) Value() []byte { return it.it.Value() }

// Err is the error that ended the iteration, if any.
func (it *Iterator) Err() error { return it.it.Error() }

// Release frees the iterator.
func (it *Iterator) Release() { it.it.Release() }

func clone(b []byte) []byte { return append([]byte(nil), b...) }
