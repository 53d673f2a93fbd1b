package fleet

import (
	"context"
	"errors"
	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cosmossdk.io/log"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/jetstreamtest"
	"github.com/pokt-network/poktroll/testutil/relaytest"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/metrics"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/session"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/store"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// TestMirroredRelaysClaimTheLevelDBRoot: relays appended to the shared log
// (through two replicas) and mirrored by the lease holder are claimed with
// the root a RelayMiner alone on leveldb claims for the same relays.
func TestMirroredRelaysClaimTheLevelDBRoot(t *testing.T) {
	ff := newFleetFixture(t, jetstreamtest.NewServer(t, jetstreamtest.Options{}), 2, time.Second)
	a := ff.start(nil)
	ff.nextHolder(5 * time.Second)
	b := ff.start(a.chain)
	holder, other := a, b
	if !a.fleet.Leads(ff.sup.Address) {
		holder, other = b, a
	}
	hdr := ff.header(1)
	relays := ff.relays(hdr, 0, 60)
	for i, r := range relays {
		require.NoError(t, addRelay(t, []*replica{holder, other}[i%2].fleet, ff.sup.Address, r))
	}
	holder.mirrored(t, ff.sup.Address)
	claim := holder.claimAt(hdr)
	require.Equal(t, relaytest.NewTree(t, cupr, relays...).Root, claim.RootHash)
	require.Equal(t, uint64(len(relays)), count(t, claim))
	require.Empty(t, other.tx.sentClaims(), "a replica without the lease does not claim")
}

// TestAppendOutcomes: what the shared log answers maps to the errors the
// proxy turns into 409, 410 and 503.
func TestAppendOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name string
		// before runs before the relay is appended again.
		before func(t *testing.T, ff *fleetFixture, r *replica, hdr types.SessionHeader)
		want   error
	}{
		{"the same relay again is a replay", func(*testing.T, *fleetFixture, *replica, types.SessionHeader) {}, session.ErrRelayLogged},
		{"a relay after the session's seal marker is refused as session over", func(t *testing.T, ff *fleetFixture, r *replica, hdr types.SessionHeader) {
			_, err := r.fleet.seal(context.Background(), ff.sup.Address, hdr.SessionId)
			require.NoError(t, err)
		}, session.ErrSessionClaimed},
		{"a relay the servers cannot store is refused as store unavailable", func(t *testing.T, ff *fleetFixture, _ *replica, _ types.SessionHeader) {
			ff.cluster.Stop(0)
		}, store.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ff := newFleetFixture(t, jetstreamtest.NewServer(t, jetstreamtest.Options{}), 1, time.Second)
			ff.cfg.PublishTimeout = 500 * time.Millisecond
			r := ff.start(nil)
			hdr := ff.header(1)
			relays := ff.relays(hdr, 0, 2)
			require.NoError(t, addRelay(t, r.fleet, ff.sup.Address, relays[0]))
			tc.before(t, ff, r, hdr)
			again := relays[0]
			if !errors.Is(tc.want, session.ErrRelayLogged) {
				again = relays[1]
			}
			err := addRelay(t, r.fleet, ff.sup.Address, again)
			require.ErrorIs(t, err, tc.want)
			for _, other := range []error{session.ErrRelayLogged, session.ErrSessionClaimed, store.ErrUnavailable} {
				if other != tc.want {
					require.NotErrorIs(t, err, other)
				}
			}
		})
	}
}

// TestReplayIsSeenBeforeServing: a replica refuses a request it appended
// before it reaches the backend (Logged), and the holder refuses one it
// mirrored from another replica.
func TestReplayIsSeenBeforeServing(t *testing.T) {
	ff := newFleetFixture(t, jetstreamtest.NewServer(t, jetstreamtest.Options{}), 2, time.Second)
	a := ff.start(nil)
	ff.nextHolder(5 * time.Second)
	b := ff.start(a.chain)
	hdr := ff.header(1)
	r := ff.relays(hdr, 0, 1)[0]
	require.NoError(t, addRelay(t, b.fleet, ff.sup.Address, r))
	key, err := protocol.RelayKey(r.Req)
	require.NoError(t, err)
	seen, err := b.fleet.Logged(hdr, ff.sup.Address, protocol.LeafPath(key))
	require.NoError(t, err)
	require.True(t, seen, "the replica that appended it")
	require.Eventually(t, func() bool {
		seen, err := a.fleet.Logged(hdr, ff.sup.Address, protocol.LeafPath(key))
		return err == nil && seen
	}, 5*time.Second, 10*time.Millisecond, "the holder, once mirrored")
}

