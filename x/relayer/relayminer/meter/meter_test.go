package meter_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"testing"

	errorsmod "cosmossdk.io/errors"
	"cosmossdk.io/log"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/metricstest"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/meter"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/metrics"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

const (
	app  = "pokt1app"
	supA = "pokt1supa"
	supB = "pokt1supb"
	cupr = 3 // compute units per relay
)

// fakeChain: the default params (4-block sessions; session 1-4 settles at
// height 20) at multiplier 10, services "eth" and "sol" of 3 compute units
// per relay, each with suppliers supA and supB, and the application's
// stake now and at a session's start (stakeAt, else stakeNow).
type fakeChain struct {
	mu       sync.Mutex
	height   int64
	params   types.Params
	stakeNow int64
	services []string            // the application's services
	stakeAt  map[int64]int64     // the application's stake at a session's start
	sups     map[string][]string // suppliers by service
	claims   map[string][]types.Claim
	failing  error
}

func newFakeChain(stake int64) *fakeChain {
	p := types.DefaultParams()
	p.ComputeUnitsToTokensMultiplier = 10
	return &fakeChain{height: 2, params: p, stakeNow: stake, services: []string{"eth"}, stakeAt: map[int64]int64{},
		sups: map[string][]string{"eth": {supA, supB}, "sol": {supA, supB}}, claims: map[string][]types.Claim{}}
}

func (c *fakeChain) LatestHeight() int64 { c.mu.Lock(); defer c.mu.Unlock(); return c.height }

func (c *fakeChain) ParamsAt(context.Context, int64) (types.Params, error) { return c.params, nil }

func (c *fakeChain) ServiceAt(_ context.Context, id string, _ int64) (types.Service, error) {
	return types.Service{Id: id, ComputeUnitsPerRelay: cupr}, nil
}

func sessionID(service string, start int64) string { return fmt.Sprintf("%s-%d", service, start) }

func header(service string, start int64) types.SessionHeader {
	return types.SessionHeader{ApplicationAddress: app, ServiceId: service, SessionId: sessionID(service, start),
		SessionStartBlockHeight: start, SessionEndBlockHeight: start + 3}
}

func (c *fakeChain) Session(_ context.Context, a, service string, start int64) (types.Session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failing != nil {
		return types.Session{}, c.failing
	}
	stake, ok := c.stakeAt[start]
	if !ok {
		stake = c.stakeNow
	}
	s := types.Session{Header: header(service, start), Application: types.Application{Address: a, Stake: sdk.NewInt64Coin("upokt", stake)}}
	for _, addr := range c.sups[service] {
		s.Suppliers = append(s.Suppliers, types.Supplier{OperatorAddress: addr})
	}
	return s, nil
}

func (c *fakeChain) Application(_ context.Context, addr string) (types.Application, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failing != nil {
		return types.Application{}, c.failing
	}
	if c.stakeNow == 0 {
		return types.Application{}, errorsmod.Wrap(types.ErrApplicationNotFound, addr)
	}
	return types.Application{Address: addr, Stake: sdk.NewInt64Coin("upokt", c.stakeNow), ServiceIds: c.services}, nil
}

func (c *fakeChain) SessionClaims(_ context.Context, id string) ([]types.Claim, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.claims[id], nil
}

// claim puts supplier's claim of relays relays of session (service,
// start) on chain.
func (c *fakeChain) claim(service string, start int64, supplier string, relays uint64) {
	root := make([]byte, 32, 48)
	root = binary.BigEndian.AppendUint64(root, relays*cupr)
	root = binary.BigEndian.AppendUint64(root, relays)
	c.mu.Lock()
	defer c.mu.Unlock()
	id := sessionID(service, start)
	c.claims[id] = append(c.claims[id], types.Claim{SupplierOperatorAddress: supplier, SessionHeader: header(service, start), RootHash: root})
}

func (c *fakeChain) setHeight(h int64) { c.mu.Lock(); c.height = h; c.mu.Unlock() }

