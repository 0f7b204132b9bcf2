package registry

import (
	"bytes"
	"testing"
	"time"
)

// Regression tests for the review of the amnesia merge (44f2966).

// TestWipedPlusNeverStartedIsNotNew: C never ran; A and B formed the
// cluster and committed x.org; B loses its disk while A is down. B and C
// are a majority reporting no state, but not every replica: they must not
// bootstrap a new cluster and give x.org to bob.
func TestWipedPlusNeverStartedIsNotNew(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	cc := 2
	c.crash(cc)
	alice, bob := newOwner(1), newOwner(2)
	l := -1
	if !c.c.RunUntil(3*time.Second, func() bool {
		for i := range replicas3 {
			if i != cc && c.nodes[i].reg.IsLeader() {
				l = i
				return true
			}
		}
		return false
	}) {
		// A new group waits for every replica before it elects: the
		// never-started replica cannot exist next to a committed write.
		c.restart(cc)
		if r := c.do(0, Claim{Name: "x.org", Owner: alice.pub}); r.Err != nil {
			t.Fatalf("claim x.org once every replica started: %v", r.Err)
		}
		return
	}
	other := 3 - l - cc
	if r := c.do(l, Claim{Name: "x.org", Owner: alice.pub}); r.Err != nil {
		t.Fatalf("claim x.org: %v", r.Err)
	}
	c.run(200 * time.Millisecond)
	c.crash(l)
	c.crash(other).Wipe()
	c.restart(other)
	c.restart(cc)
	if r := c.do(other, Claim{Name: "x.org", Owner: bob.pub}); r.Err == nil {
		t.Fatalf("a wiped and a never-started replica bootstrapped a new cluster: x.org went to bob")
	}
	c.restart(l)
	if !c.c.RunUntil(5*time.Second, func() bool { return !c.nodes[other].reg.Unconfirmed() && !c.nodes[cc].reg.Unconfirmed() }) {
		t.Fatalf("replicas did not confirm once the holder returned")
	}
	c.awaitConverged(5 * time.Second)
	r := c.do(other, Resolve{Name: "x.org"})
	if r.Err != nil || !r.Record.Found || !bytes.Equal(r.Record.Owner, alice.pub) {
		t.Fatalf("x.org after recovery: err=%v found=%v, want alice's", r.Err, r.Record.Found)
	}
}
