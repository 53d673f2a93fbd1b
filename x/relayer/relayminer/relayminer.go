package relayminer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"cosmossdk.io/log"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/codec"
	sdkcrypto "github.com/cosmos/cosmos-sdk/crypto"
	"github.com/cosmos/cosmos-sdk/crypto/keyring"
	"github.com/cosmos/cosmos-sdk/crypto/keys/secp256k1"
	sdk "github.com/cosmos/cosmos-sdk/types"
	gogogrpc "github.com/cosmos/gogoproto/grpc"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/syndtr/goleveldb/leveldb/storage"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/pokt-network/poktroll/x/relayer/internal/httplimit"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/chain"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/config"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/metrics"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/miner"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/proxy"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/session"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/store"
	"github.com/pokt-network/poktroll/x/relayer/types"
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

	conn     *grpc.ClientConn
	Chain    *chain.Client
	db       *store.DB
	Sessions *session.Manager
	servers  []*proxy.Server
	aux      []*http.Server

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New prepares a RelayMiner; Start runs it.
func New(cfg *config.Config, deps Deps) *RelayMiner {
	if deps.PollInterval <= 0 {
		deps.PollInterval = 2 * time.Second
	}
	return &RelayMiner{cfg: cfg, deps: deps, logger: deps.Logger.With("module", "relayminer"), Metrics: metrics.New()}
}

type supplierKey struct {
	name    string
	address string
	key     *secp256k1.PrivKey
}

// Start checks everything it can before serving: keys, chain, stakes, store.
// Any failure stops it with an error naming the config field at fault.
func (rm *RelayMiner) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			rm.closeAll()
		}
	}()
	keys, err := rm.resolveKeys()
	if err != nil {
		return err
	}
	conn, err := rm.queryConn()
	if err != nil {
		return err
	}
	if rm.Chain, err = chain.NewClient(rm.cfg.Chain.RPCURL, conn, rm.deps.Codec, rm.deps.Logger); err != nil {
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
	if err := rm.checkStakes(ctx, conn, keys); err != nil {
		return err
	}
	gasPrices, err := sdk.ParseDecCoins(rm.cfg.Chain.GasPrices)
	if err != nil {
		return fmt.Errorf("chain.gas_prices %q: %w", rm.cfg.Chain.GasPrices, err)
	}
	tx := chain.NewSubmitter(rm.Chain, rm.deps.TxConfig, rm.deps.Keyring, chain.TxConfig{
		ChainID: chainID, GasPrices: gasPrices, GasAdjustment: rm.cfg.Chain.GasAdjustment,
	}, rm.deps.Logger, rm.Metrics)
	for _, k := range keys {
		if _, err := tx.AddSigner(k.name); err != nil {
			return err
		}
	}
	if rm.db, err = store.Open(rm.cfg.Store.Path, store.Options{SyncWrites: rm.cfg.Store.SyncWrites, WrapStorage: rm.deps.WrapStorage}); err != nil {
		return fmt.Errorf("store.path %q: %w", rm.cfg.Store.Path, err)
	}
	rm.Sessions = session.NewManager(rm.db, rm.Chain, tx, rm.deps.Logger, rm.Metrics, session.Options{})
	if err := rm.Sessions.Load(); err != nil {
		return fmt.Errorf("restoring session trees from %s: %w", rm.cfg.Store.Path, err)
	}
	mn := miner.New(rm.Chain, rm.Sessions, rm.Metrics)
	byName := map[string]supplierKey{}
	for _, k := range keys {
		byName[k.name] = k
	}
	for listen, refs := range rm.cfg.ListenAddresses() {
		services := make([]proxy.Service, 0, len(refs))
		for _, ref := range refs {
			backend, err := url.Parse(ref.Service.BackendURL)
			if err != nil {
				return err // validated by config; unreachable
			}
			k := byName[ref.KeyName]
			services = append(services, proxy.Service{
				ServiceID: ref.Service.ServiceID, Supplier: k.address, Key: k.key, Backend: backend,
				Timeout: ref.Service.RequestTimeout, MaxBodyBytes: ref.Service.MaxBodyBytes, Headers: ref.Service.Headers,
			})
		}
		srv := proxy.New(listen, services, rm.Chain, mn, rm.deps.Logger, rm.Metrics)
		srv.SetLimits(rm.cfg.RelayServers.Limits())
		if err := srv.Start(); err != nil {
			return err
		}
		rm.servers = append(rm.servers, srv)
	}
	if err := rm.startAux(); err != nil {
		return err
	}
	followCtx, cancel := context.WithCancel(context.Background())
	rm.cancel = cancel
	rm.wg.Add(1)
	go func() {
		defer rm.wg.Done()
		_ = rm.Chain.FollowBlocks(followCtx, rm.deps.PollInterval, func(ctx context.Context, h int64) {
			rm.Metrics.BlockHeight.Set(float64(h))
			rm.Sessions.OnBlock(ctx, h)
		})
	}()
	rm.logger.Info("relayminer started", "chain_id", chainID, "suppliers", len(keys), "relay_servers", len(rm.servers), "store", rm.cfg.Store.Path)
	return nil
}

