package session_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"cosmossdk.io/log"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/stretchr/testify/require"

	_ "github.com/pokt-network/poktroll/app" // bech32 prefixes
	"github.com/pokt-network/poktroll/testutil/relaytest"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/metrics"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/session"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/store"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

const cupr = 7

type fakeChain struct{ params types.Params }

func (c fakeChain) ParamsAt(context.Context, int64) (types.Params, error) { return c.params, nil }
func (fakeChain) BlockHash(_ context.Context, h int64) ([]byte, error) {
	b := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(h)))
	return b[:], nil
}
func (fakeChain) ProofRequired(context.Context, string, string) (bool, error) { return true, nil }

// fakeTx records submitted txs; fail decides each tx's outcome.
type fakeTx struct {
	mu   sync.Mutex
	txs  [][]sdk.Msg
	at   []time.Time // when each tx was submitted
	fail func(msgs []sdk.Msg) error
}

func (f *fakeTx) Submit(_ context.Context, _ string, _ int64, msgs ...sdk.Msg) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.txs = append(f.txs, msgs)
	f.at = append(f.at, time.Now())
	if f.fail != nil {
		return f.fail(msgs)
	}
	return nil
}

func (f *fakeTx) all() [][]sdk.Msg {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]sdk.Msg(nil), f.txs...)
}

type fixture struct {
	dir     string
	db      *store.DB
	chain   fakeChain
	tx      *fakeTx
	manager *session.Manager
	app     relaytest.Actor
	sup     relaytest.Actor
}

func newFixture(t testing.TB) *fixture {
	f := &fixture{dir: t.TempDir(), chain: fakeChain{params: types.DefaultParams()}, tx: &fakeTx{}, app: relaytest.NewActor(), sup: relaytest.NewActor()}
	f.open(t)
	return f
}

func (f *fixture) open(t testing.TB) {
	db, err := store.Open(f.dir, store.Options{})
	require.NoError(t, err)
	f.db = db
	f.manager = session.NewManager(db, f.chain, f.tx, log.NewNopLogger(), metrics.New())
	require.NoError(t, f.manager.Load())
	t.Cleanup(func() { _ = db.Close() })
}

func (f *fixture) header(start int64) types.SessionHeader {
	n := int64(f.chain.params.NumBlocksPerSession)
	id := protocol.SessionID([]byte{byte(start)}, "eth", f.app.Address, start)
	return types.SessionHeader{ApplicationAddress: f.app.Address, ServiceId: "eth", SessionId: id, SessionStartBlockHeight: start, SessionEndBlockHeight: start + n - 1}
}

// addRelay records r as the miner does.
func (f *fixture) addRelay(t testing.TB, r *types.Relay) error {
	key, err := protocol.RelayKey(r.Req)
	require.NoError(t, err)
	leaf, err := protocol.LeafBytes(r)
	require.NoError(t, err)
	return f.manager.AddRelay(*r.Req.Meta.SessionHeader, f.sup.Address, cupr, protocol.LeafPath(key), key, leaf)
}

func (f *fixture) add(t testing.TB, r *types.Relay) {
	require.NoError(t, f.addRelay(t, r))
}

func claimsOf(txs [][]sdk.Msg) map[string]*types.MsgCreateClaim {
	out := map[string]*types.MsgCreateClaim{}
	for _, tx := range txs {
		for _, m := range tx {
			if c, ok := m.(*types.MsgCreateClaim); ok {
				out[c.SessionHeader.SessionId] = c
			}
		}
	}
	return out
}

func TestConcurrentRelaysOfManySessionsAllCounted(t *testing.T) {
	f := newFixture(t)
	headers := []types.SessionHeader{f.header(1), f.header(5), f.header(9)}
	const perSession = 150
	relays := map[string][]*types.Relay{}
	for _, h := range headers {
		for i := 0; i < perSession; i++ {
			relays[h.SessionId] = append(relays[h.SessionId], relaytest.NewRelay(t, h, f.app, f.sup, i))
		}
	}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for _, h := range headers {
				for i := w; i < perSession; i += 8 {
					f.add(t, relays[h.SessionId][i])
				}
			}
		}(w)
	}
	wg.Wait()
	require.Len(t, f.manager.Trees(), 3)

	// Claim all three at a height inside every claim window: the batch holds
	// one claim per session, each equal to the same relays' in-memory root.
	w := protocol.SessionWindows(f.chain.params, headers[2].SessionEndBlockHeight)
	f.chain.params.ClaimWindowCloseOffsetBlocks = 100 // keep the earlier sessions' windows open too
	f.manager = session.NewManager(f.db, f.chain, f.tx, log.NewNopLogger(), metrics.New())
	require.NoError(t, f.manager.Load())
	f.manager.OnBlock(context.Background(), w.ClaimWindowOpen)
	f.manager.Wait()
	txs := f.tx.all()
	require.Len(t, txs, 1, "one tx for the supplier's claims")
	claims := claimsOf(txs)
	require.Len(t, claims, 3)
	for _, h := range headers {
		want := relaytest.NewTree(t, cupr, relays[h.SessionId]...)
		require.Equal(t, want.Root, claims[h.SessionId].RootHash, "session %s", h.SessionId)
		root, err := protocol.ParseRoot(claims[h.SessionId].RootHash)
		require.NoError(t, err)
		require.Equal(t, uint64(perSession), root.Count)
		require.Equal(t, uint64(perSession*cupr), root.Sum)
	}
}

