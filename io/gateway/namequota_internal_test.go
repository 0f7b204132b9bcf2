package gateway

import (
	"fmt"
	"testing"
)

// Claims in flight count against the quota, so concurrent claims cannot
// overshoot it; a released (definitely failed) one frees its place; a
// name held is admitted again; an exempt tenant and a negative max are
// not bounded.
func TestNameQuotaCountsClaimsInFlight(t *testing.T) {
	q := newNameQuota(3, []string{"root"})
	for i := 0; i < 3; i++ {
		if fresh, e := q.reserve("evil", fmt.Sprintf("evil-%d", i)); !fresh || e != nil {
			t.Fatalf("reserve %d: fresh %v, %v", i, fresh, e)
		}
	}
	if _, e := q.reserve("evil", "evil-3"); e == nil || e.code != CodeNameQuota || e.message != `tenant evil holds 3 names, its quota: name "evil-3" is not claimed` {
		t.Fatalf("fourth reservation while three are in flight: %v", e)
	}
	if fresh, e := q.reserve("evil", "evil-1"); fresh || e != nil {
		t.Fatalf("a held name again: fresh %v, %v, want admitted and not fresh", fresh, e)
	}
	q.release("evil", "evil-1")
	if fresh, e := q.reserve("evil", "evil-3"); !fresh || e != nil {
		t.Fatalf("reserve after a release: fresh %v, %v", fresh, e)
	}
	for i := 0; i < 5; i++ {
		if _, e := q.reserve("root", fmt.Sprintf("r-%d", i)); e != nil {
			t.Fatalf("exempt tenant: %v", e)
		}
	}
	if len(q.held) != 1 {
		t.Fatalf("tenants counted: %d, want only evil (root is exempt)", len(q.held))
	}
	off := newNameQuota(-1, nil)
	for i := 0; i < 5; i++ {
		if _, e := off.reserve("evil", fmt.Sprintf("e-%d", i)); e != nil {
			t.Fatalf("quota off: %v", e)
		}
	}
	if newNameQuota(0, nil).max != NamesPerTenantDefault {
		t.Fatal("zero max is not the default")
	}
}
