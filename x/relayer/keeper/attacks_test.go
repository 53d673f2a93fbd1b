package keeper_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	gomath "math"
	"math/rand"
	"testing"

	sdkmath "cosmossdk.io/math"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/pokt-network/poktroll/testutil/relaytest"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// The tests here try, each on the keeper, one way a supplier could be paid
// for more than it served. Each is rejected with its own registered error,
// next to an honest control that passes the same flow.

// numDraws is how many proof seeds the expected-payout checks draw.
const numDraws = 2000

// pathHasPrefix reports whether path starts with bits, a string of '0' and
// '1'.
func pathHasPrefix(path []byte, bits string) bool {
	for i, c := range bits {
		if (path[i/8]>>(7-i%8))&1 != byte(c-'0') {
			return false
		}
	}
	return true
}

// relaysUnder makes bob's relays of session 5-8 until it has n whose leaf
// path starts with the bits of prefix.
func (cf claimFixture) relaysUnder(t *testing.T, n int, prefix string) []*types.Relay {
	t.Helper()
	var out []*types.Relay
	for i := 0; len(out) < n; i++ {
		r := relaytest.NewRelay(t, cf.hdr, cf.aliceKey, cf.bobKey, i)
		if pathHasPrefix(protocol.LeafPath(relayKey(t, r)), prefix) {
			out = append(out, r)
		}
	}
	return out
}

// payoutOverDraws claims root as bob's claim of session 5-8 and, for
// numDraws random proof seeds, tries the proofs prove gives for the drawn
// points against the keeper's own check of a leaf proof. It returns the
// share of seeds for which every proof passes: the claim is paid for those
// draws only (and slashed for the others).
func (cf claimFixture) payoutOverDraws(t *testing.T, root []byte, prove func(point uint64) (types.LeafProof, error)) float64 {
	t.Helper()
	r, err := protocol.ParseRoot(root)
	require.NoError(t, err)
	claim := cf.claimed(cf.bob, root)
	rng := rand.New(rand.NewSource(int64(binary.BigEndian.Uint64(root))))
	passed := 0
	seed := make([]byte, 32)
	for i := 0; i < numDraws; i++ {
		rng.Read(seed)
		ok := true
		for _, pt := range protocol.ProofPoints(seed, cf.hdr.SessionId, cf.bob, r.Sum, cf.params.NumProofsPerClaim) {
			p, err := prove(pt)
			if err == nil {
				err = cf.k.VerifyLeafProofAt(cf.ctx, claim, pt, &p)
			}
			if err != nil {
				ok = false
				break
			}
		}
		if ok {
			passed++
		}
	}
	return float64(passed) / numDraws
}

// requirePaidAtMostHonestWork checks the expected payout of a claim of
// claimedRelays relays that passes its proofs at rate passRate: settlement
// pays what the claim is worth (it is far below the share here) when the
// proofs pass, nothing otherwise. That must not exceed what the honestRelays
// are worth, and passRate must be the chance that all k points land on
// honest weight, (honest/claimed)^k: the draw finds fabricated weight at its
// share, on every point.
func (cf claimFixture) requirePaidAtMostHonestWork(t *testing.T, passRate float64, claimedRelays, honestRelays uint64) {
	t.Helper()
	owed := claimedTokensOf(cf.params, claimedRelays)
	honest := claimedTokensOf(cf.params, honestRelays)
	share := protocol.SupplierShare(sdkmath.NewInt(2_000_000), 2)
	require.True(t, owed.LT(share), "the share cap must not be what limits the payout here")
	k := float64(cf.params.NumProofsPerClaim)
	want := gomath.Pow(float64(honestRelays)/float64(claimedRelays), k)
	sd := gomath.Sqrt(want * (1 - want) / numDraws)
	require.InDelta(t, want, passRate, 5*sd+1e-9, "pass rate over %d draws; (honest/claimed)^k = %.4f", numDraws, want)
	expected := float64(owed.Int64()) * passRate
	t.Logf("claimed %d relays (%s), honest %d (%s): proofs pass %.4f of draws, expected payout %.1f", claimedRelays, owed, honestRelays, honest, passRate, expected)
	require.LessOrEqual(t, expected, float64(honest.Int64()), "expected payout above the honest work")
}

