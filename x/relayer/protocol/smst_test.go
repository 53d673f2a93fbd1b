package protocol_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	gomath "math"
	"math/rand"
	"testing"

	"github.com/pokt-network/smt"
	"github.com/pokt-network/smt/kvstore/simplemap"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/relaytest"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

const relayWeight = 7

// randomLeaves makes n honest leaves of distinct random relays.
func randomLeaves(t testing.TB, rng *rand.Rand, n int) ([]protocol.TrieLeaf, [][]byte) {
	leaves := make([]protocol.TrieLeaf, n)
	keys := make([][]byte, n)
	for i := range leaves {
		r := newRelay(rng)
		leaves[i] = relaytest.Leaf(t, r, relayWeight)
		k, err := protocol.RelayKey(r.Req)
		require.NoError(t, err)
		keys[i] = k
	}
	return leaves, keys
}

func TestParseRoot(t *testing.T) {
	root := append(bytes.Repeat([]byte{1}, 32), 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 5)
	r, err := protocol.ParseRoot(root)
	require.NoError(t, err)
	require.Equal(t, protocol.Root{Digest: bytes.Repeat([]byte{1}, 32), Sum: 256, Count: 5}, r)
	for _, n := range []int{0, 47, 49} {
		_, err := protocol.ParseRoot(make([]byte, n))
		require.Error(t, err, n)
	}
}

// TestTrieMatchesSMT builds the same leaves with our one-pass builder and
// with smt v0.14.1's SMST: same roots, and our proofs carry smt's own side
// nodes.
func TestTrieMatchesSMT(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for _, n := range []int{0, 1, 2, 3, 17, 300} {
		leaves, keys := randomLeaves(t, rng, n)
		ref := smt.NewSparseMerkleSumTrie(simplemap.NewSimpleMap(), sha256.New())
		for i, l := range leaves {
			require.NoError(t, ref.Update(keys[i], l.Value, l.Weight))
		}
		tr := relaytest.BuildTree(t, leaves...)
		require.Equal(t, []byte(ref.Root()), tr.Root, "%d leaves", n)
		if n == 0 {
			continue
		}
		for i, l := range tr.Leaves {
			p := tr.Prove(t, uint64(i)*relayWeight+uint64(rng.Intn(relayWeight)))
			require.Equal(t, l.Value, p.Leaf, "leaf %d is the %d-th in path order", i, i)
			var key []byte
			for j := range leaves {
				if bytes.Equal(leaves[j].Path, l.Path) {
					key = keys[j]
				}
			}
			want, err := ref.Prove(key)
			require.NoError(t, err)
			require.Len(t, p.SideNodes, len(want.SideNodes))
			for d := range p.SideNodes {
				s := want.SideNodes[len(want.SideNodes)-1-d] // smt lists them bottom-up
				if bytes.Equal(s, make([]byte, protocol.NodeSize)) {
					s = nil
				}
				require.Equal(t, s, p.SideNodes[d], "leaf %d depth %d", i, d)
			}
		}
	}
}

// TestHonestProofsAlwaysVerify draws tens of thousands of proof seeds over
// random honest tries: every proof verifies.
func TestHonestProofsAlwaysVerify(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	draws := 0
	for _, n := range []int{1, 2, 5, 64, 1000} {
		leaves, _ := randomLeaves(t, rng, n)
		tr := relaytest.BuildTree(t, leaves...)
		root, err := protocol.ParseRoot(tr.Root)
		require.NoError(t, err)
		require.Equal(t, uint64(n), root.Count)
		require.Equal(t, uint64(n*relayWeight), root.Sum)
		seeds := 4000
		if testing.Short() {
			seeds = 400
		}
		for s := 0; s < seeds; s++ {
			seed := make([]byte, 32)
			rng.Read(seed)
			for _, pt := range protocol.ProofPoints(seed, "session", "supplier", root.Sum, 2) {
				p := tr.Prove(t, pt)
				relay, err := protocol.VerifyLeafProof(tr.Root, pt, relayWeight, &p)
				require.NoError(t, err, "n=%d point=%d", n, pt)
				require.NotNil(t, relay.Req)
				draws++
			}
		}
	}
	t.Logf("%d honest proofs verified", draws)
}

