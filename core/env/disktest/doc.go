// Package disktest is the conformance suite every env.Disk implementation
// passes: the simulator's disk (sim/simdisk) and the production pebble
// adapter (io/pebbledisk). It states the disk contract as executable checks,
// so the two implementations cannot drift apart silently.
//
// An implementation provides a Harness: Submit queues an op, Drain completes
// every queued op and returns the completions in submission order, Crash
// simulates power loss and reopens over the same storage. The suite calls
// Crash only after Drain, with no op outstanding, and runs with faults off:
// every valid op must succeed.
//
// What the suite checks:
//   - reads, overwrites, deletes (of missing keys too), empty values;
//   - batches: mixed puts and deletes, the same key written twice (the last
//     write wins), an invalid batch changes nothing;
//   - FIFO: ops submitted back to back complete in order, echo their OpID
//     and Tag, and each sees the writes submitted before it;
//   - scans: ascending byte order, Prefix, Start, Limit and More, paging;
//     the same with KeysOnly, whose values are nil, over empty and
//     maximal values alike;
//   - validation: every op outside the limits of core/env/disk.go (and
//     KeysOnly on anything but a scan) fails with an error wrapping
//     env.ErrDiskInvalid and changes nothing;
//   - results are owned by the receiver (mutating them changes nothing);
//   - durability: after a completed Sync and a Crash every synced write is
//     present with its exact bytes;
//   - crash consistency: after a Crash the state equals the durable state
//     plus a prefix of the unsynced write ops, in order (a write-ahead log
//     keeps a prefix); in particular an unsynced write is absent or exact,
//     never garbage, and a batch is never partially applied. The state
//     found after a crash is itself durable: a second crash keeps it;
//   - a rapid stateful test that compares the disk against a model across
//     random writes, reads, scans, syncs and crashes.
//
// The prefix rule is stronger than "each unsynced write is absent or
// exact". It was chosen because both implementations recover through an
// ordered log, and services (raft in particular) reason about recovery as
// "everything up to some point"; an implementation that cannot keep it
// must say so, not weaken the suite.
//
// The package follows the core/ rules (no I/O, no goroutines, no wall
// clock); it imports testing and rapid because it is test code that both
// sim/ and io/ must reach.
package disktest
