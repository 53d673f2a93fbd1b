// Package relayminerproc runs `poktrolld relayminer start` as a subprocess
// for end-to-end tests: built once per test binary run, started on a config
// (and so a store), killed with SIGKILL and started again on the same store.
package relayminerproc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/network"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/config"
)

// LockedBuffer collects a process's (or a logger's) output for the test to
// print on failure.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Poktrolld builds the daemon once, for every scenario that runs the
// RelayMiner as a subprocess, into a directory of the parent test (which
// outlives its parallel subtests).
type Poktrolld struct {
	dir  string
	once sync.Once
	bin  string
	err  error
}

// NewPoktrolld returns a builder whose binary lives in parent's temporary
// directory. Nothing is built until Path is called.
func NewPoktrolld(parent *testing.T) *Poktrolld { return &Poktrolld{dir: parent.TempDir()} }

// Path builds the binary on first use and returns its path.
func (b *Poktrolld) Path(t *testing.T) string {
	b.once.Do(func() {
		bin := filepath.Join(b.dir, "poktrolld")
		out, err := exec.Command("go", "build", "-o", bin, "github.com/pokt-network/poktroll/cmd/poktrolld").CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go build poktrolld: %w\n%s", err, out)
			return
		}
		b.bin = bin
	})
	require.NoError(t, b.err)
	return b.bin
}

// Process is `poktrolld relayminer start` on one config (and so one
// store), killed and started again at will. Its output is printed if the
// test fails; it is killed when the test ends.
type Process struct {
	n      *network.Network
	bin    string
	config string
	Health string // the health endpoint's URL
	Logs   *LockedBuffer
	Cmd    *exec.Cmd // nil while killed
}

// Start runs bin as a RelayMiner on the config at path (cfg is that file
// loaded; its health listen address must be set) and waits until it is
// healthy.
func Start(t *testing.T, n *network.Network, bin, path string, cfg *config.Config) *Process {
	p := &Process{n: n, bin: bin, config: path, Health: "http://" + cfg.Health.Listen, Logs: &LockedBuffer{}}
	t.Cleanup(func() {
		if p.Cmd != nil {
			_ = p.Cmd.Process.Kill()
			_ = p.Cmd.Wait()
		}
		if t.Failed() {
			t.Logf("relay miner output:\n%s", p.Logs.String())
		}
	})
	p.Start(t)
	return p
}

// Start runs the RelayMiner and waits until its health endpoint reports a
// block.
func (p *Process) Start(t *testing.T) {
	h, _ := p.n.LatestHeight()
	fmt.Fprintf(p.Logs, "=== test: starting at chain height %d\n", h)
	cmd := exec.Command(p.bin, "relayminer", "start", "--config", p.config, "--home", t.TempDir(),
		"--keyring-backend", "test", "--keyring-dir", p.n.KeyringDir(), "--poll-interval", "500ms", "--log_no_color")
	cmd.Stdout, cmd.Stderr = p.Logs, p.Logs
	require.NoError(t, cmd.Start())
	p.Cmd = cmd
	deadline := time.Now().Add(60 * time.Second)
	for p.Height() == 0 {
		require.True(t, time.Now().Before(deadline), "timed out waiting for the relay miner's health endpoint")
		_, err := p.n.WaitForNextBlock()
		require.NoError(t, err)
	}
	h, _ = p.n.LatestHeight()
	fmt.Fprintf(p.Logs, "=== test: healthy at chain height %d\n", h)
}

// Kill9 kills the RelayMiner with SIGKILL: no shutdown path runs.
func (p *Process) Kill9(t *testing.T) {
	require.NoError(t, p.Cmd.Process.Kill())
	_ = p.Cmd.Wait()
	p.Cmd = nil
	h, _ := p.n.LatestHeight()
	fmt.Fprintf(p.Logs, "=== test: killed (SIGKILL) at chain height %d\n", h)
}

// Lifecycle is what the RelayMiner logged about its session trees, its txs
// and its node connection, with the test's starts and kills.
func (p *Process) Lifecycle() string { return Lifecycle(p.Logs) }

// Lifecycle picks the lines of a RelayMiner's logs about its session trees,
// its txs and its node connection, and the test's own notes.
func Lifecycle(logs *LockedBuffer) string {
	var out []string
	for _, line := range strings.Split(logs.String(), "\n") {
		for _, mark := range []string{"=== test", "module=session", "module=tx", "module=chain"} {
			if strings.Contains(line, mark) {
				out = append(out, line)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// Height is the block height the RelayMiner's health endpoint reports (0
// when it does not answer).
func (p *Process) Height() int64 { return HealthHeight(p.Health) }

// HealthHeight is the block height a RelayMiner's health endpoint at url
// reports (0 when it does not answer).
func HealthHeight(url string) int64 {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var h struct {
		Height int64 `json:"height"`
	}
	if json.NewDecoder(resp.Body).Decode(&h) != nil {
		return 0
	}
	return h.Height
}
