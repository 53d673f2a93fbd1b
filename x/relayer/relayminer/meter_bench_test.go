package relayminer_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"cosmossdk.io/log"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/testutil/jetstreamtest"
	"github.com/pokt-network/poktroll/testutil/relaytest"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/fleet"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/meter"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/metrics"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/miner"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/proxy"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/session"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/store"
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
	db, err := store.Open(b.TempDir(), store.Options{})
	require.NoError(b, err)
	b.Cleanup(func() { _ = db.Close() })
	m := metrics.New()
	var opts session.Options
	var fl *fleet.Fleet
	if inFleet {
		js := jetstreamtest.NewServer(b, jetstreamtest.Options{})
		fl, err = fleet.Open(context.Background(), fleet.Config{URLs: js.URLs(), Replicas: 1}, db, log.NewNopLogger(), m)
		require.NoError(b, err)
		b.Cleanup(fl.Stop)
		opts.Coordinator = fl
	}
	sessions := session.NewManager(db, chain, noTx{}, log.NewNopLogger(), m, opts)
	var logged miner.Sessions = sessions
	if fl != nil {
		fl.Start(context.Background(), sessions, sup.Address)
		logged = fl
	}
	beURL, _ := url.Parse(be.URL)
	srv := proxy.New("127.0.0.1:0", []proxy.Service{{ServiceID: "eth", Supplier: sup.Address, Key: sup.Key,
		Backend: beURL, Timeout: 10 * time.Second, MaxBodyBytes: 1 << 20}}, chain, miner.New(chain, logged, m), log.NewNopLogger(), m)
	switch {
	case shared:
		srv.SetMeter(meter.NewShared(chain, log.NewNopLogger(), m, fl.Counter()))
	case metered:
		srv.SetMeter(meter.New(chain, log.NewNopLogger(), m, sessions))
	}
	require.NoError(b, srv.Start(context.Background()))
	b.Cleanup(func() { _ = srv.Stop(context.Background()) })

	// Distinct signed requests (a replay is refused), built before the
	// clock starts: enough for two paced runs of 2,000 and a calibration
	// run and a 20,000x run.
	signed := make([][]byte, 26_000)
	for i := range signed {
		body := []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"eth_blockNumber","params":[]}`, i))
		payload, _ := (&types.HTTPRequest{Method: "POST", Path: "/", Body: body}).Marshal()
		h := hdr
		req := &types.RelayRequest{Meta: types.RelayRequestMetadata{SessionHeader: &h, SupplierOperatorAddress: sup.Address}, Payload: payload}
		relaytest.SignRequest(b, req, app.Key)
		signed[i], _ = req.Marshal()
	}
	var next atomic.Int64
	return "http://" + srv.Addr(), func() []byte { return signed[int(next.Add(1)-1)%len(signed)] }
}
