package registry

import (
	"testing"
	"time"
)

// TestLeaderAnswersOnFollowersAcks: a leader whose own disk is slow
// answers a write once both followers hold it durably, while its own
// Ready (with the write's entry and its sync) is still on disk
// (applyCommittedAhead); the Ready still completes, with the entry
// written, only when its writes are done.
func TestLeaderAnswersOnFollowersAcks(t *testing.T) {
	c, l := warmLeader(t)
	const slow = 200 * time.Millisecond
	c.c.SetDiskLatency(l, slow)
	entries := len(c.nodes[l].env.disk.Keys(keyEntryPrefix))
	start := c.c.Now
	id := c.submit(l, Claim{Name: "ahead.org", Owner: newOwner(1).pub})
	res, ok := c.await(l, id, slow/2)
	if !ok {
		t.Fatalf("no answer within %v of a claim at a leader whose disk takes %v (answered only after its own sync)", slow/2, slow)
	}
	if res.Err != nil {
		t.Fatalf("claim: %v", res.Err)
	}
	if c.nodes[l].reg.inflight == nil {
		t.Fatalf("leader's Ready finished within %v, before its %v disk could have synced it", c.c.Now-start, slow)
	}
	if got := len(c.nodes[l].env.disk.Keys(keyEntryPrefix)); got != entries {
		t.Fatalf("leader's disk holds %d entries before its write completed, want %d", got, entries)
	}
	if !c.c.RunUntil(3*slow, func() bool { return c.nodes[l].reg.inflight == nil }) {
		t.Fatal("leader's Ready never finished")
	}
	if got := len(c.nodes[l].env.disk.Keys(keyEntryPrefix)); got <= entries {
		t.Fatalf("leader's disk holds %d entries after its Ready finished, want more than %d", got, entries)
	}
	if r := c.do(l, Resolve{Name: "ahead.org"}); r.Err != nil || !r.Record.Found {
		t.Fatalf("resolve after: %+v", r)
	}
}

// One follower paused: a commit must wait for the leader's own sync.
func TestAheadOneFollowerWaitsForLeaderSync(t *testing.T) {
	c, l := warmLeader(t)
	f := (l + 1) % 3
	c.c.Pause(f)
	const slow = 200 * time.Millisecond
	c.c.SetDiskLatency(l, slow)
	id := c.submit(l, Claim{Name: "ahead.org", Owner: newOwner(1).pub})
	if _, ok := c.await(l, id, slow/2); ok {
		t.Fatalf("answered before leader's sync with only one follower up")
	}
	res, ok := c.await(l, id, 5*slow)
	if !ok || res.Err != nil {
		t.Fatalf("no answer after sync: %v %+v", ok, res)
	}
}

// Crash the leader after it answered ahead, before its own sync.
func TestAheadCrashBeforeLeaderSync(t *testing.T) {
	c, l := warmLeader(t)
	const slow = 200 * time.Millisecond
	c.c.SetDiskLatency(l, slow)
	id := c.submit(l, Claim{Name: "ahead.org", Owner: newOwner(1).pub})
	res, ok := c.await(l, id, slow/2)
	if !ok || res.Err != nil {
		t.Fatalf("no ahead answer: %v %+v", ok, res)
	}
	if c.nodes[l].reg.inflight == nil {
		t.Fatalf("not inflight")
	}
	c.crash(l)
	c.run(2 * time.Second)
	l2 := c.leader(10 * time.Second)
	if r := c.do(l2, Resolve{Name: "ahead.org"}); r.Err != nil || !r.Record.Found {
		t.Fatalf("lost: %+v", r)
	}
	c.restart(l)
	c.awaitConverged(20 * time.Second)
	if r := c.do(l, Resolve{Name: "ahead.org"}); r.Err != nil || !r.Record.Found {
		t.Fatalf("resolve at restarted: %+v", r)
	}
}

// Leadership lost while the ahead-applied Ready is still on disk.
func TestAheadStepDownMidFlight(t *testing.T) {
	c, l := warmLeader(t)
	const slow = 5 * time.Second
	c.c.SetDiskLatency(l, slow)
	id := c.submit(l, Claim{Name: "ahead.org", Owner: newOwner(1).pub})
	res, ok := c.await(l, id, 200*time.Millisecond)
	if !ok || res.Err != nil {
		t.Fatalf("no ahead answer: %v %+v", ok, res)
	}
	// more proposals while in flight, then isolate the leader
	id2 := c.submit(l, Claim{Name: "ahead2.org", Owner: newOwner(1).pub})
	c.run(50 * time.Millisecond)
	inflightAtIso := c.nodes[l].reg.inflight != nil
	c.isolate(l)
	c.run(3 * time.Second)
	t.Logf("inflight at isolate %v, still inflight after 3s %v, old leader leading %v, applied %d", inflightAtIso, c.nodes[l].reg.inflight != nil, c.nodes[l].reg.rn.BasicStatus().RaftState, c.nodes[l].reg.m.applied)
	c.heal()
	c.run(6 * time.Second)
	_, _ = c.await(l, id2, time.Second)
	c.awaitConverged(30 * time.Second)
	l2 := c.leader(10 * time.Second)
	t.Logf("old leader %d new leader %d", l, l2)
	if r := c.do(l2, Resolve{Name: "ahead.org"}); r.Err != nil || !r.Record.Found {
		t.Fatalf("lost: %+v", r)
	}
}

// warmLeader starts three replicas and commits one claim through the
// leader, so the tests' next write is an ordinary one in the leader's term.
func warmLeader(t *testing.T) (*cluster, int) {
	c := newCluster(t, 3, 0, Config{})
	l := c.leader(10 * time.Second)
	c.do(l, Claim{Name: "warm.org", Owner: newOwner(1).pub})
	return c, l
}
