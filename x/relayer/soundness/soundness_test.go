package soundness_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	errorsmod "cosmossdk.io/errors"
	sdkmath "cosmossdk.io/math"
	"github.com/cosmos/cosmos-sdk/crypto/hd"
	"github.com/cosmos/cosmos-sdk/crypto/keyring"
	sdk "github.com/cosmos/cosmos-sdk/types"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"
	"github.com/cosmos/gogoproto/proto"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/network"
	"github.com/pokt-network/poktroll/testutil/relaytest"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

const (
	serviceID            = "eth"
	computeUnitsPerRelay = 5
	numProofsPerClaim    = 8 // an attack leaving an honest fraction h passes with probability h^8
	// appStake is the application's whole stake: each of the 7 suppliers of
	// its session may be paid at most appStake/7 = 100 upokt.
	appStake = 700
	// honestRelays minable relays are worth 8 × 5 cu × 4 (difficulty) = 160
	// upokt, more than the honest supplier's share: its pay is capped.
	honestRelays = 8
	// attackRelays is the number of relays in most attackers' tries.
	attackRelays = 5
)

// difficultyTarget is 2^254-1: a relay is minable with probability 1/4, and
// each minable relay is paid for 4.
var difficultyTarget = append([]byte{0x3f}, bytes.Repeat([]byte{0xff}, 31)...)

// attempt is one MsgSubmitProof and what the chain must answer.
type attempt struct {
	what   string
	proofs []types.LeafProof
	want   *errorsmod.Error // nil: accepted
}

// supplier is one supplier of the session: honest or an attacker of one
// class, with the trie it claims and the proofs it submits.
type supplier struct {
	name  string // keyring name, subtest name
	build func(t *testing.T, s *soundness, sup relaytest.Actor) *relaytest.Tree
	prove func(t *testing.T, s *soundness, sup *supplier, points []uint64) []attempt

	actor       relaytest.Actor
	activation  int64 // first session start its stake takes part in
	tree        *relaytest.Tree
	claimHeight int64
}

// soundness is what the steps of the test hand each other.
type soundness struct {
	n         *network.Network
	params    types.Params
	app       relaytest.Actor
	session   types.Session
	windows   protocol.Windows
	claimSeed []byte // hash of block windows.ClaimSeed: decides minability
	proofSeed []byte // hash of block windows.ProofSeed: draws the proof points
	suppliers []*supplier
	before    snapshot // taken during the session, before any settlement
}

// snapshot holds the amounts settlement may change.
type snapshot struct {
	balances map[string]sdkmath.Int // supplier address → bank balance
	stakes   map[string]sdkmath.Int // supplier address → stake
	appStake sdkmath.Int
	escrow   sdkmath.Int // relayer module account balance
}

