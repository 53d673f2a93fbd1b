package session

import (
	"context"
	"errors"
	"sync"
	"time"

	errorsmod "cosmossdk.io/errors"
	"cosmossdk.io/log"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/metrics"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/store"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// Chain is what the lifecycle reads from the chain, the source of truth for
// what was claimed, proven and settled.
type Chain interface {
	// Tip is the newest block height the node is known to have (ahead of
	// the heights handed to OnBlock while they catch up after an outage).
	Tip() int64
	// ParamsAt returns the module params in force at a height.
	ParamsAt(ctx context.Context, height int64) (types.Params, error)
	// BlockHash returns the hash of the block at a height.
	BlockHash(ctx context.Context, height int64) ([]byte, error)
	// ProofRequired says whether the chain wants a proof for a claim.
	ProofRequired(ctx context.Context, sessionID, supplier string) (bool, error)
	// ClaimOf returns the supplier's claim of a session, nil if none.
	ClaimOf(ctx context.Context, sessionID, supplier string) (*types.Claim, error)
	// HasProof says whether the chain holds the supplier's proof.
	HasProof(ctx context.Context, sessionID, supplier string) (bool, error)
	// ClaimOutcome says how a claim ended (settled, or expired), from the
	// events of the block its proof window closed in; both nil if unknown.
	ClaimOutcome(ctx context.Context, closeHeight int64, sessionID, supplier string) (*types.EventClaimSettled, *types.EventClaimExpired, error)
}

// Submitter signs msgs as supplier, broadcasts them in one tx that expires
// after timeoutHeight and returns once the tx is in a block, or once it can
// no longer be (the chain passed timeoutHeight without it). A tx rejected by
// the chain returns an error that errors.Is its registered module error.
type Submitter interface {
	Submit(ctx context.Context, supplier string, timeoutHeight int64, msgs ...sdk.Msg) error
}

// DefaultTxTimeoutBlocks is how many blocks a claim or proof tx may take to
// land before it is re-signed and sent again (never past its window).
const DefaultTxTimeoutBlocks = 2

// Options tune a Manager; zero values take the defaults.
type Options struct {
	// TxTimeoutBlocks: see DefaultTxTimeoutBlocks.
	TxTimeoutBlocks int64
	// Coordinator, when set, shares the sessions with the other RelayMiners
	// of a fleet (see the fleet package); nil is a RelayMiner alone.
	Coordinator Coordinator
}

// Coordinator is what the lifecycle asks of a fleet: several RelayMiners
// of one supplier that share their relay log, of which one at a time (the
// lease holder) mirrors it into this manager and runs the lifecycle.
type Coordinator interface {
	// Leads reports whether this RelayMiner runs the lifecycle of the
	// supplier's sessions now (holds its lease). Trees of a supplier it
	// does not lead are left alone: no seal, claim or proof.
	Leads(supplier string) bool
	// BeforeSeal returns once no relay of the session can be appended to
	// the shared log any more and every relay appended before is in this
	// manager's relay log: the claim trie may then be built. An error
	// leaves the tree open; sealing is tried again next block.
	BeforeSeal(ctx context.Context, hdr types.SessionHeader, supplier string) error
	// Forget is told that the session's relays are no longer needed (its
	// proof is on chain, none is required, or the tree is gone).
	Forget(ctx context.Context, hdr types.SessionHeader, supplier string)
}

// Manager maps (supplier, session) to its Tree and runs their lifecycle.
//
// On every block it reconciles each tree with the chain before acting:
//   - from the block before the claim window opens, an open tree is sealed
//     (its claim trie built) and claimed, unless the chain already holds its
//     claim (a claim that landed before a crash is recognised by its root);
//     the claim tx expires after a few blocks and is sent again, re-signed,
//     until it lands or the window closes;
//   - from the block before the proof window opens, a claimed tree is
//     proven if the chain requires it and holds no proof yet, the same way;
//   - once proven (or no proof is required) its relay log and trie are
//     deleted; after the proof window closes the settlement is read from
//     the chain and the tree forgotten.
//
// Nothing is reported lost or missed unless the chain says so.
type Manager struct {
	db      *store.DB
	chain   Chain
	tx      Submitter
	logger  log.Logger
	metrics *metrics.Metrics
	opts    Options

	mu    sync.Mutex
	trees map[string]*Tree // by treeKey

	wg sync.WaitGroup // lifecycle work in flight
}

// NewManager builds a manager over db. Call Load before serving relays.
func NewManager(db *store.DB, chain Chain, tx Submitter, logger log.Logger, m *metrics.Metrics, opts Options) *Manager {
	if opts.TxTimeoutBlocks <= 0 {
		opts.TxTimeoutBlocks = DefaultTxTimeoutBlocks
	}
	return &Manager{db: db, chain: chain, tx: tx, logger: logger.With("module", "session"), metrics: m, opts: opts, trees: map[string]*Tree{}}
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
		t.remote = m.remoteLeaves()
		m.trees[string(t.key)] = t
		m.treeLogger(t).Info("session tree restored", "state", t.meta.State)
		m.metrics.SessionTrees.Set(float64(len(m.trees)))
		return nil
	})
}

