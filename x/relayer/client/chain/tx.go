package chain

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	errorsmod "cosmossdk.io/errors"
	"cosmossdk.io/log"
	"github.com/cometbft/cometbft/crypto/tmhash"
	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/tx"
	"github.com/cosmos/cosmos-sdk/crypto/keyring"
	sdk "github.com/cosmos/cosmos-sdk/types"
	sdkerrors "github.com/cosmos/cosmos-sdk/types/errors"
	txtypes "github.com/cosmos/cosmos-sdk/types/tx"
	"github.com/cosmos/cosmos-sdk/types/tx/signing"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"
)

// TxConfig is how the submitter pays for and signs txs.
type TxConfig struct {
	ChainID       string
	GasPrices     sdk.DecCoins
	GasAdjustment float64
	// InclusionTimeout bounds the wait for a broadcast tx to land.
	InclusionTimeout time.Duration
	// FallbackGas is the gas limit of a tx whose simulation failed (default
	// 2,000,000): see submitOnce.
	FallbackGas uint64
	// Landed, when set, is told how long each tx took from broadcast to
	// inclusion (e.g. a metric).
	Landed func(time.Duration)
	// Done, when set, is told how each Submit ended (e.g. a status report).
	Done func(TxResult)
}

// TxResult is how one Submit ended.
type TxResult struct {
	Signer string
	Msgs   []sdk.Msg
	// Hash is the tx's hash, nil if it was not broadcast.
	Hash []byte
	// Height is the block the tx landed in, 0 if it did not land.
	Height int64
	// Err is why the tx failed: not broadcast, rejected by the chain (the
	// registered module error), or not included by its timeout height
	// (ErrNotIncluded); nil once it landed and succeeded.
	Err error
}

// Submitter signs txs with keyring keys and submits them.
type Submitter struct {
	client *Client
	txCfg  client.TxConfig
	keys   keyring.Keyring
	cfg    TxConfig
	logger log.Logger

	mu       sync.Mutex
	accounts map[string]*account // by address
}

type account struct {
	mu      sync.Mutex // one tx at a time per signer
	keyName string
	number  uint64
	seq     uint64
	loaded  bool
}

// NewSubmitter builds a submitter. Each signer must be registered with
// AddSigner first.
func NewSubmitter(c *Client, txCfg client.TxConfig, keys keyring.Keyring, cfg TxConfig, logger log.Logger) *Submitter {
	if cfg.GasAdjustment <= 0 {
		cfg.GasAdjustment = 1.5
	}
	if cfg.InclusionTimeout <= 0 {
		cfg.InclusionTimeout = time.Minute
	}
	if cfg.FallbackGas == 0 {
		cfg.FallbackGas = 2_000_000
	}
	if cfg.Landed == nil {
		cfg.Landed = func(time.Duration) {}
	}
	if cfg.Done == nil {
		cfg.Done = func(TxResult) {}
	}
	return &Submitter{client: c, txCfg: txCfg, keys: keys, cfg: cfg, logger: logger.With("module", "tx"), accounts: map[string]*account{}}
}

// AddSigner registers a keyring key and returns its address.
func (s *Submitter) AddSigner(keyName string) (string, error) {
	rec, err := s.keys.Key(keyName)
	if err != nil {
		return "", fmt.Errorf("key %q: %w", keyName, err)
	}
	addr, err := rec.GetAddress()
	if err != nil {
		return "", fmt.Errorf("key %q: %w", keyName, err)
	}
	s.mu.Lock()
	s.accounts[addr.String()] = &account{keyName: keyName}
	s.mu.Unlock()
	return addr.String(), nil
}

// Submit signs msgs as signer in one tx valid until timeoutHeight,
// broadcasts it and waits until it is in a block, or until the chain passed
// timeoutHeight without it (the tx can then never land: the caller sends it
// again, re-signed). Chain rejections come back as the registered module
// error (errors.Is works). The signer's account is held only while signing
// and broadcasting, so several txs of one signer can be waited for at once.
func (s *Submitter) Submit(ctx context.Context, signer string, timeoutHeight int64, msgs ...sdk.Msg) error {
	res := TxResult{Signer: signer, Msgs: msgs}
	res.Hash, res.Height, res.Err = s.submit(ctx, signer, timeoutHeight, msgs)
	s.cfg.Done(res)
	return res.Err
}