// TestAttacksFailOnChainAndOnlyHonestWorkIsPaid runs one session of one
// application with seven suppliers through real txs: one honest, six each
// submitting a claim that a class of attack inflates. Every attacker's
// proof is rejected with the error registered for its attack, so its claim
// expires and it is slashed; the honest claim is proven and paid, capped at
// its share of the application's stake; and the balances, stakes and module
// escrow move by exactly what the settlement events say. The chain is the
// process's only network: each step is a subtest relying on the ones
// before.
func TestAttacksFailOnChainAndOnlyHonestWorkIsPaid(t *testing.T) {
	startedAt := time.Now()
	params := types.DefaultParams()
	params.NumBlocksPerSession = 6
	params.ClaimWindowCloseOffsetBlocks = 8
	params.ProofWindowCloseOffsetBlocks = 8
	params.NumSuppliersPerSession = 10
	params.NumProofsPerClaim = numProofsPerClaim
	params.MinApplicationStake = sdk.NewInt64Coin(types.DefaultDenom, appStake)
	params.RelayDifficultyTargets = []types.RelayDifficultyTarget{{ServiceId: serviceID, Target: difficultyTarget}}

	s := &soundness{suppliers: []*supplier{
		{name: "honest", build: buildHonest, prove: proveHonest},
		{name: "noncanonical", build: buildNonCanonical, prove: proveBest(types.ErrRelayNotCanonical)},
		{name: "grinder", build: buildGrinder, prove: proveBest(types.ErrRelayAboveDifficulty)},
		{name: "onerequest", build: buildOneRequestManyResponses, prove: proveOneRequestManyResponses},
		{name: "fabricator", build: buildFabricatedSubtree, prove: proveFabricatedSubtree},
		{name: "refuser", build: buildRefused, prove: proveBest(types.ErrRelayRefused)},
		{name: "mover", build: buildMovedResponses, prove: proveBest(types.ErrRelayResponseMismatch)},
	}}
	names := []string{"app"}
	for _, sup := range s.suppliers {
		names = append(names, sup.name)
	}
	s.n = network.New(t,
		network.WithParams(params),
		network.WithServices(types.Service{Id: serviceID, Name: "Ethereum", ComputeUnitsPerRelay: computeUnitsPerRelay}),
		network.WithFundedAccounts(names...),
	)
	s.params = s.n.GenesisParams()
	require.Equal(t, params, s.params)
	require.Equal(t, difficultyTarget, protocol.DifficultyTarget(s.params, serviceID))
	t.Logf("network started in %s", time.Since(startedAt))

	for _, step := range []struct {
		name string
		run  func(*testing.T, *soundness)
	}{
		{"stake the application and suppliers into one session", stakeIntoOneSession},
		{"build every claim trie under the claim seed", buildTries},
		{"claim in the claim window", claim},
		{"prove in the proof window", prove},
		{"settlement pays only the honest supplier, capped, and slashes the attackers", settle},
	} {
		if !t.Run(step.name, func(t *testing.T) { step.run(t, s) }) {
			t.Fatalf("step %q failed; the later steps depend on it", step.name)
		}
	}
	t.Logf("done in %s", time.Since(startedAt))
}

// eachSupplier runs f for every supplier in parallel subtests (txs of
// different signers may be in flight together) and returns when all are
// done.
func (s *soundness) eachSupplier(t *testing.T, f func(*testing.T, *supplier)) {
	t.Helper()
	ok := t.Run("suppliers", func(t *testing.T) {
		for _, sup := range s.suppliers {
			t.Run(sup.name, func(t *testing.T) {
				t.Parallel()
				f(t, sup)
			})
		}
	})
	require.True(t, ok)
}