// TestLeaseOneHolderAndTakeoverLosesNothing: among three replicas exactly
// one holds the supplier's lease; when it dies (its lease left to expire)
// another takes it within two TTLs, catches up from the stream and claims
// every relay any replica answered.
func TestLeaseOneHolderAndTakeoverLosesNothing(t *testing.T) {
	const ttl = 2 * time.Second // long enough that a loaded machine's delays stay small beside it
	ff := newFleetFixture(t, jetstreamtest.NewCluster(t, 3, jetstreamtest.Options{}), 3, ttl)
	chain := newFakeChain()
	for range 3 {
		ff.start(chain)
	}
	first := ff.nextHolder(5 * time.Second)
	holders := 0
	for _, r := range ff.replicas {
		if r.fleet.Leads(ff.sup.Address) {
			holders++
		}
	}
	require.Equal(t, 1, holders, "exactly one lease holder")

	hdr := ff.header(1)
	relays := ff.relays(hdr, 0, 90)
	for i, r := range relays {
		require.NoError(t, addRelay(t, ff.replicas[i%3].fleet, ff.sup.Address, r))
	}
	killed := time.Now()
	ff.replicas[first.replica].crash()
	next := ff.nextHolder(3 * ttl)
	require.NotEqual(t, first.replica, next.replica)
	took := next.at.Sub(killed)
	t.Logf("lease taken over %v after the holder died (ttl %v)", took, ttl)
	require.Less(t, took, 2*ttl+ttl/2, "takeover within about two TTLs")

	claim := ff.replicas[next.replica].claimAt(hdr)
	require.Equal(t, uint64(len(relays)), count(t, claim), "every answered relay claimed")
	require.Equal(t, relaytest.NewTree(t, cupr, relays...).Root, claim.RootHash)
	for i, r := range ff.replicas {
		if i != next.replica {
			require.Empty(t, r.tx.sentClaims(), "replica %d holds no lease and claims nothing", i)
		}
	}
}

// TestTwoHoldersClaimTheSameRoot: a holder seals and claims; it dies
// between its claim and its proof, and the next holder, rebuilding the
// session from the stream, seals at the same marker and computes the same
// root (so a second claim, or two holders at once, costs a rejected
// duplicate tx, never a conflicting claim).
func TestTwoHoldersClaimTheSameRoot(t *testing.T) {
	ff := newFleetFixture(t, jetstreamtest.NewServer(t, jetstreamtest.Options{}), 2, time.Second)
	a := ff.start(nil)
	first := ff.nextHolder(5 * time.Second)
	require.Equal(t, 0, first.replica)
	b := ff.start(nil) // its own chain view: it sends its own claim
	hdr := ff.header(1)
	relays := ff.relays(hdr, 0, 50)
	for i, r := range relays {
		require.NoError(t, addRelay(t, []*replica{a, b}[i%2].fleet, ff.sup.Address, r))
	}
	a.mirrored(t, ff.sup.Address)
	claimA := a.claimAt(hdr)
	require.NotNil(t, claimA)
	// A relay after the seal is refused everywhere.
	late := ff.relays(hdr, 1000, 1)[0]
	require.ErrorIs(t, addRelay(t, b.fleet, ff.sup.Address, late), session.ErrSessionClaimed)

	a.crash()
	require.Equal(t, 1, ff.nextHolder(5*time.Second).replica)
	claimB := b.claimAt(hdr)
	require.Equal(t, claimA.RootHash, claimB.RootHash)
	require.Equal(t, uint64(len(relays)), count(t, claimB))
}

// TestRestartedHolderResumesWhereItStopped: a holder that stops (giving
// up its lease) and starts again on its store resumes mirroring after the
// last sequence it mirrored, and claims each relay once.
func TestRestartedHolderResumesWhereItStopped(t *testing.T) {
	ff := newFleetFixture(t, jetstreamtest.NewServer(t, jetstreamtest.Options{}), 1, time.Second)
	a := ff.start(nil)
	ff.nextHolder(5 * time.Second)
	hdr := ff.header(1)
	relays := ff.relays(hdr, 0, 40)
	for _, r := range relays[:25] {
		require.NoError(t, addRelay(t, a.fleet, ff.sup.Address, r))
	}
	a.mirrored(t, ff.sup.Address)
	a.fleet.Stop()
	a.closed = true
	require.False(t, a.fleet.Leads(ff.sup.Address))
	mirroredTo := a.fleet.loadApplied(ff.sup.Address)
	require.NotZero(t, mirroredTo)

	again := ff.startOn(a.db, a.chain)
	require.Equal(t, 1, ff.nextHolder(5*time.Second).replica)
	for _, r := range relays[25:] {
		require.NoError(t, addRelay(t, again.fleet, ff.sup.Address, r))
	}
	again.mirrored(t, ff.sup.Address)
	claim := again.claimAt(hdr)
	require.Equal(t, uint64(len(relays)), count(t, claim))
	require.Equal(t, relaytest.NewTree(t, cupr, relays...).Root, claim.RootHash)
}