// lengthDelimited is protobuf field num with wire type 2 and body.
func lengthDelimited(num protowire.Number, body []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), body)
}

// TestAttack_NonCanonicalLeafOfAnHonestRelay: one relay, many leaves. An
// honest relay re-encoded so that it decodes to the same relay would be a
// second leaf for it (at another value, hence another node hash). Every
// relay of bob's trie is re-encoded one way, on its own key's path; the
// proofs are rejected with ErrRelayNotCanonical, whatever the leaf drawn.
func TestAttack_NonCanonicalLeafOfAnHonestRelay(t *testing.T) {
	// compactParts returns the canonical leaf and its request and response
	// encodings.
	compactParts := func(t *testing.T, r *types.Relay) (leaf, req, res []byte) {
		leaf, err := protocol.LeafBytes(r)
		require.NoError(t, err)
		var c types.Relay
		require.NoError(t, c.Unmarshal(leaf))
		req, err = c.Req.Marshal()
		require.NoError(t, err)
		res, err = c.Res.Marshal()
		require.NoError(t, err)
		return leaf, req, res
	}
	tests := []struct {
		name   string
		encode func(t *testing.T, r *types.Relay) []byte
		err    error
	}{
		{"canonical encoding (control)", func(t *testing.T, r *types.Relay) []byte {
			leaf, _, _ := compactParts(t, r)
			return leaf
		}, nil},
		{"unknown field appended", func(t *testing.T, r *types.Relay) []byte {
			leaf, _, _ := compactParts(t, r)
			return protowire.AppendVarint(protowire.AppendTag(leaf, 15, protowire.VarintType), 1)
		}, types.ErrRelayNotCanonical},
		{"fields reordered", func(t *testing.T, r *types.Relay) []byte {
			_, req, res := compactParts(t, r)
			return append(lengthDelimited(2, res), lengthDelimited(1, req)...)
		}, types.ErrRelayNotCanonical},
		{"request field repeated", func(t *testing.T, r *types.Relay) []byte {
			_, req, res := compactParts(t, r)
			return append(append(lengthDelimited(1, req), lengthDelimited(1, req)...), lengthDelimited(2, res)...)
		}, types.ErrRelayNotCanonical},
		{"non-minimal length prefix", func(t *testing.T, r *types.Relay) []byte {
			_, req, res := compactParts(t, r)
			n := protowire.AppendVarint(nil, uint64(len(req)))
			n[len(n)-1] |= 0x80 // one more, redundant, varint byte
			n = append(n, 0x00)
			return append(append(append([]byte{0x0a}, n...), req...), lengthDelimited(2, res)...)
		}, types.ErrRelayNotCanonical},
		{"unknown field inside the request", func(t *testing.T, r *types.Relay) []byte {
			_, req, res := compactParts(t, r)
			req = protowire.AppendVarint(protowire.AppendTag(req, 15, protowire.VarintType), 1)
			return append(lengthDelimited(1, req), lengthDelimited(2, res)...)
		}, types.ErrRelayNotCanonical},
		{"empty payload written out in the response", func(t *testing.T, r *types.Relay) []byte {
			_, req, res := compactParts(t, r)
			res = append(res, lengthDelimited(2, nil)...) // RelayResponse.payload = ""
			return append(lengthDelimited(1, req), lengthDelimited(2, res)...)
		}, types.ErrRelayNotCanonical},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newClaimFixture(t)
			relays := newRelays(t, f.hdr, f.aliceKey, f.bobKey, 20)
			for _, r := range relays {
				canonical, err := protocol.LeafBytes(r)
				require.NoError(t, err)
				enc := tc.encode(t, r)
				var back types.Relay
				require.NoError(t, back.Unmarshal(enc), "the re-encoding still decodes")
				again, err := back.Marshal()
				require.NoError(t, err)
				require.Equal(t, canonical, again, "to the same relay")
				require.Equal(t, tc.err == nil, bytes.Equal(canonical, enc))
			}
			tr := leavesWith(t, relays, func(r *types.Relay) []byte { return tc.encode(t, r) })
			err := f.claimAndProve(t, tr, nil)
			if tc.err == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.err)
		})
	}
}

