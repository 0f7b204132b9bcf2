package runner

import (
	"fmt"
	"strings"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/sim"
	"github.com/ron-network/ron/sim/scenario"
)

// faultState schedules the scenario's faults and tracks what is broken, so
// that random faults can stay survivable and checks know when the last
// fault healed.
type faultState struct {
	r    *run
	rand *env.Rand
	// partitionUntil is when the current network cut heals (0: none).
	partitionUntil time.Duration
	// isolated is the node a random partition isolated, or -1.
	isolated int
	// lastEnd is when the last fault window closes (for liveness).
	lastEnd time.Duration
	// skipped counts random faults not injected to stay survivable.
	skipped int
}

func newFaultState(r *run) *faultState {
	return &faultState{r: r, rand: r.w.Rand("faults"), isolated: -1}
}

func (f *faultState) schedule() {
	s := f.r.scn
	for i := range s.Faults {
		fault := &s.Faults[i]
		f.lastEnd = max(f.lastEnd, min(fault.End(s.Duration), s.Duration))
		if fault.Kind == scenario.KindCrash && fault.Crash.RestartAfter == 0 {
			// A node that stays down is not a window that heals.
			f.lastEnd = max(f.lastEnd, fault.At)
		}
		if fault.Kind == scenario.KindClock {
			f.lastEnd = max(f.lastEnd, min(clockHealed(fault, s.Duration), s.Duration))
		}
		f.r.w.At(fault.At, func() { f.apply(fault) })
	}
	if rf := s.RandomFaults; rf != nil {
		f.scheduleRandom(rf)
	}
}

// clockHealed is when a clock fault really ends. At the window's end the
// clock returns to true time but never steps back (the env contract), so a
// clock left ahead, by its offset plus its drift over the window, stands
// still until true time catches up, and the node's timers (its retries and
// timeouts) with it. Liveness can be owed only after that.
func clockHealed(fault *scenario.Fault, duration time.Duration) time.Duration {
	ahead := fault.Clock.Offset + time.Duration(fault.Clock.Drift*float64(fault.For))
	return fault.End(duration) + max(ahead, 0)
}

// resolve maps a fault target to a node index at injection time.
func (f *faultState) resolve(target string) int {
	switch target {
	case scenario.TargetLeader:
		if l := f.r.cluster.leader(); l >= 0 {
			return l
		}
		return f.rand.Intn(max(f.r.scn.Nodes.RegistryReplicas, 1))
	case scenario.TargetRandom:
		return f.rand.Intn(f.r.scn.Nodes.Count)
	}
	i, _ := scenario.NodeIndex(target)
	return i
}

func (f *faultState) resolveAll(targets []string) []int {
	out := make([]int, len(targets))
	for k, t := range targets {
		out[k] = f.resolve(t)
	}
	return out
}

func (f *faultState) apply(fault *scenario.Fault) {
	w, end := f.r.w, fault.At+fault.For
	switch fault.Kind {
	case scenario.KindPartition:
		f.applyPartition(fault.Partition)
		f.partitionUntil = end
		w.At(end, func() { w.Heal(); f.partitionUntil = 0 })
	case scenario.KindCrash:
		i := f.resolve(fault.Crash.Target)
		if w.Up(i) {
			w.Crash(i)
			if d := fault.Crash.RestartAfter; d > 0 {
				w.After(d, func() { f.restart(i) })
			}
		}
	case scenario.KindPause:
		w.Pause(f.resolve(fault.Pause.Target), fault.For)
	case scenario.KindClock:
		i := f.resolve(fault.Clock.Node)
		w.SetClock(i, fault.Clock.Offset, fault.Clock.Drift)
		w.At(end, func() { w.SetClock(i, 0, 0) })
	case scenario.KindDisk:
		nodes := []int{}
		if fault.Disk.Node == scenario.TargetAll {
			for i := 0; i < f.r.scn.Nodes.Count; i++ {
				nodes = append(nodes, i)
			}
		} else {
			nodes = append(nodes, f.resolve(fault.Disk.Node))
		}
		base := diskFaults(f.r.scn.Disk, false)
		for _, i := range nodes {
			w.SetDiskFaults(i, diskFaults(fault.Disk.Apply(f.r.scn.Disk), fault.Disk.Full))
			w.At(end, func() { w.SetDiskFaults(i, base) })
		}
	case scenario.KindNetwork:
		w.SetNetwork(networkConfig(fault.Network.Apply(f.r.scn.Network)))
		w.At(end, func() { w.SetNetwork(networkConfig(f.r.scn.Network)) })
	default:
		panic("runner: unknown fault kind " + fault.Kind)
	}
}

func (f *faultState) applyPartition(p *scenario.Partition) {
	w := f.r.w
	switch {
	case p.Isolate != "":
		w.Isolate(f.resolve(p.Isolate))
	case p.OneWay != nil:
		w.CutOneWay(f.resolveAll(p.OneWay.From), f.resolveAll(p.OneWay.To))
	case p.Bridge != nil:
		w.Bridge(f.resolveAll(p.Bridge.Left), f.resolveAll(p.Bridge.Right), f.resolve(p.Bridge.Via))
	default:
		groups := make([][]int, len(p.Groups))
		for k, g := range p.Groups {
			groups[k] = f.resolveAll(g)
		}
		w.Partition(groups...)
	}
}

func (f *faultState) restart(i int) {
	if !f.r.w.Up(i) {
		f.r.w.Restart(i)
	}
}