// fabricated is a trie with weight in it that no honest leaf carries.
type fabricated struct {
	name       string
	tree       *relaytest.Tree
	honest     uint64 // honest weight
	fabricated uint64 // weight no valid proof can open
}

func fabricatedTries(t *testing.T, rng *rand.Rand) []fabricated {
	const honestN = 50
	var out []fabricated

	// One leaf of an honest relay claims a huge weight.
	leaves, _ := randomLeaves(t, rng, honestN)
	heavy := leaves[17]
	heavy.Weight = 150 * relayWeight
	out = append(out, fabricated{"heavy leaf", relaytest.BuildTree(t, append(append([]protocol.TrieLeaf{}, leaves[:17]...), append([]protocol.TrieLeaf{heavy}, leaves[18:]...)...)...),
		(honestN - 1) * relayWeight, heavy.Weight})

	// One request answered ten times: the copies sit off their key's path.
	leaves, _ = randomLeaves(t, rng, honestN)
	r := newRelay(rng)
	all := append([]protocol.TrieLeaf{}, leaves...)
	all = append(all, relaytest.Leaf(t, r, relayWeight))
	for i := 0; i < 9; i++ {
		dup := *r
		res := *r.Res
		res.Payload = []byte(fmt.Sprintf("answer %d", i))
		dup.Res = &res
		l := relaytest.Leaf(t, &dup, relayWeight)
		l.Path = protocol.LeafPath(l.Value) // any free path: the key's is taken
		all = append(all, l)
	}
	out = append(out, fabricated{"one request, ten leaves", relaytest.BuildTree(t, all...), (honestN + 1) * relayWeight, 9 * relayWeight})

	// A subtree with only a made-up hash and sum, where the honest trie has
	// an empty one: honest leaves all on the left (path bit 0 is 0), the
	// made-up node as the root's right child.
	leaves = leaves[:0]
	for len(leaves) < honestN {
		l := relaytest.Leaf(t, newRelay(rng), relayWeight)
		if l.Path[0]&0x80 == 0 {
			leaves = append(leaves, l)
		}
	}
	tr := relaytest.BuildTree(t, leaves...)
	enc, err := tr.Node(tr.Root[:32])
	require.NoError(t, err)
	left := enc[1 : 1+protocol.NodeSize]
	fake := make([]byte, protocol.NodeSize)
	rng.Read(fake[:32])
	binary.BigEndian.PutUint64(fake[32:], 250*relayWeight)
	binary.BigEndian.PutUint64(fake[40:], 250)
	root, err := protocol.InnerNode(left, fake)
	require.NoError(t, err)
	require.NoError(t, tr.PutNode(root[:32], append(append([]byte{1}, left...), fake...)))
	tr.Root = root
	out = append(out, fabricated{"made-up subtree", tr, honestN * relayWeight, 250 * relayWeight})
	return out
}

// TestFabricatedWeightIsFoundAtItsShare draws many proof points over tries
// with fabricated weight F among honest weight H: the share of draws no
// valid proof exists for matches F/(H+F), so a claim's expected payout is at
// most its honest work.
func TestFabricatedWeightIsFoundAtItsShare(t *testing.T) {
	rng := rand.New(rand.NewSource(13))
	for _, f := range fabricatedTries(t, rng) {
		t.Run(f.name, func(t *testing.T) {
			root, err := protocol.ParseRoot(f.tree.Root)
			require.NoError(t, err)
			total := f.honest + f.fabricated
			require.Equal(t, total, root.Sum)
			const draws = 4000
			caught := 0
			for i := 0; i < draws; i++ {
				seed := make([]byte, 32)
				rng.Read(seed)
				pt := protocol.ProofPoints(seed, "session", "supplier", root.Sum, 1)[0]
				p, err := protocol.ProveLeaf(f.tree.Nodes, f.tree.Root, pt)
				if err == nil {
					_, err = protocol.VerifyLeafProof(f.tree.Root, pt, relayWeight, &p)
				}
				if err != nil {
					caught++
					// No other leaf's proof helps: intervals are disjoint.
					q := uint64(rng.Int63n(int64(root.Sum)))
					if op, err := protocol.ProveLeaf(f.tree.Nodes, f.tree.Root, q); err == nil {
						if _, err := protocol.VerifyLeafProof(f.tree.Root, q, relayWeight, &op); err == nil {
							_, err = protocol.VerifyLeafProof(f.tree.Root, pt, relayWeight, &op)
							require.ErrorIs(t, err, protocol.ErrProofPointOutside)
						}
					}
				}
			}
			share := float64(f.fabricated) / float64(total)
			sd := gomath.Sqrt(draws * share * (1 - share))
			require.InDelta(t, share*draws, caught, 4*sd, "caught %d of %d draws; F/T = %.3f", caught, draws, share)
			// Expected payout over the draws is at most the honest work.
			paidInExpectation := float64(total) * float64(draws-caught) / draws
			require.LessOrEqual(t, paidInExpectation, float64(f.honest)+4*sd*float64(total)/draws)
		})
	}
}