// queryConn is where queries go: gRPC when chain.grpc_url is set, else ABCI
// queries through the CometBFT RPC.
func (rm *RelayMiner) queryConn() (gogogrpc.ClientConn, error) {
	reg := rm.deps.Codec.InterfaceRegistry()
	if rm.cfg.Chain.GRPCURL == "" {
		rpc, err := rpchttp.New(rm.cfg.Chain.RPCURL, "/websocket")
		if err != nil {
			return nil, fmt.Errorf("chain.rpc_url %q: %w", rm.cfg.Chain.RPCURL, err)
		}
		return client.Context{}.WithClient(rpc).WithCodec(rm.deps.Codec).WithInterfaceRegistry(reg), nil
	}
	conn, err := grpc.NewClient(rm.cfg.Chain.GRPCURL,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		chain.GRPCReconnect(),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(codec.NewProtoCodec(reg).GRPCCodec())))
	if err != nil {
		return nil, fmt.Errorf("chain.grpc_url %q: %w", rm.cfg.Chain.GRPCURL, err)
	}
	rm.conn = conn
	return conn, nil
}

// resolveKeys finds each supplier's key in the keyring. The private key is
// held in memory: a response is signed per relay, and asking the keyring
// each time would read and decode the key file on the hot path.
func (rm *RelayMiner) resolveKeys() ([]supplierKey, error) {
	if rm.deps.Keyring == nil {
		return nil, errors.New("no keyring: pass --keyring-backend and --home")
	}
	keys := make([]supplierKey, len(rm.cfg.Suppliers))
	for i, s := range rm.cfg.Suppliers {
		field := fmt.Sprintf("suppliers[%d].key_name", i)
		rec, err := rm.deps.Keyring.Key(s.KeyName)
		if err != nil {
			return nil, fmt.Errorf("%s: no key %q in the keyring (%s backend): %w", field, s.KeyName, rm.deps.Keyring.Backend(), err)
		}
		addr, err := rec.GetAddress()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		// The keyring exports private keys only armored; a one-time
		// passphrase makes the round trip.
		pass := make([]byte, 16)
		if _, err := rand.Read(pass); err != nil {
			return nil, err
		}
		armor, err := rm.deps.Keyring.ExportPrivKeyArmor(s.KeyName, hex.EncodeToString(pass))
		if err != nil {
			return nil, fmt.Errorf("%s: key %q cannot sign here (a ledger or offline key?): %w", field, s.KeyName, err)
		}
		priv, _, err := sdkcrypto.UnarmorDecryptPrivKey(armor, hex.EncodeToString(pass))
		if err != nil {
			return nil, fmt.Errorf("%s: key %q: %w", field, s.KeyName, err)
		}
		key, ok := priv.(*secp256k1.PrivKey)
		if !ok {
			return nil, fmt.Errorf("%s: key %q is a %s key, want secp256k1", field, s.KeyName, priv.Type())
		}
		keys[i] = supplierKey{name: s.KeyName, address: addr.String(), key: key}
	}
	return keys, nil
}

