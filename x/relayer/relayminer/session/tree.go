package session

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/store"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// State is where a session tree is in its lifecycle.
type State string

const (
	// StateOpen takes relays into the relay log.
	StateOpen State = "open"
	// StateSealed takes no more relays; its claim trie is built (Root) and
	// is claimed next.
	StateSealed State = "sealed"
	// StateClaimed holds a claim on chain; it is proven once its proof
	// window opens.
	StateClaimed State = "claimed"
	// StateProven needs nothing more of its relays (its proof is on chain,
	// or none is required): they are deleted, and the settlement is read
	// once the proof window closes.
	StateProven State = "proven"
)

// ErrSessionClaimed is returned for a relay of a session whose tree was
// already sealed for its claim: it can no longer be counted.
var ErrSessionClaimed = errors.New("session already claimed")

// ErrRelayLogged is returned (wrapped) for a relay already in its
// session's log: the same request served before, which is paid once. The
// leveldb log overwrites such a relay (Logged catches it before it is
// served); a fleet's shared log refuses it at append time.
var ErrRelayLogged = errors.New("relay already in the session's log")

// minStoredLeaves is the fewest leaves a claim trie node must be over to be
// stored. A proof reaching a node not stored rebuilds the subtree under it
// from the relay log (protocol.SubtreeReader): a few hundred log entries at
// most, under a millisecond. Storing only the nodes over 64 leaves or more
// writes about one node in 32 of the trie: a million-relay seal writes
// ~30,000 nodes instead of ~2,000,000.
const minStoredLeaves = 64

// nodeBatch is how many trie nodes a build writes per store write: small,
// so the relay log writes of the sessions being served, which leveldb
// queues behind a batch, are not held up while a trie is written.
const nodeBatch = 256

// meta is the persisted description of one tree.
type meta struct {
	Header               types.SessionHeader `json:"header"`
	Supplier             string              `json:"supplier"`
	ComputeUnitsPerRelay uint64              `json:"compute_units_per_relay"`
	State                State               `json:"state"`
	// Root is the claim trie's root, set when the tree is sealed.
	Root []byte `json:"root,omitempty"`
	// Logged and Minable count the relays in the log and in the claim trie,
	// set when the tree is sealed.
	Logged  uint64 `json:"logged,omitempty"`
	Minable uint64 `json:"minable,omitempty"`
	// ClaimSeed is the claim seed block hash the trie was built with.
	ClaimSeed []byte `json:"claim_seed,omitempty"`
	// NodesStored says the trie's nodes are in the store; without them (the
	// store could not write when it was sealed) proofs are built from the
	// relay log again.
	NodesStored bool `json:"nodes_stored,omitempty"`
}

// Tree is one supplier's relays of one session: a relay log while the
// session is open, then the claim trie built from the log's minable relays.
//
// The relay log holds each relay once, under the trie path of its request's
// key: iterating it yields the trie's leaves in path order, so the trie is
// built in one pass with flat memory, and a replayed request overwrites
// itself rather than counting twice. A log entry is small (logEntry): the
// relay's key, the hash of its leaf bytes, and where those bytes are in the
// session's value file. The trie is built from the entries alone (leaves by
// value hash); only the few proven leaves are read from the value file. So
// what leveldb sorts and compacts is about 150 bytes a relay instead of a
// kilobyte, and a session's relay bytes are deleted by removing one file.
type Tree struct {
	db  *store.DB
	key []byte // "<supplier>/<session id>/"

	valuesMu sync.Mutex
	values   *store.ValueFile // opened on first use

	// sealMu is held shared by every add and exclusively by seal: no relay
	// is logged after the log was read for the claim trie.
	sealMu sync.RWMutex
	sealed bool

	added atomic.Uint64 // relays logged by this process (metrics and logs)

	// remote reads leaf bytes kept outside the value file (a fleet's log,
	// for relays recorded from its checkpoint); nil when there are none.
	remote RemoteLeaves

	mu   sync.Mutex // guards meta and busy
	meta meta
	busy bool // a claim or proof tx is in flight

	dataDeleted bool // the relay log and trie are gone (set once proven)
}

