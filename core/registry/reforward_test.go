package registry

import (
	"fmt"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
)

// A replica that learns of a leader retries its pending ops at the next
// tick (retryOnLeader), instead of when each op's backoff runs out (up to
// RetryBackoffMax plus jitter later): ops accepted by a follower cut off
// from the leader are answered within a few ticks of the heal, not after
// up to half a second, or at OpTimeout as ErrUnavailable.
func TestPendingOpsRetryOnceALeaderIsKnown(t *testing.T) {
	c := newCluster(t, replicas3, 0, Config{})
	l := c.leader(2 * time.Second)
	f := (l + 1) % replicas3
	c.run(100 * time.Millisecond)
	c.isolate(f)
	noLeader := func() bool { _, ok := c.nodes[f].reg.Leader(); return !ok }
	if !c.c.RunUntil(3*time.Second, noLeader) {
		t.Fatalf("isolated follower %d still knows a leader", f)
	}
	// Ops accepted over 400ms, then left to back off: at the heal each
	// op's next try is somewhere within RetryBackoffMax (+ jitter).
	alice := newOwner(1)
	var ids []env.RequestID
	for k := range 8 {
		ids = append(ids, c.submit(f, Claim{Name: fmt.Sprintf("heal-%d.org", k), Owner: alice.pub}))
		c.run(50 * time.Millisecond)
	}
	c.run(600 * time.Millisecond)
	for _, id := range ids {
		if _, done := c.c.Members[f].Replies[id]; done {
			t.Fatalf("op %d answered while its replica was cut off", id)
		}
	}
	c.heal()
	if !c.c.RunUntil(2*time.Second, func() bool { return !noLeader() }) {
		t.Fatalf("follower %d learned no leader after the heal", f)
	}
	learned := c.c.Now
	// A tick, a forward, a commit and the answer: a few milliseconds.
	// Without the retry the ops wait out up to 500ms of backoff.
	const bound = 60 * time.Millisecond
	c.run(bound)
	for k, id := range ids {
		res, done := c.c.Members[f].Replies[id]
		if !done {
			t.Fatalf("claim %d not answered %v after follower %d learned the leader (at %v)", k, bound, f, learned)
		}
		if r := res.(Result); r.Err != nil {
			t.Fatalf("claim %d: %v", k, r.Err)
		}
	}
	c.awaitConverged(3 * time.Second)
}

// An op ended by its deadline is counted in registry_timeouts_total, not
// observed in registry_commit_latency_seconds: its time is OpTimeout by
// construction. Observed, the ops a partition strands made the commit
// p99 read OpTimeout plus a tick whenever they were over 1% of the writes
// (scenarios/partition.yaml, explore seeds 414 and 1139).
func TestDeadlineEndedOpsAreCountedNotTimed(t *testing.T) {
	c := newCluster(t, replicas3, 0, Config{})
	l := c.leader(2 * time.Second)
	f := (l + 1) % replicas3
	alice := newOwner(1)
	if r := c.do(f, Claim{Name: "timed.org", Owner: alice.pub}); r.Err != nil {
		t.Fatalf("claim: %v", r.Err)
	}
	c.isolate(f)
	noLeader := func() bool { _, ok := c.nodes[f].reg.Leader(); return !ok }
	if !c.c.RunUntil(3*time.Second, noLeader) {
		t.Fatalf("isolated follower %d still knows a leader", f)
	}
	if r := c.do(f, Claim{Name: "stranded.org", Owner: alice.pub}); !errIs(r.Err, ErrUnavailable) {
		t.Fatalf("claim on a follower with no leader: %v, want ErrUnavailable", r.Err)
	}
	commits := c.nodes[f].env.Recorder.Observations[MetricCommitLatency]
	if len(commits) != 1 || commits[0] >= c.opTimeout().Seconds() {
		t.Fatalf("%s on the follower: %v, want the one answered claim", MetricCommitLatency, commits)
	}
	if n := c.metric(f, MetricTimeouts, timeoutUnavailable); n != 1 {
		t.Fatalf("%s{%s} = %v, want 1", MetricTimeouts, timeoutUnavailable, n)
	}
}
