package session

import (
	"context"
	"errors"
	"sync"
	"time"

	"cosmossdk.io/log"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/metrics"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/store"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// Chain is what the lifecycle reads from the chain.
type Chain interface {
	// ParamsAt returns the module params in force at a height.
	ParamsAt(ctx context.Context, height int64) (types.Params, error)
	// BlockHash returns the hash of the block at a height.
	BlockHash(ctx context.Context, height int64) ([]byte, error)
	// ProofRequired says whether the chain wants a proof for a claim.
	ProofRequired(ctx context.Context, sessionID, supplier string) (bool, error)
}

// Submitter signs msgs as supplier, broadcasts them in one tx that expires
// after timeoutHeight and returns once the tx is in a block. A tx rejected by
// the chain returns an error that errors.Is its registered module error.
type Submitter interface {
	Submit(ctx context.Context, supplier string, timeoutHeight int64, msgs ...sdk.Msg) error
}

// Manager maps (supplier, session) to its Tree and runs their lifecycle.
type Manager struct {
	db      *store.DB
	chain   Chain
	tx      Submitter
	logger  log.Logger
	metrics *metrics.Metrics

	mu    sync.Mutex
	trees map[string]*Tree // by treeKey

	wg sync.WaitGroup // lifecycle txs in flight
}

// NewManager builds a manager over db. Call Load before serving relays.
func NewManager(db *store.DB, chain Chain, tx Submitter, logger log.Logger, m *metrics.Metrics) *Manager {
	return &Manager{db: db, chain: chain, tx: tx, logger: logger.With("module", "session"), metrics: m, trees: map[string]*Tree{}}
}

// Load reopens every tree persisted in the store, replaying relay logs.
func (m *Manager) Load() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.db.Iterate([]byte("m/"), func(_, raw []byte) error {
		t, replayed, err := loadTree(m.db, raw)
		if err != nil {
			return err
		}
		m.trees[string(t.key)] = t
		m.treeLogger(t).Info("session tree restored", "state", t.meta.State, "relays_replayed", replayed)
		m.metrics.SessionTrees.Set(float64(len(m.trees)))
		return nil
	})
}

// applyInterval is how often queued relays are inserted into their tries.
const applyInterval = 50 * time.Millisecond

// Run inserts logged relays into their tries in the background, off the
// relay path, until ctx ends. Without it relays are still counted: sealing
// a tree for its claim inserts whatever is queued.
func (m *Manager) Run(ctx context.Context) {
	tick := time.NewTicker(applyInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			for _, t := range m.Trees() {
				if err := t.apply(); err != nil {
					m.treeLogger(t).Error("inserting relays into the session tree", "error", err)
				}
			}
		}
	}
}

// Wait blocks until the lifecycle txs in flight are done.
func (m *Manager) Wait() { m.wg.Wait() }

func (m *Manager) treeLogger(t *Tree) log.Logger {
	h := t.meta.Header
	return m.logger.With("session_id", h.SessionId, "supplier", t.meta.Supplier, "service", h.ServiceId)
}

// AddRelay records a mined relay in its session's tree, creating the tree on
// the session's first relay. It returns once the relay is durable.
func (m *Manager) AddRelay(hdr types.SessionHeader, supplier string, computeUnitsPerRelay uint64, relayHash, relay []byte) error {
	key := string(treeKey(supplier, hdr.SessionId))
	m.mu.Lock()
	t, ok := m.trees[key]
	if !ok {
		var err error
		if t, err = newTree(m.db, hdr, supplier, computeUnitsPerRelay); err != nil {
			m.mu.Unlock()
			return err
		}
		m.trees[key] = t
		m.metrics.SessionTrees.Set(float64(len(m.trees)))
		m.treeLogger(t).Info("session tree opened")
	}
	m.mu.Unlock()
	return t.add(relayHash, relay)
}

// Trees lists the trees held, for status and tests.
func (m *Manager) Trees() []*Tree {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Tree, 0, len(m.trees))
	for _, t := range m.trees {
		out = append(out, t)
	}
	return out
}

