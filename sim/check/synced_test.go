package check

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/sim/workload"
)

func TestSyncedWrites(t *testing.T) {
	owner := bytes.Repeat([]byte{7}, 32)
	ownerHex := hex.EncodeToString(owner)
	claim := availabilityOp(workload.OpClaim, time.Second, map[string]any{"ok": true}, 0)
	claim.Name, claim.Input = "a.ron", map[string]any{"owner": ownerHex}
	set := availabilityOp(workload.OpSet, 2*time.Second, map[string]any{"ok": true}, 0)
	set.Name, set.Input = "a.ron", map[string]any{"owner": ownerHex, "seq": uint64(2), "target": "x"}
	late := availabilityOp(workload.OpSet, 9*time.Second, map[string]any{"ok": true}, 0)
	late.Name, late.Input = "a.ron", map[string]any{"owner": ownerHex, "seq": uint64(3), "target": "x"}
	h := &workload.History{Ops: []*workload.Op{claim, set, late}}

	inSnap := registry.Durable{Names: map[string]registry.Record{"a.ron": {Found: true, Owner: owner, Seq: 2}}}
	inLog := registry.Durable{Writes: []registry.DurableWrite{{Name: "a.ron", Owner: owner}, {Set: true, Name: "a.ron", Owner: owner, Seq: 2}}}
	onlyClaim := registry.Durable{Writes: []registry.DurableWrite{{Name: "a.ron", Owner: owner}}}
	unreadable := registry.Durable{Unreadable: 1}

	var ok SyncedWrites
	// The late set is not acknowledged yet at 5s: it is not asked for.
	ok.AtRestart(5*time.Second, 0, h, []registry.Durable{inSnap, inLog, onlyClaim})
	ok.AtRestart(5*time.Second, 1, h, []registry.Durable{onlyClaim, inLog, unreadable}) // unreadable: benefit of the doubt
	if r := ok.Result(); !r.OK || !strings.Contains(r.Detail, "at 2 restarts") {
		t.Fatalf("%+v", r)
	}
	var lost SyncedWrites
	lost.AtRestart(5*time.Second, 2, h, []registry.Durable{inSnap, onlyClaim, onlyClaim})
	r := lost.Result()
	if r.OK || !strings.Contains(r.Detail, "restart of n3") || !strings.Contains(r.Detail, "op 1 (set a.ron seq 2") ||
		!strings.Contains(r.Detail, "durable on 1 of 3 replicas [1]") {
		t.Fatalf("%+v", r)
	}
	var none SyncedWrites
	if r := none.Result(); !r.OK || none.Restarts() != 0 {
		t.Fatalf("%+v", r)
	}
	// A disk wiped on purpose (an amnesic replica) gets the benefit of the
	// doubt, and says so; another replica's loss is still found.
	wipedN3 := []Wipe{2: {Wiped: true, At: 3 * time.Second}}
	var wiped SyncedWrites
	wiped.AtRestartAmnesic(5*time.Second, 2, h, []registry.Durable{inSnap, onlyClaim, {}}, wipedN3)
	if r := wiped.Result(); !r.OK || !strings.Contains(r.Detail, "1 wiped replica disks") {
		t.Fatalf("%+v", r)
	}
	wiped.AtRestartAmnesic(5*time.Second, 2, h, []registry.Durable{onlyClaim, {}, {}}, wipedN3)
	if r := wiped.Result(); r.OK || !strings.Contains(r.Detail, "durable on 1 of 3 replicas []") {
		t.Fatalf("%+v", r)
	}
}

func TestWriteGapAndRegistryLatency(t *testing.T) {
	var ops []*workload.Op
	for _, sec := range []int{1, 2, 3, 7, 8} {
		op := availabilityOp(workload.OpSet, time.Duration(sec)*time.Second, map[string]any{"ok": true}, 0)
		ops = append(ops, op)
	}
	// Answers that do not come from the log do not end a gap.
	ops = append(ops, availabilityOp(workload.OpSet, 5*time.Second, map[string]any{"ok": false, "error": "unavailable"}, 0),
		availabilityOp(workload.OpClaim, 5*time.Second, map[string]any{"ok": false, "error": "bad_signature"}, 0))
	h := &workload.History{Ops: ops}
	gap, at := WriteGap(h, 0, 10*time.Second, nil)
	if gap != 4*time.Second || at != 3*time.Second+time.Millisecond {
		t.Fatalf("gap %v at %v", gap, at)
	}
	if r := RegistryLatency(h, 0, 10*time.Second, nil, nil, 0, 0.01, 100, 50*time.Millisecond, 5*time.Second, 1); !r.OK {
		t.Fatalf("%+v", r)
	}
	if r := RegistryLatency(h, 0, 10*time.Second, nil, nil, 0, 0.01, 100, 50*time.Millisecond, 3*time.Second, 1); r.OK || !strings.Contains(r.Detail, "election bound") {
		t.Fatalf("%+v", r)
	}
	if r := RegistryLatency(h, 0, 10*time.Second, nil, nil, 0, 0.2, 100, 50*time.Millisecond, 5*time.Second, 1); r.OK || !strings.Contains(r.Detail, "commit p99 over budget") {
		t.Fatalf("%+v", r)
	}
	if r := RegistryLatency(h, 0, 10*time.Second, nil, nil, 0, 0, 0, 50*time.Millisecond, 5*time.Second, 1); r.OK {
		t.Fatalf("%+v", r)
	}
	// Time without a quorum is not failover time: 3.5 s of the 4 s gap
	// had none, so the longest failover is now the one from the last
	// answer (8 s) to the end (10 s).
	noQuorum := []Span{{From: 3500 * time.Millisecond, To: 7 * time.Second}, {From: 20 * time.Second, To: 30 * time.Second}}
	if gap, at := WriteGap(h, 0, 10*time.Second, noQuorum); gap != 2*time.Second-time.Millisecond || at != 8*time.Second+time.Millisecond {
		t.Fatalf("with no quorum from 3.5 s to 7 s: gap %v at %v", gap, at)
	}
	if r := RegistryLatency(h, 0, 10*time.Second, noQuorum, nil, 0, 0.01, 100, 50*time.Millisecond, 3*time.Second, 1); !r.OK || !strings.Contains(r.Detail, "without a quorum") {
		t.Fatalf("%+v", r)
	}
}

