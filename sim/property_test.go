package sim

import (
	"fmt"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/sim/simdisk"
	"pgregory.net/rapid"
)

// faultModel is the test's own account of which links are cut and which
// nodes are down or paused, kept from the fault actions it applies, so the
// engine's filtering is checked against an independent computation.
type faultModel struct {
	blocked     [][]bool
	down        []bool
	pausedUntil []time.Duration
}

func newFaultModel(n int) *faultModel {
	m := &faultModel{down: make([]bool, n), pausedUntil: make([]time.Duration, n)}
	m.heal()
	return m
}

func (m *faultModel) heal() {
	n := len(m.down)
	m.blocked = make([][]bool, n)
	for i := range m.blocked {
		m.blocked[i] = make([]bool, n)
	}
}

func (m *faultModel) cut(from, to []int) {
	for _, f := range from {
		for _, t := range to {
			m.blocked[f][t] = true
		}
	}
}

type action struct {
	at          time.Duration
	kind        string
	node        int
	left, right []int
	d           time.Duration
}

// drawAction draws one fault action over n nodes.
func drawAction(t *rapid.T, n int) action {
	a := action{
		at:   time.Duration(rapid.IntRange(0, 400).Draw(t, "ms")) * ms,
		kind: rapid.SampledFrom([]string{"partition", "oneway", "isolate", "bridge", "heal", "crash", "restart", "pause", "clock"}).Draw(t, "kind"),
		node: rapid.IntRange(0, n-1).Draw(t, "node"),
		d:    time.Duration(rapid.IntRange(1, 80).Draw(t, "d")) * ms,
	}
	// Split the other nodes into left, right and neither.
	for i := 0; i < n; i++ {
		if i == a.node {
			continue
		}
		switch rapid.IntRange(0, 2).Draw(t, "side") {
		case 0:
			a.left = append(a.left, i)
		case 1:
			a.right = append(a.right, i)
		}
	}
	return a
}

// apply performs a on w and on the model.
func (a action) apply(w *World, m *faultModel) {
	n := len(m.down)
	switch a.kind {
	case "partition":
		w.Partition(a.left, a.right)
		group := make([]int, n)
		for _, i := range a.left {
			group[i] = 1
		}
		for _, i := range a.right {
			group[i] = 2
		}
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				if group[i] != group[j] {
					m.blocked[i][j] = true
				}
			}
		}
	case "oneway":
		w.CutOneWay(append(a.left, a.node), a.right)
		m.cut(append(a.left, a.node), a.right)
	case "isolate":
		w.Isolate(a.node)
		others := []int{}
		for i := 0; i < n; i++ {
			if i != a.node {
				others = append(others, i)
			}
		}
		m.cut([]int{a.node}, others)
		m.cut(others, []int{a.node})
	case "bridge":
		w.Bridge(a.left, a.right, a.node)
		m.cut(a.left, a.right)
		m.cut(a.right, a.left)
	case "heal":
		w.Heal()
		m.heal()
	case "crash":
		w.Crash(a.node)
		m.down[a.node] = true
		m.pausedUntil[a.node] = 0
	case "restart":
		w.Restart(a.node)
		m.down[a.node] = false
	case "pause":
		if !m.down[a.node] {
			w.Pause(a.node, a.d)
			m.pausedUntil[a.node] = max(m.pausedUntil[a.node], w.Now()+a.d)
		}
	case "clock":
		w.SetClock(a.node, a.d-40*ms, float64(a.d)/float64(100*ms)-0.4)
	}
}

// runFaultSchedule runs the chatty workload under actions, checking every
// delivered input against the model, and returns the trace hash.
func runFaultSchedule(t *rapid.T, seed uint64, n int, actions []action) string {
	m := newFaultModel(n)
	deadlines := map[[2]uint64]env.Time{} // (node, tag) -> deadline
	cfg := Config{Seed: seed, Nodes: n,
		Network: NetworkConfig{LatencyP50: 2 * ms, LatencyP99: 30 * ms, Duplicate: 0.05, Reorder: 0.05},
		Disk:    simdisk.Faults{Latency: ms, LatencyJitter: 0.5, UnsyncedSurviveProb: 0.5}}
	var h *harness
	var failure string
	check := func(p *probe, in env.Input) {
		w := p.world()
		switch {
		case m.down[p.idx]:
			failure = fmt.Sprintf("node %d (down) got %T at %v", p.idx, in, w.Now())
		case w.Now() < m.pausedUntil[p.idx]:
			failure = fmt.Sprintf("node %d (paused until %v) got %T at %v", p.idx, m.pausedUntil[p.idx], in, w.Now())
		}
		switch in := in.(type) {
		case env.Message:
			from, _ := w.Index(in.From)
			if m.blocked[from][p.idx] {
				failure = fmt.Sprintf("frame %d->%d delivered across a cut at %v", from, p.idx, w.Now())
			}
		case env.TimerFired:
			if d := deadlines[[2]uint64{uint64(p.idx), in.Tag}]; p.e.Now() < d {
				failure = fmt.Sprintf("node %d timer fired at %v before its deadline %v", p.idx, p.e.Now(), d)
			}
		}
	}
	tags := uint64(0)
	h = newHarness(t, cfg, func(p *probe) {
		chatty(p)
		p.onInput = check
		arm := func(p *probe) {
			tags++
			d := time.Duration(p.e.Rand().Intn(10_000_000))
			deadlines[[2]uint64{uint64(p.idx), tags}] = p.e.Now().Add(d)
			p.e.SetTimer(d, tags)
		}
		p.onStart = arm
		p.onTimer = func(p *probe, _ env.TimerFired) {
			chattyTick(p)
			arm(p)
		}
	})
	defer h.w.Close() // rapid.T has no Cleanup
	for _, a := range actions {
		h.w.At(a.at, func() { a.apply(h.w, m) })
	}
	if err := h.w.RunUntil(600 * ms); err != nil {
		t.Fatal(err)
	}
	if failure != "" {
		t.Fatal(failure)
	}
	return h.w.TraceHash()
}

// TestRandomFaultSchedules applies random fault timelines and checks that
// no input reaches a crashed or paused node, no frame crosses a cut, no
// timer fires early, and that the same schedule replays to the same trace.
func TestRandomFaultSchedules(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 5).Draw(t, "nodes")
		seed := rapid.Uint64().Draw(t, "seed")
		actions := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) action { return drawAction(t, n) }), 0, 12).Draw(t, "actions")
		first := runFaultSchedule(t, seed, n, actions)
		if again := runFaultSchedule(t, seed, n, actions); again != first {
			t.Fatalf("replay diverged: %s vs %s", first, again)
		}
	})
}