func (m *Manager) remove(t *Tree, why string) {
	if err := t.destroy(); err != nil {
		m.treeLogger(t).Error("deleting session tree", "error", err)
	}
	m.mu.Lock()
	delete(m.trees, string(t.key))
	m.metrics.SessionTrees.Set(float64(len(m.trees)))
	m.mu.Unlock()
	m.treeLogger(t).Info("session tree deleted", "reason", why)
}

// OnBlock advances every tree's lifecycle to height h. Blocks must be
// handed in order, each once; txs run in the background.
func (m *Manager) OnBlock(ctx context.Context, h int64) {
	claims := map[string][]*Tree{}
	proofs := map[string][]*Tree{}
	for _, t := range m.Trees() {
		state, busy := t.state()
		if busy {
			continue
		}
		hdr := t.Header()
		p, err := m.chain.ParamsAt(ctx, hdr.SessionStartBlockHeight)
		if err != nil {
			m.treeLogger(t).Error("reading params at session start", "error", err)
			continue
		}
		w := protocol.SessionWindows(p, hdr.SessionEndBlockHeight)
		switch {
		case state == StateOpen && h > w.ClaimWindowClose:
			m.treeLogger(t).Error("claim window closed before the session was claimed: its relays are lost", "claim_window_close", w.ClaimWindowClose, "height", h)
			m.metrics.Claims.WithLabelValues("missed").Inc()
			m.remove(t, "claim window missed")
		case state == StateOpen && w.InClaimWindow(h):
			claims[t.Supplier()] = append(claims[t.Supplier()], t)
		case state == StateClaimed && h > w.ProofWindowClose:
			m.treeLogger(t).Error("proof window closed before a proof landed", "proof_window_close", w.ProofWindowClose, "height", h)
			m.metrics.Proofs.WithLabelValues("missed").Inc()
			m.remove(t, "proof window missed")
		case state == StateClaimed && w.InProofWindow(h):
			proofs[t.Supplier()] = append(proofs[t.Supplier()], t)
		}
	}
	for supplier, trees := range claims {
		m.inFlight(trees, func() { m.claim(ctx, supplier, trees) })
	}
	for supplier, trees := range proofs {
		m.inFlight(trees, func() { m.prove(ctx, supplier, trees) })
	}
}

// inFlight runs fn in the background with trees marked busy.
func (m *Manager) inFlight(trees []*Tree, fn func()) {
	for _, t := range trees {
		t.setBusy(true)
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer func() {
			for _, t := range trees {
				t.setBusy(false)
			}
		}()
		fn()
	}()
}

// claim seals the trees and claims them in one tx; trees with no relays are
// dropped. If the batch fails, each is tried alone so one bad claim cannot
// hold back the others.
func (m *Manager) claim(ctx context.Context, supplier string, trees []*Tree) {
	var (
		msgs    []sdk.Msg
		claimed []*Tree
		roots   [][]byte
		timeout int64
	)
	for _, t := range trees {
		root, raw, err := t.seal()
		if err != nil {
			m.treeLogger(t).Error("sealing session tree", "error", err)
			continue
		}
		if root.Count == 0 {
			m.remove(t, "no relays to claim")
			continue
		}
		hdr := t.Header()
		msgs = append(msgs, &types.MsgCreateClaim{SupplierOperatorAddress: supplier, SessionHeader: hdr, RootHash: raw})
		claimed, roots = append(claimed, t), append(roots, raw)
		if w, err := m.windows(ctx, hdr); err == nil && (timeout == 0 || w.ClaimWindowClose < timeout) {
			timeout = w.ClaimWindowClose
		}
	}
	if len(msgs) == 0 {
		return
	}
	err := m.tx.Submit(ctx, supplier, timeout, msgs...)
	if err != nil && len(msgs) > 1 {
		m.logger.Info("batched claim failed; claiming sessions one by one", "supplier", supplier, "claims", len(msgs), "error", err)
		for i, t := range claimed {
			m.claimOne(ctx, t, msgs[i], roots[i])
		}
		return
	}
	m.claimed(claimed, roots, err)
}