// A write the registry never answered (unknown outcome, or unavailable:
// ended at its deadline) counts against the unanswered bound only when it
// was invoked on a node that could reach a quorum: the commit p99 times
// only answered writes, so it never sees a registry that stops retrying.
func TestStrandedWrites(t *testing.T) {
	s := time.Second
	ops := []*workload.Op{
		availabilityOp(workload.OpSet, 1*s, map[string]any{"ok": true}, 0),
		availabilityOp(workload.OpClaim, 2*s, map[string]any{"ok": false, "error": "taken"}, 1),
		availabilityOp(workload.OpSet, 3*s, nil, 0),                                                   // unknown: counts
		availabilityOp(workload.OpClaim, 4*s, map[string]any{"ok": false, "error": "unavailable"}, 1), // counts
		availabilityOp(workload.OpSet, 5*s, nil, 1),                                                   // node 1 apart: not counted
		availabilityOp(workload.OpSet, 6*s, map[string]any{"ok": true}, 1),                            // apart, answered: not counted
		availabilityOp(workload.OpResolve, 7*s, nil, 0),                                               // a read: not counted
		availabilityOp(workload.OpSet, 8*s, map[string]any{"ok": true}, 2),                            // past apart's nodes
		availabilityOp(workload.OpSet, 12*s, nil, 0),                                                  // outside [from, to)
	}
	h := &workload.History{Ops: ops}
	apart := [][]Span{nil, {{From: 5 * s, To: 7 * s}}}
	if n, of := Stranded(h, 0, 10*s, apart, 0); n != 2 || of != 5 {
		t.Fatalf("stranded %d of %d, want 2 of 5", n, of)
	}
	if n, of := Stranded(h, 0, 10*s, nil, 0); n != 3 || of != 7 {
		t.Fatalf("no fault: stranded %d of %d, want 3 of 7", n, of)
	}
	// With a window, a call whose node is apart before the window ends
	// does not count either: the claim at 4 s (node 1 apart from 5 s).
	if n, of := Stranded(h, 0, 10*s, apart, 1500*time.Millisecond); n != 1 || of != 4 {
		t.Fatalf("window 1.5s: stranded %d of %d, want 1 of 4", n, of)
	}
	if r := RegistryLatency(h, 0, 10*s, nil, apart, 0, 0.01, 100, 50*time.Millisecond, 5*s, 0.41); !r.OK {
		t.Fatalf("2 of 5 under 41%%: %+v", r)
	}
	if r := RegistryLatency(h, 0, 10*s, nil, apart, 0, 0.01, 100, 50*time.Millisecond, 5*s, 0.35); r.OK || !strings.Contains(r.Detail, "unanswered while a quorum") {
		t.Fatalf("2 of 5 over 35%%: %+v", r)
	}
}

// A wiped disk counts at most once, and only for the writes invoked before
// its wipe: what it holds counts like any disk, and a write invoked after
// the wipe is not the wipe's loss (5 replicas in the review's case; 3 here).
func TestSyncedWritesWipedDiskCountsOnce(t *testing.T) {
	owner := bytes.Repeat([]byte{7}, 32)
	ownerHex := hex.EncodeToString(owner)
	claimAt := func(call time.Duration) *workload.Op {
		op := availabilityOp(workload.OpClaim, call, map[string]any{"ok": true}, 0)
		op.Name, op.Input = "a.ron", map[string]any{"owner": ownerHex}
		return op
	}
	holds := registry.Durable{Writes: []registry.DurableWrite{{Name: "a.ron", Owner: owner}}}
	wipedN1 := []Wipe{{Wiped: true, At: 5 * time.Second}}
	cases := []struct {
		name  string
		call  time.Duration
		disks []registry.Durable
		ok    bool
	}{
		// The wiped n1 caught the write up again but the others lost it:
		// one disk holds it, not two.
		{"before the wipe, only the wiped disk holds it", 4 * time.Second, []registry.Durable{holds, {}, {}}, false},
		{"after the wipe, only the wiped disk holds it", 6 * time.Second, []registry.Durable{holds, {}, {}}, false},
		// The wipe cannot explain losing a write invoked after it.
		{"after the wipe, lost by the wiped disk", 6 * time.Second, []registry.Durable{{}, holds, {}}, false},
		// In flight at the wipe (invoked before, acknowledged after): the
		// wipe may have erased it.
		{"in flight at the wipe", 5*time.Second - time.Microsecond, []registry.Durable{{}, holds, {}}, true},
		{"before the wipe, lost by the wiped disk", 4 * time.Second, []registry.Durable{{}, holds, {}}, true},
		{"after the wipe, held by a majority", 6 * time.Second, []registry.Durable{holds, holds, {}}, true},
	}
	for _, tc := range cases {
		h := &workload.History{Ops: []*workload.Op{claimAt(tc.call)}}
		var s SyncedWrites
		s.AtRestartAmnesic(10*time.Second, 1, h, tc.disks, wipedN1)
		if r := s.Result(); r.OK != tc.ok {
			t.Errorf("%s: ok %v, want %v: %s", tc.name, r.OK, tc.ok, r.Detail)
		}
	}
}
