package runner

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/sim"
	"github.com/ron-network/ron/sim/check"
	"github.com/ron-network/ron/sim/scenario"
	"github.com/ron-network/ron/sim/simdisk"
)

// faultState schedules the scenario's faults and tracks what is broken, so
// that random faults can stay survivable and checks know when the last
// fault healed.
//
// Fault windows compose rather than overwrite. Every window that is open
// sits in an ordered list per target (the network's cuts, the network's
// link model, each node's disk and clock), and the world is given the
// composition of the open windows: cuts add up, disk and network overrides
// apply in the order their windows opened (a later window wins per field,
// and an earlier one's settings come back when the later one closes), and
// the clock follows the latest open window. The alternative, each window
// setting the whole state at its start and resetting it to the defaults at
// its end, let one window's end undo another window that was still open.
//
// Window edges are batched per instant: a start or end at time t only
// queues its action, and one settle event at t (scheduled behind every
// event already queued for t) runs every end before any start, then hands
// the world each target's new composed state once, if it changed. So a
// window that starts exactly when another ends is never undone by it, and
// a crash that starts when an earlier crash restarts the same node finds
// the node up.
type faultState struct {
	r    *run
	rand *env.Rand
	// isolated is the node a random partition isolated, or -1.
	isolated int
	// lastEnd is when the last fault window closes (for liveness).
	lastEnd time.Duration
	// skipped counts random faults not injected to stay survivable.
	skipped int

	// ends and starts are the window edges queued at the current instant;
	// settling is true while a settle event is queued for it.
	ends, starts []func()
	settling     bool
	// nextID orders windows by when they opened.
	nextID int
	// cuts, network: the open network-wide windows; disks and clocks: the
	// open windows per node. Each list is in opening order.
	cuts    []cutWindow
	network []networkWindow
	disks   [][]diskWindow
	clocks  [][]clockWindow
	// dirty marks what changed since the last settle.
	cutsDirty, networkDirty bool
	disksDirty, clocksDirty []bool
	// cutsApplied is true while the world holds cuts made by sync.
	cutsApplied bool
	// effects measures what each window did (effects.go).
	effects effectTracker
}

type cutWindow struct {
	id    int
	apply func(w *sim.World)
}

type networkWindow struct {
	id    int
	fault *scenario.NetworkFault
}

type diskWindow struct {
	id    int
	fault *scenario.DiskFault
}

type clockWindow struct {
	id     int
	offset time.Duration
	drift  float64
}

