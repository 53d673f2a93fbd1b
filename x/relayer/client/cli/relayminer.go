package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// RelayMinerCmd is `poktrolld relayminer`, the supplier's relay miner.
func RelayMinerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "relayminer",
		Short: "Serve relays for a staked supplier and get paid for them on chain",
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "start",
		Short: "Start the RelayMiner (not built yet)",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("relayminer start is not built yet: see the RelayMiner issue")
		},
	})
	return cmd
}
