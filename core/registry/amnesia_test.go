package registry

import (
	"testing"
	"time"

	"go.etcd.io/raft/v3"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// TestWipedReplicaKeepsAckedWrites replays the red team's amnesia
// sequence in-process: a lagging replica is down while writes are acked by
// the other two; one of those two loses its whole disk and comes back
// under the same id while the other (the only complete copy) is down. The
// wiped replica and the lagging one must not elect a leader between them
// (it would serve the names as missing and accept another owner's
// claim); once the complete replica returns, all three agree on the acked
// writes.
func TestWipedReplicaKeepsAckedWrites(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	full := c.leader(2 * time.Second)
	lag, wiped := (full+1)%replicas3, (full+2)%replicas3
	c.crash(lag)
	alice, bob := newOwner(1), newOwner(2)
	names := []string{"a.org", "b.org", "c.org", "d.org", "e.org"}
	for _, name := range names {
		if r := c.do(full, Claim{Name: name, Owner: alice.pub}); r.Err != nil {
			t.Fatalf("claim %s: %v", name, r.Err)
		}
		if r := c.do(full, alice.set(name, proto.AddrOf([]byte(name)), 1)); r.Err != nil {
			t.Fatalf("set %s: %v", name, r.Err)
		}
	}
	c.crash(wiped).Wipe()
	c.crash(full)
	c.restart(wiped)
	c.restart(lag)

	// The wiped replica waits: it reports itself unconfirmed once it has
	// recovered (nothing) from its disk.
	if !c.c.RunUntil(time.Second, func() bool { return c.nodes[wiped].reg.Unconfirmed() }) {
		t.Fatalf("wiped replica never became unconfirmed")
	}
	if got := c.metric(wiped, MetricUnconfirmed, ""); got != 1 {
		t.Fatalf("registry_unconfirmed = %v on the wiped replica, want 1", got)
	}
	// Without the complete replica, no op may see the names missing or
	// hand one to another owner: each ends without a definite answer
	// (several election timeouts pass while they run).
	if r := c.do(lag, Resolve{Name: "a.org"}); r.Err == nil || errIs(r.Err, ErrNotFound) {
		t.Fatalf("resolve a.org through the lagging replica without the complete one: %+v (want no answer)", r)
	}
	if r := c.do(wiped, Claim{Name: "a.org", Owner: bob.pub}); r.Err == nil {
		t.Fatalf("another owner's claim of a.org accepted without the complete replica")
	}
	if r := c.do(wiped, Resolve{Name: "b.org"}); r.Err == nil || errIs(r.Err, ErrNotFound) {
		t.Fatalf("resolve b.org through the wiped replica without the complete one: %+v (want no answer)", r)
	}
	for _, i := range []int{lag, wiped} {
		if c.nodes[i].reg.IsLeader() {
			t.Fatalf("replica %d leads without the complete replica", i)
		}
	}

	c.restart(full)
	c.leader(5 * time.Second)
	c.awaitConverged(5 * time.Second)
	if !c.c.RunUntil(5*time.Second, func() bool { return !c.nodes[wiped].reg.Unconfirmed() }) {
		t.Fatalf("wiped replica never confirmed after catching up")
	}
	if got := c.metric(wiped, MetricUnconfirmed, ""); got != 0 {
		t.Fatalf("registry_unconfirmed = %v after catching up, want 0", got)
	}
	for i := range replicas3 {
		for _, name := range names {
			r := c.do(i, Resolve{Name: name})
			if r.Err != nil || !r.Record.Found || r.Record.Seq != 1 || string(r.Record.Owner) != string(alice.pub) {
				t.Fatalf("replica %d resolve %s after the complete replica returned: %+v", i, name, r)
			}
		}
	}
	if r := c.do(wiped, Claim{Name: "a.org", Owner: bob.pub}); !errIs(r.Err, ErrTaken) {
		t.Fatalf("another owner's claim of a.org: %v, want ErrTaken", r.Err)
	}
	// The wiped replica votes again: without the lagging one, it and the
	// complete one elect a leader and serve.
	c.crash(lag)
	c.crash(full)
	c.restart(full)
	c.leader(5 * time.Second)
	if r := c.do(wiped, Resolve{Name: "e.org"}); r.Err != nil || r.Record.Seq != 1 {
		t.Fatalf("resolve e.org with the wiped and the complete replica: %+v", r)
	}
}

// TestNewClusterBootstraps: replicas that all start empty report so to
// each other and elect a leader; none stays unconfirmed.
func TestNewClusterBootstraps(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	c.leader(2 * time.Second)
	if r := c.do(3, Claim{Name: "x.org", Owner: newOwner(1).pub}); r.Err != nil {
		t.Fatalf("claim on a new cluster: %v", r.Err)
	}
	c.awaitConverged(2 * time.Second)
	for i := range replicas3 {
		if c.nodes[i].reg.Unconfirmed() || c.metric(i, MetricUnconfirmed, "") != 0 {
			t.Fatalf("replica %d still unconfirmed on a new cluster", i)
		}
	}
}

// TestNewClusterWaitsForEveryReplica: two empty replicas of three are a
// majority reporting no state, but a replica that lost its disk and one
// that never started would be too, so they wait for the third; once it
// starts, all three report none and bootstrap.
func TestNewClusterWaitsForEveryReplica(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	c.crash(2)             // before it ran anything: its disk stays empty
	c.run(2 * time.Second) // dozens of state query rounds
	for i := range 2 {
		if !c.nodes[i].reg.Unconfirmed() || c.nodes[i].reg.IsLeader() {
			t.Fatalf("replica %d confirmed or leads without hearing from replica 2", i)
		}
	}
	c.restart(2)
	l := c.leader(3 * time.Second)
	for _, name := range []string{"x.org", "y.org"} {
		if r := c.do(3, Claim{Name: name, Owner: newOwner(1).pub}); r.Err != nil {
			t.Fatalf("claim %s: %v", name, r.Err)
		}
	}
	c.awaitConverged(3 * time.Second)
	if !c.c.RunUntil(3*time.Second, func() bool { return !c.nodes[2].reg.Unconfirmed() }) {
		t.Fatalf("late replica never confirmed")
	}
	// It votes: with the leader gone, the other two elect one.
	c.crash(l)
	c.leader(5 * time.Second)
	if r := c.do(3, Resolve{Name: "y.org"}); r.Err != nil || !r.Record.Found {
		t.Fatalf("resolve y.org after the first leader went down: %+v", r)
	}
}

// TestUnconfirmedSurvivesRestart: a wiped replica whose leader still
// counts entries it lost (its match is above zero) neither panics on the
// leader's heartbeats nor acknowledges anything while another replica it
// must hear from is down, so the leader cannot commit with it. Restarted,
// it is unconfirmed again (the mark on its disk). Once every replica is
// up the leader hands leadership over (its match for the wiped replica is
// stale), the wiped replica catches up and confirms.
func TestUnconfirmedSurvivesRestart(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	full := c.leader(2 * time.Second)
	if r := c.do(full, Claim{Name: "z.org", Owner: newOwner(1).pub}); r.Err != nil {
		t.Fatalf("claim z.org: %v", r.Err)
	}
	c.awaitConverged(2 * time.Second) // every follower acknowledged: match > 0
	lag, wiped := (full+1)%replicas3, (full+2)%replicas3
	alice := newOwner(1)
	c.crash(lag)
	c.crash(wiped).Wipe()
	c.restart(wiped)
	if r := c.do(full, Claim{Name: "a.org", Owner: alice.pub}); r.Err == nil {
		t.Fatalf("claim committed with an unconfirmed replica acknowledging before every replica answered")
	}
	if !c.nodes[wiped].reg.Unconfirmed() {
		t.Fatalf("wiped replica confirmed without an answer from every other replica")
	}
	c.crash(wiped)
	c.restart(wiped)
	c.run(500 * time.Millisecond)
	if !c.nodes[wiped].reg.Unconfirmed() || c.metric(wiped, MetricUnconfirmed, "") != 1 {
		t.Fatalf("restarted wiped replica votes again before every other replica answered")
	}
	c.restart(lag)
	if !c.c.RunUntil(5*time.Second, func() bool { return !c.nodes[wiped].reg.Unconfirmed() }) {
		t.Fatalf("wiped replica never confirmed once every replica was up")
	}
	if !c.c.RunUntil(time.Second, func() bool { _, ok := c.nodes[wiped].env.disk.Get(keyUnconfirmed); return !ok }) {
		t.Fatalf("mark still on disk after confirming")
	}
	c.awaitConverged(5 * time.Second)
	if r := c.do(wiped, Resolve{Name: "z.org"}); r.Err != nil || !r.Record.Found {
		t.Fatalf("resolve z.org on the wiped replica: %+v", r)
	}
}

// TestConfirmedReplicaWithoutLogIsNotNew is the red team's exact run: the
// replica that is stopped first never got raft state (the cluster
// elected its first leader without it), so when another replica loses
// its disk the two report no raft state, a majority, as a new cluster
// would. A replica that was confirmed once reports state, so the wiped
// one waits for the complete one.
func TestConfirmedReplicaWithoutLogIsNotNew(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	lag := 0
	c.cut = func(from, to proto.NodeID, frame []byte) bool {
		if to != c.nodes[lag].id && from != c.nodes[lag].id {
			return false
		}
		f, err := oap.Decode(frame)
		return err == nil && len(f.Payload) > 1 && f.Payload[1] == envRaft
	}
	full := c.leader(2 * time.Second)
	if full == lag {
		t.Fatalf("replica %d leads without raft messages", lag)
	}
	wiped := 3 - full - lag
	alice, bob := newOwner(1), newOwner(2)
	if r := c.do(full, Claim{Name: "a.org", Owner: alice.pub}); r.Err != nil {
		t.Fatalf("claim: %v", r.Err)
	}
	if reg := c.nodes[lag].reg; reg.Unconfirmed() || reg.storage == nil {
		t.Fatalf("replica %d not confirmed or not running", lag)
	} else if hs, _, _ := reg.storage.InitialState(); !raft.IsEmptyHardState(hs) {
		t.Fatalf("replica %d got raft state through the cut: %v", lag, hs)
	}
	c.crash(lag)
	c.crash(wiped).Wipe()
	c.crash(full)
	c.run(100 * time.Millisecond) // the frames in flight are lost
	c.cut = nil
	c.restart(wiped)
	c.restart(lag)
	if r := c.do(wiped, Claim{Name: "a.org", Owner: bob.pub}); r.Err == nil {
		t.Fatalf("another owner's claim of a.org accepted without the complete replica")
	}
	if r := c.do(lag, Resolve{Name: "a.org"}); r.Err == nil {
		t.Fatalf("resolve a.org without the complete replica: %+v (want no answer)", r)
	}
	c.restart(full)
	c.leader(5 * time.Second)
	c.awaitConverged(5 * time.Second)
	for i := range replicas3 {
		if r := c.do(i, Resolve{Name: "a.org"}); r.Err != nil || string(r.Record.Owner) != string(alice.pub) {
			t.Fatalf("replica %d resolve a.org after the complete replica returned: %+v", i, r)
		}
	}
}
