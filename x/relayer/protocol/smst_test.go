package protocol_test

import (
	"bytes"
	"math/rand"
	"testing"

	"github.com/pokt-network/smt"
	"github.com/pokt-network/smt/kvstore"
	"github.com/pokt-network/smt/kvstore/simplemap"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

const (
	numRelays   = 300
	relayWeight = 7
)

// buildTrie inserts numRelays random relays and returns the trie, its store
// and the inserted relay bytes.
func buildTrie(t *testing.T, seed int64) (smt.SparseMerkleSumTrie, kvstore.MapStore, map[string]bool) {
	rng := rand.New(rand.NewSource(seed))
	store := simplemap.NewSimpleMap()
	trie := protocol.NewSMST(store)
	inserted := map[string]bool{}
	for i := 0; i < numRelays; i++ {
		bz, err := protocol.RelayBytes(newRelay(rng))
		require.NoError(t, err)
		require.NoError(t, protocol.InsertRelay(trie, bz, relayWeight))
		inserted[string(bz)] = true
	}
	require.Len(t, inserted, numRelays)
	return trie, store, inserted
}

func randPath(rng *rand.Rand) []byte {
	p := make([]byte, 32)
	rng.Read(p)
	return p
}

func TestParseRoot(t *testing.T) {
	trie, _, _ := buildTrie(t, 1)
	root := trie.Root()
	require.Len(t, root, protocol.RootSize)
	r, err := protocol.ParseRoot(root)
	require.NoError(t, err)
	require.Equal(t, uint64(numRelays*relayWeight), r.Sum)
	require.Equal(t, uint64(numRelays), r.Count)
	require.Equal(t, trie.MustSum(), r.Sum, "agrees with smt")
	require.Equal(t, trie.MustCount(), r.Count, "agrees with smt")
	require.Equal(t, []byte(root[:32]), r.Digest)

	empty, err := protocol.ParseRoot(protocol.NewSMST(simplemap.NewSimpleMap()).Root())
	require.NoError(t, err)
	require.Equal(t, protocol.Root{Digest: make([]byte, 32)}, empty)

	for _, n := range []int{0, 24, 47, 49, 64} {
		_, err := protocol.ParseRoot(make([]byte, n))
		require.Error(t, err, "length %d", n)
	}
}

func TestClosestProof(t *testing.T) {
	trie, _, inserted := buildTrie(t, 2)
	root := trie.Root()
	rng := rand.New(rand.NewSource(3))
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		path := randPath(rng)
		proof, err := protocol.ProveClosest(trie, path)
		require.NoError(t, err)
		value, weight, err := protocol.VerifyClosestProof(root, proof, path)
		require.NoError(t, err)
		require.Equal(t, uint64(relayWeight), weight)
		require.True(t, inserted[string(value)], "leaf is an inserted relay")
		var relay types.Relay
		require.NoError(t, relay.Unmarshal(value))
		require.Equal(t, "svc", relay.Req.Meta.SessionHeader.ServiceId)
		seen[string(value)] = true
	}
	require.Greater(t, len(seen), 50, "different paths reach different leaves")

	_, err := protocol.ProveClosest(trie, []byte{1, 2, 3})
	require.Error(t, err, "path must be 32 bytes")
}