// TestAttack_OneRequestManyResponses: one relay, many leaves. bob answers
// one of alice's requests ten times, each answer signed, and claims them
// as ten relays besides his 20 honest ones. A request has one place in the
// trie (the path of its key), so nine answers sit off it: their proofs are
// rejected with ErrInvalidProof, and over many proof seeds the claim is
// worth no more, in expectation, than the 21 relays served.
func TestAttack_OneRequestManyResponses(t *testing.T) {
	f := newClaimFixture(t)
	honest := newRelays(t, f.hdr, f.aliceKey, f.bobKey, 20)
	req := relaytest.NewRequest(t, f.hdr, f.aliceKey, f.bob, 999)
	key, err := protocol.RelayKey(req)
	require.NoError(t, err)
	var answers []*types.Relay
	for i := 0; i < 10; i++ {
		a := &types.Relay{Req: req, Res: relaytest.Answer(t, req, f.bobKey, []byte(fmt.Sprintf(`{"answer":%d}`, i)))}
		require.Equal(t, key, relayKey(t, a), "every answer has the request's key")
		require.NoError(t, protocol.VerifyResponseSignature(a.Res, f.bobKey.Key.PubKey()), "and is genuinely signed")
		answers = append(answers, a)
	}

	// Two answers on the key's path cannot be in one trie.
	two := []protocol.TrieLeaf{relaytest.Leaf(t, answers[0], ethComputeUnits), relaytest.Leaf(t, answers[1], ethComputeUnits)}
	_, err = protocol.BuildTrie(&relaytest.SliceLeaves{Leaves: two}, relaytest.NewNodes())
	require.Error(t, err, "a path holds one leaf")

	// So the copies go anywhere else: here on the path of their own value.
	leaves := []protocol.TrieLeaf{relaytest.Leaf(t, answers[0], ethComputeUnits)}
	copies := map[string]bool{}
	for _, a := range answers[1:] {
		l := relaytest.Leaf(t, a, ethComputeUnits)
		l.Path = protocol.LeafPath(l.Value)
		copies[string(l.Value)] = true
		leaves = append(leaves, l)
	}
	for _, r := range honest {
		leaves = append(leaves, relaytest.Leaf(t, r, ethComputeUnits))
	}
	tr := relaytest.BuildTree(t, leaves...)
	f.advanceTo(f.w.ClaimWindowOpen)
	require.NoError(t, f.claim(f.bob, tr.Root), "the claim's sum and count are consistent")
	f.advanceTo(f.w.ProofWindowOpen)
	claim := f.claimed(f.bob, tr.Root)

	// Each leaf, opened at a point of its own interval, through the
	// keeper's check of a leaf proof.
	rejected := 0
	for i, l := range tr.Leaves {
		pt := uint64(i)*ethComputeUnits + 1
		p := tr.Prove(t, pt)
		require.Equal(t, l.Value, p.Leaf)
		err := f.k.VerifyLeafProofAt(f.ctx, claim, pt, &p)
		if copies[string(l.Value)] {
			require.ErrorIs(t, err, types.ErrInvalidProof, "leaf %d is a copy off its key's path", i)
			rejected++
		} else {
			require.NoError(t, err, "leaf %d is a served relay on its key's path", i)
		}
	}
	require.Equal(t, 9, rejected)

	// A proof of a copy, submitted for a drawn point, is rejected whatever
	// the point: it does not hash up to the root along its key's path.
	var copyProof types.LeafProof
	for i, l := range tr.Leaves {
		if copies[string(l.Value)] {
			copyProof = tr.Prove(t, uint64(i)*ethComputeUnits)
			break
		}
	}
	proofs := f.proofsOf(t, tr, f.bob)
	proofs[0] = copyProof
	require.ErrorIs(t, f.prove(f.bob, proofs), types.ErrInvalidProof)

	passRate := f.payoutOverDraws(t, tr.Root, func(pt uint64) (types.LeafProof, error) {
		return protocol.ProveLeaf(tr.Nodes, tr.Root, pt)
	})
	f.requirePaidAtMostHonestWork(t, passRate, 30, 21)
}

