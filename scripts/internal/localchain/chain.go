package localchain

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/cosmos/gogoproto/jsonpb"
	"github.com/cosmos/gogoproto/proto"

	"github.com/pokt-network/poktroll/x/relayer/types"
)

// Amounts of a local chain, in Denom.
const (
	Denom            = "upokt"
	ValidatorGenesis = "1000000000000" + Denom // the validator's account
	ValidatorBond    = "1000000000" + Denom    // its self-delegation
	ActorGenesis     = "1000000000" + Denom    // the application's and the supplier's accounts
	ActorStake       = "100000000" + Denom     // their stakes
)

// Chain is a one-validator chain run from a directory: the node home
// (chain data, configs and the test keyring with the keys val, app and
// supplier), the logs, and the poktrolld commands against them.
type Chain struct {
	Bin     string // the poktrolld binary
	Dir     string // everything the run writes
	Home    string // Dir/node
	Logs    string // Dir/logs
	ChainID string
	Moniker string
	Ports   Ports
	Out     *Printer
	RPC     *RPC

	App, Supplier string // the application's and the supplier's addresses, set by Init

	setupLog *os.File // output of the short poktrolld commands
}

// New returns the chain of directory dir (which must exist, and may be
// empty): it creates dir/logs and the setup log there.
func New(bin, dir, chainID, moniker string, ports Ports, out *Printer) (*Chain, error) {
	c := &Chain{Bin: bin, Dir: dir, Home: filepath.Join(dir, "node"), Logs: filepath.Join(dir, "logs"),
		ChainID: chainID, Moniker: moniker, Ports: ports, Out: out}
	c.RPC = NewRPC(c.RPCURL())
	if err := os.MkdirAll(c.Logs, 0o755); err != nil {
		return nil, err
	}
	var err error
	c.setupLog, err = os.Create(filepath.Join(c.Logs, "setup.log"))
	return c, err
}

// Close closes the setup log.
func (c *Chain) Close() {
	if c.setupLog != nil {
		c.setupLog.Close()
	}
}

// NodeAddr is the node's RPC address for poktrolld's --node.
func (c *Chain) NodeAddr() string { return fmt.Sprintf("tcp://127.0.0.1:%d", c.Ports.RPC) }

// RPCURL is the node's CometBFT RPC.
func (c *Chain) RPCURL() string { return fmt.Sprintf("http://127.0.0.1:%d", c.Ports.RPC) }

// GRPCAddr is the node's gRPC address.
func (c *Chain) GRPCAddr() string { return fmt.Sprintf("127.0.0.1:%d", c.Ports.GRPC) }

