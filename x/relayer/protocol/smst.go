package protocol

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pokt-network/smt"
	"github.com/pokt-network/smt/kvstore"
)

// SMST conventions. A claim's trie is an smt v0.14.1 sparse Merkle sum trie
// with sha256 paths and no value hasher, so each leaf holds its raw relay
// bytes and a closest proof reveals the relay itself. A relay is inserted
// under key RelayHash(relayBytes) (see InsertRelay) with its compute units as
// weight; VerifyClosestProof enforces that key, so a relay can be in a trie
// at most once.

const (
	// RootSize is the size of an SMST root: digest ‖ sum ‖ count.
	RootSize = sha256.Size + 8 + 8
	// leafMetaSize is the weight ‖ count suffix smt appends to a leaf value.
	leafMetaSize = 8 + 8
)

// Sentinel errors of VerifyClosestProof; returned errors wrap one of them.
var (
	ErrProofUndecodable  = errors.New("undecodable closest proof")
	ErrProofPathMismatch = errors.New("closest proof path mismatch")
	ErrProofInvalid      = errors.New("closest proof does not verify")
)

func trieOptions() []smt.TrieSpecOption {
	return []smt.TrieSpecOption{smt.WithValueHasher(nil)}
}

// NewSMST returns an empty trie on nodes.
func NewSMST(nodes kvstore.MapStore) smt.SparseMerkleSumTrie {
	return smt.NewSparseMerkleSumTrie(nodes, sha256.New(), trieOptions()...)
}

// ImportSMST re-opens the trie with the given root from nodes. The trie must
// have been committed (Commit) to nodes at that root, and nodes must not have
// been pruned by later commits (Commit deletes orphaned nodes).
func ImportSMST(nodes kvstore.MapStore, root []byte) smt.SparseMerkleSumTrie {
	return smt.ImportSparseMerkleSumTrie(nodes, sha256.New(), root, trieOptions()...)
}

// InsertRelay adds relayBytes to trie under key RelayHash(relayBytes) with
// the given weight (the relay's compute units).
func InsertRelay(trie smt.SparseMerkleSumTrie, relayBytes []byte, weight uint64) error {
	return trie.Update(RelayHash(relayBytes), relayBytes, weight)
}

// Root is a parsed SMST root.
type Root struct {
	Digest []byte // sha256 digest of the root node
	Sum    uint64 // total weight (compute units) of all leaves
	Count  uint64 // number of leaves (relays)
}

// ParseRoot splits an SMST root, digest(32) ‖ sum(8 BE) ‖ count(8 BE), as laid
// out by smt's MerkleSumRoot. Any other length is rejected.
func ParseRoot(root []byte) (Root, error) {
	if len(root) != RootSize {
		return Root{}, fmt.Errorf("smst root must be %d bytes, got %d", RootSize, len(root))
	}
	r := smt.MerkleSumRoot(root)
	sum, err := r.Sum()
	if err != nil {
		return Root{}, err
	}
	count, err := r.Count()
	if err != nil {
		return Root{}, err
	}
	return Root{Digest: bytes.Clone(root[:sha256.Size]), Sum: sum, Count: count}, nil
}

// ProveClosest proves the leaf of trie closest to path (32 bytes, see
// ProofPath) and returns the compact proof in smt's own (gob) encoding. The
// sibling data (only needed to update a proof, not to verify it) is dropped
// to keep the proof small.
func ProveClosest(trie smt.SparseMerkleSumTrie, path []byte) ([]byte, error) {
	proof, err := trie.ProveClosest(path)
	if err != nil {
		return nil, fmt.Errorf("prove closest: %w", err)
	}
	proof.ClosestProof.SiblingData = nil
	compact, err := smt.CompactClosestProof(proof, trie.Spec())
	if err != nil {
		return nil, fmt.Errorf("compact closest proof: %w", err)
	}
	return compact.Marshal()
}

// VerifyClosestProof checks that proofBytes (from ProveClosest) proves, for
// path, the leaf closest to path in the trie with the given root, and
// returns that leaf's raw value (relay bytes) and weight.
//
// Beyond smt's own verification it checks what smt v0.14.1 leaves out and
// without which a prover could reveal any leaf it likes: the proof depth
// equals the number of side nodes, every flipped path bit has an empty
// sibling (the walk only turns away from an empty branch), the leaf is
// stored under key RelayHash(value), and the leaf count is 1.
func VerifyClosestProof(root, proofBytes, path []byte) (leafValue []byte, leafWeight uint64, err error) {
	// Hostile proofs can make smt index out of range; treat that as invalid.
	defer func() {
		if r := recover(); r != nil {
			leafValue, leafWeight = nil, 0
			err = fmt.Errorf("%w: malformed proof: %v", ErrProofInvalid, r)
		}
	}()
	if _, err := ParseRoot(root); err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrProofInvalid, err)
	}
	spec := smt.NewTrieSpec(sha256.New(), true, trieOptions()...)

	var compact smt.SparseCompactMerkleClosestProof
	if err := compact.Unmarshal(proofBytes); err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrProofUndecodable, err)
	}
	if compact.ClosestProof == nil {
		return nil, 0, fmt.Errorf("%w: missing inner proof", ErrProofUndecodable)
	}
	proof, err := smt.DecompactClosestProof(&compact, &spec)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrProofUndecodable, err)
	}
	if !bytes.Equal(proof.Path, path) {
		return nil, 0, fmt.Errorf("%w: proof is for path %x, want %x", ErrProofPathMismatch, proof.Path, path)
	}

	leaf := proof.ClosestValueHash
	if len(leaf) < leafMetaSize {
		return nil, 0, fmt.Errorf("%w: no leaf (empty trie?)", ErrProofInvalid)
	}
	value, weight := leaf[:len(leaf)-leafMetaSize], binary.BigEndian.Uint64(leaf[len(leaf)-leafMetaSize:])
	if count := binary.BigEndian.Uint64(leaf[len(leaf)-8:]); count != 1 {
		return nil, 0, fmt.Errorf("%w: leaf count %d, want 1", ErrProofInvalid, count)
	}
	if key := RelayHash(value); !bytes.Equal(proof.ClosestPath, RelayHash(key)) {
		return nil, 0, fmt.Errorf("%w: leaf is not stored under the hash of its value", ErrProofInvalid)
	}
	if err := checkClosest(proof); err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrProofInvalid, err)
	}
	ok, err := smt.VerifyClosestProof(proof, root, &spec)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrProofInvalid, err)
	}
	if !ok {
		return nil, 0, fmt.Errorf("%w: root mismatch", ErrProofInvalid)
	}
	return bytes.Clone(value), weight, nil
}

// emptySubtrie is the digest of an empty sum subtrie: zero hash, sum, count.
var emptySubtrie = make([]byte, RootSize)

// checkClosest binds the proven leaf to the path: the side node at depth d
// is SideNodes[len-1-d], and at every flipped depth it must be empty.
func checkClosest(p *smt.SparseMerkleClosestProof) error {
	sides := p.ClosestProof.SideNodes
	if p.Depth != len(sides) {
		return fmt.Errorf("depth %d but %d side nodes", p.Depth, len(sides))
	}
	for _, d := range p.FlippedBits {
		if d < 0 || d >= len(sides) || !bytes.Equal(sides[len(sides)-1-d], emptySubtrie) {
			return fmt.Errorf("path bit %d flipped away from a non-empty branch", d)
		}
	}
	return nil
}
