package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// rpc is a minimal CometBFT JSON-RPC client (GET endpoints, net/http and
// encoding/json only).
type rpc struct {
	base string // http://127.0.0.1:<port>
	http *http.Client
}

func newRPC(base string) *rpc {
	return &rpc{base: base, http: &http.Client{Timeout: 5 * time.Second}}
}

// get calls base+path and decodes the JSON-RPC result into out.
func (c *rpc) get(ctx context.Context, path string, out any) error {
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

// height is the node's latest committed height.
func (c *rpc) height(ctx context.Context) (int64, error) {
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

// txResult is the outcome of an included tx.
type txResult struct {
	Height int64
	Code   uint32
	Log    string
}

// tx looks up an included tx by its hex hash; it fails while the tx is not
// in a block.
func (c *rpc) tx(ctx context.Context, hash string) (txResult, error) {
	var r struct {
		Height   num `json:"height"`
		TxResult struct {
			Code uint32 `json:"code"`
			Log  string `json:"log"`
		} `json:"tx_result"`
	}
	if err := c.get(ctx, "/tx?hash=0x"+hash, &r); err != nil {
		return txResult{}, err
	}
	return txResult{Height: int64(r.Height), Code: r.TxResult.Code, Log: r.TxResult.Log}, nil
}

// abciEvent is an event as /block_results shows it (CometBFT 0.38: plain
// string keys and values).
type abciEvent struct {
	Type       string `json:"type"`
	Attributes []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"attributes"`
}

// attr returns the value of attribute key ("" when absent).
func (e abciEvent) attr(key string) string {
	for _, a := range e.Attributes {
		if a.Key == key {
			return a.Value
		}
	}
	return ""
}

// blockEvents returns the events of block h: those of its successful txs,
// then those of FinalizeBlock (begin and end block).
func (c *rpc) blockEvents(ctx context.Context, h int64) ([]abciEvent, error) {
	var r struct {
		TxsResults []struct {
			Code   uint32      `json:"code"`
			Events []abciEvent `json:"events"`
		} `json:"txs_results"`
		FinalizeBlockEvents []abciEvent `json:"finalize_block_events"`
	}
	if err := c.get(ctx, fmt.Sprintf("/block_results?height=%d", h), &r); err != nil {
		return nil, err
	}
	var out []abciEvent
	for _, tx := range r.TxsResults {
		if tx.Code == 0 {
			out = append(out, tx.Events...)
		}
	}
	return append(out, r.FinalizeBlockEvents...), nil
}

// heights follows the node's latest height by polling /status (it keeps
// the last known height while the node is down).
type heights struct {
	rpc    *rpc
	latest atomic.Int64
}

// follow polls every 100ms until ctx ends.
func (t *heights) follow(ctx context.Context) {
	for {
		if h, err := t.rpc.height(ctx); err == nil && h > t.latest.Load() {
			t.latest.Store(h)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (t *heights) now() int64 { return t.latest.Load() }

// waitFor blocks until the latest height is at least h.
func (t *heights) waitFor(ctx context.Context, h int64) error {
	for t.now() < h {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}
