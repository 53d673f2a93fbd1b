package appgate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"cosmossdk.io/log"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/codec"
	sdkcrypto "github.com/cosmos/cosmos-sdk/crypto"
	"github.com/cosmos/cosmos-sdk/crypto/keyring"
	"github.com/cosmos/cosmos-sdk/crypto/keys/secp256k1"
	gogogrpc "github.com/cosmos/gogoproto/grpc"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/pokt-network/poktroll/x/relayer/appgate/config"
	"github.com/pokt-network/poktroll/x/relayer/internal/httplimit"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/chain"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// Deps are what the AppGate takes from the daemon.
type Deps struct {
	Keyring keyring.Keyring
	Codec   codec.Codec
	Logger  log.Logger
	// PollInterval is how often the block follower polls the node when the
	// websocket is quiet (default 2s).
	PollInterval time.Duration
	// Transport sends relays to suppliers (nil: the Gateway's default).
	Transport http.RoundTripper
}

// AppGate is a running AppGate.
type AppGate struct {
	cfg     *config.Config
	deps    Deps
	logger  log.Logger
	Metrics *Metrics

	conn    *grpc.ClientConn
	Chain   *chain.Client
	Gateway *Gateway
	srv     *http.Server
	ln      net.Listener
	aux     []*http.Server

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New prepares an AppGate; Start runs it.
func New(cfg *config.Config, deps Deps) *AppGate {
	if deps.PollInterval <= 0 {
		deps.PollInterval = 2 * time.Second
	}
	return &AppGate{cfg: cfg, deps: deps, logger: deps.Logger.With("module", "appgate"), Metrics: NewMetrics()}
}

// Start resolves the application's key, connects to the chain, reads the
// current sessions and serves. A missing key or an unreachable chain stops
// it with an error naming the config field at fault; an application not
// staked (for some service) only gets a warning, and requests for such a
// service a 403, until it is.
func (a *AppGate) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			a.closeAll()
		}
	}()
	signer, err := a.resolveKey()
	if err != nil {
		return err
	}
	conn, err := a.queryConn()
	if err != nil {
		return err
	}
	if a.Chain, err = chain.NewClient(a.cfg.Chain.RPCURL, conn, a.deps.Codec, a.deps.Logger, chain.WithSubscriber("appgate")); err != nil {
		return fmt.Errorf("chain.rpc_url: %w", err)
	}
	height, err := a.Chain.Sync(ctx)
	if err != nil {
		return fmt.Errorf("chain.rpc_url %q: %w", a.cfg.Chain.RPCURL, err)
	}
	q := types.NewQueryClient(conn)
	if err := a.checkStake(ctx, q, signer.Address); err != nil {
		return err
	}
	a.Gateway = NewGateway(signer, a.cfg.Services, chainReader{a.Chain, q}, Options{
		RequestTimeout: a.cfg.RequestTimeout, MaxBodyBytes: a.cfg.MaxBodyBytes, Transport: a.deps.Transport,
	}, a.deps.Logger, a.Metrics)
	a.Gateway.OnBlock(ctx, height)

	limits := a.cfg.Server.Limits()
	if a.ln, err = httplimit.Listen(a.cfg.Listen, limits.MaxConnections); err != nil {
		return fmt.Errorf("listen %q: %w", a.cfg.Listen, err)
	}
	a.srv = a.Gateway.HTTPServer(limits)
	go func() {
		if err := a.srv.Serve(a.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.logger.Error("appgate server stopped", "error", err)
		}
	}()
	if err := a.startAux(); err != nil {
		return err
	}
	followCtx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		_ = a.Chain.FollowBlocks(followCtx, a.deps.PollInterval, func(ctx context.Context, h int64) {
			a.Metrics.BlockHeight.Set(float64(h))
			a.Gateway.OnBlock(ctx, h)
		})
	}()
	a.logger.Info("appgate started", "addr", a.ln.Addr().String(), "application", signer.Address, "services", a.cfg.Services, "height", height)
	return nil
}

// queryConn is where queries go: gRPC when chain.grpc_url is set, else ABCI
// queries through the CometBFT RPC.
func (a *AppGate) queryConn() (gogogrpc.ClientConn, error) {
	reg := a.deps.Codec.InterfaceRegistry()
	if a.cfg.Chain.GRPCURL == "" {
		rpc, err := rpchttp.New(a.cfg.Chain.RPCURL, "/websocket")
		if err != nil {
			return nil, fmt.Errorf("chain.rpc_url %q: %w", a.cfg.Chain.RPCURL, err)
		}
		return client.Context{}.WithClient(rpc).WithCodec(a.deps.Codec).WithInterfaceRegistry(reg), nil
	}
	conn, err := grpc.NewClient(a.cfg.Chain.GRPCURL,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		chain.GRPCReconnect(),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(codec.NewProtoCodec(reg).GRPCCodec())))
	if err != nil {
		return nil, fmt.Errorf("chain.grpc_url %q: %w", a.cfg.Chain.GRPCURL, err)
	}
	a.conn = conn
	return conn, nil
}

// chainReader is the Gateway's view of the chain: the shared cached
// client, plus the current session, which the Gateway caches itself.
type chainReader struct {
	*chain.Client
	q types.QueryClient
}

