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
	c := newCluster(t, 3, 0, Config{})
	l := c.leader(10 * time.Second)
	c.do(l, Claim{Name: "warm.org", Owner: newOwner(1).pub})
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
