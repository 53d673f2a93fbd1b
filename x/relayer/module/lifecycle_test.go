package module_test

import (
	"context"
	"testing"
	"time"

	"github.com/cosmos/cosmos-sdk/crypto/hd"
	"github.com/cosmos/cosmos-sdk/crypto/keyring"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/tx/signing"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"
	"github.com/cosmos/gogoproto/proto"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/app"
	"github.com/pokt-network/poktroll/cmd/poktrolld/cmd"
	"github.com/pokt-network/poktroll/testutil/network"
	"github.com/pokt-network/poktroll/testutil/relaytest"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

const (
	// numRelays relays of computeUnitsPerRelay each are claimed: with a
	// multiplier of 1 and the base difficulty, the claim is worth
	// numRelays*computeUnitsPerRelay upokt.
	numRelays            = 50
	computeUnitsPerRelay = 3
	claimedUpokt         = numRelays * computeUnitsPerRelay
)

// lifecycle is what the steps of TestLifecycle hand each other.
type lifecycle struct {
	n       *network.Network
	params  types.Params
	app1    string // address
	sup1    string // operator address
	session types.Session
	windows protocol.Windows
	tree    *relaytest.Tree

	claimHeight int64 // block of the MsgCreateClaim tx
	proofHeight int64 // block of the MsgSubmitProof tx

	// Recorded in the proof window, before the proof tx and settlement.
	supBalance   sdk.Coin
	appStake     sdk.Coin
	supStake     sdk.Coin
	moduleEscrow sdk.Coin
}

// TestLifecycle runs a session's claim, proof and settlement through real
// txs on an in-process network: the test stakes the actors, builds the
// session tree from relays signed with their on-chain keys, claims and
// proves at the heights the windows allow, then observes the settlement
// events and balances, and reads claims and proofs through gRPC and the
// autocli `poktrolld q relayer` commands. It is the package's only network
// (one per process): every step is a subtest, each relying on the ones
// before.
func TestLifecycle(t *testing.T) {
	startedAt := time.Now()
	params := types.DefaultParams()     // the chain's own: 4-block sessions, short windows, every claim proven
	params.RelayDifficultyTargets = nil // base difficulty: every relay is minable

	n := network.New(t,
		network.WithParams(params),
		network.WithServices(types.Service{Id: "eth", Name: "Ethereum", ComputeUnitsPerRelay: computeUnitsPerRelay}),
		network.WithFundedAccounts("app1", "sup1"),
	)
	t.Logf("network started in %s", time.Since(startedAt))

	lc := &lifecycle{n: n, params: n.GenesisParams(), app1: n.Address("app1"), sup1: n.Address("sup1")}
	require.Equal(t, params, lc.params)
	for _, step := range []struct {
		name string
		run  func(*testing.T, *lifecycle)
	}{
		{"stake and get a fresh session", testStakeAndSession},
		{"build the session tree", testBuildTree},
		{"claim before the window opens is rejected", testEarlyClaim},
		{"claim in the claim window", testClaim},
		{"prove in the proof window", testProof},
		{"settlement", testSettlement},
	} {
		if !t.Run(step.name, func(t *testing.T) { step.run(t, lc) }) {
			t.Fatalf("step %q failed; the later steps depend on it", step.name)
		}
	}
	t.Logf("lifecycle done in %s", time.Since(startedAt))
}

func testStakeAndSession(t *testing.T, lc *lifecycle) {
	ctx := context.Background()
	n, p := lc.n, lc.params

	res := n.MustSendTx(t, "app1", &types.MsgStakeApplication{Address: lc.app1, Stake: p.MinApplicationStake, ServiceIds: []string{"eth"}})
	var appRes types.MsgStakeApplicationResponse
	n.MsgResponse(t, res, 0, &appRes)
	res = n.MustSendTx(t, "sup1", &types.MsgStakeSupplier{OperatorAddress: lc.sup1, Stake: p.MinSupplierStake, Services: []types.SupplierService{
		{ServiceId: "eth", EndpointUrl: "http://127.0.0.1:1", RpcType: types.RPCType_RPC_TYPE_JSON_RPC},
	}})
	var supRes types.MsgStakeSupplierResponse
	n.MsgResponse(t, res, 0, &supRes)
	activation := max(appRes.ActivationHeight, supRes.ActivationHeight)

	cur, err := n.WaitForHeight(activation)
	require.NoError(t, err)
	// A fresh session leaves time, before its claim window opens, for the
	// early claim: start at (or right after) a session's first block.
	if start := protocol.SessionStartHeight(p.NumBlocksPerSession, cur); cur-start > 1 {
		cur, err = n.WaitForHeight(protocol.SessionEndHeight(p.NumBlocksPerSession, cur) + 1)
		require.NoError(t, err)
	}
	start := protocol.SessionStartHeight(p.NumBlocksPerSession, cur)
	require.GreaterOrEqual(t, start, activation)

	sess, err := n.RelayerQuery().GetSession(ctx, &types.QueryGetSessionRequest{ApplicationAddress: lc.app1, ServiceId: "eth", BlockHeight: start})
	require.NoError(t, err)
	hdr := sess.Session.Header
	require.Equal(t, lc.app1, hdr.ApplicationAddress)
	require.Equal(t, "eth", hdr.ServiceId)
	require.Equal(t, start, hdr.SessionStartBlockHeight)
	require.Equal(t, protocol.SessionEndHeight(p.NumBlocksPerSession, start), hdr.SessionEndBlockHeight)
	require.Len(t, sess.Session.Suppliers, 1)
	require.Equal(t, lc.sup1, sess.Session.Suppliers[0].OperatorAddress)

	// The session id is derived from the seed block's hash.
	seedHeight := protocol.SessionSeedHeight(start)
	seedBlock, err := n.RPCClient().Block(ctx, &seedHeight)
	require.NoError(t, err)
	require.Equal(t, protocol.SessionID(seedBlock.BlockID.Hash, "eth", lc.app1, start), hdr.SessionId)

	lc.session = sess.Session
	lc.windows = protocol.SessionWindows(p, hdr.SessionEndBlockHeight)
	t.Logf("session %s: heights %d-%d, windows %+v (now at %d)", hdr.SessionId, start, hdr.SessionEndBlockHeight, lc.windows, cur)
}

// keyringActor is the relaytest.Actor of a funded account of the network:
// its key, derived from the account's mnemonic the way the keyring derived
// it, signs relays as Keyring().Sign does (checked in testBuildTree),
// without the file keyring's key derivation on every signature.
func keyringActor(t *testing.T, n *network.Network, name string) relaytest.Actor {
	t.Helper()
	derived, err := hd.Secp256k1.Derive()(n.Mnemonic(name), keyring.DefaultBIP39Passphrase, sdk.GetConfig().GetFullBIP44Path())
	require.NoError(t, err)
	key := hd.Secp256k1.Generate()(derived)
	a := relaytest.Actor{Key: key, Address: n.Address(name)}
	require.Equal(t, a.Address, sdk.AccAddress(key.PubKey().Address()).String())
	return a
}

func testBuildTree(t *testing.T, lc *lifecycle) {
	ctx := context.Background()
	n := lc.n
	appActor, supActor := keyringActor(t, n, "app1"), keyringActor(t, n, "sup1")

	// The chain verifies relay signatures against the accounts' public
	// keys, which their stake txs put on chain.
	for name, a := range map[string]relaytest.Actor{"app1": appActor, "sup1": supActor} {
		accRes, err := authtypes.NewQueryClient(n.QueryConn()).Account(ctx, &authtypes.QueryAccountRequest{Address: a.Address})
		require.NoError(t, err)
		var acc sdk.AccountI
		require.NoError(t, n.Codec().UnpackAny(accRes.Account, &acc))
		require.NotNil(t, acc.GetPubKey(), name)
		require.True(t, acc.GetPubKey().Equals(a.Key.PubKey()), name)
	}

	relays := make([]*types.Relay, numRelays)
	for i := range relays {
		relays[i] = relaytest.NewRelay(t, lc.session.Header, appActor, supActor, i)
	}
	// secp256k1 signatures are deterministic: the keyring signs the same.
	signable, err := protocol.RequestSignableBytes(relays[0].Req)
	require.NoError(t, err)
	sig, _, err := n.Keyring().Sign("app1", signable, signing.SignMode_SIGN_MODE_DIRECT)
	require.NoError(t, err)
	require.Equal(t, relays[0].Req.Meta.Signature, sig)
	signable, err = protocol.ResponseSignableBytes(relays[0].Res)
	require.NoError(t, err)
	sig, _, err = n.Keyring().Sign("sup1", signable, signing.SignMode_SIGN_MODE_DIRECT)
	require.NoError(t, err)
	require.Equal(t, relays[0].Res.Meta.SupplierSignature, sig)

	lc.tree = relaytest.NewTree(t, computeUnitsPerRelay, relays...)
	root, err := protocol.ParseRoot(lc.tree.Root)
	require.NoError(t, err)
	require.EqualValues(t, numRelays, root.Count)
	require.EqualValues(t, claimedUpokt, root.Sum)
}

func (lc *lifecycle) claimMsg() *types.MsgCreateClaim {
	return &types.MsgCreateClaim{SupplierOperatorAddress: lc.sup1, SessionHeader: lc.session.Header, RootHash: lc.tree.Root}
}

// testEarlyClaim sends the real claim while the session is still running:
// the tx reaches a block and fails with the module's registered code.
func testEarlyClaim(t *testing.T, lc *lifecycle) {
	res := lc.n.SendTx(t, "sup1", lc.claimMsg())
	require.Positive(t, res.Height, "rejected by CheckTx: %s", res.RawLog)
	require.Less(t, res.Height, lc.windows.ClaimWindowOpen, "the early claim reached a block too late to test the rejection")
	require.Equal(t, types.ModuleName, res.Codespace, res.RawLog)
	require.Equal(t, types.ErrOutsideClaimWindow.ABCICode(), res.Code, res.RawLog)

	claims, err := lc.n.RelayerQuery().Claims(context.Background(), &types.QueryClaimsRequest{SupplierOperatorAddress: lc.sup1})
	require.NoError(t, err)
	require.Empty(t, claims.Claims)
}

func testClaim(t *testing.T, lc *lifecycle) {
	ctx := context.Background()
	n, w := lc.n, lc.windows

	_, err := n.WaitForHeight(w.ClaimWindowOpen)
	require.NoError(t, err)
	res := n.MustSendTx(t, "sup1", lc.claimMsg())
	require.True(t, w.InClaimWindow(res.Height), "claim in block %d, window %d-%d", res.Height, w.ClaimWindowOpen, w.ClaimWindowClose)
	lc.claimHeight = res.Height

	want := types.Claim{
		SupplierOperatorAddress: lc.sup1,
		SessionHeader:           lc.session.Header,
		RootHash:                lc.tree.Root,
		ProofWindowCloseHeight:  w.ProofWindowClose,
	}

	// gRPC.
	one, err := n.RelayerQuery().Claim(ctx, &types.QueryClaimRequest{SessionId: lc.session.Header.SessionId, SupplierOperatorAddress: lc.sup1})
	require.NoError(t, err)
	require.Equal(t, want, one.Claim)
	all, err := n.RelayerQuery().Claims(ctx, &types.QueryClaimsRequest{SupplierOperatorAddress: lc.sup1})
	require.NoError(t, err)
	require.Equal(t, []types.Claim{want}, all.Claims)

	// autocli: `poktrolld q relayer claims --supplier-operator-address`
	// and `poktrolld q relayer claim <session-id> <supplier>`.
	out, err := n.ExecCLI(cmd.NewRootCmd(), append([]string{"q", "relayer", "claims", "--supplier-operator-address", lc.sup1}, n.QueryFlags()...)...)
	require.NoError(t, err)
	var cliAll types.QueryClaimsResponse
	require.NoError(t, n.Codec().UnmarshalJSON([]byte(out), &cliAll), out)
	require.Equal(t, []types.Claim{want}, cliAll.Claims)

	out, err = n.ExecCLI(cmd.NewRootCmd(), append([]string{"q", "relayer", "claim", lc.session.Header.SessionId, lc.sup1}, n.QueryFlags()...)...)
	require.NoError(t, err)
	var cliOne types.QueryClaimResponse
	require.NoError(t, n.Codec().UnmarshalJSON([]byte(out), &cliOne), out)
	require.Equal(t, want, cliOne.Claim)
	require.Equal(t, lc.tree.Root, cliOne.Claim.RootHash)

	// A second claim for the session is refused.
	res = n.SendTx(t, "sup1", lc.claimMsg())
	require.Equal(t, types.ModuleName, res.Codespace, res.RawLog)
	require.Equal(t, types.ErrClaimExists.ABCICode(), res.Code, res.RawLog)
}

func testProof(t *testing.T, lc *lifecycle) {
	ctx := context.Background()
	n, w := lc.n, lc.windows
	hdr := lc.session.Header

	// The proof window opens once the seed block (the one before it) is
	// committed: its hash picks the proof path.
	_, err := n.WaitForHeight(w.ProofWindowOpen)
	require.NoError(t, err)
	seedHeight := w.ProofSeed
	seedBlock, err := n.RPCClient().Block(ctx, &seedHeight)
	require.NoError(t, err)
	seed := []byte(seedBlock.BlockID.Hash)
	require.NotEmpty(t, seed)

	req, err := n.RelayerQuery().ProofRequirement(ctx, &types.QueryProofRequirementRequest{SessionId: hdr.SessionId, SupplierOperatorAddress: lc.sup1})
	require.NoError(t, err)
	require.True(t, req.Required, "proof_request_probability_ppm is 100%%")
	require.Equal(t, seedHeight, req.SeedBlockHeight)

	// What settlement will change, recorded before the proof tx, which
	// may land in the settlement block.
	lc.supBalance = balance(t, n, lc.sup1)
	lc.moduleEscrow = balance(t, n, authtypes.NewModuleAddress(types.ModuleName).String())
	appRes, err := n.RelayerQuery().Application(ctx, &types.QueryApplicationRequest{Address: lc.app1})
	require.NoError(t, err)
	lc.appStake = appRes.Application.Stake
	require.Equal(t, lc.params.MinApplicationStake, lc.appStake)
	supRes, err := n.RelayerQuery().Supplier(ctx, &types.QuerySupplierRequest{OperatorAddress: lc.sup1})
	require.NoError(t, err)
	lc.supStake = supRes.Supplier.Stake

	// Txs cost nothing here (zero fees): so far sup1 paid its stake and
	// nothing for the rejected claims and the claim; settlement shows the
	// proof cost nothing either.
	require.Equal(t, sdk.NewCoin(app.BondDenom, network.DefaultAccountBalance).Sub(lc.params.MinSupplierStake), lc.supBalance)

	proofs := lc.tree.ProveClaim(t, seed, hdr.SessionId, lc.sup1, lc.params.NumProofsPerClaim)
	res := n.MustSendTx(t, "sup1", &types.MsgSubmitProof{SupplierOperatorAddress: lc.sup1, SessionHeader: hdr, Proofs: proofs})
	require.True(t, w.InProofWindow(res.Height), "proof in block %d, window %d-%d", res.Height, w.ProofWindowOpen, w.ProofWindowClose)
	lc.proofHeight = res.Height
	require.Less(t, res.Height, w.ProofWindowClose, "the proof landed in the settlement block, which removes it before it can be queried")

	// Compared encoded: an empty side node decodes as an empty, not nil, slice.
	want := types.Proof{SupplierOperatorAddress: lc.sup1, SessionHeader: hdr, LeafProofs: proofs}
	wantBz, err := want.Marshal()
	require.NoError(t, err)
	grpcRes, err := n.RelayerQuery().Proof(ctx, &types.QueryProofRequest{SessionId: hdr.SessionId, SupplierOperatorAddress: lc.sup1})
	require.NoError(t, err)
	require.Len(t, grpcRes.Proof.LeafProofs, int(lc.params.NumProofsPerClaim))
	gotBz, err := grpcRes.Proof.Marshal()
	require.NoError(t, err)
	require.Equal(t, wantBz, gotBz)

	out, err := n.ExecCLI(cmd.NewRootCmd(), append([]string{"q", "relayer", "proof", hdr.SessionId, lc.sup1}, n.QueryFlags()...)...)
	require.NoError(t, err)
	var cliRes types.QueryProofResponse
	require.NoError(t, n.Codec().UnmarshalJSON([]byte(out), &cliRes), out)
	gotBz, err = cliRes.Proof.Marshal()
	require.NoError(t, err)
	require.Equal(t, wantBz, gotBz)
}

func testSettlement(t *testing.T, lc *lifecycle) {
	ctx := context.Background()
	n, w := lc.n, lc.windows
	hdr := lc.session.Header

	_, err := n.WaitForHeight(w.ProofWindowClose + 1)
	require.NoError(t, err)

	var (
		created []*types.EventClaimCreated
		proven  []*types.EventProofSubmitted
		settled []*types.EventClaimSettled
		other   []proto.Message
	)
	var createdAt, provedAt, settledAt int64
	for h := lc.claimHeight; h <= w.ProofWindowClose+1; h++ {
		for _, ev := range n.RelayerEvents(t, h, h) {
			switch ev := ev.(type) {
			case *types.EventClaimCreated:
				created = append(created, ev)
				createdAt = h
			case *types.EventProofSubmitted:
				proven = append(proven, ev)
				provedAt = h
			case *types.EventClaimSettled:
				settled = append(settled, ev)
				settledAt = h
			default:
				other = append(other, ev)
			}
		}
	}
	claim := types.Claim{SupplierOperatorAddress: lc.sup1, SessionHeader: hdr, RootHash: lc.tree.Root, ProofWindowCloseHeight: w.ProofWindowClose}
	require.Empty(t, other, "no expiry, slash or other relayer event")
	require.Equal(t, []*types.EventClaimCreated{{Claim: claim, NumRelays: numRelays, NumClaimedComputeUnits: claimedUpokt}}, created)
	require.Equal(t, []*types.EventProofSubmitted{{Claim: claim}}, proven)
	paid := sdk.NewInt64Coin(app.BondDenom, claimedUpokt)
	// The supplier's share of the stake the application had at the
	// session's start bounds the payment; this claim is well within it.
	share := sdk.NewCoin(app.BondDenom, lc.appStake.Amount.QuoRaw(int64(len(lc.session.Suppliers))))
	require.True(t, paid.IsLT(share))
	require.Equal(t, []*types.EventClaimSettled{{Claim: claim, ProofRequired: true, NumClaimedComputeUnits: claimedUpokt, Amount: paid,
		Excess: sdk.NewInt64Coin(app.BondDenom, 0), Share: share}}, settled)
	require.Equal(t, lc.claimHeight, createdAt)
	require.Equal(t, lc.proofHeight, provedAt)
	require.Equal(t, w.ProofWindowClose, settledAt, "claims settle in the block their proof window closes")

	// The application's stake paid the supplier's bank balance, through
	// the module account; the supplier's stake is untouched.
	require.Equal(t, lc.supBalance.Add(paid), balance(t, n, lc.sup1))
	require.Equal(t, lc.moduleEscrow.Sub(paid), balance(t, n, authtypes.NewModuleAddress(types.ModuleName).String()))
	appRes, err := n.RelayerQuery().Application(ctx, &types.QueryApplicationRequest{Address: lc.app1})
	require.NoError(t, err)
	require.Equal(t, lc.appStake.Sub(paid), appRes.Application.Stake)
	supRes, err := n.RelayerQuery().Supplier(ctx, &types.QuerySupplierRequest{OperatorAddress: lc.sup1})
	require.NoError(t, err)
	require.Equal(t, lc.supStake, supRes.Supplier.Stake)

	// The claim and its proof are gone, over gRPC and autocli.
	all, err := n.RelayerQuery().Claims(ctx, &types.QueryClaimsRequest{SupplierOperatorAddress: lc.sup1})
	require.NoError(t, err)
	require.Empty(t, all.Claims)
	out, err := n.ExecCLI(cmd.NewRootCmd(), append([]string{"q", "relayer", "claims", "--supplier-operator-address", lc.sup1}, n.QueryFlags()...)...)
	require.NoError(t, err)
	var cliAll types.QueryClaimsResponse
	require.NoError(t, n.Codec().UnmarshalJSON([]byte(out), &cliAll), out)
	require.Empty(t, cliAll.Claims)
	_, err = n.RelayerQuery().Proof(ctx, &types.QueryProofRequest{SessionId: hdr.SessionId, SupplierOperatorAddress: lc.sup1})
	require.Error(t, err)

	// Nothing is settled twice.
	h, err := n.WaitForNextBlock()
	require.NoError(t, err)
	require.Empty(t, n.RelayerEvents(t, h, h))
}

func balance(t *testing.T, n *network.Network, addr string) sdk.Coin {
	t.Helper()
	res, err := banktypes.NewQueryClient(n.QueryConn()).Balance(context.Background(), &banktypes.QueryBalanceRequest{Address: addr, Denom: app.BondDenom})
	require.NoError(t, err)
	return *res.Balance
}
