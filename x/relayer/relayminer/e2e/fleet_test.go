package e2e_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/jetstreamtest"
	"github.com/pokt-network/poktroll/testutil/network"
	"github.com/pokt-network/poktroll/testutil/relayminerproc"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/config"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// roundRobin is the supplier's load balancer at its staked endpoint: each
// request goes to the next live replica (standard library reverse proxy).
type roundRobin struct {
	srv  *http.Server
	ln   net.Listener
	next atomic.Uint64

	mu      sync.Mutex
	targets []*httputil.ReverseProxy
	addrs   []string
}

func newRoundRobin(t *testing.T, listen string, addrs []string) *roundRobin {
	var ln net.Listener
	if l, ok := reservedAddrs.LoadAndDelete(listen); ok {
		ln = l.(net.Listener)
	} else {
		var err error
		ln, err = net.Listen("tcp", listen)
		require.NoError(t, err)
	}
	lb := &roundRobin{ln: ln}
	for _, a := range addrs {
		u, err := url.Parse("http://" + a)
		require.NoError(t, err)
		lb.targets = append(lb.targets, httputil.NewSingleHostReverseProxy(u))
		lb.addrs = append(lb.addrs, a)
	}
	lb.srv = &http.Server{Handler: lb, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = lb.srv.Serve(ln) }()
	t.Cleanup(func() { _ = lb.srv.Close() })
	return lb
}

func (lb *roundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	lb.mu.Lock()
	targets := lb.targets
	lb.mu.Unlock()
	targets[lb.next.Add(1)%uint64(len(targets))].ServeHTTP(w, r)
}

// reservedAddrs are the listeners reserveAddr keeps open, by address,
// until newRoundRobin serves on them.
var reservedAddrs sync.Map

// reserveAddr is a free loopback address for a supplier's balancer, kept
// listening until newRoundRobin takes it: an address picked and closed
// when the test starts (network.FreeAddr) may be taken, as some outgoing
// connection's ephemeral port, before the balancer listens on it a minute
// later ("address already in use").
func reserveAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	reservedAddrs.Store(addr, ln)
	t.Cleanup(func() {
		if l, ok := reservedAddrs.LoadAndDelete(addr); ok {
			_ = l.(net.Listener).Close()
		}
	})
	return addr
}

// add puts a replica (back) into the rotation.
func (lb *roundRobin) add(t *testing.T, addr string) {
	u, err := url.Parse("http://" + addr)
	require.NoError(t, err)
	lb.mu.Lock()
	defer lb.mu.Unlock()
	lb.targets = append(lb.targets, httputil.NewSingleHostReverseProxy(u))
	lb.addrs = append(lb.addrs, addr)
}

// remove takes a replica out of the rotation (as a health check would).
func (lb *roundRobin) remove(addr string) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	for i, a := range lb.addrs {
		if a == addr {
			lb.addrs = append(lb.addrs[:i:i], lb.addrs[i+1:]...)
			lb.targets = append(lb.targets[:i:i], lb.targets[i+1:]...)
			return
		}
	}
}

