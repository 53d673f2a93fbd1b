package relayminer

import (
	"context"
	"errors"
	"fmt"

	"github.com/pokt-network/poktroll/x/relayer/relayminer/config"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/fleet"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/miner"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/session"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/store"
)

// openSessions opens the store and the session manager, and with
// store.backend jetstream this replica's part in the fleet: it returns
// what the miner records relays through (the session manager itself, or
// the fleet's shared relay log). Everything it started is on rm.stack.
func (rm *RelayMiner) openSessions(ctx context.Context, tx session.Submitter, suppliers []string) (miner.Sessions, error) {
	db, err := store.Open(rm.cfg.Store.Path, store.Options{SyncWrites: rm.cfg.Store.SyncWrites, WrapStorage: rm.deps.WrapStorage})
	if err != nil {
		return nil, fmt.Errorf("store.path %q: %w", rm.cfg.Store.Path, err)
	}
	rm.stack.Push(func(context.Context) error { return db.Close() })
	var opts session.Options
	if rm.cfg.Store.Backend == config.BackendJetStream {
		if rm.Fleet, err = fleet.Open(ctx, fleetConfig(rm.cfg.Store.JetStream), db, rm.deps.Logger, rm.Metrics); err != nil {
			var se *fleet.SettingError
			if errors.As(err, &se) {
				return nil, fmt.Errorf("store.jetstream.%s: %w", se.Setting, se.Err)
			}
			return nil, fmt.Errorf("store.jetstream: %w", err)
		}
		// Stopped (its leases given up) after the lifecycle work in
		// flight, before the store closes.
		rm.stack.Push(func(context.Context) error { rm.Fleet.Stop(); return nil })
		opts.Coordinator = rm.Fleet
	}
	rm.Sessions = session.NewManager(db, rm.Chain, tx, rm.deps.Logger, rm.Metrics, opts)
	// Lifecycle work in flight finishes before the store closes.
	rm.stack.Push(func(context.Context) error { rm.Sessions.Wait(); return nil })
	if err := rm.Sessions.Load(); err != nil {
		return nil, fmt.Errorf("restoring session trees from %s: %w", rm.cfg.Store.Path, err)
	}
	if rm.Fleet == nil {
		return rm.Sessions, nil
	}
	// Leasing starts once the trees are restored: a holder mirrors into
	// them. It runs until Stop, not until the start's ctx ends.
	rm.Fleet.Start(context.WithoutCancel(ctx), rm.Sessions, suppliers...)
	return rm.Fleet, nil
}

func fleetConfig(j config.JetStream) fleet.Config {
	return fleet.Config{
		URLs: j.URLs, CredentialsFile: j.CredentialsFile, Token: j.Token,
		TLS:      fleet.TLS{CA: j.TLS.CA, Cert: j.TLS.Cert, Key: j.TLS.Key},
		Replicas: j.Replicas, Prefix: j.Prefix, DuplicateWindow: j.DuplicateWindow,
		LeaseTTL: j.LeaseTTL, PublishTimeout: j.PublishTimeout, CheckpointEvery: j.CheckpointEvery,
	}
}
