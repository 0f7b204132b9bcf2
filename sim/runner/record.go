package runner

import (
	"fmt"
	"time"

	"github.com/ron-network/ron/sim"
	"github.com/ron-network/ron/sim/scenario"
	"github.com/ron-network/ron/sim/simdisk"
)

// record turns the fault actions the run applied into a scenario whose
// timeline replays them exactly, without randomness: targets are resolved
// to node names, random faults and swarm draws become explicit entries.
// Opening actions (a cut, a crash, a skew, a disk or network change) are
// paired with the action that closes them (heal, restart, reset).
func (r *run) record() *scenario.Scenario {
	out := *r.scn
	out.Faults = nil
	out.RandomFaults = nil
	out.Swarm = nil
	out.Name = r.scn.Name + fmt.Sprintf(" (recorded, seed %d)", r.opts.Seed)
	// The seed goes into the file: `ronsim run FILE` with no flags replays
	// this run, whatever seed the source file names.
	seed := r.opts.Seed
	out.Seed = &seed
	for _, w := range r.windows() {
		out.Faults = append(out.Faults, w.fault)
	}
	return &out
}

// faultWindow is one fault the run injected, as a window: the action that
// opened it and the scenario fault that replays it.
type faultWindow struct {
	action sim.FaultRecord
	fault  scenario.Fault
}

// end is when the window closes (a crash without restart: the run's end).
func (w faultWindow) end(duration time.Duration) time.Duration {
	if w.fault.Kind == scenario.KindCrash {
		if w.fault.Crash.RestartAfter == 0 {
			return duration
		}
		return w.fault.At + w.fault.Crash.RestartAfter
	}
	return w.fault.At + w.fault.For
}

// windows pairs every opening fault action of the run with the action that
// closed it.
func (r *run) windows() []faultWindow {
	var out []faultWindow
	recs := r.w.Faults()
	end := r.scn.Duration
	for k, f := range recs {
		if f.At >= end {
			continue // actions of the post-run settling phase
		}
		if fault, ok := r.recordOne(recs, k, end); ok {
			out = append(out, faultWindow{action: f, fault: fault})
		}
	}
	return out
}

// closer returns the time of the first record after k that closes it.
func closer(recs []sim.FaultRecord, k int, end time.Duration, closes func(sim.FaultRecord) bool) time.Duration {
	for _, g := range recs[k+1:] {
		if closes(g) {
			return min(g.At, end)
		}
	}
	return end
}

func nodeName(i int) string { return fmt.Sprintf("n%d", i+1) }

func nodeNames(idx []int) []string {
	out := make([]string, len(idx))
	for k, i := range idx {
		out[k] = nodeName(i)
	}
	return out
}

