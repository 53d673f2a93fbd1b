package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cosmossdk.io/log"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/stretchr/testify/require"

	_ "github.com/pokt-network/poktroll/app" // bech32 prefixes
	"github.com/pokt-network/poktroll/testutil/jetstreamtest"
	"github.com/pokt-network/poktroll/testutil/relaytest"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/metrics"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/session"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/store"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

const cupr = 7

// fakeChain is the chain as the lifecycle sees it: default params, block
// hashes derived from heights, and the claims and proofs that landed.
type fakeChain struct {
	params types.Params
	height atomic.Int64

	mu     sync.Mutex
	claims map[string]types.Claim // by session id + supplier
	proofs map[string]bool
}

func newFakeChain() *fakeChain {
	return &fakeChain{params: types.DefaultParams(), claims: map[string]types.Claim{}, proofs: map[string]bool{}}
}

func (c *fakeChain) Tip() int64                                            { return c.height.Load() }
func (c *fakeChain) ParamsAt(context.Context, int64) (types.Params, error) { return c.params, nil }
func (*fakeChain) BlockHash(_ context.Context, h int64) ([]byte, error) {
	b := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(h)))
	return b[:], nil
}
func (*fakeChain) ProofRequired(context.Context, string, string) (bool, error) { return true, nil }
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
func (*fakeChain) ClaimOutcome(context.Context, int64, string, string) (*types.EventClaimSettled, *types.EventClaimExpired, error) {
	return nil, nil, nil
}

// fakeTx lands every tx on its chain and records the claims sent.
type fakeTx struct {
	chain *fakeChain

	mu     sync.Mutex
	claims []*types.MsgCreateClaim
	proofs []*types.MsgSubmitProof
}

func (f *fakeTx) Submit(_ context.Context, _ string, _ int64, msgs ...sdk.Msg) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.chain.mu.Lock()
	defer f.chain.mu.Unlock()
	for _, m := range msgs {
		switch m := m.(type) {
		case *types.MsgCreateClaim:
			if _, ok := f.chain.claims[m.SessionHeader.SessionId+m.SupplierOperatorAddress]; ok {
				return types.ErrClaimExists
			}
			f.claims = append(f.claims, m)
			f.chain.claims[m.SessionHeader.SessionId+m.SupplierOperatorAddress] = types.Claim{SupplierOperatorAddress: m.SupplierOperatorAddress, SessionHeader: m.SessionHeader, RootHash: m.RootHash}
		case *types.MsgSubmitProof:
			f.proofs = append(f.proofs, m)
			f.chain.proofs[m.SessionHeader.SessionId+m.SupplierOperatorAddress] = true
		}
	}
	return nil
}

func (f *fakeTx) sentClaims() []*types.MsgCreateClaim {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*types.MsgCreateClaim(nil), f.claims...)
}

// replica is one RelayMiner of a fleet: its local store and session
// manager, and its Fleet.
type replica struct {
	db       *store.DB
	chain    *fakeChain
	tx       *fakeTx
	metrics  *metrics.Metrics
	sessions *session.Manager
	fleet    *Fleet
	closed   bool
}

// leaseEvent is a lease change seen by a replica.
type leaseEvent struct {
	replica int
	held    bool
	at      time.Time
}

type fleetFixture struct {
	t        testing.TB
	cluster  *jetstreamtest.Cluster
	cfg      Config
	app, sup relaytest.Actor
	events   chan leaseEvent
	replicas []*replica
}

func newFleetFixture(t testing.TB, cluster *jetstreamtest.Cluster, replicas int, ttl time.Duration) *fleetFixture {
	ff := &fleetFixture{
		t: t, cluster: cluster, app: relaytest.NewActor(), sup: relaytest.NewActor(), events: make(chan leaseEvent, 64),
		// Checkpoints every few relays: the holders write them through
		// every test's faults.
		cfg: Config{URLs: cluster.URLs(), Replicas: min(3, len(cluster.URLs())), LeaseTTL: ttl, PublishTimeout: 5 * time.Second, CheckpointEvery: 7},
	}
	return ff
}

