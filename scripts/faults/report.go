package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/pokt-network/poktroll/scripts/internal/localchain"
)

// supplierEvents decodes the relayer events of block h that concern the
// run's supplier (undecodable ones are reported and skipped).
func (r *runner) supplierEvents(h int64, events []abci.Event) []localchain.Event {
	out, errs := localchain.SupplierEvents(h, events, r.chain.Supplier)
	for _, err := range errs {
		say("height %d: %v", h, err)
	}
	return out
}

// sessionRow is one session of the report.
type sessionRow struct {
	Start, End    int64
	Answered      int64
	Claims        int
	Claimed       int64 // relays in the claim
	Proven        bool
	Settled       int64 // relays settled (compute units / compute units per relay)
	SettledAmount int64
	Expired       []string // reasons
	Slashes       int
	Penalty       int64 // upokt burnt from the supplier's stake
	Faults        []string
}

// report is the outcome of a run.
type report struct {
	rows                                []*sessionRow
	answered, claimed, settled, paid    int64
	expired, slashed                    int
	penalty                             int64
	before, after                       localchain.Balances
	load                                loadStats
	crashes                             []string
	lossLines                           []string // the RelayMiner log lines about relays lost
	firstHeight, lastHeight, settleUpTo int64
}

// collect reads the supplier's relayer events in every block up to last
// and puts them next to the relays answered.
func (r *runner) collect(ctx context.Context, last int64, stats loadStats, schedule []fault) (*report, error) {
	rep := &report{load: stats, lastHeight: last}
	rows := map[int64]*sessionRow{}
	n := int64(r.params.NumBlocksPerSession)
	row := func(start int64) *sessionRow {
		if rows[start] == nil {
			rows[start] = &sessionRow{Start: start, End: start + n - 1}
		}
		return rows[start]
	}
	for start, count := range stats.answered {
		row(start).Answered += count
		rep.answered += count
	}
	bySessionID := map[string]int64{}
	for h := int64(1); h <= last; h++ {
		events, err := r.blockEventsRetry(ctx, h)
		if err != nil {
			return nil, err
		}
		for _, ev := range r.supplierEvents(h, events) {
			if ev.SessionID != "" && ev.SessionStart > 0 {
				bySessionID[ev.SessionID] = ev.SessionStart
			}
			r.apply(rep, row, bySessionID, ev)
		}
	}
	for _, f := range schedule {
		if f.At == 0 && f.Kind != killAfterClaim {
			continue
		}
		start := r.base + f.SessionEnd - n + 1
		label := f.Kind.String()
		if f.At > 0 {
			label += fmt.Sprintf("@%d", f.At)
		} else {
			label += " (not injected)"
		}
		row(start).Faults = append(row(start).Faults, label)
	}
	for _, r := range rows {
		rep.rows = append(rep.rows, r)
	}
	sort.Slice(rep.rows, func(i, j int) bool { return rep.rows[i].Start < rep.rows[j].Start })
	return rep, nil
}

// apply adds one event to its session's row and the totals.
func (r *runner) apply(rep *report, row func(int64) *sessionRow, bySessionID map[string]int64, ev localchain.Event) {
	switch ev.Kind {
	case localchain.ClaimCreated:
		s := row(ev.SessionStart)
		s.Claims++
		s.Claimed += ev.NumRelays
		rep.claimed += ev.NumRelays
	case localchain.ProofSubmitted:
		row(ev.SessionStart).Proven = true
	case localchain.ClaimSettled:
		s := row(ev.SessionStart)
		s.Settled += ev.ComputeUnits / computeUnitsPerRelay
		s.SettledAmount += ev.Amount
		rep.settled += ev.ComputeUnits / computeUnitsPerRelay
		rep.paid += ev.Amount
	case localchain.ClaimExpired:
		row(ev.SessionStart).Expired = append(row(ev.SessionStart).Expired, fmt.Sprintf("%q at %d", ev.Reason, ev.Height))
		rep.expired++
	case localchain.SupplierSlashed:
		start, ok := bySessionID[ev.SessionID]
		if !ok {
			say("slash at height %d for unknown session %s", ev.Height, ev.SessionID)
		}
		row(start).Slashes++
		row(start).Penalty += ev.Amount
		rep.slashed++
		rep.penalty += ev.Amount
	}
}

