package scenario

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ron-network/ron/core/stack"
)

// Marshal writes s as a scenario file. Defaults are written out where they
// help a reader (latency, timeout, stop, check windows) and zero-valued
// optional fields are left out. The result is parsed before it is returned,
// so Marshal never hands out a file that Parse would refuse: an invalid s
// gives the same kind of error Parse gives, located in the generated text.
func (s *Scenario) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(s.node()); err != nil {
		return nil, fmt.Errorf("scenario: marshal: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("scenario: marshal: %w", err)
	}
	name := s.Source
	if name == "" {
		name = "(marshalled scenario)"
	}
	if _, err := Parse(name, buf.Bytes()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ymap builds a mapping node in key order.
type ymap struct{ n *yaml.Node }

func newMap(flow bool) ymap {
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if flow {
		n.Style = yaml.FlowStyle
	}
	return ymap{n}
}

func (m ymap) add(key string, value *yaml.Node) {
	m.n.Content = append(m.n.Content, strNode(key), value)
}

func (m ymap) addIf(cond bool, key string, value func() *yaml.Node) {
	if cond {
		m.add(key, value())
	}
}

func strNode(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }

// textNode writes free text as a literal block when that reads back
// exactly, and double-quoted otherwise: yaml.v3 emits tabs and leading
// spaces in literal blocks that its own parser then refuses.
func textNode(v string) *yaml.Node {
	n := strNode(v)
	if !strings.Contains(v, "\n") {
		return n
	}
	for _, line := range strings.Split(v, "\n") {
		if strings.ContainsRune(line, '\t') || strings.HasPrefix(line, " ") || strings.HasSuffix(line, " ") {
			n.Style = yaml.DoubleQuotedStyle
			return n
		}
	}
	n.Style = yaml.LiteralStyle
	return n
}

// plainNode is a scalar whose type YAML infers (numbers, booleans).
func plainNode(v string) *yaml.Node  { return &yaml.Node{Kind: yaml.ScalarNode, Value: v} }
func floatNode(f float64) *yaml.Node { return plainNode(formatFloat(f)) }
func intNode(i int64) *yaml.Node     { return plainNode(strconv.FormatInt(i, 10)) }
func durNode(d time.Duration) *yaml.Node {
	return strNode(formatDuration(d))
}

func seqNode(flow bool, items ...*yaml.Node) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: items}
	if flow {
		n.Style = yaml.FlowStyle
	}
	return n
}

func namesNode(names []string) *yaml.Node {
	items := make([]*yaml.Node, len(names))
	for i, name := range names {
		items[i] = strNode(name)
	}
	return seqNode(true, items...)
}

func (s *Scenario) node() *yaml.Node {
	top := newMap(false)
	top.add("name", strNode(s.Name))
	top.addIf(s.Description != "", "description", func() *yaml.Node { return textNode(s.Description) })
	top.add("duration", durNode(s.Duration))
	top.addIf(s.Seed != nil, "seed", func() *yaml.Node { return plainNode(strconv.FormatUint(*s.Seed, 10)) })
	nodes := newMap(true)
	nodes.add("count", intNode(int64(s.Nodes.Count)))
	nodes.addIf(s.Nodes.RegistryReplicas != 0, "registry_replicas", func() *yaml.Node { return intNode(int64(s.Nodes.RegistryReplicas)) })
	nodes.addIf(s.Nodes.OffGiven, "off", func() *yaml.Node {
		var items []*yaml.Node
		for _, name := range stack.OptionalNames() {
			if o, _ := stack.ParseOptional(name); s.Nodes.Off.Has(o) {
				items = append(items, strNode(name))
			}
		}
		return seqNode(true, items...)
	})
	top.add("nodes", nodes.n)
	top.add("network", networkNode(false, s.Network.Latency, s.Network))
	if disk := diskNode(false, "", s.Disk, nil); len(disk.Content) > 0 {
		top.add("disk", disk)
	}
	top.addIf(s.Workload != nil, "workload", func() *yaml.Node { return s.Workload.node() })
	if len(s.Faults) > 0 {
		items := make([]*yaml.Node, len(s.Faults))
		for i := range s.Faults {
			items[i] = s.Faults[i].node()
		}
		top.add("faults", seqNode(false, items...))
	}
	top.addIf(s.RandomFaults != nil, "random_faults", func() *yaml.Node { return s.RandomFaults.node() })
	top.addIf(s.Adversary != nil, "adversary", func() *yaml.Node { return s.Adversary.node() })
	top.addIf(s.Audit != nil, "audit", func() *yaml.Node { return s.Audit.node() })
	top.addIf(s.Swarm != nil, "swarm", func() *yaml.Node { return s.Swarm.node() })
	if len(s.Checks) > 0 {
		items := make([]*yaml.Node, len(s.Checks))
		for i := range s.Checks {
			items[i] = s.Checks[i].node()
		}
		top.add("checks", seqNode(true, items...))
	}
	return top.n
}