// scheduleRandom draws crash and partition arrivals as Poisson processes
// over the run (until a settle margin before the end, so the liveness and
// convergence checks have a quiet period).
func (f *faultState) scheduleRandom(rf *scenario.RandomFaults) {
	horizon := f.r.scn.Duration - f.settle()
	arrivals := func(perMinute float64, fn func()) {
		if perMinute <= 0 {
			return
		}
		mean := float64(time.Minute) / perMinute
		for t := time.Duration(f.rand.ExpFloat64() * mean); t < horizon; t += time.Duration(f.rand.ExpFloat64() * mean) {
			f.r.w.At(t, fn)
		}
	}
	arrivals(rf.CrashesPerMinute, func() { f.randomCrash(rf) })
	arrivals(rf.PartitionsPerMinute, func() { f.randomPartition(rf) })
	if rf.CrashesPerMinute > 0 || rf.PartitionsPerMinute > 0 {
		f.lastEnd = max(f.lastEnd, min(horizon+max(rf.RestartAfter, rf.PartitionFor), f.r.scn.Duration))
	}
}

// settle is the quiet period kept free of random faults at the end.
func (f *faultState) settle() time.Duration {
	d := scenario.LivenessWithinDefault
	for _, c := range f.r.scn.Checks {
		d = max(d, c.Within)
	}
	return min(d, f.r.scn.Duration/2)
}

// healthyReplicas counts replicas that are up, not isolated and not
// failed: a replica that detected corruption neither votes nor serves, so
// it counts as down when deciding whether a random fault is survivable.
func (f *faultState) healthyReplicas(excluding int) int {
	n := 0
	for i := 0; i < f.r.scn.Nodes.RegistryReplicas; i++ {
		if i != excluding && i != f.isolated && f.r.w.Up(i) && !f.r.replicaFailed(i) {
			n++
		}
	}
	return n
}

func (f *faultState) survivable(rf *scenario.RandomFaults, victim int) bool {
	replicas := f.r.scn.Nodes.RegistryReplicas
	if !rf.Survivable || replicas == 0 || victim >= replicas {
		return true
	}
	return f.healthyReplicas(victim) >= replicas/2+1
}

func (f *faultState) randomCrash(rf *scenario.RandomFaults) {
	i := f.rand.Intn(f.r.scn.Nodes.Count)
	if !f.r.w.Up(i) || !f.survivable(rf, i) {
		f.skipped++
		return
	}
	f.r.w.Crash(i)
	f.r.w.After(rf.RestartAfter, func() { f.restart(i) })
}

func (f *faultState) randomPartition(rf *scenario.RandomFaults) {
	w := f.r.w
	i := f.rand.Intn(f.r.scn.Nodes.Count)
	if f.partitionUntil > w.Now() || f.overlapsTimelinePartition(rf.PartitionFor) || !f.survivable(rf, i) {
		f.skipped++
		return
	}
	w.Isolate(i)
	f.isolated = i
	f.partitionUntil = w.Now() + rf.PartitionFor
	w.After(rf.PartitionFor, func() { w.Heal(); f.isolated = -1; f.partitionUntil = 0 })
}

// overlapsTimelinePartition reports whether a cut starting now for d
// would overlap a partition window of the timeline (Heal would end both).
func (f *faultState) overlapsTimelinePartition(d time.Duration) bool {
	now := f.r.w.Now()
	for _, fault := range f.r.scn.Faults {
		if fault.Kind == scenario.KindPartition && fault.At < now+d && now < fault.At+fault.For {
			return true
		}
	}
	return false
}

// describeFault is a report line for a fault action, with node names.
func describeFault(f sim.FaultRecord) string {
	names := func(idx []int) string {
		parts := make([]string, len(idx))
		for k, i := range idx {
			parts[k] = fmt.Sprintf("n%d", i+1)
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	switch f.Kind {
	case sim.FaultPartition:
		groups := make([]string, len(f.Groups))
		for k, g := range f.Groups {
			groups[k] = names(g)
		}
		return strings.Join(groups, " | ")
	case sim.FaultCutOneWay:
		return names(f.Groups[0]) + " -/-> " + names(f.Groups[1])
	case sim.FaultBridge:
		return fmt.Sprintf("%s | %s via n%d", names(f.Groups[0]), names(f.Groups[1]), f.Node+1)
	case sim.FaultIsolate, sim.FaultCrash, sim.FaultRestart:
		return fmt.Sprintf("n%d", f.Node+1)
	case sim.FaultPause:
		return fmt.Sprintf("n%d for %v", f.Node+1, f.Duration)
	case sim.FaultClock:
		return fmt.Sprintf("n%d offset %v drift %g", f.Node+1, f.Offset, f.Drift)
	case sim.FaultDisk:
		d := f.Disk
		return fmt.Sprintf("n%d read_error %g write_error %g corrupt_read %g corrupt_write %g torn %g full %v",
			f.Node+1, d.ReadErrorProb, d.WriteErrorProb, d.CorruptReadProb, d.CorruptWriteProb, d.TornWriteProb, d.Full)
	case sim.FaultNetwork:
		n := f.Network
		return fmt.Sprintf("latency p50 %v p99 %v loss %g duplicate %g reorder %g", n.LatencyP50, n.LatencyP99, n.Loss, n.Duplicate, n.Reorder)
	}
	return ""
}
