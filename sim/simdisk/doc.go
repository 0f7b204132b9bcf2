// Package simdisk is the simulator's disk: an in-memory ordered key/value
// store that keeps the env.Disk contract (FIFO completion, visible at
// completion, durable after a completed Sync, batches atomic also across a
// crash) and injects the disk faults of ARCHITECTURE section 6 from a seeded
// random stream.
//
// # Division of labour
//
// The engine in package sim owns time and the per-node FIFO queue: at
// Submit it draws the op's service time with Latency and schedules the
// completion at max(previous completion, now + latency); at that time it
// calls Apply and delivers the result as env.DiskDone. Crash is called when
// the node crashes, after the engine has discarded the node's pending ops.
// The disk itself has no clock and no queue, which keeps it a plain value
// that tests drive directly (see the conformance suite in
// core/env/disktest, which this package passes).
//
// # Crash model
//
// The disk keeps the visible state (every completed write) plus an undo log
// of the write ops completed since the last completed Sync, each with the
// before-image of every key it wrote. A successful Sync makes every write
// completed before it durable and empties the log. At Crash, like a
// write-ahead log whose tail was not flushed, the survivors are a random
// prefix of the unsynced ops: with UnsyncedSurviveProb = p each next op
// survives with probability p, stopping at the first that does not. p = 0,
// the default, loses every unsynced write: the most adversarial common
// case. The ops after the prefix are rolled back newest first, so a batch
// survives whole or not at all. With TornWriteProb the last survivor's
// value (the last put of that op) is then truncated or has a run of bytes
// garbled, as a torn sector would; services detect that with env.Unseal or
// content addresses. What remains after a crash is durable: a second crash
// never takes back what the first one left, because a recovering machine
// (raft reading its vote) acts on what it read.
//
// Without CorruptRead, CorruptWrite and TornWrite faults a Get never returns
// bytes that were not written for that key.
//
// # Other faults
//
//   - Read and write errors: the op completes with an error wrapping
//     env.ErrDiskIO and changes nothing. A Sync can fail the same way
//     (fsync can): then nothing becomes durable and the unsynced log stays.
//   - Corrupt read: one returned value has one bit flipped; the stored
//     value stays intact, so a retry usually succeeds. A keys-only scan
//     returns no value and is never corrupted (keys are not damaged in
//     this model); it can still fail with a read error.
//   - Corrupt write: one stored value of a Put or Batch has one bit
//     flipped; it persists, and is durable once synced.
//   - Full: every write, deletes included (a tombstone needs space in a
//     log-structured store), fails with env.ErrDiskFull; reads and syncs
//     work.
//   - Latency: a fixed service time scaled by uniform jitter; a Sync costs
//     four times as much. Service time does not depend on value size.
//
// Fault draws come from the disk's own random stream, in a fixed order per
// op, and only for faults that are on (a zero probability draws nothing).
// A run is therefore reproducible for a seed and a configuration, and a
// healthy disk without jitter draws nothing at all.
//
// # Ownership
//
// Apply takes ownership of the op's byte slices and stores a put's value
// without copying it; the submitter must not modify a slice after Submit.
// Every slice in a result is a fresh copy owned by the receiver. The disk
// never mutates a stored slice in place (corruption and tearing store
// modified copies), so before-images in the undo log stay valid.
//
// # Ordered keys
//
// Scans walk a one-level B-tree of sorted key blocks (index.go) next to the
// key->value map. Rejected: sorting the map's keys per scan (O(n log n) per
// scan over stores of 100k+ keys) and a single sorted slice (each insert
// moves the whole tail).
package simdisk