func stakeIntoOneSession(t *testing.T, s *soundness) {
	ctx := context.Background()
	n, p := s.n, s.params
	s.app = keyringActor(t, n, "app")
	res := n.MustSendTx(t, "app", &types.MsgStakeApplication{Address: s.app.Address, Stake: p.MinApplicationStake, ServiceIds: []string{serviceID}})
	var appRes types.MsgStakeApplicationResponse
	n.MsgResponse(t, res, 0, &appRes)
	activation := appRes.ActivationHeight
	s.eachSupplier(t, func(t *testing.T, sup *supplier) {
		sup.actor = keyringActor(t, n, sup.name)
		res := n.MustSendTx(t, sup.name, &types.MsgStakeSupplier{OperatorAddress: sup.actor.Address, Stake: p.MinSupplierStake, Services: []types.SupplierService{
			{ServiceId: serviceID, EndpointUrl: "http://127.0.0.1:1", RpcType: types.RPCType_RPC_TYPE_JSON_RPC},
		}})
		var supRes types.MsgStakeSupplierResponse
		n.MsgResponse(t, res, 0, &supRes)
		sup.activation = supRes.ActivationHeight
	})
	for _, sup := range s.suppliers {
		activation = max(activation, sup.activation)
	}

	// Everyone is active from activation on: its session is the test's.
	_, err := n.WaitForHeight(activation)
	require.NoError(t, err)
	sess, err := n.RelayerQuery().GetSession(ctx, &types.QueryGetSessionRequest{ApplicationAddress: s.app.Address, ServiceId: serviceID, BlockHeight: activation})
	require.NoError(t, err)
	s.session = sess.Session
	hdr := s.session.Header
	require.Equal(t, activation, hdr.SessionStartBlockHeight)
	require.Len(t, s.session.Suppliers, len(s.suppliers), "every supplier is in the session")
	for _, sup := range s.suppliers {
		require.True(t, inSession(s.session, sup.actor.Address), sup.name)
	}
	require.Equal(t, sdkmath.NewInt(appStake), s.session.Application.Stake.Amount, "stake at the session's start")
	s.windows = protocol.SessionWindows(p, hdr.SessionEndBlockHeight)

	// The chain checks relay signatures against the keys the stake txs put
	// on chain: the keys the test signs relays with.
	for _, a := range append([]relaytest.Actor{s.app}, actors(s.suppliers)...) {
		accRes, err := authtypes.NewQueryClient(n.QueryConn()).Account(ctx, &authtypes.QueryAccountRequest{Address: a.Address})
		require.NoError(t, err)
		var acc sdk.AccountI
		require.NoError(t, n.Codec().UnpackAny(accRes.Account, &acc))
		require.NotNil(t, acc.GetPubKey(), a.Address)
		require.True(t, acc.GetPubKey().Equals(a.Key.PubKey()), a.Address)
	}

	// Nothing is settled before the session's proof window closes: what
	// settlement changes is measured from here.
	s.before = s.snapshot(t)
	cur, err := n.LatestHeight()
	require.NoError(t, err)
	require.Less(t, cur, s.windows.ProofWindowClose)
	t.Logf("session %s: heights %d-%d, windows %+v (now at %d)", hdr.SessionId, hdr.SessionStartBlockHeight, hdr.SessionEndBlockHeight, s.windows, cur)
}

func buildTries(t *testing.T, s *soundness) {
	s.claimSeed = blockHash(t, s.n, s.windows.ClaimSeed)
	for _, sup := range s.suppliers {
		sup.tree = sup.build(t, s, sup.actor)
		root, err := protocol.ParseRoot(sup.tree.Root)
		require.NoError(t, err)
		t.Logf("%s: %d relays, %d compute units", sup.name, root.Count, root.Sum)
	}
}

func claim(t *testing.T, s *soundness) {
	w := s.windows
	// Built after block ClaimSeed, the claims land in the claim window.
	s.eachSupplier(t, func(t *testing.T, sup *supplier) {
		res := s.n.MustSendTx(t, sup.name, &types.MsgCreateClaim{SupplierOperatorAddress: sup.actor.Address, SessionHeader: s.session.Header, RootHash: sup.tree.Root})
		require.True(t, w.InClaimWindow(res.Height), "claim in block %d, window %d-%d", res.Height, w.ClaimWindowOpen, w.ClaimWindowClose)
		sup.claimHeight = res.Height
	})
}

func prove(t *testing.T, s *soundness) {
	w, hdr := s.windows, s.session.Header
	// Block ProofSeed is the one before the window opens: proofs sent once
	// it is committed land in the window.
	s.proofSeed = blockHash(t, s.n, w.ProofSeed)
	s.eachSupplier(t, func(t *testing.T, sup *supplier) {
		root, err := protocol.ParseRoot(sup.tree.Root)
		require.NoError(t, err)
		points := protocol.ProofPoints(s.proofSeed, hdr.SessionId, sup.actor.Address, root.Sum, s.params.NumProofsPerClaim)
		for _, a := range sup.prove(t, s, sup, points) {
			res := s.n.SendTx(t, sup.name, &types.MsgSubmitProof{SupplierOperatorAddress: sup.actor.Address, SessionHeader: hdr, Proofs: a.proofs})
			t.Logf("%s (%d leaf proofs) in block %d: codespace %q code %d: %s", a.what, len(a.proofs), res.Height, res.Codespace, res.Code, res.RawLog)
			require.Positive(t, res.Height, "rejected by CheckTx: %s", res.RawLog)
			require.True(t, w.InProofWindow(res.Height), "proof in block %d, window %d-%d", res.Height, w.ProofWindowOpen, w.ProofWindowClose)
			if a.want == nil {
				require.Zero(t, res.Code, "%s: %s", a.what, res.RawLog)
				continue
			}
			require.Equal(t, types.ModuleName, res.Codespace, "%s: %s", a.what, res.RawLog)
			require.Equal(t, a.want.ABCICode(), res.Code, "%s: want %q, got: %s", a.what, a.want.Error(), res.RawLog)
		}
	})
}

