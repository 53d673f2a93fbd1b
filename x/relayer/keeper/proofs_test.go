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
	return append(prefix, bytes.Repeat([]byte{0xff}, protocol.HashSize-len(prefix))...)
}

// hardTarget is met by about 1 relay in 16.
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

// reanswer has sup sign a fresh answer to r's (possibly altered) request,
// bound to its current key: a supplier covering its own tampering.
func reanswer(t *testing.T, sup relaytest.Actor) func(*types.Relay) {
	return func(r *types.Relay) {
		r.Res = relaytest.Answer(t, r.Req, sup, []byte(`{"jsonrpc":"2.0","id":1,"result":"0x1"}`))
	}
}

// leavesWith puts each relay on its key's path with the value leaf(relay)
// and the service's weight: a trie whose every leaf has what leaf did.
func leavesWith(t *testing.T, relays []*types.Relay, leaf func(*types.Relay) []byte) *relaytest.Tree {
	t.Helper()
	leaves := make([]protocol.TrieLeaf, len(relays))
	for i, r := range relays {
		leaves[i] = protocol.TrieLeaf{Path: protocol.LeafPath(relayKey(t, r)), Value: leaf(r), Weight: ethComputeUnits}
	}
	return relaytest.BuildTree(t, leaves...)
}

// editProofs returns a deep copy of proofs with edit applied to each.
func editProofs(proofs []types.LeafProof, edit func(*types.LeafProof)) []types.LeafProof {
	out := make([]types.LeafProof, len(proofs))
	for i, p := range proofs {
		out[i] = types.LeafProof{Leaf: bytes.Clone(p.Leaf)}
		for _, s := range p.SideNodes {
			out[i].SideNodes = append(out[i].SideNodes, bytes.Clone(s))
		}
		edit(&out[i])
	}
	return out
}

// emptySidesAsNil is a copy of proofs with every empty side node nil.
func emptySidesAsNil(proofs []types.LeafProof) []types.LeafProof {
	return editProofs(proofs, func(p *types.LeafProof) {
		for i, s := range p.SideNodes {
			if len(s) == 0 {
				p.SideNodes[i] = nil
			}
		}
	})
}

// claimAndProve has bob claim tr's root in session 5-8 at the claim
// window's first height and submit proofs (nil: tr's honest proofs at the
// drawn points) at the proof window's first height. It returns
// SubmitProof's error, having checked the proof is stored exactly when it
// is accepted.
func (cf claimFixture) claimAndProve(t *testing.T, tr *relaytest.Tree, proofs []types.LeafProof) error {
	t.Helper()
	cf.advanceTo(cf.w.ClaimWindowOpen)
	require.NoError(t, cf.claim(cf.bob, tr.Root))
	cf.advanceTo(cf.w.ProofWindowOpen)
	if proofs == nil {
		proofs = cf.proofsOf(t, tr, cf.bob)
	}
	err := cf.prove(cf.bob, proofs)
	has, herr := cf.k.Proofs.Has(cf.ctx, collections.Join(cf.hdr.SessionId, cf.bob))
	require.NoError(t, herr)
	require.Equal(t, err == nil, has, "a proof is stored if and only if it is accepted (err: %v)", err)
	return err
}

// requireSomeLeafDiffers fails unless some proof of got opens another leaf
// than the honest proof of the same index: otherwise a case meant to fail
// on its points proves nothing.
func requireSomeLeafDiffers(t *testing.T, honest, got []types.LeafProof) {
	t.Helper()
	for i := range honest {
		if !bytes.Equal(honest[i].Leaf, got[i].Leaf) {
			return
		}
	}
	t.Fatal("every proof opens the leaf the drawn point opens: pick other inputs")
}