func TestVerifyLeafProofRejects(t *testing.T) {
	rng := rand.New(rand.NewSource(17))
	leaves, _ := randomLeaves(t, rng, 40)
	tr := relaytest.BuildTree(t, leaves...)
	const point = 3*relayWeight + 2 // the 4th leaf
	good := tr.Prove(t, point)
	_, err := protocol.VerifyLeafProof(tr.Root, point, relayWeight, &good)
	require.NoError(t, err)
	require.Greater(t, len(good.SideNodes), 2)

	clone := func() *types.LeafProof {
		p := types.LeafProof{Leaf: bytes.Clone(good.Leaf)}
		for _, s := range good.SideNodes {
			p.SideNodes = append(p.SideNodes, bytes.Clone(s))
		}
		return &p
	}
	firstNonEmpty := func(p *types.LeafProof) int {
		for d, s := range p.SideNodes {
			if len(s) > 0 {
				return d
			}
		}
		t.Fatal("no non-empty side node")
		return 0
	}
	other := tr.Prove(t, 20*relayWeight)
	tests := []struct {
		name   string
		root   []byte
		point  uint64
		weight uint64
		proof  func() *types.LeafProof
		want   error
	}{
		{"side node tampered", tr.Root, point, relayWeight, func() *types.LeafProof {
			p := clone()
			p.SideNodes[firstNonEmpty(p)][0] ^= 1
			return p
		}, protocol.ErrProofInvalid},
		{"side node sum raised", tr.Root, point, relayWeight, func() *types.LeafProof {
			p := clone()
			p.SideNodes[firstNonEmpty(p)][39] ^= 1
			return p
		}, protocol.ErrProofInvalid},
		{"side node dropped", tr.Root, point, relayWeight, func() *types.LeafProof {
			p := clone()
			p.SideNodes = p.SideNodes[:len(p.SideNodes)-1]
			return p
		}, protocol.ErrProofInvalid},
		{"side node added", tr.Root, point, relayWeight, func() *types.LeafProof {
			p := clone()
			p.SideNodes = append(p.SideNodes, nil)
			return p
		}, protocol.ErrProofInvalid},
		{"empty side node spelled as zeros", tr.Root, point, relayWeight, func() *types.LeafProof {
			p := clone()
			p.SideNodes = append(p.SideNodes, make([]byte, protocol.NodeSize))
			return p
		}, protocol.ErrProofMalformed},
		{"side node of the wrong size", tr.Root, point, relayWeight, func() *types.LeafProof {
			p := clone()
			p.SideNodes[0] = []byte{1, 2, 3}
			return p
		}, protocol.ErrProofMalformed},
		{"too many side nodes", tr.Root, point, relayWeight, func() *types.LeafProof {
			p := clone()
			p.SideNodes = make([][]byte, protocol.PathBits+1)
			return p
		}, protocol.ErrProofMalformed},
		{"leaf of another point", tr.Root, point, relayWeight, func() *types.LeafProof {
			return &other
		}, protocol.ErrProofPointOutside},
		{"point past the leaf", tr.Root, point + relayWeight, relayWeight, clone, protocol.ErrProofPointOutside},
		{"point before the leaf", tr.Root, point - relayWeight, relayWeight, clone, protocol.ErrProofPointOutside},
		{"another weight", tr.Root, point, relayWeight + 1, clone, protocol.ErrProofInvalid},
		{"another root", append([]byte{0}, tr.Root[1:]...), point, relayWeight, clone, protocol.ErrProofInvalid},
		{"short root", tr.Root[:47], point, relayWeight, clone, protocol.ErrProofInvalid},
		{"leaf not canonical", tr.Root, point, relayWeight, func() *types.LeafProof {
			p := clone()
			p.Leaf = append(p.Leaf, 0x78, 0x01)
			return p
		}, protocol.ErrLeafNotCanonical},
		{"leaf garbage", tr.Root, point, relayWeight, func() *types.LeafProof {
			p := clone()
			p.Leaf = []byte{0xff}
			return p
		}, protocol.ErrLeafMalformed},
		{"nil proof", tr.Root, point, relayWeight, func() *types.LeafProof { return nil }, protocol.ErrProofMalformed},
	}
	for _, tt := range tests {
		_, err := protocol.VerifyLeafProof(tt.root, tt.point, tt.weight, tt.proof())
		require.ErrorIs(t, err, tt.want, tt.name)
	}
}