// print writes the per-session table, the totals, the balances and the
// one-line summary.
func (rep *report) print() {
	fmt.Println()
	say("per session (answered: relays the AppGate answered 200 while the session was current, by height at send time)")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "session\tanswered\tclaimed\tproven\tsettled\tpaid (upokt)\texpired\tslashed\tdiff\t")
	for _, s := range rep.rows {
		proven := "-"
		if s.Proven {
			proven = "yes"
		}
		fmt.Fprintf(tw, "%d-%d\t%d\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t\n", s.Start, s.End, s.Answered, claimedText(s),
			proven, s.Settled, s.SettledAmount, len(s.Expired), s.Slashes, diffText(s))
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t\t%d\t%d\t%d\t%d\t%s\t\n", rep.answered, rep.claimed, rep.settled, rep.paid, rep.expired, rep.slashed,
		signed(rep.settled-rep.answered))
	tw.Flush()
	detail("(a relay is attributed to a session by the height when it was sent: a few relays at session")
	detail(" boundaries can be counted in the next or previous session; the totals are exact)")
	for _, s := range rep.rows {
		if len(s.Faults) > 0 || len(s.Expired) > 0 || s.Slashes > 0 {
			detail("session %d-%d: faults: %s%s%s", s.Start, s.End, orNone(s.Faults), expiredText(s.Expired), slashText(s))
		}
	}
	fmt.Println()
	say("load: %d answered 200; failures: %s; ticks skipped (every worker busy): %d", rep.load.totalAnswered(), rep.load.failures(), rep.load.skipped)
	say("supplier balance %+d upokt (settlements paid %d), supplier stake %+d upokt (penalties %d), application stake %+d upokt",
		rep.after.SupplierBalance-rep.before.SupplierBalance, rep.paid, rep.after.SupplierStake-rep.before.SupplierStake, rep.penalty,
		rep.after.AppStake-rep.before.AppStake)
	for _, c := range rep.crashes {
		say("unexpected exit: %s", c)
	}
	if len(rep.lossLines) > 0 {
		say("RelayMiner log lines about lost relays:")
		for _, l := range rep.lossLines {
			detail("%s", l)
		}
	}
	fmt.Printf("answered %d, claimed %d, settled %d, expired %d, slashed %d\n", rep.answered, rep.claimed, rep.settled, rep.expired, rep.slashed)
}

// failures lists what makes the run fail.
func (rep *report) failures() []string {
	var out []string
	if rep.settled < rep.answered {
		out = append(out, fmt.Sprintf("%d relays answered 200 but only %d settled (%d lost)", rep.answered, rep.settled, rep.answered-rep.settled))
	}
	if rep.slashed > 0 {
		out = append(out, fmt.Sprintf("the supplier was slashed %d time(s), %d upokt", rep.slashed, rep.penalty))
	}
	if rep.answered == 0 {
		out = append(out, "no relay was answered")
	}
	return out
}

func claimedText(s *sessionRow) string {
	if s.Claims > 1 {
		return fmt.Sprintf("%d (%d claims)", s.Claimed, s.Claims)
	}
	return fmt.Sprint(s.Claimed)
}

func diffText(s *sessionRow) string {
	return signed(s.Settled - s.Answered)
}

func signed(v int64) string {
	if v == 0 {
		return "0"
	}
	return fmt.Sprintf("%+d", v)
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

func expiredText(reasons []string) string {
	if len(reasons) == 0 {
		return ""
	}
	return "; claim expired: " + strings.Join(reasons, ", ")
}

// lossLines returns the RelayMiner's error lines about relays lost or a
// window missed (at most max), to point at what happened.
func lossLines(logPath string, max int) []string {
	b, err := os.ReadFile(logPath)
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, "ERR") {
			continue
		}
		if strings.Contains(line, "are lost") || strings.Contains(line, "not paid") || strings.Contains(line, "missed") {
			out = append(out, line)
		}
	}
	if len(out) > max {
		out = append(out[:max], fmt.Sprintf("... and %d more", len(out)-max))
	}
	return out
}

func slashText(s *sessionRow) string {
	if s.Slashes == 0 {
		return ""
	}
	return fmt.Sprintf("; supplier slashed %d upokt", s.Penalty)
}
