package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdkmath "cosmossdk.io/math"
	pruningtypes "cosmossdk.io/store/pruning/types"
	cmtclient "github.com/cometbft/cometbft/rpc/client"
	dbm "github.com/cosmos/cosmos-db"
	"github.com/cosmos/cosmos-sdk/baseapp"
	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/codec"
	"github.com/cosmos/cosmos-sdk/crypto/hd"
	"github.com/cosmos/cosmos-sdk/crypto/keyring"
	servertypes "github.com/cosmos/cosmos-sdk/server/types"
	sdktestutil "github.com/cosmos/cosmos-sdk/testutil"
	sdknetwork "github.com/cosmos/cosmos-sdk/testutil/network"
	sdk "github.com/cosmos/cosmos-sdk/types"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"
	govv1 "github.com/cosmos/cosmos-sdk/x/gov/types/v1"
	minttypes "github.com/cosmos/cosmos-sdk/x/mint/types"
	stakingtypes "github.com/cosmos/cosmos-sdk/x/staking/types"
	gogogrpc "github.com/cosmos/gogoproto/grpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/pokt-network/poktroll/app"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

const (
	// DefaultChainID is the chain id of a network unless WithChainID.
	DefaultChainID = "poktroll-test"
	// DefaultBlockTime is the CometBFT timeout_commit, i.e. roughly the
	// time between blocks, unless WithBlockTime.
	DefaultBlockTime = 500 * time.Millisecond
	// DefaultGasLimit is the gas limit of the txs SendTx builds. Fees are
	// zero, so a high limit costs nothing.
	DefaultGasLimit = 10_000_000
	// DefaultTxTimeout bounds how long SendTx waits for a tx to be in a
	// block, unless WithTxTimeout.
	DefaultTxTimeout = 30 * time.Second
)

// DefaultAccountBalance is the upokt balance of each funded account unless
// WithAccountBalance.
var DefaultAccountBalance = sdkmath.NewInt(1_000_000_000_000)

// DefaultParams are the relayer params of a network unless WithParams:
// types.DefaultParams, whose 4-block sessions and short windows keep
// session lifecycle tests quick.
func DefaultParams() types.Params { return types.DefaultParams() }

// Option configures New.
type Option func(*options)

type options struct {
	params           types.Params
	services         []types.Service
	apps             []types.Application
	suppliers        []types.Supplier
	funded           []string
	balance          sdkmath.Int
	blockTime        time.Duration
	chainID          string
	gasLimit         uint64
	txTimeout        time.Duration
	logging          bool
	genesisModifiers []func(codec.JSONCodec, map[string]json.RawMessage)
}

// WithParams sets the relayer genesis params.
func WithParams(p types.Params) Option { return func(o *options) { o.params = p } }

// WithServices adds services to the relayer genesis. An empty OwnerAddress
// means the validator's address; an OwnerAddress that is not a bech32
// address is the name of a funded account. Name defaults to Id and a zero
// ComputeUnitsPerRelay to 1.
func WithServices(services ...types.Service) Option {
	return func(o *options) { o.services = append(o.services, services...) }
}

// WithGenesisApplications adds staked applications to the relayer genesis;
// they take part in sessions from the first block. Address may be the name
// of a funded account; a zero Stake means params.MinApplicationStake. The
// stakes are added to the relayer module account's bank balance.
func WithGenesisApplications(apps ...types.Application) Option {
	return func(o *options) { o.apps = append(o.apps, apps...) }
}

// WithGenesisSuppliers adds staked suppliers to the relayer genesis; they
// take part in sessions from the first block. OperatorAddress may be the
// name of a funded account; a zero Stake means params.MinSupplierStake. The
// stakes are added to the relayer module account's bank balance.
func WithGenesisSuppliers(suppliers ...types.Supplier) Option {
	return func(o *options) { o.suppliers = append(o.suppliers, suppliers...) }
}

// WithFundedAccounts creates a key per name in the validator's keyring and
// funds it in genesis with the account balance (WithAccountBalance).
func WithFundedAccounts(names ...string) Option {
	return func(o *options) { o.funded = append(o.funded, names...) }
}

