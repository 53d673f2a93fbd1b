package protocol

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"

	"github.com/pokt-network/poktroll/x/relayer/types"
)

// Claim tries. A session's claim is the root of a sparse Merkle sum trie
// (SMST) over its minable relays, in the node format of
// github.com/pokt-network/smt v0.14.1 with sha256 as trie and value hasher
// (smt's defaults; the tests check roots and proofs against smt itself):
//   - a relay's leaf sits on path sha256(RelayKey) and holds LeafBytes, with
//     the service's compute units per relay as weight and a count of 1;
//   - a leaf node is sha256(0x00 ‖ path ‖ sha256(value) ‖ weight ‖ count) ‖
//     weight ‖ count, an inner node sha256(0x01 ‖ left ‖ right ‖ sum ‖ count) ‖ sum ‖
//     count, with sum and count those of its children added, and an empty
//     subtree 48 zero bytes;
//   - a leaf sits at the shallowest depth where it is alone in its subtree.
//
// The root (digest ‖ sum ‖ count) is what a claim carries. A proof opens
// the leaf whose interval of cumulative weight, leaves taken in path order,
// holds a point drawn over [0, sum) (see ProofPoints). Weight the trie
// claims but no provable leaf carries (a fabricated leaf or subtree, a
// duplicate, an inner node whose sum is not its children's) is therefore
// found with probability equal to its share of the sum, on every draw.

const (
	// NodeSize is the size of a node hash: digest ‖ sum ‖ count.
	NodeSize = sha256.Size + 8 + 8
	// RootSize is the size of an SMST root, the hash of its root node.
	RootSize = NodeSize
	// PathBits is the depth of the trie: one level per path bit.
	PathBits = 8 * sha256.Size
)

// Stored node encodings (see TrieBuilder and ProveLeaf): an inner node is
// kept as nodeInner ‖ left ‖ right, a leaf as nodeLeaf ‖ path, its value
// being found by path.
const (
	nodeLeaf  byte = 0
	nodeInner byte = 1
)

// Sentinel errors of VerifyLeafProof and ProveLeaf; returned errors wrap one
// of them (or ErrLeafMalformed / ErrLeafNotCanonical of DecodeLeaf).
var (
	ErrProofMalformed    = errors.New("malformed leaf proof")
	ErrProofInvalid      = errors.New("leaf proof does not verify against the claimed root")
	ErrProofPointOutside = errors.New("the proven leaf's weight interval does not hold the drawn point")
)

var emptyNode = make([]byte, NodeSize)

// Root is a parsed SMST root.
type Root struct {
	Digest []byte // sha256 digest of the root node
	Sum    uint64 // total weight (compute units) of all leaves
	Count  uint64 // number of leaves (relays)
}

// ParseRoot splits an SMST root, digest(32) ‖ sum(8 BE) ‖ count(8 BE). Any
// other length is rejected.
func ParseRoot(root []byte) (Root, error) {
	if len(root) != RootSize {
		return Root{}, fmt.Errorf("smst root must be %d bytes, got %d", RootSize, len(root))
	}
	sum, count := sumCount(root)
	return Root{Digest: bytes.Clone(root[:sha256.Size]), Sum: sum, Count: count}, nil
}

// LeafPath is the trie path of the relay with key relayKey.
func LeafPath(relayKey []byte) []byte {
	h := sha256.Sum256(relayKey)
	return h[:]
}

// LeafNode is the hash of the leaf holding value on path, with weight and a
// count of 1.
func LeafNode(path, value []byte, weight uint64) []byte {
	vh := sha256.Sum256(value)
	return leafNodeOfHash(path, vh[:], weight)
}

// leafNodeOfHash is LeafNode from sha256(value): a trie can be built from
// its leaves' value hashes alone (see TrieLeaf.ValueHash).
func leafNodeOfHash(path, valueHash []byte, weight uint64) []byte {
	h := sha256.New()
	var meta [16]byte
	binary.BigEndian.PutUint64(meta[:8], weight)
	binary.BigEndian.PutUint64(meta[8:], 1)
	h.Write([]byte{nodeLeaf})
	h.Write(path)
	h.Write(valueHash)
	h.Write(meta[:])
	return append(h.Sum(make([]byte, 0, NodeSize)), meta[:]...)
}

