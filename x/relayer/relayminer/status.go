package relayminer

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"cosmossdk.io/math"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/pokt-network/poktroll/x/relayer/client/chain"
	"github.com/pokt-network/poktroll/x/relayer/protocol"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/meter"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/session"
	"github.com/pokt-network/poktroll/x/relayer/relayminer/status"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// lastTxs is how many claim and proof txs the status report keeps.
const lastTxs = 20

// activity is what the status report remembers of the RelayMiner's work
// that the chain does not say: its last claim and proof txs (a failed one
// never reaches the chain), and the settlements read from block results.
type activity struct {
	mu          sync.Mutex
	claims      []status.Tx // newest last
	proofs      []status.Tx
	settlements map[int64]settlementsAt // by height: they never change
}

type settlementsAt struct {
	settled []*types.EventClaimSettled
	expired []*types.EventClaimExpired
}

// recordTx records a claim or proof tx as it ended (chain.TxConfig.Done).
func (rm *RelayMiner) recordTx(res chain.TxResult) {
	tx := status.Tx{Supplier: res.Signer, Height: res.Height, TxHash: strings.ToUpper(hex.EncodeToString(res.Hash)), Result: status.TxLanded, Time: time.Now().UTC()}
	if res.Err != nil {
		tx.Result, tx.Reason = status.TxFailed, res.Err.Error()
	}
	a := &rm.activity
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, m := range res.Msgs {
		var hdr types.SessionHeader
		list := &a.claims
		switch msg := m.(type) {
		case *types.MsgCreateClaim:
			hdr = msg.SessionHeader
		case *types.MsgSubmitProof:
			hdr, list = msg.SessionHeader, &a.proofs
		default:
			continue
		}
		t := tx
		t.SessionID, t.Service = hdr.SessionId, hdr.ServiceId
		*list = append(*list, t)
		if len(*list) > lastTxs {
			*list = (*list)[len(*list)-lastTxs:]
		}
	}
}

// newestFirst is a copy of txs, newest first.
func newestFirst(txs []status.Tx) []status.Tx {
	out := make([]status.Tx, len(txs))
	for i, t := range txs {
		out[len(txs)-1-i] = t
	}
	return out
}

// withStatus serves the status report at status.Path beside health.
func (rm *RelayMiner) withStatus(health http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", health)
	mux.HandleFunc("GET "+status.Path, rm.serveStatus)
	return mux
}

func (rm *RelayMiner) serveStatus(w http.ResponseWriter, r *http.Request) {
	n := status.DefaultSessions
	if v := r.URL.Query().Get("sessions"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 0 || n > status.MaxSessions {
			http.Error(w, "sessions must be a number from 0 to "+strconv.Itoa(status.MaxSessions), http.StatusBadRequest)
			return
		}
	}
	rep, err := rm.Status(r.Context(), n)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(rep)
}

// Status reports the sessions held, the last claim and proof txs, the
// coming windows and the earnings of the last settled sessions.
func (rm *RelayMiner) Status(ctx context.Context, lastSessions int) (status.Report, error) {
	h := rm.Chain.LatestHeight()
	rep := status.Report{Height: h, Services: []status.Service{}, Upcoming: []status.Window{}}
	type key struct{ supplier, session string }
	type row struct {
		service [2]string // supplier, service id
		s       *status.Session
	}
	rows := map[key]row{}
	add := func(supplier string, hdr types.SessionHeader, s *status.Session) {
		rows[key{supplier, hdr.SessionId}] = row{[2]string{supplier, hdr.ServiceId}, s}
	}
	var trees []session.Info
	if rm.Sessions != nil {
		for _, t := range rm.Sessions.Trees() {
			trees = append(trees, t.Info())
		}
	}
	var usage []meter.Usage
	if rm.Meter != nil {
		usage = rm.Meter.Sessions()
	}
	for _, ti := range trees {
		s, err := rm.sessionRow(ctx, h, ti)
		if err != nil {
			return rep, err
		}
		add(ti.Supplier, ti.Header, s)
	}
	for _, u := range usage {
		k := key{u.Supplier, u.SessionID}
		hdr := types.SessionHeader{ApplicationAddress: u.Application, ServiceId: u.Service, SessionId: u.SessionID,
			SessionStartBlockHeight: u.StartHeight, SessionEndBlockHeight: u.EndHeight}
		s := rows[k].s
		if s == nil {
			// Metered without a tree: every relay refused (the session is
			// shown while it can be served), or the tree is gone (settled:
			// the meter holds the session until its proof window closes).
			if u.Relays > 0 || !rm.servable(ctx, hdr, h) {
				continue
			}
			s = &status.Session{SessionID: u.SessionID, Application: u.Application, StartHeight: u.StartHeight, EndHeight: u.EndHeight,
				State: status.StateOpen, Relays: u.Relays, ComputeUnits: u.ComputeUnits, ExpectedTokens: rm.tokens(ctx, u.StartHeight, u.ExpectedTokens)}
			add(u.Supplier, hdr, s)
		}
		s.Refused, s.BudgetComputeUnits = u.Refused, u.BudgetComputeUnits
		if s.State == status.StateOpen {
			// The meter counts every relay served in this process, the
			// tree only those logged since it started: the larger is right.
			s.Relays, s.ComputeUnits = max(s.Relays, u.Relays), max(s.ComputeUnits, u.ComputeUnits)
			s.ExpectedTokens = rm.tokens(ctx, u.StartHeight, u.ExpectedTokens)
		}
	}
	services := map[[2]string]*status.Service{}
	for _, r := range rows {
		svc := services[r.service]
		if svc == nil {
			svc = &status.Service{Supplier: r.service[0], Service: r.service[1]}
			services[r.service] = svc
		}
		svc.Sessions = append(svc.Sessions, *r.s)
	}
	for _, svc := range services {
		sort.Slice(svc.Sessions, func(i, j int) bool {
			a, b := svc.Sessions[i], svc.Sessions[j]
			if a.StartHeight != b.StartHeight {
				return a.StartHeight > b.StartHeight
			}
			return a.SessionID < b.SessionID
		})
		rep.Services = append(rep.Services, *svc)
	}
	sort.Slice(rep.Services, func(i, j int) bool {
		a, b := rep.Services[i], rep.Services[j]
		if a.Supplier != b.Supplier {
			return a.Supplier < b.Supplier
		}
		return a.Service < b.Service
	})
	rep.Upcoming = rm.upcoming(ctx, h, trees)
	rm.activity.mu.Lock()
	rep.Claims, rep.Proofs = newestFirst(rm.activity.claims), newestFirst(rm.activity.proofs)
	rm.activity.mu.Unlock()
	earnings, err := rm.earnings(ctx, h, lastSessions)
	if err != nil {
		return rep, err
	}
	rep.Earnings = earnings
	return rep, nil
}

