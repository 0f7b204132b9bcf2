package scenario

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"
)

// exclusion names the state a fault window holds exclusively. Two windows
// with the same group conflict when they overlap in time and either their
// node is the same, the group has no node (one network-wide state), or one
// node is dynamic ("leader"/"random" may resolve to any node).
type exclusion struct {
	group string
	node  string
	why   string
}

func exclusionOf(f *Fault) (exclusion, bool) {
	switch f.Kind {
	case KindPartition:
		return exclusion{group: "partition", why: "the network has one cut state at a time"}, true
	case KindNetwork:
		return exclusion{group: "network", why: "network defaults can be overridden by one fault at a time"}, true
	case KindCrash:
		return exclusion{group: "process", node: f.Crash.Target, why: "a node can be down or paused by one fault at a time"}, true
	case KindPause:
		return exclusion{group: "process", node: f.Pause.Target, why: "a node can be down or paused by one fault at a time"}, true
	case KindClock:
		return exclusion{group: "clock", node: f.Clock.Node, why: "a node's clock can be skewed by one fault at a time"}, true
	}
	return exclusion{}, false // disk overrides compose: later items win per field
}

func (a exclusion) conflicts(b exclusion) bool {
	if a.group != b.group {
		return false
	}
	dynamic := func(n string) bool { return n == TargetLeader || n == TargetRandom }
	return a.node == "" || a.node == b.node || dynamic(a.node) || dynamic(b.node)
}

type window struct {
	index      int
	start, end time.Duration
	excl       exclusion
}

// checkTimeline reports overlapping windows that cannot coexist. It needs
// the run duration (a crash without restart lasts to the end) and considers
// only the faults that decoded cleanly. Each conflict is reported once, on
// the later of the two faults.
func (d *decoder) checkTimeline(faults []Fault) {
	if d.runEnd == 0 {
		return
	}
	windows := make([]window, 0, len(faults))
	for i := range faults {
		if !d.faultOK[i] {
			continue
		}
		if excl, ok := exclusionOf(&faults[i]); ok {
			windows = append(windows, window{index: i, start: faults[i].At, end: faults[i].End(d.runEnd), excl: excl})
		}
	}
	slices.SortStableFunc(windows, func(a, b window) int { return cmp.Compare(a.start, b.start) })
	for i, a := range windows {
		for _, b := range windows[i+1:] {
			if b.start >= a.end {
				break
			}
			if a.excl.conflicts(b.excl) {
				d.reportOverlap(faults, a, b)
			}
		}
	}
}

func (d *decoder) reportOverlap(faults []Fault, earlier, later window) {
	e, l := &faults[earlier.index], &faults[later.index]
	msg := fmt.Sprintf("%s %s..%s overlaps %s %s..%s of faults[%d] (line %d); %s",
		describeFault(l), formatDuration(later.start), formatDuration(later.end),
		describeFault(e), formatDuration(earlier.start), formatDuration(earlier.end),
		earlier.index, e.Line, later.excl.why)
	d.fail(&yaml.Node{Line: l.Line}, index("faults", later.index), msg)
}

func describeFault(f *Fault) string {
	if excl, ok := exclusionOf(f); ok && excl.node != "" {
		return f.Kind + " of " + excl.node
	}
	return f.Kind
}
