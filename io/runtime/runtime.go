package runtime

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
)

// Limits and defaults.
const (
	// InboxDepthDefault bounds the frames and the client requests waiting
	// for the loop (each has its own queue of this depth; one peer may hold
	// a share of the frames' queue only, see InboxPeerSharePeersMin).
	InboxDepthDefault = 4096
	// CallsInflightMaxDefault bounds the client calls awaiting a reply.
	CallsInflightMaxDefault = 1024
	// RestartBackoffMinDefault and RestartBackoffMaxDefault bound the
	// pause before rebuilding a node whose step panicked.
	RestartBackoffMinDefault = 100 * time.Millisecond
	RestartBackoffMaxDefault = 30 * time.Second
	// RestartJitterFrac jitters each backoff by this fraction either way.
	RestartJitterFrac = 0.2
	// HealthyRunReset: a node that ran this long without a panic starts
	// the next backoff from the minimum again.
	HealthyRunReset = time.Minute
	// drainPoll is how often Close checks whether in-flight calls drained.
	drainPoll = 5 * time.Millisecond
)

// Errors returned by Call. They wrap nothing from core; the gateway maps
// them to its envelope codes.
var (
	ErrClosed     = errors.New("runtime: closed")
	ErrOverloaded = errors.New("runtime: overloaded")
	ErrNotReady   = errors.New("runtime: not ready")
	ErrRestarted  = errors.New("runtime: node restarted before replying")
)

// Disk is the asynchronous disk the runtime drives; io/pebbledisk's Disk
// satisfies it. Submit must not block on the completion callback (the
// callback may run on any of the disk's goroutines, io/pebbledisk's worker
// or one of its readers, but one call at a time, never two at once; it
// never blocks: the runtime queues it). Completions arrive once per op, in
// submission order.
type Disk interface {
	Submit(id env.OpID, op env.DiskOp)
	SetCompletion(func(env.DiskDone))
}

// FullDisk is implemented by disks that know when they refuse writes for
// lack of space (io/pebbledisk's Disk): the node is not ready meanwhile,
// and Full's reason says why.
type FullDisk interface {
	Full() (full bool, reason string)
}

// syncDisk is implemented by disks that can run an op synchronously; Close
// uses it for the final sync.
type syncDisk interface {
	Do(op env.DiskOp) env.DiskResult
}

// Transport sends frames to peers; io/quicnet's Transport satisfies it.
// Send must not block and takes ownership of frame.
type Transport interface {
	Send(to proto.NodeID, frame []byte)
}

// Config configures a Runtime.
type Config struct {
	// Self is the node's id.
	Self proto.NodeID
	// NewNode builds the node's machines on e. It is called at start and
	// after every panic; the machines recover from the disk on Start.
	NewNode func(e env.Env) *node.Node
	// Disk is required.
	Disk Disk
	// Metrics (nil: a fresh NewPromMetrics) and Logger (nil: slog.Default).
	Metrics *PromMetrics
	Logger  *slog.Logger
	// ReadyCheck tells whether the node may serve (nil: ready once Start
	// ran). It runs on the loop goroutine after every step.
	ReadyCheck func(n *node.Node) bool
	// FailedCheck tells whether a machine stopped after a disk error and
	// waits to be rebuilt from durable state (nil: none does). When it
	// reports true after the disk was full and is no longer, the runtime
	// rebuilds the node, so a transient full disk heals without a restart
	// of the process. NodeFailed is the one for NewNode's composition.
	FailedCheck func(n *node.Node) bool
	// UnreadyCheck says why a node that may serve (ReadyCheck) should
	// still not be sent traffic ("" when nothing: nil is never). It runs
	// on the loop goroutine after every step. Unlike ReadyCheck it does
	// not hold back the node's first calls: they reach it and fail or
	// succeed on their own. NodeUnready is the one for NewNode's
	// composition (ReasonRegistryNoLeader).
	UnreadyCheck func(n *node.Node) string
	// Limits; zero takes the defaults above.
	InboxDepth                           int
	CallsInflightMax                     int
	RestartBackoffMin, RestartBackoffMax time.Duration
	// Seed seeds env.Rand; zero draws it from crypto/rand (tests set it).
	Seed uint64
}

