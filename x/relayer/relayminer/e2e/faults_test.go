package e2e_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"cosmossdk.io/log"
	sdkmath "cosmossdk.io/math"
	"github.com/cosmos/gogoproto/proto"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/diskfault"
	"github.com/pokt-network/poktroll/testutil/network"
	"github.com/pokt-network/poktroll/testutil/relayminerproc"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/config"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// faultScenarios are the fault-injection scenarios of "the RelayMiner never
// misses a window": each runs its own application (app<i>) and supplier
// (sup<i>), serves a few relays in one session, injects one fault around a
// lifecycle point, and then requires from the chain's events that the
// session was claimed with exactly the relays answered, proven and settled,
// with no slash and no expired claim.
//
// Heights, with the e2e network.E2EParams() and E the session's last block: grace ends
// at E+2, the claim window is E+4..E+14 (work starts at E+3), the proof
// window E+15..E+21 (work starts at E+14); settlement is in block E+21.
func faultScenarios(t *testing.T, n *network.Network, listens map[string]string, backend string, bin *relayminerproc.Poktrolld) {
	// kill -9 of a subprocess RelayMiner at each lifecycle point, restarted
	// at once on the same store.
	for _, kill := range []struct {
		name     string
		app, sup string
		relays   int
		// until blocks until the moment to kill.
		until func(t *testing.T, w protocol.Windows, sup, sessionID string)
	}{
		{
			name: "the block before the claim window opens (sealing and claiming)", app: "app5", sup: "sup5", relays: 5,
			until: func(t *testing.T, w protocol.Windows, _, _ string) {
				_, err := n.WaitForHeightWithTimeout(w.ClaimWindowOpen-1, 60*time.Second)
				require.NoError(t, err)
			},
		},
		{
			name: "its claim tx's block", app: "app6", sup: "sup6", relays: 6,
			until: func(t *testing.T, w protocol.Windows, sup, sessionID string) {
				for h := w.ClaimWindowOpen; h <= w.ClaimWindowClose; h++ {
					_, err := n.WaitForHeightWithTimeout(h, 30*time.Second)
					require.NoError(t, err)
					if o := outcomes(n.RelayerEvents(t, h, h), sup); o.claims[sessionID] != nil {
						t.Logf("claim included at height %d (claim window %d..%d): killing", h, w.ClaimWindowOpen, w.ClaimWindowClose)
						return
					}
				}
				t.Fatalf("the claim did not land in its window %d..%d", w.ClaimWindowOpen, w.ClaimWindowClose)
			},
		},
		{
			name: "the block before the proof window opens (proving)", app: "app7", sup: "sup7", relays: 7,
			until: func(t *testing.T, w protocol.Windows, _, _ string) {
				_, err := n.WaitForHeightWithTimeout(w.ProofWindowOpen-1, 90*time.Second)
				require.NoError(t, err)
			},
		},
	} {
		t.Run("kill -9 at "+kill.name+" and a restart miss nothing", func(t *testing.T) {
			t.Parallel()
			path, cfg := writeConfig(t, n.RPCURL(), kill.sup, listens[kill.sup], backend, t.TempDir())
			rm := relayminerproc.Start(t, n, bin.Path(t), path, cfg)
			sup := n.Address(kill.sup)
			c := newClient(t, n, kill.app, kill.sup, "http://"+listens[kill.sup])
			hdr := c.nextSession(t)
			waitFor(t, n, 10*time.Second, "the relay miner to see the session", func() bool { return rm.Height() >= hdr.SessionStartBlockHeight })
			for i := 0; i < kill.relays; i++ {
				c.relay(t, hdr, i)
			}
			w := protocol.SessionWindows(network.E2EParams(), hdr.SessionEndBlockHeight)
			kill.until(t, w, sup, hdr.SessionId)
			rm.Kill9(t)
			rm.Start(t)
			requireNothingMissed(t, n, sup, hdr, kill.relays)
			t.Logf("relay miner lifecycle:\n%s", rm.Lifecycle())
		})
	}

	t.Run("the node's mempool loses the claim tx twice: it is sent again and lands in its window", func(t *testing.T) {
		t.Parallel()
		rpc := newTxSwallower(t, n.RPCURL(), 2)
		_, cfg := writeConfig(t, rpc.URL(), "sup8", listens["sup8"], backend, t.TempDir())
		rm, logs := startLoggedRelayMiner(t, n, cfg, relayminer.Deps{})
		sup := n.Address("sup8")
		c := newClient(t, n, "app8", "sup8", "http://"+listens["sup8"])
		hdr := c.nextSession(t)
		waitFor(t, n, 10*time.Second, "the relay miner to see the session", func() bool { return rm.Chain.LatestHeight() >= hdr.SessionStartBlockHeight })
		const relays = 8
		for i := 0; i < relays; i++ {
			c.relay(t, hdr, i)
		}
		requireNothingMissed(t, n, sup, hdr, relays)
		require.Len(t, rpc.swallowedTxs(), 2, "the first two broadcasts were swallowed")
		dec := n.ClientCtx().TxConfig.TxDecoder()
		for _, raw := range rpc.swallowedTxs() {
			tx, err := dec(raw)
			require.NoError(t, err)
			require.Len(t, tx.GetMsgs(), 1)
			require.IsType(t, &types.MsgCreateClaim{}, tx.GetMsgs()[0], "a claim tx was swallowed")
		}
		t.Logf("relay miner lifecycle:\n%s", relayminerproc.Lifecycle(logs))
	})

	t.Run("the node unreachable for 4 blocks inside the claim window misses nothing", func(t *testing.T) {
		t.Parallel()
		const down = 4 // blocks
		rpc := newFlakyProxy(t, strings.TrimPrefix(n.RPCURL(), "http://"))
		_, cfg := writeConfig(t, "http://"+rpc.addr(), "sup9", listens["sup9"], backend, t.TempDir())
		rm, logs := startLoggedRelayMiner(t, n, cfg, relayminer.Deps{})
		sup := n.Address("sup9")
		c := newClient(t, n, "app9", "sup9", "http://"+listens["sup9"])
		hdr := c.nextSession(t)
		waitFor(t, n, 10*time.Second, "the relay miner to see the session", func() bool { return rm.Chain.LatestHeight() >= hdr.SessionStartBlockHeight })
		const relays = 6
		for i := 0; i < relays; i++ {
			c.relay(t, hdr, i)
		}
		w := protocol.SessionWindows(network.E2EParams(), hdr.SessionEndBlockHeight)
		from := w.ClaimWindowOpen - 1
		_, err := n.WaitForHeightWithTimeout(from, 60*time.Second)
		require.NoError(t, err)
		rpc.setDown(true)
		_, err = n.WaitForHeightWithTimeout(from+down, 60*time.Second)
		require.NoError(t, err)
		seen := rm.Chain.LatestHeight()
		rpc.setDown(false)
		require.Less(t, seen, from+down, "the relay miner was cut off from the node")
		t.Logf("node unreachable over heights %d..%d; the relay miner had seen up to %d", from, from+down, seen)
		requireNothingMissed(t, n, sup, hdr, relays)
		t.Logf("relay miner lifecycle:\n%s", relayminerproc.Lifecycle(logs))
	})

	t.Run("a store whose disk fills up and frees again loses no answered relay, without a restart", func(t *testing.T) {
		t.Parallel()
		disk := &diskfault.Disk{}
		_, cfg := writeConfig(t, n.RPCURL(), "sup10", listens["sup10"], backend, t.TempDir())
		rm, logs := startLoggedRelayMiner(t, n, cfg, relayminer.Deps{WrapStorage: disk.Wrap})
		sup := n.Address("sup10")
		c := newClient(t, n, "app10", "sup10", "http://"+listens["sup10"])
		hdr := c.nextSession(t)
		waitFor(t, n, 10*time.Second, "the relay miner to see the session", func() bool { return rm.Chain.LatestHeight() >= hdr.SessionStartBlockHeight })

		i, answered := 0, 0
		send := func() (int, *types.RelayResponse) {
			i++
			return c.send(t, c.request(t, hdr, "app10", i))
		}
		answer := func() {
			status, res := send()
			require.Equal(t, http.StatusOK, status, "relay %d: %v", i, res.Error)
			require.NoError(t, protocol.VerifyResponseSignature(res, c.keys["supplier"].PubKey()))
			answered++
		}
		refused := func(why string) {
			status, res := send()
			require.GreaterOrEqual(t, status, http.StatusInternalServerError, "relay %d %s: %v", i, why, res.Error)
			require.NotNil(t, res.Error, "relay %d %s: a typed relay error", i, why)
			t.Logf("relay %d %s: HTTP %d, %s code %d: %s", i, why, status, res.Error.Codespace, res.Error.Code, res.Error.Message)
		}

		for k := 0; k < 4; k++ {
			answer()
		}
		disk.SetFull(true)
		for k := 0; k < 2; k++ {
			refused("while the disk is full")
		}
		disk.SetFull(false)
		// The store reopens on a write once the disk takes writes again (at
		// most once a second): a relay or two may still be refused.
		waitFor(t, n, 15*time.Second, "relays to be answered again", func() bool {
			status, res := send()
			if status == http.StatusOK {
				require.NoError(t, protocol.VerifyResponseSignature(res, c.keys["supplier"].PubKey()))
				answered++
				return true
			}
			require.GreaterOrEqual(t, status, http.StatusInternalServerError, "relay %d: %v", i, res.Error)
			require.NotNil(t, res.Error)
			t.Logf("relay %d right after the disk freed: HTTP %d, %s code %d", i, status, res.Error.Codespace, res.Error.Code)
			return false
		})
		for k := 0; k < 3; k++ {
			answer()
		}
		require.Equal(t, 8, answered)
		requireNothingMissed(t, n, sup, hdr, answered)
		t.Logf("relay miner lifecycle:\n%s", relayminerproc.Lifecycle(logs))
	})
}