// TestAttack_DifficultyGrinding: under a target met by 1 relay in 4, only
// relays minable under the claim seed (the block after the grace period,
// unknown while relays are served) count. A supplier cannot choose the
// seed, nor change a relay's key: re-answering changes the response only,
// and re-rolling the nonce voids the application's signature.
func TestAttack_DifficultyGrinding(t *testing.T) {
	quarter := target(0x3f)
	const n = 6
	// by returns n relays r (made by next) with minableUnder(r) true under
	// seed and, if notUnderClaimSeed, not minable under the claim seed.
	by := func(t *testing.T, f claimFixture, seed []byte, notUnderClaimSeed bool) []*types.Relay {
		var out []*types.Relay
		for i := 0; len(out) < n; i++ {
			r := relaytest.NewRelay(t, f.hdr, f.aliceKey, f.bobKey, i)
			k := relayKey(t, r)
			if protocol.IsMinable(seed, k, quarter) && (!notUnderClaimSeed || !protocol.IsMinable(f.claimSeed(), k, quarter)) {
				out = append(out, r)
			}
		}
		return out
	}
	tests := []struct {
		name   string
		relays func(t *testing.T, f claimFixture) []*types.Relay
		err    error
	}{
		{"minable under the claim seed (control)", func(t *testing.T, f claimFixture) []*types.Relay {
			return by(t, f, f.claimSeed(), false)
		}, nil},
		{"not minable under the claim seed", func(t *testing.T, f claimFixture) []*types.Relay {
			return relaysByTarget(t, f.hdr, f.aliceKey, f.bobKey, n, f.claimSeed(), quarter, false)
		}, types.ErrRelayAboveDifficulty},
		{"minable under the session's seed block only", func(t *testing.T, f claimFixture) []*types.Relay {
			return by(t, f, blockHashOf(protocol.SessionSeedHeight(f.hdr.SessionStartBlockHeight)), true)
		}, types.ErrRelayAboveDifficulty},
		{"minable under the grace period's last block only", func(t *testing.T, f claimFixture) []*types.Relay {
			return by(t, f, blockHashOf(f.w.GracePeriodEnd), true)
		}, types.ErrRelayAboveDifficulty},
		{"minable under the proof seed only", func(t *testing.T, f claimFixture) []*types.Relay {
			return by(t, f, f.proofSeed(), true)
		}, types.ErrRelayAboveDifficulty},
		{"not minable, answered again with other bodies until minable", func(t *testing.T, f claimFixture) []*types.Relay {
			rs := relaysByTarget(t, f.hdr, f.aliceKey, f.bobKey, n, f.claimSeed(), quarter, false)
			for _, r := range rs {
				key := relayKey(t, r)
				for i := 0; i < 32; i++ {
					r.Res = relaytest.Answer(t, r.Req, f.bobKey, []byte(fmt.Sprintf(`{"try":%d}`, i)))
					require.Equal(t, key, relayKey(t, r), "the key is the request's: the response cannot move it")
					require.False(t, protocol.IsMinable(f.claimSeed(), relayKey(t, r), quarter))
				}
			}
			return rs
		}, types.ErrRelayAboveDifficulty},
		{"nonce re-rolled by the supplier until minable", func(t *testing.T, f claimFixture) []*types.Relay {
			rs := relaysByTarget(t, f.hdr, f.aliceKey, f.bobKey, n, f.claimSeed(), quarter, false)
			for _, r := range rs {
				for i := 0; !protocol.IsMinable(f.claimSeed(), relayKey(t, r), quarter); i++ {
					r.Req.Meta.Nonce = binary.BigEndian.AppendUint64(nil, uint64(i))
				}
				r.Res = relaytest.Answer(t, r.Req, f.bobKey, []byte(`{"result":"0x1"}`))
			}
			return rs
		}, types.ErrInvalidAppSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newClaimFixture(t, withTarget("eth", quarter))
			tr := relaytest.NewTree(t, ethComputeUnits, tc.relays(t, f)...)
			err := f.claimAndProve(t, tr, nil)
			if tc.err == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.err)
		})
	}
}

