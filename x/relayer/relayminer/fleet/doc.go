// Package fleet lets several RelayMiners of one supplier (a fleet behind one
// load balancer) share their sessions through NATS JetStream, the design's
// shared KVStore and shared SessionManager (store.backend: jetstream).
//
//   - Every replica appends each relay it serves to one stream,
//     <PREFIX>_RELAYS, under <prefix>.relays.<supplier>.<session>, and
//     answers it only once a quorum of JetStream servers acknowledged it.
//     The message id is the relay's key: a replay within the stream's
//     duplicate window is refused by the server.
//   - Every replica mirrors the supplier's stream, in batches, into its
//     local leveldb session manager (a hot standby: its local log and the
//     last sequence it holds are its checkpoint). Per supplier one replica
//     at a time holds a lease (a key with a TTL in the <PREFIX>_LEASES
//     bucket) and, once its mirror caught up, runs the claim/proof
//     lifecycle unchanged; the others serve relays and stand by.
//   - Before the holder seals a session it publishes the session's seal
//     markers (<prefix>.seal.<supplier>.<session>.<shard>, 16 shards). Every
//     relay append carries "the seal subject of my shard (by relay key)
//     holds no message" as a condition the stream's leader checks
//     atomically, so no relay is acknowledged after the markers, and the
//     holder builds the claim trie once it has mirrored every message
//     before them: from every relay any replica answered. (A replicated
//     stream admits one such conditional append per subject per
//     replication round; the shards keep a session's appends concurrent.)
//   - Every CheckpointEvery relays it mirrored, the lease holder commits a
//     checkpoint: per session the new relays' keys, leaf hashes and sizes
//     and stream sequences (<prefix>.ckpt.<supplier>.<session>), then the
//     last sequence they cover (<prefix>.ckptc.<supplier>). A replica on an
//     empty store loads it (leaf bytes stay in the stream, read for
//     proofs) and mirrors only what came after.
//   - The relay meter's counts (meter.Counter) are keys of the
//     <PREFIX>_METER bucket, one per (supplier, application, session)
//     holding the compute units reserved, changed by compare-and-set on
//     their revision (Counter), so the replicas share one budget.
//
// It must never build trees, talk to the chain or decide whether a relay is
// valid: the session manager, the proxy and the miner do that. It holds no
// relay in memory beyond a bounded set of recently appended relay keys and
// the mirror's batch (at most 256 messages).
package fleet
