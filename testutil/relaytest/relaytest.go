// Package relaytest builds signed relays, claim tries and their proofs the
// way the RelayMiner does, for tests of the keeper, the RelayMiner and the
// protocol rules. It also builds the tries a dishonest supplier could
// (arbitrary paths and weights), so tests can try them on the verifier.
package relaytest

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"slices"
	"testing"

	"github.com/cosmos/cosmos-sdk/crypto/keys/secp256k1"
	cryptotypes "github.com/cosmos/cosmos-sdk/crypto/types"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// Actor is a key pair with its account address.
type Actor struct {
	Key     cryptotypes.PrivKey
	Address string
}

// NewActor makes a fresh secp256k1 actor.
func NewActor() Actor {
	k := secp256k1.GenPrivKey()
	return Actor{Key: k, Address: sdk.AccAddress(k.PubKey().Address()).String()}
}

// SignRequest signs req as the application.
func SignRequest(t testing.TB, req *types.RelayRequest, app cryptotypes.PrivKey) {
	t.Helper()
	b, err := protocol.RequestSignableBytes(req)
	require.NoError(t, err)
	req.Meta.Signature, err = app.Sign(b)
	require.NoError(t, err)
}

// SignResponse signs res as the supplier.
func SignResponse(t testing.TB, res *types.RelayResponse, supplier cryptotypes.PrivKey) {
	t.Helper()
	b, err := protocol.ResponseSignableBytes(res)
	require.NoError(t, err)
	res.Meta.SupplierSignature, err = supplier.Sign(b)
	require.NoError(t, err)
}

// NewRequest builds a request of session hdr to supplier, signed by app,
// with a fresh random nonce (as the AppGate sends); n goes in its body.
func NewRequest(t testing.TB, hdr types.SessionHeader, app Actor, supplier string, n int) *types.RelayRequest {
	t.Helper()
	payload, err := (&types.HTTPRequest{
		Method: "POST", Path: "/",
		Headers: []types.Header{{Name: "Content-Type", Values: []string{"application/json"}}},
		Body:    []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"eth_blockNumber","params":[]}`, n)),
	}).Marshal()
	require.NoError(t, err)
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	h := hdr
	req := &types.RelayRequest{
		Meta:    types.RelayRequestMetadata{SessionHeader: &h, SupplierOperatorAddress: supplier, Nonce: nonce},
		Payload: payload,
	}
	SignRequest(t, req, app.Key)
	return req
}

// Answer builds the supplier's signed response to req with body.
func Answer(t testing.TB, req *types.RelayRequest, supplier Actor, body []byte) *types.RelayResponse {
	t.Helper()
	payload, err := (&types.HTTPResponse{StatusCode: 200, Body: body}).Marshal()
	require.NoError(t, err)
	key, err := protocol.RelayKey(req)
	require.NoError(t, err)
	h := *req.Meta.SessionHeader
	res := &types.RelayResponse{Meta: types.RelayResponseMetadata{SessionHeader: &h, RelayKey: key}, Payload: payload}
	SignResponse(t, res, supplier.Key)
	return res
}

// NewRelay builds a relay of session hdr, request signed by app and
// response signed by supplier; n makes its payload unique.
func NewRelay(t testing.TB, hdr types.SessionHeader, app, supplier Actor, n int) *types.Relay {
	t.Helper()
	req := NewRequest(t, hdr, app, supplier.Address, n)
	return &types.Relay{Req: req, Res: Answer(t, req, supplier, []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"result":"0x%x"}`, n, n)))}
}

// Leaf is relay's honest trie leaf: its compact canonical bytes on the path
// of its request's key, weighing computeUnits.
func Leaf(t testing.TB, relay *types.Relay, computeUnits uint64) protocol.TrieLeaf {
	t.Helper()
	value, err := protocol.LeafBytes(relay)
	require.NoError(t, err)
	key, err := protocol.RelayKey(relay.Req)
	require.NoError(t, err)
	return protocol.TrieLeaf{Path: protocol.LeafPath(key), Value: value, Weight: computeUnits}
}

