package cli

import (
	"github.com/spf13/cobra"

	"github.com/pokt-network/poktroll/x/relayer/appgate"
	"github.com/pokt-network/poktroll/x/relayer/appgate/config"
)

// AppGateCmd is `poktrolld appgate`, the application's relay gateway.
func AppGateCmd() *cobra.Command {
	return daemonCmd(daemonSpec{
		use:   "appgate",
		short: "Serve plain HTTP for a staked application, relayed through its sessions' suppliers",
		name:  "AppGate",
		startLong: `Start the AppGate: serve http://<listen>/<service_id>/... for the services in
the config. Each request is signed as the application (its key is read from the
keyring: --home, --keyring-backend, --keyring-dir), sent as a relay to a
supplier of the application's current session, and answered with the backend's
verified response; a failing supplier is retried on another. Errors of the
AppGate itself are JSON: {"error": {"code": ..., "message": ...}}.
Stops cleanly on SIGINT or SIGTERM.`,
		exampleConfig: "x/relayer/appgate/config/appgate.example.yaml",
		build: func(_ *cobra.Command, dc daemonContext) (daemon, error) {
			cfg, err := config.Load(dc.configPath)
			if err != nil {
				return nil, err
			}
			return appgate.New(cfg, appgate.Deps{
				Keyring: dc.client.Keyring, Codec: dc.client.Codec, Logger: dc.logger, PollInterval: dc.poll,
			}), nil
		},
	})
}
