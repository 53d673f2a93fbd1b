package session

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/pokt-network/smt"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/store"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// State is where a session tree is in its lifecycle.
type State string

const (
	// StateOpen accepts relays; it is claimed once its claim window opens.
	StateOpen State = "open"
	// StateClaimed holds a claim on chain; it is proven once its proof window opens.
	StateClaimed State = "claimed"
)

// ErrSessionClaimed is returned for a relay of a session whose tree was
// already claimed: it can no longer be counted.
var ErrSessionClaimed = errors.New("session already claimed")

// commitEvery bounds how many relays a trie keeps in memory before its nodes
// are committed to the store.
const commitEvery = 1024

// meta is the persisted description of one tree.
type meta struct {
	Header               types.SessionHeader `json:"header"`
	Supplier             string              `json:"supplier"`
	ComputeUnitsPerRelay uint64              `json:"compute_units_per_relay"`
	State                State               `json:"state"`
	// Root is the last committed root: the claimed root once claimed.
	Root []byte `json:"root,omitempty"`
}

// Tree is one supplier's SMST of one session.
type Tree struct {
	db  *store.DB
	key []byte // "<supplier>/<session id>/"

	// sealMu is held shared by every add (check, log, insert) and
	// exclusively by seal: a relay is logged exactly when it is inserted,
	// and none is after the root to claim was taken.
	sealMu sync.RWMutex
	sealed bool

	// qmu guards queue: relays logged but not yet in the trie. The relay
	// path only appends here; inserting and committing (which hashes every
	// dirty node: tens of ms per thousand relays) happen in apply, off the
	// relay path.
	qmu   sync.Mutex
	queue [][]byte

	mu      sync.Mutex // guards everything below, and the trie
	meta    meta
	nodes   *store.MapStore
	trie    smt.SparseMerkleSumTrie
	pending int  // relays inserted since the last commit
	busy    bool // a claim or proof tx is in flight
}

func treeKey(supplier, sessionID string) []byte {
	return []byte(supplier + "/" + sessionID + "/")
}

func metaKey(k []byte) []byte  { return append([]byte("m/"), k...) }
func logKey(k []byte) []byte   { return append([]byte("r/"), k...) }
func nodesKey(k []byte) []byte { return append([]byte("n/"), k...) }

// newTree creates and persists an empty open tree.
func newTree(db *store.DB, hdr types.SessionHeader, supplier string, cupr uint64) (*Tree, error) {
	t := &Tree{
		db:   db,
		key:  treeKey(supplier, hdr.SessionId),
		meta: meta{Header: hdr, Supplier: supplier, ComputeUnitsPerRelay: cupr, State: StateOpen},
	}
	t.nodes = db.MapStore(nodesKey(t.key))
	t.trie = protocol.NewSMST(t.nodes)
	return t, t.saveMeta()
}

// loadTree reopens a persisted tree: its trie from the last committed root,
// plus, while open, every logged relay.
func loadTree(db *store.DB, raw []byte) (*Tree, int, error) {
	var m meta
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, 0, fmt.Errorf("decoding session metadata: %w", err)
	}
	t := &Tree{db: db, key: treeKey(m.Supplier, m.Header.SessionId), meta: m, sealed: m.State != StateOpen}
	t.nodes = db.MapStore(nodesKey(t.key))
	t.reopenLocked()
	if m.State != StateOpen {
		return t, 0, nil
	}
	replayed, err := t.replayLocked()
	if err != nil {
		return nil, 0, err
	}
	return t, replayed, t.commitLocked()
}

// Header is the tree's session header.
func (t *Tree) Header() types.SessionHeader { return t.meta.Header }

// Supplier is the operator address the tree's relays were served by.
func (t *Tree) Supplier() string { return t.meta.Supplier }

// add logs a relay durably and queues it for the trie. Once it returns the
// relay survives a crash: a restart replays the log.
func (t *Tree) add(relayHash, relay []byte) error {
	t.sealMu.RLock()
	defer t.sealMu.RUnlock()
	if t.sealed {
		return ErrSessionClaimed
	}
	// Concurrent relays' log writes are merged by leveldb into one journal
	// write.
	if err := t.db.Put(append(logKey(t.key), relayHash...), relay); err != nil {
		return fmt.Errorf("logging relay: %w", err)
	}
	t.qmu.Lock()
	t.queue = append(t.queue, relay)
	t.qmu.Unlock()
	return nil
}