// remoteLeaves is the Coordinator's RemoteLeaves, nil if it has none.
func (m *Manager) remoteLeaves() RemoteLeaves {
	r, _ := m.opts.Coordinator.(RemoteLeaves)
	return r
}

// Wait blocks until the lifecycle work in flight is done.
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
	t, err := m.openTree(hdr, supplier, computeUnitsPerRelay)
	if err != nil {
		return err
	}
	return t.add(path, relayKey, leaf)
}

// openTree returns the session's tree, created on its first relay.
func (m *Manager) openTree(hdr types.SessionHeader, supplier string, computeUnitsPerRelay uint64) (*Tree, error) {
	key := string(treeKey(supplier, hdr.SessionId))
	m.mu.Lock()
	defer m.mu.Unlock()
	if t, ok := m.trees[key]; ok {
		return t, nil
	}
	t, err := newTree(m.db, hdr, supplier, computeUnitsPerRelay)
	if err != nil {
		return nil, err
	}
	t.remote = m.remoteLeaves()
	m.trees[key] = t
	m.metrics.SessionTrees.Set(float64(len(m.trees)))
	m.treeLogger(t).Info("session tree opened")
	return t, nil
}

// Relay is one served relay to record, as AddRelay takes it.
type Relay struct {
	Header               types.SessionHeader
	Supplier             string
	ComputeUnitsPerRelay uint64
	Path, Key, Leaf      []byte
}

// AddRelays records relays as AddRelay does, those of one session with one
// value-file write and one database write (a fleet replica mirroring the
// shared log). errs[i] is relays[i]'s outcome, what AddRelay would have
// returned: the relays of one session succeed or fail together.
func (m *Manager) AddRelays(relays []Relay) (errs []error) {
	errs = make([]error, len(relays))
	bySession := map[string][]int{}
	var order []string
	for i, r := range relays {
		key := string(treeKey(r.Supplier, r.Header.SessionId))
		if _, ok := bySession[key]; !ok {
			order = append(order, key)
		}
		bySession[key] = append(bySession[key], i)
	}
	for _, key := range order {
		idx := bySession[key]
		group := make([]Relay, len(idx))
		for j, i := range idx {
			group[j] = relays[i]
		}
		err := m.addAll(group)
		for _, i := range idx {
			errs[i] = err
		}
	}
	return errs
}

// RemoteRelay is a relay recorded from a fleet's checkpoint: its key, the
// hash and size of its leaf bytes, and where those bytes are in the
// fleet's log (read through the Coordinator's RemoteLeaves when a proof
// needs them).
type RemoteRelay struct {
	Key, LeafHash []byte
	Size          uint32
	Seq           uint64
}

// RemoteLeaves is implemented by a Coordinator whose log keeps the leaf
// bytes of relays recorded with AddRemoteRelays.
type RemoteLeaves interface {
	// Leaf returns the leaf bytes of supplier's relay at seq.
	Leaf(supplier string, seq uint64) ([]byte, error)
}

// AddRemoteRelays records relays of one session whose leaf bytes stay in a
// fleet's log (a replica on an empty store loading the fleet's
// checkpoint), all with one database write. A relay already logged is
// overwritten, never counted twice; a sealed session refuses them with
// ErrSessionClaimed.
func (m *Manager) AddRemoteRelays(hdr types.SessionHeader, supplier string, computeUnitsPerRelay uint64, rs []RemoteRelay) error {
	if len(rs) == 0 {
		return nil
	}
	t, err := m.openTree(hdr, supplier, computeUnitsPerRelay)
	if err != nil {
		return err
	}
	return t.addRemote(rs)
}