// WithAccountBalance sets the upokt balance of every funded account.
func WithAccountBalance(upokt sdkmath.Int) Option { return func(o *options) { o.balance = upokt } }

// WithBlockTime sets CometBFT's timeout_commit, roughly the block interval.
func WithBlockTime(d time.Duration) Option { return func(o *options) { o.blockTime = d } }

// WithChainID sets the chain id.
func WithChainID(id string) Option { return func(o *options) { o.chainID = id } }

// WithGasLimit sets the gas limit of the txs SendTx builds.
func WithGasLimit(gas uint64) Option { return func(o *options) { o.gasLimit = gas } }

// WithTxTimeout sets how long SendTx waits for a tx to be in a block.
func WithTxTimeout(d time.Duration) Option { return func(o *options) { o.txTimeout = d } }

// WithLogging writes the validator's logs to stdout.
func WithLogging() Option { return func(o *options) { o.logging = true } }

// WithGenesisModifier edits the app genesis (module name to JSON) after
// this package has written its own entries; it runs in the order given.
func WithGenesisModifier(f func(cdc codec.JSONCodec, genesis map[string]json.RawMessage)) Option {
	return func(o *options) { o.genesisModifiers = append(o.genesisModifiers, f) }
}

// account is a key made before the chain starts.
type account struct {
	address  sdk.AccAddress
	mnemonic string
}

// Network is a running single-validator chain.
type Network struct {
	// SDK is the underlying cosmos-sdk network; Validator is its only
	// validator. Prefer the methods below; these are for what they lack.
	SDK       *sdknetwork.Network
	Validator *sdknetwork.Validator

	chainID       string
	blockTime     time.Duration
	gasLimit      uint64
	txTimeout     time.Duration
	genesisParams types.Params
	accounts      map[string]account // funded accounts and the validator
	cliHome       string
	grpcConn      *grpc.ClientConn

	sendMu   sync.Mutex
	signerMu map[string]*sync.Mutex
	subSeq   sync.Mutex
	subNext  int
}

// The cosmos-sdk network holds a package mutex while it runs; see doc.go.
var (
	processMu     sync.Mutex
	runningTest   string // test whose network is running, "" if none
	failedToStart error  // a start failure left the cosmos-sdk mutex held
)

// validatorAlias is the validator's key name (the cosmos-sdk network's
// moniker of validator 0).
const validatorAlias = "node0"

