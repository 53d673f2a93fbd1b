package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cosmos/cosmos-sdk/crypto/hd"
	"github.com/cosmos/cosmos-sdk/crypto/keyring"
	cryptotypes "github.com/cosmos/cosmos-sdk/crypto/types"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/gogoproto/proto"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/network"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/config"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// jsonRPCBackend answers every JSON-RPC call with its id and counts calls.
func jsonRPCBackend(t *testing.T) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"jsonrpc":"2.0","id":1,"result":"0x%x"}`, len(body))
	}))
	t.Cleanup(s.Close)
	return s
}

// actors stakes an application and a supplier (serving "eth" at listen)
// through real txs and waits until both take part in sessions.
func stakeActors(t *testing.T, n *network.Network, app, sup, listen string) {
	stake := sdk.NewInt64Coin(types.DefaultDenom, 10_000_000)
	res := n.MustSendTx(t, app, &types.MsgStakeApplication{Address: n.Address(app), Stake: stake, ServiceIds: []string{"eth"}})
	var appRes types.MsgStakeApplicationResponse
	n.MsgResponse(t, res, 0, &appRes)
	res = n.MustSendTx(t, sup, &types.MsgStakeSupplier{OperatorAddress: n.Address(sup), Stake: stake,
		Services: []types.SupplierService{{ServiceId: "eth", EndpointUrl: "http://" + listen, RpcType: types.RPCType_RPC_TYPE_JSON_RPC}}})
	var supRes types.MsgStakeSupplierResponse
	n.MsgResponse(t, res, 0, &supRes)
	_, err := n.WaitForHeight(max(appRes.ActivationHeight, supRes.ActivationHeight))
	require.NoError(t, err)
}

// writeConfig writes a RelayMiner YAML config and loads it the way the
// start command does.
// Queries go through rpc_url (no grpc_url): see config.Chain.GRPCURL.
func writeConfig(t *testing.T, rpcURL, keyName, listen, backend, storeDir string) (string, *config.Config) {
	yaml := fmt.Sprintf(`chain:
  rpc_url: %s
store:
  path: %s
metrics:
  listen: ""
health:
  listen: %s
suppliers:
  - key_name: %s
    services:
      - service_id: eth
        listen: %s
        backend_url: %s
        request_timeout: 5s
`, rpcURL, storeDir, network.FreeAddr(t), keyName, listen, backend)
	path := filepath.Join(t.TempDir(), "relayminer.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	cfg, err := config.Load(path)
	require.NoError(t, err)
	return path, cfg
}

func startRelayMiner(t *testing.T, n *network.Network, cfg *config.Config) *relayminer.RelayMiner {
	rm := relayminer.New(cfg, relayminer.Deps{
		Keyring: n.Keyring(), Codec: n.Codec(), TxConfig: n.ClientCtx().TxConfig,
		Logger: testLogger(t), PollInterval: 500 * time.Millisecond,
	})
	require.NoError(t, rm.Start(context.Background()))
	return rm
}

// client signs relays as an application, with keys derived once from the
// network accounts' mnemonics (the keyring takes ~25 ms a signature under
// -race, long enough to push a batch of relays past its session).
type client struct {
	n        *network.Network
	app      string // key name
	supplier string // operator address
	url      string
	keys     map[string]cryptotypes.PrivKey
}

func newClient(t *testing.T, n *network.Network, app, sup, url string) *client {
	c := &client{n: n, app: app, supplier: n.Address(sup), url: url, keys: map[string]cryptotypes.PrivKey{}}
	for _, name := range []string{app, sup} {
		derived, err := hd.Secp256k1.Derive()(n.Mnemonic(name), keyring.DefaultBIP39Passphrase, sdk.GetConfig().GetFullBIP44Path())
		require.NoError(t, err)
		c.keys[name] = hd.Secp256k1.Generate()(derived)
		require.Equal(t, n.Address(name), sdk.AccAddress(c.keys[name].PubKey().Address()).String())
	}
	c.keys["supplier"] = c.keys[sup]
	return c
}

// session returns the application's current session for "eth".
func (c *client) session(t *testing.T) types.SessionHeader {
	res, err := c.n.RelayerQuery().GetSession(context.Background(), &types.QueryGetSessionRequest{ApplicationAddress: c.n.Address(c.app), ServiceId: "eth"})
	require.NoError(t, err)
	return res.Session.Header
}

// nextSession waits for the application's next session to start and
// returns it, so relays sent right away land mid-session.
func (c *client) nextSession(t *testing.T) types.SessionHeader {
	cur := c.session(t)
	var hdr types.SessionHeader
	waitFor(t, c.n, 30*time.Second, "the next session", func() bool {
		hdr = c.session(t)
		return hdr.SessionStartBlockHeight > cur.SessionStartBlockHeight
	})
	return hdr
}

// request builds a relay request for hdr signed with signer's key.
func (c *client) request(t *testing.T, hdr types.SessionHeader, signer string, i int) []byte {
	payload, err := (&types.HTTPRequest{Method: "POST", Path: "/",
		Headers: []types.Header{{Name: "Content-Type", Values: []string{"application/json"}}},
		Body:    []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"eth_blockNumber","params":[]}`, i))}).Marshal()
	require.NoError(t, err)
	req := &types.RelayRequest{Meta: types.RelayRequestMetadata{SessionHeader: &hdr, SupplierOperatorAddress: c.supplier}, Payload: payload}
	signable, err := protocol.RequestSignableBytes(req)
	require.NoError(t, err)
	req.Meta.Signature, err = c.keys[signer].Sign(signable)
	require.NoError(t, err)
	bz, err := req.Marshal()
	require.NoError(t, err)
	return bz
}

