package main

import (
	"context"
	"time"

	"github.com/pokt-network/poktroll/scripts/internal/localchain"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

const (
	chainID     = "poktroll-faults"
	denom       = localchain.Denom
	serviceID   = "faults"
	serviceName = "faults benchmark JSON-RPC"
	// computeUnitsPerRelay of the service: settled relays are the settled
	// compute units divided by it.
	computeUnitsPerRelay = 10
)

// chainParams are the relayer params written into genesis: 10-block
// sessions, a 1-block grace period, a claim window opening 2 blocks after
// it for 8 blocks, a proof window opening 1 block after that for 8 blocks,
// and every claim must be proven.
func chainParams() types.Params {
	p := types.DefaultParams()
	p.NumBlocksPerSession = 10
	p.ClaimWindowCloseOffsetBlocks = 8
	p.ProofWindowCloseOffsetBlocks = 8
	return p
}

// Ports are drawn from [portLow, portHigh), picked free at start so that a
// run never collides with a localnet or another run: below the kernel's
// ephemeral range, and above localnet's ports (26656-26660).
const portLow, portHigh = 27000, 32000

// initChain creates the node home: keys, genesis accounts, the validator's
// gentx, the relayer params and the configs.
func (r *runner) initChain(ctx context.Context) error {
	say("creating a one-validator chain in %s", r.chain.Home)
	if err := r.chain.Init(ctx, r.params); err != nil {
		return err
	}
	detail("application %s", r.chain.App)
	detail("supplier    %s", r.chain.Supplier)
	return nil
}

// stakeActors registers the service and stakes the application and the
// supplier (whose endpoint is the RelayMiner's relay server).
func (r *runner) stakeActors(ctx context.Context) error {
	say("registering service %q (%d compute units per relay), staking the application and the supplier", serviceID, computeUnitsPerRelay)
	return r.chain.StakeActors(ctx, localchain.Service{ID: serviceID, Name: serviceName, ComputeUnitsPerRelay: computeUnitsPerRelay})
}

// waitSupplierInSession waits for the first session holding the supplier
// (stakes count from the next session's start) and returns it.
func (r *runner) waitSupplierInSession(ctx context.Context) (localchain.Session, error) {
	return r.chain.WaitSupplierInSession(ctx, serviceID, 90*time.Second)
}