// Pokt runs a short poktrolld command against the home and returns its
// stdout; the error carries stderr. Both go to the setup log.
func (c *Chain) Pokt(ctx context.Context, args ...string) ([]byte, error) {
	args = append(args, "--home", c.Home)
	cmd := exec.CommandContext(ctx, c.Bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	fmt.Fprintf(c.setupLog, "$ poktrolld %s\n%s%s", strings.Join(args, " "), stdout.String(), stderr.String())
	if err != nil {
		return nil, fmt.Errorf("poktrolld %s: %w: %s", strings.Join(args[:min(3, len(args))], " "), err, lastLines(stderr.String(), 5))
	}
	return stdout.Bytes(), nil
}

// Query runs `poktrolld q ARGS -o json` against the node and decodes the
// answer into the response type out, with the module's own JSON mapping.
func (c *Chain) Query(ctx context.Context, out proto.Message, args ...string) error {
	args = append(append([]string{"q"}, args...), "--node", c.NodeAddr(), "-o", "json")
	b, err := c.Pokt(ctx, args...)
	if err != nil {
		return err
	}
	u := jsonpb.Unmarshaler{AllowUnknownFields: true}
	if err := u.Unmarshal(bytes.NewReader(b), out); err != nil {
		return fmt.Errorf("poktrolld %s: %w", strings.Join(args[:min(3, len(args))], " "), err)
	}
	return nil
}

// Init creates the node home: keys, genesis accounts, the validator's
// gentx, the relayer params p, and configs for one block a second on the
// chain's ports. It sets App and Supplier.
func (c *Chain) Init(ctx context.Context, p types.Params) error {
	if _, err := c.Pokt(ctx, "init", c.Moniker, "--chain-id", c.ChainID, "--default-denom", Denom); err != nil {
		return err
	}
	if err := c.addKeys(ctx); err != nil {
		return err
	}
	for _, acc := range [][2]string{{"val", ValidatorGenesis}, {"app", ActorGenesis}, {"supplier", ActorGenesis}} {
		if _, err := c.Pokt(ctx, "genesis", "add-genesis-account", acc[0], acc[1], "--keyring-backend", "test"); err != nil {
			return err
		}
	}
	if _, err := c.Pokt(ctx, "genesis", "gentx", "val", ValidatorBond, "--chain-id", c.ChainID, "--keyring-backend", "test"); err != nil {
		return err
	}
	if _, err := c.Pokt(ctx, "genesis", "collect-gentxs"); err != nil {
		return err
	}
	if err := EditGenesis(filepath.Join(c.Home, "config", "genesis.json"), p); err != nil {
		return err
	}
	if _, err := c.Pokt(ctx, "genesis", "validate-genesis"); err != nil {
		return err
	}
	return c.editConfigs()
}

// addKeys adds the keys val, app and supplier to the test keyring and
// sets App and Supplier.
func (c *Chain) addKeys(ctx context.Context) error {
	for _, name := range []string{"val", "app", "supplier"} {
		if _, err := c.Pokt(ctx, "keys", "add", name, "--keyring-backend", "test"); err != nil {
			return err
		}
	}
	var err error
	if c.App, err = c.keyAddress(ctx, "app"); err != nil {
		return err
	}
	c.Supplier, err = c.keyAddress(ctx, "supplier")
	return err
}

func (c *Chain) keyAddress(ctx context.Context, name string) (string, error) {
	b, err := c.Pokt(ctx, "keys", "show", name, "-a", "--keyring-backend", "test")
	return strings.TrimSpace(string(b)), err
}

// genesisParams are the relayer params a local chain sets in genesis, by
// their JSON names.
func genesisParams(p types.Params) []struct {
	name  string
	value uint64
} {
	return []struct {
		name  string
		value uint64
	}{
		{"num_blocks_per_session", p.NumBlocksPerSession},
		{"grace_period_end_offset_blocks", p.GracePeriodEndOffsetBlocks},
		{"claim_window_open_offset_blocks", p.ClaimWindowOpenOffsetBlocks},
		{"claim_window_close_offset_blocks", p.ClaimWindowCloseOffsetBlocks},
		{"proof_window_open_offset_blocks", p.ProofWindowOpenOffsetBlocks},
		{"proof_window_close_offset_blocks", p.ProofWindowCloseOffsetBlocks},
		{"compute_units_to_tokens_multiplier", p.ComputeUnitsToTokensMultiplier},
		{"proof_request_probability_ppm", p.ProofRequestProbabilityPpm},
	}
}

// EditGenesis sets the relayer params of genesisParams in the genesis file
// at path. Numbers are kept as json.Number so that nothing else in the file
// changes.
func EditGenesis(path string, p types.Params) error {
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
	for _, kv := range genesisParams(p) {
		if _, ok := params[kv.name]; !ok {
			return fmt.Errorf("%s: relayer params have no %s", path, kv.name)
		}
		params[kv.name] = strconv.FormatUint(kv.value, 10)
	}
	out, err := json.MarshalIndent(g, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o644)
}

// editConfigs sets one block a second, the chain's ports on 127.0.0.1, no
// pprof and no REST API.
func (c *Chain) editConfigs() error {
	cfg := filepath.Join(c.Home, "config")
	edits := []struct {
		file  string
		edits map[[2]string]string // [section, key] → value
	}{
		{"config.toml", map[[2]string]string{
			{"", "moniker"}:                  strconv.Quote(c.Moniker),
			{"rpc", "laddr"}:                 fmt.Sprintf(`"tcp://127.0.0.1:%d"`, c.Ports.RPC),
			{"rpc", "pprof_laddr"}:           `""`,
			{"p2p", "laddr"}:                 fmt.Sprintf(`"tcp://127.0.0.1:%d"`, c.Ports.P2P),
			{"consensus", "timeout_commit"}:  `"1s"`,
			{"consensus", "timeout_propose"}: `"1s"`,
		}},
		{"app.toml", map[[2]string]string{
			{"", "minimum-gas-prices"}: `"0` + Denom + `"`,
			{"api", "enable"}:          "false",
			{"grpc", "address"}:        strconv.Quote(c.GRPCAddr()),
		}},
		{"client.toml", map[[2]string]string{
			{"", "chain-id"}:        strconv.Quote(c.ChainID),
			{"", "keyring-backend"}: `"test"`,
			{"", "node"}:            strconv.Quote(c.NodeAddr()),
		}},
	}
	for _, e := range edits {
		if err := EditTOML(filepath.Join(cfg, e.file), e.edits); err != nil {
			return err
		}
	}
	return nil
}

var tomlSection = regexp.MustCompile(`^\[([^\]]+)\]`)

// EditTOML replaces `key = ...` lines in their sections ("" before the
// first); every key must be found.
func EditTOML(path string, edits map[[2]string]string) error {
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

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