// InnerNode is the hash of the inner node over two node hashes (emptyNode
// for an empty side). It fails if the sum or count overflows: no honest
// trie comes near 2^64 compute units.
func InnerNode(left, right []byte) ([]byte, error) {
	ls, lc := sumCount(left)
	rs, rc := sumCount(right)
	sum, count := ls+rs, lc+rc
	if sum < ls || count < lc {
		return nil, errors.New("sum or count overflows")
	}
	var meta [16]byte
	binary.BigEndian.PutUint64(meta[:8], sum)
	binary.BigEndian.PutUint64(meta[8:], count)
	h := sha256.New()
	h.Write([]byte{nodeInner})
	h.Write(left)
	h.Write(right)
	h.Write(meta[:])
	return append(h.Sum(make([]byte, 0, NodeSize)), meta[:]...), nil
}

func sumCount(node []byte) (sum, count uint64) {
	return binary.BigEndian.Uint64(node[sha256.Size:]), binary.BigEndian.Uint64(node[sha256.Size+8:])
}

// pathBit is bit d (0 = most significant of the first byte) of path.
func pathBit(path []byte, d int) byte {
	return (path[d/8] >> (7 - d%8)) & 1
}

// ProofPoints draws the k points a claim with weight sum is proven at: point
// i is sha256 over the length-prefixed proof seed block hash, session id,
// supplier operator address and i (8 bytes big-endian), taken as a 256-bit
// number modulo sum (the bias is below sum/2^256). The seed block comes after
// the claim window closes, so no point is known while the claim can change.
// A zero sum has no points.
func ProofPoints(proofSeedBlockHash []byte, sessionID, supplier string, sum, k uint64) []uint64 {
	if sum == 0 {
		return nil
	}
	points := make([]uint64, 0, k)
	mod := new(big.Int).SetUint64(sum)
	for i := uint64(0); i < k; i++ {
		h := hashFields(tagProofPoint, proofSeedBlockHash, []byte(sessionID), []byte(supplier), int64Bytes(int64(i)))
		points = append(points, new(big.Int).Mod(new(big.Int).SetBytes(h), mod).Uint64())
	}
	return points
}

// VerifyLeafProof checks that p opens, in the trie with the given root, the
// leaf whose cumulative-weight interval holds point, with weight as that
// leaf's weight, and returns the leaf's relay. It checks that:
//   - the proof is well formed: at most PathBits side nodes, each empty or
//     a non-empty node hash;
//   - the leaf is the canonical encoding of a compact relay (DecodeLeaf);
//   - the leaf sits on the path of its own request's key, so a request has
//     one place in the trie whatever the supplier answered;
//   - hashing up from the leaf through the side nodes gives root, with no
//     sum or count overflowing;
//   - the left side nodes' sums (the weight before the leaf) are at most
//     point, and point is below that plus weight.
//
// It checks nothing about the relay's session, signatures or minability:
// the caller does, with the chain's state.
func VerifyLeafProof(root []byte, point, weight uint64, p *types.LeafProof) (*types.Relay, error) {
	if _, err := ParseRoot(root); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrProofInvalid, err)
	}
	if p == nil {
		return nil, fmt.Errorf("%w: no proof", ErrProofMalformed)
	}
	if len(p.SideNodes) > PathBits {
		return nil, fmt.Errorf("%w: %d side nodes, at most %d", ErrProofMalformed, len(p.SideNodes), PathBits)
	}
	for d, s := range p.SideNodes {
		if len(s) != 0 && (len(s) != NodeSize || bytes.Equal(s, emptyNode)) {
			return nil, fmt.Errorf("%w: side node %d must be empty or a %d-byte non-empty node", ErrProofMalformed, d, NodeSize)
		}
	}
	relay, err := DecodeLeaf(p.Leaf)
	if err != nil {
		return nil, err
	}
	key, err := RelayKey(relay.Req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrLeafMalformed, err)
	}
	path := LeafPath(key)
	node := LeafNode(path, p.Leaf, weight)
	var before uint64
	for d := len(p.SideNodes) - 1; d >= 0; d-- {
		side := p.SideNodes[d]
		if len(side) == 0 {
			side = emptyNode
		}
		if pathBit(path, d) == 0 {
			node, err = InnerNode(node, side)
		} else {
			node, err = InnerNode(side, node)
			s, _ := sumCount(side)
			before += s // cannot overflow: bounded by the checked sum of the root
		}
		if err != nil {
			return nil, fmt.Errorf("%w: at depth %d: %v", ErrProofInvalid, d, err)
		}
	}
	if !bytes.Equal(node, root) {
		return nil, fmt.Errorf("%w: root mismatch", ErrProofInvalid)
	}
	if point < before || point-before >= weight {
		return nil, fmt.Errorf("%w: point %d, leaf holds [%d, %d)", ErrProofPointOutside, point, before, before+weight)
	}
	return relay, nil
}

