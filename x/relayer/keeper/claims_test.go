package keeper_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"
	"github.com/cosmos/cosmos-sdk/crypto/keys/secp256k1"
	cryptotypes "github.com/cosmos/cosmos-sdk/crypto/types"
	"github.com/pokt-network/smt"
	"github.com/pokt-network/smt/kvstore/simplemap"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

func privKeyOf(name string) cryptotypes.PrivKey { return secp256k1.GenPrivKeyFromSecret([]byte(name)) }

// signedRelayBytes is relay i of session hdr, addressed to supplier, its
// request signed by appKey and its response by supKey.
func signedRelayBytes(t *testing.T, hdr types.SessionHeader, supplier string, appKey, supKey cryptotypes.PrivKey, i int) []byte {
	t.Helper()
	reqHdr, resHdr := hdr, hdr
	req := &types.RelayRequest{
		Meta:    types.RelayRequestMetadata{SessionHeader: &reqHdr, SupplierOperatorAddress: supplier},
		Payload: []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"eth_blockNumber"}`, i)),
	}
	bz, err := protocol.RequestSignableBytes(req)
	require.NoError(t, err)
	req.Meta.Signature, err = appKey.Sign(bz)
	require.NoError(t, err)
	res := &types.RelayResponse{Meta: types.RelayResponseMetadata{SessionHeader: &resHdr}, Payload: []byte(fmt.Sprintf(`{"id":%d,"result":"0x1"}`, i))}
	bz, err = protocol.ResponseSignableBytes(res)
	require.NoError(t, err)
	res.Meta.SupplierSignature, err = supKey.Sign(bz)
	require.NoError(t, err)
	relay, err := protocol.RelayBytes(&types.Relay{Req: req, Res: res})
	require.NoError(t, err)
	return relay
}

// relayTrie is a supplier's SMST of n relays of computeUnits each.
func relayTrie(t *testing.T, hdr types.SessionHeader, supplier string, appKey, supKey cryptotypes.PrivKey, n int, computeUnits uint64) smt.SparseMerkleSumTrie {
	t.Helper()
	trie := protocol.NewSMST(simplemap.NewSimpleMap())
	for i := 0; i < n; i++ {
		require.NoError(t, protocol.InsertRelay(trie, signedRelayBytes(t, hdr, supplier, appKey, supKey, i), computeUnits))
	}
	return trie
}

// rootOf builds a root hash digest ‖ sum ‖ count by hand.
func rootOf(sum, count uint64) []byte {
	root := bytes.Repeat([]byte{0xab}, 32)
	root = binary.BigEndian.AppendUint64(root, sum)
	return binary.BigEndian.AppendUint64(root, count)
}

// claimFixture: service eth (2 compute units per relay), app alice, and
// suppliers bob and carol, all active from 5. Session 5-8's windows: claims
// 10-14, proof seed 14, proofs 15-19.
type claimFixture struct {
	*fixture
	alice, bob, carol string
	hdr               types.SessionHeader
}

const ethComputeUnits = 2

func newClaimFixture(t *testing.T) claimFixture {
	f := newFixture(t)
	f.addService("eth", ethComputeUnits)
	cf := claimFixture{
		fixture: f,
		alice:   f.newAccount("alice", 10_000_000),
		bob:     f.newAccount("bob", 10_000_000),
		carol:   f.newAccount("carol", 10_000_000),
	}
	f.stakeApp(cf.alice, 2_000_000, "eth")
	f.stakeSupplier(cf.bob, 2_000_000, "eth")
	f.stakeSupplier(cf.carol, 2_000_000, "eth")
	f.advanceTo(6)
	s, err := f.k.GetSession(f.ctx, cf.alice, "eth", 6)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{cf.bob, cf.carol}, operators(s.Suppliers))
	cf.hdr = s.Header
	return cf
}

func TestClaimsAndProofs_SettleAtProofWindowClose(t *testing.T) {
	f := newClaimFixture(t)
	alicePriv, bobPriv, carolPriv := privKeyOf("alice"), privKeyOf("bob"), privKeyOf("carol")
	bobTrie := relayTrie(t, f.hdr, f.bob, alicePriv, bobPriv, 10, ethComputeUnits)
	// carol's relays carry a forged application signature.
	carolTrie := relayTrie(t, f.hdr, f.carol, privKeyOf("mallory"), carolPriv, 5, ethComputeUnits)
	claim := func(sup string, root []byte) error {
		_, err := f.msgs.CreateClaim(f.ctx, &types.MsgCreateClaim{SupplierOperatorAddress: sup, SessionHeader: f.hdr, RootHash: root})
		return err
	}
	prove := func(sup string, proof []byte) error {
		_, err := f.msgs.SubmitProof(f.ctx, &types.MsgSubmitProof{SupplierOperatorAddress: sup, SessionHeader: f.hdr, Proof: proof})
		return err
	}

	f.advanceTo(9)
	require.ErrorIs(t, claim(f.bob, bobTrie.Root()), types.ErrOutsideClaimWindow, "grace period")

	f.advanceTo(10)
	f.resetEvents()
	require.NoError(t, claim(f.bob, bobTrie.Root()))
	created := eventsOf[*types.EventClaimCreated](f.fixture)
	require.Len(t, created, 1)
	require.Equal(t, uint64(10), created[0].NumRelays)
	require.Equal(t, uint64(20), created[0].NumClaimedComputeUnits)
	wantClaim := types.Claim{SupplierOperatorAddress: f.bob, SessionHeader: f.hdr, RootHash: bobTrie.Root(), ProofWindowCloseHeight: 19}
	require.Equal(t, wantClaim, created[0].Claim)
	q, err := f.queries.Claim(f.ctx, &types.QueryClaimRequest{SessionId: f.hdr.SessionId, SupplierOperatorAddress: f.bob})
	require.NoError(t, err)
	require.Equal(t, wantClaim, q.Claim)
	require.ErrorIs(t, claim(f.bob, bobTrie.Root()), types.ErrClaimExists)

	_, err = f.queries.ProofRequirement(f.ctx, &types.QueryProofRequirementRequest{SessionId: f.hdr.SessionId, SupplierOperatorAddress: f.bob})
	require.ErrorIs(t, err, types.ErrBlockHashUnknown, "the proof seed block 14 does not exist yet")

	f.advanceTo(14)
	require.NoError(t, claim(f.carol, carolTrie.Root()), "last height of the claim window")
	require.ErrorIs(t, prove(f.bob, []byte{1}), types.ErrOutsideProofWindow)

	f.advanceTo(15)
	require.ErrorIs(t, claim(f.carol, carolTrie.Root()), types.ErrOutsideClaimWindow)
	req, err := f.queries.ProofRequirement(f.ctx, &types.QueryProofRequirementRequest{SessionId: f.hdr.SessionId, SupplierOperatorAddress: f.bob})
	require.NoError(t, err)
	require.True(t, req.Required, "proof_request_probability_ppm is 10^6")
	require.Equal(t, int64(14), req.SeedBlockHeight)

	path := protocol.ProofPath(blockHashOf(14), f.hdr.SessionId)
	otherPath := protocol.ProofPath(blockHashOf(13), f.hdr.SessionId)
	wrongPathProof, err := protocol.ProveClosest(bobTrie, otherPath)
	require.NoError(t, err)
	require.ErrorIs(t, prove(f.bob, wrongPathProof), types.ErrProofPathMismatch)
	require.ErrorIs(t, prove(f.bob, []byte("garbage")), types.ErrInvalidProof)
	carolProof, err := protocol.ProveClosest(bobTrie, path) // bob's proof does not verify in carol's trie
	require.NoError(t, err)
	require.ErrorIs(t, prove(f.carol, carolProof), types.ErrInvalidProof)
	carolProof, err = protocol.ProveClosest(carolTrie, path)
	require.NoError(t, err)
	require.ErrorIs(t, prove(f.carol, carolProof), types.ErrInvalidAppSignature)
	stranger := f.newAccount("stranger", 0)
	require.ErrorIs(t, prove(stranger, carolProof), types.ErrClaimNotFound)

	bobProof, err := protocol.ProveClosest(bobTrie, path)
	require.NoError(t, err)
	f.resetEvents()
	require.NoError(t, prove(f.bob, bobProof))
	require.Len(t, eventsOf[*types.EventProofSubmitted](f.fixture), 1)
	require.ErrorIs(t, prove(f.bob, bobProof), types.ErrProofExists)

	// Settlement at the end of block 19: bob is paid 10 relays x 2 compute
	// units x multiplier 1 = 20 out of alice's stake; carol, who could not
	// prove, loses the missing-proof penalty (burned).
	f.advanceTo(19)
	bobBefore, moduleBefore := f.balance(f.bob), f.moduleBalance()
	f.resetEvents()
	f.endBlock()
	require.Equal(t, bobBefore.AddRaw(20), f.balance(f.bob))
	app, err := f.k.Applications.Get(f.ctx, f.alice)
	require.NoError(t, err)
	require.Equal(t, coin(2_000_000-20), app.Stake)
	carol, err := f.k.Suppliers.Get(f.ctx, f.carol)
	require.NoError(t, err)
	require.Equal(t, coin(2_000_000-100_000), carol.Stake)
	require.Equal(t, sdkmath.NewInt(100_000), f.bank.burned.AmountOf(denom))
	require.Equal(t, moduleBefore.SubRaw(20+100_000), f.moduleBalance())

	settled := eventsOf[*types.EventClaimSettled](f.fixture)
	require.Len(t, settled, 1)
	require.Equal(t, coin(20), settled[0].Amount)
	require.True(t, settled[0].ProofRequired)
	require.False(t, settled[0].Capped)
	expired := eventsOf[*types.EventClaimExpired](f.fixture)
	require.Len(t, expired, 1)
	require.Equal(t, f.carol, expired[0].Claim.SupplierOperatorAddress)
	require.Len(t, eventsOf[*types.EventSupplierSlashed](f.fixture), 1)

	all, err := f.queries.Claims(f.ctx, &types.QueryClaimsRequest{})
	require.NoError(t, err)
	require.Empty(t, all.Claims, "settled claims are removed")
	has, err := f.k.Proofs.Has(f.ctx, collections.Join(f.hdr.SessionId, f.bob))
	require.NoError(t, err)
	require.False(t, has, "and their proofs")
}

func TestCreateClaim_Rejections(t *testing.T) {
	f := newClaimFixture(t)
	f.advanceTo(10)
	stranger := f.newAccount("stranger", 0)
	late := f.newAccount("late", 10_000_000)
	f.stakeSupplier(late, 2_000_000, "eth") // active from 13: not in session 5-8

	otherID := f.hdr
	otherID.SessionId = protocol.SessionID(blockHashOf(3), "eth", f.alice, 5)
	otherEnd := f.hdr
	otherEnd.SessionEndBlockHeight = 9
	tests := []struct {
		name     string
		supplier string
		hdr      types.SessionHeader
		root     []byte
		err      error
	}{
		{"wrong session id", f.bob, otherID, rootOf(20, 10), types.ErrSessionMismatch},
		{"wrong session end", f.bob, otherEnd, rootOf(20, 10), types.ErrSessionMismatch},
		{"supplier not staked", stranger, f.hdr, rootOf(20, 10), types.ErrSupplierNotInSession},
		{"supplier not in this session", late, f.hdr, rootOf(20, 10), types.ErrSupplierNotInSession},
		{"root of no relays", f.bob, f.hdr, rootOf(0, 0), types.ErrInvalidRootHash},
		{"root too short", f.bob, f.hdr, rootOf(20, 10)[1:], types.ErrInvalidRootHash},
		{"sum not count x compute units", f.bob, f.hdr, rootOf(21, 10), types.ErrClaimSumMismatch},
		{"sum of 1 compute unit per relay", f.bob, f.hdr, rootOf(10, 10), types.ErrClaimSumMismatch},
		{"count above sum", f.bob, f.hdr, rootOf(1, 10), types.ErrClaimSumMismatch},
		{"malformed supplier", "pokt1x", f.hdr, rootOf(20, 10), types.ErrInvalidAddress},
		{"malformed header", f.bob, types.SessionHeader{}, rootOf(20, 10), types.ErrInvalidSessionHeader},
		{"unknown application", f.bob, func() types.SessionHeader { h := f.hdr; h.ApplicationAddress = stranger; return h }(), rootOf(20, 10), types.ErrApplicationNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.msgs.CreateClaim(f.ctx, &types.MsgCreateClaim{SupplierOperatorAddress: tc.supplier, SessionHeader: tc.hdr, RootHash: tc.root})
			require.ErrorIs(t, err, tc.err)
		})
	}
	all, err := f.queries.Claims(f.ctx, &types.QueryClaimsRequest{})
	require.NoError(t, err)
	require.Empty(t, all.Claims)
	_, err = f.msgs.CreateClaim(f.ctx, &types.MsgCreateClaim{SupplierOperatorAddress: f.bob, SessionHeader: f.hdr, RootHash: rootOf(20, 10)})
	require.NoError(t, err, "the valid claim is accepted")

	// After the session's proof window closed, GetSession refuses it.
	f.advanceTo(20)
	_, err = f.msgs.CreateClaim(f.ctx, &types.MsgCreateClaim{SupplierOperatorAddress: f.carol, SessionHeader: f.hdr, RootHash: rootOf(20, 10)})
	require.ErrorIs(t, err, types.ErrInvalidHeight)
}

func TestSettlement_UnprovenClaimNotRequiredIsPaid(t *testing.T) {
	f := newFixture(t, func(p *types.Params) { p.ProofRequestProbabilityPpm = 0 })
	f.addService("eth", ethComputeUnits)
	alice, bob := f.newAccount("alice", 10_000_000), f.newAccount("bob", 10_000_000)
	f.stakeApp(alice, 2_000_000, "eth")
	f.stakeSupplier(bob, 2_000_000, "eth")
	f.advanceTo(6)
	s, err := f.k.GetSession(f.ctx, alice, "eth", 6)
	require.NoError(t, err)
	f.advanceTo(10)
	_, err = f.msgs.CreateClaim(f.ctx, &types.MsgCreateClaim{SupplierOperatorAddress: bob, SessionHeader: s.Header, RootHash: rootOf(2*1000, 1000)})
	require.NoError(t, err)
	f.advanceTo(19)
	before := f.balance(bob)
	f.endBlock()
	require.Equal(t, before.AddRaw(2000), f.balance(bob), "below the threshold, never drawn: paid without proof")
	require.Empty(t, f.bank.burned)
}
