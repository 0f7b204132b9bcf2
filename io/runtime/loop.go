package runtime

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
)

// loopState is everything only the loop goroutine touches.
type loopState struct {
	rand      *env.Rand
	node      *node.Node
	gen       uint64 // incremented at every (re)build; stale inputs are dropped
	timers    map[env.TimerID]*time.Timer
	nextTimer env.TimerID
	ops       map[env.OpID]uint64 // outstanding disk op -> generation
	nextOp    env.OpID
	effects   []effect
	stepping  bool
	everReady bool
	bootedAt  time.Time
	// diskWasFull: the disk was full since the node was built; with
	// rebuild, the node is rebuilt once the disk has space again and a
	// machine failed (Config.FailedCheck).
	diskWasFull bool
	rebuild     bool
}

func newLoopState(r *env.Rand) loopState {
	return loopState{rand: r, timers: map[env.TimerID]*time.Timer{}, ops: map[env.OpID]uint64{}}
}

func (l *loopState) stopTimers() {
	// map order ok: stopping timers has no output that depends on order
	for id, t := range l.timers {
		t.Stop()
		delete(l.timers, id)
	}
}

// effectKind names what a step asked for; effects run after the step
// returns, in the order they were asked for (the simulator's contract).
type effectKind uint8

const (
	effectSend effectKind = iota + 1
	effectSubmit
	effectSetTimer
	effectCancelTimer
	effectReply
	effectPublish
)

type effect struct {
	kind  effectKind
	to    proto.NodeID
	frame []byte
	op    env.DiskOp
	opID  env.OpID
	timer env.TimerID
	delay time.Duration
	tag   uint64
	req   env.RequestID
	value any
	topic string
}

// Internal inputs, tagged with the generation that produced them.
type (
	timerFired struct {
		gen uint64
		env.TimerFired
	}
	diskDone struct{ env.DiskDone }
	busEvent struct {
		gen uint64
		env.BusEvent
	}
)

// internalQueue carries timer fires, disk completions and bus events to
// the loop. It is not a fixed-size channel on purpose: shedding a timer or
// a completion would stall a machine forever, and a blocking send from the
// disk's goroutine could deadlock against a Submit. Its length is bounded
// by what the machines keep outstanding (armed timers, submitted ops), which
// each machine bounds with a named limit.
type internalQueue struct {
	mu     sync.Mutex
	items  []any
	notify chan struct{} // capacity 1: "items is not empty"
}

