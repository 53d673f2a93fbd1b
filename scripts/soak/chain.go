package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"

	cryptotypes "github.com/cosmos/cosmos-sdk/crypto/types"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

const serviceID = "eth"

// fakeChain answers the proxy's, the miner's and the session manager's Chain
// interfaces from memory: fixed params, block hashes derived from the
// height, one application and one supplier in every session, and the claims
// and proofs the submitter landed. The RelayMiner process's is the chain;
// the load process has one too, for the session headers and its view of
// the height (the last one the RelayMiner acknowledged).
type fakeChain struct {
	params   types.Params
	app      string
	appPub   cryptotypes.PubKey
	supplier string
	height   atomic.Int64 // the newest block, handed to Manager.OnBlock

	mu     sync.Mutex
	claims map[string]types.Claim // by session id (one supplier)
	proofs map[string]bool
}

func newFakeChain(params types.Params, appPub cryptotypes.PubKey, supplier string) *fakeChain {
	return &fakeChain{
		params:   params,
		app:      sdk.AccAddress(appPub.Address()).String(),
		appPub:   appPub,
		supplier: supplier,
		claims:   map[string]types.Claim{},
		proofs:   map[string]bool{},
	}
}

// soakParams are the module params of the run: sessions of
// blocksPerSession blocks, a grace period of 1, a claim window opening 2
// blocks after it and 4 wide, a proof window opening 1 block after that
// and 4 wide, and a proof always required.
func soakParams(blocksPerSession int) (types.Params, error) {
	p := types.DefaultParams()
	p.NumBlocksPerSession = uint64(blocksPerSession)
	p.GracePeriodEndOffsetBlocks = 1
	p.ClaimWindowOpenOffsetBlocks = 2
	p.ClaimWindowCloseOffsetBlocks = 4
	p.ProofWindowOpenOffsetBlocks = 1
	p.ProofWindowCloseOffsetBlocks = 4
	p.ProofRequestProbabilityPpm = types.ProofRequestProbabilityAlways
	return p, p.Validate()
}

// blockHash is the fake hash of the block at height h.
func blockHash(h int64) []byte {
	b := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("soak block "), uint64(h)))
	return b[:]
}

// header is the application's session header of the session holding
// height h, as the chain derives it.
func (c *fakeChain) header(h int64) types.SessionHeader {
	n := c.params.NumBlocksPerSession
	start := protocol.SessionStartHeight(n, h)
	return types.SessionHeader{
		ApplicationAddress:      c.app,
		ServiceId:               serviceID,
		SessionId:               protocol.SessionID(blockHash(protocol.SessionSeedHeight(start)), serviceID, c.app, start),
		SessionStartBlockHeight: start,
		SessionEndBlockHeight:   protocol.SessionEndHeight(n, start),
	}
}

// windows are the claim and proof windows of the session holding height h.
func (c *fakeChain) windows(h int64) protocol.Windows {
	return protocol.SessionWindows(c.params, protocol.SessionEndHeight(c.params.NumBlocksPerSession, h))
}

func (c *fakeChain) LatestHeight() int64 { return c.height.Load() }
func (c *fakeChain) Tip() int64          { return c.height.Load() }

func (c *fakeChain) ParamsAt(context.Context, int64) (types.Params, error) { return c.params, nil }

func (c *fakeChain) BlockHash(_ context.Context, h int64) ([]byte, error) {
	if h > c.height.Load() {
		return nil, fmt.Errorf("block %d is not there yet (height %d)", h, c.height.Load())
	}
	return blockHash(h), nil
}

func (c *fakeChain) Session(_ context.Context, app, service string, start int64) (types.Session, error) {
	if app != c.app || service != serviceID {
		return types.Session{}, fmt.Errorf("no session of application %s for service %s", app, service)
	}
	return types.Session{
		Header:              c.header(start),
		SessionNumber:       protocol.SessionNumber(c.params.NumBlocksPerSession, start),
		NumBlocksPerSession: int64(c.params.NumBlocksPerSession),
		Suppliers:           []types.Supplier{{OperatorAddress: c.supplier}},
	}, nil
}

func (c *fakeChain) PubKey(_ context.Context, addr string) (cryptotypes.PubKey, error) {
	if addr != c.app {
		return nil, fmt.Errorf("no account %s", addr)
	}
	return c.appPub, nil
}

func (c *fakeChain) ServiceAt(_ context.Context, id string, _ int64) (types.Service, error) {
	return types.Service{Id: id, ComputeUnitsPerRelay: 1}, nil
}

func (c *fakeChain) ProofRequired(context.Context, string, string) (bool, error) { return true, nil }

func (c *fakeChain) ClaimOf(_ context.Context, sessionID, _ string) (*types.Claim, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.claims[sessionID]; ok {
		return &cl, nil
	}
	return nil, nil
}

func (c *fakeChain) HasProof(_ context.Context, sessionID, _ string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.proofs[sessionID], nil
}

// ClaimOutcome settles a proven claim and expires one without a proof.
func (c *fakeChain) ClaimOutcome(_ context.Context, _ int64, sessionID, _ string) (*types.EventClaimSettled, *types.EventClaimExpired, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.claims[sessionID]
	switch {
	case !ok:
		return nil, nil, nil
	case c.proofs[sessionID]:
		root, _ := protocol.ParseRoot(cl.RootHash)
		return &types.EventClaimSettled{Claim: cl, ProofRequired: true, NumClaimedComputeUnits: root.Sum,
			Amount: sdk.NewInt64Coin(types.DefaultDenom, int64(root.Sum)), Excess: sdk.NewInt64Coin(types.DefaultDenom, 0)}, nil, nil
	}
	return nil, &types.EventClaimExpired{Claim: cl, Reason: "required proof missing"}, nil
}

// submitter lands every tx at once on the fake chain, and tells the
// recorder what was claimed and proven, and when.
type submitter struct {
	chain *fakeChain
	rec   *recorder
}

func (s *submitter) Submit(_ context.Context, _ string, _ int64, msgs ...sdk.Msg) error {
	for _, m := range msgs {
		switch m := m.(type) {
		case *types.MsgCreateClaim:
			s.rec.claimSubmitted(m.SessionHeader.SessionId, m.RootHash)
			s.chain.mu.Lock()
			s.chain.claims[m.SessionHeader.SessionId] = types.Claim{SupplierOperatorAddress: m.SupplierOperatorAddress, SessionHeader: m.SessionHeader, RootHash: m.RootHash}
			s.chain.mu.Unlock()
		case *types.MsgSubmitProof:
			s.rec.proofSubmitted(m.SessionHeader.SessionId)
			s.chain.mu.Lock()
			s.chain.proofs[m.SessionHeader.SessionId] = true
			s.chain.mu.Unlock()
		default:
			return fmt.Errorf("unexpected message %T", m)
		}
	}
	return nil
}
