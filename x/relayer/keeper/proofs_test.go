package keeper_test

import (
	"bytes"
	"testing"

	"cosmossdk.io/collections"
	"cosmossdk.io/core/header"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/relaytest"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// target returns a 32-byte difficulty target starting with prefix and
// padded with 0xff.
func target(prefix ...byte) []byte {
	return append(prefix, bytes.Repeat([]byte{0xff}, protocol.RelayHashSize-len(prefix))...)
}

// hardTarget is met by about 1 relay hash in 16.
var hardTarget = target(0x0f)

func withTarget(serviceID string, t []byte) func(*types.Params) {
	return func(p *types.Params) {
		p.RelayDifficultyTargets = []types.RelayDifficultyTarget{{ServiceId: serviceID, Target: t}}
	}
}

// tamperRequestPayload changes the HTTP request after the application
// signed it.
func tamperRequestPayload(t *testing.T) func(*types.Relay) {
	return func(r *types.Relay) {
		var req types.HTTPRequest
		require.NoError(t, req.Unmarshal(r.Req.Payload))
		req.Body = bytes.Replace(req.Body, []byte("eth_blockNumber"), []byte("eth_sendRawTransaction"), 1)
		bz, err := req.Marshal()
		require.NoError(t, err)
		r.Req.Payload = bz
	}
}

// tamperResponsePayload changes the HTTP response after the supplier
// signed it.
func tamperResponsePayload(t *testing.T) func(*types.Relay) {
	return func(r *types.Relay) {
		var res types.HTTPResponse
		require.NoError(t, res.Unmarshal(r.Res.Payload))
		res.Body = append(res.Body[:len(res.Body)-1], []byte(`,"extra":true}`)...)
		bz, err := res.Marshal()
		require.NoError(t, err)
		r.Res.Payload = bz
	}
}

// TestSubmitProof_Rejections has bob claim a tree of numRelays relays in
// session 5-8 and submit a proof of it at height 15; each case builds a tree
// (or a proof) with one thing wrong. Where the wrong thing is in the relays,
// every relay of the tree has it, so the leaf the seed picks has it.
func TestSubmitProof_Rejections(t *testing.T) {
	aboveTarget := hardTarget

	tests := []struct {
		name   string
		params []func(*types.Params)
		// build returns the tree bob claims and, if not nil, the proof he
		// submits instead of the tree's own proof for the seeded path.
		build func(t *testing.T, f claimFixture) (*relaytest.Tree, []byte)
		err   error
	}{
		{
			name: "proof for an earlier seed block",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []byte) {
				tr := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, numRelays)...)
				return tr, tr.Prove(t, protocol.ProofPath(blockHashOf(13), f.hdr.SessionId))
			},
			err: types.ErrProofPathMismatch,
		},
		{
			name: "proof for the path of another session",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []byte) {
				tr := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, numRelays)...)
				return tr, tr.Prove(t, protocol.ProofPath(blockHashOf(14), f.nextSession().SessionId))
			},
			err: types.ErrProofPathMismatch,
		},
		{
			// A genuine closest proof, for the right path, of another
			// session's tree: only the root binds it to the claim.
			name: "valid proof of another session's tree at this path",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []byte) {
				claimed := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, numRelays)...)
				other := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.nextSession(), f.aliceKey, f.bobKey, numRelays)...)
				return claimed, other.Prove(t, f.proofPath())
			},
			err: types.ErrInvalidProof,
		},
		{
			name: "valid proof of another supplier's tree of this session",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []byte) {
				claimed := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, numRelays)...)
				carols := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.carolKey, numRelays)...)
				return claimed, carols.Prove(t, f.proofPath())
			},
			err: types.ErrInvalidProof,
		},
		{
			name: "byte of the proven leaf flipped inside the proof",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []byte) {
				tr := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, numRelays)...)
				proof := tr.Prove(t, f.proofPath())
				for _, leaf := range tr.Relays {
					if i := bytes.Index(proof, leaf); i >= 0 {
						proof[i+len(leaf)/2] ^= 0x01
						return tr, proof
					}
				}
				t.Fatal("the proof does not reveal any relay of the tree")
				return nil, nil
			},
			err: types.ErrInvalidProof,
		},
		{
			name: "undecodable proof",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []byte) {
				return relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, numRelays)...), []byte("garbage")
			},
			err: types.ErrInvalidProof,
		},
		{
			// Weights 1 and 3 average to the service's 2 compute units per
			// relay, so the claim is accepted; no leaf weighs 2.
			name: "leaf weight is not the service's compute units per relay",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []byte) {
				rs := newRelays(t, f.hdr, f.aliceKey, f.bobKey, numRelays)
				tr := relaytest.NewTree(t, ethComputeUnits-1, rs[:numRelays/2]...)
				for _, r := range rs[numRelays/2:] {
					b, err := protocol.RelayBytes(r)
					require.NoError(t, err)
					require.NoError(t, protocol.InsertRelay(tr.Trie, b, ethComputeUnits+1))
					tr.Relays = append(tr.Relays, b)
				}
				require.NoError(t, tr.Trie.Commit())
				root, err := protocol.ParseRoot(tr.Root())
				require.NoError(t, err)
				require.Equal(t, protocol.Root{Digest: root.Digest, Sum: numRelays * ethComputeUnits, Count: numRelays}, root)
				return tr, nil
			},
			err: types.ErrInvalidProof,
		},
		{
			name: "request payload changed after the application signed it",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []byte) {
				return relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, numRelays, tamperRequestPayload(t))...), nil
			},
			err: types.ErrInvalidAppSignature,
		},
		{
			name: "request signed by a key other than the application's",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []byte) {
				return relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, signer("mallory", f.alice), f.bobKey, numRelays)...), nil
			},
			err: types.ErrInvalidAppSignature,
		},
		{
			name: "response payload changed after the supplier signed it",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []byte) {
				return relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, numRelays, tamperResponsePayload(t))...), nil
			},
			err: types.ErrInvalidSupplierSignature,
		},
		{
			name: "response signed by a key other than the supplier's",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []byte) {
				return relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, signer("mallory", f.bob), numRelays)...), nil
			},
			err: types.ErrInvalidSupplierSignature,
		},
		{
			name: "relays of another session",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []byte) {
				return relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.nextSession(), f.aliceKey, f.bobKey, numRelays)...), nil
			},
			err: types.ErrRelaySessionMismatch,
		},
		{
			name: "requests of another session (re-signed by the application)",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []byte) {
				other := f.nextSession()
				return relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, numRelays, func(r *types.Relay) {
					r.Req.Meta.SessionHeader = &other
					relaytest.SignRequest(t, r.Req, f.aliceKey.Key)
				})...), nil
			},
			err: types.ErrRelaySessionMismatch,
		},
		{
			name: "responses of another session (re-signed by the supplier)",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []byte) {
				other := f.nextSession()
				return relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, numRelays, func(r *types.Relay) {
					r.Res.Meta.SessionHeader = &other
					relaytest.SignResponse(t, r.Res, f.bobKey.Key)
				})...), nil
			},
			err: types.ErrRelaySessionMismatch,
		},
		{
			// carol's genuine relays, claimed by bob.
			name: "relays addressed to another supplier of the session",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []byte) {
				return relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.carolKey, numRelays)...), nil
			},
			err: types.ErrRelaySessionMismatch,
		},
		{
			name: "relays lacking their response",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []byte) {
				return relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, numRelays, func(r *types.Relay) { r.Res = nil })...), nil
			},
			err: types.ErrInvalidRelay,
		},
		{
			name:   "relays above the service's difficulty target",
			params: []func(*types.Params){withTarget("eth", aboveTarget)},
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []byte) {
				return relaytest.NewTree(t, ethComputeUnits, relaysByTarget(t, f.hdr, f.aliceKey, f.bobKey, numRelays, aboveTarget, false)...), nil
			},
			err: types.ErrRelayAboveDifficulty,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newClaimFixture(t, tc.params...)
			tr, proof := tc.build(t, f)
			f.advanceTo(10)
			require.NoError(t, f.claim(f.bob, tr.Root()))
			f.advanceTo(15)
			if proof == nil {
				proof = tr.Prove(t, f.proofPath())
			}
			require.ErrorIs(t, f.prove(f.bob, proof), tc.err)
			has, err := f.k.Proofs.Has(f.ctx, collections.Join(f.hdr.SessionId, f.bob))
			require.NoError(t, err)
			require.False(t, has, "a rejected proof is not stored")
		})
	}
}

