package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sdkmath "cosmossdk.io/math"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/gogoproto/proto"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/jetstreamtest"
	"github.com/pokt-network/poktroll/testutil/metricstest"
	"github.com/pokt-network/poktroll/testutil/network"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/config"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// The relay meter's network: a relay of 3 compute units is worth
// 3 × 50,000 = 150,000 upokt, so an application staking 1,200,000 pays for
// exactly 8 relays a session.
const (
	meterMultiplier = 50_000
	relayTokens     = cupr * meterMultiplier
	meterAppStake   = 1_200_000
)

// meterSupplier is one supplier key of a metered RelayMiner: the service
// it serves and its listen address.
type meterSupplier struct {
	name, service, listen string
}

// stakeFor stakes app for service with amount, and each supplier for its
// service at its listen address, and waits until all take part in
// sessions.
func stakeFor(t *testing.T, n *network.Network, app, service string, amount int64, sups ...meterSupplier) {
	res := n.MustSendTx(t, app, &types.MsgStakeApplication{Address: n.Address(app), Stake: sdk.NewInt64Coin(types.DefaultDenom, amount), ServiceIds: []string{service}})
	var appRes types.MsgStakeApplicationResponse
	n.MsgResponse(t, res, 0, &appRes)
	active := appRes.ActivationHeight
	for _, s := range sups {
		res := n.MustSendTx(t, s.name, &types.MsgStakeSupplier{OperatorAddress: n.Address(s.name), Stake: sdk.NewInt64Coin(types.DefaultDenom, 2_000_000),
			Services: []types.SupplierService{{ServiceId: s.service, EndpointUrl: "http://" + s.listen, RpcType: types.RPCType_RPC_TYPE_JSON_RPC}}})
		var supRes types.MsgStakeSupplierResponse
		n.MsgResponse(t, res, 0, &supRes)
		active = max(active, supRes.ActivationHeight)
	}
	_, err := n.WaitForHeight(active)
	require.NoError(t, err)
}

// meterConfig writes and loads the config of a RelayMiner serving sups;
// its health (and status) address is returned in cfg.Health.Listen.
func meterConfig(t *testing.T, rpcURL, backend string, sups ...meterSupplier) (string, *config.Config) {
	var b strings.Builder
	fmt.Fprintf(&b, "chain:\n  rpc_url: %s\nstore:\n  path: %s\nhealth:\n  listen: %s\nsuppliers:\n", rpcURL, t.TempDir(), network.FreeAddr(t))
	for _, s := range sups {
		fmt.Fprintf(&b, "  - key_name: %s\n    services:\n      - service_id: %s\n        listen: %s\n        backend_url: %s\n        request_timeout: 5s\n",
			s.name, s.service, s.listen, backend)
	}
	path := filepath.Join(t.TempDir(), "relayminer.yaml")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	cfg, err := config.Load(path)
	require.NoError(t, err)
	return path, cfg
}

// sessionOf is app's current session of service.
func sessionOf(t *testing.T, n *network.Network, app, service string) types.Session {
	res, err := n.RelayerQuery().GetSession(context.Background(), &types.QueryGetSessionRequest{ApplicationAddress: n.Address(app), ServiceId: service})
	require.NoError(t, err)
	return res.Session
}

// nextSessionOf waits for app's next session of service to start.
func nextSessionOf(t *testing.T, n *network.Network, app, service string) types.Session {
	cur := sessionOf(t, n, app, service)
	var s types.Session
	waitFor(t, n, 30*time.Second, "the next session", func() bool {
		s = sessionOf(t, n, app, service)
		return s.Header.SessionStartBlockHeight > cur.Header.SessionStartBlockHeight
	})
	return s
}

// relayUntilRefused sends count relays of hdr to c's supplier and returns
// how many were served before the first refusal; every refusal after it
// must be the meter's: HTTP 429, ErrRelayOverServiced.
func relayUntilRefused(t *testing.T, c *client, hdr types.SessionHeader, count, base int) (served int) {
	refused := 0
	for i := 0; i < count; i++ {
		status, res := c.send(t, c.request(t, hdr, c.app, base+i))
		if status == http.StatusOK {
			require.Zero(t, refused, "relay %d served after a refusal", i)
			require.Nil(t, res.Error)
			require.NoError(t, protocol.VerifyResponseSignature(res, c.keys["supplier"].PubKey()))
			served++
			continue
		}
		require.Equal(t, http.StatusTooManyRequests, status, "relay %d: %v", i, res.Error)
		require.NotNil(t, res.Error)
		require.ErrorIs(t, res.Error.Err(), types.ErrRelayOverServiced, res.Error.Message)
		refused++
	}
	return served
}