// New starts a network and stops it when t ends. It fails t if the network
// cannot start or another network of this process is running.
func New(t testing.TB, opts ...Option) *Network {
	t.Helper()
	o := options{
		params:    DefaultParams(),
		balance:   DefaultAccountBalance,
		blockTime: DefaultBlockTime,
		chainID:   DefaultChainID,
		gasLimit:  DefaultGasLimit,
		txTimeout: DefaultTxTimeout,
	}
	for _, opt := range opts {
		opt(&o)
	}

	processMu.Lock()
	switch {
	case failedToStart != nil:
		processMu.Unlock()
		t.Fatalf("testutil/network: an earlier network of this process failed to start and still holds the cosmos-sdk network lock: %v", failedToStart)
	case runningTest != "":
		other := runningTest
		processMu.Unlock()
		t.Fatalf("testutil/network: test %s already runs a network in this process; the cosmos-sdk allows one at a time (start one network per test binary and share it through subtests)", other)
	}
	runningTest = t.Name()
	processMu.Unlock()
	started := false
	defer func() {
		if !started {
			processMu.Lock()
			runningTest = ""
			processMu.Unlock()
		}
	}()

	app.SetAddressPrefixes()
	cfg, err := sdknetwork.DefaultConfigWithAppConfig(app.Config)
	if err != nil {
		t.Fatalf("testutil/network: config: %v", err)
	}
	n := &Network{
		chainID:   o.chainID,
		blockTime: o.blockTime,
		gasLimit:  o.gasLimit,
		txTimeout: o.txTimeout,
		accounts:  map[string]account{},
		cliHome:   t.TempDir(),
		signerMu:  map[string]*sync.Mutex{},
	}

	// The validator's key is made here too, so that genesis can name it.
	valAddr, valMnemonic, err := sdktestutil.GenerateCoinKey(hd.Secp256k1, cfg.Codec)
	if err != nil {
		t.Fatalf("testutil/network: validator key: %v", err)
	}
	n.accounts[validatorAlias] = account{address: valAddr, mnemonic: valMnemonic}

	cfg.ChainID = o.chainID
	cfg.NumValidators = 1
	cfg.Mnemonics = []string{valMnemonic}
	cfg.TimeoutCommit = o.blockTime
	cfg.BondDenom = app.BondDenom
	cfg.MinGasPrices = "0" + app.BondDenom
	cfg.EnableLogging = o.logging
	cfg.AppConstructor = appConstructor(o.chainID)
	for _, addr := range []*string{&cfg.RPCAddress, &cfg.APIAddress, &cfg.GRPCAddress} {
		port, err := freePort()
		if err != nil {
			t.Fatalf("testutil/network: free port: %v", err)
		}
		*addr = "tcp://127.0.0.1:" + port
	}
	cfg.GRPCAddress = strings.TrimPrefix(cfg.GRPCAddress, "tcp://")

	params, err := n.buildGenesis(cfg.Codec, cfg.GenesisState, o)
	if err != nil {
		t.Fatalf("testutil/network: genesis: %v", err)
	}
	n.genesisParams = params

	sdkNet, err := sdknetwork.New(t, t.TempDir(), cfg)
	if err != nil {
		processMu.Lock()
		failedToStart = err
		processMu.Unlock()
		started = true // the lock stays taken: see failedToStart
		t.Fatalf("testutil/network: start: %v", err)
	}
	started = true
	n.SDK = sdkNet
	n.Validator = sdkNet.Validators[0]
	t.Cleanup(func() {
		sdkNet.Cleanup()
		processMu.Lock()
		runningTest = ""
		processMu.Unlock()
	})

	kr := n.Validator.ClientCtx.Keyring
	for name, acc := range n.accounts {
		if name == validatorAlias {
			continue // the cosmos-sdk network saved it
		}
		if _, err := kr.NewAccount(name, acc.mnemonic, keyring.DefaultBIP39Passphrase, sdk.GetConfig().GetFullBIP44Path(), hd.Secp256k1); err != nil {
			t.Fatalf("testutil/network: import key %q: %v", name, err)
		}
	}

	conn, err := grpc.NewClient(n.GRPCAddress(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(codec.NewProtoCodec(cfg.InterfaceRegistry).GRPCCodec())),
	)
	if err != nil {
		t.Fatalf("testutil/network: gRPC client: %v", err)
	}
	n.grpcConn = conn
	t.Cleanup(func() { _ = conn.Close() })
	return n
}

// appConstructor builds the real app (app.New), as poktrolld start does.
func appConstructor(chainID string) sdknetwork.AppConstructor {
	return func(val sdknetwork.ValidatorI) servertypes.Application {
		a, err := app.New(val.GetCtx().Logger, dbm.NewMemDB(), nil, true, val.GetCtx().Viper,
			baseapp.SetPruning(pruningtypes.NewPruningOptionsFromString(val.GetAppConfig().Pruning)),
			baseapp.SetMinGasPrices(val.GetAppConfig().MinGasPrices),
			baseapp.SetChainID(chainID),
		)
		if err != nil {
			panic(err)
		}
		return a
	}
}

// addAccount makes (once) the key of a funded account.
func (n *Network) addAccount(cdc codec.Codec, name string) (sdk.AccAddress, error) {
	if acc, ok := n.accounts[name]; ok {
		return acc.address, nil
	}
	addr, mnemonic, err := sdktestutil.GenerateCoinKey(hd.Secp256k1, cdc)
	if err != nil {
		return nil, err
	}
	n.accounts[name] = account{address: addr, mnemonic: mnemonic}
	return addr, nil
}