// TestSubmitProof_HonestControl is the same flow as TestSubmitProof_Rejections
// with nothing wrong, under the difficulty targets the rejections use: the
// rejections fail for their own reason, not the flow's.
func TestSubmitProof_HonestControl(t *testing.T) {
	for name, tgt := range map[string][]byte{"base target": protocol.BaseDifficultyTarget, "hard target": hardTarget} {
		t.Run(name, func(t *testing.T) {
			f := newClaimFixture(t, withTarget("eth", tgt))
			tr := relaytest.NewTree(t, ethComputeUnits, relaysByTarget(t, f.hdr, f.aliceKey, f.bobKey, 3, tgt, true)...)
			f.advanceTo(10)
			require.NoError(t, f.claim(f.bob, tr.Root()))
			f.advanceTo(15)
			require.NoError(t, f.prove(f.bob, tr.Prove(t, f.proofPath())))
		})
	}
}

// TestSubmitProof_WindowAndState covers the checks before the proof itself:
// the proof window, the claim and an earlier proof.
func TestSubmitProof_WindowAndState(t *testing.T) {
	f := newClaimFixture(t)
	bobTree := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, numRelays)...)
	carolTree := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.carolKey, numRelays)...)
	f.advanceTo(10)
	require.NoError(t, f.claim(f.bob, bobTree.Root()))
	require.NoError(t, f.claim(f.carol, carolTree.Root()))
	bobProof, carolProof := bobTree.Prove(t, f.proofPath()), carolTree.Prove(t, f.proofPath())

	// Block 14 seeds the path, so the valid proof exists from 14 on, but the
	// window opens at 15.
	f.advanceTo(14)
	require.ErrorIs(t, f.prove(f.bob, bobProof), types.ErrOutsideProofWindow)

	f.advanceTo(15)
	dave := f.newAccount("dave", 0)
	require.ErrorIs(t, f.prove(dave, bobProof), types.ErrClaimNotFound, "proof without a claim")
	otherEnd := f.hdr
	otherEnd.SessionEndBlockHeight = 9
	_, err := f.msgs.SubmitProof(f.ctx, &types.MsgSubmitProof{SupplierOperatorAddress: f.bob, SessionHeader: otherEnd, Proof: bobProof})
	require.ErrorIs(t, err, types.ErrSessionMismatch, "header differs from the claim's")

	f.resetEvents()
	require.NoError(t, f.prove(f.bob, bobProof))
	require.Len(t, eventsOf[*types.EventProofSubmitted](f.fixture), 1)
	stored, err := f.queries.Proof(f.ctx, &types.QueryProofRequest{SessionId: f.hdr.SessionId, SupplierOperatorAddress: f.bob})
	require.NoError(t, err)
	require.Equal(t, types.Proof{SupplierOperatorAddress: f.bob, SessionHeader: f.hdr, ClosestMerkleProof: bobProof}, stored.Proof)
	require.ErrorIs(t, f.prove(f.bob, bobProof), types.ErrProofExists)

	// Claims settle, and are removed, in the EndBlocker of the window's last
	// height, so no block after the window still has the claim. The
	// handler's own window check is reached with a block-20 context that
	// runs before block 19's EndBlocker.
	f.advanceTo(19)
	late := f.ctx.WithBlockHeight(20).WithHeaderInfo(header.Info{Height: 20, Hash: blockHashOf(20)})
	_, err = f.msgs.SubmitProof(late, &types.MsgSubmitProof{SupplierOperatorAddress: f.carol, SessionHeader: f.hdr, Proof: carolProof})
	require.ErrorIs(t, err, types.ErrOutsideProofWindow)
	require.NoError(t, f.prove(f.carol, carolProof), "last height of the proof window")

	f.advanceTo(20)
	require.ErrorIs(t, f.prove(f.carol, carolProof), types.ErrClaimNotFound, "the claim was settled and removed")
}
