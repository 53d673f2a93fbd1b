package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pokt-network/poktroll/x/relayer/types"
)

const (
	chainID     = "poktroll-faults"
	denom       = "upokt"
	serviceID   = "faults"
	serviceName = "faults benchmark JSON-RPC"
	// computeUnitsPerRelay of the service: settled relays are the settled
	// compute units divided by it.
	computeUnitsPerRelay = 10

	valGenesis   = "1000000000000" + denom
	valBond      = "1000000000" + denom
	actorGenesis = "1000000000" + denom // application and supplier accounts
	actorStake   = "100000000" + denom  // application and supplier stakes
)

// chainParams are the relayer params written into genesis: 10-block
// sessions, a 1-block grace period, a claim window opening 2 blocks after
// it for 8 blocks, a proof window opening 1 block after that for 8 blocks,
// and every claim must be proven.
func chainParams() types.Params {
	p := types.DefaultParams()
	p.NumBlocksPerSession = 10
	p.GracePeriodEndOffsetBlocks = 1
	p.ClaimWindowOpenOffsetBlocks = 2
	p.ClaimWindowCloseOffsetBlocks = 8
	p.ProofWindowOpenOffsetBlocks = 1
	p.ProofWindowCloseOffsetBlocks = 8
	p.ComputeUnitsToTokensMultiplier = 1
	p.ProofRequestProbabilityPpm = types.ProofRequestProbabilityAlways
	return p
}

// ports are the local TCP ports of one run, all on 127.0.0.1, picked free
// at start so that a run never collides with a localnet or another run.
type ports struct {
	P2P, RPC, GRPC, Relay, RelayHealth, AppGate, AppGateHealth int
}

// Ports are drawn from [portLow, portHigh): below the kernel's ephemeral
// range (Linux: from 32768; macOS: from 49152), so that no outgoing
// connection can hold one when a restarted process binds it again, and
// above localnet's ports (26656-26660).
const portLow, portHigh = 27000, 32000

func freePorts() (ports, error) {
	var ps [7]int
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	for i := range ps {
		for try := 0; ; try++ {
			if try == 100 {
				return ports{}, fmt.Errorf("no free port in %d-%d after 100 tries", portLow, portHigh)
			}
			port := portLow + rng.Intn(portHigh-portLow)
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				continue
			}
			held = append(held, l)
			ps[i] = port
			break
		}
	}
	return ports{ps[0], ps[1], ps[2], ps[3], ps[4], ps[5], ps[6]}, nil
}

