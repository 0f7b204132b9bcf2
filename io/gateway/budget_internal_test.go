package gateway

import "testing"

// TestMemBudgetAccounting walks memBudget with a fake heap and GC: a
// reservation holds its bytes, bytes read leave it once a GC has
// measured them, a closed one's unmeasured bytes settle until the next
// GC, and a write that does not fit after a release runs one GC first.
func TestMemBudgetAccounting(t *testing.T) {
	var heap, cycles uint64
	collects := 0
	b := newMemBudget(100, func() uint64 { return heap }, true)
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
	b.give(60, 60)
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
	b := newMemBudget(64<<20, func() uint64 { return 0 }, true)
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
	b := newMemBudget(64<<20, func() uint64 { return 0 }, false)
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
