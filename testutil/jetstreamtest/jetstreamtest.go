// Package jetstreamtest runs real NATS JetStream servers in the test
// process: one server, or a cluster of several with routes on loopback, each
// on random free ports and its own temporary store directory. A node can be
// stopped and restarted on the same ports and store, to test what a fleet of
// RelayMiners survives. It waits on the servers' own readiness (healthz),
// never for a fixed time.
package jetstreamtest

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"
)

// ReadyTimeout bounds how long a cluster may take to elect its meta leader.
const ReadyTimeout = 30 * time.Second

// Options configure a cluster.
type Options struct {
	// Token, when set, is required of clients.
	Token string
}

// Cluster is a set of in-process JetStream servers forming one cluster (or
// one server alone). It is stopped when its test ends.
type Cluster struct {
	t     testing.TB
	opts  Options
	mu    sync.Mutex
	nodes []*node
}

type node struct {
	name          string
	dir           string
	port, cluster int
	srv           *server.Server // nil while stopped
}

// NewServer starts a single JetStream server (streams of one replica).
func NewServer(t testing.TB, opts Options) *Cluster { return NewCluster(t, 1, opts) }

// NewCluster starts n JetStream servers clustered over loopback routes and
// waits until every one is healthy (the cluster has a meta leader and each
// server is current with it).
func NewCluster(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	c := &Cluster{t: t, opts: opts}
	root := t.TempDir()
	for i := range n {
		nd := &node{name: fmt.Sprintf("n%d", i), dir: filepath.Join(root, fmt.Sprintf("n%d", i)), port: freePort(t)}
		if n > 1 {
			nd.cluster = freePort(t)
		}
		c.nodes = append(c.nodes, nd)
	}
	for i := range c.nodes {
		c.start(i)
	}
	c.WaitReady()
	t.Cleanup(func() {
		for i := range c.nodes {
			c.Stop(i)
		}
	})
	return c
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (c *Cluster) start(i int) {
	c.t.Helper()
	nd := c.nodes[i]
	o := &server.Options{
		ServerName: nd.name, Host: "127.0.0.1", Port: nd.port,
		JetStream: true, StoreDir: nd.dir,
		JetStreamMaxMemory: 64 << 20, JetStreamMaxStore: 1 << 30,
		NoLog: true, NoSigs: true,
		Authorization: c.opts.Token,
	}
	if nd.cluster != 0 {
		o.Cluster = server.ClusterOpts{Name: "fleet-test", Host: "127.0.0.1", Port: nd.cluster}
		for j, other := range c.nodes {
			if j != i {
				o.Routes = append(o.Routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", other.cluster)})
			}
		}
	}
	srv, err := server.NewServer(o)
	require.NoError(c.t, err)
	srv.Start()
	require.True(c.t, srv.ReadyForConnections(ReadyTimeout), "server %s did not accept connections", nd.name)
	c.mu.Lock()
	nd.srv = srv
	c.mu.Unlock()
}

// WaitReady waits until every running server reports healthy: JetStream
// enabled, a meta leader known and this server current with it.
func (c *Cluster) WaitReady() {
	c.t.Helper()
	require.Eventually(c.t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, nd := range c.nodes {
			if nd.srv == nil {
				continue
			}
			if st := nd.srv.Healthz(&server.HealthzOptions{}); st.Status != "ok" {
				return false
			}
		}
		return true
	}, ReadyTimeout, 20*time.Millisecond, "JetStream cluster not ready")
}

// URLs are the client URLs of every node (stopped ones included: a client
// reconnects to them when they come back).
func (c *Cluster) URLs() []string {
	out := make([]string, len(c.nodes))
	for i, nd := range c.nodes {
		out[i] = fmt.Sprintf("nats://127.0.0.1:%d", nd.port)
	}
	return out
}

// URL is URLs joined with commas, as nats.Connect takes them.
func (c *Cluster) URL() string { return strings.Join(c.URLs(), ",") }

// Server is node i's server, nil while it is stopped.
func (c *Cluster) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].srv
}

// Stop shuts node i down and waits until it is down; its store stays.
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	srv := c.nodes[i].srv
	c.nodes[i].srv = nil
	c.mu.Unlock()
	if srv == nil {
		return
	}
	srv.Shutdown()
	srv.WaitForShutdown()
}

// Restart starts node i again on its ports and store, and waits until the
// cluster is healthy.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if c.Server(i) != nil {
		return
	}
	c.start(i)
	c.WaitReady()
}

// RestartAll starts every stopped node again on its ports and store, and
// waits until the cluster is healthy (a cluster all of whose nodes were
// stopped cannot be restarted one node at a time: one alone elects no
// leader).
func (c *Cluster) RestartAll() {
	c.t.Helper()
	for i := range c.nodes {
		if c.Server(i) == nil {
			c.start(i)
		}
	}
	c.WaitReady()
}