// TestSubmitProof_Rejections has bob claim a tree of relays in session 5-8
// and submit its proofs at the proof window's first height; each case
// builds a tree (or proofs) with one thing wrong. Where the wrong thing is
// in the relays, every relay of the tree has it, so each leaf a drawn
// point opens has it.
func TestSubmitProof_Rejections(t *testing.T) {
	honestTree := func(t *testing.T, f claimFixture) *relaytest.Tree {
		return relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, numRelays)...)
	}
	tests := []struct {
		name   string
		params []func(*types.Params)
		// build returns the tree bob claims and, if not nil, the proofs he
		// submits instead of the tree's own proofs at the drawn points.
		build func(t *testing.T, f claimFixture) (*relaytest.Tree, []types.LeafProof)
		err   error
	}{
		{
			name: "proofs for the points of an earlier seed block",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []types.LeafProof) {
				tr := honestTree(t, f)
				ps := tr.ProveClaim(t, blockHashOf(f.w.ProofSeed-1), f.hdr.SessionId, f.bob, f.params.NumProofsPerClaim)
				requireSomeLeafDiffers(t, f.proofsOf(t, tr, f.bob), ps)
				return tr, ps
			},
			err: types.ErrProofPointMismatch,
		},
		{
			name: "proofs for the points of another session",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []types.LeafProof) {
				tr := honestTree(t, f)
				ps := tr.ProveClaim(t, f.proofSeed(), f.nextSession().SessionId, f.bob, f.params.NumProofsPerClaim)
				requireSomeLeafDiffers(t, f.proofsOf(t, tr, f.bob), ps)
				return tr, ps
			},
			err: types.ErrProofPointMismatch,
		},
		{
			name: "proofs for the points of another supplier",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []types.LeafProof) {
				tr := honestTree(t, f)
				ps := tr.ProveClaim(t, f.proofSeed(), f.hdr.SessionId, f.carol, f.params.NumProofsPerClaim)
				requireSomeLeafDiffers(t, f.proofsOf(t, tr, f.bob), ps)
				return tr, ps
			},
			err: types.ErrProofPointMismatch,
		},
		{
			name: "the first point's proof repeated for every point",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []types.LeafProof) {
				tr := honestTree(t, f)
				honest := f.proofsOf(t, tr, f.bob)
				ps := make([]types.LeafProof, len(honest))
				for i := range ps {
					ps[i] = honest[0]
				}
				requireSomeLeafDiffers(t, honest, ps)
				return tr, ps
			},
			err: types.ErrProofPointMismatch,
		},
		{
			// Genuine proofs, at the right points, of another session's
			// tree: only the root binds them to the claim.
			name: "valid proofs of another session's tree at these points",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []types.LeafProof) {
				claimed := honestTree(t, f)
				other := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.nextSession(), f.aliceKey, f.bobKey, numRelays)...)
				return claimed, f.proofsOf(t, other, f.bob)
			},
			err: types.ErrInvalidProof,
		},
		{
			name: "valid proofs of another supplier's tree of this session",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []types.LeafProof) {
				claimed := honestTree(t, f)
				carols := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.carolKey, numRelays)...)
				return claimed, f.proofsOf(t, carols, f.bob)
			},
			err: types.ErrInvalidProof,
		},
		{
			// The leaf still decodes, canonically, to a relay: only the
			// root catches the change.
			name: "byte of the proven leaf's response payload hash flipped",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []types.LeafProof) {
				tr := honestTree(t, f)
				return tr, editProofs(f.proofsOf(t, tr, f.bob), func(p *types.LeafProof) {
					r, err := protocol.DecodeLeaf(p.Leaf)
					require.NoError(t, err)
					i := bytes.Index(p.Leaf, r.Res.PayloadHash)
					require.GreaterOrEqual(t, i, 0)
					p.Leaf[i+3] ^= 0x01
				})
			},
			err: types.ErrInvalidProof,
		},
		{
			name: "side node flipped",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []types.LeafProof) {
				tr := honestTree(t, f)
				return tr, editProofs(f.proofsOf(t, tr, f.bob), func(p *types.LeafProof) {
					require.NotEmpty(t, p.SideNodes[0])
					p.SideNodes[0][5] ^= 0x80
				})
			},
			err: types.ErrInvalidProof,
		},
		{
			name: "side node dropped",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []types.LeafProof) {
				tr := honestTree(t, f)
				return tr, editProofs(f.proofsOf(t, tr, f.bob), func(p *types.LeafProof) { p.SideNodes = p.SideNodes[:len(p.SideNodes)-1] })
			},
			err: types.ErrInvalidProof,
		},
		{
			name: "side node of the wrong size",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []types.LeafProof) {
				tr := honestTree(t, f)
				return tr, editProofs(f.proofsOf(t, tr, f.bob), func(p *types.LeafProof) { p.SideNodes[0] = p.SideNodes[0][:40] })
			},
			err: types.ErrInvalidProof,
		},
		{
			name: "undecodable leaf",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []types.LeafProof) {
				tr := honestTree(t, f)
				return tr, editProofs(f.proofsOf(t, tr, f.bob), func(p *types.LeafProof) { p.Leaf = []byte("garbage") })
			},
			err: types.ErrInvalidRelay,
		},
		{
			name: "leaves in wire form (payloads in full)",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []types.LeafProof) {
				return leavesWith(t, newRelays(t, f.hdr, f.aliceKey, f.bobKey, numRelays), func(r *types.Relay) []byte {
					bz, err := r.Marshal()
					require.NoError(t, err)
					return bz
				}), nil
			},
			err: types.ErrInvalidRelay,
		},
		{
			// Weights 1 and 3 average to the service's 2 compute units per
			// relay, so the claim is accepted; no leaf weighs 2.
			name: "leaf weight is not the service's compute units per relay",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []types.LeafProof) {
				rs := newRelays(t, f.hdr, f.aliceKey, f.bobKey, numRelays)
				var leaves []protocol.TrieLeaf
				for i, r := range rs {
					leaves = append(leaves, relaytest.Leaf(t, r, ethComputeUnits-1+2*uint64(i%2)))
				}
				tr := relaytest.BuildTree(t, leaves...)
				root, err := protocol.ParseRoot(tr.Root)
				require.NoError(t, err)
				require.Equal(t, protocol.Root{Digest: root.Digest, Sum: numRelays * ethComputeUnits, Count: numRelays}, root)
				return tr, nil
			},
			err: types.ErrInvalidProof,
		},
		{
			name: "request payload changed after the application signed it, and answered",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []types.LeafProof) {
				return relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, numRelays, tamperRequestPayload(t), reanswer(t, f.bobKey))...), nil
			},
			err: types.ErrInvalidAppSignature,
		},
		{
			name: "request signed by a key other than the application's",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []types.LeafProof) {
				return relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, signer("mallory", f.alice), f.bobKey, numRelays)...), nil
			},
			err: types.ErrInvalidAppSignature,
		},
		{
			name: "response payload changed after the supplier signed it",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []types.LeafProof) {
				return relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, numRelays, tamperResponsePayload(t))...), nil
			},
			err: types.ErrInvalidSupplierSignature,
		},
		{
			name: "response signed by a key other than the supplier's",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []types.LeafProof) {
				return relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, signer("mallory", f.bob), numRelays)...), nil
			},
			err: types.ErrInvalidSupplierSignature,
		},
		{
			name: "relays of another session",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []types.LeafProof) {
				return relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.nextSession(), f.aliceKey, f.bobKey, numRelays)...), nil
			},
			err: types.ErrRelaySessionMismatch,
		},
		{
			name: "requests of another session (re-signed by the application)",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []types.LeafProof) {
				other := f.nextSession()
				return relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, numRelays, func(r *types.Relay) {
					r.Req.Meta.SessionHeader = &other
					relaytest.SignRequest(t, r.Req, f.aliceKey.Key)
				}, reanswer(t, f.bobKey), func(r *types.Relay) {
					h := f.hdr
					r.Res.Meta.SessionHeader = &h
					relaytest.SignResponse(t, r.Res, f.bobKey.Key)
				})...), nil
			},
			err: types.ErrRelaySessionMismatch,
		},
		{
			name: "responses of another session (re-signed by the supplier)",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []types.LeafProof) {
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
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []types.LeafProof) {
				return relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.carolKey, numRelays)...), nil
			},
			err: types.ErrRelaySessionMismatch,
		},
		{
			name: "relays lacking their response",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []types.LeafProof) {
				return leavesWith(t, newRelays(t, f.hdr, f.aliceKey, f.bobKey, numRelays), func(r *types.Relay) []byte {
					req, err := protocol.CompactRequest(r.Req)
					require.NoError(t, err)
					bz, err := (&types.Relay{Req: &req}).Marshal()
					require.NoError(t, err)
					return bz
				}), nil
			},
			err: types.ErrInvalidRelay,
		},
		{
			name: "request nonce longer than 32 bytes (signed by the application)",
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []types.LeafProof) {
				return relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, numRelays, func(r *types.Relay) {
					r.Req.Meta.Nonce = bytes.Repeat([]byte{7}, protocol.MaxNonceSize+1)
					relaytest.SignRequest(t, r.Req, f.aliceKey.Key)
				}, reanswer(t, f.bobKey))...), nil
			},
			err: types.ErrInvalidRelay,
		},
		{
			name:   "relays not minable under the claim seed",
			params: []func(*types.Params){withTarget("eth", hardTarget)},
			build: func(t *testing.T, f claimFixture) (*relaytest.Tree, []types.LeafProof) {
				return relaytest.NewTree(t, ethComputeUnits, relaysByTarget(t, f.hdr, f.aliceKey, f.bobKey, 20, f.claimSeed(), hardTarget, false)...), nil
			},
			err: types.ErrRelayAboveDifficulty,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newClaimFixture(t, tc.params...)
			tr, proofs := tc.build(t, f)
			require.ErrorIs(t, f.claimAndProve(t, tr, proofs), tc.err)
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
			tr := relaytest.NewTree(t, ethComputeUnits, relaysByTarget(t, f.hdr, f.aliceKey, f.bobKey, 3, f.claimSeed(), tgt, true)...)
			require.NoError(t, f.claimAndProve(t, tr, nil))
		})
	}
}

