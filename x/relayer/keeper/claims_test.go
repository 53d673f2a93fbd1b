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

// relaysByTarget makes relays of session hdr until it has n that are
// minable under target with claimSeed (the hash of the session's claim seed
// block) or, with minable false, n that are not.
func relaysByTarget(t *testing.T, hdr types.SessionHeader, app, sup relaytest.Actor, n int, claimSeed, target []byte, minable bool) []*types.Relay {
	t.Helper()
	var out []*types.Relay
	for i := 0; len(out) < n; i++ {
		r := relaytest.NewRelay(t, hdr, app, sup, i)
		if protocol.IsMinable(claimSeed, relayKey(t, r), target) == minable {
			out = append(out, r)
		}
	}
	return out
}

// relayKey is the key of r's request.
func relayKey(t testing.TB, r *types.Relay) []byte {
	t.Helper()
	k, err := protocol.RelayKey(r.Req)
	require.NoError(t, err)
	return k
}

// rootOf builds a root hash digest ‖ sum ‖ count by hand.
func rootOf(sum, count uint64) []byte {
	root := bytes.Repeat([]byte{0xab}, 32)
	root = binary.BigEndian.AppendUint64(root, sum)
	return binary.BigEndian.AppendUint64(root, count)
}

// claimFixture: service eth (2 compute units per relay), app alice, and
// suppliers bob and carol, all active from 5. Session 5-8's windows (w):
// grace period through 9, claim seed 10, claims 11-15, proof seed 15,
// proofs 16-20.
type claimFixture struct {
	*fixture
	alice, bob, carol string
	// aliceKey, bobKey and carolKey sign relays as alice, bob and carol.
	aliceKey, bobKey, carolKey relaytest.Actor
	hdr                        types.SessionHeader
	// params are session 5-8's params, w its windows.
	params types.Params
	w      protocol.Windows
}

const ethComputeUnits = 2

// newClaimFixture builds the fixture on testParams changed by edits, and
// stops at height 6.
func newClaimFixture(t *testing.T, edits ...func(*types.Params)) claimFixture {
	return newClaimFixtureWith(t, 2_000_000, nil, edits...)
}

// newClaimFixtureWith is newClaimFixture with alice staking appStake and
// the accounts named extraSuppliers (10,000,000 upokt each) staking
// 2,000,000 as suppliers of eth too, active from 5 like bob and carol.
func newClaimFixtureWith(t *testing.T, appStake int64, extraSuppliers []string, edits ...func(*types.Params)) claimFixture {
	return newClaimFixtureFor(t, []string{"eth"}, appStake, extraSuppliers, edits...)
}

// newClaimFixtureFor is newClaimFixtureWith over services (the first of
// them "eth"), each of ethComputeUnits: alice and every supplier are
// staked for all of them.
func newClaimFixtureFor(t *testing.T, services []string, appStake int64, extraSuppliers []string, edits ...func(*types.Params)) claimFixture {
	f := newFixture(t, edits...)
	for _, id := range services {
		f.addService(id, ethComputeUnits)
	}
	cf := claimFixture{
		fixture: f,
		alice:   f.newAccount("alice", 10_000_000),
		bob:     f.newAccount("bob", 10_000_000),
		carol:   f.newAccount("carol", 10_000_000),
	}
	cf.aliceKey, cf.bobKey, cf.carolKey = signer("alice", cf.alice), signer("bob", cf.bob), signer("carol", cf.carol)
	f.stakeApp(cf.alice, appStake, services...)
	suppliers := []string{cf.bob, cf.carol}
	for _, name := range extraSuppliers {
		suppliers = append(suppliers, f.newAccount(name, 10_000_000))
	}
	for _, s := range suppliers {
		f.stakeSupplier(s, 2_000_000, services...)
	}
	f.advanceTo(6)
	s, err := f.k.GetSession(f.ctx, cf.alice, "eth", 6)
	require.NoError(t, err)
	require.ElementsMatch(t, suppliers, operators(s.Suppliers))
	cf.hdr = s.Header
	cf.params, err = f.k.ParamsAt(f.ctx, 5)
	require.NoError(t, err)
	cf.w = protocol.SessionWindows(cf.params, 8)
	return cf
}

// claim sends supplier's claim of session 5-8 with root.
func (cf claimFixture) claim(supplier string, root []byte) error {
	_, err := cf.msgs.CreateClaim(cf.ctx, &types.MsgCreateClaim{SupplierOperatorAddress: supplier, SessionHeader: cf.hdr, RootHash: root})
	return err
}

