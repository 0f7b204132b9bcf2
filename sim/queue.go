package sim

import (
	"time"

	"github.com/ron-network/ron/core/env"
)

// EventKind is the kind of one processed event (a node input, a world
// callback or a fault action).
type EventKind uint8

// Event kinds. The values are part of the trace hash: append, never reorder.
const (
	KindStart   EventKind = iota + 1 // env.Start delivered
	KindMessage                      // env.Message delivered
	KindTimer                        // env.TimerFired delivered
	KindDisk                         // env.DiskDone delivered
	KindRequest                      // env.Request delivered
	KindBus                          // env.BusEvent delivered (base env Publish)
	KindReply                        // a node replied to a client request
	KindFunc                         // an At/After callback ran
	KindFault                        // a fault action was applied
	kindResume                       // internal: a pause ended (never traced)
	kindQuiet                        // internal: an AtQuiet callback (never traced)
)

var kindNames = [...]string{"", "start", "msg", "timer", "disk", "req", "bus", "reply", "func", "fault", "resume", "quiet"}

func (k EventKind) String() string {
	if int(k) < len(kindNames) && k != 0 {
		return kindNames[k]
	}
	return "kind?"
}

// event is one scheduled happening. Events live in a slab (World.slab) and
// are reused through a free list, so scheduling a message, timer or disk
// completion allocates nothing once the slab has grown to the working set.
// Only At/After carry a closure.
type event struct {
	kind      EventKind
	cancelled bool   // timers: CancelTimer was called
	node      int32  // target node (-1 for world callbacks)
	from      int32  // messages: sender index
	inc       uint32 // target node's incarnation when scheduled
	gen       uint32 // slot generation; part of a TimerID
	id        uint64 // timer id, disk op id or request id
	tag       uint64 // timer tag
	deadline  env.Time
	frame     []byte
	fn        func()
	bus       *env.BusEvent
}

// heapEntry is what the binary heap orders: 24 bytes, so sifting moves
// little memory; the event itself stays put in the slab.
type heapEntry struct {
	at   time.Duration
	seq  uint64
	slot int32
}

func (a heapEntry) less(b heapEntry) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

// queue is the world's single event queue ordered by (time, sequence).
type queue struct {
	heap []heapEntry
	slab []event
	free []int32
	seq  uint64
}

// alloc returns a cleared slot with a fresh generation.
func (q *queue) alloc() int32 {
	var slot int32
	if n := len(q.free); n > 0 {
		slot = q.free[n-1]
		q.free = q.free[:n-1]
	} else {
		q.slab = append(q.slab, event{})
		slot = int32(len(q.slab) - 1)
	}
	ev := &q.slab[slot]
	gen := ev.gen + 1
	if gen == 0 {
		gen = 1 // zero would make a zero TimerID possible
	}
	*ev = event{gen: gen}
	return slot
}

// release returns slot to the free list, dropping references it holds.
func (q *queue) release(slot int32) {
	ev := &q.slab[slot]
	gen := ev.gen
	*ev = event{gen: gen}
	q.free = append(q.free, slot)
}

// push schedules slot at virtual time at.
func (q *queue) push(at time.Duration, slot int32) {
	q.seq++
	q.heap = append(q.heap, heapEntry{at: at, seq: q.seq, slot: slot})
	q.up(len(q.heap) - 1)
}

// peek returns the earliest entry; ok is false when the queue is empty.
func (q *queue) peek() (heapEntry, bool) {
	if len(q.heap) == 0 {
		return heapEntry{}, false
	}
	return q.heap[0], true
}

// pop removes and returns the earliest entry. The queue must not be empty.
func (q *queue) pop() heapEntry {
	h := q.heap
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	q.heap = h[:last]
	if last > 0 {
		q.down(0)
	}
	return top
}

func (q *queue) up(i int) {
	h := q.heap
	x := h[i]
	for i > 0 {
		parent := (i - 1) / 2
		if !x.less(h[parent]) {
			break
		}
		h[i] = h[parent]
		i = parent
	}
	h[i] = x
}

func (q *queue) down(i int) {
	h := q.heap
	n := len(h)
	x := h[i]
	for {
		child := 2*i + 1
		if child >= n {
			break
		}
		if right := child + 1; right < n && h[right].less(h[child]) {
			child = right
		}
		if !h[child].less(x) {
			break
		}
		h[i] = h[child]
		i = child
	}
	h[i] = x
}

// timerID packs a slot and its generation so that CancelTimer is O(1) and a
// stale id (the slot was reused) is recognised and ignored.
func timerID(slot int32, gen uint32) env.TimerID {
	return env.TimerID(uint64(gen)<<32 | uint64(uint32(slot)))
}

func splitTimerID(id env.TimerID) (slot int32, gen uint32) {
	return int32(uint32(id)), uint32(uint64(id) >> 32)
}