// TestSubmitProof_WrongProofCount: a proof must open exactly
// num_proofs_per_claim leaves of the session's params, no fewer (a cheaper
// gamble on fabricated weight) and no more.
func TestSubmitProof_WrongProofCount(t *testing.T) {
	f := newClaimFixture(t)
	require.Equal(t, uint64(3), f.params.NumProofsPerClaim)
	tr := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, 20)...)
	f.advanceTo(f.w.ClaimWindowOpen)
	require.NoError(t, f.claim(f.bob, tr.Root))
	f.advanceTo(f.w.ProofWindowOpen)
	honest := f.proofsOf(t, tr, f.bob)
	// More honest-looking proofs: the points a larger k would draw.
	more := tr.ProveClaim(t, f.proofSeed(), f.hdr.SessionId, f.bob, types.MaxProofsPerClaim+1)
	require.Equal(t, honest, more[:3], "the first k points do not depend on k")
	for _, n := range []int{0, 1, 2, 4, types.MaxProofsPerClaim, types.MaxProofsPerClaim + 1} {
		require.ErrorIs(t, f.prove(f.bob, more[:n]), types.ErrWrongProofCount, "%d proofs", n)
	}
	has, err := f.k.Proofs.Has(f.ctx, collections.Join(f.hdr.SessionId, f.bob))
	require.NoError(t, err)
	require.False(t, has)
	require.NoError(t, f.prove(f.bob, honest))
}