// TestVerifyLeafProofRejectsOverflow: sums that wrap around 2^64 cannot
// make a small claim out of huge subtrees.
func TestVerifyLeafProofRejectsOverflow(t *testing.T) {
	rng := rand.New(rand.NewSource(19))
	leaves, _ := randomLeaves(t, rng, 1)
	leaf := leaves[0]
	huge := make([]byte, protocol.NodeSize)
	rng.Read(huge[:32])
	binary.BigEndian.PutUint64(huge[32:], gomath.MaxUint64-2)
	binary.BigEndian.PutUint64(huge[40:], 1)
	node := protocol.LeafNode(leaf.Path, leaf.Value, relayWeight)
	_, err := protocol.InnerNode(node, huge)
	require.Error(t, err)
	// A root computed with wrapping arithmetic (as a dishonest prover would).
	var meta [16]byte
	binary.BigEndian.PutUint64(meta[:8], uint64(relayWeight)-3) // 7 + (2^64-3) mod 2^64
	binary.BigEndian.PutUint64(meta[8:], 2)
	h := sha256.New()
	left, right := node, huge
	if leaf.Path[0]&0x80 != 0 {
		left, right = huge, node
	}
	h.Write([]byte{1})
	h.Write(left)
	h.Write(right)
	h.Write(meta[:])
	root := append(h.Sum(nil), meta[:]...)
	p := &types.LeafProof{Leaf: leaf.Value, SideNodes: [][]byte{huge}}
	_, err = protocol.VerifyLeafProof(root, 0, relayWeight, p)
	require.ErrorIs(t, err, protocol.ErrProofInvalid)
}

func TestBuildTrieRejectsUnsortedOrDuplicatePaths(t *testing.T) {
	rng := rand.New(rand.NewSource(23))
	leaves, _ := randomLeaves(t, rng, 5)
	tr := relaytest.BuildTree(t, leaves...)
	sorted := tr.Leaves
	for name, ls := range map[string][]protocol.TrieLeaf{
		"unsorted":  {sorted[1], sorted[0], sorted[2]},
		"duplicate": {sorted[0], sorted[1], sorted[1], sorted[2]},
		"reversed":  {sorted[4], sorted[3], sorted[2], sorted[1], sorted[0]},
	} {
		_, err := protocol.BuildTrie(&relaytest.SliceLeaves{Leaves: ls}, relaytest.NewNodes())
		require.Error(t, err, name)
	}
	_, err := protocol.BuildTrie(&relaytest.SliceLeaves{Leaves: []protocol.TrieLeaf{{Path: []byte{1}}}}, relaytest.NewNodes())
	require.Error(t, err, "short path")
	root, err := protocol.BuildTrie(&relaytest.SliceLeaves{}, relaytest.NewNodes())
	require.NoError(t, err)
	require.Equal(t, make([]byte, protocol.RootSize), root, "the empty trie")
}

