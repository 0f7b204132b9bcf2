package sim

import (
	"crypto/ed25519"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/sim/simdisk"
)

// Epoch is what every node's clock reads at virtual time zero (before any
// clock offset): 2026-01-01T00:00:00Z.
var Epoch = env.Time(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())

// Limits.
const (
	// NodesMax bounds a world (node indexes travel as int32 in events).
	NodesMax = 1 << 20
	// RequestsPendingMax bounds client requests awaiting a reply; Request
	// beyond it is a bug in the caller (a workload that never waits).
	RequestsPendingMax = 1 << 20
)

// Config configures a World.
type Config struct {
	Seed  uint64
	Nodes int
	// NewNode composes the services of node idx on e. Called once per node
	// by Start and again at every Restart, each time with a fresh env.
	NewNode func(idx int, e env.Env) *node.Node
	// Network is the model of every link.
	Network NetworkConfig
	// Disk is the initial fault setting of every node's disk.
	Disk simdisk.Faults
	// Trace, when set, receives every processed event as one JSON line.
	Trace io.Writer
	// RecordDigests keeps one EventDigest per processed event.
	RecordDigests bool
	// Invariants is informational: NewNode callers pass it on to
	// node.Config.Invariants.
	Invariants bool
	// Bug selects deliberately wrong simulator variants (canary builds
	// only; see bugs.go).
	Bug Bug
}

// simNode is the world's record of one node; it outlives crashes.
type simNode struct {
	id   proto.NodeID
	key  ed25519.PrivateKey
	rand *env.Rand
	disk *simdisk.Disk
	node *node.Node // nil while crashed
	env  *nodeEnv   // the current incarnation's env
	inc  uint32     // incremented by every crash: stale events are dropped

	// Network.
	uplinkFree time.Duration // when the uplink finishes its current frame

	// Disk: submitted, not yet delivered operations in FIFO order.
	diskQueue      []pendingOp
	diskHead       int           // next operation to deliver
	diskApplied    int           // next operation to apply
	diskCompletion time.Duration // completion time of the last submitted op
	nextOp         env.OpID

	// Pause: inputs that arrived while paused wait here, in order.
	pausedUntil time.Duration
	deferred    []int32
	held        uint64 // inputs ever held by a pause (fault effect)

	// Clock: reading = Epoch + v + offset + drift*(v - driftSince),
	// never below lastReading (the clock is monotonic).
	clockOffset time.Duration
	clockDrift  float64
	driftSince  time.Duration
	lastReading env.Time
}

type pendingOp struct {
	id     env.OpID
	op     env.DiskOp
	result env.DiskResult
}

type pendingRequest struct {
	node    int32
	service string
	body    any
	reply   func(resp any)
}

type replyRecord struct {
	id   env.RequestID
	resp any
}

// World is a deterministic simulation of Config.Nodes nodes in virtual time.
// It is single-threaded: call its methods from one goroutine (At callbacks
// and reply callbacks run on it).
type World struct {
	// crashes says what each crash did to the crashed node's unsynced
	// writes, in order (fault effects for the report).
	crashes []CrashEffect

	cfg     Config
	q       queue
	now     time.Duration
	nodes   []simNode
	index   map[proto.NodeID]int32
	root    *env.Rand
	streams map[string]*env.Rand
	netRand *env.Rand
	rewrite func(from int, to proto.NodeID, frame []byte) []byte // SetRewrite
	latency latencyModel
	cuts    []cutRule
	net     NetStats
	metrics *Metrics
	logger  *slog.Logger

	started  bool
	closed   bool
	failure  error
	events   uint64
	requests map[env.RequestID]*pendingRequest
	nextReq  env.RequestID
	replies  []replyRecord // collected during one step
	faults   []FaultRecord
	tracer   tracer
	crypto   cryptoReader
}