// fleetConfig writes and loads the config of one replica of a fleet.
func fleetConfig(t *testing.T, rpcURL, keyName, listen, backend string, urls []string) (string, *config.Config) {
	yaml := fmt.Sprintf(`chain:
  rpc_url: %s
store:
  path: %s
  backend: jetstream
  jetstream:
    urls: [%s]
    replicas: %d
    lease_ttl: 1s
    checkpoint_every: 4 # the holders write checkpoints through every fault below
metrics:
  listen: ""
health:
  listen: %s
suppliers:
  - key_name: %s
    services:
      - service_id: eth
        listen: %s
        backend_url: %s
        request_timeout: 5s
`, rpcURL, t.TempDir(), strings.Join(urls, ", "), len(urls), network.FreeAddr(t), keyName, listen, backend)
	path := filepath.Join(t.TempDir(), "relayminer.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	cfg, err := config.Load(path)
	require.NoError(t, err)
	return path, cfg
}

// TestRelayMinerFleet runs RelayMiners of one supplier, sharing a
// three-node JetStream cluster (replicas 3), behind a round-robin load
// balancer at the supplier's staked endpoint, against a real in-process
// chain: three in-process replicas, then three `poktrolld relayminer`
// processes killed or paused. Each scenario has its own application and
// supplier; they share the cluster (each supplier has its own subjects and
// lease).
func TestRelayMinerFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("in-process network")
	}
	n := network.New(t,
		network.WithParams(network.E2EParams()),
		network.WithServices(types.Service{Id: "eth", Name: "Ethereum", ComputeUnitsPerRelay: cupr}),
		network.WithFundedAccounts("app1", "sup1", "app2", "sup2", "app3", "sup3", "app4", "sup4"),
	)
	const pairs = 4
	staked := map[string]string{}
	for i := 1; i <= pairs; i++ {
		staked[fmt.Sprintf("sup%d", i)] = reserveAddr(t)
	}
	require.True(t, t.Run("stake", func(t *testing.T) {
		for i := 1; i <= pairs; i++ {
			app, sup := fmt.Sprintf("app%d", i), fmt.Sprintf("sup%d", i)
			t.Run(sup, func(t *testing.T) {
				t.Parallel()
				stakeActors(t, n, app, sup, staked[sup])
			})
		}
	}), "staking the scenarios' actors")
	backend := jsonRPCBackend(t)
	js := jetstreamtest.NewCluster(t, 3, jetstreamtest.Options{})
	bin := relayminerproc.NewPoktrolld(t)

	t.Run("in-process replicas: the holder stops mid-session, every relay answered is claimed once", func(t *testing.T) {
		var replicas []*relayminer.RelayMiner
		var addrs []string
		for range 3 {
			listen := network.FreeAddr(t)
			_, cfg := fleetConfig(t, n.RPCURL(), "sup1", listen, backend.URL, js.URLs())
			rm := startRelayMiner(t, n, cfg)
			t.Cleanup(func() { _ = rm.Stop(context.Background()) }) // once more is a no-op
			replicas = append(replicas, rm)
			addrs = append(addrs, listen)
		}
		lb := newRoundRobin(t, staked["sup1"], addrs)
		sup := n.Address("sup1")
		holder := func() int {
			for i, rm := range replicas {
				if rm != nil && rm.Fleet.Leads(sup) {
					return i
				}
			}
			return -1
		}
		waitFor(t, n, 20*time.Second, "a lease holder", func() bool { return holder() >= 0 })

		c := newClient(t, n, "app1", "sup1", "http://"+staked["sup1"])
		sent := map[string]int{}
		var headers []types.SessionHeader
		for s, count := range []int{15, 9} {
			hdr := c.nextSession(t)
			waitFor(t, n, 10*time.Second, "the replicas to see the session", func() bool {
				for _, rm := range replicas {
					if rm != nil && rm.Chain.LatestHeight() < hdr.SessionStartBlockHeight {
						return false
					}
				}
				return true
			})
			headers = append(headers, hdr)
			for i := range count {
				c.relay(t, hdr, s*100+i)
				if s == 0 && i == count/2 {
					// The lease holder dies mid-session (its lease left to
					// expire): the load balancer drops it, another replica
					// takes the lease and claims the relays it served.
					h := holder()
					require.GreaterOrEqual(t, h, 0)
					replicas[h].Fleet.Close()
					lb.remove(addrs[h])
					_ = replicas[h].Stop(context.Background())
					replicas[h] = nil
				}
			}
			sent[hdr.SessionId] = count
		}
		waitFor(t, n, 20*time.Second, "a new lease holder", func() bool { return holder() >= 0 })
		checkFleetOutcome(t, n, sup, headers, sent)
	})

	t.Run("processes: SIGKILL the holder mid-session and again between claim and proof", func(t *testing.T) {
		f := startFleetProcesses(t, n, bin.Path(t), "sup2", staked["sup2"], backend.URL, js.URLs())
		c := newClient(t, n, "app2", "sup2", "http://"+staked["sup2"])
		hdr := c.nextSession(t)
		f.waitSession(t, hdr)
		const count = 16
		for i := range count {
			c.relay(t, hdr, i)
			if i == count/2 {
				h := f.holder(t)
				f.lb.remove(f.addrs[h])
				f.procs[h].Kill9(t)
				f.procs[h].Start(t) // back on its store, as a standby
				f.lb.add(t, f.addrs[h])
			}
		}
		w := protocol.SessionWindows(network.E2EParams(), hdr.SessionEndBlockHeight)
		waitFor(t, n, 60*time.Second, "the session's claim", func() bool {
			h, err := n.LatestHeight()
			require.NoError(t, err)
			return outcomes(n.RelayerEvents(t, hdr.SessionStartBlockHeight, min(h, w.ClaimWindowClose)), f.sup).claims[hdr.SessionId] != nil
		})
		h := f.holder(t)
		f.procs[h].Kill9(t) // between claim and proof: the next holder proves
		checkFleetOutcome(t, n, f.sup, []types.SessionHeader{hdr}, map[string]int{hdr.SessionId: count})
		requireCheckpointCommitted(t, js.URL(), f.sup)
	})

	t.Run("processes: a JetStream server stopped mid-session, the holder killed inside the proof window", func(t *testing.T) {
		f := startFleetProcesses(t, n, bin.Path(t), "sup4", staked["sup4"], backend.URL, js.URLs())
		c := newClient(t, n, "app4", "sup4", "http://"+staked["sup4"])
		hdr := c.nextSession(t)
		f.waitSession(t, hdr)
		const count = 14
		for i := range count {
			if i == count/2 {
				js.Stop(1) // one of three: nothing visible changes
			}
			c.relay(t, hdr, i)
		}
		js.Restart(1)
		w := protocol.SessionWindows(network.E2EParams(), hdr.SessionEndBlockHeight)
		_, err := n.WaitForHeightWithTimeout(w.ProofWindowOpen, 90*time.Second)
		require.NoError(t, err)
		f.procs[f.holder(t)].Kill9(t)
		checkFleetOutcome(t, n, f.sup, []types.SessionHeader{hdr}, map[string]int{hdr.SessionId: count})
	})

	t.Run("processes: the holder paused past its lease (SIGSTOP, SIGCONT) loses nothing and is paid once", func(t *testing.T) {
		f := startFleetProcesses(t, n, bin.Path(t), "sup3", staked["sup3"], backend.URL, js.URLs())
		c := newClient(t, n, "app3", "sup3", "http://"+staked["sup3"])
		hdr := c.nextSession(t)
		f.waitSession(t, hdr)
		const count = 12
		for i := range count / 2 {
			c.relay(t, hdr, i)
		}
		h := f.holder(t)
		f.lb.remove(f.addrs[h])
		require.NoError(t, f.procs[h].Cmd.Process.Signal(syscall.SIGSTOP))
		// Another replica takes the lease while it is paused.
		waitFor(t, n, 30*time.Second, "another lease holder", func() bool {
			for i := range f.procs {
				if i != h && slices.Contains(leaseHolders(f.procs[i].Health), f.sup) {
					return true
				}
			}
			return false
		})
		for i := count / 2; i < count; i++ {
			c.relay(t, hdr, i)
		}
		require.NoError(t, f.procs[h].Cmd.Process.Signal(syscall.SIGCONT))
		f.lb.add(t, f.addrs[h])
		checkFleetOutcome(t, n, f.sup, []types.SessionHeader{hdr}, map[string]int{hdr.SessionId: count})
	})
}

