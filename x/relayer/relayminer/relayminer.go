package relayminer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"cosmossdk.io/log"
	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/codec"
	"github.com/cosmos/cosmos-sdk/crypto/keyring"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/syndtr/goleveldb/leveldb/storage"

	"github.com/pokt-network/poktroll/x/relayer/client/chain"
	"github.com/pokt-network/poktroll/x/relayer/client/daemon"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/config"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/fleet"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/meter"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/metrics"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/miner"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/proxy"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/session"
)

// Deps are what the RelayMiner takes from the daemon.
type Deps struct {
	Keyring  keyring.Keyring
	Codec    codec.Codec
	TxConfig client.TxConfig
	Logger   log.Logger
	// PollInterval is how often the block follower polls the node when the
	// websocket is quiet (default 2s).
	PollInterval time.Duration
	// WrapStorage, when set, wraps the store's on-disk storage
	// (store.Options.WrapStorage). A test hook for disk faults
	// (testutil/diskfault); nil in production.
	WrapStorage func(storage.Storage) storage.Storage
}

// RelayMiner is a running relay miner.
type RelayMiner struct {
	cfg     *config.Config
	deps    Deps
	logger  log.Logger
	Metrics *metrics.Metrics

	Chain    *chain.Client
	Sessions *session.Manager
	Fleet    *fleet.Fleet // this replica's part in a fleet (store.backend: jetstream); nil alone
	servers  []*proxy.Server
	stack    daemon.Stack // what Start started, stopped in reverse order

	// Meter meters each relay against what its application can pay.
	Meter    *meter.Meter
	activity activity // for the status report
}

// New prepares a RelayMiner; Start runs it.
func New(cfg *config.Config, deps Deps) *RelayMiner {
	if deps.PollInterval <= 0 {
		deps.PollInterval = 2 * time.Second
	}
	return &RelayMiner{cfg: cfg, deps: deps, logger: deps.Logger.With("module", "relayminer"), Metrics: metrics.New()}
}

// Start checks everything it can before serving: keys, chain, stakes, store.
// Any failure stops it with an error naming the config field at fault, and
// everything started so far (listeners included) is stopped again.
func (rm *RelayMiner) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			_ = rm.stack.Stop(context.Background())
		}
	}()
	keys := make([]daemon.Key, len(rm.cfg.Suppliers))
	for i, s := range rm.cfg.Suppliers {
		if keys[i], err = daemon.LoadKey(rm.deps.Keyring, rm.deps.Codec, fmt.Sprintf("suppliers[%d].key_name", i), s.KeyName); err != nil {
			return err
		}
	}
	conn, err := daemon.QueryConn(&rm.stack, rm.deps.Codec, rm.cfg.Chain.RPCURL, rm.cfg.Chain.GRPCURL)
	if err != nil {
		return err
	}
	if rm.Chain, err = chain.NewClient(rm.cfg.Chain.RPCURL, conn, rm.deps.Codec, rm.deps.Logger, chain.WithSubscriber("relayminer")); err != nil {
		return fmt.Errorf("chain.rpc_url: %w", err)
	}
	if _, err := rm.Chain.Sync(ctx); err != nil {
		return fmt.Errorf("chain.rpc_url %q: %w", rm.cfg.Chain.RPCURL, err)
	}
	chainID := rm.cfg.Chain.ChainID
	if chainID == "" {
		st, err := rm.Chain.RPC().Status(ctx)
		if err != nil {
			return fmt.Errorf("chain.rpc_url %q: %w", rm.cfg.Chain.RPCURL, err)
		}
		chainID = st.NodeInfo.Network
	}
	if err := rm.checkStakes(ctx, keys); err != nil {
		return err
	}
	gasPrices, err := sdk.ParseDecCoins(rm.cfg.Chain.GasPrices)
	if err != nil {
		return fmt.Errorf("chain.gas_prices %q: %w", rm.cfg.Chain.GasPrices, err)
	}
	tx := chain.NewSubmitter(rm.Chain, rm.deps.TxConfig, rm.deps.Keyring, chain.TxConfig{
		ChainID: chainID, GasPrices: gasPrices, GasAdjustment: rm.cfg.Chain.GasAdjustment,
		Landed: func(d time.Duration) { rm.Metrics.TxLatency.Observe(d.Seconds()) },
		Done:   rm.recordTx,
	}, rm.deps.Logger)
	for _, k := range keys {
		if _, err := tx.AddSigner(k.Name); err != nil {
			return err
		}
	}
	suppliers := make([]string, len(keys))
	for i, k := range keys {
		suppliers[i] = k.Address
	}
	sessions, err := rm.openSessions(ctx, tx, suppliers)
	if err != nil {
		return err
	}
	if rm.Fleet != nil {
		// The replicas of a fleet count against one budget.
		rm.Meter = meter.NewShared(rm.Chain, rm.deps.Logger, rm.Metrics, rm.Fleet.Counter())
	} else {
		rm.Meter = meter.New(rm.Chain, rm.deps.Logger, rm.Metrics, rm.Sessions)
	}
	if err := rm.startRelayServers(ctx, keys, miner.New(rm.Chain, sessions, rm.Metrics)); err != nil {
		return err
	}
	if err := daemon.ServeMetrics(&rm.stack, rm.logger, rm.cfg.Metrics, rm.Metrics.Registry); err != nil {
		return err
	}
	if err := daemon.ServeAux(&rm.stack, rm.logger, "health.listen", rm.cfg.Health.Listen, rm.cfg.Health.MaxConnections, rm.withStatus(http.HandlerFunc(rm.health))); err != nil {
		return err
	}
	daemon.FollowBlocks(&rm.stack, rm.Chain, rm.deps.PollInterval, func(ctx context.Context, h int64) {
		rm.Metrics.BlockHeight.Set(float64(h))
		rm.Sessions.OnBlock(ctx, h)
	})
	rm.logger.Info("relayminer started", "chain_id", chainID, "suppliers", len(keys), "relay_servers", len(rm.servers), "store", rm.cfg.Store.Path, "backend", rm.cfg.Store.Backend)
	return nil
}

