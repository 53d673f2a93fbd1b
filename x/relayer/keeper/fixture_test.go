package keeper_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"os"
	"testing"

	"cosmossdk.io/core/header"
	errorsmod "cosmossdk.io/errors"
	"cosmossdk.io/log"
	sdkmath "cosmossdk.io/math"
	"cosmossdk.io/store"
	"cosmossdk.io/store/metrics"
	storetypes "cosmossdk.io/store/types"
	abci "github.com/cometbft/cometbft/abci/types"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	dbm "github.com/cosmos/cosmos-db"
	"github.com/cosmos/cosmos-sdk/codec"
	codectypes "github.com/cosmos/cosmos-sdk/codec/types"
	"github.com/cosmos/cosmos-sdk/crypto/keys/secp256k1"
	cryptotypes "github.com/cosmos/cosmos-sdk/crypto/types"
	"github.com/cosmos/cosmos-sdk/runtime"
	sdk "github.com/cosmos/cosmos-sdk/types"
	sdkerrors "github.com/cosmos/cosmos-sdk/types/errors"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"
	"github.com/cosmos/gogoproto/proto"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/keeper"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

const denom = types.DefaultDenom

// TestMain sets the chain's bech32 prefixes (what app.SetAddressPrefixes
// does), without pulling the whole app into the test binary.
func TestMain(m *testing.M) {
	cfg := sdk.GetConfig()
	cfg.SetBech32PrefixForAccount("pokt", "poktpub")
	cfg.SetBech32PrefixForValidator("poktvaloper", "poktvaloperpub")
	cfg.SetBech32PrefixForConsensusNode("poktvalcons", "poktvalconspub")
	os.Exit(m.Run())
}

// ---------------------------------------------------------------------------
// Fake x/bank and x/auth.

// fakeBank keeps balances per account address and per module account, and
// burns out of module accounts. It implements types.BankKeeper exactly.
type fakeBank struct {
	accounts map[string]sdk.Coins // bech32 address -> balance
	modules  map[string]sdk.Coins // module name -> balance
	burned   sdk.Coins
}

var _ types.BankKeeper = (*fakeBank)(nil)

func newFakeBank() *fakeBank {
	return &fakeBank{accounts: map[string]sdk.Coins{}, modules: map[string]sdk.Coins{}}
}

func debit(bal sdk.Coins, amt sdk.Coins, who string) (sdk.Coins, error) {
	if err := amt.Validate(); err != nil {
		return nil, errorsmod.Wrap(sdkerrors.ErrInvalidCoins, err.Error())
	}
	if !bal.IsAllGTE(amt) {
		return nil, errorsmod.Wrapf(sdkerrors.ErrInsufficientFunds, "%s: spendable balance %s is smaller than %s", who, bal, amt)
	}
	return bal.Sub(amt...), nil
}

func (b *fakeBank) SendCoinsFromAccountToModule(_ context.Context, sender sdk.AccAddress, module string, amt sdk.Coins) error {
	bal, err := debit(b.accounts[sender.String()], amt, sender.String())
	if err != nil {
		return err
	}
	b.accounts[sender.String()] = bal
	b.modules[module] = b.modules[module].Add(amt...)
	return nil
}

func (b *fakeBank) SendCoinsFromModuleToAccount(_ context.Context, module string, recipient sdk.AccAddress, amt sdk.Coins) error {
	bal, err := debit(b.modules[module], amt, "module "+module)
	if err != nil {
		return err
	}
	b.modules[module] = bal
	b.accounts[recipient.String()] = b.accounts[recipient.String()].Add(amt...)
	return nil
}

func (b *fakeBank) BurnCoins(_ context.Context, module string, amt sdk.Coins) error {
	bal, err := debit(b.modules[module], amt, "module "+module)
	if err != nil {
		return err
	}
	b.modules[module] = bal
	b.burned = b.burned.Add(amt...)
	return nil
}

func (b *fakeBank) SpendableCoins(_ context.Context, addr sdk.AccAddress) sdk.Coins {
	return b.accounts[addr.String()]
}

// fakeAccounts knows the accounts whose public key was registered.
type fakeAccounts struct {
	pubKeys map[string]cryptotypes.PubKey
	numbers map[string]uint64
}

var _ types.AccountKeeper = (*fakeAccounts)(nil)

