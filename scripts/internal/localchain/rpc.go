package localchain

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
)

// RPC is a minimal CometBFT JSON-RPC client (GET endpoints, net/http and
// encoding/json only).
type RPC struct {
	base string // http://127.0.0.1:<port>
	http *http.Client
}

// NewRPC returns a client of the node's RPC at base.
func NewRPC(base string) *RPC {
	return &RPC{base: base, http: &http.Client{Timeout: 5 * time.Second}}
}

// get calls base+path and decodes the JSON-RPC result into out.
func (c *RPC) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var env struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Message string `json:"message"`
			Data    string `json:"data"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fmt.Errorf("%s: HTTP %d: %w", path, resp.StatusCode, err)
	}
	if env.Error != nil {
		return fmt.Errorf("%s: %s %s", path, env.Error.Message, env.Error.Data)
	}
	return json.Unmarshal(env.Result, out)
}

// num is an integer that JSON encodes as a string ("123") or a number.
type num int64

func (n *num) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*n = 0
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	*n = num(v)
	return err
}

// Height is the node's latest committed height.
func (c *RPC) Height(ctx context.Context) (int64, error) {
	var st struct {
		SyncInfo struct {
			LatestBlockHeight num `json:"latest_block_height"`
		} `json:"sync_info"`
	}
	if err := c.get(ctx, "/status", &st); err != nil {
		return 0, err
	}
	return int64(st.SyncInfo.LatestBlockHeight), nil
}

// TxResult is the outcome of an included tx.
type TxResult struct {
	Height int64
	Code   uint32
	Log    string
}

// Tx looks up an included tx by its hex hash; it fails while the tx is not
// in a block.
func (c *RPC) Tx(ctx context.Context, hash string) (TxResult, error) {
	var r struct {
		Height   num `json:"height"`
		TxResult struct {
			Code uint32 `json:"code"`
			Log  string `json:"log"`
		} `json:"tx_result"`
	}
	if err := c.get(ctx, "/tx?hash=0x"+hash, &r); err != nil {
		return TxResult{}, err
	}
	return TxResult{Height: int64(r.Height), Code: r.TxResult.Code, Log: r.TxResult.Log}, nil
}

// BlockEvents returns the events of block h: those of its successful txs,
// then those of FinalizeBlock (begin and end block).
func (c *RPC) BlockEvents(ctx context.Context, h int64) ([]abci.Event, error) {
	var r struct {
		TxsResults []struct {
			Code   uint32       `json:"code"`
			Events []abci.Event `json:"events"`
		} `json:"txs_results"`
		FinalizeBlockEvents []abci.Event `json:"finalize_block_events"`
	}
	if err := c.get(ctx, fmt.Sprintf("/block_results?height=%d", h), &r); err != nil {
		return nil, err
	}
	var out []abci.Event
	for _, tx := range r.TxsResults {
		if tx.Code == 0 {
			out = append(out, tx.Events...)
		}
	}
	return append(out, r.FinalizeBlockEvents...), nil
}

// Heights follows the node's latest height by polling /status (it keeps
// the last known height while the node is down).
type Heights struct {
	RPC    *RPC
	latest atomic.Int64
}

// Follow polls every 100ms until ctx ends.
func (t *Heights) Follow(ctx context.Context) {
	for {
		if h, err := t.RPC.Height(ctx); err == nil && h > t.latest.Load() {
			t.latest.Store(h)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Now is the latest height seen.
func (t *Heights) Now() int64 { return t.latest.Load() }

// WaitFor blocks until the latest height is at least h.
func (t *Heights) WaitFor(ctx context.Context, h int64) error {
	for t.Now() < h {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}
