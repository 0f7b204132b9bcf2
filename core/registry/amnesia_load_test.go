package registry

import (
	"fmt"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/envtest"
	"github.com/ron-network/ron/core/proto/wire"
)

// TestWipedReplicaConfirmsUnderLoad: a wiped replica of a busy group
// (60 ms one-way latency, 100 claims a second) confirms, and once it has,
// the group survives losing its leader. Its target was once each
// replica's latest reported last index, which includes a busy group's
// uncommitted tail: it never caught up with it, and after the leader was
// lost the survivor could not be elected without its vote (a review's
// repro). The lowest answer of the incarnation covers every entry
// committed before the wipe and does not move.
func TestWipedReplicaConfirmsUnderLoad(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	w := (l + 1) % replicas3
	for k := 0; k < 3; k++ {
		if r := c.do(l, Claim{Name: fmt.Sprintf("n%d.org", k), Owner: newOwner(1).pub}); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	c.awaitConverged(2 * time.Second)
	c.c.SetNet(envtest.Net{LatencyMin: 60 * time.Millisecond, LatencyMax: 60 * time.Millisecond})
	c.crash(w).Wipe()
	c.restart(w)
	start := c.c.Now
	k := 0
	confirmed := false
	for c.c.Now-start < 10*time.Second && !confirmed {
		for i := range replicas3 {
			if c.nodes[i].reg.IsLeader() {
				c.submit(i, Claim{Name: fmt.Sprintf("m%d.org", k), Owner: newOwner(1).pub})
				k++
			}
		}
		c.run(10 * time.Millisecond)
		r := c.nodes[w].reg
		confirmed = r.rn != nil && r.phase == phaseRunning && !r.Unconfirmed()
	}
	if !confirmed {
		t.Fatalf("the wiped replica is still unconfirmed after 10s of load (applied %d, %d claims sent)", c.nodes[w].reg.AppliedIndex(), k)
	}
	lead := -1
	for i := range replicas3 {
		if c.nodes[i].reg.IsLeader() {
			lead = i
		}
	}
	if lead < 0 {
		lead = c.leader(5 * time.Second)
	}
	c.crash(lead) // lost for good
	if !c.c.RunUntil(20*time.Second, func() bool {
		for i := range replicas3 {
			if i != lead && c.nodes[i].reg.IsLeader() {
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no leader within 20s after losing leader %d, with the wiped replica confirmed", lead)
	}
}

// TestConfirmedMarkKeepsTermFloor: keyConfirmed holds the term floor the
// replica confirmed with, so a restart keeps dropping messages of lower
// terms until its own term reaches it; an empty mark (no floor) reads as
// 0 and a malformed one is corruption.
func TestConfirmedMarkKeepsTermFloor(t *testing.T) {
	var rc recovery
	if err := rc.add(env.KV{Key: []byte(keyConfirmed), Value: env.Seal(wire.AppendUvarint(nil, 7))}); err != nil {
		t.Fatal(err)
	}
	if !rc.confirmed || rc.termFloor != 7 {
		t.Fatalf("confirmed %v floor %d, want true 7", rc.confirmed, rc.termFloor)
	}
	rc = recovery{}
	if err := rc.add(env.KV{Key: []byte(keyConfirmed), Value: env.Seal(nil)}); err != nil || !rc.confirmed || rc.termFloor != 0 {
		t.Fatalf("empty mark: confirmed %v floor %d err %v, want true 0 nil", rc.confirmed, rc.termFloor, err)
	}
	if err := (&recovery{}).add(env.KV{Key: []byte(keyConfirmed), Value: env.Seal([]byte{0x80})}); err == nil {
		t.Fatal("a truncated floor read as a mark")
	}
}