// checkStakes requires every supplier to be staked for every service it
// is configured to serve.
func (rm *RelayMiner) checkStakes(ctx context.Context, conn gogogrpc.ClientConn, keys []supplierKey) error {
	q := types.NewQueryClient(conn)
	for i, s := range rm.cfg.Suppliers {
		res, err := q.Supplier(ctx, &types.QuerySupplierRequest{OperatorAddress: keys[i].address})
		if err != nil {
			return fmt.Errorf("suppliers[%d].key_name: key %q (%s) is not a staked supplier: %w", i, s.KeyName, keys[i].address, err)
		}
		staked := map[string]bool{}
		for _, svc := range res.Supplier.Services {
			staked[svc.ServiceId] = true
		}
		for j, svc := range s.Services {
			if !staked[svc.ServiceID] {
				return fmt.Errorf("suppliers[%d].services[%d].service_id: supplier %s is not staked for service %q", i, j, keys[i].address, svc.ServiceID)
			}
		}
	}
	return nil
}

// startAux starts the metrics and health endpoints, each with
// httplimit.DefaultAux's timeouts and its configured connection cap.
func (rm *RelayMiner) startAux() error {
	serve := func(field, listen string, maxConns int, h http.Handler) error {
		if listen == "" {
			return nil
		}
		limits := httplimit.Limits{MaxConnections: maxConns}.Or(httplimit.DefaultAux)
		ln, err := httplimit.Listen(listen, limits.MaxConnections)
		if err != nil {
			return fmt.Errorf("%s %q: %w", field, listen, err)
		}
		srv := httplimit.Server(h, limits, 0, rm.logger)
		rm.aux = append(rm.aux, srv)
		go func() { _ = srv.Serve(ln) }()
		rm.logger.Info("serving "+field, "addr", ln.Addr().String())
		return nil
	}
	if err := serve("metrics.listen", rm.cfg.Metrics.Listen, rm.cfg.Metrics.MaxConnections, promhttp.HandlerFor(rm.Metrics.Registry, promhttp.HandlerOpts{})); err != nil {
		return err
	}
	return serve("health.listen", rm.cfg.Health.Listen, rm.cfg.Health.MaxConnections, http.HandlerFunc(rm.health))
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
	_ = json.NewEncoder(w).Encode(map[string]any{"height": h, "session_trees": len(rm.Sessions.Trees())})
}

// RelayAddrs are the relay servers' listen addresses, once started.
func (rm *RelayMiner) RelayAddrs() []string {
	out := make([]string, len(rm.servers))
	for i, s := range rm.servers {
		out[i] = s.Addr()
	}
	return out
}

// Stop drains the relay servers, stops following blocks, waits for txs in
// flight and closes the store.
func (rm *RelayMiner) Stop(ctx context.Context) error {
	var errs []error
	for _, s := range rm.servers {
		errs = append(errs, s.Stop(ctx))
	}
	if rm.cancel != nil {
		rm.cancel()
	}
	rm.wg.Wait()
	if rm.Sessions != nil {
		rm.Sessions.Wait()
	}
	for _, s := range rm.aux {
		errs = append(errs, s.Shutdown(ctx))
	}
	rm.closeAll()
	return errors.Join(errs...)
}

func (rm *RelayMiner) closeAll() {
	if rm.db != nil {
		_ = rm.db.Close()
		rm.db = nil
	}
	if rm.conn != nil {
		_ = rm.conn.Close()
		rm.conn = nil
	}
}