// startRelayServers starts one relay server per listen address.
func (rm *RelayMiner) startRelayServers(ctx context.Context, keys []daemon.Key, mn *miner.Miner) error {
	byName := map[string]daemon.Key{}
	for _, k := range keys {
		byName[k.Name] = k
	}
	for listen, refs := range rm.cfg.ListenAddresses() {
		services := make([]proxy.Service, 0, len(refs))
		for _, ref := range refs {
			backend, err := url.Parse(ref.Service.BackendURL)
			if err != nil {
				return err // validated by config; unreachable
			}
			var backendWS *url.URL
			if ref.Service.BackendWSURL != "" {
				if backendWS, err = url.Parse(ref.Service.BackendWSURL); err != nil {
					return err // validated by config; unreachable
				}
			}
			k := byName[ref.KeyName]
			services = append(services, proxy.Service{
				ServiceID: ref.Service.ServiceID, Supplier: k.Address, Key: k.Key, Backend: backend, BackendWS: backendWS,
				Timeout: ref.Service.RequestTimeout, MaxBodyBytes: ref.Service.MaxBodyBytes, Headers: ref.Service.Headers,
			})
		}
		srv := proxy.New(listen, services, rm.Chain, mn, rm.deps.Logger, rm.Metrics)
		srv.SetLimits(rm.cfg.RelayServers.Limits())
		srv.SetSocketLimits(proxy.SocketLimits(rm.cfg.RelaySockets))
		srv.SetMeter(rm.Meter)
		if err := srv.Start(ctx); err != nil {
			return err
		}
		rm.stack.Push(srv.Stop)
		rm.servers = append(rm.servers, srv)
	}
	return nil
}

// checkStakes requires each key to be a staked supplier of every service
// configured for it.
func (rm *RelayMiner) checkStakes(ctx context.Context, keys []daemon.Key) error {
	for i, s := range rm.cfg.Suppliers {
		sup, err := rm.Chain.Supplier(ctx, keys[i].Address)
		if err != nil {
			return fmt.Errorf("suppliers[%d].key_name: key %q (%s) is not a staked supplier: %w", i, s.KeyName, keys[i].Address, err)
		}
		staked := map[string]bool{}
		for _, svc := range sup.Services {
			staked[svc.ServiceId] = true
		}
		for j, svc := range s.Services {
			if !staked[svc.ServiceID] {
				return fmt.Errorf("suppliers[%d].services[%d].service_id: supplier %s is not staked for service %q", i, j, keys[i].Address, svc.ServiceID)
			}
		}
	}
	return nil
}

// health reports the last block processed and the trees held; it fails
// while no block was seen.
func (rm *RelayMiner) health(w http.ResponseWriter, _ *http.Request) {
	h := rm.Chain.LatestHeight()
	status := http.StatusOK
	if h == 0 {
		status = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	body := map[string]any{"height": h, "session_trees": len(rm.Sessions.Trees())}
	if rm.Fleet != nil {
		// The suppliers whose sessions this replica runs (holds the lease).
		body["lease_holder"] = rm.Fleet.Holders()
	}
	_ = json.NewEncoder(w).Encode(body)
}

// RelayAddrs are the relay servers' listen addresses, once started.
func (rm *RelayMiner) RelayAddrs() []string {
	out := make([]string, len(rm.servers))
	for i, s := range rm.servers {
		out[i] = s.Addr()
	}
	return out
}

// Stop stops accepting relays and waits for the ones in flight, stops
// following blocks, waits for the lifecycle work in flight, and closes the
// store: everything Start started, in reverse order.
func (rm *RelayMiner) Stop(ctx context.Context) error { return rm.stack.Stop(ctx) }
