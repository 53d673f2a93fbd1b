package keeper_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"cosmossdk.io/collections"
	sdkmath "cosmossdk.io/math"
	"github.com/cosmos/cosmos-sdk/crypto/keys/secp256k1"
	cryptotypes "github.com/cosmos/cosmos-sdk/crypto/types"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/relaytest"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

func privKeyOf(name string) cryptotypes.PrivKey { return secp256k1.GenPrivKeyFromSecret([]byte(name)) }

// numRelays is the size of the session trees the claims tests build.
const numRelays = 300

// signer is the account newAccount(name) registered at addr, as a relay
// signer. A signer whose key is not addr's forges signatures.
func signer(name, addr string) relaytest.Actor {
	return relaytest.Actor{Key: privKeyOf(name), Address: addr}
}

// newRelays makes relays 0..n-1 of session hdr, requests signed by app and
// responses by sup and addressed to sup.Address; each tamper runs on every
// relay after it was signed.
func newRelays(t *testing.T, hdr types.SessionHeader, app, sup relaytest.Actor, n int, tamper ...func(*types.Relay)) []*types.Relay {
	t.Helper()
	out := make([]*types.Relay, n)
	for i := range out {
		out[i] = relaytest.NewRelay(t, hdr, app, sup, i)
		for _, f := range tamper {
			f(out[i])
		}
	}
	return out
}

// relaysByTarget makes relays of session hdr until it has n whose hash is at
// or below target (minable) or, with minable false, n above it.
func relaysByTarget(t *testing.T, hdr types.SessionHeader, app, sup relaytest.Actor, n int, target []byte, minable bool) []*types.Relay {
	t.Helper()
	var out []*types.Relay
	for i := 0; len(out) < n; i++ {
		r := relaytest.NewRelay(t, hdr, app, sup, i)
		b, err := protocol.RelayBytes(r)
		require.NoError(t, err)
		if protocol.IsMinable(protocol.RelayHash(b), target) == minable {
			out = append(out, r)
		}
	}
	return out
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
	// aliceKey, bobKey and carolKey sign relays as alice, bob and carol.
	aliceKey, bobKey, carolKey relaytest.Actor
	hdr                        types.SessionHeader
}

const ethComputeUnits = 2

