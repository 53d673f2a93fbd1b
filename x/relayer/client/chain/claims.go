package chain

import (
	"context"
	"errors"
	"fmt"
	"strings"

	sdkerrors "github.com/cosmos/cosmos-sdk/types/errors"
	"github.com/cosmos/cosmos-sdk/types/query"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pokt-network/poktroll/x/relayer/types"
)

// What a supplier's lifecycle asks the chain about its own claims: the
// chain, not the supplier's store, says whether a session was claimed,
// proven, settled.

// notFound reports whether a query failed because the thing asked for does
// not exist: a gRPC NotFound (gRPC queries), the SDK's key-not-found error
// (what an ABCI query turns a NotFound into), or the module's own
// registered not-found errors. Codes and registered errors only: never text.
func notFound(err error) bool {
	if err == nil {
		return false
	}
	if s, ok := status.FromError(err); ok && s.Code() == codes.NotFound {
		return true
	}
	return errors.Is(err, sdkerrors.ErrKeyNotFound) || errors.Is(err, sdkerrors.ErrNotFound) ||
		errors.Is(err, types.ErrClaimNotFound) || errors.Is(err, types.ErrProofNotFound)
}

// ClaimOf returns the supplier's claim for the session, or nil when the
// chain holds none (never made, or already settled or expired).
func (c *Client) ClaimOf(ctx context.Context, sessionID, supplier string) (*types.Claim, error) {
	res, err := c.query.Claim(ctx, &types.QueryClaimRequest{SessionId: sessionID, SupplierOperatorAddress: supplier})
	switch {
	case notFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("claim of session %s: %w", sessionID, err)
	}
	return &res.Claim, nil
}

// HasProof reports whether the chain holds the supplier's proof for the
// session (until the claim settles).
func (c *Client) HasProof(ctx context.Context, sessionID, supplier string) (bool, error) {
	_, err := c.query.Proof(ctx, &types.QueryProofRequest{SessionId: sessionID, SupplierOperatorAddress: supplier})
	switch {
	case notFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("proof of session %s: %w", sessionID, err)
	}
	return true, nil
}

// ClaimOutcome reads how the supplier's claim of the session ended from the
// events of the block its proof window closed in (settlement runs in that
// block's end blocker): settled (paid) or expired (not paid). Both are nil
// when the block has no such event (no claim was settled there, or the node
// pruned its results).
func (c *Client) ClaimOutcome(ctx context.Context, closeHeight int64, sessionID, supplier string) (settled *types.EventClaimSettled, expired *types.EventClaimExpired, err error) {
	all, allExpired, err := c.Settlements(ctx, closeHeight)
	if err != nil {
		return nil, nil, err
	}
	for _, ev := range all {
		if ev.Claim.SessionHeader.SessionId == sessionID && ev.Claim.SupplierOperatorAddress == supplier {
			settled = ev
		}
	}
	for _, ev := range allExpired {
		if ev.Claim.SessionHeader.SessionId == sessionID && ev.Claim.SupplierOperatorAddress == supplier {
			expired = ev
		}
	}
	return settled, expired, nil
}

// SessionClaims returns every claim the chain holds for a session (one per
// supplier that claimed it and is not settled yet), in supplier order.
func (c *Client) SessionClaims(ctx context.Context, sessionID string) ([]types.Claim, error) {
	var out []types.Claim
	var next []byte
	for {
		res, err := c.query.Claims(ctx, &types.QueryClaimsRequest{SessionId: sessionID, Pagination: &query.PageRequest{Key: next}})
		if err != nil {
			return nil, fmt.Errorf("claims of session %s: %w", sessionID, err)
		}
		out = append(out, res.Claims...)
		if res.Pagination == nil || len(res.Pagination.NextKey) == 0 {
			return out, nil
		}
		next = res.Pagination.NextKey
	}
}

// Settlements are the claims settled and expired in the block at height
// (settlement runs in its end blocker), from the block's results; both are
// empty when none ended there (or the node pruned the results: err).
func (c *Client) Settlements(ctx context.Context, height int64) (settled []*types.EventClaimSettled, expired []*types.EventClaimExpired, err error) {
	res, err := c.rpc.BlockResults(ctx, &height)
	if err != nil {
		return nil, nil, fmt.Errorf("results of block %d: %w", height, err)
	}
	for _, e := range res.FinalizeBlockEvents {
		if !strings.HasPrefix(e.Type, "poktroll.relayer.EventClaim") {
			continue
		}
		msg, err := types.ParseEvent(e)
		if err != nil {
			return nil, nil, fmt.Errorf("event %s at %d: %w", e.Type, height, err)
		}
		switch ev := msg.(type) {
		case *types.EventClaimSettled:
			settled = append(settled, ev)
		case *types.EventClaimExpired:
			expired = append(expired, ev)
		}
	}
	return settled, expired, nil
}