func settle(t *testing.T, s *soundness) {
	n, w, p := s.n, s.windows, s.params
	_, err := n.WaitForHeight(w.ProofWindowClose + 1)
	require.NoError(t, err)
	after := s.snapshot(t)

	var (
		created, proven      = map[string]int{}, map[string]int{}
		settled              = map[string][]*types.EventClaimSettled{}
		expired              = map[string][]*types.EventClaimExpired{}
		slashed              = map[string][]sdkmath.Int{}
		other                []proto.Message
		settledAt, expiredAt = map[int64]bool{}, map[int64]bool{}
		paid, burned         = sdkmath.ZeroInt(), sdkmath.ZeroInt()
		sessionID, denom     = s.session.Header.SessionId, p.StakeDenom()
		share                = sdkmath.NewInt(appStake / int64(len(s.suppliers)))
	)
	for h := s.session.Header.SessionStartBlockHeight; h <= w.ProofWindowClose+1; h++ {
		for _, ev := range n.RelayerEvents(t, h, h) {
			switch ev := ev.(type) {
			case *types.EventClaimCreated:
				created[ev.Claim.SupplierOperatorAddress]++
			case *types.EventProofSubmitted:
				proven[ev.Claim.SupplierOperatorAddress]++
			case *types.EventClaimSettled:
				settled[ev.Claim.SupplierOperatorAddress] = append(settled[ev.Claim.SupplierOperatorAddress], ev)
				settledAt[h] = true
				paid = paid.Add(ev.Amount.Amount)
			case *types.EventClaimExpired:
				expired[ev.Claim.SupplierOperatorAddress] = append(expired[ev.Claim.SupplierOperatorAddress], ev)
				expiredAt[h] = true
			case *types.EventSupplierSlashed:
				require.Equal(t, sessionID, ev.SessionId)
				slashed[ev.SupplierOperatorAddress] = append(slashed[ev.SupplierOperatorAddress], ev.Penalty.Amount)
				burned = burned.Add(ev.Penalty.Amount)
			default:
				other = append(other, ev)
			}
		}
	}
	require.Empty(t, other, "no other relayer event during the session's lifecycle")
	require.Equal(t, map[int64]bool{w.ProofWindowClose: true}, settledAt, "claims settle when their proof window closes")
	require.Equal(t, map[int64]bool{w.ProofWindowClose: true}, expiredAt, "claims expire when their proof window closes")

	for _, sup := range s.suppliers {
		addr := sup.actor.Address
		require.Equal(t, 1, created[addr], "%s: one claim", sup.name)
		if sup.name == "honest" {
			require.Equal(t, 1, proven[addr], "honest proof accepted")
			require.Empty(t, expired[addr], "honest claim not expired")
			require.Empty(t, slashed[addr], "honest supplier not slashed")
			require.Len(t, settled[addr], 1)
			ev := settled[addr][0]
			root, err := protocol.ParseRoot(sup.tree.Root)
			require.NoError(t, err)
			owed := protocol.ClaimedTokens(root.Sum, p.ComputeUnitsToTokensMultiplier, difficultyTarget)
			require.Equal(t, sdkmath.NewInt(honestRelays*computeUnitsPerRelay*4), owed, "each minable relay stands for 4")
			require.True(t, owed.GT(share), "the honest claim is worth more than its share: the cap is exercised")
			require.Equal(t, sup.tree.Root, ev.Claim.RootHash)
			require.True(t, ev.ProofRequired)
			require.Equal(t, root.Sum, ev.NumClaimedComputeUnits)
			require.True(t, ev.Capped, "honest pay is capped at its share")
			require.Equal(t, sdk.NewCoin(denom, share), ev.Share, "share = app stake at session start / suppliers in session")
			require.Equal(t, ev.Share, ev.Amount)
			require.Equal(t, sdk.NewCoin(denom, owed.Sub(share)), ev.Excess)
			continue
		}
		require.Zero(t, proven[addr], "%s: no proof accepted", sup.name)
		require.Empty(t, settled[addr], "%s: not paid", sup.name)
		require.Len(t, expired[addr], 1, sup.name)
		require.Equal(t, "required proof missing", expired[addr][0].Reason, sup.name)
		require.Equal(t, []sdkmath.Int{p.ProofMissingPenalty.Amount}, slashed[addr], "%s: slashed exactly the missing-proof penalty", sup.name)
	}

	// Accounting over the whole run: fees are zero, so nothing moved but
	// what the events report.
	for _, sup := range s.suppliers {
		addr := sup.actor.Address
		got := sumAmounts(settled[addr])
		require.Equal(t, s.before.balances[addr].Add(got), after.balances[addr], "%s: balance moved by its settlements", sup.name)
		require.Equal(t, s.before.stakes[addr].Sub(sumInts(slashed[addr])), after.stakes[addr], "%s: stake moved by its slashes", sup.name)
	}
	require.Equal(t, share, paid, "only the honest supplier is paid, its share")
	require.Equal(t, p.ProofMissingPenalty.Amount.MulRaw(int64(len(s.suppliers)-1)), burned)
	require.Equal(t, s.before.appStake.Sub(paid), after.appStake, "the application's stake paid the settlements")
	require.Equal(t, s.before.escrow.Sub(paid).Sub(burned), after.escrow, "the escrow released the pay and burned the penalties")
}