func latencyNode(l Latency) *yaml.Node {
	m := newMap(true)
	m.add("p50", durNode(l.P50))
	m.add("p99", durNode(l.P99))
	return m.n
}

// networkNode writes a network section (latency always) or, for a fault,
// the overrides of f.
func networkNode(flow bool, latency Latency, n Network) *yaml.Node {
	m := newMap(flow)
	m.add("latency", latencyNode(latency))
	m.addIf(n.Loss != 0, "loss", func() *yaml.Node { return floatNode(n.Loss) })
	m.addIf(n.Duplicate != 0, "duplicate", func() *yaml.Node { return floatNode(n.Duplicate) })
	m.addIf(n.Reorder != 0, "reorder", func() *yaml.Node { return floatNode(n.Reorder) })
	m.addIf(n.BandwidthBytesPerSecond != 0, "bandwidth", func() *yaml.Node { return plainOrStr(formatBandwidth(n.BandwidthBytesPerSecond)) })
	return m.n
}

func plainOrStr(v string) *yaml.Node {
	if v == "0" {
		return plainNode(v)
	}
	return strNode(v)
}

func (f *NetworkFault) node() *yaml.Node {
	m := newMap(true)
	m.addIf(f.Latency != nil, "latency", func() *yaml.Node { return latencyNode(*f.Latency) })
	m.addIf(f.Loss != nil, "loss", func() *yaml.Node { return floatNode(*f.Loss) })
	m.addIf(f.Duplicate != nil, "duplicate", func() *yaml.Node { return floatNode(*f.Duplicate) })
	m.addIf(f.Reorder != nil, "reorder", func() *yaml.Node { return floatNode(*f.Reorder) })
	m.addIf(f.BandwidthBytesPerSecond != nil, "bandwidth", func() *yaml.Node {
		return plainOrStr(formatBandwidth(*f.BandwidthBytesPerSecond))
	})
	return m.n
}

// diskNode writes the non-zero fields of a disk section, or for a fault
// (override != nil) the node, the set fields and full.
func diskNode(flow bool, node string, disk Disk, override *DiskFault) *yaml.Node {
	m := newMap(flow)
	values := []float64{disk.LatencyJitter, disk.ReadError, disk.WriteError, disk.CorruptRead,
		disk.CorruptWrite, disk.TornWrite, disk.UnsyncedSurvive}
	set := func(i int) bool { return values[i] != 0 }
	latencySet := disk.Latency != 0
	if override != nil {
		m.add("node", strNode(node))
		refs := diskProbabilities(override)
		set = func(i int) bool { return *refs[i] != nil }
		latencySet = override.Latency != nil
	}
	m.addIf(latencySet, "latency", func() *yaml.Node { return durNode(disk.Latency) })
	for i, key := range diskKeys[1:] {
		m.addIf(set(i), key, func() *yaml.Node { return floatNode(values[i]) })
	}
	if override != nil && override.Full {
		m.add("full", plainNode("true"))
	}
	return m.n
}

func (w *Workload) node() *yaml.Node {
	m := newMap(false)
	m.add("clients", intNode(int64(w.Clients)))
	m.addIf(w.RatePerSecond != 0 || w.Clients > 0, "rate", func() *yaml.Node { return strNode(formatRate(w.RatePerSecond)) })
	m.add("timeout", durNode(w.Timeout))
	m.addIf(w.Start != 0, "start", func() *yaml.Node { return durNode(w.Start) })
	m.add("stop", durNode(w.Stop))
	m.add("names", intNode(int64(w.Names)))
	m.addIf(w.Pins != 0, "pins", func() *yaml.Node { return floatNode(w.Pins) })
	m.addIf(w.Unpins != 0, "unpins", func() *yaml.Node { return floatNode(w.Unpins) })
	m.addIf(w.Adversarial != 0, "adversarial", func() *yaml.Node { return floatNode(w.Adversarial) })
	if w.Mix.Total() != 0 {
		mix := newMap(true)
		mix.n.Style = yaml.FlowStyle
		for i, weight := range mixWeights(&w.Mix) {
			mix.addIf(*weight != 0, mixKeys[i], func() *yaml.Node { return floatNode(*weight) })
		}
		m.add("mix", mix.n)
	}
	if o := w.Objects; o != nil {
		objects := newMap(true)
		objects.add("count", intNode(int64(o.Count)))
		objects.add("size_min", strNode(formatSize(o.SizeMinBytes)))
		objects.add("size_max", strNode(formatSize(o.SizeMaxBytes)))
		m.add("objects", objects.n)
	}
	if t := w.Tokens; t != nil {
		m.add("tokens", t.node())
	}
	if e := w.Edge; e != nil {
		m.add("edge", e.node())
	}
	return m.n
}

