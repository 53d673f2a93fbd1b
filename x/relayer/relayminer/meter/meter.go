package meter

import (
	"context"
	"errors"
	"fmt"
	"sync"

	errorsmod "cosmossdk.io/errors"
	"cosmossdk.io/log"
	"cosmossdk.io/math"

	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/metrics"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// Chain is what the meter reads from the chain (cached by the caller
// where it can be).
type Chain interface {
	LatestHeight() int64
	ParamsAt(ctx context.Context, height int64) (types.Params, error)
	ServiceAt(ctx context.Context, id string, height int64) (types.Service, error)
	Session(ctx context.Context, app, service string, start int64) (types.Session, error)
	// Application is the application as staked now
	// (types.ErrApplicationNotFound when it is not).
	Application(ctx context.Context, addr string) (types.Application, error)
	// SessionClaims are the claims the chain holds for a session.
	SessionClaims(ctx context.Context, sessionID string) ([]types.Claim, error)
}

// Logged counts the relays already in a session's relay log (a session
// served before a restart).
type Logged interface {
	LoggedRelays(hdr types.SessionHeader, supplier string) (uint64, error)
}

// Key names one supplier's count of one session of an application.
type Key struct {
	Supplier, Application, Session string
}

// Counter holds the meter's counts where every replica of a fleet sees
// them (store.backend: jetstream; implemented by fleet.Counter): the
// compute units reserved per Key, each change atomic across replicas. An
// error means the count could not be read or changed in time: the meter
// then refuses the relay as types.ErrRelayStoreUnavailable, never serves it
// unmetered.
type Counter interface {
	// Add adds units to key's count unless the count would pass limit (or
	// already reached it), and returns the count after: the count found,
	// with added false, when it refused.
	Add(ctx context.Context, key Key, units, limit uint64) (count uint64, added bool, err error)
	// Sub takes units back from key's count (never below zero) and returns
	// the count after.
	Sub(ctx context.Context, key Key, units uint64) (count uint64, err error)
	// Count is key's count, zero when it has none.
	Count(ctx context.Context, key Key) (uint64, error)
}

// errCounter marks an error of the shared counter.
var errCounter = errors.New("shared relay meter")

// Reasons of a refusal (metric label and log field).
const (
	// ReasonShareUsed: the supplier served its whole share of the session.
	ReasonShareUsed = "share_used"
	// ReasonEarlierSessions: the application's unsettled claims of earlier
	// sessions (or the sessions of its other services settling with this
	// one) leave the supplier less than its share, and it served that.
	ReasonEarlierSessions = "earlier_sessions"
	// ReasonNoStake: the application has nothing left to pay with.
	ReasonNoStake = "no_stake"
)

// Meter meters the relays of every (supplier, session) served here. It is
// safe for concurrent use.
type Meter struct {
	chain   Chain
	logger  log.Logger
	metrics *metrics.Meter
	service func(id string) string // metric label of a service id
	logged  Logged                 // nil: every session starts at 0
	counter Counter                // nil: the counts are this process's own

	mu      sync.Mutex
	entries map[string]*entry // by supplier + "/" + session id
	labels  map[string]int    // applications with a label of their own: their entries
	pruned  int64             // height entries were last pruned at
}

// New builds a meter; its metrics are registered in m's registry. A
// session's count starts from the relays logged reports (nil: from 0).
func New(chain Chain, logger log.Logger, m *metrics.Metrics, logged Logged) *Meter {
	return &Meter{
		chain: chain, logger: logger.With("module", "meter"), metrics: metrics.NewMeter(m.Registry), service: m.Service,
		logged: logged, entries: map[string]*entry{}, labels: map[string]int{},
	}
}

// NewShared builds the meter of a replica of a fleet: the counts are
// counter's, shared by the replicas (each relay's reservation and its
// release change counter, atomically); the budget is computed here as New's
// is, from the chain. A restarted replica finds the session's count in
// counter.
func NewShared(chain Chain, logger log.Logger, m *metrics.Metrics, counter Counter) *Meter {
	mt := New(chain, logger, m, nil)
	mt.counter = counter
	return mt
}

// entry is one supplier's meter of one session.
type entry struct {
	hdr      types.SessionHeader
	supplier string
	label    string // application label of its metrics
	// Fixed for the session.
	cupr       uint64   // compute units per relay
	mult       uint64   // compute units to tokens
	share      math.Int // the supplier's share of the stake at the session's start
	claimClose int64
	proofClose int64

	refresh sync.Mutex // held while the budget is computed

	// Guarded by Meter.mu.
	budget
	// Compute units of the relays admitted (served or in flight) and
	// their number; with a Counter, the fleet's as last seen.
	usedCU  uint64
	relays  uint64
	refused uint64
}

// budget is what the supplier may serve, as computed at a height.
type budget struct {
	height       int64    // 0: never computed
	stakeNow     math.Int // the application's stake at height
	pending      math.Int // what its unsettled claims of earlier sessions may take
	numSuppliers int      // suppliers of the sessions settling with this one
	tokens       math.Int // protocol.SupplierBudget
	computeUnits uint64   // protocol.BudgetComputeUnits
}

// Reserve counts one relay of session hdr served by supplier against its
// budget, before the relay is forwarded. A relay past the budget is refused
// with types.ErrRelayOverServiced; a chain that cannot be read before the
// first budget of the session is known, with types.ErrRelayChainUnavailable;
// with a Counter that cannot be read or changed, with
// types.ErrRelayStoreUnavailable. release uncounts the relay: call it when
// the relay was not served (it will not be claimed).
func (m *Meter) Reserve(ctx context.Context, hdr types.SessionHeader, supplier string) (release func(), err error) {
	e, err := m.entry(ctx, hdr, supplier)
	if err != nil {
		return nil, errorsmod.Wrapf(types.ErrRelayChainUnavailable, "metering session %s: %v", hdr.SessionId, err)
	}
	if err := m.refresh(ctx, e); err != nil {
		if errors.Is(err, errCounter) {
			return nil, errorsmod.Wrapf(types.ErrRelayStoreUnavailable, "budget of session %s: %v", hdr.SessionId, err)
		}
		return nil, errorsmod.Wrapf(types.ErrRelayChainUnavailable, "budget of session %s: %v", hdr.SessionId, err)
	}
	if m.counter != nil {
		return m.reserveShared(ctx, e)
	}
	m.mu.Lock()
	if e.usedCU >= e.computeUnits || e.cupr > e.computeUnits-e.usedCU {
		return nil, m.refuseLocked(e)
	}
	e.usedCU += e.cupr
	e.relays++
	ratio := e.ratio()
	m.mu.Unlock()
	m.metrics.ShareUsed.WithLabelValues(m.service(hdr.ServiceId), e.label).Set(ratio)
	var once sync.Once
	return func() {
		once.Do(func() {
			m.mu.Lock()
			e.usedCU -= e.cupr
			e.relays--
			m.mu.Unlock()
		})
	}, nil
}

// refuseLocked counts a refusal of e and returns its error. Call with
// Meter.mu held; it unlocks it.
func (m *Meter) refuseLocked(e *entry) error {
	e.refused++
	reason := e.reason()
	msg := fmt.Sprintf("supplier %s served %d of the %d compute units application %s can pay it for in session %s "+
		"(share %s, stake now %s, unsettled claims of earlier sessions %s, %d suppliers settling together)",
		e.supplier, e.usedCU, e.computeUnits, e.hdr.ApplicationAddress, e.hdr.SessionId, e.share, e.stakeNow, e.pending, e.numSuppliers)
	m.mu.Unlock()
	m.metrics.Refusals.WithLabelValues(m.service(e.hdr.ServiceId), reason).Inc()
	return errorsmod.Wrap(types.ErrRelayOverServiced, msg)
}

// reserveShared is Reserve against the Counter: the budget is this
// replica's, the count the fleet's.
func (m *Meter) reserveShared(ctx context.Context, e *entry) (func(), error) {
	key := e.key()
	m.mu.Lock()
	limit := e.computeUnits
	m.mu.Unlock()
	count, added, err := m.counter.Add(ctx, key, e.cupr, limit)
	if err != nil {
		return nil, errorsmod.Wrapf(types.ErrRelayStoreUnavailable, "metering session %s: %v", e.hdr.SessionId, err)
	}
	m.mu.Lock()
	e.seen(count)
	if !added {
		return nil, m.refuseLocked(e)
	}
	ratio := e.ratio()
	m.mu.Unlock()
	m.metrics.ShareUsed.WithLabelValues(m.service(e.hdr.ServiceId), e.label).Set(ratio)
	var once sync.Once
	return func() {
		once.Do(func() {
			// Not the relay's context: it may be over, and the units
			// must go back.
			count, err := m.counter.Sub(context.Background(), key, e.cupr)
			if err != nil {
				// Counted though not served: the fleet serves up to
				// one relay less of the session; never more.
				m.logger.Warn("relay meter: an unserved relay stays counted in the fleet's meter", "session_id", e.hdr.SessionId,
					"supplier", e.supplier, "compute_units", e.cupr, "error", err)
				return
			}
			m.mu.Lock()
			e.seen(count)
			m.mu.Unlock()
		})
	}, nil
}

// key is e's key in the Counter.
func (e *entry) key() Key {
	return Key{Supplier: e.supplier, Application: e.hdr.ApplicationAddress, Session: e.hdr.SessionId}
}

// seen records the fleet's count of e as the Counter last returned it.
// Call with Meter.mu held.
func (e *entry) seen(count uint64) {
	e.usedCU = count
	if e.cupr > 0 {
		e.relays = count / e.cupr
	}
}

// reason says why e refuses relays. Call with Meter.mu held.
func (e *entry) reason() string {
	switch {
	case !e.tokens.IsPositive():
		return ReasonNoStake
	case e.tokens.LT(e.share):
		return ReasonEarlierSessions
	}
	return ReasonShareUsed
}

// ratio is the fraction of its budget e used. Call with Meter.mu held.
func (e *entry) ratio() float64 {
	if e.computeUnits == 0 {
		return 1
	}
	return float64(e.usedCU) / float64(e.computeUnits)
}

// entry returns the meter of (supplier, session hdr), made on first use
// from the session's rules (cached by the chain client: the relay's
// session was read from the chain when it was admitted).
func (m *Meter) entry(ctx context.Context, hdr types.SessionHeader, supplier string) (*entry, error) {
	key := supplier + "/" + hdr.SessionId
	m.mu.Lock()
	e := m.entries[key]
	m.mu.Unlock()
	if e != nil {
		return e, nil
	}
	start := hdr.SessionStartBlockHeight
	sess, err := m.chain.Session(ctx, hdr.ApplicationAddress, hdr.ServiceId, start)
	if err != nil {
		return nil, err
	}
	p, err := m.chain.ParamsAt(ctx, start)
	if err != nil {
		return nil, err
	}
	svc, err := m.chain.ServiceAt(ctx, hdr.ServiceId, start)
	if err != nil {
		return nil, err
	}
	w := protocol.SessionWindows(p, hdr.SessionEndBlockHeight)
	e = &entry{
		hdr: hdr, supplier: supplier, cupr: svc.ComputeUnitsPerRelay, mult: p.ComputeUnitsToTokensMultiplier,
		share:      protocol.SupplierShare(sess.Application.Stake.Amount, len(sess.Suppliers)),
		claimClose: w.ClaimWindowClose, proofClose: w.ProofWindowClose,
	}
	if m.logged != nil {
		// Served before this process saw the session (a restart): its
		// relays count. A relay of this process is counted before it is
		// logged, so none is counted twice.
		n, err := m.logged.LoggedRelays(hdr, supplier)
		if err != nil {
			return nil, err
		}
		e.relays, e.usedCU = n, n*e.cupr
		if n > 0 {
			m.logger.Info("relay meter: session served before a restart", "session_id", hdr.SessionId, "supplier", supplier,
				"service", hdr.ServiceId, "relays", n)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old := m.entries[key]; old != nil {
		return old, nil
	}
	e.label = m.labelLocked(hdr.ApplicationAddress)
	m.entries[key] = e
	return e, nil
}

// labelLocked is the application label of a new entry of app: app itself
// while fewer than metrics.MaxApplicationLabels applications have one.
func (m *Meter) labelLocked(app string) string {
	if n, ok := m.labels[app]; ok {
		m.labels[app] = n + 1
		return app
	}
	if len(m.labels) < metrics.MaxApplicationLabels {
		m.labels[app] = 1
		return app
	}
	return metrics.OtherApplications
}

// refresh computes e's budget again once per block: the stake and the
// earlier sessions' claims change as blocks come. While one relay
// refreshes, the others use the budget of the block before; only the
// session's first relays wait for it.
func (m *Meter) refresh(ctx context.Context, e *entry) error {
	h := m.chain.LatestHeight()
	m.mu.Lock()
	fresh, have := e.height >= h, e.height > 0
	m.mu.Unlock()
	if fresh {
		return nil
	}
	if have {
		if !e.refresh.TryLock() {
			return nil
		}
	} else {
		e.refresh.Lock()
	}
	defer e.refresh.Unlock()
	m.mu.Lock()
	fresh = e.height >= h
	m.mu.Unlock()
	if fresh {
		return nil
	}
	b, err := m.compute(ctx, e, h)
	lg := m.logger.With("session_id", e.hdr.SessionId, "supplier", e.supplier, "service", e.hdr.ServiceId, "application", e.hdr.ApplicationAddress)
	if err != nil {
		if have {
			lg.Warn("relay meter: budget not refreshed; the last one holds", "height", h, "error", err)
			return nil
		}
		return err
	}
	m.mu.Lock()
	changed := b.computeUnits != e.computeUnits || !have
	e.budget = b
	m.mu.Unlock()
	if changed {
		lg.Debug("relay meter: budget", "height", h, "compute_units", b.computeUnits, "tokens", b.tokens.String(), "share", e.share.String(),
			"stake_now", b.stakeNow.String(), "pending_earlier", b.pending.String(), "suppliers_settling_together", b.numSuppliers)
	}
	m.prune(h)
	return nil
}

// compute is e's budget at height h: protocol.SupplierBudget of its share,
// the application's stake now, what its unsettled claims of earlier
// sessions may take, and the suppliers of its sessions settling with this
// one, in compute units.
func (m *Meter) compute(ctx context.Context, e *entry, h int64) (budget, error) {
	b := budget{height: h, stakeNow: math.ZeroInt(), pending: math.ZeroInt()}
	services := []string{e.hdr.ServiceId}
	app, err := m.chain.Application(ctx, e.hdr.ApplicationAddress)
	switch {
	case errors.Is(err, types.ErrApplicationNotFound):
		// Unstaked and paid back: nothing is left to pay with.
	case err != nil:
		return b, err
	default:
		b.stakeNow = app.Stake.Amount
		for _, id := range app.ServiceIds {
			if id != e.hdr.ServiceId {
				services = append(services, id)
			}
		}
	}
	if b.pending, err = m.pendingEarlier(ctx, e, services, h); err != nil {
		return b, err
	}
	for _, id := range services {
		s, err := m.chain.Session(ctx, e.hdr.ApplicationAddress, id, e.hdr.SessionStartBlockHeight)
		if err != nil {
			if id == e.hdr.ServiceId {
				return b, err
			}
			continue // not active for that service in this session
		}
		b.numSuppliers += len(s.Suppliers)
	}
	b.tokens = protocol.SupplierBudget(e.share, b.stakeNow, b.pending, b.numSuppliers)
	b.computeUnits = protocol.BudgetComputeUnits(b.tokens, e.mult)
	return b, nil
}

// pendingEarlier is what the application's claims of sessions before e's
// that are not settled at height h may take (protocol.ClaimPayable of each
// claim on chain, for every service in services), plus what e's supplier
// served of such sessions and has not claimed yet (its claim is not on
// chain while the session's claim window is open: its own count stands
// in for it; with a Counter, the fleet's count). Other suppliers' work not
// claimed yet cannot be known here.
func (m *Meter) pendingEarlier(ctx context.Context, e *entry, services []string, h int64) (math.Int, error) {
	pending := math.ZeroInt()
	app := e.hdr.ApplicationAddress
	claimed := map[string]bool{} // earlier sessions e's supplier has a claim of on chain
	type earlier struct {
		id          string
		share       math.Int
		mult        uint64
		claimClosed bool
	}
	var sessions []earlier // with a Counter: the earlier sessions of e's application
	p, err := m.chain.ParamsAt(ctx, e.hdr.SessionStartBlockHeight)
	if err != nil {
		return pending, err
	}
	// Sessions never re-tile (governance cannot change their length), and
	// settle in order: walk back until one is settled.
	for start := e.hdr.SessionStartBlockHeight - int64(p.NumBlocksPerSession); start >= 1; start -= int64(p.NumBlocksPerSession) {
		ps, err := m.chain.ParamsAt(ctx, start)
		if err != nil {
			return pending, err
		}
		if w := protocol.SessionWindows(ps, protocol.SessionEndHeight(ps.NumBlocksPerSession, start)); w.ProofWindowClose <= h {
			break
		}
		for _, id := range services {
			s, err := m.chain.Session(ctx, app, id, start)
			if err != nil {
				continue // the application was not active for it then
			}
			claims, err := m.chain.SessionClaims(ctx, s.Header.SessionId)
			if err != nil {
				return pending, err
			}
			share := protocol.SupplierShare(s.Application.Stake.Amount, len(s.Suppliers))
			if m.counter != nil {
				w := protocol.SessionWindows(ps, s.Header.SessionEndBlockHeight)
				sessions = append(sessions, earlier{id: s.Header.SessionId, share: share, mult: ps.ComputeUnitsToTokensMultiplier, claimClosed: w.ClaimWindowClose < h})
			}
			target := protocol.DifficultyTarget(ps, id)
			for _, c := range claims {
				root, err := protocol.ParseRoot(c.RootHash)
				if err != nil {
					continue // the chain accepted it: unreachable
				}
				pending = pending.Add(protocol.ClaimPayable(protocol.ClaimedTokens(root.Sum, ps.ComputeUnitsToTokensMultiplier, target), share))
				if c.SupplierOperatorAddress == e.supplier {
					claimed[s.Header.SessionId] = true
				}
			}
		}
	}
	if m.counter != nil {
		// The fleet's own work of each earlier session not claimed yet,
		// whichever replica served it.
		for _, o := range sessions {
			if claimed[o.id] || o.claimClosed {
				continue
			}
			cu, err := m.counter.Count(ctx, Key{Supplier: e.supplier, Application: app, Session: o.id})
			if err != nil {
				return pending, fmt.Errorf("%w: count of session %s: %w", errCounter, o.id, err)
			}
			pending = pending.Add(protocol.ClaimPayable(protocol.ExpectedTokens(cu, o.mult), o.share))
		}
		return pending, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.entries {
		if o == e || o.supplier != e.supplier || o.hdr.ApplicationAddress != app ||
			o.hdr.SessionStartBlockHeight >= e.hdr.SessionStartBlockHeight || claimed[o.hdr.SessionId] || o.claimClose < h {
			continue
		}
		pending = pending.Add(protocol.ClaimPayable(protocol.ExpectedTokens(o.usedCU, o.mult), o.share))
	}
	return pending, nil
}

// prune forgets, once per height, the entries whose proof window closed.
func (m *Meter) prune(h int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if h <= m.pruned {
		return
	}
	m.pruned = h
	for key, e := range m.entries {
		if e.proofClose >= h {
			continue
		}
		delete(m.entries, key)
		if e.label == metrics.OtherApplications {
			continue
		}
		if m.labels[e.label]--; m.labels[e.label] <= 0 {
			delete(m.labels, e.label)
		}
		m.metrics.ShareUsed.DeleteLabelValues(m.service(e.hdr.ServiceId), e.label)
	}
}

// Usage is one supplier's metered use of one session.
type Usage struct {
	SessionID    string `json:"session_id"`
	Application  string `json:"application"`
	Service      string `json:"service"`
	Supplier     string `json:"supplier"`
	StartHeight  int64  `json:"start_height"`
	EndHeight    int64  `json:"end_height"`
	Relays       uint64 `json:"relays"`
	ComputeUnits uint64 `json:"compute_units"`
	Refused      uint64 `json:"refused"`
	// ExpectedTokens is what the relays served are expected to be paid
	// (protocol.ExpectedTokens), at most the budget's tokens.
	ExpectedTokens string `json:"expected_tokens"`
	// BudgetComputeUnits and BudgetTokens are the budget as last computed
	// (at BudgetHeight); Share is the supplier's share of the stake.
	BudgetComputeUnits uint64 `json:"budget_compute_units"`
	BudgetTokens       string `json:"budget_tokens"`
	BudgetHeight       int64  `json:"budget_height"`
	Share              string `json:"share"`
	PendingEarlier     string `json:"pending_earlier"`
}

// Usage is the meter of (supplier, sessionID), if a relay of it was
// metered since the session's proof window closed.
func (m *Meter) Usage(supplier, sessionID string) (Usage, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[supplier+"/"+sessionID]
	if !ok {
		return Usage{}, false
	}
	u := Usage{
		SessionID: e.hdr.SessionId, Application: e.hdr.ApplicationAddress, Service: e.hdr.ServiceId, Supplier: e.supplier,
		StartHeight: e.hdr.SessionStartBlockHeight, EndHeight: e.hdr.SessionEndBlockHeight,
		Relays: e.relays, ComputeUnits: e.usedCU, Refused: e.refused,
		ExpectedTokens:     protocol.ClaimPayable(protocol.ExpectedTokens(e.usedCU, e.mult), e.share).String(),
		BudgetComputeUnits: e.computeUnits, BudgetHeight: e.height, Share: e.share.String(),
	}
	if e.height > 0 {
		u.BudgetTokens, u.PendingEarlier = e.tokens.String(), e.pending.String()
	}
	return u, true
}

// Sessions are the meters held, in no particular order.
func (m *Meter) Sessions() []Usage {
	m.mu.Lock()
	keys := make([][2]string, 0, len(m.entries))
	for _, e := range m.entries {
		keys = append(keys, [2]string{e.supplier, e.hdr.SessionId})
	}
	m.mu.Unlock()
	out := make([]Usage, 0, len(keys))
	for _, k := range keys {
		if u, ok := m.Usage(k[0], k[1]); ok {
			out = append(out, u)
		}
	}
	return out
}