// TestLostLeaseStopsClaiming: a holder whose lease was taken from it (its
// renewal fails) stops leading, and does not claim; the new holder does.
func TestLostLeaseStopsClaiming(t *testing.T) {
	ff := newFleetFixture(t, jetstreamtest.NewServer(t, jetstreamtest.Options{}), 2, time.Second)
	chain := newFakeChain()
	a := ff.start(chain)
	ff.nextHolder(5 * time.Second)
	b := ff.start(chain)
	hdr := ff.header(1)
	relays := ff.relays(hdr, 0, 20)
	for i, r := range relays {
		require.NoError(t, addRelay(t, []*replica{a, b}[i%2].fleet, ff.sup.Address, r))
	}
	// The key is deleted under the holder (as an operator, or an expiry
	// while it was paused, would): b takes it, a's next renewal fails.
	require.NoError(t, a.fleet.leases.Delete(context.Background(), a.fleet.names.token(ff.sup.Address)))
	require.Equal(t, 1, ff.nextHolder(5*time.Second).replica)
	require.Eventually(t, func() bool { return !a.fleet.Leads(ff.sup.Address) }, 5*time.Second, 10*time.Millisecond)
	require.Nil(t, a.claimAt(hdr), "the replica that lost the lease does not claim")
	b.mirrored(t, ff.sup.Address)
	require.Equal(t, uint64(len(relays)), count(t, b.claimAt(hdr)))
}

// TestJetStreamDownThenBack: with every JetStream server down relays are
// refused as unavailable and the holder stops leading; once the server is
// back the replica serves again by itself, a holder leads again, and every
// relay acknowledged before and after is claimed.
func TestJetStreamDownThenBack(t *testing.T) {
	ff := newFleetFixture(t, jetstreamtest.NewServer(t, jetstreamtest.Options{}), 1, time.Second)
	ff.cfg.PublishTimeout = 300 * time.Millisecond
	r := ff.start(nil)
	ff.nextHolder(5 * time.Second)
	hdr := ff.header(1)
	relays := ff.relays(hdr, 0, 30)
	for _, rel := range relays[:10] {
		require.NoError(t, addRelay(t, r.fleet, ff.sup.Address, rel))
	}

	ff.cluster.Stop(0)
	require.ErrorIs(t, addRelay(t, r.fleet, ff.sup.Address, relays[10]), store.ErrUnavailable)
	select {
	case lost := <-ff.events: // its renewal fails
		require.False(t, lost.held)
	case <-time.After(10 * time.Second):
		t.Fatal("the holder did not give up its lease while JetStream was down")
	}
	require.False(t, r.fleet.Leads(ff.sup.Address))
	// Down for longer than the publish timeout: refused at once, without
	// trying (an outage, not a move to another server).
	require.Eventually(t, func() bool {
		err := addRelay(t, r.fleet, ff.sup.Address, relays[10])
		require.ErrorIs(t, err, store.ErrUnavailable)
		return errors.Is(err, ErrUnreachable)
	}, 10*time.Second, 50*time.Millisecond, "refused at once during an outage")

	ff.cluster.Restart(0)
	require.Eventually(t, func() bool {
		return addRelay(t, r.fleet, ff.sup.Address, relays[10]) == nil
	}, 10*time.Second, 50*time.Millisecond, "serving again once JetStream is back")
	for _, rel := range relays[11:] {
		require.NoError(t, addRelay(t, r.fleet, ff.sup.Address, rel))
	}
	ff.nextHolder(10 * time.Second)
	r.mirrored(t, ff.sup.Address)
	require.Equal(t, uint64(len(relays)), count(t, r.claimAt(hdr)))
}

