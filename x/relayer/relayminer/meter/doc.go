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
// counters past the session's proof window. Reserve and the release it
// returns are the only places a count changes. A RelayMiner alone (New)
// keeps its counters in memory; restarted mid-session it starts a
// session's count from the relays already in its relay log (Logged). The
// replicas of a fleet (NewShared) count against one Counter instead, a
// count per (supplier, application, session) every replica changes
// atomically (fleet.Counter: a JetStream key-value entry updated by
// compare-and-set), so N replicas serve an application what one
// RelayMiner would; each replica computes the budget itself, from the
// chain, as New's meter does (the Counter's entries expire on their own,
// fleet.MeterTTL). A Counter that cannot be reached refuses
// the relay (types.ErrRelayStoreUnavailable): a relay is never served
// unmetered.
package meter