func newFaultState(r *run) *faultState {
	n := r.scn.Nodes.Count
	return &faultState{
		r: r, rand: r.w.Rand("faults"), isolated: -1, effects: effectTracker{w: r.w},
		disks: make([][]diskWindow, n), clocks: make([][]clockWindow, n),
		disksDirty: make([]bool, n), clocksDirty: make([]bool, n),
	}
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
		f.edgeAt(fault.At, false, func() { f.open(fault) })
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

// wipe erases down node i's disk (a new empty data dir under the same node
// key) and marks it wiped for synced_writes.
func (f *faultState) wipe(i int) {
	f.r.w.Wipe(i)
	if i < len(f.r.wiped) {
		f.r.wiped[i] = check.Wipe{Wiped: true, At: f.r.w.Now()}
	}
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

// open starts a timeline fault's window and queues its end.
func (f *faultState) open(fault *scenario.Fault) {
	w, end := f.r.w, fault.At+fault.For
	switch fault.Kind {
	case scenario.KindPartition:
		apply, label := f.cutOf(fault.Partition)
		id, measured := f.openCut(apply), f.effects.cut(label)
		f.edgeAt(end, true, func() { measured(); f.closeCut(id) })
	case scenario.KindCrash:
		i := f.resolve(fault.Crash.Target)
		if !w.Up(i) {
			// Down already (a random crash just before): a wipe still
			// erases its disk, and it restarts empty when the restart
			// of the crash that downed it is due; a crash has nothing
			// to do.
			if fault.Crash.Wipe {
				f.wipe(i)
			}
			break
		}
		w.Crash(i)
		f.r.cluster.swapBuild(i, fault.Crash.Swap, len(w.Faults())-1)
		if fault.Crash.Wipe {
			f.wipe(i)
		}
		if d := fault.Crash.RestartAfter; d > 0 {
			f.edgeAt(w.Now()+d, true, func() { f.restart(i) })
		}
	case scenario.KindPause:
		i := f.resolve(fault.Pause.Target)
		measured := f.effects.pause(i)
		w.Pause(i, fault.For)
		f.edgeAt(end, true, measured)
	case scenario.KindClock:
		i := f.resolve(fault.Clock.Node)
		id, measured := f.openClock(i, fault.Clock.Offset, fault.Clock.Drift), f.effects.clock(i)
		f.edgeAt(end, true, func() { measured(); f.closeClock(i, id) })
	case scenario.KindDisk:
		for _, i := range f.diskNodes(fault.Disk.Node) {
			id, measured := f.openDisk(i, fault.Disk), f.effects.disk(i, fault.Disk)
			f.edgeAt(end, true, func() { measured(); f.closeDisk(i, id) })
		}
	case scenario.KindNetwork:
		id, measured := f.openNetwork(fault.Network), f.effects.network(fault.Network)
		f.edgeAt(end, true, func() { measured(); f.closeNetwork(id) })
	default:
		panic("runner: unknown fault kind " + fault.Kind)
	}
}

func (f *faultState) diskNodes(target string) []int {
	if target != scenario.TargetAll {
		return []int{f.resolve(target)}
	}
	nodes := make([]int, f.r.scn.Nodes.Count)
	for i := range nodes {
		nodes[i] = i
	}
	return nodes
}

// cutOf resolves a partition's targets now and returns the cut it makes
// and a label for the fault effects.
func (f *faultState) cutOf(p *scenario.Partition) (func(w *sim.World), string) {
	switch {
	case p.Isolate != "":
		i := f.resolve(p.Isolate)
		return func(w *sim.World) { w.Isolate(i) }, "isolate " + nodeName(i)
	case p.OneWay != nil:
		from, to := f.resolveAll(p.OneWay.From), f.resolveAll(p.OneWay.To)
		return func(w *sim.World) { w.CutOneWay(from, to) }, fmt.Sprintf("one-way %v -/-> %v", nodeNames(from), nodeNames(to))
	case p.Bridge != nil:
		left, right, via := f.resolveAll(p.Bridge.Left), f.resolveAll(p.Bridge.Right), f.resolve(p.Bridge.Via)
		return func(w *sim.World) { w.Bridge(left, right, via) }, fmt.Sprintf("bridge %v | %v via %s", nodeNames(left), nodeNames(right), nodeName(via))
	}
	groups := make([][]int, len(p.Groups))
	var labels []string
	for k, g := range p.Groups {
		groups[k] = f.resolveAll(g)
		labels = append(labels, fmt.Sprint(nodeNames(groups[k])))
	}
	return func(w *sim.World) { w.Partition(groups...) }, "split " + strings.Join(labels, " | ")
}

func (f *faultState) restart(i int) {
	if !f.r.w.Up(i) {
		f.r.atRestart(i)
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
			f.edgeAt(t, false, fn)
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
	f.edgeAt(f.r.w.Now()+rf.RestartAfter, true, func() { f.restart(i) })
}

func (f *faultState) randomPartition(rf *scenario.RandomFaults) {
	w := f.r.w
	i := f.rand.Intn(f.r.scn.Nodes.Count)
	if len(f.cuts) > 0 || f.overlapsTimelinePartition(rf.PartitionFor) || !f.survivable(rf, i) {
		f.skipped++
		return
	}
	f.isolated = i
	id, measured := f.openCut(func(w *sim.World) { w.Isolate(i) }), f.effects.cut("isolate "+nodeName(i))
	f.edgeAt(w.Now()+rf.PartitionFor, true, func() { measured(); f.closeCut(id); f.isolated = -1 })
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

// edgeAt queues fn as a window's start (end false) or end at virtual time
// t; settle runs it.
func (f *faultState) edgeAt(t time.Duration, end bool, fn func()) {
	f.r.w.AtQuiet(t, func() { f.queue(end, fn) })
}

// queue adds a window edge to the current instant's batch and makes sure
// one settle event runs behind every event already queued for now.
func (f *faultState) queue(end bool, fn func()) {
	if end {
		f.ends = append(f.ends, fn)
	} else {
		f.starts = append(f.starts, fn)
	}
	if !f.settling {
		f.settling = true
		f.r.w.AtQuiet(f.r.w.Now(), f.settleEdges)
	}
}

// settleEdges runs the instant's window ends, then its starts, then gives
// the world every changed composition.
func (f *faultState) settleEdges() {
	ends, starts := f.ends, f.starts
	f.ends, f.starts, f.settling = nil, nil, false
	for _, fn := range ends {
		fn()
	}
	for _, fn := range starts {
		fn()
	}
	f.sync()
}

func (f *faultState) newID() int {
	f.nextID++
	return f.nextID
}

func (f *faultState) openCut(apply func(w *sim.World)) int {
	id := f.newID()
	f.cuts = append(f.cuts, cutWindow{id: id, apply: apply})
	f.cutsDirty = true
	return id
}

func (f *faultState) closeCut(id int) {
	f.cuts = slices.DeleteFunc(f.cuts, func(c cutWindow) bool { return c.id == id })
	f.cutsDirty = true
}

func (f *faultState) openNetwork(n *scenario.NetworkFault) int {
	id := f.newID()
	f.network = append(f.network, networkWindow{id: id, fault: n})
	f.networkDirty = true
	return id
}

func (f *faultState) closeNetwork(id int) {
	f.network = slices.DeleteFunc(f.network, func(n networkWindow) bool { return n.id == id })
	f.networkDirty = true
}

func (f *faultState) openDisk(i int, d *scenario.DiskFault) int {
	id := f.newID()
	f.disks[i] = append(f.disks[i], diskWindow{id: id, fault: d})
	f.disksDirty[i] = true
	return id
}

func (f *faultState) closeDisk(i, id int) {
	f.disks[i] = slices.DeleteFunc(f.disks[i], func(d diskWindow) bool { return d.id == id })
	f.disksDirty[i] = true
}

func (f *faultState) openClock(i int, offset time.Duration, drift float64) int {
	id := f.newID()
	f.clocks[i] = append(f.clocks[i], clockWindow{id: id, offset: offset, drift: drift})
	f.clocksDirty[i] = true
	return id
}

func (f *faultState) closeClock(i, id int) {
	f.clocks[i] = slices.DeleteFunc(f.clocks[i], func(c clockWindow) bool { return c.id == id })
	f.clocksDirty[i] = true
}

// sync hands the world the composition of the open windows of every target
// that changed, once, and only if the composition differs from what the
// world has: a window edge that changes nothing leaves no fault record.
func (f *faultState) sync() {
	w := f.r.w
	if f.cutsDirty {
		f.cutsDirty = false
		if f.cutsApplied {
			w.Heal()
		}
		for _, c := range f.cuts {
			c.apply(w)
		}
		f.cutsApplied = len(f.cuts) > 0
	}
	if f.networkDirty {
		f.networkDirty = false
		n := f.r.scn.Network
		for _, o := range f.network {
			n = o.fault.Apply(n)
		}
		if cfg := networkConfig(n); cfg != w.Network() {
			w.SetNetwork(cfg)
		}
	}
	for i := range f.disks {
		if f.disksDirty[i] {
			f.disksDirty[i] = false
			if d := f.diskComposed(i); d != w.DiskFaults(i) {
				w.SetDiskFaults(i, d)
			}
		}
	}
	for i := range f.clocks {
		if f.clocksDirty[i] {
			f.clocksDirty[i] = false
			var top clockWindow
			if k := len(f.clocks[i]); k > 0 {
				top = f.clocks[i][k-1]
			}
			if offset, drift := w.Clock(i); offset != top.offset || drift != top.drift {
				w.SetClock(i, top.offset, top.drift)
			}
		}
	}
}

// diskComposed is node i's disk with its open windows applied in opening
// order (a later window wins per field); the disk is full while any open
// window fills it.
func (f *faultState) diskComposed(i int) simdisk.Faults {
	d, full := f.r.scn.Disk, false
	for _, o := range f.disks[i] {
		d = o.fault.Apply(d)
		full = full || o.fault.Full
	}
	return diskFaults(d, full)
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
	case sim.FaultIsolate, sim.FaultCrash, sim.FaultRestart, sim.FaultWipe:
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