// New builds a world: derives the identities, creates every node through
// cfg.NewNode and installs the seeded crypto/rand.Reader. Only one World may
// be open per process (see the package comment); Close releases it.
func New(cfg Config) *World {
	if cfg.Nodes <= 0 || cfg.Nodes > NodesMax {
		panic("sim: Config.Nodes outside 1..NodesMax")
	}
	if cfg.NewNode == nil {
		panic("sim: Config.NewNode is nil")
	}
	checkNetwork(cfg.Network)
	w := &World{
		cfg:      cfg,
		nodes:    make([]simNode, cfg.Nodes),
		index:    make(map[proto.NodeID]int32, cfg.Nodes),
		root:     env.NewRand(cfg.Seed),
		streams:  map[string]*env.Rand{},
		latency:  newLatencyModel(cfg.Network),
		metrics:  newMetrics(),
		logger:   slog.New(slog.DiscardHandler),
		requests: map[env.RequestID]*pendingRequest{},
	}
	w.netRand = w.Rand("network")
	w.tracer.init(cfg.Trace, cfg.RecordDigests)
	w.initNodes()
	// Installed before any NewNode: raft draws election jitter as soon as a
	// RawNode is created.
	w.crypto.install(w.Rand("crypto"))
	return w
}

// initNodes derives identities, random streams and disks in index order.
func (w *World) initNodes() {
	identity := w.Rand("identity")
	disks := w.Rand("disk")
	for i := range w.nodes {
		n := &w.nodes[i]
		seed := make([]byte, ed25519.SeedSize)
		identity.Fill(seed)
		n.key = ed25519.NewKeyFromSeed(seed)
		n.id = proto.NodeIDFromPublicKey(n.key.Public().(ed25519.PublicKey))
		if _, dup := w.index[n.id]; dup {
			panic("sim: two nodes derived the same identity")
		}
		w.index[n.id] = int32(i)
		n.rand = w.Rand("node/" + strconv.Itoa(i))
		n.disk = simdisk.New(disks.Derive(strconv.Itoa(i)))
		n.disk.SetFaults(w.diskApplied(w.cfg.Disk))
	}
}

// buildNode gives node i a fresh env and a new node.Node from NewNode. A
// panic in NewNode (a service's Init) fails the run like a panic in a step.
func (w *World) buildNode(i int32) {
	n := &w.nodes[i]
	e := &nodeEnv{w: w, index: i, n: n, sink: &metricsSink{m: w.metrics, node: i}}
	n.env = e
	var built *node.Node
	w.guard(i, func() { built = w.cfg.NewNode(int(i), e) })
	if w.failure != nil {
		return
	}
	if built == nil {
		panic("sim: NewNode returned nil")
	}
	n.node = built
}

// Close releases the process-wide state the world installed (the
// crypto/rand.Reader). Calling it twice is harmless.
func (w *World) Close() {
	if w.closed {
		return
	}
	w.closed = true
	w.crypto.restore()
}

// Now is the virtual time since the start of the run.
func (w *World) Now() time.Duration { return w.now }

// Nodes is the number of nodes.
func (w *World) Nodes() int { return len(w.nodes) }

// NodeID is node i's identity.
func (w *World) NodeID(i int) proto.NodeID { return w.nodes[w.checkIndex(i)].id }

// NodeKey is node i's Ed25519 private key (derived from the seed).
func (w *World) NodeKey(i int) ed25519.PrivateKey { return w.nodes[w.checkIndex(i)].key }

// Index maps a NodeID back to its node index.
func (w *World) Index(id proto.NodeID) (int, bool) {
	i, ok := w.index[id]
	return int(i), ok
}

// Node is node i's current node.Node, nil while it is crashed.
func (w *World) Node(i int) *node.Node { return w.nodes[w.checkIndex(i)].node }

// Up reports whether node i is running (not crashed).
func (w *World) Up(i int) bool { return w.nodes[w.checkIndex(i)].node != nil }

