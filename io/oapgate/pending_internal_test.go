package oapgate

import (
	"net/netip"
	"testing"
)

// TestStartBudgetBoundsTheNode: sources each at their own bound still
// cannot hold more than StartPendingBytesMax between them; the START past
// it is refused as start_pending_node, and releasing one lets the next in.
func TestStartBudgetBoundsTheNode(t *testing.T) {
	b := newStartBudget()
	var held []*connStarts
	var refused string
	for i := 0; refused == "" && i < 1<<12; i++ {
		src := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		for j := 0; j < StartPendingSourceBytesMax/StartPendingConnBytesMax && refused == ""; j++ {
			c := &connStarts{source: src}
			if refused = b.take(c, StartPendingConnBytesMax); refused == "" {
				held = append(held, c)
			}
		}
	}
	if refused != RefusedStartNode {
		t.Fatalf("refused %q, want %q", refused, RefusedStartNode)
	}
	if total, _ := b.pending(netip.Addr{}); total != StartPendingBytesMax {
		t.Fatalf("%d bytes pending at the bound, want %d", total, StartPendingBytesMax)
	}
	c := &connStarts{source: netip.MustParseAddr("10.9.9.9")}
	if r := b.take(c, 1); r != RefusedStartNode {
		t.Fatalf("one byte past the node's bound: refused %q, want %q", r, RefusedStartNode)
	}
	b.release(held[0], StartPendingConnBytesMax)
	if r := b.take(c, StartPendingConnBytesMax); r != "" {
		t.Fatalf("after a release: refused %q", r)
	}
	for _, h := range held[1:] {
		b.release(h, StartPendingConnBytesMax)
	}
	b.release(c, StartPendingConnBytesMax)
	if total, _ := b.pending(netip.Addr{}); total != 0 || len(b.perSource) != 0 {
		t.Fatalf("after every release: %d bytes, %d sources", total, len(b.perSource))
	}
}