// submit is Submit, returning the tx's hash and the height it landed at.
func (s *Submitter) submit(ctx context.Context, signer string, timeoutHeight int64, msgs []sdk.Msg) (hash []byte, height int64, err error) {
	if tip := s.client.Tip(); timeoutHeight > 0 && timeoutHeight <= tip {
		return nil, 0, fmt.Errorf("timeout height %d is not above the latest height %d: the chain can no longer take this tx", timeoutHeight, tip)
	}
	if hash, err = s.broadcast(ctx, signer, timeoutHeight, msgs); err != nil {
		return nil, 0, err
	}
	start := time.Now()
	if height, err = s.waitForInclusion(ctx, hash, timeoutHeight); err != nil {
		return hash, height, err
	}
	s.cfg.Landed(time.Since(start))
	return hash, height, nil
}

// broadcast signs and broadcasts the tx under the signer's account lock,
// refreshing the account sequence when the node says it is stale, and
// returns the tx hash once the node's mempool took it.
func (s *Submitter) broadcast(ctx context.Context, signer string, timeoutHeight int64, msgs []sdk.Msg) ([]byte, error) {
	s.mu.Lock()
	acc, ok := s.accounts[signer]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("no keyring key registered for %s", signer)
	}
	acc.mu.Lock()
	defer acc.mu.Unlock()
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if !acc.loaded {
			if err = s.loadAccount(ctx, signer, acc); err != nil {
				return nil, err
			}
		}
		var hash []byte
		hash, err = s.submitOnce(ctx, signer, acc, timeoutHeight, msgs)
		if errors.Is(err, sdkerrors.ErrInsufficientFunds) || errors.Is(err, sdkerrors.ErrInsufficientFee) {
			s.logger.Error("SUPPLIER CANNOT PAY TX FEES: fund the account before the window closes or its relays are lost",
				"supplier", signer, "gas_prices", s.cfg.GasPrices.String(), "error", err)
		}
		if errors.Is(err, sdkerrors.ErrWrongSequence) {
			s.logger.Info("account sequence mismatch; refreshing", "supplier", signer, "sequence", acc.seq)
			acc.loaded = false
			continue
		}
		return hash, err
	}
	return nil, err
}

func (s *Submitter) loadAccount(ctx context.Context, addr string, acc *account) error {
	res, err := s.client.auth.Account(ctx, &authtypes.QueryAccountRequest{Address: addr})
	if err != nil {
		return fmt.Errorf("account %s: %w", addr, err)
	}
	var a sdk.AccountI
	if err := s.client.cdc.UnpackAny(res.Account, &a); err != nil {
		return err
	}
	acc.number, acc.seq, acc.loaded = a.GetAccountNumber(), a.GetSequence(), true
	return nil
}

func (s *Submitter) factory(acc *account, timeoutHeight int64) tx.Factory {
	return tx.Factory{}.
		WithChainID(s.cfg.ChainID).
		WithTxConfig(s.txCfg).
		WithKeybase(s.keys).
		WithFromName(acc.keyName).
		WithAccountNumber(acc.number).
		WithSequence(acc.seq).
		WithTimeoutHeight(uint64(max(timeoutHeight, 0))).
		WithSignMode(signing.SignMode_SIGN_MODE_DIRECT)
}

