// Package status is the RelayMiner's status report: what its admin
// endpoint (GET /status on the health address) answers and what
// `poktrolld relayminer status` prints, as a table or as JSON. It holds the
// report's shape, the client that fetches it and the table renderer; the
// RelayMiner fills the report. It must never hold RelayMiner logic.
package status