func newFakeAccounts() *fakeAccounts {
	return &fakeAccounts{pubKeys: map[string]cryptotypes.PubKey{}, numbers: map[string]uint64{}}
}

func (a *fakeAccounts) register(pk cryptotypes.PubKey) sdk.AccAddress {
	addr := sdk.AccAddress(pk.Address())
	a.pubKeys[addr.String()] = pk
	a.numbers[addr.String()] = uint64(len(a.numbers))
	return addr
}

func (a *fakeAccounts) GetModuleAddress(name string) sdk.AccAddress {
	return authtypes.NewModuleAddress(name)
}

func (a *fakeAccounts) GetAccount(_ context.Context, addr sdk.AccAddress) sdk.AccountI {
	pk, ok := a.pubKeys[addr.String()]
	if !ok {
		return nil
	}
	return authtypes.NewBaseAccount(addr, pk, a.numbers[addr.String()], 0)
}

// ---------------------------------------------------------------------------
// Fixture: a keeper on a real in-memory KV store, driven block by block.

type fixture struct {
	t         *testing.T
	ctx       sdk.Context
	k         keeper.Keeper
	msgs      types.MsgServer
	queries   types.QueryServer
	bank      *fakeBank
	accounts  *fakeAccounts
	authority string
	// serviceOwner owns the services made by addService.
	serviceOwner string

	height int64
	// ended says EndBlocker already ran at height.
	ended bool
}

// blockHashOf is the fixture's block hash of height h.
func blockHashOf(h int64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(h))
	s := sha256.Sum256(b[:])
	return s[:]
}

// testParams are the default params; the windows of the session ending at
// e are (protocol.SessionWindows): grace e+1, claim seed e+2, claims
// e+3..e+7, proof seed e+7, proofs e+8..e+12.
func testParams() types.Params { return types.DefaultParams() }

// newFixture runs InitGenesis (at height 0, as InitChain does) with
// testParams changed by edits, then begins block 1.
func newFixture(t *testing.T, edits ...func(*types.Params)) *fixture {
	t.Helper()
	p := testParams()
	for _, e := range edits {
		e(&p)
	}
	gs := types.GenesisState{Params: p}
	f := newFixtureWithGenesis(t, gs)
	f.advanceTo(1)
	return f
}

// newFixtureWithGenesis runs InitGenesis with gs at height 0.
func newFixtureWithGenesis(t *testing.T, gs types.GenesisState) *fixture {
	t.Helper()
	storeKey := storetypes.NewKVStoreKey(types.StoreKey)
	db := dbm.NewMemDB()
	cms := store.NewCommitMultiStore(db, log.NewNopLogger(), metrics.NewNoOpMetrics())
	cms.MountStoreWithDB(storeKey, storetypes.StoreTypeIAVL, db)
	require.NoError(t, cms.LoadLatestVersion())
	ctx := sdk.NewContext(cms, cmtproto.Header{}, false, log.NewNopLogger()).
		WithBlockHeight(0).WithHeaderInfo(header.Info{Height: 0})

	registry := codectypes.NewInterfaceRegistry()
	types.RegisterInterfaces(registry)
	cdc := codec.NewProtoCodec(registry)

	bank, accounts := newFakeBank(), newFakeAccounts()
	authority := authtypes.NewModuleAddress("gov").String()
	k := keeper.NewKeeper(cdc, runtime.NewKVStoreService(storeKey), accounts, bank, authority)
	require.NoError(t, k.InitGenesis(ctx, gs))

	f := &fixture{
		t:         t,
		ctx:       ctx,
		k:         k,
		msgs:      keeper.NewMsgServer(k),
		queries:   keeper.NewQueryServer(k),
		bank:      bank,
		accounts:  accounts,
		authority: authority,
		ended:     true, // nothing to end at height 0
	}
	f.serviceOwner = f.newAccount("service-owner", 0)
	return f
}

// advanceTo ends the current block and begins every block up to h, the way
// the chain runs BeginBlock / txs / EndBlock. Messages sent after
// advanceTo(h) are delivered in block h, before its EndBlocker.
func (f *fixture) advanceTo(h int64) {
	f.t.Helper()
	require.GreaterOrEqual(f.t, h, f.height, "cannot go back in height")
	for f.height < h {
		f.endBlock()
		f.height++
		f.ctx = f.ctx.WithBlockHeight(f.height).WithHeaderInfo(header.Info{Height: f.height, Hash: blockHashOf(f.height)})
		f.ended = false
		require.NoError(f.t, f.k.BeginBlocker(f.ctx))
	}
}

