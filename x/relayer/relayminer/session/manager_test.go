package session_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cosmossdk.io/log"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/prometheus/client_golang/prometheus"
	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	_ "github.com/pokt-network/poktroll/app" // bech32 prefixes
	"github.com/pokt-network/poktroll/testutil/diskfault"
	"github.com/pokt-network/poktroll/testutil/relaytest"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/metrics"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/session"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/store"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

const cupr = 7

// fakeChain is the chain as the lifecycle sees it: params, block hashes,
// and the claims and proofs that landed (through fakeTx).
type fakeChain struct {
	params types.Params
	height atomic.Int64 // the newest block known: what the lifecycle was last handed

	mu       sync.Mutex
	claims   map[string]types.Claim // by session id + supplier
	proofs   map[string]bool
	settled  map[string]bool // outcome events: settled (true) or expired (false)
	required bool
}

func newFakeChain() *fakeChain {
	return &fakeChain{params: types.DefaultParams(), claims: map[string]types.Claim{}, proofs: map[string]bool{}, settled: map[string]bool{}, required: true}
}

func (c *fakeChain) Tip() int64                                            { return c.height.Load() }
func (c *fakeChain) ParamsAt(context.Context, int64) (types.Params, error) { return c.params, nil }
func (*fakeChain) BlockHash(_ context.Context, h int64) ([]byte, error) {
	b := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(h)))
	return b[:], nil
}
func (c *fakeChain) ProofRequired(context.Context, string, string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.required, nil
}
func (c *fakeChain) ClaimOf(_ context.Context, id, sup string) (*types.Claim, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.claims[id+sup]; ok {
		return &cl, nil
	}
	return nil, nil
}
func (c *fakeChain) HasProof(_ context.Context, id, sup string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.proofs[id+sup], nil
}
func (c *fakeChain) ClaimOutcome(_ context.Context, _ int64, id, sup string) (*types.EventClaimSettled, *types.EventClaimExpired, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ok, known := c.settled[id+sup]
	switch {
	case !known:
		return nil, nil, nil
	case ok:
		return &types.EventClaimSettled{Claim: c.claims[id+sup]}, nil, nil
	}
	return nil, &types.EventClaimExpired{Claim: c.claims[id+sup], Reason: "required proof missing"}, nil
}

// land applies a tx's messages to the chain.
func (c *fakeChain) land(msgs []sdk.Msg) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range msgs {
		switch m := m.(type) {
		case *types.MsgCreateClaim:
			c.claims[m.SessionHeader.SessionId+m.SupplierOperatorAddress] = types.Claim{SupplierOperatorAddress: m.SupplierOperatorAddress, SessionHeader: m.SessionHeader, RootHash: m.RootHash}
		case *types.MsgSubmitProof:
			c.proofs[m.SessionHeader.SessionId+m.SupplierOperatorAddress] = true
		}
	}
}

// fakeTx records submitted txs and lands them on the fake chain; fail, when
// set, decides each tx's outcome instead (a tx it fails does not land).
type fakeTx struct {
	chain *fakeChain

	mu       sync.Mutex
	txs      [][]sdk.Msg
	timeouts []int64
	at       []time.Time // when each tx was submitted
	fail     func(msgs []sdk.Msg) error
}

func (f *fakeTx) Submit(_ context.Context, _ string, timeout int64, msgs ...sdk.Msg) error {
	f.mu.Lock()
	f.txs = append(f.txs, msgs)
	f.timeouts = append(f.timeouts, timeout)
	f.at = append(f.at, time.Now())
	fail := f.fail
	f.mu.Unlock()
	if fail != nil {
		if err := fail(msgs); err != nil {
			return err
		}
	}
	f.chain.land(msgs)
	return nil
}

func (f *fakeTx) setFail(fail func([]sdk.Msg) error) {
	f.mu.Lock()
	f.fail = fail
	f.mu.Unlock()
}

func (f *fakeTx) all() [][]sdk.Msg {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]sdk.Msg(nil), f.txs...)
}

