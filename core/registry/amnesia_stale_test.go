package registry

import (
	"bytes"
	"testing"
	"time"
)

// Regression tests for the review of the amnesia merge (44f2966).

// recovered runs f and reports a panic it raised (the runtime would
// restart the node: a crash loop).
func recovered(f func()) (p any) {
	defer func() { p = recover() }()
	f()
	return nil
}

// TestUnconfirmedIgnoresStaleLeader: leader A is paused; B and W elect B
// at a higher term and commit alice's claim with W's acknowledgement; B
// goes down, W loses its disk (and the term it promised) and restarts; A
// resumes, still leading at its old term. W must not acknowledge A's
// appends (not every replica answered its state query), so A cannot
// commit bob's claim of the name over alice's.
func TestUnconfirmedIgnoresStaleLeader(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(3 * time.Second)
	w := (l + 1) % replicas3
	c.run(200 * time.Millisecond)
	c.crash(w)
	c.crash(l)
	c.restart(l)
	a := c.leader(3 * time.Second)
	b := 3 - a - w
	alice, bob := newOwner(1), newOwner(2)
	if r := c.do(a, Claim{Name: "z.org", Owner: alice.pub}); r.Err != nil {
		t.Fatalf("claim z.org: %v", r.Err)
	}
	c.run(200 * time.Millisecond)
	c.c.Pause(a)
	c.c.Isolate(a)
	c.restart(w)
	if !c.c.RunUntil(5*time.Second, func() bool { return c.nodes[b].reg.IsLeader() || c.nodes[w].reg.IsLeader() }) {
		t.Fatalf("no new leader without %d", a)
	}
	if r := c.do(b, Claim{Name: "x.org", Owner: alice.pub}); r.Err != nil {
		t.Fatalf("claim x.org: %v", r.Err)
	}
	c.crash(b)
	c.crash(w).Wipe()
	c.restart(w)
	c.c.HealAll()
	c.installDrop()
	c.c.Isolate(b)
	c.c.Resume(a)
	c.run(200 * time.Millisecond)
	if r := c.do(a, Claim{Name: "x.org", Owner: bob.pub}); r.Err == nil {
		t.Fatalf("stale leader %d gave x.org to bob: alice's acknowledged claim is lost", a)
	}
	c.c.HealAll()
	c.installDrop()
	c.restart(b)
	if !c.c.RunUntil(5*time.Second, func() bool { return !c.nodes[w].reg.Unconfirmed() }) {
		t.Fatalf("wiped replica did not confirm with every replica up")
	}
	c.awaitConverged(5 * time.Second)
	r := c.do(w, Resolve{Name: "x.org"})
	if r.Err != nil || !r.Record.Found || !bytes.Equal(r.Record.Owner, alice.pub) {
		t.Fatalf("x.org after recovery: err=%v found=%v, want alice's", r.Err, r.Record.Found)
	}
}

// TestWipedUnderLiveLeaderCatchesUp: a replica wiped and restarted while
// the leader that counted its acknowledgements stays up must neither panic
// on the leader's heartbeat (its commit is the stale match) nor be
// ignored by the leader forever: it catches up and confirms.
func TestWipedUnderLiveLeaderCatchesUp(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	w := (l + 1) % replicas3
	for _, n := range []string{"a.org", "b.org"} {
		if r := c.do(l, Claim{Name: n, Owner: newOwner(1).pub}); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	c.run(500 * time.Millisecond)
	c.crash(w).Wipe()
	c.restart(w)
	var ok bool
	if p := recovered(func() {
		ok = c.c.RunUntil(5*time.Second, func() bool {
			return !c.nodes[w].reg.Unconfirmed() && c.converged()
		})
	}); p != nil {
		t.Fatalf("wiped replica panicked: %v", p)
	}
	if !ok {
		t.Fatalf("wiped replica did not catch up and confirm: unconfirmed=%v applied %d", c.nodes[w].reg.Unconfirmed(), c.nodes[w].reg.AppliedIndex())
	}
	if r := c.do(w, Claim{Name: "c.org", Owner: newOwner(1).pub}); r.Err != nil {
		t.Fatalf("claim after catching up: %v", r.Err)
	}
}

// TestWipedRestartLoopDoesNotPanic: the same wiped replica restarted over
// and over (as rond's runtime would after each panic) never panics.
func TestWipedRestartLoopDoesNotPanic(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	w := (l + 1) % replicas3
	for _, n := range []string{"a.org", "b.org"} {
		if r := c.do(l, Claim{Name: n, Owner: newOwner(1).pub}); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	c.run(500 * time.Millisecond)
	c.crash(w).Wipe()
	for k := 0; k < 5; k++ {
		c.restart(w)
		if p := recovered(func() { c.run(300 * time.Millisecond) }); p != nil {
			t.Fatalf("restart %d: wiped replica panicked: %v", k, p)
		}
		c.crash(w)
	}
}

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

// TestUnconfirmedIgnoresStaleLeaderWithMatch: as
// TestUnconfirmedIgnoresStaleLeader, but the stale leader A had counted
// W's acknowledgements (its match for W is above zero) before it paused.
func TestUnconfirmedIgnoresStaleLeaderWithMatch(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	a := c.leader(2 * time.Second)
	b, w := (a+1)%replicas3, (a+2)%replicas3
	alice, bob := newOwner(1), newOwner(2)
	if r := c.do(a, Claim{Name: "z.org", Owner: alice.pub}); r.Err != nil {
		t.Fatalf("claim z.org: %v", r.Err)
	}
	c.awaitConverged(2 * time.Second)
	c.c.Pause(a)
	c.c.Isolate(a)
	if !c.c.RunUntil(5*time.Second, func() bool { return c.nodes[b].reg.IsLeader() || c.nodes[w].reg.IsLeader() }) {
		t.Fatalf("no new leader without %d", a)
	}
	if r := c.do(b, Claim{Name: "x.org", Owner: alice.pub}); r.Err != nil {
		t.Fatalf("claim x.org: %v", r.Err)
	}
	c.crash(b)
	c.crash(w).Wipe()
	c.restart(w)
	c.c.HealAll()
	c.installDrop()
	c.c.Isolate(b)
	c.c.Resume(a)
	var r Result
	if p := recovered(func() { r = c.do(a, Claim{Name: "x.org", Owner: bob.pub}) }); p != nil {
		t.Fatalf("panic: %v", p)
	}
	if r.Err == nil {
		t.Fatalf("stale leader %d gave x.org to bob: alice's acknowledged claim is lost", a)
	}
	c.c.HealAll()
	c.installDrop()
	c.restart(b)
	if !c.c.RunUntil(5*time.Second, func() bool { return !c.nodes[w].reg.Unconfirmed() }) {
		t.Fatalf("wiped replica did not confirm with every replica up")
	}
	c.awaitConverged(5 * time.Second)
	r = c.do(w, Resolve{Name: "x.org"})
	if r.Err != nil || !r.Record.Found || !bytes.Equal(r.Record.Owner, alice.pub) {
		t.Fatalf("x.org after recovery: err=%v found=%v, want alice's", r.Err, r.Record.Found)
	}
}
