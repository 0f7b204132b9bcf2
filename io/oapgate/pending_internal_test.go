package oapgate

import (
	"net/netip"
	"testing"
)

// TestStartBudgetBoundsTheNode: at StartPendingBytesMax a source holding
// its fair share (pending bytes over sources holding some) is refused
// start_pending_node, while a source holding nothing is still charged, up
// to StartPendingCeilingBytes, past which every source is refused; every
// release gives back what was charged.
func TestStartBudgetBoundsTheNode(t *testing.T) {
	b := newStartBudget()
	src := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}) }
	const chunk = StartPendingConnBytesMax
	var held []*connStarts
	i := 0
	for ; i < StartPendingBytesMax/chunk; i++ {
		c := &connStarts{source: src(i)}
		if r := b.take(c, chunk); r != "" {
			t.Fatalf("source %d below the node's bound: refused %q", i, r)
		}
		held = append(held, c)
	}
	if r := b.take(&connStarts{source: src(0)}, 1); r != RefusedStartNode {
		t.Fatalf("a source at its fair share, one byte past the node's bound: refused %q, want %q", r, RefusedStartNode)
	}
	for ; i < StartPendingCeilingBytes/chunk; i++ {
		c := &connStarts{source: src(i)}
		if r := b.take(c, chunk); r != "" {
			t.Fatalf("source %d holding nothing, past the node's bound: refused %q, want it charged", i, r)
		}
		held = append(held, c)
		if r := b.take(&connStarts{source: src(i)}, 1); r != RefusedStartNode {
			t.Fatalf("source %d at its fair share past the node's bound: refused %q, want %q", i, r, RefusedStartNode)
		}
	}
	if total, _ := b.pending(netip.Addr{}); total != StartPendingCeilingBytes {
		t.Fatalf("%d bytes pending at the ceiling, want %d", total, StartPendingCeilingBytes)
	}
	c := &connStarts{source: netip.MustParseAddr("10.9.9.9")}
	if r := b.take(c, 1); r != RefusedStartNode {
		t.Fatalf("a source holding nothing, one byte past the ceiling: refused %q, want %q", r, RefusedStartNode)
	}
	b.release(held[0], chunk)
	if r := b.take(c, chunk); r != "" {
		t.Fatalf("after a release: refused %q", r)
	}
	for _, h := range held[1:] {
		b.release(h, chunk)
	}
	b.release(c, chunk)
	if total, _ := b.pending(netip.Addr{}); total != 0 || len(b.perSource) != 0 {
		t.Fatalf("after every release: %d bytes, %d sources", total, len(b.perSource))
	}
}