// resolve turns a bech32 address or an account name into an address.
func (n *Network) resolve(cdc codec.Codec, nameOrAddr string) (string, error) {
	if _, err := sdk.AccAddressFromBech32(nameOrAddr); err == nil {
		return nameOrAddr, nil
	}
	if nameOrAddr == "" {
		return "", errors.New("empty account name")
	}
	addr, err := n.addAccount(cdc, nameOrAddr)
	if err != nil {
		return "", err
	}
	return addr.String(), nil
}

// buildGenesis writes the denoms, the relayer genesis and the funded
// accounts into genesis; it returns the relayer params.
func (n *Network) buildGenesis(cdc codec.Codec, genesis map[string]json.RawMessage, o options) (types.Params, error) {
	for _, name := range o.funded {
		if _, err := n.resolve(cdc, name); err != nil {
			return types.Params{}, fmt.Errorf("funded account %q: %w", name, err)
		}
	}

	relayerGen := types.DefaultGenesis()
	relayerGen.Params = o.params
	for _, s := range o.services {
		if s.OwnerAddress == "" {
			s.OwnerAddress = n.accounts[validatorAlias].address.String()
		}
		owner, err := n.resolve(cdc, s.OwnerAddress)
		if err != nil {
			return types.Params{}, fmt.Errorf("service %q owner: %w", s.Id, err)
		}
		s.OwnerAddress = owner
		if s.Name == "" {
			s.Name = s.Id
		}
		if s.ComputeUnitsPerRelay == 0 {
			s.ComputeUnitsPerRelay = 1
		}
		relayerGen.Services = append(relayerGen.Services, s)
	}
	escrow := sdk.NewCoins()
	for _, a := range o.apps {
		addr, err := n.resolve(cdc, a.Address)
		if err != nil {
			return types.Params{}, fmt.Errorf("genesis application: %w", err)
		}
		a.Address = addr
		if a.Stake.Denom == "" {
			a.Stake = o.params.MinApplicationStake
		}
		escrow = escrow.Add(a.Stake)
		relayerGen.Applications = append(relayerGen.Applications, a)
	}
	for _, s := range o.suppliers {
		addr, err := n.resolve(cdc, s.OperatorAddress)
		if err != nil {
			return types.Params{}, fmt.Errorf("genesis supplier: %w", err)
		}
		s.OperatorAddress = addr
		if s.Stake.Denom == "" {
			s.Stake = o.params.MinSupplierStake
		}
		escrow = escrow.Add(s.Stake)
		relayerGen.Suppliers = append(relayerGen.Suppliers, s)
	}
	if err := relayerGen.Validate(); err != nil {
		return types.Params{}, err
	}
	genesis[types.ModuleName] = cdc.MustMarshalJSON(relayerGen)

	// Denoms: everything is upokt.
	var staking stakingtypes.GenesisState
	cdc.MustUnmarshalJSON(genesis[stakingtypes.ModuleName], &staking)
	staking.Params.BondDenom = app.BondDenom
	genesis[stakingtypes.ModuleName] = cdc.MustMarshalJSON(&staking)

	var mint minttypes.GenesisState
	cdc.MustUnmarshalJSON(genesis[minttypes.ModuleName], &mint)
	mint.Params.MintDenom = app.BondDenom
	genesis[minttypes.ModuleName] = cdc.MustMarshalJSON(&mint)

	var gov govv1.GenesisState
	cdc.MustUnmarshalJSON(genesis["gov"], &gov)
	if gov.Params != nil {
		for i := range gov.Params.MinDeposit {
			gov.Params.MinDeposit[i].Denom = app.BondDenom
		}
		for i := range gov.Params.ExpeditedMinDeposit {
			gov.Params.ExpeditedMinDeposit[i].Denom = app.BondDenom
		}
	}
	genesis["gov"] = cdc.MustMarshalJSON(&gov)

	// Funded accounts: an auth account and a balance each (the validator's
	// are added by the cosmos-sdk network).
	var auth authtypes.GenesisState
	cdc.MustUnmarshalJSON(genesis[authtypes.ModuleName], &auth)
	var bank banktypes.GenesisState
	cdc.MustUnmarshalJSON(genesis[banktypes.ModuleName], &bank)
	var genAccounts authtypes.GenesisAccounts
	for _, name := range n.sortedAccountNames() {
		if name == validatorAlias {
			continue
		}
		addr := n.accounts[name].address
		genAccounts = append(genAccounts, authtypes.NewBaseAccount(addr, nil, uint64(len(auth.Accounts)+len(genAccounts)+1), 0))
		bank.Balances = append(bank.Balances, banktypes.Balance{
			Address: addr.String(),
			Coins:   sdk.NewCoins(sdk.NewCoin(app.BondDenom, o.balance)),
		})
	}
	packed, err := authtypes.PackAccounts(genAccounts)
	if err != nil {
		return types.Params{}, err
	}
	auth.Accounts = append(auth.Accounts, packed...)
	genesis[authtypes.ModuleName] = cdc.MustMarshalJSON(&auth)
	if !escrow.IsZero() {
		bank.Balances = append(bank.Balances, banktypes.Balance{
			Address: authtypes.NewModuleAddress(types.ModuleName).String(),
			Coins:   escrow,
		})
	}
	genesis[banktypes.ModuleName] = cdc.MustMarshalJSON(&bank)

	for _, f := range o.genesisModifiers {
		f(cdc, genesis)
	}
	return relayerGen.Params, nil
}