// claimed is supplier's claim of session 5-8 with root, as the chain
// stores it.
func (cf claimFixture) claimed(supplier string, root []byte) types.Claim {
	return types.Claim{SupplierOperatorAddress: supplier, SessionHeader: cf.hdr, RootHash: root, ProofWindowCloseHeight: cf.w.ProofWindowClose}
}

// prove sends supplier's proof of session 5-8.
func (cf claimFixture) prove(supplier string, proofs []types.LeafProof) error {
	_, err := cf.msgs.SubmitProof(cf.ctx, &types.MsgSubmitProof{SupplierOperatorAddress: supplier, SessionHeader: cf.hdr, Proofs: proofs})
	return err
}

// claimSeed is the hash of the block that decides which of session 5-8's
// relays are minable.
func (cf claimFixture) claimSeed() []byte { return blockHashOf(cf.w.ClaimSeed) }

// proofSeed is the hash of the block session 5-8's proof points are drawn
// from.
func (cf claimFixture) proofSeed() []byte { return blockHashOf(cf.w.ProofSeed) }

// proofsOf are the leaf proofs of supplier's claim of tr's root, at the
// points the chain draws for it: what an honest supplier submits.
func (cf claimFixture) proofsOf(t testing.TB, tr *relaytest.Tree, supplier string) []types.LeafProof {
	t.Helper()
	return tr.ProveClaim(t, cf.proofSeed(), cf.hdr.SessionId, supplier, cf.params.NumProofsPerClaim)
}

// points are the points the chain draws for supplier's claim of root.
func (cf claimFixture) points(t testing.TB, supplier string, root []byte) []uint64 {
	t.Helper()
	r, err := protocol.ParseRoot(root)
	require.NoError(t, err)
	return protocol.ProofPoints(cf.proofSeed(), cf.hdr.SessionId, supplier, r.Sum, cf.params.NumProofsPerClaim)
}

// sessionAt is alice's session holding height h, with its windows.
func (cf claimFixture) sessionAt(t testing.TB, h int64) (types.Session, protocol.Windows) {
	t.Helper()
	s, err := cf.k.GetSession(cf.ctx, cf.alice, "eth", h)
	require.NoError(t, err)
	p, err := cf.k.ParamsAt(cf.ctx, s.Header.SessionStartBlockHeight)
	require.NoError(t, err)
	return s, protocol.SessionWindows(p, s.Header.SessionEndBlockHeight)
}

// claimIn sends supplier's claim of the session hdr with root.
func (cf claimFixture) claimIn(hdr types.SessionHeader, supplier string, root []byte) error {
	_, err := cf.msgs.CreateClaim(cf.ctx, &types.MsgCreateClaim{SupplierOperatorAddress: supplier, SessionHeader: hdr, RootHash: root})
	return err
}