func TestLifecycleClaimsProvesThenDeletesTree(t *testing.T) {
	f := newFixture(t)
	hdr := f.header(1)
	var relays []*types.Relay
	for i := 0; i < 40; i++ {
		r := relaytest.NewRelay(t, hdr, f.app, f.sup, i)
		relays = append(relays, r)
		f.add(t, r)
	}
	w := protocol.SessionWindows(f.chain.params, hdr.SessionEndBlockHeight)
	ctx := context.Background()

	// Nothing happens before the claim window opens.
	f.manager.OnBlock(ctx, w.ClaimWindowOpen-1)
	f.manager.Wait()
	require.Empty(t, f.tx.all())

	f.manager.OnBlock(ctx, w.ClaimWindowOpen)
	f.manager.Wait()
	claim := claimsOf(f.tx.all())[hdr.SessionId]
	require.NotNil(t, claim)
	require.Equal(t, relaytest.NewTree(t, cupr, relays...).Root, claim.RootHash)

	// A relay after the claim is refused, not silently dropped.
	require.ErrorIs(t, f.addRelay(t, relaytest.NewRelay(t, hdr, f.app, f.sup, 999)), session.ErrSessionClaimed)

	// No second claim while claimed.
	f.manager.OnBlock(ctx, w.ClaimWindowOpen+1)
	f.manager.Wait()
	require.Len(t, f.tx.all(), 1)

	f.manager.OnBlock(ctx, w.ProofWindowOpen)
	f.manager.Wait()
	txs := f.tx.all()
	require.Len(t, txs, 2)
	proof, ok := txs[1][0].(*types.MsgSubmitProof)
	require.True(t, ok)
	seed, _ := f.chain.BlockHash(ctx, w.ProofSeed)
	root, err := protocol.ParseRoot(claim.RootHash)
	require.NoError(t, err)
	points := protocol.ProofPoints(seed, hdr.SessionId, f.sup.Address, root.Sum, f.chain.params.NumProofsPerClaim)
	require.Len(t, proof.Proofs, len(points))
	for i, pt := range points {
		relay, err := protocol.VerifyLeafProof(claim.RootHash, pt, cupr, &proof.Proofs[i])
		require.NoError(t, err)
		require.Equal(t, hdr, *relay.Req.Meta.SessionHeader)
	}

	require.Empty(t, f.manager.Trees(), "proven tree is deleted")
	left := 0
	require.NoError(t, f.db.Iterate(nil, func(_, _ []byte) error { left++; return nil }))
	require.Zero(t, left, "nothing of the session is left in the store")
}

func TestRestartLosesNoLoggedRelay(t *testing.T) {
	f := newFixture(t)
	hdr := f.header(1)
	var relays []*types.Relay
	for i := 0; i < 300; i++ {
		r := relaytest.NewRelay(t, hdr, f.app, f.sup, i)
		relays = append(relays, r)
		f.add(t, r)
	}
	// Stop abruptly: no seal, no commit; only the store is closed.
	require.NoError(t, f.db.Close())
	f.open(t)
	require.Len(t, f.manager.Trees(), 1)

	w := protocol.SessionWindows(f.chain.params, hdr.SessionEndBlockHeight)
	f.manager.OnBlock(context.Background(), w.ClaimWindowOpen)
	f.manager.Wait()
	claim := claimsOf(f.tx.all())[hdr.SessionId]
	require.NotNil(t, claim)
	require.Equal(t, relaytest.NewTree(t, cupr, relays...).Root, claim.RootHash)
}

// TestClaimHoldsExactlyTheRelaysMinableUnderTheClaimSeed: with a 1/4
// target, the claim trie holds the relays whose key is minable under the
// hash of the block after the grace period, and only those.
func TestClaimHoldsExactlyTheRelaysMinableUnderTheClaimSeed(t *testing.T) {
	f := newFixture(t)
	target := append([]byte{0x3f}, bytes.Repeat([]byte{0xff}, 31)...)
	f.chain.params.RelayDifficultyTargets = []types.RelayDifficultyTarget{{ServiceId: "eth", Target: target}}
	f.manager = session.NewManager(f.db, f.chain, f.tx, log.NewNopLogger(), metrics.New())
	hdr := f.header(1)
	w := protocol.SessionWindows(f.chain.params, hdr.SessionEndBlockHeight)
	seed, _ := f.chain.BlockHash(context.Background(), w.ClaimSeed)
	var minable []*types.Relay
	for i := 0; i < 200; i++ {
		r := relaytest.NewRelay(t, hdr, f.app, f.sup, i)
		f.add(t, r)
		key, err := protocol.RelayKey(r.Req)
		require.NoError(t, err)
		if protocol.IsMinable(seed, key, target) {
			minable = append(minable, r)
		}
	}
	require.Greater(t, len(minable), 20)
	require.Less(t, len(minable), 90)
	f.manager.OnBlock(context.Background(), w.ClaimWindowOpen)
	f.manager.Wait()
	claim := claimsOf(f.tx.all())[hdr.SessionId]
	require.NotNil(t, claim)
	require.Equal(t, relaytest.NewTree(t, cupr, minable...).Root, claim.RootHash)
}