// serve reserves n relays of (service, start) for supplier and returns
// how many were admitted before the first refusal, which must be
// ErrRelayOverServiced.
func serve(t *testing.T, m *meter.Meter, service string, start int64, supplier string, n int) int {
	t.Helper()
	for i := range n {
		_, err := m.Reserve(context.Background(), header(service, start), supplier)
		if err != nil {
			require.True(t, errors.Is(err, types.ErrRelayOverServiced), "%v", err)
			return i
		}
	}
	return n
}

func TestMeterBudget(t *testing.T) {
	// stake 6,000 at multiplier 10 and 3 compute units per relay: 200
	// relays in all, 100 for each of two suppliers.
	for _, tc := range []struct {
		name  string
		setup func(c *fakeChain, m *meter.Meter)
		start int64
		wantA int
	}{
		{name: "the share: half the stake each", start: 5, wantA: 100},
		{name: "stake raised since the session started: still the share", start: 5, wantA: 100,
			setup: func(c *fakeChain, _ *meter.Meter) { c.stakeAt[5] = 6_000; c.stakeNow = 60_000 }},
		{name: "an earlier session's unsettled claims take 40 relays of each supplier", start: 5, wantA: 60,
			setup: func(c *fakeChain, _ *meter.Meter) {
				c.claim("eth", 1, supA, 40)
				c.claim("eth", 1, supB, 40)
			}},
		{name: "an earlier claim is counted at most at its share", start: 5, wantA: 0,
			setup: func(c *fakeChain, _ *meter.Meter) {
				c.claim("eth", 1, supA, 500)
				c.claim("eth", 1, supB, 500)
			}},
		{name: "a settled session no longer counts", start: 25, wantA: 100,
			setup: func(c *fakeChain, _ *meter.Meter) {
				c.claim("eth", 1, supA, 100) // session 1-4 settled long before 25
			}},
		{name: "the supplier's own unclaimed work of the earlier session counts", start: 5, wantA: 70,
			setup: func(c *fakeChain, m *meter.Meter) {
				c.setHeight(3)
				require.Equal(t, 60, serve(t, m, "eth", 1, supA, 60))
				c.setHeight(6)
			}},
		{name: "the session of another service settling with this one halves what each may take", start: 5, wantA: 50,
			setup: func(c *fakeChain, _ *meter.Meter) { c.services = []string{"eth", "sol"} }},
		{name: "application unstaked: nothing", start: 5, wantA: 0,
			setup: func(c *fakeChain, _ *meter.Meter) { c.stakeAt[5] = 6_000; c.stakeNow = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeChain(6_000)
			m := meter.New(c, log.NewNopLogger(), metrics.New(), nil)
			c.setHeight(tc.start + 1)
			if tc.setup != nil {
				tc.setup(c, m)
			}
			require.Equal(t, tc.wantA, serve(t, m, "eth", tc.start, supA, 1000))
		})
	}
}

// TestMeterCountsBeforeServingAndReleasesUnservedRelays: each supplier
// gets its own budget; a released relay (not served) gives its compute
// units back; refusals are counted by reason and the share used per
// application is a gauge.
func TestMeterCountsBeforeServingAndReleasesUnservedRelays(t *testing.T) {
	c := newFakeChain(6_000)
	mm := metrics.New()
	mm.AddServices("eth")
	m := meter.New(c, log.NewNopLogger(), mm, nil)
	c.setHeight(6)
	require.Equal(t, 99, serve(t, m, "eth", 5, supA, 99))
	release, err := m.Reserve(context.Background(), header("eth", 5), supA)
	require.NoError(t, err)
	release()
	release() // twice is once
	require.Equal(t, 1, serve(t, m, "eth", 5, supA, 5), "the released relay's units are back, and only them")
	require.Equal(t, 100, serve(t, m, "eth", 5, supB, 1000), "the other supplier has its own share")

	u, ok := m.Usage(supA, sessionID("eth", 5))
	require.True(t, ok)
	require.EqualValues(t, 100, u.Relays)
	require.EqualValues(t, 300, u.ComputeUnits)
	require.EqualValues(t, 300, u.BudgetComputeUnits)
	require.Equal(t, "3000", u.ExpectedTokens)
	require.Equal(t, "3000", u.Share)
	require.EqualValues(t, 1, u.Refused)

	page := metricstest.RenderMetrics(t, mm.Registry)
	require.Contains(t, page, `relayminer_meter_refusals_total{reason="share_used",service="eth"} 2`)
	require.Contains(t, page, `relayminer_meter_share_used_ratio{application="pokt1app",service="eth"} 1`)

	// The budget follows the chain block by block: an earlier claim landing
	// lowers it, and the reason says why.
	c.setHeight(7)
	c.stakeAt[9] = 6_000
	c.setHeight(10)
	c.claim("eth", 5, supA, 100)
	c.claim("eth", 5, supB, 50)
	require.Equal(t, 25, serve(t, m, "eth", 9, supA, 1000), "(6,000 - 4,500 pending) / 2 suppliers = 750 tokens = 25 relays")
	page = metricstest.RenderMetrics(t, mm.Registry)
	require.Contains(t, page, `relayminer_meter_refusals_total{reason="earlier_sessions",service="eth"} 1`)
}

