package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/flags"
	"github.com/cosmos/cosmos-sdk/server"
	"github.com/spf13/cobra"

	"github.com/pokt-network/poktroll/x/relayer/relayminer"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/config"
)

const (
	flagConfig       = "config"
	flagPollInterval = "poll-interval"
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
			cmd.SilenceUsage = true // errors from here on are not usage errors
			clientCtx, err := client.GetClientQueryContext(cmd)
			if err != nil {
				return err
			}
			path, _ := cmd.Flags().GetString(flagConfig)
			if path == "" {
				return fmt.Errorf("--%s is required", flagConfig)
			}
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			if chainID, _ := cmd.Flags().GetString(flags.FlagChainID); chainID != "" {
				cfg.Chain.ChainID = chainID
			}
			poll, _ := cmd.Flags().GetDuration(flagPollInterval)
			logger := server.GetServerContextFromCmd(cmd).Logger
			rm := relayminer.New(cfg, relayminer.Deps{
				Keyring: clientCtx.Keyring, Codec: clientCtx.Codec, TxConfig: clientCtx.TxConfig,
				Logger: logger, PollInterval: poll,
			})
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := rm.Start(ctx); err != nil {
				return err
			}
			<-ctx.Done()
			logger.Info("stopping relayminer")
			shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			return rm.Stop(shutdown)
		},
	}
	cmd.Flags().String(flagConfig, "", "path of the RelayMiner YAML config (see x/relayer/relayminer/config/relayminer.example.yaml)")
	cmd.Flags().String(flags.FlagChainID, "", "chain id (overrides chain.chain_id; default: read from the node)")
	cmd.Flags().Duration(flagPollInterval, 2*time.Second, "how often to poll the node for blocks when the websocket is quiet")
	flags.AddKeyringFlags(cmd.Flags())
	return cmd
}
