package chain

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"cosmossdk.io/log"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	"github.com/cosmos/cosmos-sdk/codec"
	cryptotypes "github.com/cosmos/cosmos-sdk/crypto/types"
	sdk "github.com/cosmos/cosmos-sdk/types"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"
	gogogrpc "github.com/cosmos/gogoproto/grpc"

	"github.com/pokt-network/poktroll/x/relayer/types"
)

// retainBlocks is how far back cached per-height answers are kept.
const retainBlocks = 2000

// Client answers a daemon's chain queries, caching every answer that
// cannot change: params, services and sessions of past heights, account
// public keys and block hashes.
type Client struct {
	rpc        *rpchttp.HTTP // plain HTTP queries; its websocket is never started
	wsURL      string
	subscriber string
	ws         wsConfig
	subSeq     atomic.Int64
	query      types.QueryClient
	auth       authtypes.QueryClient
	cdc        codec.Codec
	logger     log.Logger

	latest atomic.Int64
	tip    atomic.Int64 // see Tip

	mu       sync.Mutex
	params   map[int64]types.Params
	services map[string]types.Service // "id@height"
	sessions map[string]types.Session // "app/service@start"
	failed   map[string]failure       // negative cache for sessions, per block
	pubkeys  map[string]cryptotypes.PubKey
	hashes   map[int64][]byte
}

type failure struct {
	height int64
	err    error
}

// Option configures a Client.
type Option func(*Client)

// WithSubscriber names the client in its block subscriptions' request ids
// and logs (default "poktroll").
func WithSubscriber(name string) Option { return func(c *Client) { c.subscriber = name } }

// NewClient builds a client over a CometBFT RPC URL and a query connection
// (gRPC, or a client.Context doing ABCI queries).
// cdc must know the auth account types (the app codec does).
func NewClient(rpcURL string, conn gogogrpc.ClientConn, cdc codec.Codec, logger log.Logger, opts ...Option) (*Client, error) {
	// The CometBFT client is used for plain HTTP calls only: its websocket
	// client is never started (see FollowBlocks).
	rpc, err := rpchttp.New(rpcURL, "/websocket")
	if err != nil {
		return nil, fmt.Errorf("CometBFT RPC client for %q: %w", rpcURL, err)
	}
	ws, err := wsURL(rpcURL)
	if err != nil {
		return nil, fmt.Errorf("CometBFT websocket of %q: %w", rpcURL, err)
	}
	c := &Client{
		rpc:        rpc,
		wsURL:      ws,
		subscriber: "poktroll",
		query:      types.NewQueryClient(conn),
		auth:       authtypes.NewQueryClient(conn),
		cdc:        cdc,
		logger:     logger.With("module", "chain"),
		params:     map[int64]types.Params{},
		services:   map[string]types.Service{},
		sessions:   map[string]types.Session{},
		failed:     map[string]failure{},
		pubkeys:    map[string]cryptotypes.PubKey{},
		hashes:     map[int64][]byte{},
	}
	for _, opt := range opts {
		opt(c)
	}
	return c, nil
}

// RPC is the CometBFT RPC client.
func (c *Client) RPC() *rpchttp.HTTP { return c.rpc }

// LatestHeight is the last block height handed out by FollowBlocks (or
// seen by Sync).
func (c *Client) LatestHeight() int64 { return c.latest.Load() }

// Tip is the newest block height the node is known to have: while
// FollowBlocks catches up after an outage it is ahead of LatestHeight. A
// tx's timeout height is reckoned from it.
func (c *Client) Tip() int64 { return max(c.tip.Load(), c.latest.Load()) }

// Sync reads the node's latest height, for use before blocks are followed.
func (c *Client) Sync(ctx context.Context) (int64, error) {
	st, err := c.rpc.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("node status: %w", err)
	}
	h := st.SyncInfo.LatestBlockHeight
	c.advance(h)
	return h, nil
}

// advance raises the latest height and forgets old cache entries.
func (c *Client) advance(h int64) {
	if h <= c.latest.Load() {
		return
	}
	c.latest.Store(h)
	c.mu.Lock()
	defer c.mu.Unlock()
	old := h - retainBlocks
	for k := range c.params {
		if k < old {
			delete(c.params, k)
		}
	}
	for k := range c.hashes {
		if k < old {
			delete(c.hashes, k)
		}
	}
	for k, s := range c.sessions {
		if s.Header.SessionEndBlockHeight < old {
			delete(c.sessions, k)
		}
	}
	for k, f := range c.failed {
		if f.height < h {
			delete(c.failed, k)
		}
	}
	if len(c.services) > 10_000 {
		c.services = map[string]types.Service{}
	}
}