// treeKey is the short store prefix of one supplier's session: 8 bytes of
// sha256(supplier ‖ "/" ‖ session id). Every relay log and trie node key
// starts with it, so it is kept short: leveldb compares whole keys.
func treeKey(supplier, sessionID string) []byte {
	h := sha256.Sum256([]byte(supplier + "/" + sessionID))
	return append(h[:8:8], '/')
}

// valueFileName names a tree's value file after its key.
func valueFileName(k []byte) string { return hex.EncodeToString(k[:len(k)-1]) + ".relays" }

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
	return t, t.saveMeta()
}

// loadTree reopens a persisted tree. Nothing is replayed: the log is the
// tree until it is sealed.
func loadTree(db *store.DB, raw []byte) (*Tree, error) {
	var m meta
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("decoding session metadata: %w", err)
	}
	return &Tree{db: db, key: treeKey(m.Supplier, m.Header.SessionId), meta: m, sealed: m.State != StateOpen}, nil
}

// Header is the tree's session header.
func (t *Tree) Header() types.SessionHeader { return t.meta.Header }

// Supplier is the operator address the tree's relays were served by.
func (t *Tree) Supplier() string { return t.meta.Supplier }

// has reports whether the relay on path is already logged.
func (t *Tree) has(path []byte) (bool, error) {
	_, err := t.db.Get(append(logKey(t.key), path...))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// add logs a relay durably: once it returns the relay survives a crash and
// is in the claim if minable. A relay already logged (the same request) is
// overwritten, never counted twice.
func (t *Tree) add(path, relayKey, leaf []byte) error {
	return t.addAll([]Relay{{Path: path, Key: relayKey, Leaf: leaf}})
}

// addAll logs relays as add does, their bytes in one value-file write and
// their log entries in one database write. The bytes go first: a crash
// before the log entries are written leaves bytes no entry points at, never
// an entry without its bytes. Concurrent writes are merged by leveldb into
// one journal write.
func (t *Tree) addAll(rs []Relay) error {
	t.sealMu.RLock()
	defer t.sealMu.RUnlock()
	if t.sealed {
		return ErrSessionClaimed
	}
	leaves := make([][]byte, len(rs))
	for i, r := range rs {
		if len(r.Key) != protocol.HashSize {
			return fmt.Errorf("relay key must be %d bytes, got %d", protocol.HashSize, len(r.Key))
		}
		leaves[i] = r.Leaf
	}
	vf, err := t.valueFile()
	if err != nil {
		return fmt.Errorf("logging relays: %w", err)
	}
	offs, err := vf.AppendAll(leaves)
	if err != nil {
		return fmt.Errorf("logging relays: %w", err)
	}
	err = t.db.Write(func(b *store.Batch) {
		for i, r := range rs {
			b.Put(append(logKey(t.key), r.Path...), encodeLogEntry(r.Key, r.Leaf, offs[i]))
		}
	})
	if err != nil {
		return fmt.Errorf("logging relays: %w", err)
	}
	t.added.Add(uint64(len(rs)))
	return nil
}

// seal stops the tree taking relays and, unless done before, builds its
// claim trie from the logged relays minable under claimSeed and target, and
// records its root. The trie's nodes and the sealed state are written before
// seal returns; a build interrupted by a crash is simply done again (it
// writes the same nodes). When the store cannot write (a full disk), the
// root is computed from the log alone and kept in memory: the claim needs
// only the root, and its proof is built from the log again. It returns the
// root to claim.
func (t *Tree) seal(claimSeed, target []byte) (protocol.Root, error) {
	t.sealMu.Lock()
	t.sealed = true
	t.sealMu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.meta.State != StateOpen {
		return protocol.ParseRoot(t.meta.Root)
	}
	w := &nodeWriter{db: t.db, prefix: nodesKey(t.key)}
	root, logged, minable, err := t.build(claimSeed, target, w)
	stored := err == nil
	if errors.Is(err, store.ErrUnavailable) {
		root, logged, minable, err = t.build(claimSeed, target, nil)
	}
	if err != nil {
		return protocol.Root{}, fmt.Errorf("building the claim trie: %w", err)
	}
	m := t.meta
	m.State, m.Root, m.Logged, m.Minable, m.ClaimSeed, m.NodesStored = StateSealed, root, logged, minable, claimSeed, stored
	raw, err := json.Marshal(m)
	if err != nil {
		return protocol.Root{}, err
	}
	w.batch.Put(metaKey(t.key), raw)
	if err := w.flush(); err != nil && !errors.Is(err, store.ErrUnavailable) {
		return protocol.Root{}, fmt.Errorf("writing the claim trie: %w", err)
	} else if err != nil {
		m.NodesStored = false // kept in memory; a restart seals again
	}
	t.meta = m
	return protocol.ParseRoot(root)
}

// build builds the claim trie from the relay log, writing its nodes to w
// (discarding them when w is nil).
func (t *Tree) build(claimSeed, target []byte, w protocol.NodeWriter) (root []byte, logged, minable uint64, err error) {
	it := t.db.NewIterator(logKey(t.key))
	defer it.Release()
	src := &logLeaves{it: it, seed: claimSeed, target: target, weight: t.meta.ComputeUnitsPerRelay}
	if w == nil {
		w = discard{}
	}
	root, err = protocol.BuildTrie(src, w)
	return root, src.logged, src.minable, err
}

type discard struct{}

func (discard) PutNode(_, _ []byte) error { return nil }

// logLeaves feeds the relay log, in path order, to protocol.BuildTrie,
// keeping only the relays minable under seed and target.
type logLeaves struct {
	it              *store.Iterator
	seed, target    []byte
	weight          uint64
	logged, minable uint64
}

func (l *logLeaves) Next() (protocol.TrieLeaf, bool, error) {
	for l.it.Next() {
		k := l.it.Key() // valid until the next Next
		l.logged++
		e, err := decodeLogEntry(l.it.Value())
		if err != nil || len(k) < protocol.HashSize {
			return protocol.TrieLeaf{}, false, fmt.Errorf("corrupt relay log entry %x", k)
		}
		if !protocol.IsMinable(l.seed, e.relayKey, l.target) {
			continue
		}
		l.minable++
		return protocol.TrieLeaf{
			Path:      bytes.Clone(k[len(k)-protocol.HashSize:]),
			ValueHash: bytes.Clone(e.leafHash),
			Weight:    l.weight,
		}, true, nil
	}
	return protocol.TrieLeaf{}, false, l.it.Err()
}

// nodeWriter writes trie nodes under prefix in batches of nodeBatch.
type nodeWriter struct {
	db     *store.DB
	prefix []byte
	batch  store.Batch
}

func (w *nodeWriter) PutNode(digest, encoded []byte) error {
	if protocol.EncodedNodeCount(encoded) < minStoredLeaves {
		return nil
	}
	w.batch.Put(append(bytes.Clone(w.prefix), digest...), encoded)
	if w.batch.Len() >= nodeBatch {
		return w.flush()
	}
	return nil
}

func (w *nodeWriter) flush() error {
	err := w.db.WriteBatch(&w.batch)
	w.batch.Reset()
	return err
}

// Node reads a claim trie node (protocol.NodeReader); one not stored (see
// minStoredLeaves) is protocol.ErrNodeNotStored.
func (t *Tree) Node(digest []byte) ([]byte, error) {
	enc, err := t.db.Get(append(nodesKey(t.key), digest...))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %x", protocol.ErrNodeNotStored, digest)
	}
	return enc, err
}