// send posts a relay request and decodes the response.
func (c *client) send(t *testing.T, raw []byte) (int, *types.RelayResponse) {
	resp, err := http.Post(c.url, "application/x-protobuf", bytes.NewReader(raw))
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	res := &types.RelayResponse{}
	require.NoError(t, res.Unmarshal(body), "status %d body %q", resp.StatusCode, body)
	return resp.StatusCode, res
}

// relay sends one valid relay and checks the signed answer.
func (c *client) relay(t *testing.T, hdr types.SessionHeader, i int) {
	status, res := c.send(t, c.request(t, hdr, c.app, i))
	require.Equal(t, http.StatusOK, status, "relay %d: %v", i, res.Error)
	require.NoError(t, protocol.VerifyResponseSignature(res, c.keys["supplier"].PubKey()))
}

// waitFor polls cond once per block until it holds or the deadline passes.
func waitFor(t *testing.T, n *network.Network, timeout time.Duration, what string, cond func() bool) {
	deadline := time.Now().Add(timeout)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "timed out waiting for %s", what)
		_, err := n.WaitForNextBlock()
		require.NoError(t, err)
	}
}

// outcome is what the chain said about one supplier's sessions.
type outcome struct {
	claims  map[string]*types.EventClaimCreated
	proofs  map[string]bool
	settled map[string]*types.EventClaimSettled
	expired map[string]bool
}

func outcomes(evs []proto.Message, supplier string) outcome {
	o := outcome{claims: map[string]*types.EventClaimCreated{}, proofs: map[string]bool{}, settled: map[string]*types.EventClaimSettled{}, expired: map[string]bool{}}
	for _, e := range evs {
		switch ev := e.(type) {
		case *types.EventClaimCreated:
			if ev.Claim.SupplierOperatorAddress == supplier {
				o.claims[ev.Claim.SessionHeader.SessionId] = ev
			}
		case *types.EventProofSubmitted:
			if ev.Claim.SupplierOperatorAddress == supplier {
				o.proofs[ev.Claim.SessionHeader.SessionId] = true
			}
		case *types.EventClaimSettled:
			if ev.Claim.SupplierOperatorAddress == supplier {
				o.settled[ev.Claim.SessionHeader.SessionId] = ev
			}
		case *types.EventClaimExpired:
			if ev.Claim.SupplierOperatorAddress == supplier {
				o.expired[ev.Claim.SessionHeader.SessionId] = true
			}
		}
	}
	return o
}

// flakyProxy forwards TCP to target and can drop every connection.
type flakyProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

func newFlakyProxy(t *testing.T, target string) *flakyProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &flakyProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { _ = ln.Close(); p.setDown(true) })
	go p.serve()
	return p
}

func (p *flakyProxy) addr() string { return p.ln.Addr().String() }

func (p *flakyProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
		go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
	}
}

// setDown closes every open connection and refuses new ones while down.
func (p *flakyProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			_ = c.Close()
		}
		p.conns = map[net.Conn]bool{}
	}
}

// eachTx calls fn with each message of the committed txs in blocks
// from..to, with its tx's raw bytes and height.
func eachTx(t *testing.T, n *network.Network, from, to int64, fn func(h int64, raw []byte, m sdk.Msg)) {
	dec := n.ClientCtx().TxConfig.TxDecoder()
	for h := from; h <= to; h++ {
		hh := h
		b, err := n.RPCClient().Block(context.Background(), &hh)
		require.NoError(t, err)
		for _, raw := range b.Block.Txs {
			tx, err := dec(raw)
			require.NoError(t, err)
			for _, m := range tx.GetMsgs() {
				fn(h, raw, m)
			}
		}
	}
}

// proofTxSizes returns the sizes of the committed txs in blocks from..to
// that carry a MsgSubmitProof of supplier.
func proofTxSizes(t *testing.T, n *network.Network, from, to int64, supplier string) []int {
	var sizes []int
	eachTx(t, n, from, to, func(_ int64, raw []byte, m sdk.Msg) {
		if p, ok := m.(*types.MsgSubmitProof); ok && p.SupplierOperatorAddress == supplier {
			sizes = append(sizes, len(raw))
		}
	})
	return sizes
}
