package registry

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"go.etcd.io/raft/v3"
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

// A follower that loses its leader for a while (a pre-candidate: its
// election timer ran out while it was cut off) and then hears from the
// same leader again has seen no leader change: it retries at once only
// the ops raft dropped while it had no leader, not those it forwarded to
// that leader, which keep their backoff (here the cut lost them; after a
// stalled leader it has them). Retrying every pending op resent up to
// PendingOpsMax writes, mostly ones the leader already had.
func TestSameLeaderAgainRetriesOnlyLeaderlessOps(t *testing.T) {
	c := newCluster(t, replicas3, 0, Config{})
	l := c.leader(2 * time.Second)
	f := (l + 1) % replicas3
	c.run(100 * time.Millisecond)
	c.isolate(f)
	// Forwarded to the leader f still knows; the frames are cut.
	alice := newOwner(1)
	for k := range 6 {
		c.submit(f, Claim{Name: fmt.Sprintf("fwd-%d.org", k), Owner: alice.pub})
	}
	reg := func() *Registry { return c.nodes[f].reg }
	noLeader := func() bool { return reg().lead == raft.None }
	if !c.c.RunUntil(3*time.Second, noLeader) {
		t.Fatalf("isolated follower %d still knows a leader", f)
	}
	// Accepted now: raft drops it (no leader), so it is retried at once.
	c.submit(f, Claim{Name: "dropped.org", Owner: alice.pub})
	dropped := reg().pending[len(reg().pending)-1]
	before := map[uint64]env.Time{}
	for _, p := range reg().pending {
		before[p.seq] = p.nextTry
	}
	c.heal()
	if !c.c.RunUntil(2*time.Second, func() bool { return !noLeader() }) {
		t.Fatalf("follower %d learned no leader after the heal", f)
	}
	learned := reg().env.Now()
	if got := int(reg().lead) - 1; got != l {
		t.Fatalf("follower %d learned leader %d, want the old one %d", f, got, l)
	}
	kept := 0
	for _, p := range reg().pending {
		was, ok := before[p.seq]
		if p == dropped || !ok || was <= learned {
			continue // attempted while the follower had no leader
		}
		if p.nextTry != was {
			t.Errorf("op %d forwarded to the same leader: next try moved from %v to %v when it was learned again at %v", p.seq, was, p.nextTry, learned)
		}
		kept++
	}
	if kept == 0 {
		t.Fatalf("no forwarded op was still waiting out its backoff at %v: the test proves nothing", learned)
	}
	if dropped.nextTry > learned && slices.Contains(reg().pending, dropped) {
		t.Errorf("the op raft dropped while follower %d had no leader waits until %v, not retried when it learned one at %v", f, dropped.nextTry, learned)
	}
	c.awaitConverged(3 * time.Second)
}
