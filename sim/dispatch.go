package sim

import (
	"fmt"
	"runtime/debug"
	"time"

	"github.com/ron-network/ron/core/env"
)

// NodePanic reports a panic raised by a node's services (or its NewNode).
// In the simulator a panic is a bug: the run stops and reports it.
type NodePanic struct {
	Node  int
	At    time.Duration // virtual time of the step that panicked
	Value any
	Stack string
}

func (p *NodePanic) Error() string {
	return fmt.Sprintf("sim: node %d panicked at %v: %v", p.Node, p.At, p.Value)
}

// Unwrap exposes a panic value that is an error (errors.Is/As see it).
func (p *NodePanic) Unwrap() error {
	err, _ := p.Value.(error)
	return err
}

// dispatch handles the event in slot, just popped at w.now. It filters
// what a node must not see (crashed target, cancelled timer, cut link),
// applies disk operations at their completion time, holds inputs of a
// paused node, and otherwise delivers.
func (w *World) dispatch(slot int32) {
	ev := &w.q.slab[slot]
	if ev.kind == KindFunc || ev.kind == kindQuiet {
		fn, traced := ev.fn, ev.kind == KindFunc
		w.q.release(slot)
		if traced {
			w.events++
			w.tracer.record(w, KindFunc, -1, 0)
		}
		fn()
		return
	}
	n := &w.nodes[ev.node]
	if ev.inc != n.inc || n.node == nil {
		w.drop(slot)
		return
	}
	switch ev.kind {
	case KindTimer:
		if ev.cancelled {
			w.q.release(slot)
			return
		}
		if n.env.Now() < ev.deadline {
			// The node's clock was slowed after the timer was armed: it
			// fires once the node's own clock reaches the deadline.
			w.q.push(w.fireTime(n, ev.deadline), slot)
			return
		}
	case KindDisk:
		w.applyDisk(n)
	case KindMessage:
		if len(w.cuts) > 0 && w.blocked(ev.from, ev.node) {
			w.net.Cut++
			w.q.release(slot)
			return
		}
	case kindResume:
		w.q.release(slot)
		w.resume(n)
		return
	}
	if n.pausedUntil > w.now || len(n.deferred) > 0 {
		n.held++
		n.deferred = append(n.deferred, slot)
		return
	}
	w.deliver(slot)
}

// drop discards an event whose target crashed since it was scheduled.
func (w *World) drop(slot int32) {
	ev := &w.q.slab[slot]
	switch ev.kind {
	case KindMessage:
		w.net.DroppedDown++
	case KindRequest:
		delete(w.requests, env.RequestID(ev.id))
	}
	w.q.release(slot)
}

// deliver turns the event in slot into a node input, frees the slot, runs
// the step and then the reply callbacks the step produced.
func (w *World) deliver(slot int32) {
	ev := w.q.slab[slot] // copy: the step may grow the slab
	w.q.release(slot)
	n := &w.nodes[ev.node]
	var in env.Input
	var done env.DiskDone // KindDisk's input, which stays unboxed
	var h uint64
	switch ev.kind {
	case KindStart:
		in = env.Start{}
	case KindMessage:
		w.net.Delivered++
		in = env.Message{From: w.nodes[ev.from].id, Frame: ev.frame}
		h = hashBytes(uint64(ev.from), ev.frame)
	case KindTimer:
		if ev.cancelled { // cancelled by an input delivered after a pause
			return
		}
		in = env.TimerFired{ID: timerID(slot, ev.gen), Tag: ev.tag}
		h = mix(uint64(ev.deadline), ev.tag) // not the id: it names a slab slot
	case KindDisk:
		done = w.popDisk(n)
		h = hashDiskDone(&done)
	case KindRequest:
		req, ok := w.requests[env.RequestID(ev.id)]
		if !ok {
			return
		}
		in = env.Request{ID: env.RequestID(ev.id), Service: req.service, Body: req.body}
		h = hashString(ev.id, req.service)
	case KindBus:
		in = *ev.bus
		h = hashString(0, ev.bus.Topic)
	default:
		panic(fmt.Sprintf("sim: cannot deliver event kind %v", ev.kind))
	}
	w.events++
	w.tracer.record(w, ev.kind, ev.node, h)
	if ev.kind == KindDisk {
		w.stepDisk(ev.node, &done)
	} else {
		w.step(ev.node, in)
	}
	w.runReplies()
}

// step runs one input on node i, turning a panic into the world's failure.
func (w *World) step(i int32, in env.Input) {
	target := w.nodes[i].node
	w.guard(i, func() { target.Step(in) })
}

// stepDisk runs one disk completion on node i as step does; the node
// boxes it only once (node.StepDisk).
func (w *World) stepDisk(i int32, done *env.DiskDone) {
	target := w.nodes[i].node
	w.guard(i, func() { target.StepDisk(*done) })
}

// guard runs fn, recording a panic in it as a *NodePanic of node i.
func (w *World) guard(i int32, fn func()) {
	defer func() {
		if r := recover(); r != nil {
			w.failure = &NodePanic{Node: int(i), At: w.now, Value: r, Stack: string(debug.Stack())}
		}
	}()
	fn()
}

// runReplies calls the reply callbacks collected during the last step, in
// the order the node replied.
func (w *World) runReplies() {
	for k := 0; k < len(w.replies); k++ {
		r := w.replies[k]
		w.replies[k] = replyRecord{}
		req, ok := w.requests[r.id]
		if !ok {
			continue // unknown or already answered: ignored, as env.Reply says
		}
		delete(w.requests, r.id)
		w.events++
		w.tracer.record(w, KindReply, req.node, uint64(r.id))
		if req.reply != nil {
			req.reply(r.resp)
		}
	}
	w.replies = w.replies[:0]
}

// resume ends a pause: the held inputs run now, in arrival order. A reply
// callback run in between may crash or pause the node again; what is left
// is then dropped or held again.
func (w *World) resume(n *simNode) {
	if n.pausedUntil > w.now {
		return // the pause was extended; a later resume event ends it
	}
	held := n.deferred
	n.deferred = nil
	for k, slot := range held {
		ev := &w.q.slab[slot]
		switch {
		case w.failure != nil || ev.inc != n.inc || n.node == nil:
			w.drop(slot)
		case n.pausedUntil > w.now:
			n.deferred = append(n.deferred, held[k:]...)
			return
		case ev.kind == KindMessage && len(w.cuts) > 0 && w.blocked(ev.from, ev.node):
			w.net.Cut++ // held by the pause, then cut: dropped like a frame in flight
			w.q.release(slot)
		default:
			w.deliver(slot)
		}
	}
}
