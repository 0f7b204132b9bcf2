package sim

import (
	"log/slog"
	"math"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// nodeEnv is the env.Env of one incarnation of one node. It records effects
// into the world's queue; nothing it does calls back into a machine. After
// the node crashes, the old env is dead: its effects are ignored, so a
// machine object that outlives its node cannot touch the world.
type nodeEnv struct {
	w     *World
	index int32
	n     *simNode
	dead  bool
	sink  *metricsSink
}

var _ env.Env = (*nodeEnv)(nil)

func (e *nodeEnv) Self() proto.NodeID { return e.n.id }
func (e *nodeEnv) Rand() *env.Rand    { return e.n.rand }
func (e *nodeEnv) Log() *slog.Logger  { return e.w.logger }

func (e *nodeEnv) Metrics() env.Metrics { return e.sink }

// Now reads the node's clock: Epoch + virtual time, skewed by the node's
// offset and drift, never going backwards.
func (e *nodeEnv) Now() env.Time {
	n := e.n
	reading := clockAt(n, e.w.now)
	if reading < n.lastReading {
		reading = n.lastReading
	}
	n.lastReading = reading
	return reading
}

// clockAt is the raw (unclamped) reading of n's clock at virtual time v.
func clockAt(n *simNode, v time.Duration) env.Time {
	reading := Epoch.Add(v + n.clockOffset)
	if n.clockDrift != 0 {
		reading = reading.Add(time.Duration(n.clockDrift * float64(v-n.driftSince)))
	}
	return reading
}

// fireTime is the earliest virtual time (not before now) at which n's
// clock reads at least deadline.
func (w *World) fireTime(n *simNode, deadline env.Time) time.Duration {
	// Solve Epoch + offset + v + drift*(v - since) = deadline for v.
	target := float64(deadline.Sub(Epoch) - n.clockOffset)
	v := time.Duration(math.Ceil((target + n.clockDrift*float64(n.driftSince)) / (1 + n.clockDrift)))
	for clockAt(n, v) < deadline { // float rounding
		v++
	}
	return max(v, w.now)
}

func (e *nodeEnv) Send(to proto.NodeID, frame []byte) {
	if e.dead {
		return
	}
	e.w.send(e.index, to, frame)
}

func (e *nodeEnv) SetTimer(d time.Duration, tag uint64) env.TimerID {
	w := e.w
	deadline := e.Now().Add(max(d, 0))
	at := w.now
	if d > 0 {
		at = w.fireTime(e.n, deadline)
	}
	slot := w.q.alloc()
	ev := &w.q.slab[slot]
	id := timerID(slot, ev.gen)
	if e.dead {
		w.q.release(slot) // still hand out a distinct, never-firing id
		return id
	}
	ev.kind = KindTimer
	ev.node = e.index
	ev.inc = e.n.inc
	ev.id = uint64(id)
	ev.tag = tag
	ev.deadline = deadline
	w.q.push(at, slot)
	return id
}

// CancelTimer is O(1): the id names the event's slot and generation; a
// fired, cancelled or foreign id no longer matches and is ignored.
func (e *nodeEnv) CancelTimer(id env.TimerID) {
	slot, gen := splitTimerID(id)
	q := &e.w.q
	if slot < 0 || int(slot) >= len(q.slab) {
		return
	}
	ev := &q.slab[slot]
	if ev.gen == gen && ev.kind == KindTimer && ev.node == e.index && ev.inc == e.n.inc {
		ev.cancelled = true
	}
}

// Submit queues op on the node's disk. It completes at
// max(previous completion, now + latency), so completions stay FIFO.
func (e *nodeEnv) Submit(op env.DiskOp) env.OpID {
	n := e.n
	n.nextOp++
	id := n.nextOp
	if e.dead {
		return id
	}
	w := e.w
	done := max(n.diskCompletion, w.now+n.disk.Latency(&op))
	n.diskCompletion = done
	n.diskQueue = append(n.diskQueue, pendingOp{id: id, op: op})
	slot := w.scheduleNode(KindDisk, e.index, done)
	w.q.slab[slot].id = uint64(id)
	return id
}

func (e *nodeEnv) Reply(id env.RequestID, resp any) {
	if e.dead {
		return
	}
	e.w.replies = append(e.w.replies, replyRecord{id: id, resp: resp})
}

// Publish is reached only by a machine holding the base env (node.Node
// routes its services' publishes itself); the event comes back as the
// node's next input.
func (e *nodeEnv) Publish(topic string, event any) {
	if e.dead {
		return
	}
	slot := e.w.scheduleNode(KindBus, e.index, e.w.now)
	e.w.q.slab[slot].bus = &env.BusEvent{Topic: topic, Event: event}
}

// applyDisk executes the oldest unapplied operation of n at its completion
// time. Completions are FIFO, so it is the one at diskApplied.
func (w *World) applyDisk(n *simNode) {
	if n.diskApplied >= len(n.diskQueue) {
		panic("sim: disk completion without a pending operation")
	}
	p := &n.diskQueue[n.diskApplied]
	p.result = n.disk.Apply(&p.op)
	n.diskApplied++
}

// popDisk removes the oldest operation of n, which has been applied.
func (w *World) popDisk(n *simNode) env.DiskDone {
	if n.diskHead >= n.diskApplied {
		panic("sim: disk operation delivered before it was applied")
	}
	p := &n.diskQueue[n.diskHead]
	done := env.DiskDone{ID: p.id, Op: p.op, Result: p.result}
	*p = pendingOp{}
	n.diskHead++
	if n.diskHead == len(n.diskQueue) {
		n.diskQueue = n.diskQueue[:0]
		n.diskHead, n.diskApplied = 0, 0
	}
	return done
}