// endBlock runs EndBlocker at the current height (once).
func (f *fixture) endBlock() {
	f.t.Helper()
	if f.ended {
		return
	}
	require.NoError(f.t, f.k.EndBlocker(f.ctx))
	f.ended = true
}

// resetEvents starts a fresh event manager.
func (f *fixture) resetEvents() {
	f.ctx = f.ctx.WithEventManager(sdk.NewEventManager())
}

// eventsOf returns the typed events of type T emitted since resetEvents.
func eventsOf[T proto.Message](f *fixture) []T {
	f.t.Helper()
	var out []T
	for _, ev := range f.ctx.EventManager().Events() {
		msg, err := sdk.ParseTypedEvent(abci.Event(ev))
		if err != nil {
			continue // untyped event
		}
		if m, ok := msg.(T); ok {
			out = append(out, m)
		}
	}
	return out
}

// newAccount makes a deterministic key named name, registers its public key
// and gives it balance upokt.
func (f *fixture) newAccount(name string, balance int64) string {
	pk := secp256k1.GenPrivKeyFromSecret([]byte(name)).PubKey()
	addr := f.accounts.register(pk).String()
	if balance > 0 {
		f.bank.accounts[addr] = sdk.NewCoins(sdk.NewInt64Coin(denom, balance))
	}
	return addr
}

// balance is addr's upokt balance.
func (f *fixture) balance(addr string) sdkmath.Int {
	return f.bank.accounts[addr].AmountOf(denom)
}

// moduleBalance is the module account's upokt balance.
func (f *fixture) moduleBalance() sdkmath.Int {
	return f.bank.modules[types.ModuleName].AmountOf(denom)
}

func coin(amount int64) sdk.Coin { return sdk.NewInt64Coin(denom, amount) }

// addService creates a service owned by f.serviceOwner.
func (f *fixture) addService(id string, computeUnits uint64) {
	f.t.Helper()
	_, err := f.msgs.AddService(f.ctx, &types.MsgAddService{
		OwnerAddress: f.serviceOwner, ServiceId: id, Name: id + " service", ComputeUnitsPerRelay: computeUnits,
	})
	require.NoError(f.t, err)
}

func (f *fixture) stakeApp(addr string, amount int64, serviceIDs ...string) *types.MsgStakeApplicationResponse {
	f.t.Helper()
	res, err := f.msgs.StakeApplication(f.ctx, &types.MsgStakeApplication{Address: addr, Stake: coin(amount), ServiceIds: serviceIDs})
	require.NoError(f.t, err)
	return res
}

func supplierServices(ids ...string) []types.SupplierService {
	out := make([]types.SupplierService, len(ids))
	for i, id := range ids {
		out[i] = types.SupplierService{ServiceId: id, EndpointUrl: "https://" + id + ".example.com:8545/v1", RpcType: types.RPCType_RPC_TYPE_JSON_RPC}
	}
	return out
}

func (f *fixture) stakeSupplier(addr string, amount int64, serviceIDs ...string) *types.MsgStakeSupplierResponse {
	f.t.Helper()
	res, err := f.msgs.StakeSupplier(f.ctx, &types.MsgStakeSupplier{OperatorAddress: addr, Stake: coin(amount), Services: supplierServices(serviceIDs...)})
	require.NoError(f.t, err)
	return res
}

// malformedAddresses are addresses every message must reject: keyed by
// what is wrong with them.
func malformedAddresses() map[string]string {
	raw := make([]byte, 20)
	for i := range raw {
		raw[i] = byte(i + 1)
	}
	good := sdk.AccAddress(raw).String()
	return map[string]string{
		"empty":        "",
		"garbage":      "not-an-address",
		"wrong prefix": sdk.MustBech32ifyAddressBytes("cosmos", raw),
		"bad checksum": good[:len(good)-1] + flipBech32Char(good[len(good)-1]),
	}
}

func flipBech32Char(c byte) string {
	if c == 'q' {
		return "p"
	}
	return "q"
}