// sortedAccountNames lists the account names in a fixed order, so that
// account numbers do not depend on map order.
func (n *Network) sortedAccountNames() []string {
	return slices.Sorted(maps.Keys(n.accounts))
}

// ChainID is the network's chain id.
func (n *Network) ChainID() string { return n.chainID }

// BlockTime is the configured timeout_commit, roughly the block interval.
func (n *Network) BlockTime() time.Duration { return n.blockTime }

// GenesisParams are the relayer params the chain started with.
func (n *Network) GenesisParams() types.Params { return n.genesisParams }

// ValidatorName is the validator's key name in the keyring.
func (n *Network) ValidatorName() string { return validatorAlias }

// Address is the bech32 address of a funded account (or of the validator,
// ValidatorName) or, failing that, of any key in the keyring. It panics on
// an unknown name.
func (n *Network) Address(name string) string { return n.AccAddress(name).String() }

// AccAddress is Address as an sdk.AccAddress.
func (n *Network) AccAddress(name string) sdk.AccAddress {
	if acc, ok := n.accounts[name]; ok {
		return acc.address
	}
	rec, err := n.Keyring().Key(name)
	if err != nil {
		panic(fmt.Sprintf("testutil/network: no account %q: %v", name, err))
	}
	addr, err := rec.GetAddress()
	if err != nil {
		panic(fmt.Sprintf("testutil/network: account %q: %v", name, err))
	}
	return addr
}

// Mnemonic is the mnemonic of a funded account or of the validator; it
// panics on an unknown name.
func (n *Network) Mnemonic(name string) string {
	acc, ok := n.accounts[name]
	if !ok {
		panic(fmt.Sprintf("testutil/network: no account %q", name))
	}
	return acc.mnemonic
}

// ClientCtx is the validator's client context: codec, tx config, keyring,
// chain id and the in-process CometBFT RPC client (queries made through it
// go over ABCI).
func (n *Network) ClientCtx() client.Context { return n.Validator.ClientCtx }

// Codec is the app's codec.
func (n *Network) Codec() codec.Codec { return n.Validator.ClientCtx.Codec }

// Keyring is the validator's keyring ("test" backend, at KeyringDir).
func (n *Network) Keyring() keyring.Keyring { return n.Validator.ClientCtx.Keyring }

// KeyringDir is the directory of the validator's keyring: pass it as
// --keyring-dir with --keyring-backend test.
func (n *Network) KeyringDir() string { return n.Validator.ClientCtx.KeyringDir }

// HomeDir is the validator node's home (config/, data/).
func (n *Network) HomeDir() string { return n.Validator.ClientCtx.HomeDir }

// RPCClient is the in-process CometBFT RPC client of the validator.
func (n *Network) RPCClient() cmtclient.Client { return n.Validator.RPCClient }

