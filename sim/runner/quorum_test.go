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
	got := noQuorumSpans(faults, 5, 0, 20*s)
	want := []check.Span{{From: 3 * s, To: 5 * s}, {From: 7 * s, To: 9 * s}, {From: 10 * s, To: 12 * s}}
	if !slices.Equal(got, want) {
		t.Fatalf("no quorum %v, want %v", got, want)
	}
	// Clipped to the window.
	if got := noQuorumSpans(faults, 5, 4*s, 11*s); !slices.Equal(got, []check.Span{{From: 4 * s, To: 5 * s}, {From: 7 * s, To: 9 * s}, {From: 10 * s, To: 11 * s}}) {
		t.Fatalf("clipped to [4s, 11s): %v", got)
	}
	if got := noQuorumSpans(faults, 0, 0, 20*s); got != nil {
		t.Fatalf("no replicas: %v", got)
	}
}