// NodeWriter stores the nodes TrieBuilder makes, by digest (the first 32
// bytes of the node hash).
type NodeWriter interface {
	PutNode(digest, encoded []byte) error
}

// NodeReader reads back what a NodeWriter stored, and leaf values by path.
type NodeReader interface {
	Node(digest []byte) ([]byte, error)
	LeafValueReader
}

// EncodedNodeCount is the number of leaves under the node whose stored
// encoding (what BuildTrie hands a NodeWriter) is enc: 1 for a leaf.
func EncodedNodeCount(enc []byte) uint64 {
	if len(enc) == 1+2*NodeSize && enc[0] == nodeInner {
		_, lc := sumCount(enc[1 : 1+NodeSize])
		_, rc := sumCount(enc[1+NodeSize:])
		return lc + rc
	}
	return 1
}

// ErrNodeNotStored is what a SubtreeReader's Node returns (wrapped) for a
// node it did not keep: ProveLeaf then rebuilds the subtree under it.
var ErrNodeNotStored = errors.New("trie node not stored")

// SubtreeReader is a NodeReader that keeps only some of a trie's nodes
// (those over many leaves, say): a proof reaching a node it did not keep
// rebuilds that subtree from its leaves.
type SubtreeReader interface {
	NodeReader
	// Leaves yields, in path order, the trie's leaves whose paths start
	// with the first depth bits of prefix; it may yield others around them
	// (they are skipped). release frees what it holds.
	Leaves(depth int, prefix []byte) (src LeafSource, release func(), err error)
}

// LeafValueReader reads a leaf's value by its path.
type LeafValueReader interface {
	LeafValue(path []byte) ([]byte, error)
}

// TrieLeaf is one leaf handed to BuildTrie.
type TrieLeaf struct {
	Path  []byte // 32 bytes: LeafPath of the relay's key
	Value []byte // LeafBytes of the relay; may be nil when ValueHash is set
	// ValueHash, when set, is sha256(Value): the trie is built from it and
	// Value is not read (a relay log that keeps its relays' bytes apart).
	ValueHash []byte
	Weight    uint64
}

// LeafSource yields leaves in strictly increasing path order; ok is false
// after the last one.
type LeafSource interface {
	Next() (leaf TrieLeaf, ok bool, err error)
}

// BuildTrie builds the trie over leaves in one pass, storing every node in
// w, and returns its root. It holds at most two leaves and one node hash
// per level in memory, whatever the number of leaves. Paths must be
// strictly increasing.
func BuildTrie(leaves LeafSource, w NodeWriter) ([]byte, error) {
	return (&trieBuilder{src: leaves, w: w}).build()
}

