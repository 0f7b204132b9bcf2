// Package runtime runs one node's pure machines (core/node) in production:
// one goroutine, the loop, owns the node and steps it one input at a time,
// exactly as the simulator does, so a machine cannot tell the two apart.
//
// # Inputs
//
// Frames from the transport (Deliver) and client calls (Call) arrive
// through bounded queues of Config.InboxDepth; when one is full the frame
// is dropped, or the call fails with ErrOverloaded, and
// runtime_inbox_dropped_total{kind} counts it. The frames' queue is fair
// between peers: one peer may hold at most InboxDepth / max(4, peers with
// queued frames) of it (beyond, its frames are dropped as
// kind="peer_share"), a full queue makes room for a peer under its share
// by evicting the newest frame of the largest holder when that holder
// keeps at least as many frames as the sender then holds (otherwise the
// sender's frame is dropped as kind="message"), and the loop steps frames
// round robin across peers. A member flooding valid frames thus loses its
// own frames, not its neighbours' (raft heartbeats included).
//
// The per-peer cap holds even when no other peer has frames waiting: a
// single peer's burst beyond InboxDepth/4 frames (1024 by default) is
// partly dropped as kind="peer_share" although the inbox has room. The
// inbox cannot tell a burst from the start of a flood, and a cap that
// grew with the free room would let a peer that is alone for a moment
// fill the inbox; with the cap, three quarters stay free, so the frames
// of peers that send next are queued at once without an eviction, and a
// peer's frame never waits behind more than a quarter of the inbox of its
// own earlier frames. Dropped frames are retried by the machines as any
// lost frame is.
//
// Timer fires, disk completions and bus events arrive through an internal
// queue that is never shed: losing a timer or a completion would stall a machine forever, and
// a blocking hand-off from the disk's goroutine could deadlock against a
// Submit that waits for room in the disk's own queue. That queue is bounded
// by what the machines keep outstanding, which each bounds with a named
// limit. (A single bounded channel for everything was rejected for that
// reason.)
//
// # Effects
//
// Env calls made during a step (Send, Submit, SetTimer, CancelTimer,
// Reply, Publish) are recorded and executed, in order, after Step returns:
// the simulator's contract. A step that panics has its effects discarded.
// Timer and op ids are allocated during the step, so a machine can cancel a
// timer it armed in the same step. Now is the wall clock read once at New
// plus Go's monotonic clock since, so it never jumps backwards.
//
// # Supervision
//
// A panic in NewNode or Step is recovered. The node is marked not ready
// (node_ready_state 0), service_restarts_total{service="node"} is counted,
// its timers are stopped, every waiting call fails with ErrRestarted, and
// after a capped exponential backoff with jitter the node is rebuilt with
// Config.NewNode and stepped Start, so it recovers from its durable state.
// Inputs produced by the dead generation (its timers, its disk completions)
// are filtered out by a generation number. The whole node is rebuilt rather
// than the one service that panicked, because services share the node's
// bus and env and core/node has no per-service restart; the label says so.
// During the backoff calls fail fast with ErrNotReady.
//
// # Readiness beyond serving
//
// Config.UnreadyCheck (NodeUnready for rond: ReasonRegistryNoLeader while
// the registry replica has known no raft leader past
// registry.NoLeaderGrace election timeouts, or while a non-replica's ops
// reach only replicas that know none; ReasonRegistryUnreachable
// while a non-replica hears no replica) makes a node that serves not
// ready (Ready false, node_ready_state 0, NotReadyReason its reason)
// without holding back its calls: reads and what else can succeed go on;
// it turns ready again when the reason clears. Transitions are logged.
// LocalReady is Ready without these reasons (the node itself is up:
// started, recovered, storage open, disk not full, not closing), for what
// needs the node but not the registry: rond's audit queue (the audit log is
// local) and its start-up banner. /readyz uses Ready. Start-up
// (node_startup_seconds, the "runtime: node serving" log) ends when
// LocalReady first holds, so a replica of a cold-starting set waiting for
// a quorum of its peers does not count the wait.
//
// # Full disk
//
// A disk that implements FullDisk (io/pebbledisk) makes the node not
// ready while it refuses writes (node_ready_state 0, Ready false,
// NotReadyReason gives the disk's reason, which the gateway logs and
// answers anonymously only as "disk full"). Calls still reach a node that
// has been ready once since it was built, so reads keep working and
// writes fail with the disk's error. A machine that failed while the disk
// was full (Config.FailedCheck: the registry replica stops on any disk
// error) is recovered once space is back by rebuilding the node, as after
// a panic (service_restarts_total counts it), with no process restart.
//
// # Shutdown
//
// Close refuses new calls, waits (bounded by its context) until every
// in-flight call was answered, stops the loop and its timers, then syncs
// the disk when the disk can run an op synchronously (io/pebbledisk can).
// The owner closes the transport and the disk afterwards.
//
// # Metrics
//
// PromMetrics registers every metric of env.Catalog() with a Prometheus
// registry, with the declared kind, label and buckets; it is the env's
// Metrics and is safe for the gateway's goroutines to use too.
package runtime