// Rand returns the world's stream for purpose, derived from the seed. The
// same purpose always returns the same generator, whose state advances as
// it is used; different purposes are independent.
func (w *World) Rand(purpose string) *env.Rand {
	r, ok := w.streams[purpose]
	if !ok {
		r = w.root.Derive(purpose)
		w.streams[purpose] = r
	}
	return r
}

// Events is the number of events processed so far.
func (w *World) Events() uint64 { return w.events }

// Metrics are the metrics of every node, aggregated.
func (w *World) Metrics() *Metrics { return w.metrics }

// Faults lists every fault action applied, in order.
func (w *World) Faults() []FaultRecord { return w.faults }

// At runs fn at virtual time t (or now, if t is in the past). Events at
// equal times run in the order they were scheduled.
func (w *World) At(t time.Duration, fn func()) {
	slot := w.q.alloc()
	ev := &w.q.slab[slot]
	ev.kind = KindFunc
	ev.node = -1
	ev.fn = fn
	w.q.push(max(t, w.now), slot)
}

// AtQuiet is At for the simulator's own bookkeeping: the callback is not an
// event (it is neither counted nor traced); only what it does to the world
// is. The fault scheduler uses it, so that a fault file that replays a
// run's faults explicitly gives the same trace as the random draws that
// made them, including draws that injected nothing.
func (w *World) AtQuiet(t time.Duration, fn func()) {
	slot := w.q.alloc()
	ev := &w.q.slab[slot]
	ev.kind = kindQuiet
	ev.node = -1
	ev.fn = fn
	w.q.push(max(t, w.now), slot)
}

// After runs fn d after now.
func (w *World) After(d time.Duration, fn func()) { w.At(w.now+max(d, 0), fn) }

// Start builds every node through Config.NewNode and schedules env.Start
// for each at the current time. Building at Start rather than in New lets a
// NewNode (and whoever composes it) use the world: every identity, NodeKey
// and Rand stream is already derived. RunUntil calls Start if it was not
// called; calling it twice is harmless.
func (w *World) Start() {
	if w.started {
		return
	}
	w.started = true
	for i := range w.nodes {
		w.buildNode(int32(i))
		if w.failure != nil {
			return
		}
	}
	for i := range w.nodes {
		if w.nodes[i].node != nil {
			w.scheduleNode(KindStart, int32(i), w.now)
		}
	}
}

// RunUntil processes every event with time <= t, then sets the clock to t.
// It returns a *NodePanic if a service panicked; the world is then stopped
// and every later call returns the same error.
func (w *World) RunUntil(t time.Duration) error {
	if w.closed {
		panic("sim: RunUntil on a closed World")
	}
	w.Start()
	for w.failure == nil {
		top, ok := w.q.peek()
		if !ok || top.at > t {
			break
		}
		w.q.pop()
		w.now = top.at
		w.dispatch(top.slot)
	}
	if w.failure != nil {
		return w.failure
	}
	w.now = max(w.now, t)
	return nil
}

// scheduleNode schedules an input of kind (without payload) for node i.
func (w *World) scheduleNode(kind EventKind, i int32, at time.Duration) int32 {
	slot := w.q.alloc()
	ev := &w.q.slab[slot]
	ev.kind = kind
	ev.node = i
	ev.inc = w.nodes[i].inc
	w.q.push(at, slot)
	return slot
}

// Request delivers env.Request{Service: service, Body: body} to node i as
// the next event at the current time. reply runs after the step in which
// the node calls env.Reply for it. If the node is down when the request
// arrives, or crashes before replying, the request is dropped and reply is
// never called.
func (w *World) Request(i int, service string, body any, reply func(resp any)) {
	w.checkIndex(i)
	if len(w.requests) >= RequestsPendingMax {
		panic("sim: more than RequestsPendingMax requests pending")
	}
	w.nextReq++
	id := w.nextReq
	w.requests[id] = &pendingRequest{node: int32(i), service: service, body: body, reply: reply}
	slot := w.scheduleNode(KindRequest, int32(i), w.now)
	w.q.slab[slot].id = uint64(id)
}