// fabricatedTrie is bob's trie of 40 honest relays, all under path bit 0,
// with fabricated weight as the root's right subtree.
type fabricatedTrie struct {
	*relaytest.Tree
	honestRelays, claimedRelays uint64
	// honestEnd is where the honest weight ends: points at or above it land
	// in the fabricated weight.
	honestEnd uint64
}

// fabricate builds bob's honest relays under bit 0 and makes right(honest
// left subtree) the root's right child, storing any nodes it adds.
func (cf claimFixture) fabricate(t *testing.T, right func(tr *relaytest.Tree, fabricatedRelays uint64) []byte) fabricatedTrie {
	t.Helper()
	const honestRelays = 40
	tr := relaytest.NewTree(t, ethComputeUnits, cf.relaysUnder(t, honestRelays, "0")...)
	enc, err := tr.Node(tr.Root[:sha256.Size])
	require.NoError(t, err)
	left := enc[1 : 1+protocol.NodeSize]
	require.Equal(t, make([]byte, protocol.NodeSize), enc[1+protocol.NodeSize:], "the honest trie's right half is empty")
	// The fabricated weight is 60% of the claim or more: the first size
	// for which the chain draws a point in it.
	for fab := uint64(60); ; fab++ {
		require.Less(t, fab, uint64(200), "no point drawn in the fabricated weight")
		sum := (honestRelays + fab) * ethComputeUnits
		var hit bool
		for _, pt := range protocol.ProofPoints(cf.proofSeed(), cf.hdr.SessionId, cf.bob, sum, cf.params.NumProofsPerClaim) {
			hit = hit || pt >= honestRelays*ethComputeUnits
		}
		if !hit {
			continue
		}
		r := right(tr, fab)
		root, err := protocol.InnerNode(left, r)
		require.NoError(t, err)
		require.NoError(t, tr.PutNode(root[:sha256.Size], append(append([]byte{1}, left...), r...)))
		tr.Root = root
		parsed, err := protocol.ParseRoot(root)
		require.NoError(t, err)
		require.Equal(t, sum, parsed.Sum)
		require.Equal(t, honestRelays+fab, parsed.Count, "the claim's sum is count x compute units per relay: it is accepted")
		return fabricatedTrie{Tree: tr, honestRelays: honestRelays, claimedRelays: honestRelays + fab, honestEnd: honestRelays * ethComputeUnits}
	}
}

// madeUpNode is a node hash with a random digest and the given sum and
// count, whose preimage nobody knows.
func madeUpNode(sum, count uint64) []byte {
	n := make([]byte, protocol.NodeSize)
	_, _ = rand.New(rand.NewSource(int64(sum*1_000_003 + count))).Read(n[:sha256.Size])
	binary.BigEndian.PutUint64(n[sha256.Size:], sum)
	binary.BigEndian.PutUint64(n[sha256.Size+8:], count)
	return n
}