func (q *internalQueue) push(item any) {
	q.mu.Lock()
	q.items = append(q.items, item)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

func (q *internalQueue) drain() []any {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items
}

// run is the loop goroutine: build, serve until a panic, back off, rebuild.
func (r *Runtime) run() {
	defer close(r.done)
	failures := 0
	for {
		if r.boot() {
			if r.serve() {
				return // stopped
			}
			if time.Since(r.loop.bootedAt) >= HealthyRunReset {
				failures = 0
			}
		}
		failures++
		if !r.backoff(failures) {
			return
		}
	}
}

// boot builds a fresh node and steps Start. It reports false when either
// panicked.
func (r *Runtime) boot() (ok bool) {
	l := &r.loop
	l.gen++
	l.stopTimers()
	l.bootedAt = time.Now()
	defer func() {
		if p := recover(); p != nil {
			r.crashed(p)
			ok = false
		}
	}()
	l.stepping = true // effects a machine asks for in Init run with Start's
	l.node = r.cfg.NewNode(r)
	l.stepping = false
	return r.step(env.Start{})
}

// serve steps inputs until stop (true) or a panic (false).
func (r *Runtime) serve() bool {
	for {
		select {
		case <-r.stop:
			return true
		case <-r.messages.notify:
			if m, ok := r.messages.pop(); ok && !r.step(m) {
				return false
			}
		case req := <-r.requests:
			if !r.step(req) {
				return false
			}
		case <-r.internal.notify:
			for _, item := range r.internal.drain() {
				if !r.stepInternal(item) {
					return false
				}
			}
		}
	}
}

// stepInternal filters inputs from a previous generation: a rebuilt node
// never sees the timers or disk completions of the one that panicked.
func (r *Runtime) stepInternal(item any) bool {
	l := &r.loop
	switch it := item.(type) {
	case timerFired:
		if it.gen != l.gen || l.timers[it.ID] == nil {
			return true // cancelled, or armed by a previous generation
		}
		delete(l.timers, it.ID)
		return r.step(it.TimerFired)
	case diskDone:
		gen, known := l.ops[it.ID]
		delete(l.ops, it.ID)
		if !known || gen != l.gen {
			return true
		}
		return r.step(it.DiskDone)
	case busEvent:
		if it.gen != l.gen {
			return true
		}
		return r.step(it.BusEvent)
	case peerLost:
		return r.stepPeerLost(it)
	}
	panic(fmt.Sprintf("runtime: unknown internal input %T", item))
}

// step runs one input, then its effects. A panic discards the effects,
// marks the node not ready and reports false.
func (r *Runtime) step(in env.Input) (ok bool) {
	l := &r.loop
	func() {
		defer func() {
			if p := recover(); p != nil {
				l.stepping = false
				r.crashed(p)
				ok = false
			}
		}()
		l.stepping = true
		l.node.Step(in)
		l.stepping = false
		ok = true
	}()
	if !ok {
		return false
	}
	r.applyEffects()
	r.updateReady()
	if l.rebuild {
		r.rebuildAfterDiskFull()
		return false
	}
	return true
}

func (r *Runtime) updateReady() {
	l := &r.loop
	ready := r.cfg.ReadyCheck == nil || r.cfg.ReadyCheck(l.node)
	full, _ := r.DiskFull()
	switch {
	case full:
		l.diskWasFull = true
		ready = false
	case l.diskWasFull && r.cfg.FailedCheck != nil && r.cfg.FailedCheck(l.node):
		l.rebuild = true
	default:
		l.diskWasFull = false // space is back and nothing failed
	}
	if ready && !r.serving.Load() {
		r.serving.Store(true)
	}
	r.local.Store(ready)
	if ready && !l.everReady {
		// Start-up ends when the node itself serves, not when the
		// registry also answers: a replica of a cold-starting set waits
		// for a quorum of its peers, which the start-up SLO is not about.
		l.everReady = true
		r.metrics.Set(env.MetricNodeStartup, "", time.Since(r.started).Seconds())
		r.log.Info("runtime: node serving", "startup", time.Since(r.started).Round(time.Millisecond))
	}
	why := ""
	if ready && r.cfg.UnreadyCheck != nil {
		why = r.cfg.UnreadyCheck(l.node)
	}
	if old := r.unready.Load(); (old == nil) != (why == "") || old != nil && *old != why {
		if why != "" {
			r.unready.Store(&why)
			r.log.Warn("runtime: node not ready", "reason", why)
		} else {
			r.unready.Store(nil)
			if old != nil {
				r.log.Info("runtime: node ready again", "was", *old)
			}
		}
	}
	ready = ready && why == ""
	if ready == r.ready.Load() {
		return
	}
	r.ready.Store(ready)
	r.metrics.Set(env.MetricNodeReady, "", boolGauge(ready))
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// crashed handles a panic in NewNode or Step: it counts the restart, drops
// the node's timers and fails every waiting call (the rebuilt node will
// never answer them).
func (r *Runtime) crashed(p any) {
	l := &r.loop
	r.ready.Store(false)
	r.local.Store(false)
	r.serving.Store(false)
	r.metrics.Set(env.MetricNodeReady, "", 0)
	r.metrics.Add(env.MetricServiceRestarts, env.RestartedNode, 1)
	r.log.Error("runtime: node panicked; rebuilding from durable state",
		"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	l.stopTimers()
	l.effects = l.effects[:0]
	l.stepping = false
	l.node = nil
	r.calls.failAll(ErrRestarted)
}

// rebuildAfterDiskFull drops a node with a machine that failed while the
// disk was full, once the disk has space again: like a crash, minus the
// panic, so the machines recover from their durable state.
func (r *Runtime) rebuildAfterDiskFull() {
	l := &r.loop
	l.rebuild, l.diskWasFull = false, false
	r.ready.Store(false)
	r.local.Store(false)
	r.serving.Store(false)
	r.metrics.Set(env.MetricNodeReady, "", 0)
	r.metrics.Add(env.MetricServiceRestarts, "node", 1)
	r.log.Warn("runtime: the disk has space again; rebuilding the node from durable state to recover a failed machine")
	l.stopTimers()
	l.effects = l.effects[:0]
	l.node = nil
	r.calls.failAll(ErrRestarted)
}

// backoff waits before the failures-th rebuild, answering requests with
// ErrNotReady and dropping frames meanwhile. It reports false on stop.
func (r *Runtime) backoff(failures int) bool {
	d := r.cfg.RestartBackoffMin
	for i := 1; i < failures && d < r.cfg.RestartBackoffMax; i++ {
		d *= 2
	}
	d = r.loop.rand.Jitter(min(d, r.cfg.RestartBackoffMax), RestartJitterFrac)
	r.log.Warn("runtime: restarting node", "after", d, "failures", failures)
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-r.stop:
			return false
		case <-timer.C:
			return true
		case req := <-r.requests:
			r.calls.resolve(req.ID, ErrNotReady)
		case <-r.messages.notify:
			r.messages.pop() // frames for the dead node: dropped
		case <-r.internal.notify:
			r.forgetLost(r.internal.drain()) // all from the dead generation
		}
	}
}

// applyEffects executes what the last step asked for, in order.
func (r *Runtime) applyEffects() {
	l := &r.loop
	tr := r.transport.Load()
	for i := range l.effects {
		e := &l.effects[i]
		switch e.kind {
		case effectSend:
			if tr != nil && tr.t != nil {
				tr.t.Send(e.to, e.frame)
			}
		case effectSubmit:
			r.cfg.Disk.Submit(e.opID, e.op)
		case effectSetTimer:
			gen, id, tag := l.gen, e.timer, e.tag
			l.timers[id] = time.AfterFunc(clockSkew.timerDelay(max(e.delay, 0)), func() {
				r.internal.push(timerFired{gen: gen, TimerFired: env.TimerFired{ID: id, Tag: tag}})
			})
		case effectCancelTimer:
			if t := l.timers[e.timer]; t != nil {
				t.Stop()
				delete(l.timers, e.timer)
			}
		case effectReply:
			r.calls.resolve(e.req, e.value)
		case effectPublish:
			r.internal.push(busEvent{gen: l.gen, BusEvent: env.BusEvent{Topic: e.topic, Event: e.value}})
		}
		*e = effect{} // release frames and values
	}
	l.effects = l.effects[:0]
}

// --- env.Env, called by the machines on the loop goroutine ---

func (r *Runtime) record(e effect) {
	if !r.loop.stepping {
		panic("runtime: env effect outside a step")
	}
	r.loop.effects = append(r.loop.effects, e)
}

// Self is the node's id.
func (r *Runtime) Self() proto.NodeID { return r.cfg.Self }

// Now is the wall clock at start plus the monotonic time since, so it
// never jumps backwards (skewed only by FailpointClock, clockhook.go).
func (r *Runtime) Now() env.Time {
	return clockSkew.now(env.Time(r.startedNs + time.Since(r.started).Nanoseconds()))
}

// Rand is the node's random source, seeded from crypto/rand.
func (r *Runtime) Rand() *env.Rand { return r.loop.rand }

// Send queues frame for the transport after the step.
func (r *Runtime) Send(to proto.NodeID, frame []byte) {
	r.record(effect{kind: effectSend, to: to, frame: frame})
}

// SetTimer arms a timer after the step.
func (r *Runtime) SetTimer(d time.Duration, tag uint64) env.TimerID {
	r.loop.nextTimer++
	id := r.loop.nextTimer
	r.record(effect{kind: effectSetTimer, timer: id, delay: d, tag: tag})
	return id
}

// CancelTimer disarms id after the step (a timer armed and cancelled in
// one step never fires).
func (r *Runtime) CancelTimer(id env.TimerID) {
	r.record(effect{kind: effectCancelTimer, timer: id})
}

// Submit hands op to the disk after the step.
func (r *Runtime) Submit(op env.DiskOp) env.OpID {
	r.loop.nextOp++
	id := r.loop.nextOp
	r.loop.ops[id] = r.loop.gen
	r.record(effect{kind: effectSubmit, opID: id, op: op})
	return id
}

// Reply answers a client call after the step.
func (r *Runtime) Reply(id env.RequestID, resp any) {
	r.record(effect{kind: effectReply, req: id, value: resp})
}

// Publish queues a bus event as a later input (services publish through
// core/node's own bus; this is the node-level fallback).
func (r *Runtime) Publish(topic string, event any) {
	r.record(effect{kind: effectPublish, topic: topic, value: event})
}

// Metrics is the Prometheus-backed sink.
func (r *Runtime) Metrics() env.Metrics { return r.metrics }

// Log is the node's logger.
func (r *Runtime) Log() *slog.Logger { return r.log }

// callTable holds the channels of calls awaiting replies. It is shared by
// Call (any goroutine) and the loop, hence the mutex.
type callTable struct {
	mu      sync.Mutex
	waiters map[env.RequestID]chan any
	max     int
}

func (c *callTable) add(id env.RequestID) (chan any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.waiters) >= c.max {
		return nil, false
	}
	ch := make(chan any, 1)
	c.waiters[id] = ch
	return ch, true
}

func (c *callTable) remove(id env.RequestID) {
	c.mu.Lock()
	delete(c.waiters, id)
	c.mu.Unlock()
}

func (c *callTable) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// resolve delivers resp to the call id; unknown ids (the caller gave up)
// and second replies are ignored.
func (c *callTable) resolve(id env.RequestID, resp any) {
	c.mu.Lock()
	ch := c.waiters[id]
	delete(c.waiters, id)
	c.mu.Unlock()
	if ch != nil {
		ch <- resp // capacity 1 and deleted above: never blocks
	}
}

func (c *callTable) failAll(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// map order ok: each waiter gets the same error; nothing is ordered
	for id, ch := range c.waiters {
		ch <- err
		delete(c.waiters, id)
	}
}