// TestRelayMinerFleetJetStreamDown is TestRelayMinerFleet's scenario of a
// whole JetStream cluster down, on its own network: sessions of 40 blocks
// of one second. It does not fit in the 8 blocks of half a second of
// network.E2EParams (one session per process, so not as a subtest there):
// a cluster whose servers all restart elects its leaders again after
// JetStream's election timeout (4-9 s), and while it is down each relay is
// refused only once the fleet's publish timeout (2 s) ran out, so the
// session would end before the servers are back and its claim window
// close before a replica can lead again.
func TestRelayMinerFleetJetStreamDown(t *testing.T) {
	if testing.Short() {
		t.Skip("in-process network")
	}
	p := network.E2EParams()
	p.NumBlocksPerSession = 40
	n := network.New(t,
		network.WithParams(p),
		network.WithBlockTime(time.Second),
		network.WithServices(types.Service{Id: "eth", Name: "Ethereum", ComputeUnitsPerRelay: cupr}),
		network.WithFundedAccounts("app1", "sup1"),
	)
	staked := reserveAddr(t)
	stakeActors(t, n, "app1", "sup1", staked)
	backend := jsonRPCBackend(t)
	js := jetstreamtest.NewCluster(t, 3, jetstreamtest.Options{})
	bin := relayminerproc.NewPoktrolld(t)

	t.Run("processes: every JetStream server down mid-session: relays refused with 503, served again once they are back, paid once", func(t *testing.T) {
		f := startFleetProcesses(t, n, bin.Path(t), "sup1", staked, backend.URL, js.URLs())
		c := newClient(t, n, "app1", "sup1", "http://"+staked)
		paidBefore := balance(t, n, f.sup)
		cur := c.session(t)
		var hdr types.SessionHeader
		waitFor(t, n, 120*time.Second, "the next session", func() bool {
			hdr = c.session(t)
			return hdr.SessionStartBlockHeight > cur.SessionStartBlockHeight
		})
		f.waitSession(t, hdr)
		w := protocol.SessionWindows(p, hdr.SessionEndBlockHeight)
		note := func(format string, args ...any) {
			h, err := n.LatestHeight()
			require.NoError(t, err)
			t.Logf("height %d (session %d..%d, grace to %d): "+format, append([]any{h, hdr.SessionStartBlockHeight, w.SessionEnd, w.GracePeriodEnd}, args...)...)
		}
		i, answered := 0, 0
		// refuse sends relay i and requires it refused as the store's: HTTP
		// 503 with the registered error (by its codespace and code).
		refuse := func() {
			start := time.Now()
			status, res := c.send(t, c.request(t, hdr, c.app, i))
			require.Equal(t, http.StatusServiceUnavailable, status, "relay %d: %v", i, res.Error)
			require.NotNil(t, res.Error, "relay %d", i)
			require.ErrorIs(t, res.Error.Err(), types.ErrRelayStoreUnavailable, res.Error.Message)
			note("relay %d refused (%d, %s) in %v", i, status, types.ErrRelayStoreUnavailable, time.Since(start).Round(time.Millisecond))
			i++
		}
		for range 6 {
			c.relay(t, hdr, i)
			i, answered = i+1, answered+1
		}
		holder := f.holder(t)
		note("%d relays answered 200; replica %d leads; stopping every JetStream server", answered, holder)
		stopped := time.Now()
		for k := range 3 {
			js.Stop(k)
		}
		for range len(f.procs) { // one round of the balancer: each replica refuses
			refuse()
		}
		// The lease is in JetStream too: its holder cannot renew it and
		// stops leading once lease_ttl (1s) passed since its last renewal.
		waitFor(t, n, 30*time.Second, "no replica to lead while JetStream is down", func() bool {
			for _, proc := range f.procs {
				if slices.Contains(leaseHolders(proc.Health), f.sup) {
					return false
				}
			}
			return true
		})
		refuse()
		note("no replica leads; every JetStream server down for %v; starting them again", time.Since(stopped).Round(time.Millisecond))

		restart := time.Now()
		js.RestartAll()
		note("JetStream cluster healthy %v after RestartAll began", time.Since(restart).Round(time.Millisecond))
		// Relays are refused (503) until each replica's client reconnected
		// and the stream has a leader: served again once one round of the
		// balancer (a relay to each replica in a row) is answered 200.
		inRow, refusedAfter := 0, 0
		waitFor(t, n, 90*time.Second, "every replica to serve relays again", func() bool {
			for {
				status, res := c.send(t, c.request(t, hdr, c.app, i))
				if status != http.StatusOK {
					require.Equal(t, http.StatusServiceUnavailable, status, "relay %d: %v", i, res.Error)
					require.NotNil(t, res.Error, "relay %d", i)
					require.ErrorIs(t, res.Error.Err(), types.ErrRelayStoreUnavailable, res.Error.Message)
					i, inRow, refusedAfter = i+1, 0, refusedAfter+1
					return false
				}
				require.Nil(t, res.Error)
				require.NoError(t, protocol.VerifyResponseSignature(res, c.keys["supplier"].PubKey()))
				i, answered = i+1, answered+1
				if inRow++; inRow == len(f.procs) {
					return true
				}
			}
		})
		note("every replica serves again %v after RestartAll began (%d more refused with 503 meanwhile)", time.Since(restart).Round(time.Millisecond), refusedAfter)
		for range 6 {
			c.relay(t, hdr, i)
			i, answered = i+1, answered+1
		}
		leader := f.holder(t) // the lease is taken again (by any replica)
		note("%d relays answered 200, %d refused; replica %d leads (replica %d did before), %v after RestartAll began",
			answered, i-answered, leader, holder, time.Since(restart).Round(time.Millisecond))

		checkFleetOutcome(t, n, f.sup, []types.SessionHeader{hdr}, map[string]int{hdr.SessionId: answered})
		// Paid for exactly the relays answered 200, none refused (fees
		// are zero).
		require.Equal(t, paidBefore.AddRaw(int64(answered*cupr)), balance(t, n, f.sup), "paid exactly the relays answered 200")
	})
}