// trieReader reads a sealed tree's claim trie (protocol.SubtreeReader): its
// stored nodes, and the leaves under a node not stored, from the relay log
// with the claim seed and target it was sealed with.
type trieReader struct {
	*Tree
	seed, target []byte
	weight       uint64
}

// Leaves iterates the log entries whose paths share prefix's first
// depth/8 bytes: a superset of the subtree's leaves, which ProveLeaf
// narrows to the subtree.
func (r trieReader) Leaves(depth int, prefix []byte) (protocol.LeafSource, func(), error) {
	it := r.db.NewIterator(append(logKey(r.key), prefix[:depth/8]...))
	return &logLeaves{it: it, seed: r.seed, target: r.target, weight: r.weight}, it.Release, nil
}

// LeafValue reads the leaf bytes of the relay on path from the value file,
// checked against the hash its log entry holds (protocol.NodeReader).
func (t *Tree) LeafValue(path []byte) ([]byte, error) {
	v, err := t.db.Get(append(logKey(t.key), path...))
	if err != nil {
		return nil, err
	}
	e, err := decodeLogEntry(v)
	if err != nil {
		return nil, fmt.Errorf("relay log entry for path %x: %w", path, err)
	}
	var leaf []byte
	if seq, ok := e.remoteSeq(); ok {
		if t.remote == nil {
			return nil, fmt.Errorf("leaf bytes of path %x are in a fleet's log (sequence %d), and no fleet is configured", path, seq)
		}
		if leaf, err = t.remote.Leaf(t.meta.Supplier, seq); err != nil {
			return nil, fmt.Errorf("leaf bytes of path %x from the fleet's log: %w", path, err)
		}
	} else {
		vf, err := t.valueFile()
		if err != nil {
			return nil, err
		}
		if leaf, err = vf.Read(e.off, int(e.size)); err != nil {
			return nil, fmt.Errorf("leaf bytes of path %x: %w", path, err)
		}
	}
	if h := sha256.Sum256(leaf); len(leaf) != int(e.size) || !bytes.Equal(h[:], e.leafHash) {
		return nil, fmt.Errorf("leaf bytes of path %x do not match their log entry (corrupt value file or log)", path)
	}
	return leaf, nil
}

