package envtest

import (
	"container/heap"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
)

// Net is the cluster's network model; the zero value delivers every frame
// exactly once after LatencyMin (itself zero: on the next event).
type Net struct {
	// LatencyMin and LatencyMax bound a frame's one-way delay (uniform).
	LatencyMin, LatencyMax time.Duration
	// Loss drops a frame; Duplicate delivers it twice; Reorder holds it
	// back up to three more LatencyMax, so later frames may pass it.
	Loss, Duplicate, Reorder float64
}

// ClusterConfig configures a Cluster. Zero fields mean: a perfect network,
// disks that complete on the next event and lose every unsynced write in
// a crash.
type ClusterConfig struct {
	// IDs are the nodes' ids, node i being IDs[i].
	IDs []proto.NodeID
	// NewNode composes node i's services on e, at the start and after
	// every restart (e's disk is the node's, surviving the restart).
	NewNode func(i int, e env.Env) *node.Node
	// Seed seeds every random draw of the cluster and its nodes.
	Seed uint64
	Net  Net
	// DiskLatency delays every disk completion.
	DiskLatency time.Duration
	// UnsyncedSurvive is Disk.UnsyncedSurvive for every node.
	UnsyncedSurvive float64
	// Epoch is every node's clock at the start (zero: 2026-01-01 UTC).
	Epoch env.Time
	// StartDown leaves every node down at first: Start(i) starts one.
	StartDown bool
}

// EventsMax bounds the cluster's pending events; a test that overflows it
// has a node flooding the network or arming timers without bound.
const EventsMax = 1 << 20

// Cluster is a small N-node cluster driven by hand, for the services'
// tests: one event queue in virtual time (frames, timers, disk
// completions), a seeded network with loss, duplication, reordering,
// latency and cuts, crashable disks, and request/await helpers. Every node
// is a core/node loop with invariants checked after every step. It is the
// simulator's model in miniature, without its scale machinery, so each
// service's tests share one network and one crash model instead of each
// keeping its own.
type Cluster struct {
	// Now is the virtual time since the start.
	Now time.Duration
	// Members are the nodes, by index.
	Members []*Member
	// Drop, when set, drops the frames it returns true for (checked when
	// a frame is sent): a test's targeted cut.
	Drop func(from, to int, frame []byte) bool
	// Sent, when set, sees every frame a node sends, before the network
	// decides its fate (a trace for determinism tests).
	Sent func(from int, to proto.NodeID, frame []byte)

	cfg     ClusterConfig
	rand    *env.Rand
	byID    map[proto.NodeID]int
	cut     map[[2]int]bool
	events  eventQueue
	seq     uint64
	nextReq env.RequestID
	Paused  map[int]bool
	// diskLatency overrides cfg.DiskLatency by member (SetDiskLatency).
	diskLatency map[int]time.Duration
	held        []*event
}

// Member is one node of a Cluster.
type Member struct {
	Index int
	ID    proto.NodeID
	// Node is the running loop (nil while down).
	Node *node.Node
	// Disk survives crashes and restarts.
	Disk *Disk
	// Metrics and Replies accumulate over restarts.
	Metrics *Metrics
	Replies map[env.RequestID]any
	// Up is false between Crash and Restart.
	Up bool
	// Sent counts the frames the node handed to the network.
	Sent int

	c           *Cluster
	incarnation uint64
	rand        *env.Rand
	timers      map[env.TimerID]bool // armed, by id
	nextTimer   env.TimerID
	nextOp      env.OpID
	logger      *slog.Logger
}

