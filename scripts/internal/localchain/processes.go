package localchain

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// proc returns the process `poktrolld ARGS --home HOME`, logging to
// Logs/NAME.log, not started.
func (c *Chain) proc(name string, args ...string) *Proc {
	return &Proc{Name: name, Bin: c.Bin, Tag: c.Out.Name, LogPath: filepath.Join(c.Logs, name+".log"),
		Args: append(args, "--home", c.Home, "--log_no_color")}
}

// Node returns the node's process (`poktrolld start`), not started.
func (c *Chain) Node() *Proc {
	return c.proc("node", "start")
}

// WaitNode waits until the node's RPC answers with a height above after,
// failing early when the node exits on its own.
func (c *Chain) WaitNode(ctx context.Context, node *Proc, after int64, timeout time.Duration) (int64, error) {
	deadline := time.Now().Add(timeout)
	for {
		if h, err := c.RPC.Height(ctx); err == nil && h > after {
			return h, nil
		}
		if node.ExitedOnItsOwn() {
			return 0, fmt.Errorf("the node exited (see %s)", node.LogPath)
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("the node did not produce a block above %d within %s (see %s)", after, timeout, node.LogPath)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// RelayMiner writes the config of the supplier's RelayMiner, serving one
// service from backendURL, to Dir/relayminer.yaml (its first line the
// comment) and returns its process, not started.
func (c *Chain) RelayMiner(comment, serviceID, backendURL string) (*Proc, error) {
	path := filepath.Join(c.Dir, "relayminer.yaml")
	yaml := fmt.Sprintf(`# %s
chain:
  rpc_url: %s
  grpc_url: %s
  chain_id: %s
store:
  path: %s
metrics:
  listen: ""
health:
  listen: 127.0.0.1:%d
suppliers:
  - key_name: supplier
    services:
      - service_id: %s
        listen: 127.0.0.1:%d
        backend_url: %s
        request_timeout: 10s
`, comment, c.RPCURL(), c.GRPCAddr(), c.ChainID, filepath.Join(c.Dir, "relayminer-store"), c.Ports.RelayHealth,
		serviceID, c.Ports.Relay, backendURL)
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		return nil, err
	}
	return c.proc("relayminer", "relayminer", "start", "--config", path, "--keyring-backend", "test"), nil
}

// RelayMinerHealthURL is the RelayMiner's health endpoint.
func (c *Chain) RelayMinerHealthURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d/", c.Ports.RelayHealth)
}

// WaitRelayMiner waits until the RelayMiner says it is healthy.
func (c *Chain) WaitRelayMiner(ctx context.Context, p *Proc, timeout time.Duration) error {
	if err := WaitHTTP(ctx, c.RelayMinerHealthURL(), timeout); err != nil {
		return fmt.Errorf("RelayMiner: %w (see %s)", err, p.LogPath)
	}
	return nil
}

// AppGate writes the config of the application's AppGate for one service
// to Dir/appgate.yaml (its first line the comment; a health server only
// when Ports.AppGateHealth is set) and returns its process, not started.
func (c *Chain) AppGate(comment, serviceID string) (*Proc, error) {
	path := filepath.Join(c.Dir, "appgate.yaml")
	health := `""`
	if c.Ports.AppGateHealth != 0 {
		health = fmt.Sprintf("127.0.0.1:%d", c.Ports.AppGateHealth)
	}
	yaml := fmt.Sprintf(`# %s
chain:
  rpc_url: %s
  grpc_url: %s
listen: 127.0.0.1:%d
application:
  key_name: app
services: [%s]
request_timeout: 10s
max_body_bytes: 4194304
metrics:
  listen: ""
health:
  listen: %s
`, comment, c.RPCURL(), c.GRPCAddr(), c.Ports.AppGate, serviceID, health)
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		return nil, err
	}
	return c.proc("appgate", "appgate", "start", "--config", path, "--keyring-backend", "test"), nil
}

// AppGateURL is where the AppGate serves the application's relays of the
// service.
func (c *Chain) AppGateURL(serviceID string) string {
	return fmt.Sprintf("http://127.0.0.1:%d/%s/", c.Ports.AppGate, serviceID)
}

// WaitAppGate waits until the AppGate is healthy (or, without a health
// server, listens).
func (c *Chain) WaitAppGate(ctx context.Context, p *Proc, timeout time.Duration) error {
	var err error
	if c.Ports.AppGateHealth != 0 {
		err = WaitHTTP(ctx, fmt.Sprintf("http://127.0.0.1:%d/", c.Ports.AppGateHealth), timeout)
	} else {
		err = WaitUntil(ctx, timeout, 200*time.Millisecond, func() bool { return Listening(c.Ports.AppGate) })
		if err == ErrTimeout {
			err = fmt.Errorf("nothing listens on 127.0.0.1:%d after %s", c.Ports.AppGate, timeout)
		}
	}
	if err != nil {
		return fmt.Errorf("AppGate: %w (see %s)", err, p.LogPath)
	}
	return nil
}

// WaitHTTP polls url until it answers 200, for at most timeout.
func WaitHTTP(parent context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if parent.Err() != nil {
				return parent.Err()
			}
			return fmt.Errorf("%s not answering 200 after %s", url, timeout)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ErrTimeout is WaitUntil's error when the condition did not hold in time.
var ErrTimeout = errors.New("timed out")

// WaitUntil checks cond every interval until it holds, for at most
// timeout; it returns ErrTimeout, or ctx's error.
func WaitUntil(ctx context.Context, timeout, interval time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return ErrTimeout
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
	return nil
}