func (c chainReader) CurrentSession(ctx context.Context, app, service string) (types.Session, error) {
	res, err := c.q.GetSession(ctx, &types.QueryGetSessionRequest{ApplicationAddress: app, ServiceId: service})
	if err != nil {
		return types.Session{}, err
	}
	return res.Session, nil
}

// resolveKey finds the application's key in the keyring. The private key
// is held in memory: every relay is signed, and asking the keyring each
// time would read and decode the key file on the request path.
func (a *AppGate) resolveKey() (Signer, error) {
	const field = "application.key_name"
	kr, name := a.deps.Keyring, a.cfg.Application.KeyName
	if kr == nil {
		return Signer{}, errors.New("no keyring: pass --keyring-backend and --home")
	}
	rec, err := kr.Key(name)
	if err != nil {
		return Signer{}, fmt.Errorf("%s: no key %q in the keyring (%s backend): %w", field, name, kr.Backend(), err)
	}
	addr, err := rec.GetAddress()
	if err != nil {
		return Signer{}, fmt.Errorf("%s: %w", field, err)
	}
	// The keyring exports private keys only armored; a one-time passphrase
	// makes the round trip.
	pass := make([]byte, 16)
	if _, err := rand.Read(pass); err != nil {
		return Signer{}, err
	}
	armor, err := kr.ExportPrivKeyArmor(name, hex.EncodeToString(pass))
	if err != nil {
		return Signer{}, fmt.Errorf("%s: key %q cannot sign here (a ledger or offline key?): %w", field, name, err)
	}
	priv, _, err := sdkcrypto.UnarmorDecryptPrivKey(armor, hex.EncodeToString(pass))
	if err != nil {
		return Signer{}, fmt.Errorf("%s: key %q: %w", field, name, err)
	}
	key, ok := priv.(*secp256k1.PrivKey)
	if !ok {
		return Signer{}, fmt.Errorf("%s: key %q is a %s key, want secp256k1", field, name, priv.Type())
	}
	return Signer{Address: addr.String(), Key: key}, nil
}

// checkStake warns about services the application is not staked for. Only
// a chain that cannot answer is an error.
func (a *AppGate) checkStake(ctx context.Context, q types.QueryClient, app string) error {
	res, err := q.Application(ctx, &types.QueryApplicationRequest{Address: app})
	if err != nil {
		if status.Code(err) == codes.NotFound || isChainError(err, types.ErrApplicationNotFound) {
			a.logger.Warn("application.key_name: the application is not staked; requests get 403 until it is", "application", app)
			return nil
		}
		return fmt.Errorf("chain: reading application %s: %w", app, err)
	}
	for i, id := range a.cfg.Services {
		if !slices.Contains(res.Application.ServiceIds, id) {
			a.logger.Warn(fmt.Sprintf("services[%d]: the application is not staked for this service; its requests get 403", i),
				"application", app, "service", id, "staked_for", res.Application.ServiceIds)
		}
	}
	return nil
}

// startAux starts the metrics and health endpoints, each with
// httplimit.DefaultAux's timeouts and its configured connection cap.
func (a *AppGate) startAux() error {
	serve := func(field string, ep config.Endpoint, h http.Handler) error {
		if ep.Listen == "" {
			return nil
		}
		limits := httplimit.Limits{MaxConnections: ep.MaxConnections}.Or(httplimit.DefaultAux)
		ln, err := httplimit.Listen(ep.Listen, limits.MaxConnections)
		if err != nil {
			return fmt.Errorf("%s %q: %w", field, ep.Listen, err)
		}
		srv := httplimit.Server(h, limits, 0, a.logger)
		a.aux = append(a.aux, srv)
		go func() { _ = srv.Serve(ln) }()
		a.logger.Info("serving "+field, "addr", ln.Addr().String())
		return nil
	}
	if err := serve("metrics.listen", a.cfg.Metrics, promhttp.HandlerFor(a.Metrics.Registry, promhttp.HandlerOpts{})); err != nil {
		return err
	}
	return serve("health.listen", a.cfg.Health, http.HandlerFunc(a.health))
}

// health reports the last block processed and each service's current
// session; it fails while no block was seen.
func (a *AppGate) health(w http.ResponseWriter, _ *http.Request) {
	h := a.Chain.LatestHeight()
	status := http.StatusOK
	if h == 0 {
		status = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"height": h, "sessions": a.Gateway.Sessions()})
}

// Addr is the address the AppGate serves on, once started.
func (a *AppGate) Addr() string { return a.ln.Addr().String() }

// Stop stops accepting requests, waits for the ones in flight, and stops
// following blocks.
func (a *AppGate) Stop(ctx context.Context) error {
	var errs []error
	if a.srv != nil {
		errs = append(errs, a.srv.Shutdown(ctx))
	}
	if a.cancel != nil {
		a.cancel()
	}
	a.wg.Wait()
	for _, s := range a.aux {
		errs = append(errs, s.Shutdown(ctx))
	}
	a.closeAll()
	return errors.Join(errs...)
}

func (a *AppGate) closeAll() {
	if a.srv != nil {
		_ = a.srv.Close()
	} else if a.ln != nil {
		_ = a.ln.Close()
	}
	for _, s := range a.aux {
		_ = s.Close()
	}
	if a.conn != nil {
		_ = a.conn.Close()
		a.conn = nil
	}
}