// requireNothingMissed waits for the session's proof window to close and
// requires from the chain's events that the supplier's session was claimed
// with exactly answered relays, proven, and settled for answered x cupr, and
// that the supplier was neither slashed nor had a claim expire.
func requireNothingMissed(t *testing.T, n *network.Network, sup string, hdr types.SessionHeader, answered int) {
	t.Helper()
	w := protocol.SessionWindows(network.E2EParams(), hdr.SessionEndBlockHeight)
	_, err := n.WaitForHeightWithTimeout(w.ProofWindowClose+1, 120*time.Second)
	require.NoError(t, err)
	var evs []proto.Message
	claimedAt, provenAt := int64(0), int64(0)
	for h := hdr.SessionStartBlockHeight; h <= w.ProofWindowClose+1; h++ {
		for _, e := range n.RelayerEvents(t, h, h) {
			evs = append(evs, e)
			switch ev := e.(type) {
			case *types.EventClaimCreated:
				if ev.Claim.SupplierOperatorAddress == sup {
					claimedAt = h
				}
			case *types.EventProofSubmitted:
				if ev.Claim.SupplierOperatorAddress == sup {
					provenAt = h
				}
			case *types.EventSupplierSlashed:
				require.NotEqual(t, sup, ev.SupplierOperatorAddress, "supplier slashed at height %d: %v", h, ev)
			}
		}
	}
	t.Logf("session end %d: claimed at %d (window %d..%d), proven at %d (window %d..%d)",
		w.SessionEnd, claimedAt, w.ClaimWindowOpen, w.ClaimWindowClose, provenAt, w.ProofWindowOpen, w.ProofWindowClose)
	o := outcomes(evs, sup)
	require.Empty(t, o.expired, "no claim of the supplier expired")
	claim := o.claims[hdr.SessionId]
	require.NotNil(t, claim, "the session was claimed")
	require.Len(t, o.claims, 1, "one claim")
	require.EqualValues(t, answered, claim.NumRelays, "the claim counts every relay answered 200")
	require.EqualValues(t, answered*cupr, claim.NumClaimedComputeUnits)
	require.True(t, o.proofs[hdr.SessionId], "the proof was accepted")
	settled := o.settled[hdr.SessionId]
	require.NotNil(t, settled, "the claim was settled")
	require.Equal(t, sdkmath.NewInt(int64(answered*cupr)), settled.Amount.Amount)
}