// Honest supplier: serves relays, and claims the ones minable under the
// claim seed, each on its key's path.

func buildHonest(t *testing.T, s *soundness, sup relaytest.Actor) *relaytest.Tree {
	var served, claimed []*types.Relay
	for len(claimed) < honestRelays {
		r := relaytest.NewRelay(t, s.session.Header, s.app, sup, len(served))
		served = append(served, r)
		if s.minable(t, r.Req) {
			claimed = append(claimed, r)
		}
	}
	t.Logf("honest: %d relays served, %d minable", len(served), len(claimed))
	return relaytest.NewTree(t, computeUnitsPerRelay, claimed...)
}

func proveHonest(t *testing.T, s *soundness, sup *supplier, points []uint64) []attempt {
	proofs := openPoints(t, sup.tree, points)
	return []attempt{
		{"valid leaf proofs, one too few", proofs[:len(proofs)-1], types.ErrWrongProofCount},
		{"valid proof", proofs, nil},
	}
}

// Non-canonical leaves: every leaf is an honest minable relay on its key's
// path, re-encoded with an unknown field appended (field 15, varint 1):
// the same relay could otherwise be claimed under many encodings.
func buildNonCanonical(t *testing.T, s *soundness, sup relaytest.Actor) *relaytest.Tree {
	var leaves []protocol.TrieLeaf
	for _, req := range s.requests(t, sup, attackRelays, s.minable) {
		l := relaytest.Leaf(t, answer(t, req, sup), computeUnitsPerRelay)
		l.Value = append(l.Value, 0x78, 0x01)
		leaves = append(leaves, l)
	}
	return relaytest.BuildTree(t, leaves...)
}

