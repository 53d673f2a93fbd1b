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

// Load reopens every tree persisted in the store. Nothing is replayed: an
// open tree is its relay log.
func (m *Manager) Load() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.db.Iterate([]byte("m/"), func(_, raw []byte) error {
		t, err := loadTree(m.db, raw)
		if err != nil {
			return err
		}
		m.trees[string(t.key)] = t
		m.treeLogger(t).Info("session tree restored", "state", t.meta.State)
		m.metrics.SessionTrees.Set(float64(len(m.trees)))
		return nil
	})
}

// Wait blocks until the lifecycle txs in flight are done.
func (m *Manager) Wait() { m.wg.Wait() }

func (m *Manager) treeLogger(t *Tree) log.Logger {
	h := t.meta.Header
	return m.logger.With("session_id", h.SessionId, "supplier", t.meta.Supplier, "service", h.ServiceId)
}

// Logged reports whether the relay on path (the trie path of its request's
// key) is already in its session's log: a replayed request.
func (m *Manager) Logged(hdr types.SessionHeader, supplier string, path []byte) (bool, error) {
	m.mu.Lock()
	t, ok := m.trees[string(treeKey(supplier, hdr.SessionId))]
	m.mu.Unlock()
	if !ok {
		return false, nil
	}
	return t.has(path)
}

// AddRelay records a served relay in its session's log, creating the tree on
// the session's first relay: path is the trie path of the request's key,
// leaf the relay's leaf bytes. It returns once the relay is durable.
func (m *Manager) AddRelay(hdr types.SessionHeader, supplier string, computeUnitsPerRelay uint64, path, relayKey, leaf []byte) error {
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
	return t.add(path, relayKey, leaf)
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
		tm, busy := t.snapshot()
		if busy {
			continue
		}
		hdr := tm.Header
		p, err := m.chain.ParamsAt(ctx, hdr.SessionStartBlockHeight)
		if err != nil {
			m.treeLogger(t).Error("reading params at session start", "error", err)
			continue
		}
		w := protocol.SessionWindows(p, hdr.SessionEndBlockHeight)
		switch state := tm.State; {
		case state != StateClaimed && h > w.ClaimWindowClose:
			m.treeLogger(t).Error("claim window closed before the session was claimed: its relays are lost", "claim_window_close", w.ClaimWindowClose, "height", h)
			m.metrics.Claims.WithLabelValues("missed").Inc()
			m.remove(t, "claim window missed")
		case state != StateClaimed && w.InClaimWindow(h):
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

// item is one session's message in a supplier's batched tx.
type item struct {
	tree    *Tree
	msg     sdk.Msg
	timeout int64 // the window's close height
}

// submit sends the items of one supplier in one tx that expires with the
// earliest window. If that tx fails and held several items, each is sent
// alone, so one bad session cannot hold back the others. done gets each
// item's outcome.
func (m *Manager) submit(ctx context.Context, supplier, what string, items []item, done func(item, error)) {
	if len(items) == 0 {
		return
	}
	msgs := make([]sdk.Msg, len(items))
	timeout := items[0].timeout
	for i, it := range items {
		msgs[i] = it.msg
		timeout = min(timeout, it.timeout)
	}
	err := m.tx.Submit(ctx, supplier, timeout, msgs...)
	if err != nil && len(items) > 1 {
		m.logger.Info("batched "+what+" failed; sending sessions one by one", "supplier", supplier, "sessions", len(items), "error", err)
		for _, it := range items {
			done(it, m.tx.Submit(ctx, supplier, it.timeout, it.msg))
		}
		return
	}
	for _, it := range items {
		done(it, err)
	}
}

// claim seals the trees (building each claim trie from the relays minable
// under the claim seed) and claims them; trees with nothing minable are
// dropped.
func (m *Manager) claim(ctx context.Context, supplier string, trees []*Tree) {
	var items []item
	roots := map[*Tree]protocol.Root{}
	for _, t := range trees {
		hdr := t.Header()
		lg := m.treeLogger(t)
		p, err := m.chain.ParamsAt(ctx, hdr.SessionStartBlockHeight)
		if err != nil {
			lg.Error("reading params at session start", "error", err)
			continue
		}
		w := protocol.SessionWindows(p, hdr.SessionEndBlockHeight)
		seed, err := m.chain.BlockHash(ctx, w.ClaimSeed)
		if err != nil {
			lg.Error("reading the claim seed block", "height", w.ClaimSeed, "error", err)
			continue
		}
		start := time.Now()
		root, err := t.seal(seed, protocol.DifficultyTarget(p, hdr.ServiceId))
		if err != nil {
			lg.Error("sealing session tree", "error", err)
			continue
		}
		tm, _ := t.snapshot()
		lg.Info("session tree sealed", "relays", tm.Logged, "minable", tm.Minable, "compute_units", root.Sum, "took", time.Since(start))
		if root.Count == 0 {
			m.remove(t, "no minable relays to claim")
			continue
		}
		roots[t] = root
		items = append(items, item{tree: t, timeout: w.ClaimWindowClose,
			msg: &types.MsgCreateClaim{SupplierOperatorAddress: supplier, SessionHeader: hdr, RootHash: tm.Root}})
	}
	m.submit(ctx, supplier, "claim", items, func(it item, err error) { m.claimed(it.tree, roots[it.tree], err) })
}

// claimed records the outcome of a claim. A duplicate-claim rejection means
// an earlier tx landed (e.g. before a crash): the session is claimed.
func (m *Manager) claimed(t *Tree, root protocol.Root, err error) {
	if err != nil && !errors.Is(err, types.ErrClaimExists) {
		m.treeLogger(t).Error("claim failed; retrying next block while the window is open", "error", err)
		m.metrics.Claims.WithLabelValues("failed").Inc()
		return
	}
	if err := t.markClaimed(); err != nil {
		m.treeLogger(t).Error("recording claim", "error", err)
		return
	}
	m.treeLogger(t).Info("session claimed", "relays", root.Count, "compute_units", root.Sum)
	m.metrics.Claims.WithLabelValues("ok").Inc()
}

func (m *Manager) windows(ctx context.Context, hdr types.SessionHeader) (protocol.Windows, error) {
	p, err := m.chain.ParamsAt(ctx, hdr.SessionStartBlockHeight)
	if err != nil {
		return protocol.Windows{}, err
	}
	return protocol.SessionWindows(p, hdr.SessionEndBlockHeight), nil
}

// prove builds and submits the proofs the chain requires, then deletes the
// proven trees (and the ones that need no proof).
func (m *Manager) prove(ctx context.Context, supplier string, trees []*Tree) {
	var items []item
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
		p, err := m.chain.ParamsAt(ctx, hdr.SessionStartBlockHeight)
		if err != nil {
			lg.Error("reading params at session start", "error", err)
			continue
		}
		tm, _ := t.snapshot()
		root, err := protocol.ParseRoot(tm.Root)
		if err != nil {
			lg.Error("reading the claimed root", "error", err)
			continue
		}
		leaves, err := t.prove(protocol.ProofPoints(seed, hdr.SessionId, supplier, root.Sum, p.NumProofsPerClaim))
		if err != nil {
			lg.Error("building proof", "error", err)
			continue
		}
		items = append(items, item{tree: t, timeout: w.ProofWindowClose,
			msg: &types.MsgSubmitProof{SupplierOperatorAddress: supplier, SessionHeader: hdr, Proofs: leaves}})
	}
	m.submit(ctx, supplier, "proof", items, func(it item, err error) { m.proved(it.tree, err) })
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
