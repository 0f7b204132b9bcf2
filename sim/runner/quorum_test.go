package runner

import (
	"slices"
	"testing"
	"time"

	"github.com/ron-network/ron/sim"
	"github.com/ron-network/ron/sim/check"
)

func TestNoQuorumSpans(t *testing.T) {
	s := time.Second
	faults := []sim.FaultRecord{
		{At: 1 * s, Kind: sim.FaultCrash, Node: 0},
		{At: 2 * s, Kind: sim.FaultCrash, Node: 1},
		{At: 3 * s, Kind: sim.FaultIsolate, Node: 2}, // 3 and 4 left: no quorum
		{At: 5 * s, Kind: sim.FaultHeal, Node: -1},   // 2, 3, 4
		{At: 6 * s, Kind: sim.FaultRestart, Node: 0},
		{At: 6 * s, Kind: sim.FaultRestart, Node: 1},
		{At: 6500 * time.Millisecond, Kind: sim.FaultCrash, Node: 6},                     // not a replica
		{At: 7 * s, Kind: sim.FaultPartition, Node: -1, Groups: [][]int{{0, 1}, {2, 3}}}, // 2 | 2 | 1
		{At: 9 * s, Kind: sim.FaultHeal, Node: -1},
		{At: 10 * s, Kind: sim.FaultPause, Node: 0, Duration: 2 * s},
		{At: 10 * s, Kind: sim.FaultPause, Node: 1, Duration: 2 * s},
		{At: 10 * s, Kind: sim.FaultCrash, Node: 2},                                       // 3 and 4 until the pauses end
		{At: 14 * s, Kind: sim.FaultCutOneWay, Node: -1, Groups: [][]int{{0, 1, 3}, {4}}}, // not modelled: quorum kept
		{At: 15 * s, Kind: sim.FaultPartition, Node: -1, Groups: [][]int{{0, 1, 3}}},      // 0, 1, 3 are a majority
	}
	got := noQuorumSpans(faults, nil, 5, 0, 20*s)
	want := []check.Span{{From: 3 * s, To: 5 * s}, {From: 7 * s, To: 9 * s}, {From: 10 * s, To: 12 * s}}
	if !slices.Equal(got, want) {
		t.Fatalf("no quorum %v, want %v", got, want)
	}
	// Clipped to the window.
	if got := noQuorumSpans(faults, nil, 5, 4*s, 11*s); !slices.Equal(got, []check.Span{{From: 4 * s, To: 5 * s}, {From: 7 * s, To: 9 * s}, {From: 10 * s, To: 11 * s}}) {
		t.Fatalf("clipped to [4s, 11s): %v", got)
	}
	if got := noQuorumSpans(faults, nil, 0, 0, 20*s); got != nil {
		t.Fatalf("no replicas: %v", got)
	}
}

