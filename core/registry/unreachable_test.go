package registry

import (
	"slices"
	"testing"
	"time"

	"go.etcd.io/raft/v3/tracker"

	"github.com/ron-network/ron/core/env"
)

// A loss report for a follower moves the leader's progress for it from
// replicate to probe; a report for a non-replica changes nothing.
func TestPeerUnreachableMovesProgressToProbe(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	lead := c.leader(2 * time.Second)
	if res := c.do(lead, Claim{Name: "example.org", Owner: newOwner(1).pub}); res.Err != nil {
		t.Fatalf("claim: %v", res.Err)
	}
	follower := (lead + 1) % replicas3
	raftID := uint64(slices.Index(c.replicas, c.nodes[follower].id) + 1)
	state := func() tracker.StateType {
		return c.nodes[lead].reg.rn.Status().Progress[raftID].State
	}
	if !c.c.RunUntil(2*time.Second, func() bool { return state() == tracker.StateReplicate }) {
		t.Fatalf("follower progress is %v, want replicate before the report", state())
	}
	report := func(i int) env.BusEvent {
		return env.BusEvent{Topic: env.TopicPeerUnreachable, Event: env.PeerUnreachable{Peer: c.nodes[i].id}}
	}
	c.nodes[lead].node.Step(report(replicas3)) // the non-replica
	if got := state(); got != tracker.StateReplicate {
		t.Fatalf("a report for a non-replica moved the follower to %v", got)
	}
	c.nodes[lead].node.Step(report(follower))
	if got := state(); got != tracker.StateProbe {
		t.Fatalf("follower progress is %v after the report, want probe", got)
	}
	if !c.c.RunUntil(2*time.Second, func() bool { return state() == tracker.StateReplicate }) {
		t.Fatalf("follower progress stuck at %v after the report", state())
	}
}
