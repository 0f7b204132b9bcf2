package gateway

import (
	"fmt"
	"testing"
	"time"
)

// Writes of stored bytes: a (tenant, address) pair is recorded once,
// pairs not seen are paced to StoredWriteAuditsPerSecondMax a second,
// and the next record carries how many the pace left unrecorded (given
// back when its append fails).
func TestObjectAuditsDedupAndPace(t *testing.T) {
	now := time.Unix(1000, 0)
	o := newObjectAudits(func() time.Time { return now })
	for i := range StoredWriteAuditsPerSecondMax {
		key := fmt.Sprint("t\x00", i)
		if paced, reason := o.admit(key); paced != 0 || reason != "" {
			t.Fatalf("write %d: paced %d, reason %q: want recorded", i, paced, reason)
		}
		o.mark(key)
		if _, reason := o.admit(key); reason != "unchanged" {
			t.Fatalf("repeat of write %d: reason %q, want unchanged", i, reason)
		}
	}
	for i := range 5 {
		if _, reason := o.admit(fmt.Sprint("u\x00", i)); reason != "paced" {
			t.Fatalf("write %d past the pace: reason %q, want paced", i, reason)
		}
	}
	now = now.Add(time.Second)
	paced, reason := o.admit("v")
	if paced != 5 || reason != "" {
		t.Fatalf("first write of the next second: paced %d, reason %q: want recorded with paced=5", paced, reason)
	}
	o.unrecorded(paced) // its append failed
	if paced, _ := o.admit("w"); paced != 5 {
		t.Fatalf("after a failed append the next record carries paced=%d, want 5", paced)
	}
	if _, reason := o.admit("v"); reason != "" {
		t.Fatalf("a pair whose append failed is %q, want recorded", reason)
	}
}

// recentKeys forgets the least recently used key past its bound.
func TestRecentKeysForgetsLeastRecentlyUsed(t *testing.T) {
	s := newRecentKeys(2)
	s.add("a")
	s.add("b")
	s.has("a")
	s.add("c")
	if !s.has("a") || s.has("b") || !s.has("c") || len(s.keys) != 2 || s.order.Len() != 2 {
		t.Fatalf("after a, b, use of a, c: keys %v, want a and c", s.keys)
	}
	s.remove("a")
	if s.has("a") || len(s.keys) != 1 || s.order.Len() != 1 {
		t.Fatalf("after removing a: keys %v", s.keys)
	}
}