// proveIn sends supplier's honest proofs of its claim of tr in the session
// hdr with windows w.
func (cf claimFixture) proveIn(t testing.TB, hdr types.SessionHeader, w protocol.Windows, supplier string, tr *relaytest.Tree) error {
	t.Helper()
	proofs := tr.ProveClaim(t, blockHashOf(w.ProofSeed), hdr.SessionId, supplier, cf.params.NumProofsPerClaim)
	_, err := cf.msgs.SubmitProof(cf.ctx, &types.MsgSubmitProof{SupplierOperatorAddress: supplier, SessionHeader: hdr, Proofs: proofs})
	return err
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
	w := f.w
	require.Equal(t, protocol.Windows{SessionEnd: 8, GracePeriodEnd: 9, ClaimSeed: 10, ClaimWindowOpen: 11, ClaimWindowClose: 15,
		ProofSeed: 15, ProofWindowOpen: 16, ProofWindowClose: 20}, w, "the heights this test walks through")
	bobTrie := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, numRelays)...)
	// carol's relays carry a forged application signature.
	carolTrie := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, signer("mallory", f.alice), f.carolKey, numRelays)...)
	claim, prove := f.claim, f.prove

	f.advanceTo(w.GracePeriodEnd)
	require.ErrorIs(t, claim(f.bob, bobTrie.Root), types.ErrOutsideClaimWindow, "grace period")
	f.advanceTo(w.ClaimSeed)
	require.ErrorIs(t, claim(f.bob, bobTrie.Root), types.ErrOutsideClaimWindow, "the claim seed block: minability is only known after it")

	f.advanceTo(w.ClaimWindowOpen)
	f.resetEvents()
	require.NoError(t, claim(f.bob, bobTrie.Root))
	created := eventsOf[*types.EventClaimCreated](f.fixture)
	require.Len(t, created, 1)
	require.Equal(t, uint64(numRelays), created[0].NumRelays)
	require.Equal(t, uint64(numRelays*ethComputeUnits), created[0].NumClaimedComputeUnits)
	wantClaim := f.claimed(f.bob, bobTrie.Root)
	require.Equal(t, wantClaim, created[0].Claim)
	q, err := f.queries.Claim(f.ctx, &types.QueryClaimRequest{SessionId: f.hdr.SessionId, SupplierOperatorAddress: f.bob})
	require.NoError(t, err)
	require.Equal(t, wantClaim, q.Claim)
	require.ErrorIs(t, claim(f.bob, bobTrie.Root), types.ErrClaimExists)

	_, err = f.queries.ProofRequirement(f.ctx, &types.QueryProofRequirementRequest{SessionId: f.hdr.SessionId, SupplierOperatorAddress: f.bob})
	require.ErrorIs(t, err, types.ErrBlockHashUnknown, "the proof seed block does not exist yet")

	f.advanceTo(w.ClaimWindowClose)
	require.Equal(t, w.ClaimWindowClose, w.ProofSeed)
	require.NoError(t, claim(f.carol, carolTrie.Root), "last height of the claim window")
	// The proof seed block exists, so valid proofs can be built, but early.
	require.ErrorIs(t, prove(f.bob, f.proofsOf(t, bobTrie, f.bob)), types.ErrOutsideProofWindow)

	f.advanceTo(w.ProofWindowOpen)
	require.ErrorIs(t, claim(f.carol, carolTrie.Root), types.ErrOutsideClaimWindow)
	req, err := f.queries.ProofRequirement(f.ctx, &types.QueryProofRequirementRequest{SessionId: f.hdr.SessionId, SupplierOperatorAddress: f.bob})
	require.NoError(t, err)
	require.True(t, req.Required, "proof_request_probability_ppm is 10^6")
	require.Equal(t, w.ProofSeed, req.SeedBlockHeight)

	earlierSeed := bobTrie.ProveClaim(t, blockHashOf(w.ProofSeed-1), f.hdr.SessionId, f.bob, f.params.NumProofsPerClaim)
	require.ErrorIs(t, prove(f.bob, earlierSeed), types.ErrProofPointMismatch)
	garbage := []types.LeafProof{{Leaf: []byte("garbage"), SideNodes: [][]byte{[]byte("garbage")}}}
	require.ErrorIs(t, prove(f.bob, append(garbage, garbage[0], garbage[0])), types.ErrInvalidProof)
	// bob's proofs do not verify in carol's trie.
	require.ErrorIs(t, prove(f.carol, f.proofsOf(t, bobTrie, f.bob)), types.ErrInvalidProof)
	carolProofs := f.proofsOf(t, carolTrie, f.carol)
	require.ErrorIs(t, prove(f.carol, carolProofs), types.ErrInvalidAppSignature)
	stranger := f.newAccount("stranger", 0)
	require.ErrorIs(t, prove(stranger, carolProofs), types.ErrClaimNotFound)

	bobProofs := f.proofsOf(t, bobTrie, f.bob)
	f.resetEvents()
	require.NoError(t, prove(f.bob, bobProofs))
	require.Len(t, eventsOf[*types.EventProofSubmitted](f.fixture), 1)
	require.ErrorIs(t, prove(f.bob, bobProofs), types.ErrProofExists)

	// Settlement at the end of the proof window's last block: bob is paid
	// 300 relays x 2 compute units x multiplier 1 = 600 out of alice's
	// stake (his share is 2,000,000 / 2 suppliers); carol, who could not
	// prove, loses the missing-proof penalty (burned).
	f.advanceTo(w.ProofWindowClose)
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

	require.Equal(t, []*types.EventClaimSettled{{Claim: wantClaim, ProofRequired: true, NumClaimedComputeUnits: numRelays * ethComputeUnits,
		Amount: coin(600), Capped: false, Excess: coin(0), Share: coin(1_000_000)}}, eventsOf[*types.EventClaimSettled](f.fixture))
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
	f.advanceTo(f.w.ClaimWindowOpen)
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
	f.advanceTo(f.w.ProofWindowClose + 1)
	_, err = f.msgs.CreateClaim(f.ctx, &types.MsgCreateClaim{SupplierOperatorAddress: f.carol, SessionHeader: f.hdr, RootHash: rootOf(20, 10)})
	require.ErrorIs(t, err, types.ErrInvalidHeight)
}