// RPCURL is the CometBFT RPC endpoint, e.g. http://127.0.0.1:PORT; its
// websocket is at RPCURL()+"/websocket".
func (n *Network) RPCURL() string {
	return "http://" + strings.TrimPrefix(n.Validator.RPCAddress, "tcp://")
}

// GRPCAddress is host:port of the app's gRPC server.
func (n *Network) GRPCAddress() string { return n.Validator.AppConfig.GRPC.Address }

// GRPCConn is a client connection to the app's gRPC server, using the app's
// codec; it is closed when the test ends.
func (n *Network) GRPCConn() *grpc.ClientConn { return n.grpcConn }

// APIURL is the REST (gRPC gateway) endpoint, e.g. http://127.0.0.1:PORT.
func (n *Network) APIURL() string { return n.Validator.APIAddress }

// QueryConn runs queries as ABCI queries through the node's CometBFT RPC.
// Prefer it to GRPCConn in tests: Cosmos SDK v0.50's gRPC query path reads
// store state without a lock while blocks commit (cosmos-sdk#22650), which
// the race detector reports; ABCI queries are serialized with commits.
func (n *Network) QueryConn() gogogrpc.ClientConn {
	ctx := n.Validator.ClientCtx
	return client.Context{}.WithClient(n.Validator.RPCClient).WithCodec(ctx.Codec).
		WithInterfaceRegistry(ctx.InterfaceRegistry).WithChainID(n.chainID)
}

// RelayerQuery is a relayer query client (over QueryConn).
func (n *Network) RelayerQuery() types.QueryClient { return types.NewQueryClient(n.QueryConn()) }

// LatestHeight is the height of the last block the app committed: the
// height queries see. (CometBFT's status can be one block ahead: it stores a
// block before the app commits it.)
func (n *Network) LatestHeight() (int64, error) {
	info, err := n.Validator.RPCClient.ABCIInfo(context.Background())
	if err != nil {
		return 0, err
	}
	return info.Response.LastBlockHeight, nil
}

// WaitForHeight waits until block h is committed and returns the latest
// height. It gives up after 10s plus three block times per missing block.
func (n *Network) WaitForHeight(h int64) (int64, error) {
	cur, err := n.LatestHeight()
	if err != nil {
		return cur, err
	}
	timeout := 10 * time.Second
	if missing := h - cur; missing > 0 {
		timeout += time.Duration(missing) * 3 * n.blockTime
	}
	return n.WaitForHeightWithTimeout(h, timeout)
}

// WaitForHeightWithTimeout waits until block h is committed, at most timeout.
func (n *Network) WaitForHeightWithTimeout(h int64, timeout time.Duration) (int64, error) {
	var cur int64
	err := pollUntil(timeout, n.pollInterval(), func() (bool, error) {
		var err error
		cur, err = n.LatestHeight()
		return err == nil && cur >= h, nil
	})
	if err != nil {
		return cur, fmt.Errorf("waiting for height %d (at %d): %w", h, cur, err)
	}
	return cur, nil
}

// WaitForNextBlock waits for one more block and returns its height.
func (n *Network) WaitForNextBlock() (int64, error) {
	cur, err := n.LatestHeight()
	if err != nil {
		return cur, err
	}
	return n.WaitForHeight(cur + 1)
}

func (n *Network) pollInterval() time.Duration {
	d := n.blockTime / 10
	if d < 10*time.Millisecond {
		d = 10 * time.Millisecond
	}
	if d > 100*time.Millisecond {
		d = 100 * time.Millisecond
	}
	return d
}

// errTimeout is what pollUntil returns when the condition never held.
var errTimeout = errors.New("timed out")

// pollUntil calls cond every interval until it holds, fails, or timeout
// passes.
func pollUntil(timeout, interval time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return errTimeout
		}
		time.Sleep(interval)
	}
}

// freePort asks the OS for a free port on 127.0.0.1.
func freePort() (string, error) {
	_, port, closeFn, err := sdknetwork.FreeTCPAddr()
	if err != nil {
		return "", err
	}
	return port, closeFn()
}