// TestSubmitProof_ProofCountIsTheSessionsParam: a governance change of
// num_proofs_per_claim applies to sessions started after it.
func TestSubmitProof_ProofCountIsTheSessionsParam(t *testing.T) {
	f := newClaimFixture(t)
	p := f.params
	p.NumProofsPerClaim = 5
	_, err := f.msgs.UpdateParams(f.ctx, &types.MsgUpdateParams{Authority: f.authority, Params: p})
	require.NoError(t, err)
	tr := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, 20)...)
	f.advanceTo(f.w.ClaimWindowOpen)
	require.NoError(t, f.claim(f.bob, tr.Root))
	f.advanceTo(f.w.ProofWindowOpen)
	five := tr.ProveClaim(t, f.proofSeed(), f.hdr.SessionId, f.bob, 5)
	require.ErrorIs(t, f.prove(f.bob, five), types.ErrWrongProofCount, "session 5-8 started under 3 proofs per claim")
	require.NoError(t, f.prove(f.bob, five[:3]))
}

// TestSubmitProof_WindowAndState covers the checks before the proof itself:
// the proof window, the claim and an earlier proof.
func TestSubmitProof_WindowAndState(t *testing.T) {
	f := newClaimFixture(t)
	w := f.w
	bobTree := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.bobKey, numRelays)...)
	carolTree := relaytest.NewTree(t, ethComputeUnits, newRelays(t, f.hdr, f.aliceKey, f.carolKey, numRelays)...)
	f.advanceTo(w.ClaimWindowOpen)
	require.NoError(t, f.claim(f.bob, bobTree.Root))
	require.NoError(t, f.claim(f.carol, carolTree.Root))
	bobProofs, carolProofs := f.proofsOf(t, bobTree, f.bob), f.proofsOf(t, carolTree, f.carol)

	// The proof seed block draws the points, so the valid proofs exist
	// from it on, but the window opens a block later.
	f.advanceTo(w.ProofSeed)
	require.ErrorIs(t, f.prove(f.bob, bobProofs), types.ErrOutsideProofWindow)

	f.advanceTo(w.ProofWindowOpen)
	dave := f.newAccount("dave", 0)
	require.ErrorIs(t, f.prove(dave, bobProofs), types.ErrClaimNotFound, "proof without a claim")
	otherEnd := f.hdr
	otherEnd.SessionEndBlockHeight = 9
	_, err := f.msgs.SubmitProof(f.ctx, &types.MsgSubmitProof{SupplierOperatorAddress: f.bob, SessionHeader: otherEnd, Proofs: bobProofs})
	require.ErrorIs(t, err, types.ErrSessionMismatch, "header differs from the claim's")

	f.resetEvents()
	require.NoError(t, f.prove(f.bob, bobProofs))
	require.Len(t, eventsOf[*types.EventProofSubmitted](f.fixture), 1)
	stored, err := f.queries.Proof(f.ctx, &types.QueryProofRequest{SessionId: f.hdr.SessionId, SupplierOperatorAddress: f.bob})
	require.NoError(t, err)
	// The store gives an empty side node back as []byte{}, where the
	// prover wrote nil: the same encoding.
	require.Equal(t, types.Proof{SupplierOperatorAddress: f.bob, SessionHeader: f.hdr, LeafProofs: emptySidesAsNil(bobProofs)},
		types.Proof{SupplierOperatorAddress: stored.Proof.SupplierOperatorAddress, SessionHeader: stored.Proof.SessionHeader, LeafProofs: emptySidesAsNil(stored.Proof.LeafProofs)})
	require.ErrorIs(t, f.prove(f.bob, bobProofs), types.ErrProofExists)

	// Claims settle, and are removed, in the EndBlocker of the window's last
	// height, so no block after the window still has the claim. The
	// handler's own window check is reached with a next-block context that
	// runs before the last block's EndBlocker.
	f.advanceTo(w.ProofWindowClose)
	after := w.ProofWindowClose + 1
	late := f.ctx.WithBlockHeight(after).WithHeaderInfo(header.Info{Height: after, Hash: blockHashOf(after)})
	_, err = f.msgs.SubmitProof(late, &types.MsgSubmitProof{SupplierOperatorAddress: f.carol, SessionHeader: f.hdr, Proofs: carolProofs})
	require.ErrorIs(t, err, types.ErrOutsideProofWindow)
	require.NoError(t, f.prove(f.carol, carolProofs), "last height of the proof window")

	f.advanceTo(after)
	require.ErrorIs(t, f.prove(f.carol, carolProofs), types.ErrClaimNotFound, "the claim was settled and removed")
}