func (c Config) withDefaults() Config {
	if c.InboxDepth <= 0 {
		c.InboxDepth = InboxDepthDefault
	}
	if c.CallsInflightMax <= 0 {
		c.CallsInflightMax = CallsInflightMaxDefault
	}
	if c.RestartBackoffMin <= 0 {
		c.RestartBackoffMin = RestartBackoffMinDefault
	}
	if c.RestartBackoffMax < c.RestartBackoffMin {
		c.RestartBackoffMax = max(RestartBackoffMaxDefault, c.RestartBackoffMin)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Metrics == nil {
		c.Metrics = NewPromMetrics(c.Logger)
	}
	return c
}

// Runtime owns one node: one goroutine (the loop) steps its machines one
// input at a time and executes their effects. See the package doc.
type Runtime struct {
	cfg       Config
	log       *slog.Logger
	metrics   *PromMetrics
	started   time.Time // carries the monotonic reading Now is built on
	startedNs int64     // the wall clock at start, Unix ns

	messages *inbox
	requests chan env.Request
	internal internalQueue
	stop     chan struct{}
	done     chan struct{}
	startMu  sync.Mutex
	running  bool
	stopOnce sync.Once

	transport atomic.Pointer[transportBox]
	lost      lostPeers
	calls     callTable
	ready     atomic.Bool
	// serving: the current node has been ready once, so calls reach it
	// even while it is not ready (a full disk, a failed machine): its
	// machines answer for themselves, and reads keep working.
	serving atomic.Bool
	// local: ReadyCheck passed and the disk was not full at the last
	// step (Ready without UnreadyCheck's reasons).
	local atomic.Bool
	// unready is UnreadyCheck's last reason ("" or unset: none).
	unready atomic.Pointer[string]
	closing atomic.Bool
	nextReq atomic.Uint64

	loop loopState // owned by the loop goroutine
}

type transportBox struct{ t Transport }

var _ env.Env = (*Runtime)(nil)

// New returns a runtime for cfg; Start begins the loop.
func New(cfg Config) (*Runtime, error) {
	if cfg.NewNode == nil || cfg.Disk == nil {
		return nil, errors.New("runtime: config needs NewNode and Disk")
	}
	cfg = cfg.withDefaults()
	seed := cfg.Seed
	if seed == 0 {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("runtime: seeding: %w", err)
		}
		seed = binary.LittleEndian.Uint64(b[:])
	}
	now := time.Now()
	r := &Runtime{
		cfg: cfg, log: cfg.Logger, metrics: cfg.Metrics,
		started: now, startedNs: now.UnixNano(),
		messages: newInbox(cfg.InboxDepth),
		requests: make(chan env.Request, cfg.InboxDepth),
		internal: internalQueue{notify: make(chan struct{}, 1)},
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		calls:    callTable{waiters: map[env.RequestID]chan any{}, max: cfg.CallsInflightMax},
	}
	r.loop = newLoopState(env.NewRand(seed))
	r.metrics.Set(env.MetricNodeReady, "", 0)
	cfg.Disk.SetCompletion(func(d env.DiskDone) { r.internal.push(diskDone{d}) })
	return r, nil
}

// Start begins the loop with transport t (nil: frames are dropped, for a
// node without peers). A transport created after the runtime (because it
// needs Deliver as its callback) is passed here.
func (r *Runtime) Start(t Transport) {
	r.startMu.Lock()
	defer r.startMu.Unlock()
	if r.running {
		panic("runtime: Start called twice")
	}
	r.running = true
	r.transport.Store(&transportBox{t})
	go r.run()
}

// Deliver hands a frame received from a peer to the loop. It never
// blocks: when the peer already holds its share of the inbox, or the inbox
// is full, a frame is dropped and counted (the network is best effort and
// the machines retry). See inbox for the fairness between peers.
func (r *Runtime) Deliver(from proto.NodeID, frame []byte) {
	if r.closing.Load() {
		return
	}
	switch r.messages.push(env.Message{From: from, Frame: frame}) {
	case inboxFull:
		r.metrics.Add(MetricInboxDropped, InboxMessage, 1)
	case inboxPeerShare, inboxEvicted:
		r.metrics.Add(MetricInboxDropped, InboxPeerShare, 1)
	}
}

