package runner

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/sim"
	"github.com/ron-network/ron/sim/scenario"
)

// faultWorld builds a run of s without starting a workload, so a test can
// step the world and look at the fault state it was given.
func faultWorld(t *testing.T, s *scenario.Scenario) *run {
	t.Helper()
	r := &run{scn: s, opts: Options{Seed: 1}}
	r.cluster = newCluster(s, r.opts)
	r.w = sim.New(sim.Config{Seed: 1, Nodes: s.Nodes.Count, NewNode: r.cluster.newNode,
		Network: networkConfig(s.Network), Disk: diskFaults(s.Disk, false)})
	t.Cleanup(r.w.Close)
	r.cluster.bind(r.w)
	r.faults = newFaultState(r)
	r.faults.schedule()
	return r
}

// probe is what a test expects of the world at one instant.
type probe struct {
	at    time.Duration
	check func(w *sim.World) string // "" when the world is as expected
}

func sec(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// runProbes steps r to each probe's time in order and reports mismatches.
func runProbes(t *testing.T, r *run, probes []probe) {
	t.Helper()
	for _, p := range probes {
		if err := r.w.RunUntil(p.at); err != nil {
			t.Fatal(err)
		}
		if msg := p.check(r.w); msg != "" {
			t.Errorf("at %v: %s", p.at, msg)
		}
	}
}

const orderBase = `
name: order
duration: 40s
nodes: {count: 3}
network: {latency: {p50: 2ms, p99: 20ms}, loss: 0.001}
checks: [sessions]
faults:
`

func parseFaults(t *testing.T, faults string) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Parse("order.yaml", []byte(orderBase+faults))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func cut(from, to int, want bool) func(w *sim.World) string {
	return func(w *sim.World) string {
		if got := w.Blocked(from, to); got != want {
			return fmt.Sprintf("n%d -> n%d blocked %v, want %v", from+1, to+1, got, want)
		}
		return ""
	}
}

func all(checks ...func(w *sim.World) string) func(w *sim.World) string {
	return func(w *sim.World) string {
		for _, c := range checks {
			if msg := c(w); msg != "" {
				return msg
			}
		}
		return ""
	}
}

func loss(want float64) func(w *sim.World) string {
	return func(w *sim.World) string {
		if got := w.Network().Loss; got != want {
			return fmt.Sprintf("loss %v, want %v", got, want)
		}
		return ""
	}
}

func duplicate(want float64) func(w *sim.World) string {
	return func(w *sim.World) string {
		if got := w.Network().Duplicate; got != want {
			return fmt.Sprintf("duplicate %v, want %v", got, want)
		}
		return ""
	}
}

func disk(i int, readError, corruptRead float64, full bool) func(w *sim.World) string {
	return func(w *sim.World) string {
		d := w.DiskFaults(i)
		if d.ReadErrorProb != readError || d.CorruptReadProb != corruptRead || d.Full != full {
			return fmt.Sprintf("n%d disk read_error %v corrupt_read %v full %v, want %v %v %v",
				i+1, d.ReadErrorProb, d.CorruptReadProb, d.Full, readError, corruptRead, full)
		}
		return ""
	}
}

func clock(i int, offset time.Duration) func(w *sim.World) string {
	return func(w *sim.World) string {
		if got, _ := w.Clock(i); got != offset {
			return fmt.Sprintf("n%d clock offset %v, want %v", i+1, got, offset)
		}
		return ""
	}
}

func up(i int, want bool) func(w *sim.World) string {
	return func(w *sim.World) string {
		if got := w.Up(i); got != want {
			return fmt.Sprintf("n%d up %v, want %v", i+1, got, want)
		}
		return ""
	}
}

func paused(i int, want bool) func(w *sim.World) string {
	return func(w *sim.World) string {
		if got := w.Paused(i); got != want {
			return fmt.Sprintf("n%d paused %v, want %v", i+1, got, want)
		}
		return ""
	}
}

// TestBackToBackWindows: a window that starts at the instant another ends
// holds for its whole length, for every fault kind. Before window edges
// were batched per instant, the earlier window's end ran after the later
// window's start and undid it.
func TestBackToBackWindows(t *testing.T) {
	cases := []struct {
		name   string
		faults string
		probes []probe
	}{
		{"isolate then isolate", `
  - {at: 5s, for: 5s, partition: {isolate: n1}}
  - {at: 10s, for: 10s, partition: {isolate: n1}}`,
			[]probe{{sec(7), cut(1, 0, true)}, {sec(11), cut(1, 0, true)}, {sec(19.9), cut(0, 1, true)}, {sec(21), cut(1, 0, false)}}},
		{"split then one-way", `
  - {at: 5s, for: 5s, partition: {groups: [[n1], [n2, n3]]}}
  - {at: 10s, for: 10s, partition: {one_way: {from: [n3], to: [n2]}}}`,
			[]probe{{sec(7), all(cut(0, 1, true), cut(2, 1, false))}, {sec(11), all(cut(0, 1, false), cut(2, 1, true), cut(1, 2, false))}, {sec(21), cut(2, 1, false)}}},
		{"bridge then isolate", `
  - {at: 5s, for: 5s, partition: {bridge: {left: [n1], right: [n3], via: n2}}}
  - {at: 10s, for: 10s, partition: {isolate: n2}}`,
			[]probe{{sec(7), all(cut(0, 2, true), cut(0, 1, false))}, {sec(11), all(cut(0, 2, false), cut(0, 1, true))}, {sec(21), cut(0, 1, false)}}},
		{"network then network", `
  - {at: 5s, for: 5s, network: {loss: 0.2}}
  - {at: 10s, for: 10s, network: {loss: 0.3, duplicate: 0.1}}`,
			[]probe{{sec(7), loss(0.2)}, {sec(10), all(loss(0.3), duplicate(0.1))}, {sec(19), loss(0.3)}, {sec(21), all(loss(0.001), duplicate(0))}}},
		{"disk then disk", `
  - {at: 5s, for: 5s, disk: {node: n1, read_error: 0.1}}
  - {at: 10s, for: 10s, disk: {node: n1, corrupt_read: 0.2, full: true}}`,
			[]probe{{sec(7), disk(0, 0.1, 0, false)}, {sec(10), disk(0, 0, 0.2, true)}, {sec(19), disk(0, 0, 0.2, true)}, {sec(21), disk(0, 0, 0, false)}}},
		{"clock then clock", `
  - {at: 5s, for: 5s, clock: {node: n1, offset: 1s}}
  - {at: 10s, for: 10s, clock: {node: n1, offset: 2s}}`,
			[]probe{{sec(7), clock(0, time.Second)}, {sec(10), clock(0, 2*time.Second)}, {sec(19), clock(0, 2*time.Second)}, {sec(21), clock(0, 0)}}},
		{"crash restarted when the next crash starts", `
  - {at: 5s, crash: n1, restart_after: 5s}
  - {at: 10s, crash: n1, restart_after: 5s}`,
			[]probe{{sec(7), up(0, false)}, {sec(10), up(0, false)}, {sec(12), up(0, false)}, {sec(16), up(0, true)}}},
		{"pause then pause", `
  - {at: 5s, for: 5s, pause: n1}
  - {at: 10s, for: 10s, pause: n1}`,
			[]probe{{sec(7), paused(0, true)}, {sec(10), paused(0, true)}, {sec(19), paused(0, true)}, {sec(21), paused(0, false)}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runProbes(t, faultWorld(t, parseFaults(t, c.faults)), c.probes)
		})
	}
}

// TestOverlappingWindowsCompose: while two windows on one target overlap,
// the world holds both (cuts add up; disk and network overrides apply in
// opening order, a later window winning per field; the clock follows the
// later window), and when one closes the other's state stays in force.
// Scenario files refuse overlapping cuts, network and clock windows, so
// those cases join faults decoded one at a time: the runner must still
// compose what random faults or a future schema could overlap.
func TestOverlappingWindowsCompose(t *testing.T) {
	cases := []struct {
		name         string
		outer, inner string
		probes       []probe
	}{
		{"isolate inside isolate",
			`  - {at: 5s, for: 15s, partition: {isolate: n1}}`,
			`  - {at: 10s, for: 5s, partition: {isolate: n2}}`,
			[]probe{{sec(7), all(cut(0, 1, true), cut(1, 2, false))}, {sec(12), all(cut(0, 1, true), cut(1, 2, true))},
				{sec(17), all(cut(0, 1, true), cut(1, 2, false))}, {sec(21), cut(0, 1, false)}}},
		{"network inside network",
			`  - {at: 5s, for: 15s, network: {loss: 0.2}}`,
			`  - {at: 10s, for: 5s, network: {duplicate: 0.1}}`,
			[]probe{{sec(7), all(loss(0.2), duplicate(0))}, {sec(12), all(loss(0.2), duplicate(0.1))},
				{sec(17), all(loss(0.2), duplicate(0))}, {sec(21), loss(0.001)}}},
		{"disk inside disk",
			`  - {at: 5s, for: 15s, disk: {node: n1, read_error: 0.1}}`,
			`  - {at: 10s, for: 5s, disk: {node: n1, corrupt_read: 0.2, full: true}}`,
			[]probe{{sec(7), disk(0, 0.1, 0, false)}, {sec(12), disk(0, 0.1, 0.2, true)},
				{sec(17), disk(0, 0.1, 0, false)}, {sec(21), disk(0, 0, 0, false)}}},
		{"disk of all inside disk of one",
			`  - {at: 5s, for: 15s, disk: {node: n2, read_error: 0.1}}`,
			`  - {at: 10s, for: 5s, disk: {node: all, read_error: 0.3}}`,
			[]probe{{sec(12), all(disk(1, 0.3, 0, false), disk(0, 0.3, 0, false))},
				{sec(17), all(disk(1, 0.1, 0, false), disk(0, 0, 0, false))}}},
		{"clock inside clock",
			`  - {at: 5s, for: 15s, clock: {node: n1, offset: 1s}}`,
			`  - {at: 10s, for: 5s, clock: {node: n1, offset: 2s}}`,
			[]probe{{sec(7), clock(0, time.Second)}, {sec(12), clock(0, 2*time.Second)},
				{sec(17), clock(0, time.Second)}, {sec(21), clock(0, 0)}}},
		{"pause inside pause",
			`  - {at: 5s, for: 15s, pause: n1}`,
			`  - {at: 10s, for: 5s, pause: n1}`,
			[]probe{{sec(12), paused(0, true)}, {sec(17), paused(0, true)}, {sec(21), paused(0, false)}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := parseFaults(t, c.outer)
			s.Faults = append(s.Faults, parseFaults(t, c.inner).Faults...)
			runProbes(t, faultWorld(t, s), c.probes)
		})
	}
}

// TestWindowEdgeWithoutEffectLeavesNoRecord: a window that changes nothing
// (its settings equal the defaults) leaves no fault record, so the report
// never lists a fault that was not in force.
func TestWindowEdgeWithoutEffectLeavesNoRecord(t *testing.T) {
	r := faultWorld(t, parseFaults(t, `
  - {at: 5s, for: 5s, network: {loss: 0.001}}
  - {at: 12s, for: 5s, network: {loss: 0.01}}`))
	if err := r.w.RunUntil(sec(30)); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range r.w.Faults() {
		got = append(got, fmt.Sprintf("%v %s %g", f.At, f.Kind, f.Network.Loss))
	}
	want := []string{"12s network 0.01", "17s network 0.001"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("fault records %v, want %v", got, want)
	}
}

// TestAnnotationsAreWindows: the visualisation marks each fault over the
// time it was in force, not at the instant it began.
func TestAnnotationsAreWindows(t *testing.T) {
	r := faultWorld(t, parseFaults(t, `
  - {at: 5s, for: 5s, partition: {isolate: n2}}
  - {at: 12s, crash: n1, restart_after: 3s}
  - {at: 20s, for: 4s, disk: {node: n3, read_error: 0.5}}
  - {at: 30s, crash: n3}`))
	if err := r.w.RunUntil(r.scn.Duration); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range r.annotations() {
		got = append(got, fmt.Sprintf("%v-%v %s", time.Duration(a.Start), time.Duration(a.End), strings.Fields(a.Description)[0]))
	}
	want := []string{"5s-10s isolate", "12s-15s crash", "20s-24s disk", "30s-40s crash"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("annotations %v, want %v", got, want)
	}
}
