package sim

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/ron-network/ron/sim/simdisk"
)

// FaultKind names a fault action.
type FaultKind string

// Fault kinds, as they appear in FaultRecord and in the trace.
const (
	FaultPartition FaultKind = "partition"
	FaultCutOneWay FaultKind = "cut_one_way"
	FaultIsolate   FaultKind = "isolate"
	FaultBridge    FaultKind = "bridge"
	FaultHeal      FaultKind = "heal"
	FaultNetwork   FaultKind = "network"
	FaultDisk      FaultKind = "disk"
	FaultCrash     FaultKind = "crash"
	FaultRestart   FaultKind = "restart"
	FaultWipe      FaultKind = "wipe"
	FaultPause     FaultKind = "pause"
	FaultClock     FaultKind = "clock"
)

// FaultRecord is one fault action as applied, with enough detail to replay
// it: the report lists them and --record writes them back as a scenario.
type FaultRecord struct {
	At   time.Duration
	Kind FaultKind
	// Node is the target of isolate, disk, crash, restart, wipe, pause and clock,
	// the via node of bridge, and -1 otherwise.
	Node int
	// Groups: partition groups; [from, to] of cut_one_way; [left, right] of
	// bridge.
	Groups   [][]int
	Duration time.Duration  // pause
	Offset   time.Duration  // clock
	Drift    float64        // clock
	Network  NetworkConfig  // network
	Disk     simdisk.Faults // disk
}

// String is a one-line description for reports.
func (f FaultRecord) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v %s", f.At, f.Kind)
	switch f.Kind {
	case FaultPartition:
		fmt.Fprintf(&b, " %v", f.Groups)
	case FaultCutOneWay:
		fmt.Fprintf(&b, " from %v to %v", f.Groups[0], f.Groups[1])
	case FaultBridge:
		fmt.Fprintf(&b, " %v | %v via n%d", f.Groups[0], f.Groups[1], f.Node)
	case FaultNetwork:
		fmt.Fprintf(&b, " %+v", f.Network)
	case FaultDisk:
		fmt.Fprintf(&b, " n%d %+v", f.Node, f.Disk)
	case FaultPause:
		fmt.Fprintf(&b, " n%d for %v", f.Node, f.Duration)
	case FaultClock:
		fmt.Fprintf(&b, " n%d offset %v drift %g", f.Node, f.Offset, f.Drift)
	case FaultIsolate, FaultCrash, FaultRestart, FaultWipe:
		fmt.Fprintf(&b, " n%d", f.Node)
	}
	return b.String()
}

// recordFault stamps f with the current time, keeps it, and counts it as a
// processed event in the trace hash.
func (w *World) recordFault(f FaultRecord) {
	f.At = w.now
	w.faults = append(w.faults, f)
	w.events++
	w.tracer.record(w, KindFault, int32(f.Node), hashString(0, f.String()))
}

// SetDiskFaults changes node i's disk faults from now on.
func (w *World) SetDiskFaults(i int, f simdisk.Faults) {
	w.nodes[w.checkIndex(i)].disk.SetFaults(w.diskApplied(f))
	w.recordFault(FaultRecord{Kind: FaultDisk, Node: i, Disk: f})
}

// DiskFaults returns node i's current disk faults.
func (w *World) DiskFaults(i int) simdisk.Faults { return w.nodes[w.checkIndex(i)].disk.Faults() }

// Disk returns node i's simulated disk (it survives crashes), for checks
// that inspect durable state.
func (w *World) Disk(i int) *simdisk.Disk { return w.nodes[w.checkIndex(i)].disk }

// Crash stops node i: the node object is dropped; its timers, the frames in
// flight to it, its held inputs and its pending disk operations are
// discarded; its disk loses what the disk's Crash decides; requests it has
// not answered are never answered. Crashing a crashed node does nothing.
func (w *World) Crash(i int) {
	n := &w.nodes[w.checkIndex(i)]
	if n.node == nil {
		return
	}
	w.recordFault(FaultRecord{Kind: FaultCrash, Node: i})
	n.node = nil
	n.env.dead = true
	n.inc++ // every event scheduled for the old incarnation is now stale
	for _, slot := range n.deferred {
		w.drop(slot)
	}
	n.deferred = nil
	n.pausedUntil = 0
	clear(n.diskQueue)
	n.diskQueue = n.diskQueue[:0]
	n.diskHead, n.diskApplied = 0, 0
	n.diskCompletion = w.now
	n.uplinkFree = w.now
	claimed := n.disk.Faults()
	if w.has(BugCrashKeepsUnsynced) || w.has(BugTornIgnored) {
		f := claimed
		if w.has(BugCrashKeepsUnsynced) {
			f.UnsyncedSurviveProb, f.TornWriteProb = 1, 0
		}
		if w.has(BugTornIgnored) {
			f.TornWriteProb = 0
		}
		n.disk.SetFaults(f)
		defer n.disk.SetFaults(claimed)
	}
	report := n.disk.Crash()
	w.crashes = append(w.crashes, CrashEffect{At: w.now, Node: i, SurviveProb: claimed.UnsyncedSurviveProb,
		TornProb: claimed.TornWriteProb, CrashReport: report})
	for id, req := range w.requests { // deletion only: order cannot leak
		if req.node == int32(i) {
			delete(w.requests, id)
		}
	}
}

