package cli

import (
	"github.com/cosmos/cosmos-sdk/client/flags"
	"github.com/spf13/cobra"

	"github.com/pokt-network/poktroll/x/relayer/relayminer"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/config"
)

// RelayMinerCmd is `poktrolld relayminer`, the supplier's relay miner.
func RelayMinerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "relayminer",
		Short: "Serve relays for staked suppliers and get paid for them on chain",
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(relayMinerStartCmd())
	return cmd
}

func relayMinerStartCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "start --config relayminer.yaml",
		Short: "Start the RelayMiner",
		Long: `Start the RelayMiner: serve relays for the suppliers in the config, record
every served relay in its session's tree, and claim and prove each session on
chain. The supplier keys are read from the keyring (--home, --keyring-backend);
each must be staked for the services it is configured to serve. Stops cleanly
on SIGINT or SIGTERM; after a crash, start it again on the same store.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dc, err := readDaemonFlags(cmd)
			if err != nil {
				return err
			}
			cfg, err := config.Load(dc.configPath)
			if err != nil {
				return err
			}
			if chainID, _ := cmd.Flags().GetString(flags.FlagChainID); chainID != "" {
				cfg.Chain.ChainID = chainID
			}
			return runDaemon(cmd, "relayminer", dc.logger, relayminer.New(cfg, relayminer.Deps{
				Keyring: dc.client.Keyring, Codec: dc.client.Codec, TxConfig: dc.client.TxConfig,
				Logger: dc.logger, PollInterval: dc.poll,
			}))
		},
	}
	addDaemonFlags(cmd, "RelayMiner", "x/relayer/relayminer/config/relayminer.example.yaml")
	cmd.Flags().String(flags.FlagChainID, "", "chain id (overrides chain.chain_id; default: read from the node)")
	return cmd
}
