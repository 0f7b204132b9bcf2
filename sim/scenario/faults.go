package scenario

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

var (
	faultKinds = []string{KindPartition, KindCrash, KindPause, KindClock, KindDisk, KindNetwork}
	// fileKinds are the kinds a file may name: the held ones and the
	// swaps, which Parse holds as crashes.
	fileKinds = append(slices.Clip(faultKinds), KindUpgrade, KindDowngrade, KindWipe)
	faultKeys = append([]string{"at", "for", "restart_after"}, fileKinds...)
)

// faultsSection decodes the timeline; windows are checked by checkTimeline
// afterwards, on the faults that decoded cleanly.
func (d *decoder) faultsSection(n *yaml.Node, network Network) []Fault {
	if n.Kind != yaml.SequenceNode {
		d.fail(n, "faults", "want a list of faults, got "+describe(n))
		return nil
	}
	if len(n.Content) > FaultsMax {
		d.fail(n, "faults", fmt.Sprintf("%d faults; at most %d", len(n.Content), FaultsMax))
		return nil
	}
	faults := make([]Fault, 0, len(n.Content))
	d.faultOK = d.faultOK[:0]
	for i, item := range n.Content {
		before := len(d.errs)
		f := d.fault(item, index("faults", i), network)
		faults = append(faults, f)
		d.faultOK = append(d.faultOK, len(d.errs) == before)
	}
	return faults
}

func (d *decoder) fault(n *yaml.Node, path string, network Network) Fault {
	f := Fault{Line: n.Line}
	fs, ok := d.mapping(n, path, faultKeys)
	if !ok {
		return f
	}
	var kinds []string
	for _, k := range fileKinds {
		if _, ok := fs.get(k); ok {
			kinds = append(kinds, k)
		}
	}
	switch len(kinds) {
	case 0:
		d.fail(n, path, "needs one fault kind: "+strings.Join(fileKinds, ", "))
		return f
	case 1:
		f.Kind = kinds[0]
	default:
		d.fail(n, path, "has "+strings.Join(kinds, " and ")+"; one fault kind per item (split it into several items)")
		return f
	}
	d.faultWindow(fs, &f)
	value, _ := fs.get(f.Kind)
	kindPath := join(path, f.Kind)
	switch f.Kind {
	case KindPartition:
		f.Partition = d.partition(value, kindPath)
	case KindCrash:
		if target, ok := d.nodeRef(value, kindPath, TargetLeader, TargetRandom); ok {
			f.Crash = &Crash{Target: target, RestartAfter: d.restartAfter(fs, f.At)}
		}
	case KindPause:
		if target, ok := d.nodeRef(value, kindPath, TargetLeader, TargetRandom); ok {
			f.Pause = &Pause{Target: target}
		}
	case KindClock:
		f.Clock = d.clock(value, kindPath)
	case KindDisk:
		f.Disk = d.diskFault(value, kindPath)
	case KindNetwork:
		f.Network = d.networkFault(value, kindPath, network.Latency)
	case KindUpgrade, KindDowngrade:
		f.Crash = d.swap(value, kindPath, fs, f.At, f.Kind)
		f.Kind = KindCrash
	case KindWipe:
		if target, ok := d.nodeRef(value, kindPath, TargetLeader, TargetRandom); ok {
			f.Crash = &Crash{Target: target, RestartAfter: d.restartAfter(fs, f.At), Wipe: true}
		}
		f.Kind = KindCrash
	}
	return f
}

// swap decodes `upgrade: {node: nX}` (or downgrade) into the crash it is
// in the simulator: the node stops and restarts after restart_after
// (RestartAfterDefault when omitted; a swapped node always comes back).
func (d *decoder) swap(n *yaml.Node, path string, fs *fields, at time.Duration, kind string) *Crash {
	f, ok := d.mapping(n, path, []string{"node"})
	if !ok {
		return nil
	}
	v, ok := d.require(f, "node")
	if !ok {
		return nil
	}
	target, ok := d.nodeRef(v, join(path, "node"))
	if !ok {
		return nil
	}
	after := d.restartAfter(fs, at)
	if _, given := fs.get("restart_after"); !given {
		after = RestartAfterDefault
		d.checkWindowEnd(n, path, at, after, true)
	}
	return &Crash{Target: target, RestartAfter: after, Swap: kind}
}