// Ready reports whether the node serves requests (false while starting,
// recovering from a panic, closing or while the disk is full).
func (r *Runtime) Ready() bool {
	if !r.ready.Load() || r.closing.Load() {
		return false
	}
	full, _ := r.DiskFull()
	return !full
}

// LocalReady reports whether the node itself is up: started, recovered,
// ReadyCheck passes (storage open), the disk not full and the runtime not
// closing. It is Ready without Config.UnreadyCheck's reasons (the
// registry: ReasonRegistryNoLeader, ReasonRegistryUnreachable), for what
// needs this node but not the registry, such as appending to its local
// audit log. /readyz, which steers traffic, uses Ready.
func (r *Runtime) LocalReady() bool {
	if !r.local.Load() || r.closing.Load() {
		return false
	}
	full, _ := r.DiskFull()
	return !full
}

// DiskFull reports whether the disk refuses writes for lack of space, and
// why (false for a disk that cannot tell).
func (r *Runtime) DiskFull() (bool, string) {
	if fd, ok := r.cfg.Disk.(FullDisk); ok {
		return fd.Full()
	}
	return false, ""
}

// NotReadyReason says why Ready is false ("" when it is true).
func (r *Runtime) NotReadyReason() string {
	if r.closing.Load() {
		return "closing"
	}
	if full, reason := r.DiskFull(); full {
		return reason
	}
	if !r.ready.Load() {
		if why := r.unready.Load(); why != nil && *why != "" {
			return *why
		}
		return "starting or recovering"
	}
	return ""
}

// Prom returns the Prometheus-backed metrics sink the node reports to.
func (r *Runtime) Prom() *PromMetrics { return r.metrics }

// Call submits a client request to service and waits for its reply or
// for ctx. A reply that is an error value is returned as the error.
func (r *Runtime) Call(ctx context.Context, service string, body any) (any, error) {
	if r.closing.Load() {
		return nil, ErrClosed
	}
	if !r.serving.Load() {
		return nil, ErrNotReady
	}
	id := env.RequestID(r.nextReq.Add(1))
	ch, ok := r.calls.add(id)
	if !ok {
		r.metrics.Add(MetricInboxDropped, InboxRequest, 1)
		return nil, fmt.Errorf("%w: %d calls in flight", ErrOverloaded, r.cfg.CallsInflightMax)
	}
	defer r.calls.remove(id)
	select {
	case r.requests <- env.Request{ID: id, Service: service, Body: body}:
	default:
		r.metrics.Add(MetricInboxDropped, InboxRequest, 1)
		return nil, fmt.Errorf("%w: inbox full", ErrOverloaded)
	}
	select {
	case resp := <-ch:
		if err, isErr := resp.(error); isErr {
			return nil, err
		}
		return resp, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("runtime: call %s: %w", service, ctx.Err())
	case <-r.done:
		return nil, ErrClosed
	}
}

// Close stops accepting calls, waits (up to ctx) for in-flight calls to be
// answered, stops the loop, then syncs the disk when it can run an op
// synchronously. The disk and transport are not closed: their owner does
// that after Close returns.
func (r *Runtime) Close(ctx context.Context) error {
	r.closing.Store(true)
	r.ready.Store(false)
	r.local.Store(false)
	r.serving.Store(false)
	var drainErr error
drain:
	for r.calls.len() > 0 {
		select {
		case <-ctx.Done():
			drainErr = fmt.Errorf("runtime: %d calls still in flight: %w", r.calls.len(), ctx.Err())
			break drain
		case <-time.After(drainPoll):
		}
	}
	r.startMu.Lock()
	running := r.running
	r.startMu.Unlock()
	if running {
		r.stopOnce.Do(func() {
			close(r.stop)
			<-r.done
			r.loop.stopTimers()
		})
	}
	r.metrics.Set(env.MetricNodeReady, "", 0)
	if d, ok := r.cfg.Disk.(syncDisk); ok {
		if res := d.Do(env.DiskOp{Kind: env.DiskSync}); res.Err != nil {
			return errors.Join(drainErr, fmt.Errorf("runtime: final sync: %w", res.Err))
		}
	}
	return drainErr
}

// InFlight is the number of calls awaiting a reply.
func (r *Runtime) InFlight() int { return r.calls.len() }