func (m *Manager) addAll(rs []Relay) error {
	r := rs[0]
	t, err := m.openTree(r.Header, r.Supplier, r.ComputeUnitsPerRelay)
	if err != nil {
		return err
	}
	return t.addAll(rs)
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
	if c := m.opts.Coordinator; c != nil {
		c.Forget(context.Background(), t.Header(), t.Supplier())
	}
	if err := t.destroy(); err != nil {
		m.treeLogger(t).Error("deleting session tree; retrying next block", "error", err)
		return
	}
	m.mu.Lock()
	delete(m.trees, string(t.key))
	m.metrics.SessionTrees.Set(float64(len(m.trees)))
	m.mu.Unlock()
	m.treeLogger(t).Info("session tree deleted", "reason", why)
}

// phase is the lifecycle work a tree needs at a height.
type phase int

const (
	idle    phase = iota
	claim         // seal if needed, then claim (or recognise the chain's claim)
	prove         // prove (or recognise the chain's proof)
	resolve       // the window is over: ask the chain what happened, forget
)

// phaseAt is what a tree in state needs at height h. Work starts one block
// before a window opens, so the tx can land in its first block.
func phaseAt(state State, w protocol.Windows, h int64) phase {
	switch state {
	case StateOpen, StateSealed:
		switch {
		case h >= w.ClaimWindowClose:
			return resolve // a claim sent now would land too late
		case h >= w.ClaimWindowOpen-1:
			return claim
		}
	case StateClaimed:
		switch {
		case h >= w.ProofWindowClose:
			return resolve
		case h >= w.ProofWindowOpen-1:
			return prove
		}
	case StateProven:
		if h >= w.ProofWindowClose {
			return resolve
		}
	}
	return idle
}

// OnBlock advances every tree's lifecycle to height h. Blocks must be
// handed in order, each once; the work runs in the background, one batch
// per supplier and phase, and a tree with work in flight is skipped. While
// heights are caught up after an outage (h below the chain's tip) nothing
// is done: a tx built at an old height would carry a stale timeout.
func (m *Manager) OnBlock(ctx context.Context, h int64) {
	if h < m.chain.Tip() {
		return
	}
	type batch struct {
		supplier string
		phase    phase
	}
	work := map[batch][]*Tree{}
	for _, t := range m.Trees() {
		tm, busy := t.snapshot()
		if busy {
			continue
		}
		p, err := m.chain.ParamsAt(ctx, tm.Header.SessionStartBlockHeight)
		if err != nil {
			m.treeLogger(t).Error("reading params at session start", "error", err)
			continue
		}
		w := protocol.SessionWindows(p, tm.Header.SessionEndBlockHeight)
		if !m.leads(tm.Supplier) {
			// A fleet replica's standby copy: the lease holder runs its
			// lifecycle. Once its proof window closed, nothing is left that
			// this replica could do with it, were it to lead.
			if h > w.ProofWindowClose {
				m.remove(t, "a standby copy past its proof window")
			}
			continue
		}
		if ph := phaseAt(tm.State, w, h); ph != idle {
			b := batch{tm.Supplier, ph}
			work[b] = append(work[b], t)
		}
	}
	for b, trees := range work {
		switch b.phase {
		case claim:
			m.inFlight(trees, func() { m.claim(ctx, b.supplier, trees, h) })
		case prove:
			m.inFlight(trees, func() { m.prove(ctx, b.supplier, trees, h) })
		case resolve:
			m.inFlight(trees, func() {
				for _, t := range trees {
					m.resolve(ctx, t, h)
				}
			})
		}
	}
}

// leads reports whether this manager runs the lifecycle of supplier's
// trees: always, unless a fleet's lease is held by another RelayMiner.
func (m *Manager) leads(supplier string) bool {
	return m.opts.Coordinator == nil || m.opts.Coordinator.Leads(supplier)
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
	timeout int64
}

// submit sends the items of one supplier in one tx that expires with the
// earliest of them. If that tx fails and held several items, each is sent
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

