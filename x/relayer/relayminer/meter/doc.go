// Package meter is the RelayMiner's relay meter: for each (supplier,
// session) it knows the most the supplier can be paid for serving the
// session's application, counts each relay's compute units before the
// backend is called, and refuses a relay that would pass that budget with
// types.ErrRelayOverServiced. The arithmetic is the chain's settlement
// rules, from the protocol package (SupplierShare, ClaimPayable,
// SupplierBudget, BudgetComputeUnits); this package only gathers their
// inputs from the chain and keeps the counters.
//
// It must never decide anything about a relay beyond its budget, nor keep
// counters past the session's proof window. Its counters live in memory;
// a RelayMiner restarted mid-session starts a session's count from the
// relays already in its relay log (Logged). Fleet mode: Reserve
// and the release it returns are the only places a count changes; replicas
// of one supplier serving the same sessions would have to make them
// against a shared counter (e.g. a JetStream key-value entry per
// (supplier, session) updated by compare-and-set), the budget staying as
// computed here.
package meter
