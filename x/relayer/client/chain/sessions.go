package chain

import (
	"context"
	"slices"

	errorsmod "cosmossdk.io/errors"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// CurrentSession is the application's session for service at the node's
// latest height (not cached: the caller keeps it for as long as it lasts).
// A refusal comes back as the module's registered error (errors.Is works):
// types.ErrApplicationNotFound, ErrApplicationNotForService,
// ErrServiceNotFound or ErrApplicationNotActive (see explainRefusal).
func (c *Client) CurrentSession(ctx context.Context, app, service string) (types.Session, error) {
	res, err := c.query.GetSession(ctx, &types.QueryGetSessionRequest{ApplicationAddress: app, ServiceId: service})
	if err != nil {
		return types.Session{}, c.explainRefusal(ctx, app, service, err)
	}
	return res.Session, nil
}

// explainRefusal turns a refused GetSession into the registered error the
// chain refused it with. A query error carries its module code only in its
// text (gRPC and ABCI queries both keep the message, not the code), so the
// reason is read from the chain's state instead, with structured queries
// and the protocol's rules: is the application staked, for this service,
// does the service exist, is the stake active in the current session.
// Anything else is returned as it came.
func (c *Client) explainRefusal(ctx context.Context, app, service string, err error) error {
	appRes, qerr := c.query.Application(ctx, &types.QueryApplicationRequest{Address: app})
	switch {
	case notFound(qerr):
		return errorsmod.Wrapf(types.ErrApplicationNotFound, "application %s is not staked (%v)", app, err)
	case qerr != nil:
		return err
	}
	a := appRes.Application
	if !slices.Contains(a.ServiceIds, service) {
		return errorsmod.Wrapf(types.ErrApplicationNotForService, "application %s is not staked for service %q (%v)", app, service, err)
	}
	if _, qerr := c.query.Service(ctx, &types.QueryServiceRequest{Id: service}); notFound(qerr) {
		return errorsmod.Wrapf(types.ErrServiceNotFound, "service %q (%v)", service, err)
	}
	h := c.Tip()
	p, perr := c.ParamsAt(ctx, h)
	if perr != nil {
		return err
	}
	if start := protocol.SessionStartHeight(p.NumBlocksPerSession, h); !protocol.ActiveAt(a.ActivationHeight, a.UnstakeSessionEndHeight, start) {
		return errorsmod.Wrapf(types.ErrApplicationNotActive, "application %s is active from height %d (unstaked after %d); the session starts at %d (%v)",
			app, a.ActivationHeight, a.UnstakeSessionEndHeight, start, err)
	}
	return err
}

// Application is the application as staked now; a missing one is
// types.ErrApplicationNotFound (errors.Is works).
func (c *Client) Application(ctx context.Context, addr string) (types.Application, error) {
	res, err := c.query.Application(ctx, &types.QueryApplicationRequest{Address: addr})
	switch {
	case notFound(err):
		return types.Application{}, errorsmod.Wrapf(types.ErrApplicationNotFound, "application %s is not staked", addr)
	case err != nil:
		return types.Application{}, err
	}
	return res.Application, nil
}

// Supplier is the supplier as staked now; a missing one is
// types.ErrSupplierNotFound (errors.Is works).
func (c *Client) Supplier(ctx context.Context, addr string) (types.Supplier, error) {
	res, err := c.query.Supplier(ctx, &types.QuerySupplierRequest{OperatorAddress: addr})
	switch {
	case notFound(err):
		return types.Supplier{}, errorsmod.Wrapf(types.ErrSupplierNotFound, "supplier %s is not staked", addr)
	case err != nil:
		return types.Supplier{}, err
	}
	return res.Supplier, nil
}
