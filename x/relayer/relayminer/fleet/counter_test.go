package fleet

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cosmossdk.io/log"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/jetstreamtest"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/meter"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/metrics"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/store"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// meterChain is the chain as the meter sees it: one application staked
// for service "eth" with one supplier per session, at multiplier 1, so its
// stake pays for stake / cupr relays of a session.
type meterChain struct {
	stake    int64
	supplier string
}

func (*meterChain) LatestHeight() int64 { return 2 }
func (*meterChain) ParamsAt(context.Context, int64) (types.Params, error) {
	return types.DefaultParams(), nil
}
func (*meterChain) ServiceAt(_ context.Context, id string, _ int64) (types.Service, error) {
	return types.Service{Id: id, ComputeUnitsPerRelay: cupr}, nil
}
func (c *meterChain) Session(_ context.Context, app, service string, start int64) (types.Session, error) {
	hdr := meterHeader(app, start)
	return types.Session{Header: hdr, Application: types.Application{Address: app, Stake: sdk.NewInt64Coin("upokt", c.stake)},
		Suppliers: []types.Supplier{{OperatorAddress: c.supplier}}}, nil
}
func (c *meterChain) Application(_ context.Context, addr string) (types.Application, error) {
	return types.Application{Address: addr, Stake: sdk.NewInt64Coin("upokt", c.stake), ServiceIds: []string{"eth"}}, nil
}
func (*meterChain) SessionClaims(context.Context, string) ([]types.Claim, error) { return nil, nil }

func meterHeader(app string, start int64) types.SessionHeader {
	n := int64(types.DefaultParams().NumBlocksPerSession)
	return types.SessionHeader{ApplicationAddress: app, ServiceId: "eth", SessionId: "eth-session-" + string(rune('0'+start)),
		SessionStartBlockHeight: start, SessionEndBlockHeight: start + n - 1}
}

// openReplica connects a replica to the cluster (no lease taken: the meter
// needs none) and returns its shared meter.
func openReplica(t *testing.T, cluster *jetstreamtest.Cluster, chain meter.Chain, publishTimeout time.Duration) (*Fleet, *meter.Meter) {
	t.Helper()
	db, err := store.Open(t.TempDir(), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	m := metrics.New()
	f, err := Open(context.Background(), Config{URLs: cluster.URLs(), Replicas: min(3, len(cluster.URLs())), PublishTimeout: publishTimeout},
		db, log.NewNopLogger(), m)
	require.NoError(t, err)
	t.Cleanup(f.Stop)
	return f, meter.NewShared(chain, log.NewNopLogger(), m, f.Counter())
}

// TestSharedMeterServesTheBudgetOnceAcrossReplicas: two replicas reserving
// relays of one session concurrently serve exactly the K relays the
// application's stake pays for, together, and refuse the rest as
// over-serviced; a released relay is given back to whichever replica asks
// next.
func TestSharedMeterServesTheBudgetOnceAcrossReplicas(t *testing.T) {
	const k = 150
	cluster := jetstreamtest.NewCluster(t, 3, jetstreamtest.Options{})
	chain := &meterChain{stake: k * cupr, supplier: "pokt1sup"}
	_, a := openReplica(t, cluster, chain, 5*time.Second)
	_, b := openReplica(t, cluster, chain, 5*time.Second)
	hdr := meterHeader("pokt1app", 1)

	var served, refused atomic.Int64
	var releases sync.Map
	var wg sync.WaitGroup
	for i, m := range []*meter.Meter{a, b, a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range k / 2 {
				release, err := m.Reserve(context.Background(), hdr, chain.supplier)
				if err != nil {
					if !errors.Is(err, types.ErrRelayOverServiced) {
						t.Errorf("reserve: %v", err)
						return
					}
					refused.Add(1)
					continue
				}
				served.Add(1)
				releases.Store([2]int{i, j}, release)
			}
		}()
	}
	wg.Wait()
	require.EqualValues(t, k, served.Load(), "the fleet serves the budget once")
	require.EqualValues(t, 2*k, refused.Load())
	_, err := b.Reserve(context.Background(), hdr, chain.supplier)
	require.ErrorIs(t, err, types.ErrRelayOverServiced)

	// A relay of a reserves and is not served: b may serve one more, and
	// only one.
	var release func()
	releases.Range(func(_, v any) bool { release = v.(func()); return false })
	release()
	release() // twice is once
	_, err = b.Reserve(context.Background(), hdr, chain.supplier)
	require.NoError(t, err, "the released units are back for the other replica")
	_, err = a.Reserve(context.Background(), hdr, chain.supplier)
	require.ErrorIs(t, err, types.ErrRelayOverServiced)

	u, ok := b.Usage(chain.supplier, hdr.SessionId)
	require.True(t, ok)
	require.EqualValues(t, k, u.Relays, "the usage is the fleet's")
	require.EqualValues(t, k*cupr, u.ComputeUnits)
}

