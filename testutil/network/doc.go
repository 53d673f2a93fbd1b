// Package network starts an in-process poktroll chain for tests: one
// validator running the real app (app.New with app.Config) on top of the
// cosmos-sdk testutil/network package, with ~500ms blocks.
//
//	n := network.New(t,
//		network.WithServices(types.Service{Id: "eth", ComputeUnitsPerRelay: 1}),
//		network.WithFundedAccounts("app1", "sup1"),
//	)
//	res := n.MustSendTx(t, "app1", &types.MsgStakeApplication{Address: n.Address("app1"), ...})
//	var out types.MsgStakeApplicationResponse
//	n.MsgResponse(t, res, 0, &out)
//	_, err := n.WaitForHeight(out.ActivationHeight)
//
// # Genesis
//
// The bond, mint and gov denoms are app.BondDenom (upokt) and the relayer
// module starts with DefaultParams (types.DefaultParams: 4-block sessions and
// 1-4 block windows, so a whole claim/proof lifecycle takes ~15 blocks).
// WithParams replaces them. WithServices, WithGenesisApplications and
// WithGenesisSuppliers put entries in the relayer genesis; the stakes of
// genesis applications and suppliers are added to the bank balance of the
// relayer module account (authtypes.NewModuleAddress("relayer")), as
// keeper.InitGenesis requires. An address field of a genesis entry may hold
// a bech32 address or the name of an account: a name becomes a funded
// keyring account (see below).
//
// # Accounts and keyring
//
// WithFundedAccounts(names...) creates one secp256k1 key per name, funds it
// in bank genesis (DefaultAccountBalance upokt, see WithAccountBalance) and
// gives it an auth account, so it can sign from the first block. The keys
// are generated before the chain starts and imported into the validator's
// keyring afterwards, which is a "test" backend keyring (no passphrase) at
// KeyringDir(); the validator's own key is ValidatorName() ("node0") in the
// same keyring. Address(name) and Mnemonic(name) look them up.
//
// # Transactions, blocks and events
//
// SendTx signs with the keyring (account number and sequence read from the
// chain), broadcasts in sync mode and polls the tx index until the tx is in a
// block; it returns the result whatever its code, so tests can assert
// rejections (Code, Codespace). MustSendTx fails the test on a non-zero
// code. Fees are zero (min gas price 0upokt) and the gas limit is fixed
// (DefaultGasLimit), so a tx that would fail in simulation still reaches a
// block and reports the module's error code. Txs of one signer are
// serialized by SendTx; txs of different signers may be sent concurrently.
//
// LatestHeight is the app's last committed height (ABCI info), the height
// queries see; WaitForHeight and WaitForNextBlock poll it.
// WaitForEvent and SubscribeEvents use the CometBFT event bus (the
// validator's in-process RPC client); an event published before the
// subscription is not seen, so subscribe first when the event may already
// be under way.
//
// # Endpoints
//
// RPCURL (CometBFT RPC, http and websocket), GRPCAddress / GRPCConn (the
// app's gRPC server) and APIURL (REST) listen on 127.0.0.1. ExecCLI runs a
// cobra root command (e.g. poktrolld's cmd.NewRootCmd()) the way main does,
// with its own --home; QueryFlags and TxFlags give the flags that point it
// at this network.
//
// # One network per process
//
// The cosmos-sdk network keeps a package-level mutex that New takes and
// Cleanup releases: only one network can run in a process at a time, and a
// second network.New in the same process blocks (deadlocks the test) until
// the first is cleaned up. This package turns that into a fast failure: New
// fails the test if another network of this process is still running. So
// keep one network per test binary: one top-level test with subtests (or
// sequential tests, each cleaning up its network before the next starts),
// never t.Parallel tests that each start a network. If the cosmos-sdk
// network fails to start, it returns without releasing its mutex (and may
// leave goroutines running), so every later New of the process fails.
//
// Ports come from the OS (127.0.0.1:0) just before start, and the cosmos-sdk
// reserves its P2P and ABCI proxy ports when its package loads; another
// process may grab one in between, which makes the start fail. Rerun.
package network