// txTimeout is the timeout height of a tx sent at height h for a window
// closing at windowClose: a few blocks, never past the window.
func (m *Manager) txTimeout(h, windowClose int64) int64 {
	return min(h+m.opts.TxTimeoutBlocks, windowClose)
}

// claim seals the trees (building each claim trie from the relays minable
// under the claim seed) and claims those the chain holds no claim for yet.
func (m *Manager) claim(ctx context.Context, supplier string, trees []*Tree, h int64) {
	var items []item
	for _, t := range trees {
		lg := m.treeLogger(t)
		hdr := t.Header()
		p, err := m.chain.ParamsAt(ctx, hdr.SessionStartBlockHeight)
		if err != nil {
			lg.Error("reading params at session start", "error", err)
			continue
		}
		w := protocol.SessionWindows(p, hdr.SessionEndBlockHeight)
		root, ok := m.seal(ctx, t, p, w)
		if !ok {
			continue
		}
		if root.Count == 0 {
			m.remove(t, "no minable relays to claim")
			continue
		}
		if h >= w.ClaimWindowClose {
			continue // a tx sent now would land too late: resolved next block
		}
		if h >= w.ClaimWindowOpen {
			// The chain first: a claim that landed before a crash, or while
			// its tx was being waited for, is already there.
			if done, err := m.recogniseClaim(ctx, t); err != nil {
				lg.Error("asking the chain for the session's claim; retrying next block", "error", err)
				continue
			} else if done {
				continue
			}
		}
		tm, _ := t.snapshot()
		items = append(items, item{tree: t, timeout: m.txTimeout(h, w.ClaimWindowClose),
			msg: &types.MsgCreateClaim{SupplierOperatorAddress: supplier, SessionHeader: hdr, RootHash: tm.Root}})
	}
	var retry []*Tree
	m.submit(ctx, supplier, "claim", items, func(it item, err error) {
		if m.claimed(it.tree, err) {
			retry = append(retry, it.tree)
		}
	})
	if next := m.chain.Tip(); len(retry) > 0 && next > h && ctx.Err() == nil {
		// Lost on the way (never landed): sent again at once, not a
		// block later, while the window is open.
		m.claim(ctx, supplier, retry, next)
	}
}

// seal builds the tree's claim trie if it is not built yet, and reports its
// root.
func (m *Manager) seal(ctx context.Context, t *Tree, p types.Params, w protocol.Windows) (protocol.Root, bool) {
	lg := m.treeLogger(t)
	if tm, _ := t.snapshot(); tm.State != StateOpen {
		root, err := protocol.ParseRoot(tm.Root)
		if err != nil {
			lg.Error("reading the sealed root", "error", err)
			return protocol.Root{}, false
		}
		return root, true
	}
	seed, err := m.chain.BlockHash(ctx, w.ClaimSeed)
	if err != nil {
		lg.Error("reading the claim seed block; retrying next block", "height", w.ClaimSeed, "error", err)
		return protocol.Root{}, false
	}
	if c := m.opts.Coordinator; c != nil {
		// The fleet's relay log is closed to the session first, and
		// everything appended before is mirrored here: the trie is built
		// from every relay any RelayMiner of the fleet answered.
		if err := c.BeforeSeal(ctx, t.Header(), t.Supplier()); err != nil {
			lg.Error("closing the session in the fleet's relay log; retrying next block", "error", err)
			return protocol.Root{}, false
		}
	}
	start := time.Now()
	root, err := t.seal(seed, protocol.DifficultyTarget(p, t.Header().ServiceId))
	if err != nil {
		lg.Error("sealing session tree; retrying next block", "error", err)
		return protocol.Root{}, false
	}
	tm, _ := t.snapshot()
	if !tm.NodesStored {
		lg.Error("claim trie built but its nodes could not be stored (store unavailable): the claim is made from the relay log, and its proof will be built from the log again")
	}
	lg.Info("session tree sealed", "relays", tm.Logged, "minable", tm.Minable, "compute_units", root.Sum, "took", time.Since(start))
	return root, true
}

