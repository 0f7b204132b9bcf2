package registry

import (
	"fmt"
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto"
)

// Evidence expires: a non-replica that stops sending ops after the cut
// stops reporting NoLeader NoLeaderReplyTTLOps OpTimeouts after the last
// leaderless reply, as it can no longer tell.
func TestNoLeaderOnNonReplicaExpires(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	const nr = replicas3
	lead := c.leader(2 * time.Second)
	c.cutToMinority(nr, (lead+1)%replicas3)
	claim := func(k int) any { return Claim{Name: fmt.Sprintf("n%d.example.org", k), Owner: newOwner(1).pub} }
	if !c.steady(nr, 10*time.Second, 100*time.Millisecond, claim, c.nodes[nr].reg.NoLeader) {
		t.Fatalf("NoLeader never held")
	}
	ttl := time.Duration(NoLeaderReplyTTLOps) * c.opTimeout()
	if !c.c.RunUntil(ttl+2*c.opTimeout(), func() bool { return !c.nodes[nr].reg.NoLeader() }) {
		t.Fatalf("NoLeader still holds %v after the ops stopped", ttl+2*c.opTimeout())
	}
}

// Expired evidence does not count towards a new window: a non-replica
// that heard "no leader" through a short cut, then nothing for minutes
// (no reply naming a leader in between, as it sent no ops), is not
// called NoLeader by the first leaderless reply of a later episode. That
// reply starts a new window, which must span the grace again; otherwise
// a healthy non-replica flaps unready on one reply during an election.
func TestNoLeaderOnNonReplicaExpiredWindowRestarts(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	const nr = replicas3
	lead := c.leader(2 * time.Second)
	a := (lead + 1) % replicas3
	reg := c.nodes[nr].reg
	resolve := Resolve{Name: "example.org"}
	// A short cut: one op, whose replies all say "no leader" until it
	// times out; then the heal, and no op for long past the evidence's TTL.
	c.cutToMinority(nr, a)
	c.submit(nr, resolve)
	c.c.RunUntil(3*c.opTimeout(), func() bool { return false })
	c.heal()
	if !reg.unled {
		t.Fatalf("the cut op heard no leaderless reply")
	}
	c.c.RunUntil(30*time.Second, func() bool { return false })
	if reg.NoLeader() {
		t.Fatalf("NoLeader holds 30s after the last reply")
	}
	// A later episode: its first leaderless reply alone is no evidence.
	c.cutToMinority(nr, a)
	last := reg.unledLast
	c.submit(nr, resolve)
	if !c.c.RunUntil(3*time.Second, func() bool { return reg.unledLast != last }) {
		t.Fatalf("the new op heard no leaderless reply in 3s")
	}
	if reg.NoLeader() {
		t.Fatalf("NoLeader at the first leaderless reply of a new episode (its window spans %v)", reg.unledLast.Sub(reg.unledFirst))
	}
}

// On a non-replica, View names no leader while NoLeader holds (/status
// agrees with /readyz), though the last reply that named one named a
// leader; it names one again once a reply does.
func TestViewOnNonReplicaNoLeader(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	const nr = replicas3
	lead := c.leader(2 * time.Second)
	a := (lead + 1) % replicas3
	reg := c.nodes[nr].reg
	op := func(int) any { return Resolve{Name: "example.org"} }
	if !c.steady(nr, 3*time.Second, 100*time.Millisecond, op, func() bool { return reg.View().Leader != 0 }) {
		t.Fatalf("the non-replica's view names no leader with no fault")
	}
	c.cutToMinority(nr, a)
	if !c.steady(nr, 10*time.Second, 100*time.Millisecond, op, reg.NoLeader) {
		t.Fatalf("NoLeader never held in 10s")
	}
	if v := reg.View(); v.Leader != 0 || v.LeaderNode != (proto.NodeID{}) {
		t.Fatalf("view while NoLeader: leader %d (%v), want none", v.Leader, v.LeaderNode)
	}
	c.heal()
	if !c.steady(nr, 10*time.Second, 100*time.Millisecond, op, func() bool { return reg.View().Leader != 0 }) {
		t.Fatalf("healed non-replica's view names no leader after 10s of ops")
	}
}
