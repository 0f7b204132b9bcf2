package gateway

import (
	"errors"
	"runtime"
	"runtime/metrics"
	"sync"
	"time"
)

// memBudget is Config.MemoryBytesMax as writes share it (see "Memory
// budget" in doc.go): what MemoryInUse measures (the live heap of the last
// GC) plus the bytes of the bodies being read (reservations), plus the
// bytes of bodies finished since the last GC (settling: the live heap the
// last GC measured may not hold them yet). A write whose declared body
// does not fit is refused before a byte is read; a body without a length
// reserves as it is read and stops where the budget ends.
type memBudget struct {
	max   int64
	inUse func() uint64
	// heap: inUse is the live heap, which holds a body's bytes once a GC
	// has measured them (then they leave the reservation, and a closed
	// one's bytes settle until a GC). Otherwise inUse counts what it
	// counts, and a body only while it is read.
	heap    bool
	cycles  func() uint64    // GC cycles completed
	collect func()           // a full GC (runtime.GC)
	clock   func() time.Time // the gateway's Config.Clock

	mu       sync.Mutex
	reserved int64     // bytes of the reservations open
	settling []settled // bytes of reservations closed, until a GC after the close
	// freed: bytes of bodies read whose reservations closed since a GC
	// (freedCycle: the GC cycles completed at the latest close), which a
	// GC may take off what is counted (settling bytes, an aborted
	// upload's staged chunks). A write short of no more than that runs
	// one GC and looks again (collectEvery apart at most), so memory just
	// freed does not refuse writes until the runtime's next GC; a write
	// refused with nothing freed runs none.
	freed      int64
	freedCycle uint64
	// lastCollect: when take last ran a GC (zero: never).
	lastCollect time.Time
	// collecting: a GC run by take is under way (one at a time).
	collecting bool
}

// collectEvery is the least time between two GCs take runs: however many
// writes are refused, the node spends at most one full GC a second on them.
const collectEvery = time.Second

// settled is a closed reservation's bytes, counted until a GC completes
// after cycle (the cycles completed when it closed).
type settled struct {
	bytes int64
	cycle uint64
}

// errMemoryBudget is the read error of a body without a length that
// reached the end of the memory budget.
var errMemoryBudget = errors.New("gateway: memory budget")

// budgetError is errMemoryBudget with the figures of its refusal.
type budgetError struct{ read, max int64 }

func (e *budgetError) Error() string { return errMemoryBudget.Error() }
func (e *budgetError) Unwrap() error { return errMemoryBudget }

func newMemBudget(max int64, inUse func() uint64, heap bool, clock func() time.Time) *memBudget {
	return &memBudget{max: max, inUse: inUse, heap: heap, cycles: gcCycles, collect: runtime.GC, clock: clock}
}

// gcCycles is the number of GC cycles completed.
func gcCycles() uint64 {
	sample := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return sample[0].Value.Uint64()
}

// leftLocked is what the budget leaves (0 at most), b.mu held; settling
// bytes a GC has since measured are dropped.
func (b *memBudget) leftLocked() int64 {
	if len(b.settling) > 0 {
		now := b.cycles()
		kept := b.settling[:0]
		for _, s := range b.settling {
			if s.cycle >= now {
				kept = append(kept, s)
			}
		}
		clear(b.settling[len(kept):])
		b.settling = kept
	}
	used := int64(min(b.inUse(), uint64(b.max))) + b.reserved
	for _, s := range b.settling {
		used += s.bytes
	}
	return max(0, b.max-used)
}

// left is what the budget leaves now.
func (b *memBudget) left() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.leftLocked()
}

// take reserves n bytes (n > 0) if they fit, else as many as fit when
// partial is set; it returns the bytes reserved and what was left. A
// request that does not fit runs one GC (one at a time) and looks again
// when a GC may make the room (mayCollect).
func (b *memBudget) take(n int64, partial bool) (got, left int64) {
	return b.fit(n, partial, true)
}

// fits reports what take(n, false) would, reserving nothing.
func (b *memBudget) fits(n int64) (ok bool, left int64) {
	got, left := b.fit(n, false, false)
	return got == n, left
}