// TestOneRequestIsOneLeaf: a request logged twice (a replay, or another
// answer to it) is one leaf.
func TestOneRequestIsOneLeaf(t *testing.T) {
	f := newFixture(t)
	hdr := f.header(1)
	r := relaytest.NewRelay(t, hdr, f.app, f.sup, 1)
	f.add(t, r)
	again := &types.Relay{Req: r.Req, Res: relaytest.Answer(t, r.Req, f.sup, []byte("another answer"))}
	key, err := protocol.RelayKey(r.Req)
	require.NoError(t, err)
	seen, err := f.manager.Logged(hdr, f.sup.Address, protocol.LeafPath(key))
	require.NoError(t, err)
	require.True(t, seen)
	f.add(t, again)
	f.add(t, relaytest.NewRelay(t, hdr, f.app, f.sup, 2))
	w := protocol.SessionWindows(f.chain.params, hdr.SessionEndBlockHeight)
	f.manager.OnBlock(context.Background(), w.ClaimWindowOpen)
	f.manager.Wait()
	root, err := protocol.ParseRoot(claimsOf(f.tx.all())[hdr.SessionId].RootHash)
	require.NoError(t, err)
	require.Equal(t, uint64(2), root.Count)
}

func TestClaimedStateSurvivesRestart(t *testing.T) {
	f := newFixture(t)
	hdr := f.header(1)
	for i := 0; i < 5; i++ {
		f.add(t, relaytest.NewRelay(t, hdr, f.app, f.sup, i))
	}
	w := protocol.SessionWindows(f.chain.params, hdr.SessionEndBlockHeight)
	f.manager.OnBlock(context.Background(), w.ClaimWindowOpen)
	f.manager.Wait()
	require.NoError(t, f.db.Close())
	f.open(t)
	f.manager.OnBlock(context.Background(), w.ClaimWindowOpen+1)
	f.manager.Wait()
	require.Len(t, f.tx.all(), 1, "a claimed session is not claimed again after restart")
	f.manager.OnBlock(context.Background(), w.ProofWindowOpen)
	f.manager.Wait()
	_, ok := f.tx.all()[1][0].(*types.MsgSubmitProof)
	require.True(t, ok)
}

func TestBatchFailureFallsBackToOneClaimPerSession(t *testing.T) {
	f := newFixture(t)
	f.chain.params.ClaimWindowCloseOffsetBlocks = 100
	f.manager = session.NewManager(f.db, f.chain, f.tx, log.NewNopLogger(), metrics.New())
	good, bad := f.header(1), f.header(5)
	for i := 0; i < 3; i++ {
		f.add(t, relaytest.NewRelay(t, good, f.app, f.sup, i))
		f.add(t, relaytest.NewRelay(t, bad, f.app, f.sup, i))
	}
	f.tx.fail = func(msgs []sdk.Msg) error {
		for _, m := range msgs {
			if m.(*types.MsgCreateClaim).SessionHeader.SessionId == bad.SessionId {
				return fmt.Errorf("rejected: %w", types.ErrSessionMismatch)
			}
		}
		return nil
	}
	w := protocol.SessionWindows(f.chain.params, bad.SessionEndBlockHeight)
	f.manager.OnBlock(context.Background(), w.ClaimWindowOpen)
	f.manager.Wait()
	txs := f.tx.all()
	require.Len(t, txs, 3, "the batch, then each claim alone")
	states := map[string]bool{}
	for _, tr := range f.manager.Trees() {
		states[tr.Header().SessionId] = true
	}
	require.True(t, states[bad.SessionId], "the rejected session stays, to be retried")

	// A duplicate-claim rejection (e.g. after a crash between the claim
	// landing and being recorded) counts as claimed.
	f.tx.fail = func([]sdk.Msg) error { return types.ErrClaimExists }
	f.manager.OnBlock(context.Background(), w.ClaimWindowOpen+1)
	f.manager.Wait()
	f.tx.fail = nil
	f.manager.OnBlock(context.Background(), w.ProofWindowOpen)
	f.manager.Wait()
	require.Empty(t, f.manager.Trees())
}