// NewCluster builds and starts every node.
func NewCluster(cfg ClusterConfig) *Cluster {
	if cfg.NewNode == nil || len(cfg.IDs) == 0 {
		panic("envtest: ClusterConfig needs IDs and NewNode")
	}
	if cfg.Epoch == 0 {
		cfg.Epoch = env.Time(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	}
	c := &Cluster{cfg: cfg, rand: env.NewRand(cfg.Seed), byID: map[proto.NodeID]int{}, cut: map[[2]int]bool{}}
	for i, id := range cfg.IDs {
		m := &Member{Index: i, ID: id, c: c, Metrics: NewMetrics(), Replies: map[env.RequestID]any{},
			rand: c.rand.Derive(fmt.Sprintf("node/%d", i)), logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		m.Disk = NewDisk(m.rand.Derive("disk"))
		m.Disk.UnsyncedSurvive = cfg.UnsyncedSurvive
		c.byID[id] = i
		c.Members = append(c.Members, m)
	}
	for _, m := range c.Members {
		m.build()
		if !cfg.StartDown {
			m.Up = true
			m.Node.Step(env.Start{})
		}
	}
	return c
}

// Start starts node i: the first time for a cluster built with
// ClusterConfig.StartDown (its services exist from NewCluster on, and a
// test may call them before), or again after a crash (as Restart).
func (c *Cluster) Start(i int) {
	m := c.Members[i]
	if m.Node != nil && !m.Up {
		m.Up = true
		m.Node.Step(env.Start{})
		return
	}
	c.Restart(i)
}

// SetNet changes the network model for the frames sent from now on.
func (c *Cluster) SetNet(n Net) { c.cfg.Net = n }

// SetDiskLatency makes member i's disk ops submitted from now on complete
// after d instead of ClusterConfig.DiskLatency (a test slowing one disk).
// Raise it only: ops complete in the order of their completion times.
func (c *Cluster) SetDiskLatency(i int, d time.Duration) {
	if c.diskLatency == nil {
		c.diskLatency = map[int]time.Duration{}
	}
	c.diskLatency[i] = d
}

// build makes a new incarnation of the member's node, not yet started.
func (m *Member) build() {
	m.incarnation++
	m.timers = map[env.TimerID]bool{}
	m.Node = m.c.cfg.NewNode(m.Index, memberEnv{m})
}

func (m *Member) start() {
	m.build()
	m.Up = true
	m.Node.Step(env.Start{})
}

// Crash stops node i: its pending timers, disk completions and inbound
// frames are lost, and its disk keeps only what Disk.Crash keeps.
func (c *Cluster) Crash(i int) {
	m := c.Members[i]
	if !m.Up {
		return
	}
	m.Up, m.Node = false, nil
	m.incarnation++
	m.Disk.Crash()
}

// Restart builds node i afresh over its disk and starts it.
func (c *Cluster) Restart(i int) {
	if c.Members[i].Up {
		panic("envtest: Restart of a running node")
	}
	c.Members[i].start()
}

// Cut stops frames between a and b (both ways); Heal restores the link.
func (c *Cluster) Cut(a, b int) { c.cut[[2]int{a, b}], c.cut[[2]int{b, a}] = true, true }

// Heal restores the link between a and b.
func (c *Cluster) Heal(a, b int) { delete(c.cut, [2]int{a, b}); delete(c.cut, [2]int{b, a}) }

// Isolate cuts every link of node i.
func (c *Cluster) Isolate(i int) {
	for j := range c.Members {
		if j != i {
			c.Cut(i, j)
		}
	}
}

// Pause holds every input of member i (a stopped process) until Resume.
func (c *Cluster) Pause(i int) {
	if c.Paused == nil {
		c.Paused = map[int]bool{}
	}
	c.Paused[i] = true
}

// Resume delivers the held inputs of member i now.
func (c *Cluster) Resume(i int) {
	delete(c.Paused, i)
	var keep []*event
	for _, ev := range c.held {
		if ev.member == i {
			ev.at = c.Now
			heap.Push(&c.events, ev)
		} else {
			keep = append(keep, ev)
		}
	}
	c.held = keep
}

// HealAll restores every link and removes Drop.
func (c *Cluster) HealAll() {
	c.cut = map[[2]int]bool{}
	c.Drop = nil
}

// Step runs the next event; false when none is pending.
func (c *Cluster) Step() bool {
	if c.events.Len() == 0 {
		return false
	}
	ev := heap.Pop(&c.events).(*event)
	c.Now = max(c.Now, ev.at)
	m := c.Members[ev.member]
	if c.Paused[ev.member] {
		c.held = append(c.held, ev)
		return true
	}
	// Timers and disk completions belong to the incarnation that asked for
	// them; a frame reaches whatever incarnation is up when it arrives.
	if !m.Up || (ev.incarnation != 0 && ev.incarnation != m.incarnation) {
		return true
	}
	switch in := ev.input.(type) {
	case env.TimerFired:
		if !m.timers[in.ID] {
			return true
		}
		delete(m.timers, in.ID)
		m.Node.Step(in)
	case env.DiskDone:
		in.Result = m.Disk.Execute(&in.Op)
		m.Node.StepDisk(in)
	case env.Message:
		if c.cut[[2]int{c.byID[in.From], ev.member}] {
			return true
		}
		m.Node.Step(in)
	}
	return true
}

// RunFor runs every event due within d, then moves Now to the end of d.
func (c *Cluster) RunFor(d time.Duration) {
	end := c.Now + d
	for c.events.Len() > 0 && c.events[0].at <= end {
		c.Step()
	}
	c.Now = end
}

// RunUntil runs events until done holds (checked before each event) or
// limit passes; it reports whether done held.
func (c *Cluster) RunUntil(limit time.Duration, done func() bool) bool {
	end := c.Now + limit
	for !done() {
		if c.events.Len() == 0 || c.events[0].at > end {
			c.Now = max(c.Now, end)
			return done()
		}
		c.Step()
	}
	return true
}

// Request hands node i a client request now and returns its id.
func (c *Cluster) Request(i int, service string, body any) env.RequestID {
	c.nextReq++
	c.Members[i].Node.Step(env.Request{ID: c.nextReq, Service: service, Body: body})
	return c.nextReq
}

// Await runs until node i has replied to id or limit passes.
func (c *Cluster) Await(i int, id env.RequestID, limit time.Duration) (any, bool) {
	m := c.Members[i]
	c.RunUntil(limit, func() bool { _, ok := m.Replies[id]; return ok })
	resp, ok := m.Replies[id]
	return resp, ok
}

// Call sends req to node i's service that answers it and awaits the typed
// reply (see node.Call): ok is false when no reply came within limit, err
// is an error reply or the error the result carries.
func Call[Res any](c *Cluster, i int, req node.Call[Res], limit time.Duration) (res Res, err error, ok bool) {
	resp, ok := c.Await(i, c.Request(i, req.Service(), req), limit)
	if !ok {
		return res, nil, false
	}
	if e, isErr := resp.(error); isErr {
		return res, e, true
	}
	res, isRes := resp.(Res)
	if !isRes {
		return res, fmt.Errorf("envtest: %s answered %T", req.Service(), resp), true
	}
	if f, isF := any(res).(node.Failure); isF {
		err = f.Failure()
	}
	return res, err, true
}

// PendingDisk lists node i's disk operations not yet completed, in the
// order they will complete.
func (c *Cluster) PendingDisk(i int) []env.DiskOp {
	var evs []*event
	for _, ev := range c.events {
		if _, disk := ev.input.(env.DiskDone); disk && ev.member == i && ev.incarnation == c.Members[i].incarnation {
			evs = append(evs, ev)
		}
	}
	sort.Slice(evs, func(a, b int) bool { return eventQueue(evs).Less(a, b) })
	ops := make([]env.DiskOp, len(evs))
	for k, ev := range evs {
		ops[k] = ev.input.(env.DiskDone).Op
	}
	return ops
}

// Clock is every node's clock reading now (Epoch + Now).
func (c *Cluster) Clock() env.Time { return c.cfg.Epoch.Add(c.Now) }

// schedule queues in for member after a delay; incarnation 0 means any.
func (c *Cluster) schedule(member int, after time.Duration, incarnation uint64, in env.Input) {
	if c.events.Len() >= EventsMax {
		panic(fmt.Sprintf("envtest: %d events pending", EventsMax))
	}
	c.seq++
	heap.Push(&c.events, &event{at: c.Now + max(after, 0), seq: c.seq, member: member, incarnation: incarnation, input: in})
}

// send applies the network model to one frame.
func (c *Cluster) send(from *Member, to proto.NodeID, frame []byte) {
	if c.Sent != nil {
		c.Sent(from.Index, to, frame)
	}
	j, known := c.byID[to]
	if !known || c.cut[[2]int{from.Index, j}] || (c.Drop != nil && c.Drop(from.Index, j, frame)) {
		return
	}
	n := c.cfg.Net
	if n.Loss > 0 && c.rand.Bool(n.Loss) {
		return
	}
	copies := 1
	if n.Duplicate > 0 && c.rand.Bool(n.Duplicate) {
		copies = 2
	}
	for k := 0; k < copies; k++ {
		delay := n.LatencyMin
		if n.LatencyMax > n.LatencyMin {
			delay += time.Duration(c.rand.Uint64n(uint64(n.LatencyMax - n.LatencyMin)))
		}
		if n.Reorder > 0 && c.rand.Bool(n.Reorder) && n.LatencyMax > 0 {
			delay += time.Duration(c.rand.Uint64n(3*uint64(n.LatencyMax) + 1))
		}
		c.schedule(j, delay, 0, env.Message{From: from.ID, Frame: frame})
		frame = append([]byte(nil), frame...) // a duplicate owns its bytes
	}
}

// memberEnv is the env.Env of one incarnation of a member.
type memberEnv struct{ m *Member }

func (e memberEnv) Self() proto.NodeID   { return e.m.ID }
func (e memberEnv) Now() env.Time        { return e.m.c.Clock() }
func (e memberEnv) Rand() *env.Rand      { return e.m.rand }
func (e memberEnv) Metrics() env.Metrics { return e.m.Metrics }
func (e memberEnv) Log() *slog.Logger    { return e.m.logger }

func (e memberEnv) Send(to proto.NodeID, frame []byte) {
	e.m.Sent++
	e.m.c.send(e.m, to, frame)
}

func (e memberEnv) SetTimer(d time.Duration, tag uint64) env.TimerID {
	m := e.m
	m.nextTimer++
	m.timers[m.nextTimer] = true
	m.c.schedule(m.Index, d, m.incarnation, env.TimerFired{ID: m.nextTimer, Tag: tag})
	return m.nextTimer
}

func (e memberEnv) CancelTimer(id env.TimerID) { delete(e.m.timers, id) }

func (e memberEnv) Submit(op env.DiskOp) env.OpID {
	m := e.m
	m.nextOp++
	d, ok := m.c.diskLatency[m.Index]
	if !ok {
		d = m.c.cfg.DiskLatency
	}
	m.c.schedule(m.Index, d, m.incarnation, env.DiskDone{ID: m.nextOp, Op: op})
	return m.nextOp
}

func (e memberEnv) Reply(id env.RequestID, resp any) {
	if _, dup := e.m.Replies[id]; !dup {
		e.m.Replies[id] = resp
	}
}

// Publish is handled by the node's bus; a node never hands it down here.
func (e memberEnv) Publish(string, any) {}

var _ env.Env = memberEnv{}

// event is one pending input of a member's incarnation.
type event struct {
	at          time.Duration
	seq         uint64
	member      int
	incarnation uint64
	input       env.Input
}

// eventQueue orders events by time, then by scheduling order.
type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	ev := old[len(old)-1]
	*q = old[:len(old)-1]
	return ev
}