// TestNodeStoppedMidLoadLosesNoAcknowledgedRelay: the stream leader of a
// three-node cluster stops while relays are appended; every relay whose
// append was acknowledged is in the stream afterwards.
func TestNodeStoppedMidLoadLosesNoAcknowledgedRelay(t *testing.T) {
	cluster := jetstreamtest.NewCluster(t, 3, jetstreamtest.Options{})
	ff := newFleetFixture(t, cluster, 1, time.Second)
	ff.cfg.PublishTimeout = 2 * time.Second
	r := ff.start(nil)
	hdr := ff.header(1)
	relays := ff.relays(hdr, 0, 400)

	var acked sync.Map
	var n, refused atomic.Int64
	stopAt := int64(len(relays) / 3)
	third := make(chan struct{}) // closed once a third was appended
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-third
		si, err := r.fleet.stream.Info(context.Background())
		if err != nil || si.Cluster == nil {
			cluster.Stop(0)
			return
		}
		for i := range 3 {
			if s := cluster.Server(i); s != nil && s.Name() == si.Cluster.Leader {
				cluster.Stop(i)
				return
			}
		}
		cluster.Stop(0)
	}()
	var wg sync.WaitGroup
	work := make(chan *types.Relay)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rel := range work {
				err := addRelay(t, r.fleet, ff.sup.Address, rel)
				if n.Add(1) == stopAt {
					close(third)
				}
				switch {
				case err == nil:
					key, _ := protocol.RelayKey(rel.Req)
					acked.Store(string(key), true)
				case errors.Is(err, store.ErrUnavailable):
					refused.Add(1)
				default:
					t.Errorf("unexpected append error: %v", err)
				}
			}
		}()
	}
	for _, rel := range relays {
		work <- rel
	}
	close(work)
	wg.Wait()
	<-stopped

	// Read the whole stream back.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cons, err := r.fleet.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: ff.cfgNames().supplierFilters(ff.sup.Address)})
	require.NoError(t, err)
	stored := map[string]bool{}
	for {
		batch, err := cons.FetchNoWait(500)
		require.NoError(t, err)
		got := 0
		for m := range batch.Messages() {
			stored[string(m.Data()[:protocol.HashSize])] = true
			got++
		}
		if got == 0 {
			break
		}
	}
	ackedN := 0
	acked.Range(func(k, _ any) bool {
		ackedN++
		require.True(t, stored[k.(string)], "an acknowledged relay is missing from the stream")
		return true
	})
	t.Logf("%d relays appended, %d acknowledged, %d refused as unavailable, %d in the stream", len(relays), ackedN, refused.Load(), len(stored))
	require.Equal(t, int64(len(relays)), int64(ackedN)+refused.Load())
	require.Greater(t, ackedN, len(relays)/3)
}

func (ff *fleetFixture) cfgNames() names {
	c, err := ff.cfg.withDefaults()
	require.NoError(ff.t, err)
	return newNames(c.Prefix)
}

// TestConfigProblemsNameTheSetting: settings that cannot work are refused
// before anything is served, naming the setting at fault.
func TestConfigProblemsNameTheSetting(t *testing.T) {
	srv := jetstreamtest.NewServer(t, jetstreamtest.Options{Token: "s3cret"})
	for _, tc := range []struct {
		name    string
		cfg     Config
		setting string
	}{
		{"no urls", Config{}, "urls"},
		{"unreachable server", Config{URLs: []string{"nats://127.0.0.1:1"}}, "urls"},
		{"wrong token", Config{URLs: srv.URLs(), Token: "nope", Replicas: 1}, "token"},
		{"bad prefix", Config{URLs: srv.URLs(), Prefix: "a.b"}, "prefix"},
		{"more replicas than servers", Config{URLs: srv.URLs(), Token: "s3cret", Replicas: 3}, "replicas"},
		{"token and credentials", Config{URLs: srv.URLs(), Token: "x", CredentialsFile: "/x"}, "token"},
		{"missing credentials file", Config{URLs: srv.URLs(), CredentialsFile: "/nonexistent.creds"}, "credentials_file"},
		{"cert without key", Config{URLs: srv.URLs(), TLS: TLS{Cert: "c.pem"}}, "tls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := store.Open(t.TempDir(), store.Options{})
			require.NoError(t, err)
			defer db.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			f, err := Open(ctx, tc.cfg, db, log.NewNopLogger(), metrics.New())
			if f != nil {
				f.Close()
			}
			var se *SettingError
			require.ErrorAs(t, err, &se)
			require.Equal(t, tc.setting, se.Setting, "%v", err)
		})
	}
}

