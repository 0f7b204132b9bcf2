// Package env is the world as a RON state machine sees it: a clock, timers,
// a seeded random source, an unreliable network, an asynchronous disk, a
// metrics sink, a log and client replies.
//
// A machine never acts on the world directly. It calls Env methods, which
// record effects; the owner of the node (the simulator in sim/, the runtime
// in io/) carries them out after the current input has run to completion and
// feeds the consequences back as new inputs (Message, TimerFired, DiskDone,
// Request, BusEvent). Because the simulator and the production runtime
// implement the same interface and deliver the same kinds of inputs, a
// machine cannot tell them apart.
//
// Contract for every Env implementation:
//   - Methods never block and never call back into the machine.
//   - Now is monotonic per node (it may be offset or drift against other
//     nodes' clocks: clock skew is a simulated fault).
//   - Send takes ownership of the frame; delivery is not guaranteed, may
//     duplicate and may reorder. Machines own retries.
//   - A timer fires at most once, never before its deadline, and never after
//     it was cancelled.
//   - Disk operations complete in submission order (FIFO per node). A write
//     is visible to operations submitted after it completes, and durable only
//     once a Sync submitted after it has completed successfully. A crash
//     drops every write that was not durable.
//
// The rejected alternative was returning effects from Step as a slice (as
// raft's Ready does). With a dozen services sharing one node that puts an
// allocation and a merge on every input; an effect sink gives the same
// separation with less code, and the owners still apply effects strictly
// after the input returns.
package env