// ProveByRebuild opens the leaves at points (as ProveLeaf does) without
// stored nodes: it builds the trie over leaves again, in one pass and flat
// memory, keeping only what the proofs need, and checks that the rebuilt
// trie has root. It is the fallback when a trie's nodes could not be
// stored (a full disk) or were lost. The proven leaves' values are read
// from values when leaves carry only their hashes (values may be nil
// otherwise).
func ProveByRebuild(leaves LeafSource, values LeafValueReader, root []byte, points []uint64) ([]types.LeafProof, error) {
	parsed, err := ParseRoot(root)
	if err != nil {
		return nil, err
	}
	b := &trieBuilder{src: leaves, w: discardNodes{}, targets: make([]target, len(points))}
	for i, p := range points {
		if p >= parsed.Sum {
			return nil, fmt.Errorf("point %d is not below the trie's sum %d", p, parsed.Sum)
		}
		b.targets[i].point = p
	}
	got, err := b.build()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(got, root) {
		return nil, fmt.Errorf("rebuilt trie has root %x, not %x", got, root)
	}
	out := make([]types.LeafProof, len(points))
	for i, t := range b.targets {
		if t.path == nil {
			return nil, fmt.Errorf("no leaf holds point %d", t.point)
		}
		value := t.value
		if value == nil {
			if values == nil {
				return nil, fmt.Errorf("the leaf holding point %d has no value and no reader was given", t.point)
			}
			if value, err = values.LeafValue(t.path); err != nil {
				return nil, fmt.Errorf("leaf value of path %x: %w", t.path, err)
			}
		}
		out[i] = types.LeafProof{Leaf: value, SideNodes: t.sides}
	}
	return out, nil
}

// target is a leaf ProveByRebuild is after: the one whose weight interval
// holds point, with its side nodes as the build finds them.
type target struct {
	point uint64
	path  []byte   // set when the leaf is taken
	value []byte   // its leaf bytes
	sides [][]byte // side nodes, root first; filled bottom-up
}

type discardNodes struct{}

func (discardNodes) PutNode(_, _ []byte) error { return nil }

func (b *trieBuilder) build() ([]byte, error) {
	root, err := b.subtree(0, nil)
	if err != nil {
		return nil, err
	}
	if b.n < 2 {
		if err := b.fill(); err != nil {
			return nil, err
		}
	}
	if b.n > 0 {
		return nil, fmt.Errorf("leaf paths not strictly increasing at %x", b.buf[0].Path)
	}
	return root, nil
}

type trieBuilder struct {
	src  LeafSource
	w    NodeWriter
	buf  [2]TrieLeaf // lookahead
	n    int         // leaves in buf
	done bool        // src exhausted
	last []byte      // path of the last leaf taken

	before  uint64   // weight of the leaves taken so far
	targets []target // leaves to prove (ProveByRebuild)
}

// fill tops the lookahead up to two leaves.
func (b *trieBuilder) fill() error {
	for b.n < 2 && !b.done {
		l, ok, err := b.src.Next()
		if err != nil {
			return err
		}
		if !ok {
			b.done = true
			break
		}
		if len(l.Path) != sha256.Size {
			return fmt.Errorf("leaf path must be %d bytes, got %d", sha256.Size, len(l.Path))
		}
		b.buf[b.n] = l
		b.n++
	}
	return nil
}

// under reports whether lookahead leaf i shares the first depth bits of
// prefix.
func (b *trieBuilder) under(i, depth int, prefix []byte) bool {
	if i >= b.n {
		return false
	}
	return samePrefix(b.buf[i].Path, prefix, depth)
}

func samePrefix(a, b []byte, bits int) bool {
	full := bits / 8
	if !bytes.Equal(a[:full], b[:full]) {
		return false
	}
	if rem := bits % 8; rem > 0 {
		mask := byte(0xff) << (8 - rem)
		return a[full]&mask == b[full]&mask
	}
	return true
}