// addRemote logs relays whose leaf bytes are kept in a fleet's log, as add
// logs relays whose bytes it is given: the log entry holds the leaf's hash
// and size and, in place of a value-file offset, the relay's sequence in
// that log (read back through RemoteLeaves when a proof needs it).
func (t *Tree) addRemote(rs []RemoteRelay) error {
	t.sealMu.RLock()
	defer t.sealMu.RUnlock()
	if t.sealed {
		return ErrSessionClaimed
	}
	for _, r := range rs {
		if len(r.Key) != protocol.HashSize || len(r.LeafHash) != protocol.HashSize {
			return fmt.Errorf("relay key and leaf hash must be %d bytes, got %d and %d", protocol.HashSize, len(r.Key), len(r.LeafHash))
		}
		if r.Seq == 0 || r.Seq > math.MaxInt64 {
			return fmt.Errorf("relay log sequence %d out of range", r.Seq)
		}
	}
	err := t.db.Write(func(b *store.Batch) {
		for _, r := range rs {
			b.Put(append(logKey(t.key), protocol.LeafPath(r.Key)...), encodeRemoteLogEntry(r))
		}
	})
	if err != nil {
		return fmt.Errorf("logging relays: %w", err)
	}
	t.added.Add(uint64(len(rs)))
	return nil
}

// valueFile opens the tree's value file on first use.
func (t *Tree) valueFile() (*store.ValueFile, error) {
	t.valuesMu.Lock()
	defer t.valuesMu.Unlock()
	if t.values == nil {
		vf, err := t.db.OpenValueFile(valueFileName(t.key))
		if err != nil {
			return nil, err
		}
		t.values = vf
	}
	return t.values, nil
}

// logEntry is a relay log entry: relayKey ‖ sha256(leaf) ‖ offset (8 bytes)
// ‖ size (4 bytes) of the leaf bytes in the tree's value file.
type logEntry struct {
	relayKey, leafHash []byte
	off                int64
	size               uint32
}

const logEntrySize = 2*protocol.HashSize + 8 + 4

func encodeLogEntry(relayKey, leaf []byte, off int64) []byte {
	h := sha256.Sum256(leaf)
	v := make([]byte, 0, logEntrySize)
	v = append(append(v, relayKey...), h[:]...)
	v = binary.BigEndian.AppendUint64(v, uint64(off))
	return binary.BigEndian.AppendUint32(v, uint32(len(leaf)))
}

// encodeRemoteLogEntry is the log entry of a relay whose leaf bytes are at
// sequence r.Seq of a fleet's log: its offset is -Seq (value-file offsets
// are never negative).
func encodeRemoteLogEntry(r RemoteRelay) []byte {
	v := make([]byte, 0, logEntrySize)
	v = append(append(v, r.Key...), r.LeafHash...)
	v = binary.BigEndian.AppendUint64(v, uint64(-int64(r.Seq)))
	return binary.BigEndian.AppendUint32(v, r.Size)
}