func TestClosestProofRejects(t *testing.T) {
	trie, _, _ := buildTrie(t, 4)
	otherTrie, _, _ := buildTrie(t, 5)
	root := trie.Root()
	rng := rand.New(rand.NewSource(6))
	path := randPath(rng)
	proof, err := protocol.ProveClosest(trie, path)
	require.NoError(t, err)

	tests := []struct {
		name        string
		root, proof []byte
		path        []byte
		want        error
	}{
		{"wrong path", root, proof, randPath(rng), protocol.ErrProofPathMismatch},
		{"other trie's root", otherTrie.Root(), proof, path, protocol.ErrProofInvalid},
		{"malformed root", root[:47], proof, path, protocol.ErrProofInvalid},
		{"empty proof", root, nil, path, protocol.ErrProofUndecodable},
		{"garbage proof", root, []byte("not a proof"), path, protocol.ErrProofUndecodable},
	}
	for _, tt := range tests {
		_, _, err := protocol.VerifyClosestProof(tt.root, tt.proof, tt.path)
		require.ErrorIs(t, err, tt.want, tt.name)
	}

	// Every single-byte change of the encoded proof that changes the decoded
	// proof is rejected. (gob is malleable: flips in its type descriptors may
	// decode to the very same proof, which then rightly verifies.)
	var orig smt.SparseCompactMerkleClosestProof
	require.NoError(t, orig.Unmarshal(proof))
	rejected := 0
	for i := range proof {
		tampered := bytes.Clone(proof)
		tampered[i] ^= 0x01
		_, _, err := protocol.VerifyClosestProof(root, tampered, path)
		if err != nil {
			rejected++
			continue
		}
		var got smt.SparseCompactMerkleClosestProof
		require.NoError(t, got.Unmarshal(tampered))
		require.Equal(t, orig, got, "byte %d changed the proof but it still verifies", i)
	}
	require.Greater(t, rejected, len(proof)*3/4)
}

// decode and encode let tests rewrite proofs the way a cheating supplier would.
func decode(t *testing.T, bz []byte) *smt.SparseMerkleClosestProof {
	var c smt.SparseCompactMerkleClosestProof
	require.NoError(t, c.Unmarshal(bz))
	spec := protocol.NewSMST(simplemap.NewSimpleMap()).Spec()
	p, err := smt.DecompactClosestProof(&c, spec)
	require.NoError(t, err)
	return p
}

func encode(t *testing.T, p *smt.SparseMerkleClosestProof) []byte {
	spec := protocol.NewSMST(simplemap.NewSimpleMap()).Spec()
	c, err := smt.CompactClosestProof(p, spec)
	require.NoError(t, err)
	bz, err := c.Marshal()
	require.NoError(t, err)
	return bz
}

func bit(b []byte, i int) int { return int(b[i/8]>>(7-uint(i%8))) & 1 }

// TestClosestProofBindsLeaf: smt v0.14.1 alone accepts a proof of any leaf
// for any path if the prover rewrites the flipped bits (or the depth);
// VerifyClosestProof must not.
func TestClosestProofBindsLeaf(t *testing.T) {
	trie, _, _ := buildTrie(t, 7)
	root := trie.Root()
	spec := trie.Spec()
	rng := rand.New(rand.NewSource(8))
	forged := 0
	for i := 0; i < 50; i++ {
		path, otherPath := randPath(rng), randPath(rng)
		honestBz, err := protocol.ProveClosest(trie, path)
		require.NoError(t, err)
		honest := decode(t, honestBz)
		p := decode(t, must(protocol.ProveClosest(trie, otherPath)))
		if bytes.Equal(p.ClosestPath, honest.ClosestPath) {
			continue
		}
		// Claim p's leaf is the one closest to path by flipping every differing bit.
		p.Path, p.FlippedBits = path, nil
		for d := 0; d < p.Depth; d++ {
			if bit(path, d) != bit(p.ClosestPath, d) {
				p.FlippedBits = append(p.FlippedBits, d)
			}
		}
		ok, err := smt.VerifyClosestProof(p, root, spec)
		require.True(t, ok && err == nil, "smt alone accepts the forgery")
		forged++
		_, _, err = protocol.VerifyClosestProof(root, encode(t, p), path)
		require.ErrorIs(t, err, protocol.ErrProofInvalid)

		// Same with a zero depth: no prefix is checked at all.
		p.FlippedBits, p.Depth = nil, 0
		_, _, err = protocol.VerifyClosestProof(root, encode(t, p), path)
		require.ErrorIs(t, err, protocol.ErrProofInvalid)
	}
	require.Greater(t, forged, 40)
}

func must(bz []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return bz
}