// Grinding the difficulty: only relays above the target under the claim
// seed, each otherwise honest.
func buildGrinder(t *testing.T, s *soundness, sup relaytest.Actor) *relaytest.Tree {
	notMinable := func(t *testing.T, req *types.RelayRequest) bool { return !s.minable(t, req) }
	var relays []*types.Relay
	for _, req := range s.requests(t, sup, attackRelays, notMinable) {
		relays = append(relays, answer(t, req, sup))
	}
	return relaytest.NewTree(t, computeUnitsPerRelay, relays...)
}

// One request, many responses: one minable request answered ten times,
// each answer signed; the first on the key's path, the copies on made-up
// paths (sha256 of their leaf).
func buildOneRequestManyResponses(t *testing.T, s *soundness, sup relaytest.Actor) *relaytest.Tree {
	req := s.requests(t, sup, 1, s.minable)[0]
	var leaves []protocol.TrieLeaf
	for i := 0; i < 10; i++ {
		l := relaytest.Leaf(t, &types.Relay{Req: req, Res: relaytest.Answer(t, req, sup, []byte(fmt.Sprintf(`{"result":"answer %d"}`, i)))}, computeUnitsPerRelay)
		if i > 0 {
			l.Path = protocol.LeafPath(l.Value)
		}
		leaves = append(leaves, l)
	}
	return relaytest.BuildTree(t, leaves...)
}

func proveOneRequestManyResponses(t *testing.T, s *soundness, sup *supplier, points []uint64) []attempt {
	// The only leaf that verifies: the one on the request's key path.
	key, err := protocol.RelayKey(decodeLeaf(t, sup.tree.Leaves[0].Value).Req)
	require.NoError(t, err)
	onPath := -1
	for i, l := range sup.tree.Leaves {
		if bytes.Equal(l.Path, protocol.LeafPath(key)) {
			onPath = i
		}
	}
	require.GreaterOrEqual(t, onPath, 0)
	realProof := sup.tree.Prove(t, uint64(onPath)*computeUnitsPerRelay)
	substituted := make([]types.LeafProof, len(points))
	for i := range substituted {
		substituted[i] = realProof
	}
	return []attempt{
		{"best proof (copies off their key's path)", openPoints(t, sup.tree, points), types.ErrInvalidProof},
		{"the real leaf's proof for every point", substituted, types.ErrProofPointMismatch},
	}
}

// Fabricated weight: honest minable relays all with path bit 0 = 0, and as
// the root's right child a made-up node carrying 1000 times their weight.
func buildFabricatedSubtree(t *testing.T, s *soundness, sup relaytest.Actor) *relaytest.Tree {
	leftOnly := func(t *testing.T, req *types.RelayRequest) bool {
		key, err := protocol.RelayKey(req)
		require.NoError(t, err)
		return s.minable(t, req) && protocol.LeafPath(key)[0]&0x80 == 0
	}
	var relays []*types.Relay
	for _, req := range s.requests(t, sup, attackRelays, leftOnly) {
		relays = append(relays, answer(t, req, sup))
	}
	tr := relaytest.NewTree(t, computeUnitsPerRelay, relays...)
	enc, err := tr.Node(tr.Root[:32])
	require.NoError(t, err)
	left := enc[1 : 1+protocol.NodeSize]
	const fakeRelays = 1000 * attackRelays
	fake := make([]byte, protocol.NodeSize)
	_, err = rand.Read(fake[:32])
	require.NoError(t, err)
	binary.BigEndian.PutUint64(fake[32:], fakeRelays*computeUnitsPerRelay)
	binary.BigEndian.PutUint64(fake[40:], fakeRelays)
	root, err := protocol.InnerNode(left, fake)
	require.NoError(t, err)
	require.NoError(t, tr.PutNode(root[:32], append(append([]byte{1}, left...), fake...)))
	tr.Root = root
	return tr
}

