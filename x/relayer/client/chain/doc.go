// Package chain is the off-chain daemons' view of the chain (the RelayMiner
// and the AppGate both use it): cached queries over gRPC or ABCI (params,
// services, sessions, account keys, block hashes), the chain's answers
// about claims, proofs and settlements, a block follower, and a tx
// submitter that signs with the keyring, tracks account sequences, waits
// for inclusion and says when a tx can no longer land. It knows no daemon:
// each passes its own subscriber name (WithSubscriber) and observers.
//
// Refusals come back as the module's registered errors, recognised by
// codes (a gRPC NotFound, the SDK's key-not-found) or explained from the
// chain's state (CurrentSession), never by reading error text.
//
// The block follower (FollowBlocks, follow.go) hands out every height in
// order, each once, even across disconnects. It learns of new blocks from
// its own websocket subscription to NewBlockHeader events (ws.go: one
// reader goroutine owns the event channel and closes it when it stops, a
// second pings the node and is the only one to close the connection), and
// polls the node's status as a fallback; heights it missed are fetched by
// query. A lost subscription is redialed after 100 ms, doubling up to 1 s.
// CometBFT's rpc/client/http is used for plain HTTP calls only: its
// websocket client, which can panic on a lost connection, is never started.
// GRPCReconnect bounds the reconnection of a gRPC query connection the same
// way.
//
// It must never decide protocol rules: it only reads and writes chain state.
package chain