func (f *Fault) node() *yaml.Node {
	m := newMap(true)
	m.add("at", durNode(f.At))
	m.addIf(f.Kind != KindCrash, "for", func() *yaml.Node { return durNode(f.For) })
	switch {
	case f.Partition != nil:
		m.add(KindPartition, f.Partition.node())
	case f.Crash != nil && f.Crash.Swap != "":
		c := newMap(true)
		c.add("node", strNode(f.Crash.Target))
		m.add(f.Crash.Swap, c.n)
		m.add("restart_after", durNode(f.Crash.RestartAfter))
	case f.Crash != nil && f.Crash.Wipe:
		m.add(KindWipe, strNode(f.Crash.Target))
		m.addIf(f.Crash.RestartAfter != 0, "restart_after", func() *yaml.Node { return durNode(f.Crash.RestartAfter) })
	case f.Crash != nil:
		m.add(KindCrash, strNode(f.Crash.Target))
		m.addIf(f.Crash.RestartAfter != 0, "restart_after", func() *yaml.Node { return durNode(f.Crash.RestartAfter) })
	case f.Pause != nil:
		m.add(KindPause, strNode(f.Pause.Target))
	case f.Clock != nil:
		c := newMap(true)
		c.add("node", strNode(f.Clock.Node))
		c.addIf(f.Clock.Offset != 0, "offset", func() *yaml.Node { return durNode(f.Clock.Offset) })
		c.addIf(f.Clock.Drift != 0, "drift", func() *yaml.Node { return floatNode(f.Clock.Drift) })
		m.add(KindClock, c.n)
	case f.Disk != nil:
		m.add(KindDisk, diskNode(true, f.Disk.Node, f.Disk.Apply(Disk{}), f.Disk))
	case f.Network != nil:
		m.add(KindNetwork, f.Network.node())
	}
	return m.n
}

func (p *Partition) node() *yaml.Node {
	m := newMap(true)
	switch {
	case p.Isolate != "":
		m.add("isolate", strNode(p.Isolate))
	case p.OneWay != nil:
		oneWay := newMap(true)
		oneWay.add("from", namesNode(p.OneWay.From))
		oneWay.add("to", namesNode(p.OneWay.To))
		m.add("one_way", oneWay.n)
	case p.Groups != nil:
		groups := make([]*yaml.Node, len(p.Groups))
		for i, g := range p.Groups {
			groups[i] = namesNode(g)
		}
		m.add("groups", seqNode(true, groups...))
	case p.Bridge != nil:
		bridge := newMap(true)
		bridge.add("left", namesNode(p.Bridge.Left))
		bridge.add("right", namesNode(p.Bridge.Right))
		bridge.add("via", strNode(p.Bridge.Via))
		m.add("bridge", bridge.n)
	}
	return m.n
}

func (r *RandomFaults) node() *yaml.Node {
	m := newMap(false)
	m.add("crash_rate", floatNode(r.CrashesPerMinute))
	m.add("restart_after", durNode(r.RestartAfter))
	m.add("partition_rate", floatNode(r.PartitionsPerMinute))
	m.add("partition_for", durNode(r.PartitionFor))
	m.add("survivable", plainNode(strconv.FormatBool(r.Survivable)))
	return m.n
}

func (s *Swarm) node() *yaml.Node {
	m := newMap(false)
	byKey := map[string]*Range{}
	for _, f := range swarmFields {
		byKey[f.key] = *f.ranges(s)
	}
	for _, key := range swarmKeys {
		if r := byKey[key]; r != nil {
			m.add(key, seqNode(true, floatNode(r.Min), floatNode(r.Max)))
		}
	}
	return m.n
}

func (c *Check) node() *yaml.Node {
	switch {
	case c.Name == CheckLiveness || c.Name == CheckConvergence || c.Name == CheckRevocation:
		within := newMap(true)
		within.add("within", durNode(c.Within))
		m := newMap(true)
		m.add(c.Name, within.n)
		return m.n
	case c.Name == CheckLookups:
		bounds := newMap(true)
		b := c.Lookups
		for i, v := range []float64{b.Success, b.Exact, b.HopsMean, b.HopsP99} {
			bounds.add(lookupKeys[i], floatNode(v))
		}
		m := newMap(true)
		m.add(CheckLookups, bounds.n)
		return m.n
	case c.Name == CheckRegistryLatency:
		bounds := newMap(true)
		bounds.add("commit_p99", durNode(c.Registry.CommitP99))
		bounds.add("election", durNode(c.Registry.Election))
		bounds.add("unanswered", floatNode(c.Registry.Unanswered))
		m := newMap(true)
		m.add(CheckRegistryLatency, bounds.n)
		return m.n
	case c.Name == CheckSLO && len(c.SLO) > 0:
		metrics := newMap(true)
		for i := 0; i < len(c.SLO); {
			stats := newMap(true)
			metric := c.SLO[i].Metric
			for ; i < len(c.SLO) && c.SLO[i].Metric == metric; i++ {
				stats.add(c.SLO[i].Stat, floatNode(c.SLO[i].Max))
			}
			metrics.add(metric, stats.n)
		}
		m := newMap(true)
		m.add(CheckSLO, metrics.n)
		return m.n
	}
	return strNode(c.Name)
}