// TestStandbysMirrorBeforeTheyLead: every replica mirrors the fleet's relay
// log as it is written, so the replica taking over a dead holder's lease
// has nothing left to replay; a standby drops its copy of a session once
// the session's proof window closed.
func TestStandbysMirrorBeforeTheyLead(t *testing.T) {
	const ttl = 2 * time.Second
	ff := newFleetFixture(t, jetstreamtest.NewCluster(t, 1, jetstreamtest.Options{}), 1, ttl)
	chain := newFakeChain()
	for range 3 {
		ff.start(chain)
	}
	first := ff.nextHolder(5 * time.Second)

	hdr := ff.header(1)
	relays := ff.relays(hdr, 0, 60)
	for i, r := range relays {
		require.NoError(t, addRelay(t, ff.replicas[i%3].fleet, ff.sup.Address, r))
	}
	ctx := context.Background()
	last, err := ff.replicas[first.replica].fleet.lastSeq(ctx, ff.sup.Address)
	require.NoError(t, err)
	for i, r := range ff.replicas {
		r.mirrored(t, ff.sup.Address)
		for _, rel := range relays {
			key, err := protocol.RelayKey(rel.Req)
			require.NoError(t, err)
			logged, err := r.sessions.Logged(hdr, ff.sup.Address, protocol.LeafPath(key))
			require.NoError(t, err)
			require.True(t, logged, "replica %d (holder: %v) mirrored every relay", i, i == first.replica)
		}
	}

	ff.replicas[first.replica].crash()
	next := ff.nextHolder(3 * ttl)
	require.Equal(t, last, ff.replicas[next.replica].fleet.lease(ff.sup.Address).appliedSeq(),
		"the new holder had mirrored the whole log before it took the lease")
	claim := ff.replicas[next.replica].claimAt(hdr)
	require.Equal(t, uint64(len(relays)), count(t, claim), "every answered relay claimed")

	standby := ff.replicas[3-first.replica-next.replica]
	require.False(t, standby.fleet.Leads(ff.sup.Address))
	w := protocol.SessionWindows(chain.params, hdr.SessionEndBlockHeight)
	standby.block(w.ProofWindowClose)
	require.Len(t, standby.sessions.Trees(), 1, "kept until its proof window closed")
	standby.block(w.ProofWindowClose + 1)
	require.Empty(t, standby.sessions.Trees(), "a standby's copy is dropped after the proof window")
	require.Empty(t, standby.tx.sentClaims(), "a standby claims nothing")
}