// recogniseClaim asks the chain for the tree's claim: true when the chain
// holds it (the tree is then claimed) or holds another supplier tree's
// claim (the tree is then dropped: its relays are not in that claim).
func (m *Manager) recogniseClaim(ctx context.Context, t *Tree) (bool, error) {
	tm, _ := t.snapshot()
	c, err := m.chain.ClaimOf(ctx, tm.Header.SessionId, tm.Supplier)
	if err != nil || c == nil {
		return false, err
	}
	if string(c.RootHash) != string(tm.Root) {
		m.treeLogger(t).Error("the chain holds another claim of this supplier for the session (another RelayMiner with the same key?): this tree's relays are not in it",
			"claimed_root", c.RootHash, "root", tm.Root)
		m.metrics.Claims.WithLabelValues("conflict").Inc()
		m.remove(t, "claimed by another tree")
		return true, nil
	}
	m.claimed(t, nil)
	return true, nil
}

// claimed records the outcome of a claim tx, and says whether to send it
// again at once (it never landed, and the chain did not refuse it). A
// duplicate-claim rejection means an earlier tx landed: the chain is asked
// next block which root.
func (m *Manager) claimed(t *Tree, err error) (retry bool) {
	lg := m.treeLogger(t)
	switch {
	case errors.Is(err, types.ErrClaimExists):
		lg.Info("the chain already holds a claim for the session; checking its root next block")
		return false
	case err != nil:
		lg.Error("claim not landed; sending it again while the window is open", "error", err)
		m.metrics.Claims.WithLabelValues("failed").Inc()
		return !refused(err)
	}
	if err := t.markClaimed(); err != nil {
		// The chain holds the claim: the next block recognises it again.
		lg.Error("recording claim", "error", err)
	}
	tm, _ := t.snapshot()
	root, _ := protocol.ParseRoot(tm.Root)
	lg.Info("session claimed", "relays", root.Count, "compute_units", root.Sum)
	m.metrics.Claims.WithLabelValues("ok").Inc()
	return false
}

// refused reports whether err is the chain's (a registered ABCI error, in
// CheckTx or in its block): sending the same tx again would not help.
func refused(err error) bool {
	var coded interface {
		ABCICode() uint32
		Codespace() string
	}
	return errors.As(err, &coded) && coded.ABCICode() != 0 && coded.Codespace() != errorsmod.UndefinedCodespace
}

// prove builds and submits the proofs the chain requires and holds not yet.
func (m *Manager) prove(ctx context.Context, supplier string, trees []*Tree, h int64) {
	var items []item
	for _, t := range trees {
		hdr := t.Header()
		lg := m.treeLogger(t)
		p, err := m.chain.ParamsAt(ctx, hdr.SessionStartBlockHeight)
		if err != nil {
			lg.Error("reading params at session start", "error", err)
			continue
		}
		w := protocol.SessionWindows(p, hdr.SessionEndBlockHeight)
		if h >= w.ProofWindowClose {
			continue // a tx sent now would land too late: resolved next block
		}
		required, err := m.chain.ProofRequired(ctx, hdr.SessionId, supplier)
		if err != nil {
			lg.Error("asking whether a proof is required; retrying next block", "error", err)
			continue
		}
		if !required {
			m.metrics.Proofs.WithLabelValues("not_required").Inc()
			m.proven(t, "no proof required")
			continue
		}
		if has, err := m.chain.HasProof(ctx, hdr.SessionId, supplier); err != nil {
			lg.Error("asking the chain for the session's proof; retrying next block", "error", err)
			continue
		} else if has {
			m.proven(t, "proof on chain")
			continue
		}
		seed, err := m.chain.BlockHash(ctx, w.ProofSeed)
		if err != nil {
			lg.Error("reading the proof seed block; retrying next block", "height", w.ProofSeed, "error", err)
			continue
		}
		tm, _ := t.snapshot()
		root, err := protocol.ParseRoot(tm.Root)
		if err != nil {
			lg.Error("reading the claimed root", "error", err)
			continue
		}
		leaves, err := t.prove(protocol.ProofPoints(seed, hdr.SessionId, supplier, root.Sum, p.NumProofsPerClaim), protocol.DifficultyTarget(p, hdr.ServiceId))
		if err != nil {
			lg.Error("building proof; retrying next block", "error", err)
			continue
		}
		items = append(items, item{tree: t, timeout: m.txTimeout(h, w.ProofWindowClose),
			msg: &types.MsgSubmitProof{SupplierOperatorAddress: supplier, SessionHeader: hdr, Proofs: leaves}})
	}
	var retry []*Tree
	m.submit(ctx, supplier, "proof", items, func(it item, err error) {
		if m.proved(it.tree, err) {
			retry = append(retry, it.tree)
		}
	})
	if next := m.chain.Tip(); len(retry) > 0 && next > h && ctx.Err() == nil {
		m.prove(ctx, supplier, retry, next)
	}
}

