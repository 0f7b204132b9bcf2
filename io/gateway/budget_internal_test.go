package gateway

import (
	"testing"
	"time"
)

// TestMemBudgetAccounting walks memBudget with a fake heap and GC: a
// reservation holds its bytes, bytes read leave it once a GC has
// measured them, a closed one's unmeasured bytes settle until the next
// GC, and a write that does not fit after a release runs one GC first.
func TestMemBudgetAccounting(t *testing.T) {
	var heap, cycles uint64
	collects := 0
	now := time.Unix(1e9, 0)
	b := newMemBudget(100, func() uint64 { return heap }, true, func() time.Time { return now })
	b.cycles = func() uint64 { return cycles }
	b.collect = func() { collects++; cycles++ }

	if got, _ := b.take(60, false); got != 60 {
		t.Fatalf("60 of 100: got %d", got)
	}
	if got, left := b.take(60, false); got != 0 || left != 40 {
		t.Fatalf("60 more with 60 reserved: got %d, left %d", got, left)
	}
	// A chunked body takes what is left, no more.
	r := newBodyBudget(b, false)
	if got := r.grow(50); got != 40 {
		t.Fatalf("grow 50 with 40 left: %d", got)
	}
	// 40 bytes read is under observeEveryBytes: nothing is measured yet.
	r.observe(40)
	if r.measured != 0 {
		t.Fatalf("measured %d before a GC", r.measured)
	}
	// The first reservation ends: its 60 bytes read stay counted until a GC.
	b.give(60, 60, 60)
	if left := b.left(); left != 0 {
		t.Fatalf("left %d with 40 reserved and 60 settling", left)
	}
	// A write that does not fit now runs one GC (a release happened), which
	// measures the stored 60 bytes in the heap.
	heap = 60
	if got, left := b.take(1, false); got != 0 || left != 0 || collects != 1 {
		t.Fatalf("after the GC: got %d, left %d, collects %d", got, left, collects)
	}
	// No release since: no second GC.
	if got, _ := b.take(1, false); got != 0 || collects != 1 {
		t.Fatalf("a second refusal ran a GC: collects %d", collects)
	}
	// The chunked body is aborted: its 40 bytes settle, then a GC (the
	// heap back to the 60 stored) frees them.
	r.close(40)
	if left := b.left(); left != 0 {
		t.Fatalf("left %d right after the abort", left)
	}
	// Within collectEvery of the last GC: none.
	if got, _ := b.take(30, false); got != 0 || collects != 1 {
		t.Fatalf("a GC within a second of the last: got %d, collects %d", got, collects)
	}
	now = now.Add(collectEvery)
	if got, left := b.take(30, false); got != 30 || left != 40 || collects != 2 {
		t.Fatalf("after the abort and a GC: got %d, left %d, collects %d", got, left, collects)
	}
	b.untake(30)
	if b.reserved != 0 || len(b.settling) != 0 {
		t.Fatalf("reserved %d, settling %v at rest", b.reserved, b.settling)
	}
}

// TestBodyBudgetMeasuredBytesLeave: a body's bytes read before a GC that
// has since completed are in MemoryInUse, and leave its reservation, so
// a long chunked body is not counted twice (reserved and live) for more
// than a GC cycle.
func TestBodyBudgetMeasuredBytesLeave(t *testing.T) {
	var cycles uint64
	b := newMemBudget(64<<20, func() uint64 { return 0 }, true, time.Now)
	b.cycles = func() uint64 { return cycles }
	b.collect = func() { cycles++ }
	r := newBodyBudget(b, false)
	r.grow(8 << 20)
	r.observe(4 << 20) // marks 4 MiB at cycle 0
	cycles++           // a GC completes: it saw those 4 MiB
	r.observe(6 << 20)
	if r.measured != 4<<20 || b.reserved != 4<<20 {
		t.Fatalf("measured %d, reserved %d: want 4 MiB each", r.measured, b.reserved)
	}
	r.close(6 << 20) // 2 MiB read and not measured settle
	if b.reserved != 0 || len(b.settling) != 1 || b.settling[0].bytes != 2<<20 {
		t.Fatalf("after close: reserved %d, settling %v", b.reserved, b.settling)
	}
}

// TestMemBudgetOwnInUse: with a MemoryInUse of its own (not the live
// heap) a body counts only while it is read: nothing is measured away
// from its reservation, and nothing settles after it.
func TestMemBudgetOwnInUse(t *testing.T) {
	var cycles uint64
	b := newMemBudget(64<<20, func() uint64 { return 0 }, false, time.Now)
	b.cycles = func() uint64 { return cycles }
	r := newBodyBudget(b, false)
	r.grow(8 << 20)
	r.observe(4 << 20)
	cycles++
	r.observe(6 << 20)
	if r.measured != 0 || b.reserved != 8<<20 {
		t.Fatalf("measured %d, reserved %d: want 0 and 8 MiB", r.measured, b.reserved)
	}
	r.close(6 << 20)
	if b.reserved != 0 || len(b.settling) != 0 || b.left() != 64<<20 {
		t.Fatalf("after close: reserved %d, settling %v, left %d", b.reserved, b.settling, b.left())
	}
}

// TestRefusedWritesRunNoGC: a write refused with nothing released since
// the last GC runs none, however many are refused; their reservations
// (none, or one never read) close without counting as freed. On the
// build before, each refused write's closing re-armed the forced GC for
// the next: any client, without a token, made the node run a full GC
// per request (999 for 1000 refused PUTs).
func TestRefusedWritesRunNoGC(t *testing.T) {
	var cycles uint64
	collects := 0
	now := time.Unix(1e9, 0)
	b := newMemBudget(100, func() uint64 { return 95 }, true, func() time.Time { return now })
	b.cycles = func() uint64 { return cycles }
	b.collect = func() { collects++; cycles++ }
	for range 1000 {
		r := newBodyBudget(b, true) // a declared PUT, refused before enter
		if ok, _ := b.fits(50); ok {
			t.Fatal("50 bytes fit with 5 left")
		}
		r.close(0) // ServeHTTP's deferred unbudget
		if got, _ := b.take(50, false); got != 0 {
			t.Fatal("50 bytes fit with 5 left")
		}
		now = now.Add(time.Second)
	}
	if collects != 0 {
		t.Fatalf("1000 refused PUTs, nothing released: %d GCs, want 0", collects)
	}

	// Bodies read and closed: a refused write short of no more than
	// they read runs a GC, at most one per collectEvery of the clock.
	start := now
	const step = 50 * time.Millisecond
	for range 1000 {
		r := newBodyBudget(b, false)
		r.grow(5)
		r.close(5) // 5 bytes read, freed
		b.take(50, false)
		now = now.Add(step)
	}
	elapsed := now.Sub(start)
	if most := int(elapsed/collectEvery) + 1; collects == 0 || collects > most {
		t.Fatalf("1000 refused PUTs after releases over %v: %d GCs, want 1 to %d", elapsed, collects, most)
	}
	// Two GCs of the runtime's own complete: what was freed before is
	// measured, and a shortfall bigger than what was freed since runs none.
	n := collects
	cycles += 2
	now = now.Add(time.Hour)
	if b.take(50, false); collects != n {
		t.Fatalf("a GC with nothing freed since the runtime's own")
	}
	r := newBodyBudget(b, false)
	r.grow(5)
	r.close(5)
	if b.take(50, false); collects != n {
		t.Fatalf("45 bytes short with 5 freed: a GC ran")
	}
}
