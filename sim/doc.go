// Package sim is RON's deterministic discrete-event simulator: it runs many
// nodes (each a *node.Node composed by Config.NewNode) in one process, in
// virtual time, over a simulated network and simulated disks, and injects
// network, disk, process and clock faults (ARCHITECTURE sections 3, 4 and 6).
//
// # Event model
//
// There is one event queue for the whole world, a binary heap ordered by
// (virtual time, sequence number); the sequence number is assigned when an
// event is scheduled, so events at equal times run in scheduling order and
// nothing depends on heap internals. Heap entries are 24 bytes and point
// into a slab of event structs recycled through a free list: a message,
// timer, disk completion or request costs no allocation in the engine.
// Only At/After carry a closure. The rejected alternative, a closure per
// event, allocated on every message and made events opaque to the trace.
//
// Each popped event is one of: a node input (Start, Message, TimerFired,
// DiskDone, Request, BusEvent), a world callback (At/After) or an internal
// pause end. An input runs as one node.Node.Step to completion; the replies
// the step produced then run their callbacks, in order. Effects requested
// during a step (Send, SetTimer, Submit, Publish) are only scheduled, never
// run inside the step.
//
// Every node has an incarnation number, bumped by Crash; an event records
// its target's incarnation when scheduled and is dropped if they differ at
// delivery. That is how a crash discards timers, frames in flight to the
// node and pending disk completions in O(1). Wipe erases a crashed node's
// disk, synced state included; its identity (key, node id) lives in the
// World, not on the disk, so it restarts under the same key on an empty
// store, as a node given a new data dir would. A timer's id packs its slab
// slot and the slot's generation, so CancelTimer is O(1) and a stale id is
// recognised. A disk operation completes at max(previous completion on the
// node, now + latency), so completions are FIFO per node; it is applied to
// the simdisk.Disk when its completion event pops. A paused node's inputs
// are held in arrival order and delivered when the pause ends (disk
// operations still complete underneath). A node's clock reads
// Epoch + v + offset + drift*(v - t0) (t0: the SetClock call), clamped to be
// monotonic; timers are armed in node time and fire when the node's clock
// reaches their deadline.
//
// The network draws a lognormal latency fitted to (p50, p99), then loss,
// duplication and reordering, per message, from the "network" stream; a
// bandwidth cap serialises each sender's frames FIFO before their latency
// starts. Cuts (partition, one-way, isolate, bridge) are checked at send
// and again at delivery, so a cut also drops frames already in flight.
//
// # Random streams
//
// All randomness comes from Config.Seed. A root env.Rand seeded with it
// derives one independent stream per purpose with env.Rand.Derive (which
// does not advance the root): "network" (the link model), "disk" (from
// which each node's disk derives "<index>"), "identity" (32 bytes per node,
// in index order, fed to ed25519.NewKeyFromSeed), "node/<index>" (the
// node's env.Rand, kept across restarts), "crypto" (the crypto/rand.Reader
// replacement), and whatever the runner asks World.Rand for ("workload",
// "faults", ...). Adding a consumer of one stream therefore never changes
// what another stream yields.
//
// # Trace hash
//
// Every processed event (node inputs, replies, At/After callbacks and fault
// actions) contributes a record of its virtual time, node, kind and a
// 64-bit hash of its contents: a message's sender and full frame bytes; a
// timer's tag and deadline (not its id, which names a slab slot); a disk
// operation's kind, tag, key, value, batch, prefix, start and limit plus
// its result (found, value, pairs, more, error text); a request's id and
// service (not its body, which is an arbitrary value); a reply's request
// id; a bus event's topic; a fault's full description. The records are
// streamed into BLAKE3-256, whose hex digest is TraceHash. The 64-bit
// content hash is a multiply-fold mix (not cryptographic): two runs get the
// same TraceHash exactly when their event sequences agree, up to a 2^-64
// chance per event of an accidental collision. With Config.RecordDigests
// the records are also kept as EventDigests, and FirstDivergence locates
// the first event at which two runs differ. With Config.Trace each record
// is written as a JSON line {"i","t","node","kind","h"}; frames appear only
// as the content hash h, never in full.
//
// # One world per process
//
// raft draws its election jitter from crypto/rand.Reader, a process-wide
// variable. New replaces it with a reader over the "crypto" stream and
// Close restores the original, so only one World may be open in a process
// at a time; New panics if another is open. Parallel exploration runs
// worlds in separate worker processes. A World itself is single-threaded.
//
// # Failures
//
// A panic in a service (or in NewNode) is a bug in the simulated system:
// the step recovers it, the world stops, and RunUntil returns a *NodePanic
// naming the node, the virtual time, the value and the stack.
package sim