// final says whether an answer about height h can no longer change.
func (c *Client) final(h int64) bool { return h < c.latest.Load() }

// ParamsAt returns the relayer params in force at height h.
func (c *Client) ParamsAt(ctx context.Context, h int64) (types.Params, error) {
	c.mu.Lock()
	p, ok := c.params[h]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	res, err := c.query.Params(ctx, &types.QueryParamsRequest{Height: h})
	if err != nil {
		return types.Params{}, fmt.Errorf("params at height %d: %w", h, err)
	}
	if c.final(h) {
		c.mu.Lock()
		c.params[h] = res.Params
		c.mu.Unlock()
	}
	return res.Params, nil
}

// ServiceAt returns a service as it was at height h.
func (c *Client) ServiceAt(ctx context.Context, id string, h int64) (types.Service, error) {
	key := fmt.Sprintf("%s@%d", id, h)
	c.mu.Lock()
	s, ok := c.services[key]
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	res, err := c.query.Service(ctx, &types.QueryServiceRequest{Id: id, Height: h})
	if err != nil {
		return types.Service{}, fmt.Errorf("service %q at height %d: %w", id, h, err)
	}
	if c.final(h) {
		c.mu.Lock()
		c.services[key] = res.Service
		c.mu.Unlock()
	}
	return res.Service, nil
}

// Session returns the session of app and service that starts at start.
// Failures are remembered until the next block, so a flood of relays for a
// session that does not exist costs one query per block.
func (c *Client) Session(ctx context.Context, app, service string, start int64) (types.Session, error) {
	key := fmt.Sprintf("%s/%s@%d", app, service, start)
	c.mu.Lock()
	s, ok := c.sessions[key]
	f, failed := c.failed[key]
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	if failed && f.height >= c.latest.Load() {
		return types.Session{}, f.err
	}
	res, err := c.query.GetSession(ctx, &types.QueryGetSessionRequest{ApplicationAddress: app, ServiceId: service, BlockHeight: start})
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		err = fmt.Errorf("session of %s for %q at height %d: %w", app, service, start, err)
		c.failed[key] = failure{height: c.latest.Load(), err: err}
		return types.Session{}, err
	}
	if c.final(start) {
		c.sessions[key] = res.Session
	}
	return res.Session, nil
}

// PubKey returns an account's public key (known once it signed a tx).
func (c *Client) PubKey(ctx context.Context, addr string) (cryptotypes.PubKey, error) {
	c.mu.Lock()
	pk, ok := c.pubkeys[addr]
	c.mu.Unlock()
	if ok {
		return pk, nil
	}
	res, err := c.auth.Account(ctx, &authtypes.QueryAccountRequest{Address: addr})
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", addr, err)
	}
	var acc sdk.AccountI
	if err := c.cdc.UnpackAny(res.Account, &acc); err != nil {
		return nil, fmt.Errorf("decoding account %s: %w", addr, err)
	}
	pk = acc.GetPubKey()
	if pk == nil {
		return nil, fmt.Errorf("account %s has no public key on chain yet", addr)
	}
	c.mu.Lock()
	if len(c.pubkeys) > 100_000 {
		c.pubkeys = map[string]cryptotypes.PubKey{}
	}
	c.pubkeys[addr] = pk
	c.mu.Unlock()
	return pk, nil
}

// BlockHash returns the hash of the block at height h; height 0 (before
// the first block, the seed of the first session) has the empty hash.
func (c *Client) BlockHash(ctx context.Context, h int64) ([]byte, error) {
	if h <= 0 {
		return nil, nil
	}
	c.mu.Lock()
	hash, ok := c.hashes[h]
	c.mu.Unlock()
	if ok {
		return hash, nil
	}
	res, err := c.rpc.Block(ctx, &h)
	if err != nil {
		return nil, fmt.Errorf("block %d: %w", h, err)
	}
	hash = res.BlockID.Hash
	c.recordHash(h, hash)
	return hash, nil
}

func (c *Client) recordHash(h int64, hash []byte) {
	c.mu.Lock()
	c.hashes[h] = hash
	c.mu.Unlock()
}

// ProofRequired asks the chain whether a claim must be proven.
func (c *Client) ProofRequired(ctx context.Context, sessionID, supplier string) (bool, error) {
	res, err := c.query.ProofRequirement(ctx, &types.QueryProofRequirementRequest{SessionId: sessionID, SupplierOperatorAddress: supplier})
	if err != nil {
		return false, fmt.Errorf("proof requirement of session %s: %w", sessionID, err)
	}
	return res.Required, nil
}
