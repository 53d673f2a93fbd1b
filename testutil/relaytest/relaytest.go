package relaytest

import (
	"fmt"
	"testing"

	"github.com/cosmos/cosmos-sdk/crypto/keys/secp256k1"
	cryptotypes "github.com/cosmos/cosmos-sdk/crypto/types"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/pokt-network/smt"
	"github.com/pokt-network/smt/kvstore/simplemap"
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

// NewRelay builds a relay of session hdr, request signed by app and
// response signed by supplier; n makes its payload unique.
func NewRelay(t testing.TB, hdr types.SessionHeader, app, supplier Actor, n int) *types.Relay {
	t.Helper()
	reqPayload, err := (&types.HTTPRequest{
		Method: "POST", Path: "/",
		Headers: []types.Header{{Name: "Content-Type", Values: []string{"application/json"}}},
		Body:    []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"eth_blockNumber","params":[]}`, n)),
	}).Marshal()
	require.NoError(t, err)
	resPayload, err := (&types.HTTPResponse{
		StatusCode: 200,
		Body:       []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"result":"0x%x"}`, n, n)),
	}).Marshal()
	require.NoError(t, err)
	h := hdr
	req := &types.RelayRequest{
		Meta:    types.RelayRequestMetadata{SessionHeader: &h, SupplierOperatorAddress: supplier.Address},
		Payload: reqPayload,
	}
	SignRequest(t, req, app.Key)
	res := &types.RelayResponse{Meta: types.RelayResponseMetadata{SessionHeader: &h}, Payload: resPayload}
	SignResponse(t, res, supplier.Key)
	return &types.Relay{Req: req, Res: res}
}

// Tree is an in-memory session tree built the RelayMiner's way.
type Tree struct {
	Trie   smt.SparseMerkleSumTrie
	Relays [][]byte
}

// NewTree inserts relays with weight computeUnits each.
func NewTree(t testing.TB, computeUnits uint64, relays ...*types.Relay) *Tree {
	t.Helper()
	tr := &Tree{Trie: protocol.NewSMST(simplemap.NewSimpleMap())}
	for _, r := range relays {
		b, err := protocol.RelayBytes(r)
		require.NoError(t, err)
		require.NoError(t, protocol.InsertRelay(tr.Trie, b, computeUnits))
		tr.Relays = append(tr.Relays, b)
	}
	require.NoError(t, tr.Trie.Commit())
	return tr
}

// Root is the tree's root hash, as claimed.
func (tr *Tree) Root() []byte { return tr.Trie.Root() }

// Prove returns the closest proof for path, as submitted.
func (tr *Tree) Prove(t testing.TB, path []byte) []byte {
	t.Helper()
	p, err := protocol.ProveClosest(tr.Trie, path)
	require.NoError(t, err)
	return p
}