// faultWindow decodes at and for: 0 <= at < duration, at+for <= duration;
// every kind but crash (and upgrade, downgrade, wipe) needs for, and those
// refuse it.
func (d *decoder) faultWindow(fs *fields, f *Fault) {
	stop := f.Kind == KindCrash || f.Kind == KindUpgrade || f.Kind == KindDowngrade || f.Kind == KindWipe
	if v, ok := d.require(fs, "at"); ok {
		at, good := d.duration(v, join(fs.path, "at"), 0, DurationMax)
		if good && d.runEnd > 0 && at >= d.runEnd {
			d.fail(v, join(fs.path, "at"), fmt.Sprintf("%s is not before the end of the run (duration %s)", formatDuration(at), formatDuration(d.runEnd)))
		}
		f.At = at
	}
	v, ok := fs.get("for")
	switch {
	case f.Kind == KindCrash && ok:
		d.fail(v, join(fs.path, "for"), "a crash has no for; use restart_after (omit it to keep the node down)")
	case f.Kind == KindWipe && ok:
		d.fail(v, join(fs.path, "for"), "a wipe has no for; use restart_after (omit it to keep the node down)")
	case stop && ok:
		d.fail(v, join(fs.path, "for"), "an upgrade or downgrade has no for; use restart_after")
	case stop:
	case !ok:
		d.fail(fs.node, join(fs.path, "for"), "required for a "+f.Kind+" fault")
	default:
		var good bool
		f.For, good = d.positiveDuration(v, join(fs.path, "for"))
		d.checkWindowEnd(v, join(fs.path, "for"), f.At, f.For, good)
	}
	if v, ok := fs.get("restart_after"); ok && !stop {
		d.fail(v, join(fs.path, "restart_after"), "only a crash, wipe, upgrade or downgrade has restart_after; use for")
	}
}

// restartAfter decodes a crash's optional restart_after (0 = stays down).
func (d *decoder) restartAfter(fs *fields, at time.Duration) time.Duration {
	v, ok := fs.get("restart_after")
	if !ok {
		return 0
	}
	path := join(fs.path, "restart_after")
	after, good := d.positiveDuration(v, path)
	d.checkWindowEnd(v, path, at, after, good)
	return after
}

func (d *decoder) checkWindowEnd(n *yaml.Node, path string, at, length time.Duration, good bool) {
	if good && d.runEnd > 0 && at < d.runEnd && at+length > d.runEnd {
		d.fail(n, path, fmt.Sprintf("window ends at %s, after the end of the run (duration %s)", formatDuration(at+length), formatDuration(d.runEnd)))
	}
}

func (d *decoder) partition(n *yaml.Node, path string) *Partition {
	cuts := []string{"isolate", "one_way", "groups", "bridge"}
	f, ok := d.mapping(n, path, cuts)
	if !ok {
		return nil
	}
	var set []string
	for _, c := range cuts {
		if _, ok := f.get(c); ok {
			set = append(set, c)
		}
	}
	if len(set) != 1 {
		d.fail(n, path, "needs exactly one of "+strings.Join(cuts, ", "))
		return nil
	}
	v, _ := f.get(set[0])
	cutPath := join(path, set[0])
	p := &Partition{}
	switch set[0] {
	case "isolate":
		p.Isolate, ok = d.nodeRef(v, cutPath, TargetLeader, TargetRandom)
	case "one_way":
		p.OneWay, ok = d.oneWay(v, cutPath)
	case "groups":
		p.Groups, ok = d.groups(v, cutPath)
	case "bridge":
		p.Bridge, ok = d.bridge(v, cutPath)
	}
	if !ok {
		return nil
	}
	return p
}

func (d *decoder) oneWay(n *yaml.Node, path string) (*OneWay, bool) {
	f, ok := d.mapping(n, path, []string{"from", "to"})
	if !ok {
		return nil, false
	}
	out := &OneWay{}
	good := d.sides(f, path, map[string]string{}, sideList{"from", &out.From}, sideList{"to", &out.To})
	return out, good
}

// sideList is one named node list of a two-sided cut (one_way, bridge).
type sideList struct {
	key string
	ref *[]string
}