// servable says whether the session's relays are still served at h.
func (rm *RelayMiner) servable(ctx context.Context, hdr types.SessionHeader, h int64) bool {
	p, err := rm.Chain.ParamsAt(ctx, hdr.SessionStartBlockHeight)
	return err == nil && protocol.SessionWindows(p, hdr.SessionEndBlockHeight).InSessionOrGrace(hdr.SessionStartBlockHeight, h)
}

// sessionRow is the report of a tree: its state, counts and worth.
func (rm *RelayMiner) sessionRow(ctx context.Context, h int64, ti session.Info) (*status.Session, error) {
	hdr := ti.Header
	s := &status.Session{SessionID: hdr.SessionId, Application: hdr.ApplicationAddress, StartHeight: hdr.SessionStartBlockHeight,
		EndHeight: hdr.SessionEndBlockHeight, State: string(ti.State)}
	p, err := rm.Chain.ParamsAt(ctx, hdr.SessionStartBlockHeight)
	if err != nil {
		return nil, err
	}
	sess, err := rm.Chain.Session(ctx, hdr.ApplicationAddress, hdr.ServiceId, hdr.SessionStartBlockHeight)
	if err != nil {
		return nil, err
	}
	share := protocol.SupplierShare(sess.Application.Stake.Amount, len(sess.Suppliers))
	w := protocol.SessionWindows(p, hdr.SessionEndBlockHeight)
	if ti.State == session.StateOpen {
		s.Relays, s.ComputeUnits = ti.Added, ti.Added*ti.ComputeUnitsPerRelay
		s.ExpectedTokens = coin(p, protocol.ClaimPayable(protocol.ExpectedTokens(s.ComputeUnits, p.ComputeUnitsToTokensMultiplier), share))
		return s, nil
	}
	s.Relays = ti.Logged
	if root, err := protocol.ParseRoot(ti.Root); err == nil {
		s.ComputeUnits = root.Sum
		worth := protocol.ClaimedTokens(root.Sum, p.ComputeUnitsToTokensMultiplier, protocol.DifficultyTarget(p, hdr.ServiceId))
		s.ExpectedTokens = coin(p, protocol.ClaimPayable(worth, share))
	}
	if ti.State == session.StateClaimed && h >= w.ProofWindowOpen-1 {
		s.State = status.StateProving
	}
	return s, nil
}

// tokens is an amount of the stake denom in force at height.
func (rm *RelayMiner) tokens(ctx context.Context, height int64, amount string) string {
	p, err := rm.Chain.ParamsAt(ctx, height)
	if err != nil {
		return amount
	}
	return amount + p.StakeDenom()
}

func coin(p types.Params, amount math.Int) string {
	return sdk.NewCoin(p.StakeDenom(), amount).String()
}

