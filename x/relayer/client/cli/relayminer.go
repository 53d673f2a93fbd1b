package cli

import (
	"github.com/cosmos/cosmos-sdk/client/flags"
	"github.com/spf13/cobra"

	"github.com/pokt-network/poktroll/x/relayer/relayminer"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/config"
)

// RelayMinerCmd is `poktrolld relayminer`, the supplier's relay miner.
func RelayMinerCmd() *cobra.Command {
	return daemonCmd(daemonSpec{
		use:   "relayminer",
		short: "Serve relays for staked suppliers and get paid for them on chain",
		name:  "RelayMiner",
		startLong: `Start the RelayMiner: serve relays for the suppliers in the config, record
every served relay in its session's tree, and claim and prove each session on
chain. The supplier keys are read from the keyring (--home, --keyring-backend);
each must be staked for the services it is configured to serve. Stops cleanly
on SIGINT or SIGTERM; after a crash, start it again on the same store.`,
		exampleConfig: "x/relayer/relayminer/config/relayminer.example.yaml",
		addFlags: func(cmd *cobra.Command) {
			cmd.Flags().String(flags.FlagChainID, "", "chain id (overrides chain.chain_id; default: read from the node)")
			cmd.Flags().String(flagMemoryLimit, relayminer.DefaultMemoryLimit,
				"soft memory limit of the process (Go's GOMEMLIMIT; GOMEMLIMIT in the environment wins): a size such as 200MiB or 1GiB, or off")
		},
		build: func(cmd *cobra.Command, dc daemonContext) (daemon, error) {
			cfg, err := config.Load(dc.configPath)
			if err != nil {
				return nil, err
			}
			memLimit, _ := cmd.Flags().GetString(flagMemoryLimit)
			if err := applyMemoryLimit(memLimit, dc.logger); err != nil {
				return nil, err
			}
			if chainID, _ := cmd.Flags().GetString(flags.FlagChainID); chainID != "" {
				cfg.Chain.ChainID = chainID
			}
			return relayminer.New(cfg, relayminer.Deps{
				Keyring: dc.client.Keyring, Codec: dc.client.Codec, TxConfig: dc.client.TxConfig,
				Logger: dc.logger, PollInterval: dc.poll,
			}), nil
		},
	})
}
