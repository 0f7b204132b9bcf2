package gateway

import (
	"fmt"
	"testing"
)

// Claims in flight count against the quota, so concurrent claims cannot
// overshoot it; a definitely failed one frees its place; a name counted
// is admitted again; an exempt claim and a negative max are not bounded.
func TestNameQuotaCountsClaimsInFlight(t *testing.T) {
	q := newNameQuota(3, []string{"root"})
	claims := make([]*nameClaim, 3)
	for i := range claims {
		c, e := q.reserve("evil", fmt.Sprintf("evil-%d", i), false)
		if c == nil || e != nil {
			t.Fatalf("reserve %d: %v, %v", i, c, e)
		}
		claims[i] = c
	}
	if _, e := q.reserve("evil", "evil-3", false); e == nil || e.code != CodeNameQuota || e.message != `tenant evil holds 3 names, its quota: name "evil-3" is not claimed` {
		t.Fatalf("fourth reservation while three are in flight: %v", e)
	}
	again, e := q.reserve("evil", "evil-1", false)
	if again == nil || e != nil {
		t.Fatalf("a counted name again: %v, %v, want admitted", again, e)
	}
	q.end(claims[1], []byte("o1"), claimFailed)
	if _, e := q.reserve("evil", "evil-3", false); e == nil {
		t.Fatal("evil-1 uncounted while a second claim of it is in flight")
	}
	q.end(again, []byte("o1"), claimFailed)
	if c, e := q.reserve("evil", "evil-3", false); c == nil || e != nil {
		t.Fatalf("reserve after both claims of evil-1 failed: %v, %v", c, e)
	}
	for i := 0; i < 5; i++ {
		if c, e := q.reserve("root", fmt.Sprintf("r-%d", i), true); c != nil || e != nil {
			t.Fatalf("exempt claim: %v, %v", c, e)
		}
	}
	if len(q.count) != 1 || q.counted("evil") != 3 {
		t.Fatalf("tenants counted: %v, want only evil's 3 (root's claims were exempt)", q.count)
	}
	off := newNameQuota(-1, nil)
	for i := 0; i < 5; i++ {
		if _, e := off.reserve("evil", fmt.Sprintf("e-%d", i), false); e != nil {
			t.Fatalf("quota off: %v", e)
		}
	}
	if newNameQuota(0, nil).max != NamesPerTenantDefault {
		t.Fatal("zero max is not the default")
	}
}

// The reviewer's interleaving, at the quota: claims A and B of x by one
// tenant are in flight; B wins, A is refused as taken. x stays counted
// whichever ends first. And a won claim with an unknown one of the same
// name pending settles the unknown one.
func TestNameQuotaDuplicateClaimsInterleave(t *testing.T) {
	for _, bFirst := range []bool{true, false} {
		q := newNameQuota(1, nil)
		a, _ := q.reserve("evil", "x", false)
		b, _ := q.reserve("evil", "x", false)
		if bFirst {
			q.end(b, []byte("B"), claimWon)
			q.end(a, []byte("A"), claimTaken)
		} else {
			q.end(a, []byte("A"), claimTaken)
			q.end(b, []byte("B"), claimWon)
		}
		if q.counted("evil") != 1 {
			t.Fatalf("B first %v: evil counted for %d names, want x", bFirst, q.counted("evil"))
		}
		if _, e := q.reserve("evil", "y", false); e == nil || e.code != CodeNameQuota {
			t.Fatalf("B first %v: a second name at a quota of one: %v", bFirst, e)
		}
	}
	q := newNameQuota(1, nil)
	a, _ := q.reserve("evil", "x", false)
	q.end(a, []byte("A"), claimUnknown)
	b, _ := q.reserve("bob", "x", false)
	q.end(b, []byte("B"), claimWon)
	if q.counted("evil") != 0 || q.counted("bob") != 1 || q.ghosts.Load() != 0 {
		t.Fatalf("after bob won x over evil's 504: evil %d, bob %d, ghosts %d", q.counted("evil"), q.counted("bob"), q.ghosts.Load())
	}
}