// upcoming are the coming window heights of the trees held.
func (rm *RelayMiner) upcoming(ctx context.Context, h int64, trees []session.Info) []status.Window {
	out := []status.Window{}
	for _, ti := range trees {
		hdr := ti.Header
		p, err := rm.Chain.ParamsAt(ctx, hdr.SessionStartBlockHeight)
		if err != nil {
			continue
		}
		w := protocol.SessionWindows(p, hdr.SessionEndBlockHeight)
		for _, e := range []struct {
			height int64
			what   string
		}{
			{w.SessionEnd, "session ends"},
			{w.GracePeriodEnd, "grace period ends (last relays)"},
			{w.ClaimWindowOpen, "claim window opens"},
			{w.ClaimWindowClose, "claim window closes"},
			{w.ProofWindowOpen, "proof window opens"},
			{w.ProofWindowClose, "proof window closes: settlement"},
		} {
			if e.height > h {
				out = append(out, status.Window{Height: e.height, What: e.what, SessionID: hdr.SessionId, Supplier: ti.Supplier, Service: hdr.ServiceId})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Height < out[j].Height })
	return out
}

// earnings are the settlements of this RelayMiner's suppliers over the
// last n settled sessions, read from the block results of the heights
// their proof windows closed at (cached: they never change).
func (rm *RelayMiner) earnings(ctx context.Context, h int64, n int) (status.Earnings, error) {
	e := status.Earnings{Sessions: n, BySupplier: map[string]string{}, Settlements: []status.Settlement{}}
	ours := rm.supplierAddresses()
	p, err := rm.Chain.ParamsAt(ctx, h)
	if err != nil {
		return e, err
	}
	denom := p.StakeDenom()
	total := math.ZeroInt()
	by := map[string]math.Int{}
	// The newest session settled by h, then the ones before it.
	blocks := int64(p.NumBlocksPerSession)
	end := protocol.SessionStartHeight(p.NumBlocksPerSession, h) - 1
	for found := 0; found < n && end >= 1; end -= blocks {
		ps, err := rm.Chain.ParamsAt(ctx, end)
		if err != nil {
			return e, err
		}
		closeAt := protocol.SessionWindows(ps, end).ProofWindowClose
		if closeAt > h {
			continue // not settled yet
		}
		found++
		at, err := rm.settlementsAt(ctx, closeAt)
		if err != nil {
			e.Unknown = append(e.Unknown, closeAt)
			continue
		}
		for _, ev := range at.settled {
			c := ev.Claim
			if !ours[c.SupplierOperatorAddress] {
				continue
			}
			e.Settlements = append(e.Settlements, status.Settlement{Height: closeAt, SessionID: c.SessionHeader.SessionId, Supplier: c.SupplierOperatorAddress,
				Service: c.SessionHeader.ServiceId, Result: "settled", Amount: ev.Amount.String(), Capped: ev.Capped})
			total = total.Add(ev.Amount.Amount)
			prev, ok := by[c.SupplierOperatorAddress]
			if !ok {
				prev = math.ZeroInt()
			}
			by[c.SupplierOperatorAddress] = prev.Add(ev.Amount.Amount)
		}
		for _, ev := range at.expired {
			c := ev.Claim
			if !ours[c.SupplierOperatorAddress] {
				continue
			}
			e.Settlements = append(e.Settlements, status.Settlement{Height: closeAt, SessionID: c.SessionHeader.SessionId, Supplier: c.SupplierOperatorAddress,
				Service: c.SessionHeader.ServiceId, Result: "expired", Amount: sdk.NewInt64Coin(denom, 0).String(), Reason: ev.Reason})
		}
	}
	e.Total = sdk.NewCoin(denom, total).String()
	for s, amt := range by {
		e.BySupplier[s] = sdk.NewCoin(denom, amt).String()
	}
	return e, nil
}

// settlementsAt are the settlements of the block at height, read once.
func (rm *RelayMiner) settlementsAt(ctx context.Context, height int64) (settlementsAt, error) {
	a := &rm.activity
	a.mu.Lock()
	at, ok := a.settlements[height]
	a.mu.Unlock()
	if ok {
		return at, nil
	}
	settled, expired, err := rm.Chain.Settlements(ctx, height)
	if err != nil {
		return settlementsAt{}, err
	}
	at = settlementsAt{settled: settled, expired: expired}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.settlements == nil || len(a.settlements) >= 4*status.MaxSessions {
		a.settlements = map[int64]settlementsAt{}
	}
	a.settlements[height] = at
	return at, nil
}

// supplierAddresses are the operator addresses of the configured supplier
// keys.
func (rm *RelayMiner) supplierAddresses() map[string]bool {
	out := map[string]bool{}
	if rm.deps.Keyring == nil {
		return out
	}
	for _, name := range rm.cfg.KeyNames() {
		rec, err := rm.deps.Keyring.Key(name)
		if err != nil {
			continue
		}
		if addr, err := rec.GetAddress(); err == nil {
			out[addr.String()] = true
		}
	}
	return out
}
