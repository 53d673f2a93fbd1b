package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"cosmossdk.io/log"
	sdkmath "cosmossdk.io/math"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/network"
	"github.com/pokt-network/poktroll/testutil/relayminerproc"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

const cupr = 3

func testLogger(t *testing.T) log.Logger { return log.NewTestLoggerError(t) }

func balance(t *testing.T, n *network.Network, addr string) sdkmath.Int {
	res, err := banktypes.NewQueryClient(n.QueryConn()).Balance(context.Background(), &banktypes.QueryBalanceRequest{Address: addr, Denom: types.DefaultDenom})
	require.NoError(t, err)
	return res.Balance.Amount
}

// TestRelayMiner runs the RelayMiner against a real in-process chain. One
// network serves every scenario (the SDK allows one per process); each
// scenario has its own application and supplier.
func TestRelayMiner(t *testing.T) {
	if testing.Short() {
		t.Skip("in-process network")
	}
	n := network.New(t,
		network.WithParams(network.E2EParams()),
		network.WithServices(types.Service{Id: "eth", Name: "Ethereum", ComputeUnitsPerRelay: cupr}),
		// app<i> and sup<i>: one pair per scenario (5-10: faults_test.go).
		network.WithFundedAccounts("app1", "sup1", "app2", "sup2", "app3", "sup3", "app4", "sup4",
			"app5", "sup5", "app6", "sup6", "app7", "sup7", "app8", "sup8", "app9", "sup9", "app10", "sup10"),
	)
	const pairs = 10
	listens := map[string]string{}
	for i := 1; i <= pairs; i++ {
		listens[fmt.Sprintf("sup%d", i)] = network.FreeAddr(t)
	}
	// Staked in parallel: each pair waits for the next session to activate.
	require.True(t, t.Run("stake", func(t *testing.T) {
		for i := 1; i <= pairs; i++ {
			app, sup := fmt.Sprintf("app%d", i), fmt.Sprintf("sup%d", i)
			t.Run(sup, func(t *testing.T) {
				t.Parallel()
				stakeActors(t, n, app, sup, listens[sup])
			})
		}
	}), "staking the scenarios' actors")
	backend := jsonRPCBackend(t)
	bin := relayminerproc.NewPoktrolld(t) // built once, by the first scenario that runs it

	t.Run("two sessions are claimed, proven and paid; bad relays are refused and not counted", func(t *testing.T) {
		t.Parallel()
		_, cfg := writeConfig(t, n.RPCURL(), "sup1", listens["sup1"], backend.URL, t.TempDir())
		rm := startRelayMiner(t, n, cfg)
		t.Cleanup(func() { _ = rm.Stop(context.Background()) })
		sup := n.Address("sup1")
		c := newClient(t, n, "app1", "sup1", "http://"+listens["sup1"])
		before := balance(t, n, sup)

		sent := map[string]int{}
		var headers []types.SessionHeader
		for s, count := range []int{12, 8} {
			hdr := c.nextSession(t)
			waitFor(t, n, 10*time.Second, "the relay miner to see the session", func() bool { return rm.Chain.LatestHeight() >= hdr.SessionStartBlockHeight })
			headers = append(headers, hdr)
			for i := 0; i < count; i++ {
				c.relay(t, hdr, s*100+i)
			}
			sent[hdr.SessionId] = count

			// Bad relays alongside: each refused with its typed error.
			bad := []struct {
				name   string
				raw    []byte
				status int
				err    interface{ ABCICode() uint32 }
			}{
				{"forged signature", c.request(t, hdr, "supplier", 1000+s), http.StatusUnauthorized, types.ErrRelayInvalidSignature},
				{"wrong session", func() []byte {
					h := hdr
					h.SessionId = protocol.SessionID([]byte("not the chain's"), "eth", h.ApplicationAddress, h.SessionStartBlockHeight)
					return c.request(t, h, "app1", 2000+s)
				}(), http.StatusForbidden, types.ErrRelayWrongSession},
				{"unknown service", func() []byte {
					h := hdr
					h.ServiceId = "btc"
					return c.request(t, h, "app1", 3000+s)
				}(), http.StatusNotFound, types.ErrRelayUnknownService},
			}
			for _, b := range bad {
				status, res := c.send(t, b.raw)
				require.Equal(t, b.status, status, b.name)
				require.NotNil(t, res.Error, b.name)
				require.Equal(t, b.err.ABCICode(), res.Error.Code, "%s: %s", b.name, res.Error.Message)
			}
		}

		last := headers[len(headers)-1]
		w := protocol.SessionWindows(network.E2EParams(), last.SessionEndBlockHeight)
		_, err := n.WaitForHeightWithTimeout(w.ProofWindowClose+1, 90*time.Second)
		require.NoError(t, err)

		o := outcomes(n.RelayerEvents(t, headers[0].SessionStartBlockHeight, w.ProofWindowClose+1), sup)
		require.Len(t, o.claims, 2)
		paid := sdkmath.ZeroInt()
		for id, count := range sent {
			claim := o.claims[id]
			require.NotNil(t, claim, "session %s claimed", id)
			require.EqualValues(t, count, claim.NumRelays)
			require.EqualValues(t, count*cupr, claim.NumClaimedComputeUnits, "sum = relays sent x compute units")
			require.True(t, o.proofs[id], "proof accepted for %s", id)
			settled := o.settled[id]
			require.NotNil(t, settled, "session %s settled", id)
			require.Equal(t, sdkmath.NewInt(int64(count*cupr)), settled.Amount.Amount)
			paid = paid.Add(settled.Amount.Amount)
		}
		require.Equal(t, before.Add(paid), balance(t, n, sup), "supplier paid exactly the settled amounts (fees are zero)")
	})

	t.Run("a start that fails after the relay listener is up frees its port", func(t *testing.T) {
		t.Parallel()
		busy, err := net.Listen("tcp", "127.0.0.1:0") // the metrics address is taken
		require.NoError(t, err)
		t.Cleanup(func() { _ = busy.Close() })
		relayListen := network.FreeAddr(t)
		_, cfg := writeConfig(t, n.RPCURL(), "sup1", relayListen, backend.URL, t.TempDir())
		cfg.Metrics.Listen = busy.Addr().String()
		rm := relayminer.New(cfg, relayminer.Deps{
			Keyring: n.Keyring(), Codec: n.Codec(), TxConfig: n.ClientCtx().TxConfig, Logger: testLogger(t),
		})
		err = rm.Start(context.Background())
		require.ErrorContains(t, err, "metrics.listen")
		require.NotEmpty(t, rm.RelayAddrs(), "the relay server was listening when the start failed")
		ln, err := net.Listen("tcp", relayListen)
		require.NoError(t, err, "the relay listener was closed")
		require.NoError(t, ln.Close())
		require.NoError(t, rm.Stop(context.Background()), "stopping a failed start is harmless")
	})

	t.Run("a 3 MB answer is served, claimed, proven and paid with a proof tx under 10 KB", func(t *testing.T) {
		t.Parallel()
		const answer = 3 << 20 // inside the default 4 MiB body limit
		big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":1,"result":"0x`))
			_, _ = w.Write(bytes.Repeat([]byte("ab"), (answer-40)/2))
			_, _ = w.Write([]byte(`"}`))
		}))
		t.Cleanup(big.Close)
		_, cfg := writeConfig(t, n.RPCURL(), "sup4", listens["sup4"], big.URL, t.TempDir())
		rm := startRelayMiner(t, n, cfg)
		t.Cleanup(func() { _ = rm.Stop(context.Background()) })
		sup := n.Address("sup4")
		c := newClient(t, n, "app4", "sup4", "http://"+listens["sup4"])
		hdr := c.nextSession(t)
		waitFor(t, n, 10*time.Second, "the relay miner to see the session", func() bool { return rm.Chain.LatestHeight() >= hdr.SessionStartBlockHeight })
		const relays = 3
		for i := 0; i < relays; i++ {
			status, res := c.send(t, c.request(t, hdr, "app4", i))
			require.Equal(t, http.StatusOK, status, "relay %d: %v", i, res.Error)
			require.Greater(t, len(res.Payload), answer-100, "the whole answer came back")
			require.NoError(t, protocol.VerifyResponseSignature(res, c.keys["supplier"].PubKey()))
		}

		w := protocol.SessionWindows(network.E2EParams(), hdr.SessionEndBlockHeight)
		_, err := n.WaitForHeightWithTimeout(w.ProofWindowClose+1, 90*time.Second)
		require.NoError(t, err)
		o := outcomes(n.RelayerEvents(t, hdr.SessionStartBlockHeight, w.ProofWindowClose+1), sup)
		claim := o.claims[hdr.SessionId]
		require.NotNil(t, claim)
		require.EqualValues(t, relays, claim.NumRelays)
		require.True(t, o.proofs[hdr.SessionId], "the proof of 3 MB relays was accepted")
		settled := o.settled[hdr.SessionId]
		require.NotNil(t, settled)
		require.Equal(t, sdkmath.NewInt(relays*cupr), settled.Amount.Amount)
		sizes := proofTxSizes(t, n, w.ProofWindowOpen, w.ProofWindowClose, sup)
		require.NotEmpty(t, sizes, "the proof tx was found")
		for _, size := range sizes {
			require.Less(t, size, 10<<10, "proof tx of %d bytes", size)
		}
	})

	t.Run("kill -9 mid-session loses no answered relay", func(t *testing.T) {
		t.Parallel()
		path, cfg := writeConfig(t, n.RPCURL(), "sup2", listens["sup2"], backend.URL, t.TempDir())
		rm := relayminerproc.Start(t, n, bin.Path(t), path, cfg)
		sup := n.Address("sup2")
		c := newClient(t, n, "app2", "sup2", "http://"+listens["sup2"])
		hdr := c.nextSession(t)
		waitFor(t, n, 10*time.Second, "the relay miner to see the session", func() bool { return rm.Height() >= hdr.SessionStartBlockHeight })
		const answered = 10
		for i := 0; i < answered; i++ {
			c.relay(t, hdr, i)
		}
		rm.Kill9(t) // SIGKILL: no shutdown path runs
		rm.Start(t) // on the same store

		w := protocol.SessionWindows(network.E2EParams(), hdr.SessionEndBlockHeight)
		_, err := n.WaitForHeightWithTimeout(w.ProofWindowClose+1, 60*time.Second)
		require.NoError(t, err)
		o := outcomes(n.RelayerEvents(t, hdr.SessionStartBlockHeight, w.ProofWindowClose+1), sup)
		claim := o.claims[hdr.SessionId]
		require.NotNil(t, claim, "the session was claimed after the restart")
		require.EqualValues(t, answered, claim.NumRelays, "every relay answered before the kill is claimed")
		require.True(t, o.proofs[hdr.SessionId])
		require.NotNil(t, o.settled[hdr.SessionId])
	})

	t.Run("the claim lands though the websocket drops across the claim window opening", func(t *testing.T) {
		t.Parallel()
		rpc := newFlakyProxy(t, strings.TrimPrefix(n.RPCURL(), "http://"))
		_, cfg := writeConfig(t, "http://"+rpc.addr(), "sup3", listens["sup3"], backend.URL, t.TempDir())
		rm := startRelayMiner(t, n, cfg)
		t.Cleanup(func() { _ = rm.Stop(context.Background()) })
		sup := n.Address("sup3")
		c := newClient(t, n, "app3", "sup3", "http://"+listens["sup3"])
		hdr := c.nextSession(t)
		waitFor(t, n, 10*time.Second, "the relay miner to see the session", func() bool { return rm.Chain.LatestHeight() >= hdr.SessionStartBlockHeight })
		const relays = 6
		for i := 0; i < relays; i++ {
			c.relay(t, hdr, i)
		}
		// Drop the node connection mid-session and keep it down until the
		// claim window has opened.
		rpc.setDown(true)
		w := protocol.SessionWindows(network.E2EParams(), hdr.SessionEndBlockHeight)
		_, err := n.WaitForHeightWithTimeout(w.ClaimWindowOpen+1, 60*time.Second)
		require.NoError(t, err)
		require.Less(t, rm.Chain.LatestHeight(), w.ClaimWindowOpen, "the relay miner missed the window opening")
		rpc.setDown(false)

		_, err = n.WaitForHeightWithTimeout(w.ProofWindowClose+1, 60*time.Second)
		require.NoError(t, err)
		o := outcomes(n.RelayerEvents(t, hdr.SessionStartBlockHeight, w.ProofWindowClose+1), sup)
		claim := o.claims[hdr.SessionId]
		require.NotNil(t, claim, "claimed after reconnecting")
		require.EqualValues(t, relays, claim.NumRelays)
		require.True(t, o.proofs[hdr.SessionId])
		require.NotNil(t, o.settled[hdr.SessionId])
	})

	faultScenarios(t, n, listens, backend.URL, bin)
}