func TestMeterChainUnavailableBeforeTheFirstBudget(t *testing.T) {
	c := newFakeChain(6_000)
	m := meter.New(c, log.NewNopLogger(), metrics.New(), nil)
	c.setHeight(6)
	c.failing = errors.New("node down")
	_, err := m.Reserve(context.Background(), header("eth", 5), supA)
	require.ErrorIs(t, err, types.ErrRelayChainUnavailable)
}

// TestMeterApplicationLabelsAreBounded: past MaxApplicationLabels
// applications at once, the others share one label.
func TestMeterApplicationLabelsAreBounded(t *testing.T) {
	c := newFakeChain(6_000)
	mm := metrics.New()
	mm.AddServices("eth")
	m := meter.New(c, log.NewNopLogger(), mm, nil)
	c.setHeight(6)
	for i := range metrics.MaxApplicationLabels + 10 {
		hdr := header("eth", 5)
		hdr.ApplicationAddress = fmt.Sprintf("pokt1app%03d", i)
		hdr.SessionId += hdr.ApplicationAddress
		_, err := m.Reserve(context.Background(), hdr, supA)
		require.NoError(t, err)
	}
	page := metricstest.RenderMetrics(t, mm.Registry)
	labels := map[string]bool{}
	for _, l := range regexp.MustCompile(`relayminer_meter_share_used_ratio\{application="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		labels[l[1]] = true
	}
	require.Len(t, labels, metrics.MaxApplicationLabels+1)
	require.True(t, labels[metrics.OtherApplications])
}

type loggedRelays map[string]uint64

func (l loggedRelays) LoggedRelays(hdr types.SessionHeader, supplier string) (uint64, error) {
	return l[supplier+"/"+hdr.SessionId], nil
}

// TestMeterCountsTheRelaysLoggedBeforeARestart: a RelayMiner restarted
// mid-session starts the session's count from its relay log.
func TestMeterCountsTheRelaysLoggedBeforeARestart(t *testing.T) {
	c := newFakeChain(6_000)
	m := meter.New(c, log.NewNopLogger(), metrics.New(), loggedRelays{supA + "/" + sessionID("eth", 5): 60})
	c.setHeight(6)
	require.Equal(t, 40, serve(t, m, "eth", 5, supA, 1000), "60 of its 100 relays were served before the restart")
	require.Equal(t, 100, serve(t, m, "eth", 5, supB, 1000))
	u, ok := m.Usage(supA, sessionID("eth", 5))
	require.True(t, ok)
	require.EqualValues(t, 100, u.Relays)
}

// BenchmarkReserve is the meter's cost per relay once the session's budget
// is known (one block: no refresh), from concurrent relays.
func BenchmarkReserve(b *testing.B) {
	c := newFakeChain(1 << 60)
	c.params.ComputeUnitsToTokensMultiplier = 1
	mm := metrics.New()
	mm.AddServices("eth")
	m := meter.New(c, log.NewNopLogger(), mm, nil)
	c.setHeight(6)
	hdr := header("eth", 5)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			release, err := m.Reserve(context.Background(), hdr, supA)
			if err != nil {
				b.Fatal(err)
			}
			_ = release
		}
	})
}