// TestSharedMeterRefusesWhileJetStreamIsDown: with every JetStream server
// down a relay is refused as the store being unavailable, never served
// unmetered; once they are back the count is where it was, for every
// replica.
func TestSharedMeterRefusesWhileJetStreamIsDown(t *testing.T) {
	const k = 10
	cluster := jetstreamtest.NewCluster(t, 3, jetstreamtest.Options{})
	chain := &meterChain{stake: k * cupr, supplier: "pokt1sup"}
	fa, a := openReplica(t, cluster, chain, 500*time.Millisecond)
	_, b := openReplica(t, cluster, chain, 5*time.Second)
	hdr := meterHeader("pokt1app", 1)
	for range k / 2 {
		_, err := a.Reserve(context.Background(), hdr, chain.supplier)
		require.NoError(t, err)
	}

	for i := range 3 {
		cluster.Stop(i)
	}
	_, err := a.Reserve(context.Background(), hdr, chain.supplier)
	require.ErrorIs(t, err, types.ErrRelayStoreUnavailable)
	require.False(t, errors.Is(err, types.ErrRelayOverServiced))
	// Down for longer than the publish timeout: refused at once, without
	// trying.
	key := meter.Key{Supplier: chain.supplier, Application: hdr.ApplicationAddress, Session: hdr.SessionId}
	require.Eventually(t, func() bool {
		_, _, err := fa.Counter().Add(context.Background(), key, cupr, k*cupr)
		require.ErrorIs(t, err, store.ErrUnavailable)
		return errors.Is(err, ErrUnreachable)
	}, 20*time.Second, 50*time.Millisecond, "refused at once during an outage")
	_, err = fa.Counter().Count(context.Background(), key)
	require.ErrorIs(t, err, ErrUnreachable)
	_, err = a.Reserve(context.Background(), hdr, chain.supplier)
	require.ErrorIs(t, err, types.ErrRelayStoreUnavailable)

	cluster.RestartAll()
	require.Eventually(t, func() bool {
		_, err := a.Reserve(context.Background(), hdr, chain.supplier)
		return err == nil
	}, 30*time.Second, 50*time.Millisecond, "metering again once JetStream is back")
	// The other replica, which never metered the session, finds the
	// count where it is.
	served := 0
	for range k {
		if _, err := b.Reserve(context.Background(), hdr, chain.supplier); err == nil {
			served++
		} else {
			require.ErrorIs(t, err, types.ErrRelayOverServiced)
		}
	}
	require.Equal(t, k-k/2-1, served)
}

// TestSharedMeterLosesNothingWhenTheBucketLeaderStops: the server leading
// the meter bucket stops while two replicas count relays: every relay is
// counted or refused as over-serviced, none is refused as unavailable, and
// the fleet serves exactly the budget.
func TestSharedMeterLosesNothingWhenTheBucketLeaderStops(t *testing.T) {
	const k = 120
	cluster := jetstreamtest.NewCluster(t, 3, jetstreamtest.Options{})
	chain := &meterChain{stake: k * cupr, supplier: "pokt1sup"}
	fa, a := openReplica(t, cluster, chain, 5*time.Second)
	_, b := openReplica(t, cluster, chain, 5*time.Second)
	hdr := meterHeader("pokt1app", 1)

	var served, refused atomic.Int64
	third := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for _, m := range []*meter.Meter{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range k / 2 {
				_, err := m.Reserve(context.Background(), hdr, chain.supplier)
				switch {
				case err == nil:
					if served.Add(1) == k/3 {
						once.Do(func() { close(third) })
					}
				case errors.Is(err, types.ErrRelayOverServiced):
					refused.Add(1)
				default:
					t.Errorf("reserve: %v", err)
					return
				}
			}
		}()
	}
	<-third
	info, err := fa.meter.Status(context.Background())
	require.NoError(t, err)
	leader := ""
	if si, ok := info.(interface{ StreamInfo() *jetstream.StreamInfo }); ok && si.StreamInfo().Cluster != nil {
		leader = si.StreamInfo().Cluster.Leader
	}
	require.NotEmpty(t, leader, "the meter bucket's leader")
	for i := range 3 {
		if s := cluster.Server(i); s != nil && s.Name() == leader {
			cluster.Stop(i)
		}
	}
	wg.Wait()
	require.EqualValues(t, k, served.Load(), "the fleet serves the budget once, across the leader's change")
	require.EqualValues(t, 2*k-k, refused.Load())
	r, err := fa.counter.read(context.Background(), fa.names.meterKey(meter.Key{Supplier: chain.supplier, Application: "pokt1app", Session: hdr.SessionId}))
	require.NoError(t, err)
	require.EqualValues(t, k*cupr, r.count)
	require.NotEmpty(t, r.write, "the last write is known by its id")
}