type fixture struct {
	dir     string
	db      *store.DB
	chain   *fakeChain
	metrics *metrics.Metrics
	tx      *fakeTx
	manager *session.Manager
	app     relaytest.Actor
	sup     relaytest.Actor
}

func newFixture(t testing.TB) *fixture {
	chain := newFakeChain()
	f := &fixture{dir: t.TempDir(), chain: chain, tx: &fakeTx{chain: chain}, app: relaytest.NewActor(), sup: relaytest.NewActor()}
	f.open(t, store.Options{})
	return f
}

// open (re)opens the store and a fresh manager on it, as a restarted
// RelayMiner does.
func (f *fixture) open(t testing.TB, opts store.Options) {
	db, err := store.Open(f.dir, opts)
	require.NoError(t, err)
	f.db = db
	f.restart(t)
	t.Cleanup(func() { _ = db.Close() })
}

// restart makes a fresh manager on the open store.
func (f *fixture) restart(t testing.TB) {
	f.metrics = metrics.New()
	f.manager = session.NewManager(f.db, f.chain, f.tx, log.NewNopLogger(), f.metrics, session.Options{})
	require.NoError(t, f.manager.Load())
}

// block hands height h to the manager and waits for the work it started.
func (f *fixture) block(h int64) {
	f.chain.height.Store(h)
	f.manager.OnBlock(context.Background(), h)
	f.manager.Wait()
}