// BenchmarkBuildTrie100k builds the trie of 100,000 relays in memory.
func BenchmarkBuildTrie100k(b *testing.B) {
	rng := rand.New(rand.NewSource(29))
	leaves, _ := randomLeaves(b, rng, 100_000)
	tr := relaytest.BuildTree(b, leaves...)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, err := protocol.BuildTrie(&relaytest.SliceLeaves{Leaves: tr.Leaves}, relaytest.NewNodes())
		require.NoError(b, err)
	}
}

// TestProveByRebuildMatchesStoredNodes: the proofs rebuilt from the leaves
// alone are the ones the stored nodes give, and verify.
func TestProveByRebuildMatchesStoredNodes(t *testing.T) {
	rng := rand.New(rand.NewSource(31))
	for _, n := range []int{1, 2, 7, 300} {
		leaves, _ := randomLeaves(t, rng, n)
		tr := relaytest.BuildTree(t, leaves...)
		var points []uint64
		for i := 0; i < 20; i++ {
			points = append(points, uint64(rng.Intn(n*relayWeight)))
		}
		got, err := protocol.ProveByRebuild(&relaytest.SliceLeaves{Leaves: tr.Leaves}, nil, tr.Root, points)
		require.NoError(t, err)
		for i, pt := range points {
			want := tr.Prove(t, pt)
			require.Equal(t, want.Leaf, got[i].Leaf, "n=%d point %d", n, pt)
			require.Equal(t, want.SideNodes, got[i].SideNodes, "n=%d point %d", n, pt)
			_, err := protocol.VerifyLeafProof(tr.Root, pt, relayWeight, &got[i])
			require.NoError(t, err)
		}
		other := bytes.Clone(tr.Root)
		other[0] ^= 1
		_, err = protocol.ProveByRebuild(&relaytest.SliceLeaves{Leaves: tr.Leaves}, nil, other, points)
		require.Error(t, err, "a root the leaves do not make")
		_, err = protocol.ProveByRebuild(&relaytest.SliceLeaves{Leaves: tr.Leaves}, nil, tr.Root, []uint64{uint64(n * relayWeight)})
		require.Error(t, err, "a point past the sum")
	}
}

// mapValues is a LeafValueReader over leaves.
type mapValues map[string][]byte

func (m mapValues) LeafValue(path []byte) ([]byte, error) {
	v, ok := m[string(path)]
	if !ok {
		return nil, fmt.Errorf("no leaf on path %x", path)
	}
	return v, nil
}

// TestTrieFromValueHashes: a trie built from its leaves' value hashes alone
// has the root of the one built from their values, and proofs rebuilt from
// the hashes read the proven values from the reader.
func TestTrieFromValueHashes(t *testing.T) {
	rng := rand.New(rand.NewSource(23))
	leaves, _ := randomLeaves(t, rng, 200)
	tr := relaytest.BuildTree(t, leaves...)
	hashed := make([]protocol.TrieLeaf, len(tr.Leaves))
	values := mapValues{}
	for i, l := range tr.Leaves {
		h := sha256.Sum256(l.Value)
		hashed[i] = protocol.TrieLeaf{Path: l.Path, ValueHash: h[:], Weight: l.Weight}
		values[string(l.Path)] = l.Value
	}
	root, err := protocol.BuildTrie(&relaytest.SliceLeaves{Leaves: hashed}, relaytest.NewNodes())
	require.NoError(t, err)
	require.Equal(t, tr.Root, root)

	points := []uint64{0, 77 * relayWeight, 199*relayWeight + 1}
	want, err := protocol.ProveByRebuild(&relaytest.SliceLeaves{Leaves: tr.Leaves}, nil, tr.Root, points)
	require.NoError(t, err)
	got, err := protocol.ProveByRebuild(&relaytest.SliceLeaves{Leaves: hashed}, values, tr.Root, points)
	require.NoError(t, err)
	require.Equal(t, want, got)
	_, err = protocol.ProveByRebuild(&relaytest.SliceLeaves{Leaves: hashed}, nil, tr.Root, points)
	require.Error(t, err, "hash-only leaves need a value reader")

	bad := append([]protocol.TrieLeaf{}, hashed...)
	bad[3].ValueHash = bad[3].ValueHash[:31]
	_, err = protocol.BuildTrie(&relaytest.SliceLeaves{Leaves: bad}, relaytest.NewNodes())
	require.Error(t, err)
}