func TestHeaderValue(t *testing.T) {
	raw := []byte("NATS/1.0\r\nPokt-Meter-Write: 3f9a\r\nOther: x\r\n\r\n")
	require.Equal(t, "3f9a", headerValue(raw, hdrWrite))
	require.Empty(t, headerValue(raw, "Missing"))
	require.Empty(t, headerValue(nil, hdrWrite))
}

// TestCounterKeys: ids that are not key tokens are escaped, so two keys
// never meet.
func TestCounterKeys(t *testing.T) {
	n := newNames("relayminer")
	require.Equal(t, "pokt1sup.pokt1app.abc", n.meterKey(meter.Key{Supplier: "pokt1sup", Application: "pokt1app", Session: "abc"}))
	require.NotEqual(t, n.meterKey(meter.Key{Supplier: "a.b", Application: "c", Session: "d"}),
		n.meterKey(meter.Key{Supplier: "a", Application: "b.c", Session: "d"}))
	// The token rule without a regular expression is the prefix rule.
	for _, id := range []string{"", "abc", "pokt1sup", "A-b_9", "a.b", "a b", "a*", ">", "é", "a\x00", "=61"} {
		require.Equal(t, prefixRE.MatchString(id), plainToken(id), "%q", id)
		if !plainToken(id) {
			require.Equal(t, "="+hex.EncodeToString([]byte(id)), n.token(id))
		}
	}
}

// BenchmarkSharedReserve is the relay meter's cost per relay (a Reserve,
// the session's budget known): counted in memory by a RelayMiner alone, and
// in a fleet's <PREFIX>_METER bucket on one in-process JetStream server and
// on a 3-node cluster with replicas 3: one relay at a time (serial: the
// latency), and GOMAXPROCS×4 concurrent relays of one session spread over
// three replicas (parallel: one key's throughput, a compare-and-set lost
// to another replica read and tried again). It reports the latency's p50
// and p99, the compare-and-sets won per relay (below 1: relays combined
// into one write) and those lost.
//
//	go test -tags libsecp256k1_sdk -run '^$' -bench SharedReserve -benchtime 3000x ./x/relayer/relayminer/fleet/
func BenchmarkSharedReserve(b *testing.B) {
	chain := &meterChain{stake: 1 << 60, supplier: "pokt1sup"}
	hdr := meterHeader("pokt1app", 1)
	measure := func(b *testing.B, ms []*meter.Meter, counters []*Counter, parallel bool) {
		lat := make([]time.Duration, b.N)
		var next, which atomic.Int64
		lost, writes := int64(0), int64(0)
		for _, c := range counters {
			lost -= c.lost.Load()
			writes -= c.writes.Load()
		}
		reserve := func(m *meter.Meter) {
			start := time.Now()
			if _, err := m.Reserve(context.Background(), hdr, chain.supplier); err != nil {
				b.Fatal(err)
			}
			if i := next.Add(1) - 1; i < int64(len(lat)) {
				lat[i] = time.Since(start)
			}
		}
		b.ResetTimer()
		if parallel {
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				m := ms[int(which.Add(1))%len(ms)]
				for pb.Next() {
					reserve(m)
				}
			})
		} else {
			for range b.N {
				reserve(ms[0])
			}
		}
		b.StopTimer()
		for _, c := range counters {
			lost += c.lost.Load()
			writes += c.writes.Load()
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50_µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99_µs")
		b.ReportMetric(float64(lost)/float64(b.N), "lost_cas/op")
		b.ReportMetric(float64(writes)/float64(b.N), "writes/op")
	}
	b.Run("memory", func(b *testing.B) {
		measure(b, []*meter.Meter{meter.New(chain, log.NewNopLogger(), metrics.New(), nil)}, nil, false)
	})
	for _, nodes := range []int{1, 3} {
		cluster := jetstreamtest.NewCluster(b, nodes, jetstreamtest.Options{})
		var ms []*meter.Meter
		var counters []*Counter
		for range 3 {
			db, err := store.Open(b.TempDir(), store.Options{})
			require.NoError(b, err)
			b.Cleanup(func() { _ = db.Close() })
			m := metrics.New()
			f, err := Open(context.Background(), Config{URLs: cluster.URLs(), Replicas: min(3, nodes)}, db, log.NewNopLogger(), m)
			require.NoError(b, err)
			b.Cleanup(f.Stop)
			ms = append(ms, meter.NewShared(chain, log.NewNopLogger(), m, f.Counter()))
			counters = append(counters, f.Counter())
		}
		name := fmt.Sprintf("jetstream_%d_nodes_r%d", nodes, min(3, nodes))
		b.Run(name+"/serial", func(b *testing.B) { measure(b, ms, counters, false) })
		b.Run(name+"/parallel_3_replicas", func(b *testing.B) { measure(b, ms, counters, true) })
	}
}