// sides decodes the named node lists of a cut into their fields; taken
// records the nodes already used so that no node stands on both sides.
func (d *decoder) sides(f *fields, path string, taken map[string]string, lists ...sideList) bool {
	good := true
	for _, side := range lists {
		v, ok := d.require(f, side.key)
		if !ok {
			good = false
			continue
		}
		var fine bool
		*side.ref, fine = d.nodeList(v, join(path, side.key), taken)
		good = good && fine
	}
	return good
}

func (d *decoder) groups(n *yaml.Node, path string) ([][]string, bool) {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		d.fail(n, path, "want a list of node lists, got "+describe(n))
		return nil, false
	}
	taken := map[string]string{}
	groups := make([][]string, 0, len(n.Content))
	good := true
	for i, item := range n.Content {
		names, fine := d.nodeList(item, index(path, i), taken)
		groups = append(groups, names)
		good = good && fine
	}
	if good && d.nodes > 0 && len(groups) == 1 && len(taken) == d.nodes {
		d.fail(n, path, "one group holds every node; nothing is cut")
		return nil, false
	}
	return groups, good
}

func (d *decoder) bridge(n *yaml.Node, path string) (*Bridge, bool) {
	f, ok := d.mapping(n, path, []string{"left", "right", "via"})
	if !ok {
		return nil, false
	}
	taken := map[string]string{}
	out := &Bridge{}
	good := d.sides(f, path, taken, sideList{"left", &out.Left}, sideList{"right", &out.Right})
	v, ok := d.require(f, "via")
	if !ok {
		return nil, false
	}
	via, fine := d.nodeRef(v, join(path, "via"))
	if where, dup := taken[via]; fine && dup {
		d.fail(v, join(path, "via"), "node "+via+" is already in "+where)
		fine = false
	}
	out.Via = via
	return out, good && fine
}

func (d *decoder) clock(n *yaml.Node, path string) *Clock {
	f, ok := d.mapping(n, path, []string{"node", "offset", "drift"})
	if !ok {
		return nil
	}
	c := &Clock{}
	good := true
	if v, ok := d.require(f, "node"); ok {
		c.Node, ok = d.nodeRef(v, join(path, "node"), TargetLeader, TargetRandom)
		good = good && ok
	} else {
		good = false
	}
	if v, ok := f.get("offset"); ok {
		c.Offset, ok = d.duration(v, join(path, "offset"), -ClockOffsetMax, ClockOffsetMax)
		good = good && ok
	}
	if v, ok := f.get("drift"); ok {
		c.Drift, ok = d.number(v, join(path, "drift"), -ClockDriftMax, ClockDriftMax)
		good = good && ok
	}
	if good && c.Offset == 0 && c.Drift == 0 {
		d.fail(n, path, "sets neither offset nor drift; the clock would be unchanged")
		good = false
	}
	if !good {
		return nil
	}
	return c
}

func (d *decoder) diskFault(n *yaml.Node, path string) *DiskFault {
	f, ok := d.mapping(n, path, append([]string{"node", "full"}, diskKeys...))
	if !ok {
		return nil
	}
	before := len(d.errs)
	out := d.diskFields(f)
	if v, ok := d.require(f, "node"); ok {
		out.Node, _ = d.nodeRef(v, join(path, "node"), TargetAll, TargetLeader, TargetRandom)
	}
	if v, ok := f.get("full"); ok {
		out.Full, _ = d.boolean(v, join(path, "full"))
	}
	if len(d.errs) > before {
		return nil
	}
	if out.Latency == nil && !out.Full && !anySet(diskProbabilities(&out)) {
		d.fail(n, path, "changes nothing; set full or a disk field ("+strings.Join(diskKeys, ", ")+")")
		return nil
	}
	return &out
}

func anySet(refs []**float64) bool {
	return slices.ContainsFunc(refs, func(r **float64) bool { return *r != nil })
}

func (d *decoder) networkFault(n *yaml.Node, path string, base Latency) *NetworkFault {
	f, ok := d.mapping(n, path, networkKeys)
	if !ok {
		return nil
	}
	before := len(d.errs)
	out := d.networkFields(f, base)
	if len(d.errs) > before {
		return nil
	}
	if out == (NetworkFault{}) {
		d.fail(n, path, "changes nothing; set one of "+strings.Join(networkKeys, ", "))
		return nil
	}
	return &out
}