// remoteSeq is the fleet log sequence of an entry's leaf bytes, if they
// are kept there.
func (e logEntry) remoteSeq() (uint64, bool) {
	if e.off >= 0 {
		return 0, false
	}
	return uint64(-e.off), true
}

func decodeLogEntry(v []byte) (logEntry, error) {
	if len(v) != logEntrySize {
		return logEntry{}, fmt.Errorf("relay log entry of %d bytes, want %d", len(v), logEntrySize)
	}
	const h = protocol.HashSize
	return logEntry{
		relayKey: v[:h], leafHash: v[h : 2*h],
		off: int64(binary.BigEndian.Uint64(v[2*h:])), size: binary.BigEndian.Uint32(v[2*h+8:]),
	}, nil
}

// markClaimed records that the chain holds a claim for the sealed root.
func (t *Tree) markClaimed() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.meta.State = StateClaimed
	return t.saveMetaLocked()
}

// prove opens the claim trie's leaves at points: from the stored nodes,
// or, when they are missing, by building the trie from the relay log again
// (with the claim seed it was sealed with and target).
func (t *Tree) prove(points []uint64, target []byte) ([]types.LeafProof, error) {
	t.mu.Lock()
	tm := t.meta
	t.mu.Unlock()
	if tm.NodesStored {
		out := make([]types.LeafProof, 0, len(points))
		for _, pt := range points {
			p, err := protocol.ProveLeaf(trieReader{Tree: t, seed: tm.ClaimSeed, target: target, weight: tm.ComputeUnitsPerRelay}, tm.Root, pt)
			if err != nil {
				break
			}
			out = append(out, p)
		}
		if len(out) == len(points) {
			return out, nil
		}
	}
	it := t.db.NewIterator(logKey(t.key))
	defer it.Release()
	return protocol.ProveByRebuild(&logLeaves{it: it, seed: tm.ClaimSeed, target: target, weight: tm.ComputeUnitsPerRelay}, t, tm.Root, points)
}

// markProven records that the tree's relays are no longer needed, and
// deletes them. The state is kept in memory if the store cannot write.
func (t *Tree) markProven() error {
	t.mu.Lock()
	t.meta.State = StateProven
	err := t.saveMetaLocked()
	t.mu.Unlock()
	if derr := t.deleteData(); derr != nil {
		return errors.Join(err, derr)
	}
	t.dataDeleted = true
	return err
}

// deleteData deletes the tree's value file, relay log and trie nodes, and
// compacts their key ranges so the disk space comes back at once.
func (t *Tree) deleteData() error {
	t.valuesMu.Lock()
	if t.values != nil {
		_ = t.values.Close()
		t.values = nil
	}
	err := t.db.RemoveValueFile(valueFileName(t.key))
	t.valuesMu.Unlock()
	if err != nil {
		return err
	}
	for _, prefix := range [][]byte{logKey(t.key), nodesKey(t.key)} {
		if err = t.db.DeletePrefix(prefix); err != nil {
			return err
		}
	}
	for _, prefix := range [][]byte{logKey(t.key), nodesKey(t.key)} {
		err = errors.Join(err, t.db.Compact(prefix))
	}
	return err
}

// snapshot returns the tree's metadata and whether a tx for it is in
// flight.
func (t *Tree) snapshot() (meta, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.meta, t.busy
}

func (t *Tree) setBusy(b bool) {
	t.mu.Lock()
	t.busy = b
	t.mu.Unlock()
}

func (t *Tree) saveMeta() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.saveMetaLocked()
}

func (t *Tree) saveMetaLocked() error {
	raw, err := json.Marshal(t.meta)
	if err != nil {
		return err
	}
	return t.db.Put(metaKey(t.key), raw)
}

// destroy deletes everything the tree stored: the log and nodes, then the
// metadata, so a crash part-way leaves a tree that is deleted again.
func (t *Tree) destroy() error {
	if tm, _ := t.snapshot(); tm.State != StateProven || !t.dataDeleted {
		if err := t.deleteData(); err != nil {
			return err
		}
	}
	return t.db.Delete(metaKey(t.key))
}
