package relayminer_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"cosmossdk.io/log"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/pokt-network/poktroll/testutil/relaytest"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/fleet"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/meter"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/metrics"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/proxy"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/session"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// meterChain is benchChain with an application whose stake never runs out
// (the meter counts every relay and refuses none).
type meterChain struct{ benchChain }

func (c meterChain) Session(context.Context, string, string, int64) (types.Session, error) {
	s := c.session
	s.Application.Stake = sdk.NewInt64Coin(types.DefaultDenom, 1<<62)
	return s, nil
}
func (c meterChain) Application(_ context.Context, addr string) (types.Application, error) {
	return types.Application{Address: addr, Stake: sdk.NewInt64Coin(types.DefaultDenom, 1<<62), ServiceIds: []string{"eth"}}, nil
}
func (meterChain) SessionClaims(context.Context, string) ([]types.Claim, error) { return nil, nil }

// BenchmarkRelayMetered is the whole relay path of BenchmarkRelay with the
// relay meter on, paced at 1,000 relays/s and then at full speed (16
// concurrent): a RelayMiner alone on leveldb (meter in memory), and one
// replica of a fleet on an embedded single-node JetStream server (relay
// appended to the shared log, compute units counted in the shared meter
// bucket), without and with the shared meter.
//
//	go test -tags libsecp256k1_sdk -run '^$' -bench RelayMetered -benchtime 20000x ./x/relayer/relayminer/
func BenchmarkRelayMetered(b *testing.B) {
	for _, mode := range []struct {
		name          string
		fleet, shared bool
		metered       bool
	}{
		{name: "leveldb+meter", metered: true},
		{name: "jetstream", fleet: true},
		{name: "jetstream+shared_meter", fleet: true, metered: true, shared: true},
	} {
		rmURL, reqs := setupMetered(b, mode.fleet, mode.metered, mode.shared)
		b.Run(mode.name+"/1000rps", func(b *testing.B) { load(b, rmURL, func(int) []byte { return reqs() }, time.Millisecond) })
		b.Run(mode.name+"/full", func(b *testing.B) { load(b, rmURL, func(int) []byte { return reqs() }, 0) })
	}
}

// setupMetered starts a backend and a RelayMiner (alone, or one replica of
// a fleet) in front of it, its relay meter in memory or shared, or none.
func setupMetered(b *testing.B, inFleet, metered, shared bool) (rmURL string, reqs func() []byte) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(backendBody)
	}))
	b.Cleanup(be.Close)
	app, sup := relaytest.NewActor(), relaytest.NewActor()
	hdr := types.SessionHeader{ApplicationAddress: app.Address, ServiceId: "eth",
		SessionId: protocol.SessionID(nil, "eth", app.Address, 1), SessionStartBlockHeight: 1, SessionEndBlockHeight: 4}
	chain := meterChain{benchChain{session: types.Session{Header: hdr, Suppliers: []types.Supplier{{OperatorAddress: sup.Address}}}, pub: app.Key.PubKey()}}
	o := benchRelayMiner{fleet: inFleet}
	switch {
	case shared:
		o.meter = func(fl *fleet.Fleet, _ *session.Manager, m *metrics.Metrics) proxy.Meter {
			return meter.NewShared(chain, log.NewNopLogger(), m, fl.Counter())
		}
	case metered:
		o.meter = func(_ *fleet.Fleet, sessions *session.Manager, m *metrics.Metrics) proxy.Meter {
			return meter.New(chain, log.NewNopLogger(), m, sessions)
		}
	}
	// Enough distinct requests for two paced runs of 2,000, a calibration
	// run and a 20,000x run.
	return startRelayMiner(b, be, chain, app, sup, hdr, o, 26_000)
}