// apply inserts the queued relays into the trie, committing every
// commitEvery relays.
func (t *Tree) apply() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.applyLocked()
}

func (t *Tree) applyLocked() error {
	t.qmu.Lock()
	q := t.queue
	t.queue = nil
	t.qmu.Unlock()
	for _, relay := range q {
		if err := protocol.InsertRelay(t.trie, relay, t.meta.ComputeUnitsPerRelay); err != nil {
			return fmt.Errorf("inserting relay: %w", err)
		}
		t.pending++
		if t.pending >= commitEvery {
			if err := t.commitLocked(); err != nil {
				return err
			}
		}
	}
	return nil
}

// replayLocked inserts every logged relay into the trie; re-inserting a
// relay already there changes nothing.
func (t *Tree) replayLocked() (int, error) {
	replayed := 0
	err := t.db.Iterate(logKey(t.key), func(_, relay []byte) error {
		replayed++
		return protocol.InsertRelay(t.trie, relay, t.meta.ComputeUnitsPerRelay)
	})
	if err != nil {
		return 0, fmt.Errorf("replaying relays of session %s: %w", t.meta.Header.SessionId, err)
	}
	t.pending = replayed
	return replayed, nil
}

// reopenLocked (re)builds the trie from the last recorded root.
func (t *Tree) reopenLocked() {
	if len(t.meta.Root) == 0 {
		t.trie = protocol.NewSMST(t.nodes)
	} else {
		t.trie = protocol.ImportSMST(t.nodes, t.meta.Root)
	}
}

// commitLocked writes the dirty trie nodes and the new root in one atomic
// store write: smt's Commit deletes orphaned nodes before writing new ones,
// so a crash in between would otherwise leave no importable root. A failed
// commit loses nothing: the trie is re-imported from the last root and the
// relay log replayed into it.
func (t *Tree) commitLocked() error {
	if t.pending == 0 && len(t.meta.Root) > 0 {
		return nil
	}
	prev := t.meta.Root
	err := t.nodes.Atomic(func(b *store.Batch) error {
		if err := t.trie.Commit(); err != nil {
			return err
		}
		t.meta.Root = t.trie.Root()
		raw, err := json.Marshal(t.meta)
		if err != nil {
			return err
		}
		b.Put(metaKey(t.key), raw)
		return nil
	})
	if err != nil {
		t.meta.Root = prev
		t.reopenLocked()
		if _, rerr := t.replayLocked(); rerr != nil {
			return errors.Join(fmt.Errorf("committing trie: %w", err), rerr)
		}
		return fmt.Errorf("committing trie: %w", err)
	}
	t.pending = 0
	return nil
}

func (t *Tree) saveMeta() error {
	raw, err := json.Marshal(t.meta)
	if err != nil {
		return err
	}
	return t.db.Put(metaKey(t.key), raw)
}

// seal stops the tree taking relays, commits it and returns its root: what
// is claimed. It stays sealed if the claim fails: the same root is retried.
func (t *Tree) seal() (protocol.Root, []byte, error) {
	t.sealMu.Lock()
	t.sealed = true
	t.sealMu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.applyLocked(); err != nil {
		return protocol.Root{}, nil, err
	}
	if err := t.commitLocked(); err != nil {
		return protocol.Root{}, nil, err
	}
	root := t.trie.Root()
	parsed, err := protocol.ParseRoot(root)
	return parsed, root, err
}

// markClaimed records that the chain holds a claim for root.
func (t *Tree) markClaimed(root []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.meta.State = StateClaimed
	t.meta.Root = root
	return t.saveMeta()
}

// prove builds the closest proof for path from the claimed trie.
func (t *Tree) prove(path []byte) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return protocol.ProveClosest(t.trie, path)
}

// state returns the tree's state and whether a tx for it is in flight.
func (t *Tree) state() (State, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.meta.State, t.busy
}

func (t *Tree) setBusy(b bool) {
	t.mu.Lock()
	t.busy = b
	t.mu.Unlock()
}

// destroy deletes everything the tree stored.
func (t *Tree) destroy() error {
	for _, prefix := range [][]byte{logKey(t.key), nodesKey(t.key)} {
		if err := t.db.DeletePrefix(prefix); err != nil {
			return err
		}
	}
	return t.db.Delete(metaKey(t.key))
}