func proveFabricatedSubtree(t *testing.T, s *soundness, sup *supplier, points []uint64) []attempt {
	// A point in the made-up part has no leaf: the closest honest one, the
	// last, stands in for it.
	honestSum := uint64(len(sup.tree.Leaves) * computeUnitsPerRelay)
	last := sup.tree.Prove(t, honestSum-1)
	proofs := make([]types.LeafProof, len(points))
	for i, pt := range points {
		if pt < honestSum {
			proofs[i] = sup.tree.Prove(t, pt)
		} else {
			proofs[i] = last
		}
	}
	return []attempt{
		{"best proof plus one", append(append([]types.LeafProof{}, proofs...), last), types.ErrWrongProofCount},
		{"best proof (an honest leaf for points in the made-up subtree)", proofs, types.ErrProofPointMismatch},
	}
}

// Refused relays paid: minable requests whose supplier-signed responses
// carry a relay error instead of a payload.
func buildRefused(t *testing.T, s *soundness, sup relaytest.Actor) *relaytest.Tree {
	var relays []*types.Relay
	for _, req := range s.requests(t, sup, attackRelays, s.minable) {
		key, err := protocol.RelayKey(req)
		require.NoError(t, err)
		hdr := *req.Meta.SessionHeader
		res := &types.RelayResponse{
			Meta:  types.RelayResponseMetadata{SessionHeader: &hdr, RelayKey: key},
			Error: &types.RelayError{Codespace: "relayminer", Code: 7, Message: "backend unavailable"},
		}
		relaytest.SignResponse(t, res, sup.Key)
		relays = append(relays, &types.Relay{Req: req, Res: res})
	}
	return relaytest.NewTree(t, computeUnitsPerRelay, relays...)
}

// Responses moved to another request: each minable request carries the
// signed answer to another real request of the session.
func buildMovedResponses(t *testing.T, s *soundness, sup relaytest.Actor) *relaytest.Tree {
	anyRequest := func(*testing.T, *types.RelayRequest) bool { return true }
	reqs := s.requests(t, sup, attackRelays, s.minable)
	others := s.requests(t, sup, attackRelays, anyRequest)
	var relays []*types.Relay
	for i, req := range reqs {
		relays = append(relays, &types.Relay{Req: req, Res: answer(t, others[i], sup).Res})
	}
	return relaytest.NewTree(t, computeUnitsPerRelay, relays...)
}

// proveBest submits, for each drawn point, the proof of the leaf holding it
// in the attacker's own trie: the best it can do. want is the rejection.
func proveBest(want *errorsmod.Error) func(*testing.T, *soundness, *supplier, []uint64) []attempt {
	return func(t *testing.T, s *soundness, sup *supplier, points []uint64) []attempt {
		return []attempt{{"best proof", openPoints(t, sup.tree, points), want}}
	}
}

// openPoints opens the leaf holding each point.
func openPoints(t *testing.T, tr *relaytest.Tree, points []uint64) []types.LeafProof {
	proofs := make([]types.LeafProof, len(points))
	for i, pt := range points {
		proofs[i] = tr.Prove(t, pt)
	}
	return proofs
}

// minable says whether req's relay counts under the claim seed.
func (s *soundness) minable(t *testing.T, req *types.RelayRequest) bool {
	key, err := protocol.RelayKey(req)
	require.NoError(t, err)
	return protocol.IsMinable(s.claimSeed, key, difficultyTarget)
}

// requests makes requests of the session from the application to sup, each
// with a fresh nonce, until n of them satisfy keep, and returns those.
func (s *soundness) requests(t *testing.T, sup relaytest.Actor, n int, keep func(*testing.T, *types.RelayRequest) bool) []*types.RelayRequest {
	var out []*types.RelayRequest
	for i := 0; len(out) < n; i++ {
		require.Less(t, i, 1000, "no request satisfies the filter")
		if req := relaytest.NewRequest(t, s.session.Header, s.app, sup.Address, i); keep(t, req) {
			out = append(out, req)
		}
	}
	return out
}

