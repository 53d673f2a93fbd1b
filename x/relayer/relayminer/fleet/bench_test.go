package fleet

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"cosmossdk.io/log"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/jetstreamtest"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/metrics"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/session"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/store"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// syntheticLeaf is a relay of n: a key and leaf bytes of a typical size
// (~600 bytes), unsigned: the log, the mirror and the trie only need the
// bytes (the proxy checked the signatures before).
func syntheticLeaf(n int) (key, leaf []byte) {
	k := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("relay"), uint64(n)))
	leaf = make([]byte, 560)
	_, _ = rand.Read(leaf)
	return k[:], leaf
}

type relaySink interface {
	AddRelay(types.SessionHeader, string, uint64, []byte, []byte, []byte) error
}

// BenchmarkAppend compares recording a relay in the leveldb relay log (a
// RelayMiner alone) with appending it to a fleet's relay log: one
// in-process JetStream server, and a 3-node cluster with replicas 3.
//
//	go test -tags libsecp256k1_sdk -run '^$' -bench Append -benchtime 5000x ./x/relayer/relayminer/fleet/
func BenchmarkAppend(b *testing.B) {
	ff := newFleetFixture(b, jetstreamtest.NewServer(b, jetstreamtest.Options{}), 1, time.Second)
	hdr := ff.header(1)
	for _, bc := range []struct {
		name string
		sink func(b *testing.B) relaySink
	}{
		{"leveldb", func(b *testing.B) relaySink {
			db, err := store.Open(b.TempDir(), store.Options{})
			require.NoError(b, err)
			b.Cleanup(func() { _ = db.Close() })
			return session.NewManager(db, newFakeChain(), nil, log.NewNopLogger(), metrics.New(), session.Options{})
		}},
		{"jetstream_1_node", func(b *testing.B) relaySink {
			return newFleetFixture(b, jetstreamtest.NewServer(b, jetstreamtest.Options{}), 1, time.Second).start(nil).fleet
		}},
		{"jetstream_3_nodes_r3", func(b *testing.B) relaySink {
			return newFleetFixture(b, jetstreamtest.NewCluster(b, 3, jetstreamtest.Options{}), 1, time.Second).start(nil).fleet
		}},
	} {
		sink := bc.sink(b)
		// serial: one relay at a time, the latency of one append;
		// parallel: GOMAXPROCS×4 at once, the throughput.
		for _, parallel := range []bool{false, true} {
			name := bc.name + "/serial"
			if parallel {
				name = bc.name + "/parallel"
			}
			b.Run(name, func(b *testing.B) {
				keys, leaves := make([][]byte, b.N), make([][]byte, b.N)
				for i := range b.N {
					keys[i], leaves[i] = syntheticLeaf(i + int(time.Now().UnixNano()%1e9)*1000)
				}
				var n atomic.Int64
				add := func() bool {
					i := int(n.Add(1) - 1)
					if err := sink.AddRelay(hdr, ff.sup.Address, cupr, protocol.LeafPath(keys[i]), keys[i], leaves[i]); err != nil {
						b.Error(err)
						return false
					}
					return true
				}
				b.ResetTimer()
				if !parallel {
					for range b.N {
						if !add() {
							return
						}
					}
					return
				}
				b.SetParallelism(4)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if !add() {
							return
						}
					}
				})
			})
		}
	}
}

