package status

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Path is where the report is served on the RelayMiner's health address.
const Path = "/status"

// DefaultSessions is how many of the last settled sessions the earnings
// cover, unless asked otherwise (?sessions=N); MaxSessions is the most.
const (
	DefaultSessions = 10
	MaxSessions     = 100
)

// Report is a RelayMiner's status at a height.
type Report struct {
	Height int64 `json:"height"`
	// Services are the sessions held, per supplier and service.
	Services []Service `json:"services"`
	// Claims and Proofs are the last claim and proof txs sent, newest
	// first.
	Claims []Tx `json:"claims"`
	Proofs []Tx `json:"proofs"`
	// Upcoming are the next window heights of the sessions held, soonest
	// first.
	Upcoming []Window `json:"upcoming"`
	// Earnings are what the last settled sessions paid.
	Earnings Earnings `json:"earnings"`
}

// Service is one supplier's sessions of one service.
type Service struct {
	Supplier string    `json:"supplier"`
	Service  string    `json:"service"`
	Sessions []Session `json:"sessions"`
}

// Session states: a session is open (takes relays, grace period
// included), sealed (its claim trie is built), claimed (its claim is on
// chain), proving (its proof window is open: the proof is being sent),
// proven (nothing more to send; waiting for the settlement).
const (
	StateOpen    = "open"
	StateSealed  = "sealed"
	StateClaimed = "claimed"
	StateProving = "proving"
	StateProven  = "proven"
)

// Session is one supplier's session.
type Session struct {
	SessionID   string `json:"session_id"`
	Application string `json:"application"`
	StartHeight int64  `json:"start_height"`
	EndHeight   int64  `json:"end_height"`
	State       string `json:"state"`
	// Relays and ComputeUnits are the relays served while open; once
	// sealed, the relays logged and the compute units claimed (of the
	// minable relays).
	Relays       uint64 `json:"relays"`
	ComputeUnits uint64 `json:"compute_units"`
	// ExpectedTokens is what the session is expected to pay (with its
	// denom): the expected worth of the relays served, or the claim's
	// worth once sealed, at most the supplier's share.
	ExpectedTokens string `json:"expected_tokens"`
	// Refused counts the relays the relay meter refused (application
	// over-serviced); BudgetComputeUnits is the meter's budget.
	Refused            uint64 `json:"refused"`
	BudgetComputeUnits uint64 `json:"budget_compute_units,omitempty"`
}

// Tx results.
const (
	TxLanded = "landed"
	TxFailed = "failed"
)

// Tx is one claim or proof tx, for one session.
type Tx struct {
	SessionID string `json:"session_id"`
	Supplier  string `json:"supplier"`
	Service   string `json:"service"`
	// Height is the block the tx landed in (0 if it did not).
	Height int64  `json:"height"`
	TxHash string `json:"tx_hash"`
	Result string `json:"result"`
	// Reason is why a failed tx failed.
	Reason string    `json:"reason,omitempty"`
	Time   time.Time `json:"time"`
}

// Window is a coming window height of a session.
type Window struct {
	Height    int64  `json:"height"`
	What      string `json:"what"`
	SessionID string `json:"session_id"`
	Supplier  string `json:"supplier"`
	Service   string `json:"service"`
}

// Earnings are the settlements of the last Sessions settled sessions.
type Earnings struct {
	Sessions int `json:"sessions"`
	// Total and BySupplier are the amounts paid (with their denom).
	Total      string            `json:"total"`
	BySupplier map[string]string `json:"by_supplier"`
	// Settlements are the claims settled or expired, newest first.
	Settlements []Settlement `json:"settlements"`
	// Unknown lists the heights whose settlements could not be read (the
	// node pruned their results).
	Unknown []int64 `json:"unknown,omitempty"`
}

