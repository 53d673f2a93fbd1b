// Package daemon is what the off-chain daemons (the RelayMiner and the
// AppGate) do alike when they start and stop: connect to the chain for
// queries, load a key from the keyring, serve their metrics and health
// endpoints, follow blocks, and shut down everything they started, in
// reverse order, also when a start fails half-way (Stack). It holds no
// daemon's logic.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"cosmossdk.io/log"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/codec"
	"github.com/cosmos/cosmos-sdk/crypto/keyring"
	"github.com/cosmos/cosmos-sdk/crypto/keys/secp256k1"
	cryptotypes "github.com/cosmos/cosmos-sdk/crypto/types"
	gogogrpc "github.com/cosmos/gogoproto/grpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/pokt-network/poktroll/x/relayer/client/chain"
	"github.com/pokt-network/poktroll/x/relayer/internal/httplimit"
)

// Stack is what a daemon started, stopped in reverse order. A Stack is
// safe for concurrent use.
type Stack struct {
	mu    sync.Mutex
	stops []func(ctx context.Context) error
}

// Push records how to stop something just started.
func (s *Stack) Push(stop func(ctx context.Context) error) {
	s.mu.Lock()
	s.stops = append(s.stops, stop)
	s.mu.Unlock()
}

// Stop stops everything pushed, last first, and returns every error. It
// may be called more than once: what was stopped is forgotten.
func (s *Stack) Stop(ctx context.Context) error {
	s.mu.Lock()
	stops := s.stops
	s.stops = nil
	s.mu.Unlock()
	var errs []error
	for i := len(stops) - 1; i >= 0; i-- {
		errs = append(errs, stops[i](ctx))
	}
	return errors.Join(errs...)
}

// QueryConn is where a daemon's queries go: gRPC when grpcURL is set (with
// chain.GRPCReconnect's bounded reconnection), else ABCI queries through the
// CometBFT RPC at rpcURL. The gRPC connection is closed by stack.
func QueryConn(stack *Stack, cdc codec.Codec, rpcURL, grpcURL string) (gogogrpc.ClientConn, error) {
	reg := cdc.InterfaceRegistry()
	if grpcURL == "" {
		rpc, err := rpchttp.New(rpcURL, "/websocket")
		if err != nil {
			return nil, fmt.Errorf("chain.rpc_url %q: %w", rpcURL, err)
		}
		return client.Context{}.WithClient(rpc).WithCodec(cdc).WithInterfaceRegistry(reg), nil
	}
	conn, err := grpc.NewClient(grpcURL,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		chain.GRPCReconnect(),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(codec.NewProtoCodec(reg).GRPCCodec())))
	if err != nil {
		return nil, fmt.Errorf("chain.grpc_url %q: %w", grpcURL, err)
	}
	stack.Push(func(context.Context) error { return conn.Close() })
	return conn, nil
}

// Key is a keyring key loaded for signing.
type Key struct {
	Name    string
	Address string
	Key     *secp256k1.PrivKey
}

// LoadKey reads the secp256k1 key name from the keyring, for signing in
// memory (every relay is signed: asking the keyring each time would read
// and decode its file on the request path). field names the config field
// in errors.
func LoadKey(kr keyring.Keyring, cdc codec.Codec, field, name string) (Key, error) {
	if kr == nil {
		return Key{}, errors.New("no keyring: pass --keyring-backend and --home")
	}
	rec, err := kr.Key(name)
	if err != nil {
		return Key{}, fmt.Errorf("%s: no key %q in the keyring (%s backend): %w", field, name, kr.Backend(), err)
	}
	addr, err := rec.GetAddress()
	if err != nil {
		return Key{}, fmt.Errorf("%s: %w", field, err)
	}
	local := rec.GetLocal()
	if local == nil || local.PrivKey == nil {
		return Key{}, fmt.Errorf("%s: key %q cannot sign here (a ledger or offline key?)", field, name)
	}
	var priv cryptotypes.PrivKey
	if err := cdc.UnpackAny(local.PrivKey, &priv); err != nil {
		return Key{}, fmt.Errorf("%s: key %q: %w", field, name, err)
	}
	key, ok := priv.(*secp256k1.PrivKey)
	if !ok {
		return Key{}, fmt.Errorf("%s: key %q is a %s key, want secp256k1", field, name, priv.Type())
	}
	return Key{Name: name, Address: addr.String(), Key: key}, nil
}

// ServeAux serves h (a metrics or health endpoint) on listen, with
// httplimit.DefaultAux's timeouts and maxConns connections at most (0: the
// default); an empty listen serves nothing. field names the config field
// in errors. The server is shut down by stack.
func ServeAux(stack *Stack, logger log.Logger, field, listen string, maxConns int, h http.Handler) error {
	return serveAux(stack, logger, field, listen, maxConns, 0, h)
}

// serveAux is ServeAux whose handler may work handlerTime before it answers
// (see httplimit.Server).
func serveAux(stack *Stack, logger log.Logger, field, listen string, maxConns int, handlerTime time.Duration, h http.Handler) error {
	if listen == "" {
		return nil
	}
	limits := httplimit.Limits{MaxConnections: maxConns}.Or(httplimit.DefaultAux)
	ln, err := httplimit.Listen(listen, limits.MaxConnections)
	if err != nil {
		return fmt.Errorf("%s %q: %w", field, listen, err)
	}
	srv := httplimit.Server(h, limits, handlerTime, logger)
	go func() { _ = srv.Serve(ln) }()
	stack.Push(func(ctx context.Context) error { return shutdown(ctx, srv) })
	logger.Info("serving "+field, "addr", ln.Addr().String())
	return nil
}

// Serve serves srv on its listener in the background, logging an
// unexpected stop; stack shuts it down (waiting for requests in flight
// until ctx ends, then closing).
func Serve(stack *Stack, logger log.Logger, what string, srv *http.Server, serve func() error) {
	go func() {
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error(what+" stopped", "error", err)
		}
	}()
	stack.Push(func(ctx context.Context) error { return shutdown(ctx, srv) })
}

// shutdown shuts srv down gracefully until ctx ends, then closes it.
func shutdown(ctx context.Context, srv *http.Server) error {
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
		return err
	}
	return nil
}

// FollowBlocks runs c.FollowBlocks in the background, handing each height
// to fn, until stack stops it (and waits for it).
func FollowBlocks(stack *Stack, c *chain.Client, pollInterval time.Duration, fn func(context.Context, int64)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.FollowBlocks(ctx, pollInterval, fn)
	}()
	stack.Push(func(context.Context) error {
		cancel()
		<-done
		return nil
	})
}