// proved records the outcome of a proof tx, and says whether to send it
// again at once.
func (m *Manager) proved(t *Tree, err error) (retry bool) {
	switch {
	case errors.Is(err, types.ErrProofExists):
		m.proven(t, "proof on chain")
	case err != nil:
		m.treeLogger(t).Error("proof not landed; sending it again while the window is open", "error", err)
		m.metrics.Proofs.WithLabelValues("failed").Inc()
		return !refused(err)
	default:
		m.metrics.Proofs.WithLabelValues("ok").Inc()
		m.proven(t, "proof landed")
	}
	return false
}

// proven records that the tree needs nothing more from its relays and
// deletes them; the settlement is read once the proof window closes.
func (m *Manager) proven(t *Tree, why string) {
	if err := t.markProven(); err != nil {
		m.treeLogger(t).Error("deleting the proven session's relays; retrying later", "error", err)
	}
	if c := m.opts.Coordinator; c != nil {
		c.Forget(context.Background(), t.Header(), t.Supplier())
	}
	m.treeLogger(t).Info("session proven", "how", why)
}

// resolve asks the chain how a tree's session ended, reports it, and
// forgets the tree. A tree the chain holds no claim for after its claim
// window, or no proof for after its proof window, is reported lost only
// then.
func (m *Manager) resolve(ctx context.Context, t *Tree, h int64) {
	tm, _ := t.snapshot()
	hdr := tm.Header
	lg := m.treeLogger(t)
	p, err := m.chain.ParamsAt(ctx, hdr.SessionStartBlockHeight)
	if err != nil {
		lg.Error("reading params at session start", "error", err)
		return
	}
	w := protocol.SessionWindows(p, hdr.SessionEndBlockHeight)
	switch tm.State {
	case StateOpen, StateSealed:
		// The claim window closed (or its last block passed): the chain
		// says whether a claim landed.
		if tm.State == StateOpen {
			if _, ok := m.seal(ctx, t, p, w); !ok {
				return
			}
		}
		done, err := m.recogniseClaim(ctx, t)
		switch {
		case err != nil:
			lg.Error("asking the chain for the session's claim; retrying next block", "error", err)
		case !done:
			tm, _ := t.snapshot()
			lg.Error("the claim window closed and the chain holds no claim for the session: its relays are lost",
				"relays", tm.Logged, "claim_window_close", w.ClaimWindowClose)
			m.metrics.Claims.WithLabelValues("missed").Inc()
			m.remove(t, "claim window missed")
		default:
			// Recognised late (e.g. after a restart): go on at once.
			if tm, _ := t.snapshot(); tm.State == StateClaimed && phaseAt(tm.State, w, h) == prove {
				m.prove(ctx, tm.Supplier, []*Tree{t}, h)
			}
		}
	case StateClaimed, StateProven:
		settled, expired, err := m.chain.ClaimOutcome(ctx, w.ProofWindowClose, hdr.SessionId, tm.Supplier)
		if err != nil {
			lg.Error("reading the session's settlement; retrying next block", "error", err)
			return
		}
		switch {
		case settled != nil:
			lg.Info("session settled", "amount", settled.Amount.String(), "capped", settled.Capped, "excess", settled.Excess.String())
			m.metrics.Settlements.WithLabelValues("settled").Inc()
		case expired != nil:
			lg.Error("session claim expired: not paid", "reason", expired.Reason)
			m.metrics.Settlements.WithLabelValues("expired").Inc()
			if tm.State == StateClaimed {
				m.metrics.Proofs.WithLabelValues("missed").Inc()
			}
		default:
			lg.Info("the session's settlement is not in the node's block results (pruned?)", "proof_window_close", w.ProofWindowClose)
			m.metrics.Settlements.WithLabelValues("unknown").Inc()
		}
		m.remove(t, "settled")
	}
}
