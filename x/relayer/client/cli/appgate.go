package cli

import (
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
			dc, err := readDaemonFlags(cmd)
			if err != nil {
				return err
			}
			cfg, err := config.Load(dc.configPath)
			if err != nil {
				return err
			}
			return runDaemon(cmd, "appgate", dc.logger, appgate.New(cfg, appgate.Deps{
				Keyring: dc.client.Keyring, Codec: dc.client.Codec, Logger: dc.logger, PollInterval: dc.poll,
			}))
		},
	}
	addDaemonFlags(cmd, "AppGate", "x/relayer/appgate/config/appgate.example.yaml")
	return cmd
}
