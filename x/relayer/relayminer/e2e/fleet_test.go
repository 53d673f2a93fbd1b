package e2e_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/jetstreamtest"
	"github.com/pokt-network/poktroll/testutil/network"
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
	ln, err := net.Listen("tcp", listen)
	require.NoError(t, err)
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
func fleetConfig(t *testing.T, rpcURL, keyName, listen, backend string, urls []string) *config.Config {
	yaml := fmt.Sprintf(`chain:
  rpc_url: %s
store:
  path: %s
  backend: jetstream
  jetstream:
    urls: [%s]
    replicas: %d
    lease_ttl: 1s
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
	return cfg
}

// TestRelayMinerFleet runs three RelayMiners of one supplier, sharing a
// three-node JetStream cluster, behind a round-robin load balancer at the
// supplier's staked endpoint, against a real in-process chain.
func TestRelayMinerFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("in-process network")
	}
	n := network.New(t,
		network.WithParams(network.E2EParams()),
		network.WithServices(types.Service{Id: "eth", Name: "Ethereum", ComputeUnitsPerRelay: cupr}),
		network.WithFundedAccounts("app1", "sup1"),
	)
	staked := network.FreeAddr(t)
	stakeActors(t, n, "app1", "sup1", staked)
	backend := jsonRPCBackend(t)
	js := jetstreamtest.NewCluster(t, 3, jetstreamtest.Options{})

	var replicas []*relayminer.RelayMiner
	var addrs []string
	for range 3 {
		listen := network.FreeAddr(t)
		rm := startRelayMiner(t, n, fleetConfig(t, n.RPCURL(), "sup1", listen, backend.URL, js.URLs()))
		t.Cleanup(func() { _ = rm.Stop(context.Background()) }) // once more is a no-op
		replicas = append(replicas, rm)
		addrs = append(addrs, listen)
	}
	lb := newRoundRobin(t, staked, addrs)
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

	c := newClient(t, n, "app1", "sup1", "http://"+staked)
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

	last := headers[len(headers)-1]
	w := protocol.SessionWindows(network.E2EParams(), last.SessionEndBlockHeight)
	_, err := n.WaitForHeightWithTimeout(w.ProofWindowClose+1, 90*time.Second)
	require.NoError(t, err)
	o := outcomes(n.RelayerEvents(t, headers[0].SessionStartBlockHeight, w.ProofWindowClose+1), sup)
	require.Len(t, o.claims, len(sent), "one claim per session")
	for id, count := range sent {
		claim := o.claims[id]
		require.NotNil(t, claim, "session %s claimed", id)
		require.EqualValues(t, count, claim.NumRelays, "every relay answered 200 is claimed, once")
		require.True(t, o.proofs[id], "proof accepted for %s", id)
		require.NotNil(t, o.settled[id], "session %s settled", id)
	}
}