// subtree builds the subtree at depth whose leaves share the first depth
// bits of prefix, consuming them, and returns its hash.
func (b *trieBuilder) subtree(depth int, prefix []byte) ([]byte, error) {
	if prefix == nil {
		prefix = make([]byte, sha256.Size)
	}
	if err := b.fill(); err != nil {
		return nil, err
	}
	if !b.under(0, depth, prefix) {
		return emptyNode, nil
	}
	if !b.under(1, depth, prefix) {
		return b.takeLeaf(depth)
	}
	if depth >= PathBits {
		return nil, fmt.Errorf("duplicate leaf path %x", b.buf[0].Path)
	}
	// Two or more leaves: split on bit depth. Both children's prefixes are
	// derived from the first leaf, which shares the first depth bits.
	first := b.buf[0].Path
	left := setBit(first, depth, 0)
	right := setBit(first, depth, 1)
	l, err := b.subtree(depth+1, left)
	if err != nil {
		return nil, err
	}
	r, err := b.subtree(depth+1, right)
	if err != nil {
		return nil, err
	}
	node, err := InnerNode(l, r)
	if err != nil {
		return nil, err
	}
	for i := range b.targets {
		if t := &b.targets[i]; t.path != nil && samePrefix(t.path, prefix, depth) {
			// This node is on the target's path: its other child is the
			// target's side node at this depth.
			if pathBit(t.path, depth) == 0 {
				t.sides[depth] = sideNode(r)
			} else {
				t.sides[depth] = sideNode(l)
			}
		}
	}
	enc := make([]byte, 0, 1+2*NodeSize)
	enc = append(append(append(enc, nodeInner), l...), r...)
	return node, b.w.PutNode(node[:sha256.Size], enc)
}

func (b *trieBuilder) takeLeaf(depth int) ([]byte, error) {
	l := b.buf[0]
	if b.last != nil && bytes.Compare(l.Path, b.last) <= 0 {
		return nil, fmt.Errorf("leaf paths not strictly increasing at %x", l.Path)
	}
	b.last = l.Path
	for i := range b.targets {
		if t := &b.targets[i]; t.path == nil && t.point >= b.before && t.point-b.before < l.Weight {
			t.path, t.value = l.Path, l.Value
			if depth > 0 {
				t.sides = make([][]byte, depth)
			}
		}
	}
	b.before += l.Weight
	b.buf[0], b.buf[1] = b.buf[1], TrieLeaf{}
	b.n--
	var node []byte
	if l.ValueHash != nil {
		if len(l.ValueHash) != sha256.Size {
			return nil, fmt.Errorf("leaf value hash must be %d bytes, got %d", sha256.Size, len(l.ValueHash))
		}
		node = leafNodeOfHash(l.Path, l.ValueHash, l.Weight)
	} else {
		node = LeafNode(l.Path, l.Value, l.Weight)
	}
	return node, b.w.PutNode(node[:sha256.Size], append([]byte{nodeLeaf}, l.Path...))
}

func setBit(path []byte, d int, v byte) []byte {
	p := bytes.Clone(path)
	mask := byte(1) << (7 - d%8)
	if v == 0 {
		p[d/8] &^= mask
	} else {
		p[d/8] |= mask
	}
	return p
}