// checkFleetOutcome waits for the last session's proof window to close and
// requires one claim per session holding exactly the relays answered,
// its proof accepted and one settlement.
func checkFleetOutcome(t *testing.T, n *network.Network, sup string, headers []types.SessionHeader, sent map[string]int) {
	t.Helper()
	last := headers[len(headers)-1]
	w := protocol.SessionWindows(n.GenesisParams(), last.SessionEndBlockHeight)
	_, err := n.WaitForHeightWithTimeout(w.ProofWindowClose+1, 120*time.Second)
	require.NoError(t, err)
	evs := n.RelayerEvents(t, headers[0].SessionStartBlockHeight, w.ProofWindowClose+1)
	o := outcomes(evs, sup)
	require.Len(t, o.claims, len(sent), "one claim per session")
	for id, count := range sent {
		claim := o.claims[id]
		require.NotNil(t, claim, "session %s claimed", id)
		require.EqualValues(t, count, claim.NumRelays, "every relay answered 200 is claimed, once")
		require.EqualValues(t, count*cupr, claim.NumClaimedComputeUnits)
		require.True(t, o.proofs[id], "proof accepted for %s", id)
		require.NotNil(t, o.settled[id], "session %s settled", id)
	}
	settlements := 0
	for _, e := range evs {
		if ev, ok := e.(*types.EventClaimSettled); ok && ev.Claim.SupplierOperatorAddress == sup {
			settlements++
		}
	}
	require.Equal(t, len(sent), settlements, "each session paid once")
}

