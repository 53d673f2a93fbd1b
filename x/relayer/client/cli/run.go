package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"cosmossdk.io/log"
	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/flags"
	"github.com/cosmos/cosmos-sdk/server"
	"github.com/spf13/cobra"
)

const (
	flagConfig       = "config"
	flagPollInterval = "poll-interval"
	// stopTimeout bounds a daemon's shutdown: requests in flight get that
	// long to finish.
	stopTimeout = 30 * time.Second
)

// daemon is what runDaemon runs: a started daemon is stopped on SIGINT or
// SIGTERM.
type daemon interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// daemonSpec describes a daemon's commands: `poktrolld <use>`, whose one
// subcommand is `start --config <file>`.
type daemonSpec struct {
	use, short    string // the parent command
	name          string // the daemon's name in help and logs, e.g. "RelayMiner"
	startLong     string // the start command's help
	exampleConfig string // where an example config lives
	// addFlags declares the start command's own flags, if any.
	addFlags func(cmd *cobra.Command)
	// build loads the config and makes the daemon from the flags read.
	build func(cmd *cobra.Command, dc daemonContext) (daemon, error)
}

// daemonCmd is the command tree of the daemon s describes.
func daemonCmd(s daemonSpec) *cobra.Command {
	cmd := &cobra.Command{
		Use:   s.use,
		Short: s.short,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	start := &cobra.Command{
		Use:   "start --config " + s.use + ".yaml",
		Short: "Start the " + s.name,
		Long:  s.startLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dc, err := readDaemonFlags(cmd)
			if err != nil {
				return err
			}
			d, err := s.build(cmd, dc)
			if err != nil {
				return err
			}
			return runDaemon(cmd, s.use, dc.logger, d)
		},
	}
	addDaemonFlags(start, s.name, s.exampleConfig)
	if s.addFlags != nil {
		s.addFlags(start)
	}
	cmd.AddCommand(start)
	return cmd
}

// daemonContext is what every daemon start command reads from its flags.
type daemonContext struct {
	client     client.Context
	logger     log.Logger
	configPath string
	poll       time.Duration
}

// readDaemonFlags reads the flags addDaemonFlags declared. Errors from
// here on are not usage errors.
func readDaemonFlags(cmd *cobra.Command) (daemonContext, error) {
	cmd.SilenceUsage = true
	clientCtx, err := client.GetClientQueryContext(cmd)
	if err != nil {
		return daemonContext{}, err
	}
	path, _ := cmd.Flags().GetString(flagConfig)
	if path == "" {
		return daemonContext{}, fmt.Errorf("--%s is required", flagConfig)
	}
	poll, _ := cmd.Flags().GetDuration(flagPollInterval)
	return daemonContext{client: clientCtx, logger: server.GetServerContextFromCmd(cmd).Logger, configPath: path, poll: poll}, nil
}

// addDaemonFlags declares a daemon's flags: its config (exampleConfig is
// where an example lives), the block poll interval and the keyring flags.
func addDaemonFlags(cmd *cobra.Command, what, exampleConfig string) {
	cmd.Flags().String(flagConfig, "", fmt.Sprintf("path of the %s YAML config (see %s)", what, exampleConfig))
	cmd.Flags().Duration(flagPollInterval, 2*time.Second, "how often to poll the node for blocks when the websocket is quiet")
	flags.AddKeyringFlags(cmd.Flags())
}

// runDaemon starts d and runs it until SIGINT or SIGTERM, then stops it.
func runDaemon(cmd *cobra.Command, name string, logger log.Logger, d daemon) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := d.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	logger.Info("stopping " + name)
	shutdown, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	return d.Stop(shutdown)
}