func (f *fixture) counter(vec *prometheus.CounterVec, label string) float64 {
	return promtestutil.ToFloat64(vec.WithLabelValues(label))
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

// claimTxs are the txs carrying claims.
func claimTxs(txs [][]sdk.Msg) [][]sdk.Msg {
	var out [][]sdk.Msg
	for _, tx := range txs {
		if _, ok := tx[0].(*types.MsgCreateClaim); ok {
			out = append(out, tx)
		}
	}
	return out
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
	f.restart(t)
	f.block(w.ClaimWindowOpen)
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

// TestAddRelaysIsAddRelayInBatches: relays of several sessions recorded in
// one AddRelays give each session the claim AddRelay one by one gives; a
// sealed session's relays are refused with ErrSessionClaimed and the other
// sessions' still recorded.
func TestAddRelaysIsAddRelayInBatches(t *testing.T) {
	f := newFixture(t)
	headers := []types.SessionHeader{f.header(1), f.header(5)}
	batch := []session.Relay{}
	want := map[string][]*types.Relay{}
	for i := 0; i < 30; i++ {
		hdr := headers[i%2]
		r := relaytest.NewRelay(t, hdr, f.app, f.sup, i)
		key, err := protocol.RelayKey(r.Req)
		require.NoError(t, err)
		leaf, err := protocol.LeafBytes(r)
		require.NoError(t, err)
		batch = append(batch, session.Relay{Header: hdr, Supplier: f.sup.Address, ComputeUnitsPerRelay: cupr,
			Path: protocol.LeafPath(key), Key: key, Leaf: leaf})
		want[hdr.SessionId] = append(want[hdr.SessionId], r)
	}
	for _, err := range f.manager.AddRelays(batch[:20]) {
		require.NoError(t, err)
	}
	for _, err := range f.manager.AddRelays(batch[20:]) {
		require.NoError(t, err)
	}
	// Recorded again (a message mirrored twice): still one leaf each.
	for _, err := range f.manager.AddRelays(batch[:4]) {
		require.NoError(t, err)
	}

	w := protocol.SessionWindows(f.chain.params, headers[0].SessionEndBlockHeight)
	f.block(w.ClaimWindowOpen - 1)
	claims := claimsOf(f.tx.all())
	require.Equal(t, relaytest.NewTree(t, cupr, want[headers[0].SessionId]...).Root, claims[headers[0].SessionId].RootHash)

	// The first session is sealed now; the second is not.
	late := relaytest.NewRelay(t, headers[1], f.app, f.sup, 100)
	key, err := protocol.RelayKey(late.Req)
	require.NoError(t, err)
	leaf, err := protocol.LeafBytes(late)
	require.NoError(t, err)
	errs := f.manager.AddRelays([]session.Relay{
		batch[0],
		{Header: headers[1], Supplier: f.sup.Address, ComputeUnitsPerRelay: cupr, Path: protocol.LeafPath(key), Key: key, Leaf: leaf},
	})
	require.ErrorIs(t, errs[0], session.ErrSessionClaimed)
	require.NoError(t, errs[1])
	want[headers[1].SessionId] = append(want[headers[1].SessionId], late)

	w = protocol.SessionWindows(f.chain.params, headers[1].SessionEndBlockHeight)
	f.block(w.ClaimWindowOpen - 1)
	claims = claimsOf(f.tx.all())
	require.Equal(t, relaytest.NewTree(t, cupr, want[headers[1].SessionId]...).Root, claims[headers[1].SessionId].RootHash)
}

// remoteLog is a Coordinator whose log keeps leaf bytes by sequence (a
// fleet's, for relays recorded from its checkpoint).
type remoteLog struct {
	mu     sync.Mutex
	leaves map[uint64][]byte
	reads  int
}

func (*remoteLog) Leads(string) bool { return true }
func (*remoteLog) BeforeSeal(context.Context, types.SessionHeader, string) error {
	return nil
}
func (*remoteLog) Forget(context.Context, types.SessionHeader, string) {}
func (r *remoteLog) Leaf(_ string, seq uint64) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads++
	leaf, ok := r.leaves[seq]
	if !ok {
		return nil, fmt.Errorf("no message at sequence %d", seq)
	}
	return leaf, nil
}

// TestRemoteRelaysAreClaimedAndProven: relays recorded from a fleet's
// checkpoint (key, leaf hash and size, the leaf bytes left in the fleet's
// log) and relays recorded with their bytes make one claim, the root of
// all of them, and its proof opens leaves of both kinds: remote leaf bytes
// are read from the log and checked against their hash.
func TestRemoteRelaysAreClaimedAndProven(t *testing.T) {
	f := newFixture(t)
	rl := &remoteLog{leaves: map[uint64][]byte{}}
	f.manager = session.NewManager(f.db, f.chain, f.tx, log.NewNopLogger(), f.metrics, session.Options{Coordinator: rl})
	hdr := f.header(1)
	var all []*types.Relay
	var remote []session.RemoteRelay
	for i := 0; i < 40; i++ {
		r := relaytest.NewRelay(t, hdr, f.app, f.sup, i)
		all = append(all, r)
		if i%2 == 0 {
			f.add(t, r)
			continue
		}
		key, err := protocol.RelayKey(r.Req)
		require.NoError(t, err)
		leaf, err := protocol.LeafBytes(r)
		require.NoError(t, err)
		h := sha256.Sum256(leaf)
		seq := uint64(100 + i)
		rl.leaves[seq] = leaf
		remote = append(remote, session.RemoteRelay{Key: key, LeafHash: h[:], Size: uint32(len(leaf)), Seq: seq})
	}
	require.NoError(t, f.manager.AddRemoteRelays(hdr, f.sup.Address, cupr, remote))
	// Recorded again: still one leaf each.
	require.NoError(t, f.manager.AddRemoteRelays(hdr, f.sup.Address, cupr, remote[:3]))

	w := protocol.SessionWindows(f.chain.params, hdr.SessionEndBlockHeight)
	f.block(w.ClaimWindowOpen - 1)
	claim := claimsOf(f.tx.all())[hdr.SessionId]
	require.NotNil(t, claim)
	require.Equal(t, relaytest.NewTree(t, cupr, all...).Root, claim.RootHash)

	// Proofs at enough points to open remote leaves too.
	root, err := protocol.ParseRoot(claim.RootHash)
	require.NoError(t, err)
	points := make([]uint64, 0, 40)
	for i := uint64(0); i < 40; i++ {
		points = append(points, i*root.Sum/40)
	}
	trees := f.manager.Trees()
	require.Len(t, trees, 1)
	proofs, err := session.ProveForTest(trees[0], points, protocol.DifficultyTarget(f.chain.params, "eth"))
	require.NoError(t, err)
	for i, pt := range points {
		_, err := protocol.VerifyLeafProof(claim.RootHash, pt, cupr, &proofs[i])
		require.NoError(t, err)
	}
	require.Positive(t, rl.reads, "remote leaf bytes were read from the log")

	// A remote leaf whose bytes do not match its hash is refused.
	for seq := range rl.leaves {
		rl.leaves[seq] = append([]byte{1}, rl.leaves[seq]...)
	}
	_, err = session.ProveForTest(trees[0], points, protocol.DifficultyTarget(f.chain.params, "eth"))
	require.Error(t, err)
}

// TestLifecycleClaimsProvesThenForgetsTheTree follows one session from its
// relays to its settlement, each tx sent one block before its window opens
// so that it lands in the window's first block.
func TestLifecycleClaimsProvesThenForgetsTheTree(t *testing.T) {
	f := newFixture(t)
	hdr := f.header(1)
	var relays []*types.Relay
	for i := 0; i < 40; i++ {
		r := relaytest.NewRelay(t, hdr, f.app, f.sup, i)
		relays = append(relays, r)
		f.add(t, r)
	}
	w := protocol.SessionWindows(f.chain.params, hdr.SessionEndBlockHeight)
	require.Len(t, valueFiles(t, f.dir), 1, "the session's relay bytes are in one value file")

	f.block(w.ClaimWindowOpen - 2)
	require.Empty(t, f.tx.all(), "nothing before the block before the claim window")

	f.block(w.ClaimWindowOpen - 1)
	claim := claimsOf(f.tx.all())[hdr.SessionId]
	require.NotNil(t, claim)
	require.Equal(t, relaytest.NewTree(t, cupr, relays...).Root, claim.RootHash)
	require.Equal(t, w.ClaimWindowOpen-1+session.DefaultTxTimeoutBlocks, f.tx.timeouts[0], "a short timeout height")

	// A relay after the seal is refused, not silently dropped.
	require.ErrorIs(t, f.addRelay(t, relaytest.NewRelay(t, hdr, f.app, f.sup, 999)), session.ErrSessionClaimed)

	for h := w.ClaimWindowOpen; h < w.ProofWindowOpen-1; h++ {
		f.block(h)
	}
	require.Len(t, f.tx.all(), 1, "no second claim")

	f.block(w.ProofWindowOpen - 1)
	txs := f.tx.all()
	require.Len(t, txs, 2)
	proof, ok := txs[1][0].(*types.MsgSubmitProof)
	require.True(t, ok)
	seed, _ := f.chain.BlockHash(context.Background(), w.ProofSeed)
	root, err := protocol.ParseRoot(claim.RootHash)
	require.NoError(t, err)
	points := protocol.ProofPoints(seed, hdr.SessionId, f.sup.Address, root.Sum, f.chain.params.NumProofsPerClaim)
	require.Len(t, proof.Proofs, len(points))
	for i, pt := range points {
		relay, err := protocol.VerifyLeafProof(claim.RootHash, pt, cupr, &proof.Proofs[i])
		require.NoError(t, err)
		require.Equal(t, hdr, *relay.Req.Meta.SessionHeader)
	}

	// Proven: the relays are gone, the settlement is still to be read.
	require.Len(t, f.manager.Trees(), 1)
	require.Equal(t, 1, storeKeys(t, f.db), "only the session's metadata is left")
	require.Empty(t, valueFiles(t, f.dir), "the value file is removed")
	f.chain.settled[hdr.SessionId+f.sup.Address] = true
	f.block(w.ProofWindowClose)
	require.Empty(t, f.manager.Trees(), "forgotten once settled")
	require.Zero(t, storeKeys(t, f.db), "nothing of the session is left in the store")
	require.Equal(t, 1.0, f.counter(f.metrics.Settlements, "settled"))
	require.Len(t, f.tx.all(), 2)
}

// valueFiles lists the store's value files.
func valueFiles(t *testing.T, dir string) []os.DirEntry {
	entries, err := os.ReadDir(filepath.Join(dir, "values"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(t, err)
	return entries
}

func storeKeys(t *testing.T, db *store.DB) int {
	n := 0
	require.NoError(t, db.Iterate(nil, func(_, _ []byte) error { n++; return nil }))
	return n
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
	// Stop abruptly: no seal; only the store is closed.
	require.NoError(t, f.db.Close())
	f.open(t, store.Options{})
	require.Len(t, f.manager.Trees(), 1)

	w := protocol.SessionWindows(f.chain.params, hdr.SessionEndBlockHeight)
	f.block(w.ClaimWindowOpen)
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
	f.block(w.ClaimWindowOpen)
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
	f.block(w.ClaimWindowOpen)
	root, err := protocol.ParseRoot(claimsOf(f.tx.all())[hdr.SessionId].RootHash)
	require.NoError(t, err)
	require.Equal(t, uint64(2), root.Count)
}

func TestBatchFailureFallsBackToOneClaimPerSession(t *testing.T) {
	f := newFixture(t)
	f.chain.params.ClaimWindowCloseOffsetBlocks = 100
	good, bad := f.header(1), f.header(5)
	for i := 0; i < 3; i++ {
		f.add(t, relaytest.NewRelay(t, good, f.app, f.sup, i))
		f.add(t, relaytest.NewRelay(t, bad, f.app, f.sup, i))
	}
	f.tx.setFail(func(msgs []sdk.Msg) error {
		for _, m := range msgs {
			if m.(*types.MsgCreateClaim).SessionHeader.SessionId == bad.SessionId {
				return fmt.Errorf("rejected: %w", types.ErrSessionMismatch)
			}
		}
		return nil
	})
	w := protocol.SessionWindows(f.chain.params, bad.SessionEndBlockHeight)
	f.block(w.ClaimWindowOpen)
	require.Len(t, f.tx.all(), 3, "the batch, then each claim alone")
	_, err := f.chain.ClaimOf(context.Background(), good.SessionId, f.sup.Address)
	require.NoError(t, err)
	require.Contains(t, f.chain.claims, good.SessionId+f.sup.Address, "the good claim landed alone")
	require.Len(t, f.manager.Trees(), 2, "the rejected session stays, to be retried")
	require.Equal(t, 1.0, f.counter(f.metrics.Claims, "failed"))
}

// TestClaimThatLandedBeforeACrashIsRecognised: the claim tx lands but the
// RelayMiner dies before it hears so. After the restart it asks the chain,
// finds its own root there, sends no second claim and proves it.
func TestClaimThatLandedBeforeACrashIsRecognised(t *testing.T) {
	f := newFixture(t)
	hdr := f.header(1)
	for i := 0; i < 10; i++ {
		f.add(t, relaytest.NewRelay(t, hdr, f.app, f.sup, i))
	}
	w := protocol.SessionWindows(f.chain.params, hdr.SessionEndBlockHeight)
	f.tx.setFail(func(msgs []sdk.Msg) error {
		f.chain.land(msgs) // it lands...
		return errors.New("connection reset")
	}) // ...but the RelayMiner does not hear so
	f.block(w.ClaimWindowOpen - 1)
	require.Len(t, f.tx.all(), 1)
	f.tx.setFail(nil)

	require.NoError(t, f.db.Close())
	f.open(t, store.Options{})
	// Restarted after the claim window closed, in the proof window.
	f.block(w.ProofWindowOpen)
	txs := f.tx.all()
	require.Len(t, txs, 2, "no second claim; the proof")
	_, ok := txs[1][0].(*types.MsgSubmitProof)
	require.True(t, ok)
	require.Zero(t, f.counter(f.metrics.Claims, "missed"))
}

// TestLostClaimTxIsSentAgainUntilItLands: txs that never land (a node that
// lost its mempool) are sent again, each with a timeout height inside the
// window, until one lands.
func TestLostClaimTxIsSentAgainUntilItLands(t *testing.T) {
	f := newFixture(t)
	hdr := f.header(1)
	f.add(t, relaytest.NewRelay(t, hdr, f.app, f.sup, 1))
	w := protocol.SessionWindows(f.chain.params, hdr.SessionEndBlockHeight)
	lost := 0
	f.tx.setFail(func([]sdk.Msg) error {
		if lost < 3 {
			lost++
			return errors.New("tx not included by its timeout height")
		}
		return nil
	})
	sentAt := map[int]int64{}
	for h := w.ClaimWindowOpen - 1; h <= w.ClaimWindowClose; h++ {
		before := len(f.tx.all())
		f.block(h)
		if len(f.tx.all()) > before {
			sentAt[before] = h
		}
	}
	require.Len(t, claimTxs(f.tx.all()), 4, "three lost, the fourth landed")
	for i, timeout := range f.tx.timeouts[:4] {
		require.Greater(t, timeout, sentAt[i], "tx %d can still land", i)
		require.LessOrEqual(t, timeout, w.ClaimWindowClose, "tx %d never outlives the window", i)
	}
	require.Contains(t, f.chain.claims, hdr.SessionId+f.sup.Address)
	require.Equal(t, 3.0, f.counter(f.metrics.Claims, "failed"))
	require.Equal(t, 1.0, f.counter(f.metrics.Claims, "ok"))
}

// TestNoClaimOnChainWhenTheWindowClosesIsReportedLost: only when the chain
// holds no claim after the window is the session reported lost.
func TestNoClaimOnChainWhenTheWindowClosesIsReportedLost(t *testing.T) {
	f := newFixture(t)
	hdr := f.header(1)
	f.add(t, relaytest.NewRelay(t, hdr, f.app, f.sup, 1))
	w := protocol.SessionWindows(f.chain.params, hdr.SessionEndBlockHeight)
	f.tx.setFail(func([]sdk.Msg) error { return errors.New("node unreachable") })
	for h := w.ClaimWindowOpen - 1; h < w.ClaimWindowClose; h++ {
		f.block(h)
		require.Len(t, f.manager.Trees(), 1, "not lost while the window is open (height %d)", h)
	}
	require.Zero(t, f.counter(f.metrics.Claims, "missed"))
	f.block(w.ClaimWindowClose)
	require.Empty(t, f.manager.Trees())
	require.Equal(t, 1.0, f.counter(f.metrics.Claims, "missed"))
	require.Zero(t, storeKeys(t, f.db))
}

// TestRestartAfterTheProofWindowReadsTheSettlement: a RelayMiner back after
// the proof window closed (its proof landed before it went down) reports
// what the chain says, not a missed proof.
func TestRestartAfterTheProofWindowReadsTheSettlement(t *testing.T) {
	for _, tc := range []struct {
		name    string
		settled bool
		result  string
	}{{"settled", true, "settled"}, {"expired", false, "expired"}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			hdr := f.header(1)
			f.add(t, relaytest.NewRelay(t, hdr, f.app, f.sup, 1))
			w := protocol.SessionWindows(f.chain.params, hdr.SessionEndBlockHeight)
			f.block(w.ClaimWindowOpen - 1)
			require.Len(t, f.tx.all(), 1)
			require.NoError(t, f.db.Close())
			f.chain.settled[hdr.SessionId+f.sup.Address] = tc.settled

			f.open(t, store.Options{})
			f.block(w.ProofWindowClose + 3)
			require.Empty(t, f.manager.Trees())
			require.Equal(t, 1.0, f.counter(f.metrics.Settlements, tc.result))
			require.Len(t, f.tx.all(), 1, "no late proof")
		})
	}
}

// TestProofOnChainIsNotSentAgain: the proof landed before a restart.
func TestProofOnChainIsNotSentAgain(t *testing.T) {
	f := newFixture(t)
	hdr := f.header(1)
	f.add(t, relaytest.NewRelay(t, hdr, f.app, f.sup, 1))
	w := protocol.SessionWindows(f.chain.params, hdr.SessionEndBlockHeight)
	f.block(w.ClaimWindowOpen - 1)
	f.chain.proofs[hdr.SessionId+f.sup.Address] = true
	f.block(w.ProofWindowOpen)
	require.Len(t, f.tx.all(), 1, "only the claim")
	tm := f.manager.Trees()
	require.Len(t, tm, 1)
	require.Equal(t, 1, storeKeys(t, f.db), "proven: only the metadata is left")
}

// TestNoProofRequiredDeletesTheRelays.
func TestNoProofRequiredDeletesTheRelays(t *testing.T) {
	f := newFixture(t)
	f.chain.required = false
	hdr := f.header(1)
	f.add(t, relaytest.NewRelay(t, hdr, f.app, f.sup, 1))
	w := protocol.SessionWindows(f.chain.params, hdr.SessionEndBlockHeight)
	f.block(w.ClaimWindowOpen - 1)
	f.block(w.ProofWindowOpen - 1)
	require.Len(t, f.tx.all(), 1, "only the claim")
	require.Equal(t, 1.0, f.counter(f.metrics.Proofs, "not_required"))
	require.Equal(t, 1, storeKeys(t, f.db))
}

// TestFullDiskAtSealStillClaimsAndProves: the store cannot write when the
// claim window opens; the relays answered before are in the log, so the
// claim is built from it (its nodes kept nowhere), and the proof is built
// from the log again.
func TestFullDiskAtSealStillClaimsAndProves(t *testing.T) {
	f := newFixture(t)
	var disk diskfault.Disk
	require.NoError(t, f.db.Close())
	f.open(t, store.Options{WrapStorage: disk.Wrap})
	hdr := f.header(1)
	var relays []*types.Relay
	for i := 0; i < 50; i++ {
		r := relaytest.NewRelay(t, hdr, f.app, f.sup, i)
		relays = append(relays, r)
		f.add(t, r)
	}
	disk.SetFull(true)
	require.ErrorIs(t, f.addRelay(t, relaytest.NewRelay(t, hdr, f.app, f.sup, 99)), store.ErrUnavailable, "refused while the disk is full")
	w := protocol.SessionWindows(f.chain.params, hdr.SessionEndBlockHeight)
	f.block(w.ClaimWindowOpen - 1)
	claim := claimsOf(f.tx.all())[hdr.SessionId]
	require.NotNil(t, claim, "claimed though the disk is full")
	require.Equal(t, relaytest.NewTree(t, cupr, relays...).Root, claim.RootHash, "every relay answered before is in the claim")

	f.block(w.ProofWindowOpen - 1)
	txs := f.tx.all()
	require.Len(t, txs, 2)
	proof := txs[1][0].(*types.MsgSubmitProof)
	seed, _ := f.chain.BlockHash(context.Background(), w.ProofSeed)
	root, err := protocol.ParseRoot(claim.RootHash)
	require.NoError(t, err)
	for i, pt := range protocol.ProofPoints(seed, hdr.SessionId, f.sup.Address, root.Sum, f.chain.params.NumProofsPerClaim) {
		_, err := protocol.VerifyLeafProof(claim.RootHash, pt, cupr, &proof.Proofs[i])
		require.NoError(t, err, "proof %d built from the log", i)
	}
	disk.SetFull(false)
}

// TestTxLostOnTheWayIsSentAgainAtOnce: when a claim tx is known lost (the
// chain passed its timeout height without it), it is re-signed and sent at
// once, not a block later; a tx the chain refused is not.
func TestTxLostOnTheWayIsSentAgainAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		attempts int
	}{
		{"lost", errors.New("tx not included by its timeout height"), 3},
		{"refused", fmt.Errorf("rejected: %w", types.ErrSessionMismatch), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			hdr := f.header(1)
			f.add(t, relaytest.NewRelay(t, hdr, f.app, f.sup, 1))
			w := protocol.SessionWindows(f.chain.params, hdr.SessionEndBlockHeight)
			failures := 0
			f.tx.setFail(func([]sdk.Msg) error {
				if failures == 2 {
					return nil
				}
				failures++
				f.chain.height.Add(session.DefaultTxTimeoutBlocks) // the chain moved past its timeout
				return tc.err
			})
			f.block(w.ClaimWindowOpen - 1)
			require.Len(t, claimTxs(f.tx.all()), tc.attempts)
			if tc.attempts == 3 {
				require.Contains(t, f.chain.claims, hdr.SessionId+f.sup.Address)
				for i := 1; i < len(f.tx.timeouts); i++ {
					require.Greater(t, f.tx.timeouts[i], f.tx.timeouts[i-1], "each attempt re-signed with a later timeout")
				}
			}
		})
	}
}