// ProveLeaf walks the trie with root, stored through a NodeWriter, down to
// the leaf whose cumulative-weight interval holds point, and returns its
// proof (what VerifyLeafProof checks). When r is a SubtreeReader, a node
// it did not keep is rebuilt, with the proof's part below it, from the
// leaves under it.
func ProveLeaf(r NodeReader, root []byte, point uint64) (types.LeafProof, error) {
	parsed, err := ParseRoot(root)
	if err != nil {
		return types.LeafProof{}, err
	}
	if point >= parsed.Sum {
		return types.LeafProof{}, fmt.Errorf("point %d is not below the trie's sum %d", point, parsed.Sum)
	}
	var sides [][]byte
	digest := parsed.Digest
	node := bytes.Clone(root)           // the hash of the node at depth
	prefix := make([]byte, sha256.Size) // the path bits walked so far
	for depth := 0; depth <= PathBits; depth++ {
		enc, err := r.Node(digest)
		if sr, ok := r.(SubtreeReader); ok && errors.Is(err, ErrNodeNotStored) {
			return proveSubtree(sr, node, depth, prefix, point, sides)
		}
		if err != nil {
			return types.LeafProof{}, fmt.Errorf("trie node %x at depth %d: %w", digest, depth, err)
		}
		switch {
		case len(enc) == 1+sha256.Size && enc[0] == nodeLeaf:
			value, err := r.LeafValue(enc[1:])
			if err != nil {
				return types.LeafProof{}, fmt.Errorf("leaf value of path %x: %w", enc[1:], err)
			}
			return types.LeafProof{Leaf: value, SideNodes: sides}, nil
		case len(enc) == 1+2*NodeSize && enc[0] == nodeInner:
			left, right := enc[1:1+NodeSize], enc[1+NodeSize:]
			if ls, _ := sumCount(left); point < ls {
				sides, node = append(sides, sideNode(right)), left
			} else {
				point -= ls
				sides, node = append(sides, sideNode(left)), right
				prefix = setBit(prefix, depth, 1)
			}
			digest = node[:sha256.Size]
		default:
			return types.LeafProof{}, fmt.Errorf("trie node %x at depth %d is corrupt", digest, depth)
		}
	}
	return types.LeafProof{}, fmt.Errorf("trie deeper than %d levels", PathBits)
}

// proveSubtree rebuilds the subtree whose hash is node, at depth under the
// first depth bits of prefix, from its leaves, and opens the leaf holding
// point (relative to the subtree) in it; above are the proof's side nodes
// down to depth.
func proveSubtree(r SubtreeReader, node []byte, depth int, prefix []byte, point uint64, above [][]byte) (types.LeafProof, error) {
	src, release, err := r.Leaves(depth, prefix)
	if err != nil {
		return types.LeafProof{}, fmt.Errorf("leaves under depth %d: %w", depth, err)
	}
	defer release()
	b := &trieBuilder{src: &under{src: src, depth: depth, prefix: prefix}, w: discardNodes{}, targets: []target{{point: point}}}
	got, err := b.subtree(depth, prefix)
	if err != nil {
		return types.LeafProof{}, err
	}
	if !bytes.Equal(got, node) {
		return types.LeafProof{}, fmt.Errorf("the subtree rebuilt at depth %d has hash %x, not %x", depth, got, node)
	}
	t := b.targets[0]
	if t.path == nil {
		return types.LeafProof{}, fmt.Errorf("no leaf of the subtree at depth %d holds point %d", depth, point)
	}
	value := t.value
	if value == nil {
		if value, err = r.LeafValue(t.path); err != nil {
			return types.LeafProof{}, fmt.Errorf("leaf value of path %x: %w", t.path, err)
		}
	}
	sides := append(above, t.sides[depth:]...)
	return types.LeafProof{Leaf: value, SideNodes: sides}, nil
}

// under yields the leaves of src under the first depth bits of prefix.
type under struct {
	src    LeafSource
	depth  int
	prefix []byte
	done   bool
}

func (u *under) Next() (TrieLeaf, bool, error) {
	for !u.done {
		l, ok, err := u.src.Next()
		if err != nil || !ok {
			return TrieLeaf{}, false, err
		}
		if len(l.Path) != sha256.Size {
			return TrieLeaf{}, false, fmt.Errorf("leaf path must be %d bytes, got %d", sha256.Size, len(l.Path))
		}
		if samePrefix(l.Path, u.prefix, u.depth) {
			return l, true, nil
		}
		if bytes.Compare(l.Path, u.prefix) > 0 {
			u.done = true // past the subtree: paths come in order
		}
	}
	return TrieLeaf{}, false, nil
}

// sideNode is a node hash as a proof carries it: empty for an empty subtree.
func sideNode(n []byte) []byte {
	if bytes.Equal(n, emptyNode) {
		return nil
	}
	return bytes.Clone(n)
}
