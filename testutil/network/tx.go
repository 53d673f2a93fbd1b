package network

import (
	"context"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cosmos/cosmos-sdk/client/flags"
	clienttx "github.com/cosmos/cosmos-sdk/client/tx"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/tx/signing"
	authtx "github.com/cosmos/cosmos-sdk/x/auth/tx"
	"github.com/cosmos/gogoproto/proto"
)

// SendTx signs msgs with the key from (a keyring name), broadcasts them in
// one tx and waits until the tx is in a block. It returns the tx result
// whatever its code: a tx rejected by CheckTx (Height 0) or failed in its
// block, with Code and Codespace set, is returned for the test to assert.
// It fails t only if the tx cannot be built, broadcast or found in time.
func (n *Network) SendTx(t testing.TB, from string, msgs ...sdk.Msg) *sdk.TxResponse {
	t.Helper()
	res, err := n.sendTx(from, msgs...)
	if err != nil {
		t.Fatalf("testutil/network: send tx from %s: %v", from, err)
	}
	return res
}

// MustSendTx is SendTx that also fails t unless the tx succeeded.
func (n *Network) MustSendTx(t testing.TB, from string, msgs ...sdk.Msg) *sdk.TxResponse {
	t.Helper()
	res := n.SendTx(t, from, msgs...)
	if res.Code != 0 {
		t.Fatalf("testutil/network: tx %s from %s failed: codespace %q code %d: %s", res.TxHash, from, res.Codespace, res.Code, res.RawLog)
	}
	return res
}

// MsgResponse decodes the response of the i-th message of a successful tx
// into out, e.g. a *types.MsgStakeApplicationResponse.
func (n *Network) MsgResponse(t testing.TB, res *sdk.TxResponse, i int, out proto.Message) {
	t.Helper()
	if err := n.decodeMsgResponse(res, i, out); err != nil {
		t.Fatalf("testutil/network: tx %s: %v", res.TxHash, err)
	}
}

func (n *Network) decodeMsgResponse(res *sdk.TxResponse, i int, out proto.Message) error {
	bz, err := hex.DecodeString(res.Data)
	if err != nil {
		return fmt.Errorf("data is not hex: %w", err)
	}
	var data sdk.TxMsgData
	if err := n.Codec().Unmarshal(bz, &data); err != nil {
		return fmt.Errorf("decode TxMsgData: %w", err)
	}
	if i < 0 || i >= len(data.MsgResponses) {
		return fmt.Errorf("no response %d: the tx has %d (code %d: %s)", i, len(data.MsgResponses), res.Code, res.RawLog)
	}
	resp := data.MsgResponses[i]
	if want := "/" + proto.MessageName(out); resp.TypeUrl != want {
		return fmt.Errorf("response %d is %s, not %s", i, resp.TypeUrl, want)
	}
	return n.Codec().Unmarshal(resp.Value, out)
}

// signerLock serializes the txs of one signer, whose sequence they share.
func (n *Network) signerLock(from string) *sync.Mutex {
	n.sendMu.Lock()
	defer n.sendMu.Unlock()
	mu, ok := n.signerMu[from]
	if !ok {
		mu = new(sync.Mutex)
		n.signerMu[from] = mu
	}
	return mu
}

func (n *Network) sendTx(from string, msgs ...sdk.Msg) (*sdk.TxResponse, error) {
	mu := n.signerLock(from)
	mu.Lock()
	defer mu.Unlock()

	clientCtx := n.Validator.ClientCtx
	rec, err := clientCtx.Keyring.Key(from)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", from, err)
	}
	addr, err := rec.GetAddress()
	if err != nil {
		return nil, err
	}
	accNum, seq, err := clientCtx.AccountRetriever.GetAccountNumberSequence(clientCtx, addr)
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", addr, err)
	}
	f := clienttx.Factory{}.
		WithChainID(n.chainID).
		WithKeybase(clientCtx.Keyring).
		WithTxConfig(clientCtx.TxConfig).
		WithAccountRetriever(clientCtx.AccountRetriever).
		WithAccountNumber(accNum).
		WithSequence(seq).
		WithGas(n.gasLimit).
		WithSignMode(signing.SignMode_SIGN_MODE_DIRECT)
	builder, err := f.BuildUnsignedTx(msgs...)
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	if err := clienttx.Sign(context.Background(), f, from, builder, true); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	bz, err := clientCtx.TxConfig.TxEncoder()(builder.GetTx())
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	res, err := clientCtx.WithBroadcastMode(flags.BroadcastSync).BroadcastTx(bz)
	if err != nil {
		return nil, fmt.Errorf("broadcast: %w", err)
	}
	if res.Code != 0 {
		return res, nil // rejected by CheckTx: never in a block
	}
	return n.waitForTx(res.TxHash, n.txTimeout)
}

// WaitForTx waits until the tx with this hash (hex) is in a block and
// returns its result.
func (n *Network) WaitForTx(t testing.TB, hash string) *sdk.TxResponse {
	t.Helper()
	res, err := n.waitForTx(hash, n.txTimeout)
	if err != nil {
		t.Fatalf("testutil/network: %v", err)
	}
	return res
}

func (n *Network) waitForTx(hash string, timeout time.Duration) (*sdk.TxResponse, error) {
	var (
		res     *sdk.TxResponse
		lastErr error
	)
	err := pollUntil(timeout, n.pollInterval(), func() (bool, error) {
		res, lastErr = authtx.QueryTx(n.Validator.ClientCtx, hash)
		return lastErr == nil, nil
	})
	if err != nil {
		return nil, fmt.Errorf("tx %s not in a block after %s: %v", hash, timeout, lastErr)
	}
	return res, nil
}