// start adds a replica on its own store and chain view (chain nil: a new
// fake chain of its own).
func (ff *fleetFixture) start(chain *fakeChain) *replica {
	t := ff.t
	db, err := store.Open(t.TempDir(), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return ff.startOn(db, chain)
}

// startOn adds a replica on an open store (a restarted replica's).
func (ff *fleetFixture) startOn(db *store.DB, chain *fakeChain) *replica {
	t := ff.t
	if chain == nil {
		chain = newFakeChain()
	}
	var err error
	r := &replica{db: db, chain: chain, tx: &fakeTx{chain: chain}, metrics: metrics.New()}
	cfg := ff.cfg
	i := len(ff.replicas)
	cfg.ReplicaID = "replica" + string(rune('a'+i))
	r.fleet, err = Open(context.Background(), cfg, db, log.NewNopLogger(), r.metrics)
	require.NoError(t, err)
	r.fleet.onLease = func(_ string, held bool) { ff.events <- leaseEvent{replica: i, held: held, at: time.Now()} }
	r.sessions = session.NewManager(db, chain, r.tx, log.NewNopLogger(), r.metrics, session.Options{Coordinator: r.fleet})
	require.NoError(t, r.sessions.Load())
	r.fleet.Start(context.Background(), r.sessions, ff.sup.Address)
	t.Cleanup(func() {
		if !r.closed {
			r.fleet.Stop()
		}
	})
	ff.replicas = append(ff.replicas, r)
	return r
}

// crash stops a replica as a kill -9 would: its lease is left to expire.
func (r *replica) crash() {
	r.closed = true
	r.fleet.Close()
}

// nextHolder waits for a replica to take the lease.
func (ff *fleetFixture) nextHolder(within time.Duration) leaseEvent {
	ff.t.Helper()
	timeout := time.After(within)
	for {
		select {
		case ev := <-ff.events:
			if ev.held {
				return ev
			}
		case <-timeout:
			ff.t.Fatalf("no replica took the lease within %v", within)
		}
	}
}

func (ff *fleetFixture) header(start int64) types.SessionHeader {
	n := int64(types.DefaultParams().NumBlocksPerSession)
	id := protocol.SessionID([]byte{byte(start)}, "eth", ff.app.Address, start)
	return types.SessionHeader{ApplicationAddress: ff.app.Address, ServiceId: "eth", SessionId: id, SessionStartBlockHeight: start, SessionEndBlockHeight: start + n - 1}
}

// relays makes n signed relays of a session.
func (ff *fleetFixture) relays(hdr types.SessionHeader, from, n int) []*types.Relay {
	out := make([]*types.Relay, n)
	for i := range out {
		out[i] = relaytest.NewRelay(ff.t, hdr, ff.app, ff.sup, from+i)
	}
	return out
}

// addRelay records r through s as the miner does.
func addRelay(t testing.TB, s interface {
	AddRelay(types.SessionHeader, string, uint64, []byte, []byte, []byte) error
}, sup string, r *types.Relay) error {
	key, err := protocol.RelayKey(r.Req)
	require.NoError(t, err)
	leaf, err := protocol.LeafBytes(r)
	require.NoError(t, err)
	return s.AddRelay(*r.Req.Meta.SessionHeader, sup, cupr, protocol.LeafPath(key), key, leaf)
}

// block hands height h to a replica's manager and waits for its work.
func (r *replica) block(h int64) {
	r.chain.height.Store(h)
	r.sessions.OnBlock(context.Background(), h)
	r.sessions.Wait()
}

// claimAt drives a replica's lifecycle to the block before hdr's claim
// window and returns the claim it sent, nil if none.
func (r *replica) claimAt(hdr types.SessionHeader) *types.MsgCreateClaim {
	w := protocol.SessionWindows(r.chain.params, hdr.SessionEndBlockHeight)
	r.block(w.ClaimWindowOpen - 1)
	for _, c := range r.tx.sentClaims() {
		if c.SessionHeader.SessionId == hdr.SessionId {
			return c
		}
	}
	return nil
}

func count(t testing.TB, c *types.MsgCreateClaim) uint64 {
	t.Helper()
	require.NotNil(t, c, "no claim sent")
	root, err := protocol.ParseRoot(c.RootHash)
	require.NoError(t, err)
	return root.Count
}

// mirrored waits until a replica holding the lease mirrored every message
// of the supplier appended so far.
func (r *replica) mirrored(t testing.TB, supplier string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	last, err := r.fleet.lastSeq(ctx, supplier)
	require.NoError(t, err)
	require.NoError(t, r.fleet.lease(supplier).waitApplied(ctx, last))
}