func (r *run) recordOne(recs []sim.FaultRecord, k int, end time.Duration) (scenario.Fault, bool) {
	f := recs[k]
	fault := scenario.Fault{At: f.At}
	window := func(closes func(sim.FaultRecord) bool) bool {
		fault.For = closer(recs, k, end, closes) - f.At
		return fault.For > 0
	}
	sameNode := func(kind sim.FaultKind) func(sim.FaultRecord) bool {
		return func(g sim.FaultRecord) bool { return g.Kind == kind && g.Node == f.Node }
	}
	switch f.Kind {
	case sim.FaultPartition, sim.FaultCutOneWay, sim.FaultIsolate, sim.FaultBridge:
		fault.Kind = scenario.KindPartition
		fault.Partition = recordPartition(f)
		return fault, window(func(g sim.FaultRecord) bool { return g.Kind == sim.FaultHeal })
	case sim.FaultCrash:
		fault.Kind = scenario.KindCrash
		fault.Crash = &scenario.Crash{Target: nodeName(f.Node), Swap: r.cluster.swaps[k]}
		if at := closer(recs, k, end, sameNode(sim.FaultRestart)); at < end {
			fault.Crash.RestartAfter = at - f.At
		}
		if fault.Crash.Swap != "" && fault.Crash.RestartAfter == 0 {
			fault.Crash.Swap = "" // the run ended before the restart: a plain crash replays it
		}
		fault.Crash.Wipe = wipedWhileDown(recs, k)
		return fault, true
	case sim.FaultWipe:
		return fault, false // replayed by the crash before it (Crash.Wipe)
	case sim.FaultPause:
		fault.Kind = scenario.KindPause
		fault.Pause = &scenario.Pause{Target: nodeName(f.Node)}
		fault.For = min(f.Duration, end-f.At)
		return fault, fault.For > 0
	case sim.FaultClock:
		if f.Offset == 0 && f.Drift == 0 {
			return fault, false // a reset closes a window
		}
		fault.Kind = scenario.KindClock
		fault.Clock = &scenario.Clock{Node: nodeName(f.Node), Offset: f.Offset, Drift: f.Drift}
		return fault, window(sameNode(sim.FaultClock))
	case sim.FaultDisk:
		base := diskFaults(r.scn.Disk, false)
		if f.Disk == base {
			return fault, false
		}
		fault.Kind = scenario.KindDisk
		fault.Disk = recordDisk(nodeName(f.Node), f.Disk)
		return fault, window(sameNode(sim.FaultDisk))
	case sim.FaultNetwork:
		if f.Network == networkConfig(r.scn.Network) {
			return fault, false
		}
		fault.Kind = scenario.KindNetwork
		fault.Network = recordNetwork(f.Network)
		return fault, window(func(g sim.FaultRecord) bool { return g.Kind == sim.FaultNetwork })
	}
	return fault, false // heal, restart: closers only
}

// wipedWhileDown reports whether the node crashed by recs[k] was wiped
// before it restarted: World.Wipe records a wipe fault's wipe right after
// its crash, and a wipe fault whose target was already down (a random
// crash) later. The replay wipes at the crash in both cases: the disk of
// a down node does not change, so it restarts on the same empty disk.
func wipedWhileDown(recs []sim.FaultRecord, k int) bool {
	node := recs[k].Node
	for _, g := range recs[k+1:] {
		if g.Node != node {
			continue
		}
		switch g.Kind {
		case sim.FaultWipe:
			return true
		case sim.FaultRestart, sim.FaultCrash:
			return false
		}
	}
	return false
}

func recordPartition(f sim.FaultRecord) *scenario.Partition {
	switch f.Kind {
	case sim.FaultIsolate:
		return &scenario.Partition{Isolate: nodeName(f.Node)}
	case sim.FaultCutOneWay:
		return &scenario.Partition{OneWay: &scenario.OneWay{From: nodeNames(f.Groups[0]), To: nodeNames(f.Groups[1])}}
	case sim.FaultBridge:
		return &scenario.Partition{Bridge: &scenario.Bridge{Left: nodeNames(f.Groups[0]), Right: nodeNames(f.Groups[1]), Via: nodeName(f.Node)}}
	}
	p := &scenario.Partition{}
	for _, g := range f.Groups {
		p.Groups = append(p.Groups, nodeNames(g))
	}
	return p
}

func recordDisk(node string, d simdisk.Faults) *scenario.DiskFault {
	latency := d.Latency
	return &scenario.DiskFault{
		Node: node, Latency: &latency, LatencyJitter: ptr(d.LatencyJitter),
		ReadError: ptr(d.ReadErrorProb), WriteError: ptr(d.WriteErrorProb),
		CorruptRead: ptr(d.CorruptReadProb), CorruptWrite: ptr(d.CorruptWriteProb),
		TornWrite: ptr(d.TornWriteProb), UnsyncedSurvive: ptr(d.UnsyncedSurviveProb), Full: d.Full,
	}
}

func recordNetwork(n sim.NetworkConfig) *scenario.NetworkFault {
	bw := n.BandwidthBytesPerSecond
	return &scenario.NetworkFault{
		Latency: &scenario.Latency{P50: n.LatencyP50, P99: n.LatencyP99},
		Loss:    ptr(n.Loss), Duplicate: ptr(n.Duplicate), Reorder: ptr(n.Reorder), BandwidthBytesPerSecond: &bw,
	}
}

func ptr(v float64) *float64 { return &v }