// TestRelayMeter runs metered RelayMiners against a real in-process chain
// whose relays are expensive (see meterMultiplier): no supplier serves a
// relay the application's stake cannot pay for, and every relay served is
// paid in full.
func TestRelayMeter(t *testing.T) {
	if testing.Short() {
		t.Skip("in-process network")
	}
	p := network.E2EParams()
	p.ComputeUnitsToTokensMultiplier = meterMultiplier
	n := network.New(t,
		network.WithParams(p),
		network.WithServices(
			types.Service{Id: "eth", Name: "Ethereum", ComputeUnitsPerRelay: cupr},
			types.Service{Id: "sol", Name: "Solana", ComputeUnitsPerRelay: cupr},
			types.Service{Id: "btc", Name: "Bitcoin", ComputeUnitsPerRelay: cupr},
			types.Service{Id: "dot", Name: "Polkadot", ComputeUnitsPerRelay: cupr},
			types.Service{Id: "ltc", Name: "Litecoin", ComputeUnitsPerRelay: cupr}),
		network.WithFundedAccounts("app1", "supA", "supB", "app2", "sup2", "app3", "sup3", "app4", "sup4", "app5", "sup5"),
	)
	backend := jsonRPCBackend(t)
	// Two suppliers of eth for app1, one of sol for app2: each session has
	// exactly its scenario's suppliers.
	supA := meterSupplier{"supA", "eth", network.FreeAddr(t)}
	supB := meterSupplier{"supB", "eth", network.FreeAddr(t)}
	sup2 := meterSupplier{"sup2", "sol", network.FreeAddr(t)}
	require.True(t, t.Run("stake", func(t *testing.T) {
		t.Run("app1", func(t *testing.T) { t.Parallel(); stakeFor(t, n, "app1", "eth", meterAppStake, supA, supB) })
		t.Run("app2", func(t *testing.T) { t.Parallel(); stakeFor(t, n, "app2", "sol", meterAppStake, sup2) })
	}), "staking the scenarios' actors")

	t.Run("a stake paying 8 relays: each of two suppliers serves its 4, refuses the rest, and is paid in full", func(t *testing.T) {
		t.Parallel()
		_, cfg := meterConfig(t, n.RPCURL(), backend.URL, supA, supB)
		rm := startRelayMiner(t, n, cfg)
		t.Cleanup(func() { _ = rm.Stop(context.Background()) })
		clients := []*client{
			newClient(t, n, "app1", "supA", "http://"+supA.listen),
			newClient(t, n, "app1", "supB", "http://"+supB.listen),
		}
		before := map[string]sdkmath.Int{}
		for _, c := range clients {
			before[c.supplier] = balance(t, n, c.supplier)
		}
		sess := nextSessionOf(t, n, "app1", "eth")
		require.Len(t, sess.Suppliers, 2)
		hdr := sess.Header
		waitFor(t, n, 10*time.Second, "the relay miner to see the session", func() bool { return rm.Chain.LatestHeight() >= hdr.SessionStartBlockHeight })
		for i, c := range clients {
			require.Equal(t, 4, relayUntilRefused(t, c, hdr, 6, i*100), "supplier %s: its share is 1,200,000 / 2 = 4 relays", c.supplier)
		}
		requireMeterRefusals(t, rm, "eth", 4)

		w := protocol.SessionWindows(p, hdr.SessionEndBlockHeight)
		_, err := n.WaitForHeightWithTimeout(w.ProofWindowClose+1, 90*time.Second)
		require.NoError(t, err)
		evs := n.RelayerEvents(t, hdr.SessionStartBlockHeight, w.ProofWindowClose+1)
		for _, c := range clients {
			o := outcomes(evs, c.supplier)
			claim := o.claims[hdr.SessionId]
			require.NotNil(t, claim, "%s claimed", c.supplier)
			require.EqualValues(t, 4, claim.NumRelays, "only the relays served are claimed")
			require.True(t, o.proofs[hdr.SessionId])
			settled := o.settled[hdr.SessionId]
			require.NotNil(t, settled)
			require.Equal(t, sdkmath.NewInt(4*relayTokens), settled.Amount.Amount, "paid in full")
			require.False(t, settled.Capped, "nothing served went unpaid")
			require.Equal(t, before[c.supplier].AddRaw(4*relayTokens), balance(t, n, c.supplier))
		}
		requireNoOverservice(t, evs)
		app, err := n.RelayerQuery().Application(context.Background(), &types.QueryApplicationRequest{Address: n.Address("app1")})
		require.NoError(t, err)
		require.True(t, app.Application.Stake.IsZero(), "the stake paid exactly the relays served: %s", app.Application.Stake)
	})

	t.Run("back to back sessions: the first's unsettled claim lowers the second's budget", func(t *testing.T) {
		t.Parallel()
		_, cfg := meterConfig(t, n.RPCURL(), backend.URL, sup2)
		rm := startRelayMiner(t, n, cfg)
		t.Cleanup(func() { _ = rm.Stop(context.Background()) })
		c := newClient(t, n, "app2", "sup2", "http://"+sup2.listen)
		before := balance(t, n, c.supplier)

		first := nextSessionOf(t, n, "app2", "sol").Header
		waitFor(t, n, 10*time.Second, "the relay miner to see the session", func() bool { return rm.Chain.LatestHeight() >= first.SessionStartBlockHeight })
		require.Equal(t, 5, relayUntilRefused(t, c, first, 5, 0), "5 of the 8 relays the stake pays")

		second := nextSessionOf(t, n, "app2", "sol")
		require.Equal(t, sdk.NewInt64Coin(types.DefaultDenom, meterAppStake), second.Application.Stake,
			"the second session starts with the whole stake: the first is not settled")
		// Wait for the first session's claim to be on chain (and seen by
		// the RelayMiner) while the second is still served.
		w1 := protocol.SessionWindows(p, first.SessionEndBlockHeight)
		w2 := protocol.SessionWindows(p, second.Header.SessionEndBlockHeight)
		waitFor(t, n, 30*time.Second, "the first session's claim", func() bool {
			res, err := n.RelayerQuery().Claims(context.Background(), &types.QueryClaimsRequest{SessionId: first.SessionId})
			require.NoError(t, err)
			return len(res.Claims) == 1
		})
		h, err := n.LatestHeight()
		require.NoError(t, err)
		waitFor(t, n, 10*time.Second, "the relay miner to see the claim", func() bool { return rm.Chain.LatestHeight() > h })
		require.Less(t, rm.Chain.LatestHeight(), w2.GracePeriodEnd, "the second session is still served")
		require.Less(t, rm.Chain.LatestHeight(), w1.ProofWindowClose, "the first session is not settled")
		require.Equal(t, 3, relayUntilRefused(t, c, second.Header, 5, 100), "(1,200,000 - 750,000 claimed) / 150,000 = 3 relays")

		_, err = n.WaitForHeightWithTimeout(w2.ProofWindowClose+1, 90*time.Second)
		require.NoError(t, err)
		evs := n.RelayerEvents(t, first.SessionStartBlockHeight, w2.ProofWindowClose+1)
		o := outcomes(evs, c.supplier)
		for _, tc := range []struct {
			hdr    types.SessionHeader
			relays int64
		}{{first, 5}, {second.Header, 3}} {
			claim := o.claims[tc.hdr.SessionId]
			require.NotNil(t, claim)
			require.EqualValues(t, tc.relays, claim.NumRelays)
			settled := o.settled[tc.hdr.SessionId]
			require.NotNil(t, settled)
			require.Equal(t, sdkmath.NewInt(tc.relays*relayTokens), settled.Amount.Amount, "session %d paid in full", tc.hdr.SessionStartBlockHeight)
			require.False(t, settled.Capped)
		}
		requireNoOverservice(t, evs)
		require.Equal(t, before.AddRaw(8*relayTokens), balance(t, n, c.supplier))
	})

	t.Run("a RelayMiner restarted mid-session counts the relays it served before", func(t *testing.T) {
		t.Parallel()
		sup4 := meterSupplier{"sup4", "dot", network.FreeAddr(t)}
		stakeFor(t, n, "app4", "dot", meterAppStake, sup4)
		_, cfg := meterConfig(t, n.RPCURL(), backend.URL, sup4)
		rm := startRelayMiner(t, n, cfg)
		c := newClient(t, n, "app4", "sup4", "http://"+sup4.listen)
		hdr := nextSessionOf(t, n, "app4", "dot").Header
		waitFor(t, n, 10*time.Second, "the relay miner to see the session", func() bool { return rm.Chain.LatestHeight() >= hdr.SessionStartBlockHeight })
		require.Equal(t, 3, relayUntilRefused(t, c, hdr, 3, 0))
		require.NoError(t, rm.Stop(context.Background()))
		rm = startRelayMiner(t, n, cfg) // the same store
		t.Cleanup(func() { _ = rm.Stop(context.Background()) })
		require.Equal(t, 5, relayUntilRefused(t, c, hdr, 8, 100), "3 of the 8 relays the stake pays were served before the restart")

		w := protocol.SessionWindows(p, hdr.SessionEndBlockHeight)
		_, err := n.WaitForHeightWithTimeout(w.ProofWindowClose+1, 90*time.Second)
		require.NoError(t, err)
		evs := n.RelayerEvents(t, hdr.SessionStartBlockHeight, w.ProofWindowClose+1)
		o := outcomes(evs, c.supplier)
		require.NotNil(t, o.claims[hdr.SessionId])
		require.EqualValues(t, 8, o.claims[hdr.SessionId].NumRelays)
		settled := o.settled[hdr.SessionId]
		require.NotNil(t, settled)
		require.Equal(t, sdkmath.NewInt(8*relayTokens), settled.Amount.Amount)
		require.False(t, settled.Capped)
	})

	t.Run("a fleet of three replicas serves what the stake pays once, not three times", func(t *testing.T) {
		t.Parallel()
		js := jetstreamtest.NewCluster(t, 3, jetstreamtest.Options{})
		sup5 := meterSupplier{"sup5", "ltc", network.FreeAddr(t)} // the load balancer
		stakeFor(t, n, "app5", "ltc", meterAppStake, sup5)
		var replicas []*relayminer.RelayMiner
		var addrs []string
		for range 3 {
			listen := network.FreeAddr(t)
			_, cfg := meterConfig(t, n.RPCURL(), backend.URL, meterSupplier{sup5.name, sup5.service, listen})
			cfg.Store.Backend = config.BackendJetStream
			cfg.Store.JetStream.URLs = js.URLs()
			cfg.Store.JetStream.LeaseTTL = time.Second
			rm := startRelayMiner(t, n, cfg)
			t.Cleanup(func() { _ = rm.Stop(context.Background()) })
			replicas = append(replicas, rm)
			addrs = append(addrs, listen)
		}
		newRoundRobin(t, sup5.listen, addrs)
		c := newClient(t, n, "app5", "sup5", "http://"+sup5.listen)
		before := balance(t, n, c.supplier)
		hdr := nextSessionOf(t, n, "app5", "ltc").Header
		waitFor(t, n, 10*time.Second, "the replicas to see the session", func() bool {
			for _, rm := range replicas {
				if rm.Chain.LatestHeight() < hdr.SessionStartBlockHeight {
					return false
				}
			}
			return true
		})
		// Round robin: four relays to each replica; the first eight are
		// served by all three together, the rest refused by whichever.
		require.Equal(t, 8, relayUntilRefused(t, c, hdr, 12, 0), "the stake pays 8 relays, whichever replica serves them")
		var served uint64
		for _, rm := range replicas {
			u, ok := rm.Meter.Usage(c.supplier, hdr.SessionId)
			require.True(t, ok, "each replica metered the session")
			require.LessOrEqual(t, u.Relays, uint64(8))
			served = max(served, u.Relays)
		}
		require.EqualValues(t, 8, served, "the fleet's count, as the last replica to count saw it")

		w := protocol.SessionWindows(p, hdr.SessionEndBlockHeight)
		_, err := n.WaitForHeightWithTimeout(w.ProofWindowClose+1, 90*time.Second)
		require.NoError(t, err)
		evs := n.RelayerEvents(t, hdr.SessionStartBlockHeight, w.ProofWindowClose+1)
		o := outcomes(evs, c.supplier)
		claim := o.claims[hdr.SessionId]
		require.NotNil(t, claim, "the session is claimed")
		require.EqualValues(t, 8, claim.NumRelays, "one claim of every relay served")
		require.True(t, o.proofs[hdr.SessionId])
		settled := o.settled[hdr.SessionId]
		require.NotNil(t, settled)
		require.Equal(t, sdkmath.NewInt(8*relayTokens), settled.Amount.Amount, "paid in full")
		require.False(t, settled.Capped, "nothing served went unpaid")
		require.Equal(t, before.AddRaw(8*relayTokens), balance(t, n, c.supplier))
		requireNoOverservice(t, evs)
	})

	statusScenario(t, n, p, backend.URL)
}

// requireMeterRefusals checks the meter's refusals on the RelayMiner's
// metrics.
func requireMeterRefusals(t *testing.T, rm *relayminer.RelayMiner, service string, want int) {
	t.Helper()
	page := metricstest.RenderMetrics(t, rm.Metrics.Registry)
	require.Contains(t, page, fmt.Sprintf(`relayminer_meter_refusals_total{reason="share_used",service=%q} %d`, service, want))
	require.Contains(t, page, fmt.Sprintf(`relayminer_relays_failed_total{reason="over_serviced",service=%q} %d`, service, want))
}

func requireNoOverservice(t *testing.T, evs []proto.Message) {
	t.Helper()
	for _, e := range evs {
		_, over := e.(*types.EventApplicationOverserviced)
		require.False(t, over, "no application was over-serviced on chain")
	}
}