// Settlement is how one claim ended.
type Settlement struct {
	Height    int64  `json:"height"`
	SessionID string `json:"session_id"`
	Supplier  string `json:"supplier"`
	Service   string `json:"service"`
	// Result is settled or expired.
	Result string `json:"result"`
	Amount string `json:"amount"`
	Capped bool   `json:"capped,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Fetch reads the report of the RelayMiner whose health address is addr
// (host:port, or an http URL), over the last sessions settled sessions (0:
// the RelayMiner's default).
func Fetch(ctx context.Context, addr string, sessions int) (Report, error) {
	base := addr
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		base = "http://" + base
	}
	u, err := url.Parse(strings.TrimSuffix(base, "/") + Path)
	if err != nil {
		return Report{}, fmt.Errorf("address %q: %w", addr, err)
	}
	if sessions > 0 {
		u.RawQuery = url.Values{"sessions": {fmt.Sprint(sessions)}}.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Report{}, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return Report{}, fmt.Errorf("reading the RelayMiner's status at %s: %w", u, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return Report{}, fmt.Errorf("reading the RelayMiner's status at %s: %w", u, err)
	}
	if res.StatusCode != http.StatusOK {
		return Report{}, fmt.Errorf("the RelayMiner's status at %s: HTTP %d: %s", u, res.StatusCode, strings.TrimSpace(string(body)))
	}
	var r Report
	if err := json.Unmarshal(body, &r); err != nil {
		return Report{}, fmt.Errorf("the RelayMiner's status at %s is not a status report: %w", u, err)
	}
	return r, nil
}

// WriteTable writes r for people: a table per supplier and service, then
// the last claims and proofs, the coming windows and the earnings.
func WriteTable(w io.Writer, r Report) error {
	// Each section is a table of its own: flushed before the next starts.
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, args ...any) {
		if strings.HasPrefix(format, "\n") {
			_ = tw.Flush()
		}
		_, _ = fmt.Fprintf(tw, format, args...)
	}
	p("height %d\n", r.Height)
	if len(r.Services) == 0 {
		p("\nno sessions held\n")
	}
	for _, s := range r.Services {
		p("\nsupplier %s, service %s\n", s.Supplier, s.Service)
		p("SESSION\tAPPLICATION\tHEIGHTS\tSTATE\tRELAYS\tCOMPUTE UNITS\tEXPECTED\tREFUSED\n")
		for _, ss := range s.Sessions {
			p("%s\t%s\t%d-%d\t%s\t%d\t%d\t%s\t%d\n", short(ss.SessionID), ss.Application, ss.StartHeight, ss.EndHeight, ss.State,
				ss.Relays, ss.ComputeUnits, ss.ExpectedTokens, ss.Refused)
		}
	}
	for _, txs := range []struct {
		what string
		txs  []Tx
	}{{"claims", r.Claims}, {"proofs", r.Proofs}} {
		p("\nlast %s\n", txs.what)
		if len(txs.txs) == 0 {
			p("none\n")
			continue
		}
		p("SESSION\tSUPPLIER\tSERVICE\tHEIGHT\tTX\tRESULT\tREASON\n")
		for _, t := range txs.txs {
			p("%s\t%s\t%s\t%d\t%s\t%s\t%s\n", short(t.SessionID), t.Supplier, t.Service, t.Height, t.TxHash, t.Result, t.Reason)
		}
	}
	p("\nupcoming\n")
	if len(r.Upcoming) == 0 {
		p("none\n")
	} else {
		p("HEIGHT\tWHAT\tSESSION\tSUPPLIER\tSERVICE\n")
		for _, u := range r.Upcoming {
			p("%d\t%s\t%s\t%s\t%s\n", u.Height, u.What, short(u.SessionID), u.Supplier, u.Service)
		}
	}
	e := r.Earnings
	p("\nearned over the last %d sessions: %s\n", e.Sessions, e.Total)
	suppliers := make([]string, 0, len(e.BySupplier))
	for s := range e.BySupplier {
		suppliers = append(suppliers, s)
	}
	sort.Strings(suppliers)
	for _, s := range suppliers {
		p("  %s\t%s\n", s, e.BySupplier[s])
	}
	if len(e.Settlements) > 0 {
		p("\nHEIGHT\tSESSION\tSUPPLIER\tSERVICE\tRESULT\tAMOUNT\tREASON\n")
		for _, st := range e.Settlements {
			reason := st.Reason
			if st.Capped {
				reason = strings.TrimSpace("capped " + reason)
			}
			p("%d\t%s\t%s\t%s\t%s\t%s\t%s\n", st.Height, short(st.SessionID), st.Supplier, st.Service, st.Result, st.Amount, reason)
		}
	}
	if len(e.Unknown) > 0 {
		p("settlements unknown at heights %v (block results pruned)\n", e.Unknown)
	}
	return tw.Flush()
}

// short is the first 12 characters of a session id.
func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