// A node is apart from the quorum while it is down, paused or on a side
// of a cut without a majority of the replicas, and every node is apart
// while there is no quorum; a non-replica follows the side it is on. The
// sides of a one-way cut or a bridge (not modelled) are apart till the heal.
func TestApartSpans(t *testing.T) {
	s := time.Second
	faults := []sim.FaultRecord{
		{At: 1 * s, Kind: sim.FaultIsolate, Node: 0},
		{At: 2 * s, Kind: sim.FaultHeal, Node: -1},
		{At: 3 * s, Kind: sim.FaultPartition, Node: -1, Groups: [][]int{{0, 1, 3}, {2}}}, // 3 with the majority
		{At: 4 * s, Kind: sim.FaultHeal, Node: -1},
		{At: 5 * s, Kind: sim.FaultPartition, Node: -1, Groups: [][]int{{0}, {1}, {2, 3}}}, // no majority
		{At: 6 * s, Kind: sim.FaultHeal, Node: -1},
		{At: 7 * s, Kind: sim.FaultPause, Node: 1, Duration: s},
		{At: 8500 * time.Millisecond, Kind: sim.FaultCrash, Node: 3},
		{At: 11 * s, Kind: sim.FaultCutOneWay, Node: -1, Groups: [][]int{{0}, {2}}}, // both sides apart
		{At: 12 * s, Kind: sim.FaultBridge, Node: 1, Groups: [][]int{{0}, {2}}},     // not the bridge
		{At: 13 * s, Kind: sim.FaultHeal, Node: -1},
	}
	got := apartSpans(faults, nil, 3, 4, 0, 14*s)
	want := [][]check.Span{
		{{From: 1 * s, To: 2 * s}, {From: 5 * s, To: 6 * s}, {From: 11 * s, To: 13 * s}},
		{{From: 5 * s, To: 6 * s}, {From: 7 * s, To: 8 * s}},
		{{From: 3 * s, To: 4 * s}, {From: 5 * s, To: 6 * s}, {From: 11 * s, To: 13 * s}},
		{{From: 5 * s, To: 6 * s}, {From: 8500 * time.Millisecond, To: 14 * s}},
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("node %d apart %v, want %v", i, got[i], want[i])
		}
	}
	if got := apartSpans(faults, nil, 0, 4, 0, 10*s); got != nil {
		t.Fatalf("no replicas: %v", got)
	}
}

// A replica that failed itself (it detected corruption, as at the restart
// scan of a damaged disk) is out of the quorum from its failure until its
// node crashes; its restart runs a new replica. disk_faults.yaml swarm seed
// 38's shape: two replicas cut off, a third fails at its restart, so two of
// five work until the heal, and the failed one stays out after it.
func TestNoQuorumSpansFailedReplica(t *testing.T) {
	s, ms := time.Second, time.Millisecond
	faults := []sim.FaultRecord{
		{At: 28 * s, Kind: sim.FaultPartition, Node: -1, Groups: [][]int{{0, 1}, {2, 3, 4}}},
		{At: 28500 * ms, Kind: sim.FaultCrash, Node: 4},
		{At: 29 * s, Kind: sim.FaultRestart, Node: 4},
		{At: 32097 * ms, Kind: sim.FaultHeal, Node: -1},
		{At: 34 * s, Kind: sim.FaultCrash, Node: 1},
		{At: 34 * s, Kind: sim.FaultCrash, Node: 2},
		{At: 36 * s, Kind: sim.FaultCrash, Node: 4},   // ends the failed replica
		{At: 37 * s, Kind: sim.FaultRestart, Node: 4}, // a new one: n1, n4, n5
	}
	failures := []replicaFailure{{Node: 4, At: 29010 * ms}}
	got := noQuorumSpans(faults, failures, 5, 20*s, 40*s)
	// 28.5-29.0: n5 down (2 of 5 on the majority side); 29.01-32.097: n5
	// failed; 34-37: n1 and n4 (n2, n3 crashed, n5 failed, then down).
	want := []check.Span{{From: 28500 * ms, To: 29 * s}, {From: 29010 * ms, To: 32097 * ms}, {From: 34 * s, To: 37 * s}}
	if !slices.Equal(got, want) {
		t.Fatalf("no quorum %v, want %v", got, want)
	}
	// The failed replica's node is apart while it is failed, whoever has
	// a quorum; a healthy one only when there is none.
	apart := apartSpans(faults, failures, 5, 5, 20*s, 40*s)
	if want := []check.Span{{From: 28500 * ms, To: 29 * s}, {From: 29010 * ms, To: 37 * s}}; !slices.Equal(apart[4], want) {
		t.Errorf("n5 apart %v, want %v", apart[4], want)
	}
	if want := []check.Span{{From: 28500 * ms, To: 29 * s}, {From: 29010 * ms, To: 32097 * ms}, {From: 34 * s, To: 37 * s}}; !slices.Equal(apart[3], want) {
		t.Errorf("n4 apart %v, want %v", apart[3], want)
	}
}
