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

	"github.com/pokt-network/poktroll/x/relayer/appgate"
	"github.com/pokt-network/poktroll/x/relayer/appgate/config"
)

// AppGateCmd is `poktrolld appgate`, the application's relay gateway.
func AppGateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "appgate",
		Short: "Serve plain HTTP for a staked application, relayed through its sessions' suppliers",
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(appGateStartCmd())
	return cmd
}

func appGateStartCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "start --config appgate.yaml",
		Short: "Start the AppGate",
		Long: `Start the AppGate: serve http://<listen>/<service_id>/... for the services in
the config. Each request is signed as the application (its key is read from the
keyring: --home, --keyring-backend, --keyring-dir), sent as a relay to a
supplier of the application's current session, and answered with the backend's
verified response; a failing supplier is retried on another. Errors of the
AppGate itself are JSON: {"error": {"code": ..., "message": ...}}.
Stops cleanly on SIGINT or SIGTERM.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true // the flags parsed: what fails now is not their usage
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
			poll, _ := cmd.Flags().GetDuration(flagPollInterval)
			logger := server.GetServerContextFromCmd(cmd).Logger
			ag := appgate.New(cfg, appgate.Deps{
				Keyring: clientCtx.Keyring, Codec: clientCtx.Codec, Logger: logger, PollInterval: poll,
			})
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := ag.Start(ctx); err != nil {
				return err
			}
			<-ctx.Done()
			logger.Info("stopping appgate")
			shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			return ag.Stop(shutdown)
		},
	}
	cmd.Flags().String(flagConfig, "", "path of the AppGate YAML config (see x/relayer/appgate/config/appgate.example.yaml)")
	cmd.Flags().Duration(flagPollInterval, 2*time.Second, "how often to poll the node for blocks when the websocket is quiet")
	flags.AddKeyringFlags(cmd.Flags())
	return cmd
}