// startLoggedRelayMiner starts an in-process RelayMiner (deps' WrapStorage
// is kept) whose info-level logs are printed if the test fails, and stops
// it when the test ends.
func startLoggedRelayMiner(t *testing.T, n *network.Network, cfg *config.Config, deps relayminer.Deps) (*relayminer.RelayMiner, *relayminerproc.LockedBuffer) {
	logs := &relayminerproc.LockedBuffer{}
	deps.Keyring, deps.Codec, deps.TxConfig = n.Keyring(), n.Codec(), n.ClientCtx().TxConfig
	info, err := log.ParseLogLevel("info")
	require.NoError(t, err)
	deps.Logger = log.NewLogger(logs, log.FilterOption(info), log.ColorOption(false))
	deps.PollInterval = 500 * time.Millisecond
	rm := relayminer.New(cfg, deps)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("relay miner logs:\n%s", logs.String())
		}
	})
	require.NoError(t, rm.Start(context.Background()))
	t.Cleanup(func() { _ = rm.Stop(context.Background()) })
	return rm, logs
}

// txSwallower is an HTTP reverse proxy in front of a node's RPC that
// swallows the first few broadcast_tx_sync calls, as a node whose mempool
// loses a tx: it answers them with a fake success (the tx's hash, code 0)
// and never forwards them. Everything else, websocket upgrades included, is
// forwarded.
type txSwallower struct {
	srv *httptest.Server

	mu        sync.Mutex
	left      int
	swallowed [][]byte
}

func newTxSwallower(t *testing.T, target string, count int) *txSwallower {
	u, err := url.Parse(target)
	require.NoError(t, err)
	s := &txSwallower{left: count}
	fwd := httputil.NewSingleHostReverseProxy(u)
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			var call struct {
				ID     json.RawMessage `json:"id"`
				Method string          `json:"method"`
				Params struct {
					Tx []byte `json:"tx"` // base64 in JSON
				} `json:"params"`
			}
			if json.Unmarshal(body, &call) == nil && call.Method == "broadcast_tx_sync" && s.swallow(call.Params.Tx) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"code":0,"data":"","log":"","codespace":"","hash":"%X"}}`,
					call.ID, sha256.Sum256(call.Params.Tx))
				return
			}
		}
		fwd.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the proxy's URL, an rpc_url.
func (s *txSwallower) URL() string { return s.srv.URL }

func (s *txSwallower) swallow(tx []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.left == 0 {
		return false
	}
	s.left--
	s.swallowed = append(s.swallowed, tx)
	return true
}

// swallowedTxs are the txs swallowed so far.
func (s *txSwallower) swallowedTxs() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.swallowed...)
}
