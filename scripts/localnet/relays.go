package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// methods are the CometBFT JSON-RPC methods relayed, in turn.
var methods = []string{"status", "abci_info", "block"}

func randomMethod() string { return methods[rand.IntN(len(methods))] }

// relayer sends JSON-RPC relays through the AppGate and counts them.
type relayer struct {
	url            string
	served, failed int // served: answered 200 with a JSON-RPC result
	client         http.Client
}

// send sends one relay of method and prints a one-line summary of the
// answer.
func (r *relayer) send(ctx context.Context, method string) {
	n := r.served + r.failed + 1
	code, body, err := r.post(ctx, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"%s","params":{}}`, n, method))
	summary := summarize(body)
	if err != nil {
		summary = err.Error()
	}
	if code == http.StatusOK && strings.Contains(body, `"result"`) {
		r.served++
		out.Detail("relay %d %s → %d, %s (%d bytes)", n, method, code, summary, len(body))
		return
	}
	r.failed++
	out.DetailWarn("relay %d %s → %03d, %s", n, method, code, summary)
}

// post sends body to the AppGate; code is 0 when no answer came.
func (r *relayer) post(ctx context.Context, body string) (code int, answer string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// What the node answered, picked out of the JSON with regexes.
var (
	statusHeight = regexp.MustCompile(`"latest_block_height":"([0-9]+)"`)
	abciInfo     = regexp.MustCompile(`"data":"([^"]*)".*"last_block_height":"([0-9]+)"`)
	blockHeight  = regexp.MustCompile(`"chain_id":"[^"]*","height":"([0-9]+)"`)
	errorMessage = regexp.MustCompile(`"message":"([^"]*)"`)
)

// summarize says in a few words what a relay's answer holds.
func summarize(body string) string {
	if m := statusHeight.FindStringSubmatch(body); m != nil {
		return "node at height " + m[1]
	}
	if m := abciInfo.FindStringSubmatch(body); m != nil {
		return fmt.Sprintf("app %s, last block %s", m[1], m[2])
	}
	if m := blockHeight.FindStringSubmatch(body); m != nil {
		return "block " + m[1]
	}
	if m := errorMessage.FindStringSubmatch(body); m != nil {
		return "error: " + m[1]
	}
	return body[:min(len(body), 120)]
}