// fleetProcesses are three `poktrolld relayminer` processes of one
// supplier behind a round-robin load balancer.
type fleetProcesses struct {
	n     *network.Network
	sup   string // operator address
	procs []*relayminerproc.Process
	addrs []string
	lb    *roundRobin
}

func startFleetProcesses(t *testing.T, n *network.Network, bin, keyName, staked, backend string, urls []string) *fleetProcesses {
	f := &fleetProcesses{n: n, sup: n.Address(keyName)}
	for range 3 {
		listen := network.FreeAddr(t)
		path, cfg := fleetConfig(t, n.RPCURL(), keyName, listen, backend, urls)
		f.procs = append(f.procs, relayminerproc.Start(t, n, bin, path, cfg))
		f.addrs = append(f.addrs, listen)
	}
	f.lb = newRoundRobin(t, staked, f.addrs)
	f.holder(t)
	return f
}

// holder is the replica whose health endpoint says it holds the lease.
func (f *fleetProcesses) holder(t *testing.T) int {
	h := -1
	waitFor(t, f.n, 30*time.Second, "a lease holder", func() bool {
		for i, p := range f.procs {
			if p.Cmd != nil && slices.Contains(leaseHolders(p.Health), f.sup) {
				h = i
				return true
			}
		}
		return false
	})
	return h
}

// waitSession waits until every replica follows the session's start.
func (f *fleetProcesses) waitSession(t *testing.T, hdr types.SessionHeader) {
	waitFor(t, f.n, 20*time.Second, "the replicas to see the session", func() bool {
		for _, p := range f.procs {
			if p.Height() < hdr.SessionStartBlockHeight {
				return false
			}
		}
		return true
	})
}

// leaseHolders are the suppliers a replica's health endpoint says it
// holds the lease of.
func leaseHolders(url string) []string {
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(url) // a paused process never answers
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var h struct {
		LeaseHolder []string `json:"lease_holder"`
	}
	if json.NewDecoder(resp.Body).Decode(&h) != nil {
		return nil
	}
	return h.LeaseHolder
}

// requireCheckpointCommitted requires a checkpoint commit of the supplier
// in the fleet's stream (the holders wrote checkpoints: checkpoint_every 4;
// the stream and subject names are the fleet's with the default prefix).
func requireCheckpointCommitted(t *testing.T, url, supplier string) {
	t.Helper()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, "RELAYMINER_RELAYS")
	require.NoError(t, err)
	m, err := stream.GetLastMsgForSubject(ctx, "relayminer.ckptc."+supplier)
	require.NoError(t, err, "no checkpoint committed")
	require.Len(t, m.Data, 8)
	require.Positive(t, binary.BigEndian.Uint64(m.Data), "the checkpoint covers relays")
}