// Tree is a claim trie held in memory.
type Tree struct {
	Nodes
	Root   []byte
	Leaves []protocol.TrieLeaf // in path order
}

// NewTree builds the honest trie of relays, each weighing computeUnits (the
// RelayMiner's way, every relay minable).
func NewTree(t testing.TB, computeUnits uint64, relays ...*types.Relay) *Tree {
	t.Helper()
	leaves := make([]protocol.TrieLeaf, len(relays))
	for i, r := range relays {
		leaves[i] = Leaf(t, r, computeUnits)
	}
	return BuildTree(t, leaves...)
}

// BuildTree builds a trie over any leaves, honest or not: they are sorted by
// path, and each path must be unique.
func BuildTree(t testing.TB, leaves ...protocol.TrieLeaf) *Tree {
	t.Helper()
	sorted := slices.Clone(leaves)
	slices.SortFunc(sorted, func(a, b protocol.TrieLeaf) int { return bytes.Compare(a.Path, b.Path) })
	tr := &Tree{Nodes: NewNodes(), Leaves: sorted}
	for _, l := range sorted {
		tr.Values[string(l.Path)] = l.Value
	}
	root, err := protocol.BuildTrie(&SliceLeaves{Leaves: sorted}, tr.Nodes)
	require.NoError(t, err)
	tr.Root = root
	return tr
}

// Prove opens the leaf holding point.
func (tr *Tree) Prove(t testing.TB, point uint64) types.LeafProof {
	t.Helper()
	p, err := protocol.ProveLeaf(tr.Nodes, tr.Root, point)
	require.NoError(t, err)
	return p
}

// ProveClaim returns the k leaf proofs of a claim of this trie, for the
// points drawn from the proof seed block hash, as submitted.
func (tr *Tree) ProveClaim(t testing.TB, seed []byte, sessionID, supplier string, k uint64) []types.LeafProof {
	t.Helper()
	root, err := protocol.ParseRoot(tr.Root)
	require.NoError(t, err)
	var out []types.LeafProof
	for _, pt := range protocol.ProofPoints(seed, sessionID, supplier, root.Sum, k) {
		out = append(out, tr.Prove(t, pt))
	}
	return out
}

// Nodes is an in-memory protocol.NodeWriter and NodeReader.
type Nodes struct {
	ByDigest map[string][]byte
	Values   map[string][]byte // leaf values by path
}

// NewNodes is an empty node store.
func NewNodes() Nodes {
	return Nodes{ByDigest: map[string][]byte{}, Values: map[string][]byte{}}
}

// PutNode implements protocol.NodeWriter.
func (n Nodes) PutNode(digest, encoded []byte) error {
	n.ByDigest[string(digest)] = bytes.Clone(encoded)
	return nil
}

// Node implements protocol.NodeReader.
func (n Nodes) Node(digest []byte) ([]byte, error) {
	v, ok := n.ByDigest[string(digest)]
	if !ok {
		return nil, fmt.Errorf("no node %x", digest)
	}
	return v, nil
}

// LeafValue implements protocol.NodeReader.
func (n Nodes) LeafValue(path []byte) ([]byte, error) {
	v, ok := n.Values[string(path)]
	if !ok {
		return nil, fmt.Errorf("no leaf at %x", path)
	}
	return v, nil
}

// SliceLeaves is a protocol.LeafSource over a slice.
type SliceLeaves struct {
	Leaves []protocol.TrieLeaf
	i      int
}

// Next implements protocol.LeafSource.
func (s *SliceLeaves) Next() (protocol.TrieLeaf, bool, error) {
	if s.i >= len(s.Leaves) {
		return protocol.TrieLeaf{}, false, nil
	}
	s.i++
	return s.Leaves[s.i-1], true, nil
}