// answer is the relay of req with the supplier's signed, served response.
func answer(t *testing.T, req *types.RelayRequest, sup relaytest.Actor) *types.Relay {
	return &types.Relay{Req: req, Res: relaytest.Answer(t, req, sup, []byte(`{"jsonrpc":"2.0","id":1,"result":"0x1"}`))}
}

func decodeLeaf(t *testing.T, leaf []byte) *types.Relay {
	r, err := protocol.DecodeLeaf(leaf)
	require.NoError(t, err)
	return r
}

func (s *soundness) snapshot(t *testing.T) snapshot {
	ctx := context.Background()
	q := s.n.RelayerQuery()
	snap := snapshot{balances: map[string]sdkmath.Int{}, stakes: map[string]sdkmath.Int{}}
	for _, sup := range s.suppliers {
		addr := sup.actor.Address
		snap.balances[addr] = balance(t, s.n, addr)
		res, err := q.Supplier(ctx, &types.QuerySupplierRequest{OperatorAddress: addr})
		require.NoError(t, err)
		snap.stakes[addr] = res.Supplier.Stake.Amount
	}
	res, err := q.Application(ctx, &types.QueryApplicationRequest{Address: s.app.Address})
	require.NoError(t, err)
	snap.appStake = res.Application.Stake.Amount
	snap.escrow = balance(t, s.n, authtypes.NewModuleAddress(types.ModuleName).String())
	return snap
}

// keyringActor is the relaytest.Actor of a funded account of the network:
// its key derived from the account's mnemonic as the keyring derived it
// (secp256k1 signatures are deterministic: they equal the keyring's).
func keyringActor(t *testing.T, n *network.Network, name string) relaytest.Actor {
	t.Helper()
	derived, err := hd.Secp256k1.Derive()(n.Mnemonic(name), keyring.DefaultBIP39Passphrase, sdk.GetConfig().GetFullBIP44Path())
	require.NoError(t, err)
	key := hd.Secp256k1.Generate()(derived)
	a := relaytest.Actor{Key: key, Address: n.Address(name)}
	require.Equal(t, a.Address, sdk.AccAddress(key.PubKey().Address()).String())
	return a
}

func actors(sups []*supplier) []relaytest.Actor {
	out := make([]relaytest.Actor, len(sups))
	for i, s := range sups {
		out[i] = s.actor
	}
	return out
}

func inSession(sess types.Session, addr string) bool {
	for _, s := range sess.Suppliers {
		if s.OperatorAddress == addr {
			return true
		}
	}
	return false
}

// blockHash waits for block h and returns its hash.
func blockHash(t *testing.T, n *network.Network, h int64) []byte {
	t.Helper()
	_, err := n.WaitForHeight(h)
	require.NoError(t, err)
	b, err := n.RPCClient().Block(context.Background(), &h)
	require.NoError(t, err)
	require.NotEmpty(t, b.BlockID.Hash)
	return b.BlockID.Hash
}

func balance(t *testing.T, n *network.Network, addr string) sdkmath.Int {
	t.Helper()
	res, err := banktypes.NewQueryClient(n.QueryConn()).Balance(context.Background(), &banktypes.QueryBalanceRequest{Address: addr, Denom: types.DefaultDenom})
	require.NoError(t, err)
	return res.Balance.Amount
}

func sumAmounts(evs []*types.EventClaimSettled) sdkmath.Int {
	sum := sdkmath.ZeroInt()
	for _, ev := range evs {
		sum = sum.Add(ev.Amount.Amount)
	}
	return sum
}

func sumInts(v []sdkmath.Int) sdkmath.Int {
	sum := sdkmath.ZeroInt()
	for _, x := range v {
		sum = sum.Add(x)
	}
	return sum
}