// TestAttack_FabricatedWeight: bob claims 40 served relays plus weight no
// relay carries, consistent in the claim's sum and count so the claim is
// accepted: (1) one genuine relay's leaf claiming the weight of many, its
// count padded by a made-up zero-weight node; (2) a made-up right subtree.
// When a drawn point lands in that weight no proof passes: the heavy
// leaf's own proof fails the root (ErrInvalidProof), an honest leaf's proof
// does not hold the point (ErrProofPointMismatch), a leaf made up under the
// made-up node fails the root (ErrInvalidProof). Over many proof seeds the
// claim's expected payout stays at most the honest work.
func TestAttack_FabricatedWeight(t *testing.T) {
	heavyLeaf := func(t *testing.T, f claimFixture) fabricatedTrie {
		return f.fabricate(t, func(tr *relaytest.Tree, fab uint64) []byte {
			// A genuine relay of bob on path 10…, weighing all the
			// fabricated weight, beside a zero-weight node holding the
			// count the weight would need.
			heavy := relaytest.Leaf(t, f.relaysUnder(t, 1, "10")[0], fab*ethComputeUnits)
			leaf := protocol.LeafNode(heavy.Path, heavy.Value, heavy.Weight)
			require.NoError(t, tr.PutNode(leaf[:sha256.Size], append([]byte{0}, heavy.Path...)))
			tr.Values[string(heavy.Path)] = heavy.Value
			pad := madeUpNode(0, fab-1)
			right, err := protocol.InnerNode(leaf, pad)
			require.NoError(t, err)
			require.NoError(t, tr.PutNode(right[:sha256.Size], append(append([]byte{1}, leaf...), pad...)))
			return right
		})
	}
	madeUpSubtree := func(t *testing.T, f claimFixture) fabricatedTrie {
		return f.fabricate(t, func(_ *relaytest.Tree, fab uint64) []byte {
			return madeUpNode(fab*ethComputeUnits, fab)
		})
	}
	// Proofs the attacker can submit for a point in the fabricated weight.
	ownProof := func(t *testing.T, f claimFixture, ft fabricatedTrie, pt uint64) types.LeafProof {
		return ft.Prove(t, pt)
	}
	honestNeighbour := func(t *testing.T, f claimFixture, ft fabricatedTrie, _ uint64) types.LeafProof {
		return ft.Prove(t, ft.honestEnd-1)
	}
	madeUpLeaf := func(t *testing.T, f claimFixture, ft fabricatedTrie, _ uint64) types.LeafProof {
		// A genuine relay on path 1…, claimed to be the right child.
		l := relaytest.Leaf(t, f.relaysUnder(t, 1, "1")[0], ethComputeUnits)
		enc, err := ft.Node(ft.Root[:sha256.Size])
		require.NoError(t, err)
		return types.LeafProof{Leaf: l.Value, SideNodes: [][]byte{bytes.Clone(enc[1 : 1+protocol.NodeSize])}}
	}
	tests := []struct {
		name  string
		trie  func(t *testing.T, f claimFixture) fabricatedTrie
		proof func(t *testing.T, f claimFixture, ft fabricatedTrie, pt uint64) types.LeafProof
		err   error
	}{
		{"heavy leaf: its own proof", heavyLeaf, ownProof, types.ErrInvalidProof},
		{"heavy leaf: an honest leaf's proof", heavyLeaf, honestNeighbour, types.ErrProofPointMismatch},
		{"made-up subtree: an honest leaf's proof", madeUpSubtree, honestNeighbour, types.ErrProofPointMismatch},
		{"made-up subtree: a leaf made up under it", madeUpSubtree, madeUpLeaf, types.ErrInvalidProof},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newClaimFixture(t)
			ft := tc.trie(t, f)
			f.advanceTo(f.w.ClaimWindowOpen)
			require.NoError(t, f.claim(f.bob, ft.Root))
			f.advanceTo(f.w.ProofWindowOpen)
			var proofs []types.LeafProof
			fabricatedAt := -1
			for i, pt := range f.points(t, f.bob, ft.Root) {
				if pt < ft.honestEnd {
					proofs = append(proofs, ft.Prove(t, pt))
					continue
				}
				if fabricatedAt < 0 {
					fabricatedAt = i
				}
				proofs = append(proofs, tc.proof(t, f, ft, pt))
			}
			require.GreaterOrEqual(t, fabricatedAt, 0)
			err := f.prove(f.bob, proofs)
			require.ErrorIs(t, err, tc.err)
			require.ErrorContains(t, err, fmt.Sprintf("proofs[%d]", fabricatedAt), "the proof for the fabricated weight is the one rejected")

			// The honest part of the same trie proves.
			claim := f.claimed(f.bob, ft.Root)
			for pt := uint64(0); pt < ft.honestEnd; pt += 7 {
				p := ft.Prove(t, pt)
				require.NoError(t, f.k.VerifyLeafProofAt(f.ctx, claim, pt, &p), "point %d", pt)
			}
		})
	}
	for name, trie := range map[string]func(t *testing.T, f claimFixture) fabricatedTrie{"heavy leaf": heavyLeaf, "made-up subtree": madeUpSubtree} {
		t.Run(name+": expected payout over many proof seeds", func(t *testing.T) {
			f := newClaimFixture(t)
			ft := trie(t, f)
			f.advanceTo(f.w.ProofWindowOpen) // the claim seed block exists
			passRate := f.payoutOverDraws(t, ft.Root, func(pt uint64) (types.LeafProof, error) {
				return protocol.ProveLeaf(ft.Nodes, ft.Root, pt)
			})
			f.requirePaidAtMostHonestWork(t, passRate, ft.claimedRelays, ft.honestRelays)
		})
	}
}