// pokt runs a short poktrolld command against the run's home and returns
// its stdout; the error carries stderr.
func (r *runner) pokt(ctx context.Context, args ...string) ([]byte, error) {
	args = append(args, "--home", r.home)
	cmd := exec.CommandContext(ctx, r.bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	fmt.Fprintf(r.setupLog, "$ poktrolld %s\n%s%s", strings.Join(args, " "), stdout.String(), stderr.String())
	if err != nil {
		return nil, fmt.Errorf("poktrolld %s: %w: %s", strings.Join(args[:min(3, len(args))], " "), err, lastLines(stderr.String(), 5))
	}
	return stdout.Bytes(), nil
}

// query runs `poktrolld q ARGS -o json` against the node and decodes it.
func (r *runner) query(ctx context.Context, out any, args ...string) error {
	args = append(append([]string{"q"}, args...), "--node", r.nodeAddr(), "-o", "json")
	b, err := r.pokt(ctx, args...)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

func (r *runner) nodeAddr() string { return fmt.Sprintf("tcp://127.0.0.1:%d", r.ports.RPC) }
func (r *runner) rpcURL() string   { return fmt.Sprintf("http://127.0.0.1:%d", r.ports.RPC) }

// initChain creates the node home: keys, genesis accounts, the validator's
// gentx, the relayer params and the configs.
func (r *runner) initChain(ctx context.Context) error {
	say("creating a one-validator chain in %s", r.home)
	if _, err := r.pokt(ctx, "init", "faults", "--chain-id", chainID, "--default-denom", denom); err != nil {
		return err
	}
	for _, name := range []string{"val", "app", "supplier"} {
		if _, err := r.pokt(ctx, "keys", "add", name, "--keyring-backend", "test"); err != nil {
			return err
		}
	}
	var err error
	if r.appAddr, err = r.keyAddress(ctx, "app"); err != nil {
		return err
	}
	if r.supplierAddr, err = r.keyAddress(ctx, "supplier"); err != nil {
		return err
	}
	detail("application %s", r.appAddr)
	detail("supplier    %s", r.supplierAddr)
	for _, acc := range [][2]string{{"val", valGenesis}, {"app", actorGenesis}, {"supplier", actorGenesis}} {
		if _, err := r.pokt(ctx, "genesis", "add-genesis-account", acc[0], acc[1], "--keyring-backend", "test"); err != nil {
			return err
		}
	}
	if _, err := r.pokt(ctx, "genesis", "gentx", "val", valBond, "--chain-id", chainID, "--keyring-backend", "test"); err != nil {
		return err
	}
	if _, err := r.pokt(ctx, "genesis", "collect-gentxs"); err != nil {
		return err
	}
	if err := editGenesis(filepath.Join(r.home, "config", "genesis.json"), chainParams()); err != nil {
		return err
	}
	if _, err := r.pokt(ctx, "genesis", "validate-genesis"); err != nil {
		return err
	}
	return r.editConfigs()
}

func (r *runner) keyAddress(ctx context.Context, name string) (string, error) {
	b, err := r.pokt(ctx, "keys", "show", name, "-a", "--keyring-backend", "test")
	return strings.TrimSpace(string(b)), err
}

// editGenesis sets the relayer params in genesis. Numbers are kept as
// json.Number so that nothing else in the file changes.
func editGenesis(path string, p types.Params) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var g map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&g); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	appState, _ := g["app_state"].(map[string]any)
	relayer, _ := appState["relayer"].(map[string]any)
	params, _ := relayer["params"].(map[string]any)
	if params == nil {
		return fmt.Errorf("%s: no app_state.relayer.params", path)
	}
	for key, v := range map[string]uint64{
		"num_blocks_per_session":             p.NumBlocksPerSession,
		"grace_period_end_offset_blocks":     p.GracePeriodEndOffsetBlocks,
		"claim_window_open_offset_blocks":    p.ClaimWindowOpenOffsetBlocks,
		"claim_window_close_offset_blocks":   p.ClaimWindowCloseOffsetBlocks,
		"proof_window_open_offset_blocks":    p.ProofWindowOpenOffsetBlocks,
		"proof_window_close_offset_blocks":   p.ProofWindowCloseOffsetBlocks,
		"compute_units_to_tokens_multiplier": p.ComputeUnitsToTokensMultiplier,
		"proof_request_probability_ppm":      p.ProofRequestProbabilityPpm,
	} {
		if _, ok := params[key]; !ok {
			return fmt.Errorf("%s: relayer params have no %s", path, key)
		}
		params[key] = strconv.FormatUint(v, 10)
	}
	out, err := json.MarshalIndent(g, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o644)
}

// editConfigs sets one block a second, the run's ports on 127.0.0.1, no
// pprof and no REST API (as localnet.sh does).
func (r *runner) editConfigs() error {
	cfg := filepath.Join(r.home, "config")
	edits := []struct {
		file  string
		edits map[[2]string]string // [section, key] → value
	}{
		{"config.toml", map[[2]string]string{
			{"", "moniker"}:                  `"faults"`,
			{"rpc", "laddr"}:                 fmt.Sprintf(`"tcp://127.0.0.1:%d"`, r.ports.RPC),
			{"rpc", "pprof_laddr"}:           `""`,
			{"p2p", "laddr"}:                 fmt.Sprintf(`"tcp://127.0.0.1:%d"`, r.ports.P2P),
			{"consensus", "timeout_commit"}:  `"1s"`,
			{"consensus", "timeout_propose"}: `"1s"`,
		}},
		{"app.toml", map[[2]string]string{
			{"", "minimum-gas-prices"}: `"0` + denom + `"`,
			{"api", "enable"}:          "false",
			{"grpc", "address"}:        fmt.Sprintf(`"127.0.0.1:%d"`, r.ports.GRPC),
		}},
		{"client.toml", map[[2]string]string{
			{"", "chain-id"}:        `"` + chainID + `"`,
			{"", "keyring-backend"}: `"test"`,
			{"", "node"}:            `"` + r.nodeAddr() + `"`,
		}},
	}
	for _, e := range edits {
		if err := editTOML(filepath.Join(cfg, e.file), e.edits); err != nil {
			return err
		}
	}
	return nil
}

