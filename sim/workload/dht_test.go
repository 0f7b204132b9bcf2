package workload

import (
	"bytes"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/ron-network/ron/core/proto"
)

// TestTruthClosestMatchesScan checks the prefix-range search against a
// plain scan: XOR every live id with the target and sort the distances.
func TestTruthClosestMatchesScan(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 300).Draw(t, "nodes")
		// Ids share random prefixes so that ranges of every depth occur.
		base := rapid.SliceOfN(rapid.Byte(), proto.IDBytes, proto.IDBytes).Draw(t, "base")
		ids := make([]proto.NodeID, 0, n)
		seen := map[proto.NodeID]bool{}
		for len(ids) < n {
			var id proto.NodeID
			copy(id[:], base)
			keep := rapid.IntRange(0, 12).Draw(t, "shared_bytes")
			tail := rapid.SliceOfN(rapid.Byte(), proto.IDBytes-keep, proto.IDBytes-keep).Draw(t, "tail")
			copy(id[keep:], tail)
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		up := make([]bool, n)
		for i := range up {
			up[i] = rapid.Float64Range(0, 1).Draw(t, "up") < 0.8
		}
		var target proto.NodeID
		if rapid.Bool().Draw(t, "target_is_node") {
			target = ids[rapid.IntRange(0, n-1).Draw(t, "target_node")]
		} else {
			copy(target[:], rapid.SliceOfN(rapid.Byte(), proto.IDBytes, proto.IDBytes).Draw(t, "target"))
		}
		k := rapid.IntRange(1, 30).Draw(t, "k")

		tr := newTruthOf(ids)
		got := tr.closest(target, k, func(i int) bool { return up[i] })
		want := scanClosest(ids, up, target, k)
		if !slices.Equal(got, want) {
			t.Fatalf("closest(k=%d) = %d ids %v, scan gives %d ids %v", k, len(got), shorts(got), len(want), shorts(want))
		}
	})
}

func scanClosest(ids []proto.NodeID, up []bool, target proto.NodeID, k int) []proto.NodeID {
	type entry struct {
		dist [proto.IDBytes]byte
		id   proto.NodeID
	}
	var live []entry
	for i, id := range ids {
		if !up[i] {
			continue
		}
		e := entry{id: id}
		for b := range id {
			e.dist[b] = id[b] ^ target[b]
		}
		live = append(live, e)
	}
	slices.SortFunc(live, func(a, b entry) int { return bytes.Compare(a.dist[:], b.dist[:]) })
	out := []proto.NodeID{}
	for _, e := range live[:min(k, len(live))] {
		out = append(out, e.id)
	}
	return out
}

func shorts(ids []proto.NodeID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.Short()
	}
	return out
}

func TestNewDistNearestRank(t *testing.T) {
	// 1..100: the nearest-rank p50 is the 50th value, p99 the 99th.
	xs := make([]float64, 100)
	for i := range xs {
		xs[len(xs)-1-i] = float64(i + 1)
	}
	d := NewDist(xs)
	if d != (Dist{Count: 100, Mean: 50.5, P50: 50, P95: 95, P99: 99, Max: 100}) {
		t.Errorf("NewDist(1..100) = %+v", d)
	}
	if (NewDist(nil) != Dist{}) {
		t.Errorf("NewDist(nil) = %+v, want zero", NewDist(nil))
	}
}

// TestDHTStatsCounts: a timed-out lookup is a failure, a running one is
// left out, a refused one has no hops.
func TestDHTStatsCounts(t *testing.T) {
	d := &DHT{lookups: []*Lookup{
		{Answered: true, Ran: true, Hops: 2, Success: true, Exact: true, Return: 2},
		{Answered: true, Ran: true, Hops: 4, Success: true, Return: 4},
		{Answered: true, Err: "dht: routing table empty", Return: 1},
		{TimedOut: true},
		{}, // still running
	}}
	st := d.Stats()
	if st.Lookups != 4 || st.Answered != 3 || st.Unanswered != 1 || st.Running != 1 || st.NotRun != 1 {
		t.Errorf("counts %+v", st)
	}
	if st.SuccessRatio != 0.5 || st.ExactRatio != 0.25 || st.Hops.Count != 2 || st.Hops.Mean != 3 || st.LatencySeconds.Count != 3 {
		t.Errorf("ratios and distributions %+v", st)
	}
	if st.Errors["dht: routing table empty"] != 1 {
		t.Errorf("errors %v", st.Errors)
	}
}