// TestNewReplicaStartsFromTheCheckpoint: the lease holder writes a
// checkpoint every CheckpointEvery relays it mirrors; a replica started on
// an empty store after the holder died loads the last committed one (the
// relays' keys, leaf hashes and sequences, not their bytes), mirrors only
// what came after it, claims every relay with the root of the full tree,
// and proves the claim, reading the proven leaves' bytes from the stream.
func TestNewReplicaStartsFromTheCheckpoint(t *testing.T) {
	ff := newFleetFixture(t, jetstreamtest.NewServer(t, jetstreamtest.Options{}), 1, 500*time.Millisecond)
	ff.cfg.CheckpointEvery = 50
	chain := newFakeChain()
	a := ff.start(chain)
	ff.nextHolder(5 * time.Second)
	first, second := ff.header(1), ff.header(5)
	relays := map[string][]*types.Relay{first.SessionId: ff.relays(first, 0, 120), second.SessionId: ff.relays(second, 0, 80)}
	for _, hdr := range []types.SessionHeader{first, second} {
		for _, rel := range relays[hdr.SessionId] {
			require.NoError(t, addRelay(t, a.fleet, ff.sup.Address, rel))
		}
	}
	a.mirrored(t, ff.sup.Address)
	// The first session's 120 relays are the stream's first 120 messages:
	// wait for a checkpoint past them.
	var covered uint64
	require.Eventually(t, func() bool {
		var err error
		covered, err = a.fleet.lastCheckpoint(context.Background(), ff.sup.Address)
		require.NoError(t, err)
		return covered >= 120
	}, 20*time.Second, 20*time.Millisecond, "a checkpoint covering the first session")
	require.Positive(t, promtestutil.ToFloat64(a.metrics.FleetCheckpoints.WithLabelValues(ff.sup.Address)))

	a.crash()
	b := ff.start(chain)
	ff.nextHolder(10 * time.Second)
	l := b.fleet.lease(ff.sup.Address)
	require.GreaterOrEqual(t, l.loadedCovers.Load(), covered)
	inCheckpoint := 0
	require.NoError(t, b.fleet.readRelays(context.Background(), ff.sup.Address, 1, l.loadedCovers.Load(), func(checkpointItem) { inCheckpoint++ }))
	require.Equal(t, int64(inCheckpoint), l.loaded.Load(), "the committed checkpoint's relays loaded, the rest mirrored")

	for _, hdr := range []types.SessionHeader{first, second} {
		claim := b.claimAt(hdr)
		require.NotNil(t, claim)
		require.Equal(t, relaytest.NewTree(t, cupr, relays[hdr.SessionId]...).Root, claim.RootHash, "the root of every relay")
	}
	// The first session's proof opens leaves loaded from the checkpoint:
	// their bytes come from the stream.
	w := protocol.SessionWindows(chain.params, first.SessionEndBlockHeight)
	b.block(w.ProofWindowOpen - 1)
	var proof *types.MsgSubmitProof
	b.tx.mu.Lock()
	defer b.tx.mu.Unlock()
	for _, p := range b.tx.proofs {
		if p.SessionHeader.SessionId == first.SessionId {
			proof = p
		}
	}
	require.NotNil(t, proof, "the first session proven")
	chain.mu.Lock()
	claim := chain.claims[first.SessionId+ff.sup.Address]
	chain.mu.Unlock()
	root, err := protocol.ParseRoot(claim.RootHash)
	require.NoError(t, err)
	seed, err := chain.BlockHash(context.Background(), w.ProofSeed)
	require.NoError(t, err)
	points := protocol.ProofPoints(seed, first.SessionId, ff.sup.Address, root.Sum, chain.params.NumProofsPerClaim)
	require.Len(t, proof.Proofs, len(points))
	for i, pt := range points {
		_, err := protocol.VerifyLeafProof(claim.RootHash, pt, cupr, &proof.Proofs[i])
		require.NoError(t, err)
	}
	require.Positive(t, b.fleet.remoteReads.Load(), "proven leaves read from the stream")
}

// TestCheckpointsOfSuccessiveHoldersChain: the holder writes checkpoints
// and dies; the next holder (a standby) continues from its last commit;
// it dies too; a replica on an empty store loads the checkpoints of both
// and claims every relay of the session.
func TestCheckpointsOfSuccessiveHoldersChain(t *testing.T) {
	ff := newFleetFixture(t, jetstreamtest.NewServer(t, jetstreamtest.Options{}), 1, 500*time.Millisecond)
	ff.cfg.CheckpointEvery = 10
	chain := newFakeChain()
	hdr := ff.header(1)
	relays := ff.relays(hdr, 0, 120)
	covered := func(r *replica) uint64 {
		c, err := r.fleet.lastCheckpoint(context.Background(), ff.sup.Address)
		require.NoError(t, err)
		return c
	}

	a := ff.start(chain)
	ff.nextHolder(5 * time.Second)
	b := ff.start(chain) // a standby
	for _, rel := range relays[:60] {
		require.NoError(t, addRelay(t, a.fleet, ff.sup.Address, rel))
	}
	require.Eventually(t, func() bool { return covered(a) >= 50 }, 20*time.Second, 20*time.Millisecond, "the first holder's checkpoints")
	byA := covered(a)
	a.crash()
	ff.nextHolder(10 * time.Second)
	for _, rel := range relays[60:] {
		require.NoError(t, addRelay(t, b.fleet, ff.sup.Address, rel))
	}
	require.Eventually(t, func() bool { return covered(b) >= 110 }, 20*time.Second, 20*time.Millisecond, "the second holder's checkpoints")
	byB := covered(b)
	require.Greater(t, byB, byA)
	b.crash()

	c := ff.start(chain)
	ff.nextHolder(10 * time.Second)
	l := c.fleet.lease(ff.sup.Address)
	require.GreaterOrEqual(t, l.loadedCovers.Load(), byB, "the second holder's last commit (or a later one) loaded")
	inCheckpoint := 0
	require.NoError(t, c.fleet.readRelays(context.Background(), ff.sup.Address, 1, l.loadedCovers.Load(), func(checkpointItem) { inCheckpoint++ }))
	require.Equal(t, int64(inCheckpoint), l.loaded.Load(), "both holders' checkpoints loaded: every relay they cover")
	claim := c.claimAt(hdr)
	require.Equal(t, relaytest.NewTree(t, cupr, relays...).Root, claim.RootHash)
}
