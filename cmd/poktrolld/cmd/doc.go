// Package cmd builds the poktrolld root command: the Cosmos SDK's node,
// keys, genesis, tx and query commands, autocli commands of every module, and
// the relayer module's off-chain commands (relayminer).
package cmd