func (s *Submitter) submitOnce(ctx context.Context, signer string, acc *account, timeoutHeight int64, msgs []sdk.Msg) ([]byte, error) {
	f := s.factory(acc, timeoutHeight)
	gas, err := s.simulate(ctx, f, msgs)
	if err != nil {
		// A failed simulation loses its error code (the SDK's Simulate
		// service answers codes.Unknown with the text only), and the
		// lifecycle must tell e.g. a stale sequence or an existing claim
		// from other failures. So the tx is broadcast anyway: the chain
		// then refuses it with a coded error, in CheckTx (sequence, fees,
		// message checks) or in its block (message execution).
		s.logger.Debug("simulation failed; broadcasting for a coded answer", "supplier", signer, "error", err)
		gas = s.cfg.FallbackGas
	}
	txb, err := f.WithGas(gas).BuildUnsignedTx(msgs...)
	if err != nil {
		return nil, err
	}
	fees := make(sdk.Coins, 0, len(s.cfg.GasPrices))
	for _, gp := range s.cfg.GasPrices {
		fee := gp.Amount.MulInt64(int64(gas)).Ceil().TruncateInt()
		if fee.IsPositive() {
			fees = append(fees, sdk.NewCoin(gp.Denom, fee))
		}
	}
	txb.SetFeeAmount(fees.Sort())
	if err := tx.Sign(ctx, f, acc.keyName, txb, true); err != nil {
		return nil, fmt.Errorf("signing tx: %w", err)
	}
	bz, err := s.txCfg.TxEncoder()(txb.GetTx())
	if err != nil {
		return nil, err
	}
	res, err := s.client.rpc.BroadcastTxSync(ctx, bz)
	if err != nil {
		// The node may hold the tx anyway (the answer was lost, or the
		// same bytes were sent before a restart and are in its mempool):
		// wait for it by hash. If it does not land by its timeout height
		// it is sent again; a stale sequence is then refreshed.
		s.logger.Info("broadcast failed; waiting for the tx in case the node has it", "supplier", signer, "error", err)
		return tmhash.Sum(bz), nil
	}
	if res.Code != 0 {
		return nil, errorsmod.ABCIError(res.Codespace, res.Code, res.Log)
	}
	acc.seq++
	return res.Hash, nil
}

// simulate runs the tx through the node's ABCI simulation (not gRPC, which
// drops error codes) and returns the adjusted gas.
func (s *Submitter) simulate(ctx context.Context, f tx.Factory, msgs []sdk.Msg) (uint64, error) {
	simBytes, err := f.BuildSimTx(msgs...)
	if err != nil {
		return 0, fmt.Errorf("building simulation tx: %w", err)
	}
	req, err := (&txtypes.SimulateRequest{TxBytes: simBytes}).Marshal()
	if err != nil {
		return 0, err
	}
	res, err := s.client.rpc.ABCIQuery(ctx, "/cosmos.tx.v1beta1.Service/Simulate", req)
	if err != nil {
		return 0, fmt.Errorf("simulating tx: %w", err)
	}
	if res.Response.Code != 0 {
		return 0, errorsmod.ABCIError(res.Response.Codespace, res.Response.Code, res.Response.Log)
	}
	var sim txtypes.SimulateResponse
	if err := sim.Unmarshal(res.Response.Value); err != nil {
		return 0, err
	}
	gas := math.Ceil(float64(sim.GasInfo.GasUsed) * s.cfg.GasAdjustment)
	return uint64(gas), nil
}

// waitForInclusion polls for the tx until it is in a block (whose height
// it returns, also when the chain rejected the tx), the chain committed
// the block of its timeout height without it, or InclusionTimeout passes.
func (s *Submitter) waitForInclusion(ctx context.Context, hash []byte, timeoutHeight int64) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.InclusionTimeout)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		// Read the height first: a tx that is not found once the block of
		// its timeout height is committed, and is not in that block (the
		// tx index can lag behind the block), can never land.
		latest := s.client.Tip()
		res, err := s.client.rpc.Tx(ctx, hash, false)
		if err == nil {
			if res.TxResult.Code != 0 {
				return res.Height, errorsmod.ABCIError(res.TxResult.Codespace, res.TxResult.Code, res.TxResult.Log)
			}
			return res.Height, nil
		}
		if timeoutHeight > 0 && latest >= timeoutHeight {
			if in, err := s.inBlock(ctx, timeoutHeight, hash); err == nil && !in || latest > timeoutHeight+1 {
				return 0, fmt.Errorf("%w: tx %X, timeout height %d", ErrNotIncluded, hash, timeoutHeight)
			}
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for tx %X: %w", hash, ctx.Err())
		case <-tick.C:
		}
	}
}

// ErrNotIncluded is returned by Submit for a tx that the chain passed its
// timeout height without: it will never land, and can be sent again.
var ErrNotIncluded = errors.New("tx not included by its timeout height")

// inBlock reports whether block h holds the tx with hash.
func (s *Submitter) inBlock(ctx context.Context, h int64, hash []byte) (bool, error) {
	b, err := s.client.rpc.Block(ctx, &h)
	if err != nil {
		return false, err
	}
	for _, tx := range b.Block.Txs {
		if bytes.Equal(tx.Hash(), hash) {
			return true, nil
		}
	}
	return false, nil
}