// partialNodes keeps only the nodes over at least min leaves, and yields a
// subtree's leaves (with their value hashes only) from the sorted leaves.
type partialNodes struct {
	relaytest.Nodes
	min    uint64
	leaves []protocol.TrieLeaf
}

func (p partialNodes) PutNode(digest, enc []byte) error {
	if protocol.EncodedNodeCount(enc) < p.min {
		return nil
	}
	return p.Nodes.PutNode(digest, enc)
}

func (p partialNodes) Node(digest []byte) ([]byte, error) {
	if enc, ok := p.ByDigest[string(digest)]; ok {
		return enc, nil
	}
	return nil, fmt.Errorf("%w: %x", protocol.ErrNodeNotStored, digest)
}

// Leaves yields every leaf: ProveLeaf must narrow them to the subtree.
func (p partialNodes) Leaves(int, []byte) (protocol.LeafSource, func(), error) {
	hashed := make([]protocol.TrieLeaf, len(p.leaves))
	for i, l := range p.leaves {
		h := sha256.Sum256(l.Value)
		hashed[i] = protocol.TrieLeaf{Path: l.Path, ValueHash: h[:], Weight: l.Weight}
	}
	return &relaytest.SliceLeaves{Leaves: hashed}, func() {}, nil
}

// TestProveLeafRebuildsSubtreesNotStored: a trie whose small subtrees were
// not stored proves every point exactly as the fully stored trie does.
func TestProveLeafRebuildsSubtreesNotStored(t *testing.T) {
	rng := rand.New(rand.NewSource(29))
	for _, n := range []int{1, 2, 3, 17, 64, 65, 300} {
		leaves, _ := randomLeaves(t, rng, n)
		full := relaytest.BuildTree(t, leaves...)
		for _, min := range []uint64{2, 4, 64, 1000} {
			p := partialNodes{Nodes: relaytest.NewNodes(), min: min, leaves: full.Leaves}
			for k, v := range full.Values {
				p.Values[k] = v
			}
			root, err := protocol.BuildTrie(&relaytest.SliceLeaves{Leaves: full.Leaves}, p)
			require.NoError(t, err)
			require.Equal(t, full.Root, root)
			require.Less(t, len(p.ByDigest), len(full.ByDigest), "fewer nodes stored (n %d, min %d)", n, min)
			for i := 0; i < n; i++ {
				pt := uint64(i)*relayWeight + uint64(rng.Intn(relayWeight))
				got, err := protocol.ProveLeaf(p, root, pt)
				require.NoError(t, err, "n %d, min %d, point %d", n, min, pt)
				require.Equal(t, full.Prove(t, pt), got, "n %d, min %d, point %d", n, min, pt)
				_, err = protocol.VerifyLeafProof(root, pt, relayWeight, &got)
				require.NoError(t, err)
			}
		}
	}
}

// TestProveLeafRefusesAWrongSubtree: leaves that do not rebuild the node
// the walk reached give an error, not a proof.
func TestProveLeafRefusesAWrongSubtree(t *testing.T) {
	rng := rand.New(rand.NewSource(31))
	leaves, _ := randomLeaves(t, rng, 40)
	full := relaytest.BuildTree(t, leaves...)
	p := partialNodes{Nodes: relaytest.NewNodes(), min: 8, leaves: full.Leaves}
	_, err := protocol.BuildTrie(&relaytest.SliceLeaves{Leaves: full.Leaves}, p)
	require.NoError(t, err)
	p.leaves = append(append([]protocol.TrieLeaf{}, full.Leaves[:10]...), full.Leaves[11:]...) // one leaf lost
	for i := 0; i < 40; i++ {
		if _, err := protocol.ProveLeaf(p, full.Root, uint64(i)*relayWeight); err != nil {
			return
		}
	}
	t.Fatal("a subtree missing a leaf was proven")
}
