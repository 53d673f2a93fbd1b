package store

import (
	"errors"
	"fmt"
	"sync"

	"github.com/pokt-network/smt/kvstore"
	"github.com/pokt-network/smt/kvstore/simplemap"
	"github.com/syndtr/goleveldb/leveldb/util"
)

var _ kvstore.MapStore = (*MapStore)(nil)

// MapStore is the view of a DB under one key prefix, the node store of one
// smt trie. It behaves as smt's simplemap: Get of a missing key returns
// ErrNotFound (which matches simplemap.ErrKVStoreKeyNotFound), an empty key
// is rejected with simplemap.ErrKVStoreEmptyKey, deleting a missing key is
// not an error; Len and ClearAll cover only the prefix.
//
// Prefixes of different MapStores (and of other data in the DB) must not be
// prefixes of one another: end them with a separator, e.g. "n/<session>/".
//
// By itself every Set and Delete is its own leveldb write. A trie's Commit
// deletes the nodes it orphaned before it writes the new ones, so a crash
// in the middle of an unbatched Commit leaves neither the old nor the new
// root importable: run Commit inside Atomic.
//
// A MapStore is safe for concurrent use, but an smt trie is not: callers
// serialize access to the trie.
type MapStore struct {
	db     *DB
	prefix []byte

	mu      sync.Mutex
	pending *pending // non-nil while Atomic runs
}

// pending is the write set of a running Atomic.
type pending struct {
	batch  Batch
	values map[string][]byte // key (without prefix) → value; nil value: deleted
}

// MapStore returns the view of db under prefix (copied).
func (db *DB) MapStore(prefix []byte) *MapStore {
	return &MapStore{db: db, prefix: clone(prefix)}
}

func (m *MapStore) key(k []byte) []byte {
	full := make([]byte, 0, len(m.prefix)+len(k))
	return append(append(full, m.prefix...), k...)
}

// Get returns the value of key, or ErrNotFound.
func (m *MapStore) Get(key []byte) ([]byte, error) {
	if len(key) == 0 {
		return nil, simplemap.ErrKVStoreEmptyKey
	}
	m.mu.Lock()
	if p := m.pending; p != nil {
		if v, ok := p.values[string(key)]; ok {
			m.mu.Unlock()
			if v == nil {
				return nil, ErrNotFound
			}
			return clone(v), nil
		}
	}
	m.mu.Unlock()
	return m.db.Get(m.key(key))
}

// Set sets key to value.
func (m *MapStore) Set(key, value []byte) error {
	if len(key) == 0 {
		return simplemap.ErrKVStoreEmptyKey
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := m.pending; p != nil {
		p.batch.Put(m.key(key), value)
		p.values[string(key)] = append(make([]byte, 0, len(value)), value...) // non-nil
		return nil
	}
	return m.db.Put(m.key(key), value)
}

// Delete removes key; deleting a missing key is not an error.
func (m *MapStore) Delete(key []byte) error {
	if len(key) == 0 {
		return simplemap.ErrKVStoreEmptyKey
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := m.pending; p != nil {
		p.batch.Delete(m.key(key))
		p.values[string(key)] = nil
		return nil
	}
	return m.db.Delete(m.key(key))
}

// Len counts the keys under the prefix (by iterating over them).
func (m *MapStore) Len() (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	it := m.db.ldb.NewIterator(util.BytesPrefix(m.prefix), nil)
	defer it.Release()
	for it.Next() {
		if p := m.pending; p != nil {
			if _, ok := p.values[string(it.Key()[len(m.prefix):])]; ok {
				continue // counted below
			}
		}
		n++
	}
	if err := it.Error(); err != nil {
		return 0, err
	}
	if p := m.pending; p != nil {
		for _, v := range p.values {
			if v != nil {
				n++
			}
		}
	}
	return n, nil
}

// ClearAll deletes every key under the prefix (see DB.DeletePrefix).
func (m *MapStore) ClearAll() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pending != nil {
		return errors.New("store: ClearAll inside Atomic")
	}
	return m.db.DeletePrefix(m.prefix)
}

// Atomic runs fn with the MapStore's Set and Delete buffered (Get sees them),
// plus whatever fn adds to b, and then writes all of it in one atomic leveldb
// write. If fn fails nothing is written and its error is returned. Typical
// use commits a trie together with the record of its new root:
//
//	err := nodes.Atomic(func(b *store.Batch) error {
//		if err := trie.Commit(); err != nil {
//			return err
//		}
//		b.Put(metaKey, encodeMeta(trie.Root()))
//		return nil
//	})
//
// If Atomic returns an error (from fn or from the write), the trie's
// in-memory state no longer matches the store (smt marks committed nodes as
// persisted): drop the trie and re-import it from the last root recorded.
// Atomic calls on one MapStore must not nest.
func (m *MapStore) Atomic(fn func(b *Batch) error) error {
	m.mu.Lock()
	if m.pending != nil {
		m.mu.Unlock()
		return errors.New("store: nested MapStore.Atomic")
	}
	p := &pending{values: make(map[string][]byte)}
	m.pending = p
	m.mu.Unlock()

	err := fn(&p.batch)

	m.mu.Lock()
	defer m.mu.Unlock()
	m.pending = nil
	if err != nil {
		return err
	}
	if err := m.db.ldb.Write(&p.batch.b, m.db.wo); err != nil {
		return fmt.Errorf("store: writing atomic batch of %d writes: %w", p.batch.Len(), err)
	}
	return nil
}