// TestAttack_RefusedRelay: a response carrying a relay error says the
// relay was not served, even when the supplier signed it; a claimed leaf
// of one is rejected with ErrRelayRefused.
func TestAttack_RefusedRelay(t *testing.T) {
	refuse := func(payload []byte) func(t *testing.T, f claimFixture, r *types.Relay) {
		return func(t *testing.T, f claimFixture, r *types.Relay) {
			h := f.hdr
			r.Res = &types.RelayResponse{
				Meta:    types.RelayResponseMetadata{SessionHeader: &h, RelayKey: relayKey(t, r)},
				Error:   &types.RelayError{Codespace: "relayminer", Code: 3, Message: "backend unavailable"},
				Payload: payload,
			}
			relaytest.SignResponse(t, r.Res, f.bobKey.Key)
		}
	}
	tests := []struct {
		name   string
		answer func(t *testing.T, f claimFixture, r *types.Relay)
		err    error
	}{
		{"served (control)", func(*testing.T, claimFixture, *types.Relay) {}, nil},
		{"refused, no payload", refuse(nil), types.ErrRelayRefused},
		{"refused, with a payload", refuse([]byte("upstream said no")), types.ErrRelayRefused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newClaimFixture(t)
			relays := newRelays(t, f.hdr, f.aliceKey, f.bobKey, 20)
			for _, r := range relays {
				tc.answer(t, f, r)
				require.NoError(t, protocol.VerifyResponseSignature(r.Res, f.bobKey.Key.PubKey()))
			}
			err := f.claimAndProve(t, relaytest.NewTree(t, ethComputeUnits, relays...), nil)
			if tc.err == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.err)
		})
	}
}

// TestAttack_ResponseMovedOntoAnotherRequest: a response names the key of
// the request it answers (relay_key, under the supplier's signature), so a
// genuine response cannot be paired with another request, nor a request
// changed after it was answered: ErrRelayResponseMismatch.
func TestAttack_ResponseMovedOntoAnotherRequest(t *testing.T) {
	tests := []struct {
		name string
		// pair builds the claimed relays from 21 honest ones.
		pair func(t *testing.T, f claimFixture, rs []*types.Relay) []*types.Relay
		err  error
	}{
		{"each response with its request (control)", func(_ *testing.T, _ claimFixture, rs []*types.Relay) []*types.Relay {
			return rs[1:]
		}, nil},
		{"each response with the next request", func(_ *testing.T, _ claimFixture, rs []*types.Relay) []*types.Relay {
			var out []*types.Relay
			for i := 1; i < len(rs); i++ {
				out = append(out, &types.Relay{Req: rs[i].Req, Res: rs[i-1].Res})
			}
			return out
		}, types.ErrRelayResponseMismatch},
		{"one response for every request", func(_ *testing.T, _ claimFixture, rs []*types.Relay) []*types.Relay {
			var out []*types.Relay
			for _, r := range rs[1:] {
				out = append(out, &types.Relay{Req: r.Req, Res: rs[0].Res})
			}
			return out
		}, types.ErrRelayResponseMismatch},
		{"responses without a relay key (signed so)", func(t *testing.T, f claimFixture, rs []*types.Relay) []*types.Relay {
			for _, r := range rs[1:] {
				r.Res.Meta.RelayKey = nil
				relaytest.SignResponse(t, r.Res, f.bobKey.Key)
			}
			return rs[1:]
		}, types.ErrRelayResponseMismatch},
		{"requests changed after they were answered", func(t *testing.T, f claimFixture, rs []*types.Relay) []*types.Relay {
			for _, r := range rs[1:] {
				tamperRequestPayload(t)(r)
			}
			return rs[1:]
		}, types.ErrRelayResponseMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newClaimFixture(t)
			relays := tc.pair(t, f, newRelays(t, f.hdr, f.aliceKey, f.bobKey, 21))
			err := f.claimAndProve(t, relaytest.NewTree(t, ethComputeUnits, relays...), nil)
			if tc.err == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.err)
		})
	}
}
