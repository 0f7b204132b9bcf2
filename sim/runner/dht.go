package runner

import (
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/ron-network/ron/core/dht"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/sim"
	"github.com/ron-network/ron/sim/check"
	"github.com/ron-network/ron/sim/scenario"
	"github.com/ron-network/ron/sim/workload"
)

// BootstrapRandomCount is how many earlier nodes, besides n1, a node's DHT
// knows when it starts.
const BootstrapRandomCount = 3

// drawBootstrap gives every node its DHT bootstrap contacts, as a network
// that grew one join at a time would: n1 is the well-known seed every
// node is configured with, and node i also knows up to
// BootstrapRandomCount distinct earlier nodes (peers an earlier joiner
// could have told it about). n1 knows nobody and fills its table from the
// requests of the others. Drawn once from the "bootstrap" stream, so the
// same seed gives the same graph and a restarted node rejoins through the
// same contacts.
func drawBootstrap(nodes int, rand *env.Rand) [][]int32 {
	out := make([][]int32, nodes)
	for i := 1; i < nodes; i++ {
		contacts := []int32{0}
		earlier := i - 1 // nodes 1..i-1
		want := min(BootstrapRandomCount, earlier)
		for len(contacts) < want+1 {
			j := int32(1 + rand.Intn(earlier))
			if !containsInt32(contacts, j) {
				contacts = append(contacts, j)
			}
		}
		out[i] = contacts
	}
	return out
}

func containsInt32(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// DHTStats are the lookup workload's figures in the report.
type DHTStats struct {
	Nodes    int `json:"nodes"`
	Lookups  int `json:"lookups"`
	Answered int `json:"answered"`
	// Running lookups had neither an answer nor a timeout when the run
	// ended; they are not in Lookups.
	Running      int     `json:"running"`
	SuccessRatio float64 `json:"success_ratio"`
	ExactRatio   float64 `json:"exact_ratio"`
	Hops         Summary `json:"hops"`
	Latency      Summary `json:"latency_seconds"`
	// Errors counts the lookups that ended with an error, by error.
	Errors map[string]int `json:"errors,omitempty"`
	// MemoryBytesPerNode is the Go heap in use when the workload starts
	// (after the warm-up), less the heap before the world was built,
	// divided by the nodes: what one simulated node costs.
	MemoryBytesPerNode float64 `json:"memory_bytes_per_node"`
}

// startLookups builds the lookup workload and schedules the memory
// measurement at its start.
func (r *run) startLookups(wl *scenario.Workload) {
	r.lookups = workload.NewDHT(r.w, workload.DHTConfig{
		Clients: wl.Clients, RatePerSecond: wl.RatePerSecond * wl.Mix.Normalized().Lookup,
		Timeout: wl.Timeout, Start: wl.Start, Stop: wl.Stop, K: dht.KDefault,
	})
	r.lookups.Start()
	r.w.At(wl.Start, func() { r.heapAtWarm = heapInUse() })
}

// heapInUse collects garbage first, so the figure is live memory.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func (r *run) dhtStats() *DHTStats {
	st := r.lookups.Stats()
	out := &DHTStats{
		Nodes: r.w.Nodes(), Lookups: st.Lookups, Answered: st.Answered, Running: st.Running,
		SuccessRatio: st.SuccessRatio, ExactRatio: st.ExactRatio,
		Hops: summaryOf(st.Hops), Latency: summaryOf(st.LatencySeconds),
	}
	if len(st.Errors) > 0 {
		out.Errors = st.Errors
	}
	if r.heapAtWarm > r.heapBefore {
		out.MemoryBytesPerNode = float64(r.heapAtWarm-r.heapBefore) / float64(r.w.Nodes())
	}
	return out
}

func summaryOf(d workload.Dist) Summary {
	return Summary{Count: uint64(d.Count), Mean: d.Mean, P50: d.P50, P95: d.P95, P99: d.P99, Max: d.Max}
}

// checkLookups compares the lookup workload's figures with the bounds.
func (r *run) checkLookups(b scenario.LookupBudgets, rep *Report) check.Result {
	if r.lookups == nil || rep.DHT == nil || rep.DHT.Lookups == 0 {
		return check.Result{Name: "lookups", Detail: "no lookup was issued: the workload must run after warm-up and before the end"}
	}
	st := rep.DHT
	figures := fmt.Sprintf("%d lookups: success %.4f (>= %g), exact %.4f (>= %g), hops mean %.2f (<= %g) p99 %.0f (<= %g)",
		st.Lookups, st.SuccessRatio, b.Success, st.ExactRatio, b.Exact, st.Hops.Mean, b.HopsMean, st.Hops.P99, b.HopsP99)
	ok := st.SuccessRatio >= b.Success && st.ExactRatio >= b.Exact && st.Hops.Mean <= b.HopsMean && st.Hops.P99 <= b.HopsP99
	return check.Result{Name: "lookups", OK: ok, Detail: figures}
}

// writeText is the report's lookup line.
func (s *DHTStats) writeText(w io.Writer) {
	fmt.Fprintf(w, "dht        %d nodes, %d lookups (%d answered): success %.2f%%, exact-K %.2f%%, hops mean %.2f p50 %.0f p95 %.0f p99 %.0f max %.0f, latency p50 %s p99 %s, %.0f KiB/node\n",
		s.Nodes, s.Lookups, s.Answered, 100*s.SuccessRatio, 100*s.ExactRatio, s.Hops.Mean, s.Hops.P50, s.Hops.P95, s.Hops.P99, s.Hops.Max,
		seconds(s.Latency.P50), seconds(s.Latency.P99), s.MemoryBytesPerNode/1024)
}

// joinWindow is how long the nodes take to join: the first half of the
// warm-up before the workload starts, leaving the second half for the
// last joiners' tables to settle. Zero (everyone at once) when storage
// runs too, so its placement sees every node from the start.
func (c *cluster) joinWindow() time.Duration {
	if c.runsStorage() || c.scn.Workload == nil {
		return 0
	}
	return c.scn.Workload.Start / 2
}

// joinAt is node i's DHT join time on its clock (zero: at once; see
// core/stack's DHTJoinAt): nodes join one after another over joinWindow.
func (c *cluster) joinAt(i int) env.Time {
	window := c.joinWindow()
	if window == 0 {
		return 0
	}
	return sim.Epoch.Add(time.Duration(int64(window) * int64(i) / int64(len(c.ids))))
}
