package appgate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"cosmossdk.io/log"
	"github.com/cosmos/cosmos-sdk/codec"
	"github.com/cosmos/cosmos-sdk/crypto/keyring"

	"github.com/pokt-network/poktroll/x/relayer/appgate/config"
	"github.com/pokt-network/poktroll/x/relayer/client/chain"
	"github.com/pokt-network/poktroll/x/relayer/client/daemon"
	"github.com/pokt-network/poktroll/x/relayer/internal/httplimit"
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

	Chain   *chain.Client
	Gateway *Gateway
	addr    string
	stack   daemon.Stack // what Start started, stopped in reverse order
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
// it with an error naming the config field at fault (and everything
// started so far is stopped again); an application not staked (for some
// service) only gets a warning, and requests for such a service a 403,
// until it is.
func (a *AppGate) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			_ = a.stack.Stop(context.Background())
		}
	}()
	key, err := daemon.LoadKey(a.deps.Keyring, a.deps.Codec, "application.key_name", a.cfg.Application.KeyName)
	if err != nil {
		return err
	}
	signer := Signer{Address: key.Address, Key: key.Key}
	conn, err := daemon.QueryConn(&a.stack, a.deps.Codec, a.cfg.Chain.RPCURL, a.cfg.Chain.GRPCURL)
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
	if err := a.checkStake(ctx, signer.Address); err != nil {
		return err
	}
	a.Gateway = NewGateway(signer, a.cfg.Services, a.Chain, Options{
		RequestTimeout: a.cfg.RequestTimeout, MaxBodyBytes: a.cfg.MaxBodyBytes, Transport: a.deps.Transport,
		CORS: a.cfg.CORS, RPCTypes: a.cfg.RPCTypes,
	}, a.deps.Logger, a.Metrics)
	a.Gateway.OnBlock(ctx, height)

	limits := a.cfg.Server.Limits()
	ln, err := httplimit.Listen(a.cfg.Listen, limits.MaxConnections)
	if err != nil {
		return fmt.Errorf("listen %q: %w", a.cfg.Listen, err)
	}
	a.addr = ln.Addr().String()
	srv := a.Gateway.HTTPServer(limits)
	daemon.Serve(&a.stack, a.logger, "appgate server", srv, func() error { return srv.Serve(ln) })
	if err := daemon.ServeMetrics(&a.stack, a.logger, a.cfg.Metrics, a.Metrics.Registry); err != nil {
		return err
	}
	if err := daemon.ServeAux(&a.stack, a.logger, "health.listen", a.cfg.Health.Listen, a.cfg.Health.MaxConnections, http.HandlerFunc(a.health)); err != nil {
		return err
	}
	daemon.FollowBlocks(&a.stack, a.Chain, a.deps.PollInterval, func(ctx context.Context, h int64) {
		a.Metrics.BlockHeight.Set(float64(h))
		a.Gateway.OnBlock(ctx, h)
	})
	a.logger.Info("appgate started", "addr", a.addr, "application", signer.Address, "services", a.cfg.Services, "height", height)
	return nil
}

// checkStake warns about services the application is not staked for. Only
// a chain that cannot answer is an error.
func (a *AppGate) checkStake(ctx context.Context, app string) error {
	staked, err := a.Chain.Application(ctx, app)
	if err != nil {
		if errors.Is(err, types.ErrApplicationNotFound) {
			a.logger.Warn("application.key_name: the application is not staked; requests get 403 until it is", "application", app)
			return nil
		}
		return fmt.Errorf("chain: reading application %s: %w", app, err)
	}
	for i, id := range a.cfg.Services {
		if !slices.Contains(staked.ServiceIds, id) {
			a.logger.Warn(fmt.Sprintf("services[%d]: the application is not staked for this service; its requests get 403", i),
				"application", app, "service", id, "staked_for", staked.ServiceIds)
		}
	}
	return nil
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
func (a *AppGate) Addr() string { return a.addr }

// Stop stops accepting requests, waits for the ones in flight, and stops
// following blocks: everything Start started, in reverse order.
func (a *AppGate) Stop(ctx context.Context) error { return a.stack.Stop(ctx) }
