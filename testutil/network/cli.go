package network

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/flags"
	svrcmd "github.com/cosmos/cosmos-sdk/server/cmd"
	"github.com/spf13/cobra"
)

// ExecCLI runs a root command, e.g. poktrolld's cmd.NewRootCmd(), the way
// poktrolld's main does (svrcmd.Execute), with args and a --home of its own
// (so it never touches ~/.poktroll). It returns what the command printed to
// stdout; on failure the error also holds stderr. Build a fresh root for
// every call: cobra commands keep their parsed flags. Point the command at
// this network with QueryFlags or TxFlags.
func (n *Network) ExecCLI(root *cobra.Command, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	// Client contexts print to os.Stdout unless given an output (tx results
	// do): give them the command's, after the root's own setup.
	if pre := root.PersistentPreRunE; pre != nil {
		root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
			if err := pre(cmd, args); err != nil {
				return err
			}
			return client.SetCmdClientContext(cmd, client.GetClientContextFromCmd(cmd).WithOutput(cmd.OutOrStdout()))
		}
	}
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetArgs(args)
	if err := svrcmd.Execute(root, "POKTROLLD_TESTNET", n.cliHome); err != nil {
		return stdout.String(), fmt.Errorf("%s: %w (stderr: %s)", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// QueryFlags point a query command at this network, with JSON output.
func (n *Network) QueryFlags() []string {
	return []string{"--" + flags.FlagNode, n.RPCURL(), "--" + flags.FlagOutput, flags.OutputFormatJSON}
}

// TxFlags point a tx command at this network, signing with the key from in
// the validator's keyring, skipping the confirmation, at zero fees. The
// command returns after CheckTx (sync mode): wait for the tx with WaitForTx.
func (n *Network) TxFlags(from string) []string {
	return []string{
		"--" + flags.FlagFrom, from,
		"--" + flags.FlagKeyringBackend, "test",
		"--" + flags.FlagKeyringDir, n.KeyringDir(),
		"--" + flags.FlagChainID, n.chainID,
		"--" + flags.FlagNode, n.RPCURL(),
		"--" + flags.FlagBroadcastMode, flags.BroadcastSync,
		"--" + flags.FlagGas, fmt.Sprint(n.gasLimit),
		"--" + flags.FlagOutput, flags.OutputFormatJSON,
		"--" + flags.FlagSkipConfirmation,
	}
}