var tomlSection = regexp.MustCompile(`^\[([^\]]+)\]`)

// editTOML replaces `key = ...` lines in their sections; every key must be
// found.
func editTOML(path string, edits map[[2]string]string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	lines := strings.Split(string(raw), "\n")
	section, found := "", map[[2]string]bool{}
	for i, line := range lines {
		if m := tomlSection.FindStringSubmatch(line); m != nil {
			section = m[1]
			continue
		}
		key, _, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k := [2]string{section, strings.TrimSpace(key)}
		if v, ok := edits[k]; ok {
			lines[i] = k[1] + " = " + v
			found[k] = true
		}
	}
	for k := range edits {
		if !found[k] {
			return fmt.Errorf("%s: no %q in section [%s]", path, k[1], k[0])
		}
	}
	return os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644)
}

// waitNode waits until the node's RPC answers with a height above after.
func (r *runner) waitNode(ctx context.Context, after int64, timeout time.Duration) (int64, error) {
	deadline := time.Now().Add(timeout)
	for {
		if h, err := r.rpc.height(ctx); err == nil && h > after {
			return h, nil
		}
		if err := r.checkNodeAlive(); err != nil {
			return 0, err
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("the node did not produce a block above %d within %s (see %s)", after, timeout, r.node.logPath)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (r *runner) checkNodeAlive() error {
	r.node.mu.Lock()
	defer r.node.mu.Unlock()
	if r.node.done != nil && exited(r.node.done) && !r.node.expected {
		return fmt.Errorf("the node exited (see %s)", r.node.logPath)
	}
	return nil
}

// tx broadcasts `poktrolld tx relayer ARGS` signed by from and waits for its
// inclusion with code 0.
func (r *runner) tx(ctx context.Context, from string, args ...string) error {
	full := append(append([]string{"tx", "relayer"}, args...),
		"--from", from, "--keyring-backend", "test", "--chain-id", chainID, "--node", r.nodeAddr(),
		"--gas", "auto", "--gas-adjustment", "1.5", "--yes", "--broadcast-mode", "sync", "--output", "json")
	out, err := r.pokt(ctx, full...)
	if err != nil {
		return err
	}
	var res struct {
		TxHash string `json:"txhash"`
		Code   uint32 `json:"code"`
		RawLog string `json:"raw_log"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return fmt.Errorf("tx relayer %s: %w: %s", args[0], err, out)
	}
	if res.Code != 0 {
		return fmt.Errorf("tx relayer %s refused (code %d): %s", args[0], res.Code, res.RawLog)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := r.rpc.tx(ctx, res.TxHash)
		if err == nil {
			if got.Code != 0 {
				return fmt.Errorf("tx relayer %s failed (code %d): %s", args[0], got.Code, got.Log)
			}
			detail("%s from %s: included at height %d (tx %s)", args[0], from, got.Height, res.TxHash)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("tx %s (%s) not included after 30s: %w", res.TxHash, args[0], err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// stakeActors registers the service and stakes the application and the
// supplier (whose endpoint is the RelayMiner's relay server).
func (r *runner) stakeActors(ctx context.Context) error {
	say("registering service %q (%d compute units per relay), staking the application and the supplier", serviceID, computeUnitsPerRelay)
	endpoint, _ := json.Marshal(map[string]string{
		"service_id":   serviceID,
		"endpoint_url": fmt.Sprintf("http://127.0.0.1:%d", r.ports.Relay),
		"rpc_type":     "RPC_TYPE_JSON_RPC",
	})
	steps := []struct {
		from string
		args []string
	}{
		{"val", []string{"add-service", serviceID, serviceName, strconv.Itoa(computeUnitsPerRelay)}},
		{"app", []string{"stake-application", actorStake, serviceID}},
		{"supplier", []string{"stake-supplier", actorStake, string(endpoint)}},
	}
	for _, s := range steps {
		if err := r.tx(ctx, s.from, s.args...); err != nil {
			return err
		}
	}
	return nil
}

// currentSession is the application's session now, as the chain sees it.
type currentSession struct {
	Start, End int64
	ID         string
	Suppliers  []string
}

func (r *runner) session(ctx context.Context) (currentSession, error) {
	var out struct {
		Session struct {
			Header struct {
				SessionID string `json:"session_id"`
				Start     num    `json:"session_start_block_height"`
				End       num    `json:"session_end_block_height"`
			} `json:"header"`
			Suppliers []struct {
				OperatorAddress string `json:"operator_address"`
			} `json:"suppliers"`
		} `json:"session"`
	}
	if err := r.query(ctx, &out, "relayer", "get-session", r.appAddr, serviceID); err != nil {
		return currentSession{}, err
	}
	s := currentSession{Start: int64(out.Session.Header.Start), End: int64(out.Session.Header.End), ID: out.Session.Header.SessionID}
	for _, sup := range out.Session.Suppliers {
		s.Suppliers = append(s.Suppliers, sup.OperatorAddress)
	}
	return s, nil
}

// waitSupplierInSession waits for the first session holding the supplier
// (stakes count from the next session's start) and returns it.
func (r *runner) waitSupplierInSession(ctx context.Context) (currentSession, error) {
	deadline := time.Now().Add(90 * time.Second)
	for {
		s, err := r.session(ctx)
		if err == nil {
			for _, sup := range s.Suppliers {
				if sup == r.supplierAddr {
					return s, nil
				}
			}
		}
		if time.Now().After(deadline) {
			return currentSession{}, errors.Join(errors.New("no session holds the supplier after 90s"), err)
		}
		select {
		case <-ctx.Done():
			return currentSession{}, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// checkParams compares the chain's relayer params with the ones written in
// genesis (the fault schedule is computed from them).
func (r *runner) checkParams(ctx context.Context) error {
	var out struct {
		Params map[string]any `json:"params"`
	}
	if err := r.query(ctx, &out, "relayer", "params"); err != nil {
		return err
	}
	p := chainParams()
	for key, want := range map[string]uint64{
		"num_blocks_per_session":           p.NumBlocksPerSession,
		"grace_period_end_offset_blocks":   p.GracePeriodEndOffsetBlocks,
		"claim_window_open_offset_blocks":  p.ClaimWindowOpenOffsetBlocks,
		"claim_window_close_offset_blocks": p.ClaimWindowCloseOffsetBlocks,
		"proof_window_open_offset_blocks":  p.ProofWindowOpenOffsetBlocks,
		"proof_window_close_offset_blocks": p.ProofWindowCloseOffsetBlocks,
		"proof_request_probability_ppm":    p.ProofRequestProbabilityPpm,
	} {
		if got := fmt.Sprint(out.Params[key]); got != strconv.FormatUint(want, 10) {
			return fmt.Errorf("chain param %s is %s, genesis set %d", key, got, want)
		}
	}
	return nil
}

// balances is what the supplier (and the application) hold, in upokt.
type balances struct {
	SupplierBalance, SupplierStake, AppStake int64
}

func (r *runner) balances(ctx context.Context) (balances, error) {
	var b balances
	var bank struct {
		Balances []struct {
			Denom  string `json:"denom"`
			Amount num    `json:"amount"`
		} `json:"balances"`
	}
	if err := r.query(ctx, &bank, "bank", "balances", r.supplierAddr); err != nil {
		return b, err
	}
	for _, c := range bank.Balances {
		if c.Denom == denom {
			b.SupplierBalance = int64(c.Amount)
		}
	}
	var sup struct {
		Supplier struct {
			Stake struct {
				Amount num `json:"amount"`
			} `json:"stake"`
		} `json:"supplier"`
	}
	if err := r.query(ctx, &sup, "relayer", "supplier", r.supplierAddr); err != nil {
		return b, err
	}
	b.SupplierStake = int64(sup.Supplier.Stake.Amount)
	var app struct {
		Application struct {
			Stake struct {
				Amount num `json:"amount"`
			} `json:"stake"`
		} `json:"application"`
	}
	if err := r.query(ctx, &app, "relayer", "application", r.appAddr); err != nil {
		return b, err
	}
	b.AppStake = int64(app.Application.Stake.Amount)
	return b, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