// BenchmarkTakeover measures what a new lease holder does for a session of
// FLEET_TAKEOVER_RELAYS relays (default 100,000) that another replica
// served and mirrored (writing its checkpoints) before it died: a replica
// on an empty store (a new machine) starts, loads the last checkpoint,
// mirrors the stream after it, takes the lease, seals and sends the claim.
// "no-checkpoint" is the same with checkpoints off: the whole stream is
// mirrored. One JetStream server, or with FLEET_TAKEOVER_NODES=3 a cluster
// of three with replicas 3.
//
//	FLEET_TAKEOVER_RELAYS=100000 go test -tags libsecp256k1_sdk -run '^$' -bench Takeover -benchtime 1x ./x/relayer/relayminer/fleet/
func BenchmarkTakeover(b *testing.B) {
	n := 100_000
	if v := os.Getenv("FLEET_TAKEOVER_RELAYS"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(b, err)
	}
	nodes := 1
	if os.Getenv("FLEET_TAKEOVER_NODES") == "3" {
		nodes = 3 // replicas 3
	}
	for _, mode := range []struct {
		name  string
		every int
	}{{"checkpoint", DefaultCheckpointEvery}, {"no-checkpoint", -1}} {
		b.Run(mode.name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				takeover(b, nodes, n, mode.every)
			}
		})
	}
}

func takeover(b *testing.B, nodes, n, every int) {
	cluster := jetstreamtest.NewCluster(b, nodes, jetstreamtest.Options{})
	ff := newFleetFixture(b, cluster, 2, 500*time.Millisecond)
	ff.cfg.CheckpointEvery = every
	chain := newFakeChain()
	a := ff.start(chain)
	ff.nextHolder(5 * time.Second)
	hdr := ff.header(1)
	// Append from many goroutines, as relay servers do.
	work := make(chan int)
	done := make(chan struct{})
	for range 32 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range work {
				k, l := syntheticLeaf(i)
				if err := a.fleet.AddRelay(hdr, ff.sup.Address, cupr, protocol.LeafPath(k), k, l); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	appendStart := time.Now()
	for i := range n {
		work <- i
	}
	close(work)
	for range 32 {
		<-done
	}
	appendTook := time.Since(appendStart)
	// The holder mirrored what it appended, and wrote its checkpoints, then
	// dies; a replica on an empty store starts (a new machine) and takes
	// over once the dead holder's lease runs out.
	a.mirrored(b, ff.sup.Address)
	if every > 0 {
		require.Eventually(b, func() bool {
			covered, err := a.fleet.lastCheckpoint(context.Background(), ff.sup.Address)
			return err == nil && covered >= uint64(n-every)
		}, time.Minute, 10*time.Millisecond, "the holder's checkpoints")
	}
	died := time.Now()
	a.crash()
	b.StartTimer()
	started := time.Now()
	newcomer := ff.start(chain)
	l := newcomer.fleet.lease(ff.sup.Address)
	last, err := newcomer.fleet.lastSeq(context.Background(), ff.sup.Address)
	require.NoError(b, err)
	require.NoError(b, l.waitApplied(context.Background(), last))
	rebuilt := time.Now()
	ev := ff.nextHolder(time.Minute) // taken and caught up: leading
	taken := l.takenAt()
	claim := newcomer.claimAt(hdr)
	claimed := time.Now()
	b.StopTimer()
	require.Equal(b, uint64(n), count(b, claim))
	b.ReportMetric(float64(n)/appendTook.Seconds(), "appends/s")
	b.ReportMetric(float64(n)/rebuilt.Sub(started).Seconds(), "rebuilt/s")
	b.ReportMetric(float64(l.loaded.Load()), "from_checkpoint")
	b.ReportMetric(claimed.Sub(started).Seconds(), "s_start_to_claim")
	b.ReportMetric(claimed.Sub(ev.at).Seconds(), "s_lead_to_claim")
	b.Logf("%d relays appended in %v (%.0f/s). Holder died; a replica on an empty store started %v later, loaded %d relays from the checkpoint and mirrored the rest: %v (%.0f relays/s); lease taken %v after the death (ttl %v); claimed %v after the start, %v after taking the lease",
		n, appendTook, float64(n)/appendTook.Seconds(), started.Sub(died), l.loaded.Load(), rebuilt.Sub(started), float64(n)/rebuilt.Sub(started).Seconds(),
		taken.Sub(died), ff.cfg.LeaseTTL, claimed.Sub(started), claimed.Sub(taken))
}
