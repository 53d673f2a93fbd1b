package localchain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"

	"github.com/pokt-network/poktroll/x/relayer/types"
)

// Tx broadcasts `poktrolld tx relayer ARGS` signed by the key from, waits
// for its inclusion with code 0 and prints where it was included.
func (c *Chain) Tx(ctx context.Context, from string, args ...string) error {
	full := append(append([]string{"tx", "relayer"}, args...),
		"--from", from, "--keyring-backend", "test", "--chain-id", c.ChainID, "--node", c.NodeAddr(),
		"--gas", "auto", "--gas-adjustment", "1.5", "--yes", "--broadcast-mode", "sync", "--output", "json")
	out, err := c.Pokt(ctx, full...)
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
	got, err := c.waitTx(ctx, res.TxHash, 30*time.Second)
	if err != nil {
		return fmt.Errorf("tx %s (%s) not included after 30s: %w", res.TxHash, args[0], err)
	}
	if got.Code != 0 {
		return fmt.Errorf("tx relayer %s failed (code %d): %s", args[0], got.Code, got.Log)
	}
	c.Out.Detail("%s from %s: included at height %d (tx %s)", args[0], from, got.Height, res.TxHash)
	return nil
}

// waitTx polls for the tx until it is in a block.
func (c *Chain) waitTx(ctx context.Context, hash string, timeout time.Duration) (TxResult, error) {
	deadline := time.Now().Add(timeout)
	for {
		got, err := c.RPC.Tx(ctx, hash)
		if err == nil || time.Now().After(deadline) {
			return got, err
		}
		select {
		case <-ctx.Done():
			return TxResult{}, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// Service is the service the supplier serves the application.
type Service struct {
	ID                   string
	Name                 string
	ComputeUnitsPerRelay int
}

// StakeActors registers the service (signed by the validator) and stakes
// the application and the supplier for it, ActorStake each; the supplier's
// endpoint is the RelayMiner's relay server (Ports.Relay).
func (c *Chain) StakeActors(ctx context.Context, s Service) error {
	endpoint, _ := json.Marshal(map[string]string{
		"service_id":   s.ID,
		"endpoint_url": fmt.Sprintf("http://127.0.0.1:%d", c.Ports.Relay),
		"rpc_type":     "RPC_TYPE_JSON_RPC",
	})
	steps := []struct {
		from string
		args []string
	}{
		{"val", []string{"add-service", s.ID, s.Name, strconv.Itoa(s.ComputeUnitsPerRelay)}},
		{"app", []string{"stake-application", ActorStake, s.ID}},
		{"supplier", []string{"stake-supplier", ActorStake, string(endpoint)}},
	}
	for _, step := range steps {
		if err := c.Tx(ctx, step.from, step.args...); err != nil {
			return err
		}
	}
	return nil
}

// Session is the application's session now, as the chain sees it.
type Session struct {
	Start, End int64
	ID         string
	Suppliers  []string
}

// Session queries the application's current session of the service.
func (c *Chain) Session(ctx context.Context, serviceID string) (Session, error) {
	var out types.QueryGetSessionResponse
	if err := c.Query(ctx, &out, "relayer", "get-session", c.App, serviceID); err != nil {
		return Session{}, err
	}
	h := out.Session.Header
	s := Session{Start: h.SessionStartBlockHeight, End: h.SessionEndBlockHeight, ID: h.SessionId}
	for _, sup := range out.Session.Suppliers {
		s.Suppliers = append(s.Suppliers, sup.OperatorAddress)
	}
	return s, nil
}

// WaitSupplierInSession waits for the first session of the service holding
// the supplier (stakes count from the next session's start) and returns it.
func (c *Chain) WaitSupplierInSession(ctx context.Context, serviceID string, timeout time.Duration) (Session, error) {
	deadline := time.Now().Add(timeout)
	for {
		s, err := c.Session(ctx, serviceID)
		if err == nil && slices.Contains(s.Suppliers, c.Supplier) {
			return s, nil
		}
		if time.Now().After(deadline) {
			return Session{}, errors.Join(fmt.Errorf("no session holds the supplier after %.0fs", timeout.Seconds()), err)
		}
		select {
		case <-ctx.Done():
			return Session{}, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// Params queries the relayer params.
func (c *Chain) Params(ctx context.Context) (types.Params, error) {
	var out types.QueryParamsResponse
	err := c.Query(ctx, &out, "relayer", "params")
	return out.Params, err
}

// CheckParams compares the chain's relayer params with those Init wrote in
// genesis.
func (c *Chain) CheckParams(ctx context.Context, want types.Params) error {
	got, err := c.Params(ctx)
	if err != nil {
		return err
	}
	wanted := genesisParams(want)
	for i, kv := range genesisParams(got) {
		if kv.value != wanted[i].value {
			return fmt.Errorf("chain param %s is %d, genesis set %d", kv.name, kv.value, wanted[i].value)
		}
	}
	return nil
}

// Balances are what the application and the supplier hold, in Denom.
type Balances struct {
	AppBalance, AppStake, SupplierBalance, SupplierStake int64
}

// Balances queries the application's and the supplier's balances and
// stakes.
func (c *Chain) Balances(ctx context.Context) (Balances, error) {
	var b Balances
	var err error
	if b.AppBalance, err = c.Balance(ctx, c.App); err != nil {
		return b, err
	}
	if b.SupplierBalance, err = c.Balance(ctx, c.Supplier); err != nil {
		return b, err
	}
	var app types.QueryApplicationResponse
	if err := c.Query(ctx, &app, "relayer", "application", c.App); err != nil {
		return b, err
	}
	b.AppStake = coinAmount(app.Application.Stake)
	var sup types.QuerySupplierResponse
	if err := c.Query(ctx, &sup, "relayer", "supplier", c.Supplier); err != nil {
		return b, err
	}
	b.SupplierStake = coinAmount(sup.Supplier.Stake)
	return b, nil
}

// Balance is the Denom balance of an account.
func (c *Chain) Balance(ctx context.Context, addr string) (int64, error) {
	var bank banktypes.QueryAllBalancesResponse
	if err := c.Query(ctx, &bank, "bank", "balances", addr); err != nil {
		return 0, err
	}
	return bank.Balances.AmountOf(Denom).Int64(), nil
}

// ProofSize queries the supplier's proof of a session as of height (the
// chain deletes it when the claim settles): its number of leaf
// proofs and their size (leaves and side nodes), in bytes.
func (c *Chain) ProofSize(ctx context.Context, sessionID string, height int64) (leaves, size int, err error) {
	var out types.QueryProofResponse
	if err := c.Query(ctx, &out, "relayer", "proof", sessionID, c.Supplier, "--height", strconv.FormatInt(height, 10)); err != nil {
		return 0, 0, err
	}
	for _, p := range out.Proof.LeafProofs {
		size += len(p.Leaf)
		for _, s := range p.SideNodes {
			size += len(s)
		}
	}
	return len(out.Proof.LeafProofs), size, nil
}