func TestClosestProofLeafKey(t *testing.T) {
	// A relay stored under any key but its hash (e.g. to count it twice) is
	// rejected even though the proof itself is sound.
	trie := protocol.NewSMST(simplemap.NewSimpleMap())
	bz := must(protocol.RelayBytes(newRelay(rand.New(rand.NewSource(9)))))
	require.NoError(t, trie.Update([]byte("not the relay hash"), bz, relayWeight))
	path := randPath(rand.New(rand.NewSource(10)))
	_, _, err := protocol.VerifyClosestProof(trie.Root(), must(protocol.ProveClosest(trie, path)), path)
	require.ErrorIs(t, err, protocol.ErrProofInvalid)

	require.NoError(t, trie.Delete([]byte("not the relay hash")))
	require.NoError(t, protocol.InsertRelay(trie, bz, relayWeight))
	value, weight, err := protocol.VerifyClosestProof(trie.Root(), must(protocol.ProveClosest(trie, path)), path)
	require.NoError(t, err)
	require.Equal(t, bz, value)
	require.Equal(t, uint64(relayWeight), weight)
}

func TestClosestProofHostile(t *testing.T) {
	trie, _, _ := buildTrie(t, 11)
	root := trie.Root()
	path := randPath(rand.New(rand.NewSource(12)))
	proof := must(protocol.ProveClosest(trie, path))

	var c smt.SparseCompactMerkleClosestProof
	mutations := map[string]func(){
		"short sibling data": func() { c.ClosestProof.SiblingData = []byte{1} },
		"short leaf":         func() { c.ClosestValueHash = []byte{1, 2, 3} },
		"no leaf":            func() { c.ClosestValueHash = nil },
		"no inner proof":     func() { c.ClosestProof = nil },
		"short side node":    func() { c.ClosestProof.SideNodes[0] = []byte{1} },
		"huge side count":    func() { c.ClosestProof.NumSideNodes = 1 << 20 },
	}
	for name, mutate := range mutations {
		c = smt.SparseCompactMerkleClosestProof{}
		require.NoError(t, c.Unmarshal(proof))
		mutate()
		bz, err := c.Marshal()
		require.NoError(t, err)
		require.NotPanics(t, func() {
			_, _, err = protocol.VerifyClosestProof(root, bz, path)
		}, name)
		require.Error(t, err, name)
	}

	// An empty trie has no leaf to prove.
	empty := protocol.NewSMST(simplemap.NewSimpleMap())
	bz, err := protocol.ProveClosest(empty, path)
	require.NoError(t, err)
	_, _, err = protocol.VerifyClosestProof(empty.Root(), bz, path)
	require.ErrorIs(t, err, protocol.ErrProofInvalid)
}

func TestImportSMST(t *testing.T) {
	trie, store, _ := buildTrie(t, 13)
	require.NoError(t, trie.Commit())
	root := trie.Root()

	imported := protocol.ImportSMST(store, root)
	require.Equal(t, root, imported.Root())
	rng := rand.New(rand.NewSource(14))
	for i := 0; i < 20; i++ {
		path := randPath(rng)
		want := must(protocol.ProveClosest(trie, path))
		got := must(protocol.ProveClosest(imported, path))
		require.Equal(t, want, got)
		_, _, err := protocol.VerifyClosestProof(root, got, path)
		require.NoError(t, err)
	}

	// The imported trie can keep growing in step with the original.
	bz := must(protocol.RelayBytes(newRelay(rng)))
	require.NoError(t, protocol.InsertRelay(trie, bz, relayWeight))
	require.NoError(t, protocol.InsertRelay(imported, bz, relayWeight))
	require.Equal(t, trie.Root(), imported.Root())
	r, err := protocol.ParseRoot(imported.Root())
	require.NoError(t, err)
	require.Equal(t, uint64(numRelays+1), r.Count)

	// Importing an empty (committed) trie works too.
	emptyStore := simplemap.NewSimpleMap()
	empty := protocol.NewSMST(emptyStore)
	require.NoError(t, empty.Commit())
	reopened := protocol.ImportSMST(emptyStore, empty.Root())
	require.NoError(t, protocol.InsertRelay(reopened, bz, relayWeight))
	require.Equal(t, uint64(1), reopened.MustCount())
}