// Wipe erases crashed node i's disk, durable state included, as if it
// were restarted on a new empty data directory under the same identity:
// its key is the world's, not the disk's, so the node keeps it. Wiping a
// running node is a programmer error (crash it first).
func (w *World) Wipe(i int) {
	n := &w.nodes[w.checkIndex(i)]
	if n.node != nil {
		panic(fmt.Sprintf("sim: Wipe of running node %d; crash it first", i))
	}
	w.recordFault(FaultRecord{Kind: FaultWipe, Node: i})
	n.disk.Wipe()
}

// Restart brings crashed node i back: a new node from NewNode on a fresh env
// over the same disk, then env.Start. Restarting a running node does
// nothing.
func (w *World) Restart(i int) {
	n := &w.nodes[w.checkIndex(i)]
	if n.node != nil {
		return
	}
	w.recordFault(FaultRecord{Kind: FaultRestart, Node: i})
	w.buildNode(int32(i))
	if n.node != nil && w.started {
		w.scheduleNode(KindStart, int32(i), w.now)
	}
}

// Pause stalls node i for d: inputs that arrive meanwhile are held and
// delivered in order when the pause ends. Timers and disk operations keep
// running underneath.
func (w *World) Pause(i int, d time.Duration) {
	n := &w.nodes[w.checkIndex(i)]
	if d <= 0 || n.node == nil {
		return
	}
	w.recordFault(FaultRecord{Kind: FaultPause, Node: i, Duration: d})
	if w.has(BugPauseIgnored) {
		return
	}
	until := w.now + d
	if until > n.pausedUntil {
		n.pausedUntil = until
		w.scheduleNode(kindResume, int32(i), until)
	}
}

// SetClock skews node i's clock from now on: it reads
// Epoch + v + offset + drift*(v - now) at virtual time v, clamped so that it
// never goes backwards (a negative step stalls the clock instead). Drift
// accrues from this call, so a drift window does not jump the clock by
// drift times the time already run. Timers armed on the node fire when its
// own clock reaches their deadline. SetClock(i, 0, 0) restores true time.
func (w *World) SetClock(i int, offset time.Duration, drift float64) {
	n := &w.nodes[w.checkIndex(i)]
	if drift <= -1 || math.IsNaN(drift) || math.IsInf(drift, 0) {
		panic("sim: clock drift must be > -1")
	}
	w.recordFault(FaultRecord{Kind: FaultClock, Node: i, Offset: offset, Drift: drift})
	if w.has(BugClockIgnored) {
		offset, drift = n.clockOffset, n.clockDrift
	}
	// What the clock read just before the change is the floor from now on,
	// whether or not the node looked at it.
	n.lastReading = max(n.lastReading, clockAt(n, w.now))
	n.clockOffset = offset
	n.clockDrift = drift
	n.driftSince = w.now
	w.rescheduleTimers(int32(i))
}

// rescheduleTimers moves node i's armed timers to the virtual time at which
// its (newly skewed) clock reaches their deadlines. It walks the whole heap,
// which is fine for a rare fault action; the dispatch-time deadline check
// alone would fire a sped-up node's timers late.
func (w *World) rescheduleTimers(i int32) {
	n := &w.nodes[i]
	h := w.q.heap
	moved := false
	for k := range h {
		ev := &w.q.slab[h[k].slot]
		if ev.kind != KindTimer || ev.node != i || ev.inc != n.inc || ev.cancelled {
			continue
		}
		if at := w.fireTime(n, ev.deadline); at != h[k].at {
			h[k].at = at
			moved = true
		}
	}
	if moved {
		for k := len(h)/2 - 1; k >= 0; k-- {
			w.q.down(k)
		}
	}
}

// Clock returns node i's clock skew as last set by SetClock (zero: true
// time).
func (w *World) Clock(i int) (offset time.Duration, drift float64) {
	n := &w.nodes[w.checkIndex(i)]
	return n.clockOffset, n.clockDrift
}

// Paused reports whether node i is paused now.
func (w *World) Paused(i int) bool { return w.nodes[w.checkIndex(i)].pausedUntil > w.now }

// Blocked reports whether the cuts active now drop frames from node from to
// node to.
func (w *World) Blocked(from, to int) bool {
	return w.blocked(int32(w.checkIndex(from)), int32(w.checkIndex(to)))
}

// CrashEffect is what one crash did to the node's unsynced writes.
type CrashEffect struct {
	At   time.Duration
	Node int
	// SurviveProb and TornProb are the disk's UnsyncedSurviveProb and
	// TornWriteProb at the crash.
	SurviveProb, TornProb float64
	simdisk.CrashReport
}

// Crashes lists what every crash so far did to unsynced writes, in order.
func (w *World) Crashes() []CrashEffect { return w.crashes }

// HeldInputs counts the inputs pauses have held for node i so far.
func (w *World) HeldInputs(i int) uint64 { return w.nodes[w.checkIndex(i)].held }

// ClockSkew is how far node i's clock reads from true time now.
func (w *World) ClockSkew(i int) time.Duration {
	n := &w.nodes[w.checkIndex(i)]
	reading := clockAt(n, w.now)
	if reading < n.lastReading {
		reading = n.lastReading
	}
	return reading.Sub(Epoch.Add(w.now))
}