// fit is take, and reserves only when reserve is set.
func (b *memBudget) fit(n int64, partial, reserve bool) (got, left int64) {
	for try := 0; ; try++ {
		b.mu.Lock()
		left = b.leftLocked()
		if n <= left || try > 0 || !b.mayCollectLocked(n-left) {
			got = n
			if n > left {
				got = 0
				if partial {
					got = left
				}
			}
			if reserve {
				b.reserved += got
			}
			b.mu.Unlock()
			return got, left
		}
		b.freed, b.collecting, b.lastCollect = 0, true, b.clock()
		b.mu.Unlock()
		b.collect()
		b.mu.Lock()
		b.collecting = false
		b.mu.Unlock()
	}
}

// mayCollectLocked reports whether a GC run now may find short bytes
// (b.mu held): bodies closed since the last GC read that many (a GC
// begun after the latest close has seen them all: two cycles completed,
// as one may have been under way at the close), no GC take ran is under
// way, and the last one is collectEvery ago.
func (b *memBudget) mayCollectLocked(short int64) bool {
	if b.freed > 0 && b.cycles() > b.freedCycle+1 {
		b.freed = 0
	}
	if b.freed < short || b.collecting {
		return false
	}
	return b.lastCollect.IsZero() || b.clock().Sub(b.lastCollect) >= collectEvery
}

// untake gives back n bytes take reserved, as if never taken.
func (b *memBudget) untake(n int64) {
	b.mu.Lock()
	b.reserved -= n
	b.mu.Unlock()
}

// give closes n reserved bytes, of which kept stay counted (settling)
// until the next GC: a body stored is in the heap, one given up may be
// too until a GC frees it. read is the bytes the body read, all of which
// a GC may free (an aborted upload's chunks): they count as freed.
func (b *memBudget) give(n, kept, read int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reserved -= max(n, 0)
	if kept = min(kept, n); kept > 0 && b.heap {
		b.settling = append(b.settling, settled{bytes: kept, cycle: b.cycles()})
	}
	if read > 0 {
		b.freed += read
		b.freedCycle = b.cycles()
	}
}

// unreserve drops n reserved bytes a GC has since measured in the live
// heap (see bodyBudget.observe).
func (b *memBudget) unreserve(n int64) {
	b.mu.Lock()
	b.reserved -= n
	b.mu.Unlock()
}

// observeEveryBytes: a body looks whether a GC measured its bytes once
// per this many bytes read.
const observeEveryBytes = 1 << 20

// bodyBudget is one request body's reservation: the declared length up
// front (refuseOverBudget), or the bytes as they are read (grow). The
// bytes it has read go on to storage, whose staged chunks are live heap:
// once a GC completed after they were read, MemoryInUse counts them, and
// they leave the reservation (measured), so no byte is counted twice for
// longer than a GC cycle.
type bodyBudget struct {
	b        *memBudget
	reserved int64 // bytes taken from b, measured ones included
	declared bool  // reserved whole up front: reads do not grow it
	closed   bool
	measured int64  // bytes read that a GC since counted (given back to b)
	markRead int64  // bytes read when markCycle GC cycles had completed
	markGC   uint64 // see markRead
	checked  int64  // bytes read at the last observe
}

func newBodyBudget(b *memBudget, declared bool) *bodyBudget {
	return &bodyBudget{b: b, declared: declared, markGC: b.cycles()}
}

// grow reserves up to n more bytes; it returns what was added.
func (r *bodyBudget) grow(n int64) int64 {
	if r == nil || r.closed || n <= 0 {
		return 0
	}
	got, _ := r.b.take(n, true)
	r.reserved += got
	return got
}

// observe notes that read bytes of the body were read: the bytes read
// before a GC that has completed since are in the live heap it measured
// (storage holds them, or held them until an abort freed them), and are
// given back.
func (r *bodyBudget) observe(read int64) {
	if r == nil || r.closed || !r.b.heap || read-r.checked < observeEveryBytes {
		return
	}
	r.checked = read
	now := r.b.cycles()
	if now > r.markGC {
		if d := min(r.markRead, r.reserved) - r.measured; d > 0 {
			r.measured += d
			r.b.unreserve(d)
		}
	}
	r.markRead, r.markGC = read, now
}

// close ends the reservation; the read bytes no GC has measured yet stay
// counted until the next one (settling).
func (r *bodyBudget) close(read int64) {
	if r == nil || r.closed {
		return
	}
	r.closed = true
	r.b.give(r.reserved-r.measured, read-r.measured, read)
	r.reserved, r.measured = 0, 0
}