func (m *Manager) claimOne(ctx context.Context, t *Tree, msg sdk.Msg, root []byte) {
	w, err := m.windows(ctx, t.Header())
	if err != nil {
		m.treeLogger(t).Error("reading session windows", "error", err)
		return
	}
	m.claimed([]*Tree{t}, [][]byte{root}, m.tx.Submit(ctx, t.Supplier(), w.ClaimWindowClose, msg))
}

// claimed records the outcome of a claim tx for its trees.
func (m *Manager) claimed(trees []*Tree, roots [][]byte, err error) {
	if err != nil && !errors.Is(err, types.ErrClaimExists) {
		for _, t := range trees {
			m.treeLogger(t).Error("claim failed; retrying next block while the window is open", "error", err)
		}
		m.metrics.Claims.WithLabelValues("failed").Add(float64(len(trees)))
		return
	}
	for i, t := range trees {
		if err := t.markClaimed(roots[i]); err != nil {
			m.treeLogger(t).Error("recording claim", "error", err)
			continue
		}
		root, _ := protocol.ParseRoot(roots[i])
		m.treeLogger(t).Info("session claimed", "relays", root.Count, "compute_units", root.Sum)
	}
	m.metrics.Claims.WithLabelValues("ok").Add(float64(len(trees)))
}

func (m *Manager) windows(ctx context.Context, hdr types.SessionHeader) (protocol.Windows, error) {
	p, err := m.chain.ParamsAt(ctx, hdr.SessionStartBlockHeight)
	if err != nil {
		return protocol.Windows{}, err
	}
	return protocol.SessionWindows(p, hdr.SessionEndBlockHeight), nil
}

// prove builds and submits the proofs the chain requires, in one tx, then
// deletes the proven trees (and the ones that need no proof).
func (m *Manager) prove(ctx context.Context, supplier string, trees []*Tree) {
	var (
		msgs    []sdk.Msg
		proving []*Tree
		timeout int64
	)
	for _, t := range trees {
		hdr := t.Header()
		lg := m.treeLogger(t)
		w, err := m.windows(ctx, hdr)
		if err != nil {
			lg.Error("reading session windows", "error", err)
			continue
		}
		required, err := m.chain.ProofRequired(ctx, hdr.SessionId, supplier)
		if err != nil {
			lg.Error("asking whether a proof is required", "error", err)
			continue
		}
		if !required {
			m.metrics.Proofs.WithLabelValues("not_required").Inc()
			m.remove(t, "proof not required")
			continue
		}
		seed, err := m.chain.BlockHash(ctx, w.ProofSeed)
		if err != nil {
			lg.Error("reading the proof seed block", "height", w.ProofSeed, "error", err)
			continue
		}
		proof, err := t.prove(protocol.ProofPath(seed, hdr.SessionId))
		if err != nil {
			lg.Error("building proof", "error", err)
			continue
		}
		msgs = append(msgs, &types.MsgSubmitProof{SupplierOperatorAddress: supplier, SessionHeader: hdr, Proof: proof})
		proving = append(proving, t)
		if timeout == 0 || w.ProofWindowClose < timeout {
			timeout = w.ProofWindowClose
		}
	}
	if len(msgs) == 0 {
		return
	}
	err := m.tx.Submit(ctx, supplier, timeout, msgs...)
	if err != nil && len(msgs) > 1 {
		m.logger.Info("batched proof failed; proving sessions one by one", "supplier", supplier, "proofs", len(msgs), "error", err)
		for i, t := range proving {
			w, werr := m.windows(ctx, t.Header())
			if werr != nil {
				continue
			}
			m.proved(t, m.tx.Submit(ctx, supplier, w.ProofWindowClose, msgs[i]))
		}
		return
	}
	for _, t := range proving {
		m.proved(t, err)
	}
}

func (m *Manager) proved(t *Tree, err error) {
	if err != nil && !errors.Is(err, types.ErrProofExists) {
		m.treeLogger(t).Error("proof failed; retrying next block while the window is open", "error", err)
		m.metrics.Proofs.WithLabelValues("failed").Inc()
		return
	}
	m.treeLogger(t).Info("session proven")
	m.metrics.Proofs.WithLabelValues("ok").Inc()
	m.remove(t, "proven")
}