// newClaimFixture builds the fixture on testParams changed by edits, and
// stops at height 6.
func newClaimFixture(t *testing.T, edits ...func(*types.Params)) claimFixture {
	f := newFixture(t, edits...)
	f.addService("eth", ethComputeUnits)
	cf := claimFixture{
		fixture: f,
		alice:   f.newAccount("alice", 10_000_000),
		bob:     f.newAccount("bob", 10_000_000),
		carol:   f.newAccount("carol", 10_000_000),
	}
	cf.aliceKey, cf.bobKey, cf.carolKey = signer("alice", cf.alice), signer("bob", cf.bob), signer("carol", cf.carol)
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

// claim sends supplier's claim of session 5-8 with root.
func (cf claimFixture) claim(supplier string, root []byte) error {
	_, err := cf.msgs.CreateClaim(cf.ctx, &types.MsgCreateClaim{SupplierOperatorAddress: supplier, SessionHeader: cf.hdr, RootHash: root})
	return err
}

// prove sends supplier's proof of session 5-8.
func (cf claimFixture) prove(supplier string, proof []byte) error {
	_, err := cf.msgs.SubmitProof(cf.ctx, &types.MsgSubmitProof{SupplierOperatorAddress: supplier, SessionHeader: cf.hdr, Proof: proof})
	return err
}

// proofPath is the path session 5-8's proofs must be closest to: seeded by
// the hash of block 14.
func (cf claimFixture) proofPath() []byte {
	return protocol.ProofPath(blockHashOf(14), cf.hdr.SessionId)
}

// nextSession is alice's session 9-12 header (its id is seeded by block 8).
func (cf claimFixture) nextSession() types.SessionHeader {
	h := cf.hdr
	h.SessionId = protocol.SessionID(blockHashOf(8), "eth", cf.alice, 9)
	h.SessionStartBlockHeight, h.SessionEndBlockHeight = 9, 12
	return h
}

// stake is the stake of the application or supplier addr.
func (cf claimFixture) stake(addr string) sdk.Coin {
	cf.t.Helper()
	if app, err := cf.k.Applications.Get(cf.ctx, addr); err == nil {
		return app.Stake
	}
	s, err := cf.k.Suppliers.Get(cf.ctx, addr)
	require.NoError(cf.t, err)
	return s.Stake
}

func TestClaimsAndProofs_SettleAtProofWindowClose(t *testing.T) {
	f := newClaimFixture(t)
	bobTrie := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, numRelays)...)
	// carol's relays carry a forged application signature.
	carolTrie := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, signer("mallory", f.alice), f.carolKey, numRelays)...)
	claim, prove := f.claim, f.prove

	f.advanceTo(9)
	require.ErrorIs(t, claim(f.bob, bobTrie.Root()), types.ErrOutsideClaimWindow, "grace period")

	f.advanceTo(10)
	f.resetEvents()
	require.NoError(t, claim(f.bob, bobTrie.Root()))
	created := eventsOf[*types.EventClaimCreated](f.fixture)
	require.Len(t, created, 1)
	require.Equal(t, uint64(numRelays), created[0].NumRelays)
	require.Equal(t, uint64(numRelays*ethComputeUnits), created[0].NumClaimedComputeUnits)
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
	// Block 14 exists, so its valid proof can be built, but it is early.
	require.ErrorIs(t, prove(f.bob, bobTrie.Prove(t, f.proofPath())), types.ErrOutsideProofWindow)

	f.advanceTo(15)
	require.ErrorIs(t, claim(f.carol, carolTrie.Root()), types.ErrOutsideClaimWindow)
	req, err := f.queries.ProofRequirement(f.ctx, &types.QueryProofRequirementRequest{SessionId: f.hdr.SessionId, SupplierOperatorAddress: f.bob})
	require.NoError(t, err)
	require.True(t, req.Required, "proof_request_probability_ppm is 10^6")
	require.Equal(t, int64(14), req.SeedBlockHeight)

	path := f.proofPath()
	wrongPathProof := bobTrie.Prove(t, protocol.ProofPath(blockHashOf(13), f.hdr.SessionId))
	require.ErrorIs(t, prove(f.bob, wrongPathProof), types.ErrProofPathMismatch)
	require.ErrorIs(t, prove(f.bob, []byte("garbage")), types.ErrInvalidProof)
	// bob's proof does not verify in carol's trie.
	require.ErrorIs(t, prove(f.carol, bobTrie.Prove(t, path)), types.ErrInvalidProof)
	carolProof := carolTrie.Prove(t, path)
	require.ErrorIs(t, prove(f.carol, carolProof), types.ErrInvalidAppSignature)
	stranger := f.newAccount("stranger", 0)
	require.ErrorIs(t, prove(stranger, carolProof), types.ErrClaimNotFound)

	bobProof := bobTrie.Prove(t, path)
	f.resetEvents()
	require.NoError(t, prove(f.bob, bobProof))
	require.Len(t, eventsOf[*types.EventProofSubmitted](f.fixture), 1)
	require.ErrorIs(t, prove(f.bob, bobProof), types.ErrProofExists)

	// Settlement at the end of block 19: bob is paid 300 relays x 2 compute
	// units x multiplier 1 = 600 out of alice's stake; carol, who could not
	// prove, loses the missing-proof penalty (burned).
	f.advanceTo(19)
	bobBefore, moduleBefore := f.balance(f.bob), f.moduleBalance()
	f.resetEvents()
	f.endBlock()
	require.Equal(t, bobBefore.AddRaw(600), f.balance(f.bob))
	app, err := f.k.Applications.Get(f.ctx, f.alice)
	require.NoError(t, err)
	require.Equal(t, coin(2_000_000-600), app.Stake)
	carol, err := f.k.Suppliers.Get(f.ctx, f.carol)
	require.NoError(t, err)
	require.Equal(t, coin(2_000_000-100_000), carol.Stake)
	require.Equal(t, sdkmath.NewInt(100_000), f.bank.burned.AmountOf(denom))
	require.Equal(t, moduleBefore.SubRaw(600+100_000), f.moduleBalance())

	settled := eventsOf[*types.EventClaimSettled](f.fixture)
	require.Len(t, settled, 1)
	require.Equal(t, coin(600), settled[0].Amount)
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
