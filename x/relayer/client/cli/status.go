package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/pokt-network/poktroll/x/relayer/relayminer/config"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/status"
)

const (
	flagAddr     = "addr"
	flagOutput   = "output"
	flagSessions = "sessions"
	flagTimeout  = "timeout"
)

// RelayMinerStatusCmd is `poktrolld relayminer status`: a running
// RelayMiner's sessions, claims, proofs, coming windows and earnings, read
// from its health address.
func RelayMinerStatusCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status (--config relayminer.yaml | --addr host:port)",
		Short: "Show what a running RelayMiner is doing and has earned",
		Long: `Read a running RelayMiner's status from its health address (health.listen of
its config, or --addr): per supplier and service, the sessions it holds (height
range, relays, compute units, expected tokens, state: open, sealed, claimed,
proving, proven); its last claim and proof txs (height, tx hash, result, reason
of a failure); the windows coming up; and the tokens earned over the last
--sessions settled sessions, from the chain's settlement events.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true
			addr, _ := cmd.Flags().GetString(flagAddr)
			path, _ := cmd.Flags().GetString(flagConfig)
			switch {
			case addr != "" && path != "":
				return fmt.Errorf("give --%s or --%s, not both", flagAddr, flagConfig)
			case path != "":
				cfg, err := config.Load(path)
				if err != nil {
					return err
				}
				if addr = cfg.Health.Listen; addr == "" {
					return fmt.Errorf("%s: health.listen is empty: the RelayMiner serves no status", path)
				}
			case addr == "":
				return fmt.Errorf("--%s or --%s is required", flagConfig, flagAddr)
			}
			out, _ := cmd.Flags().GetString(flagOutput)
			if out != "text" && out != "json" {
				return fmt.Errorf("--%s must be text or json, got %q", flagOutput, out)
			}
			n, _ := cmd.Flags().GetInt(flagSessions)
			if n < 1 || n > status.MaxSessions {
				return fmt.Errorf("--%s must be from 1 to %d", flagSessions, status.MaxSessions)
			}
			timeout, _ := cmd.Flags().GetDuration(flagTimeout)
			if timeout <= 0 {
				return errors.New("--timeout must be positive")
			}
			ctx, cancel := contextWithTimeout(cmd, timeout)
			defer cancel()
			rep, err := status.Fetch(ctx, addr, n)
			if err != nil {
				return err
			}
			if out == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			return status.WriteTable(cmd.OutOrStdout(), rep)
		},
	}
	cmd.Flags().String(flagConfig, "", "the RelayMiner's YAML config: its health.listen address is read")
	cmd.Flags().String(flagAddr, "", "the RelayMiner's health address (host:port), instead of --config")
	cmd.Flags().StringP(flagOutput, "o", "text", "output: text or json")
	cmd.Flags().Int(flagSessions, status.DefaultSessions, "earnings over this many last settled sessions")
	cmd.Flags().Duration(flagTimeout, 30*time.Second, "how long to wait for the RelayMiner")
	return cmd
}

// contextWithTimeout is the command's context (background if none) with a
// timeout.
func contextWithTimeout(cmd *cobra.Command, d time.Duration) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithTimeout(ctx, d)
}
