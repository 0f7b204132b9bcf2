package runner

import (
	"fmt"
	"strings"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/sim/scenario"
	"github.com/ron-network/ron/sim/workload"
)

// drawSwarm applies the scenario's swarm ranges for seed (a no-op without
// a swarm section or when swarm is off).
func drawSwarm(s *scenario.Scenario, seed uint64, swarm bool) (*scenario.Scenario, []scenario.Draw) {
	if !swarm || s.Swarm == nil {
		return s, nil
	}
	return s.DrawSwarm(env.NewRand(seed).Derive("swarm"))
}

// Preamble is what ronsim prints before a run: the seed first, then every
// knob that shapes the run (STYLE 16), so a log of a failing run says
// everything needed to understand it.
func Preamble(s *scenario.Scenario, seed uint64, swarm bool) string {
	s, draws := drawSwarm(s, seed, swarm)
	var b strings.Builder
	p := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-10s %s\n", label, fmt.Sprintf(format, args...))
	}
	p("seed", "%d", seed)
	p("scenario", "%s (%s)", s.Name, s.Source)
	p("duration", "%v", s.Duration)
	replicas := "no registry"
	if r := s.Nodes.RegistryReplicas; r > 0 {
		replicas = fmt.Sprintf("registry replicas n1..n%d", r)
	}
	p("nodes", "%d, %s", s.Nodes.Count, replicas)
	n := s.Network
	bw := "unlimited"
	if n.BandwidthBytesPerSecond > 0 {
		bw = fmt.Sprintf("%d B/s", n.BandwidthBytesPerSecond)
	}
	p("network", "latency p50 %v p99 %v, loss %g, duplicate %g, reorder %g, bandwidth %s", n.Latency.P50, n.Latency.P99, n.Loss, n.Duplicate, n.Reorder, bw)
	d := s.Disk
	p("disk", "latency %v jitter %g, read_error %g, write_error %g, corrupt_read %g, corrupt_write %g, torn_write %g, unsynced_survive %g",
		d.Latency, d.LatencyJitter, d.ReadError, d.WriteError, d.CorruptRead, d.CorruptWrite, d.TornWrite, d.UnsyncedSurvive)
	if wl := s.Workload; wl != nil {
		m := wl.Mix
		p("workload", "%d clients, %g ops/s from %v to %v, timeout %v, %d names, mix claim %g set %g resolve %g stale_resolve %g",
			wl.Clients, wl.RatePerSecond, wl.Start, wl.Stop, wl.Timeout, wl.Names, m.Claim, m.Set, m.Resolve, m.StaleResolve)
		if m.UsesContent() {
			objects := "default objects"
			if o := wl.Objects; o != nil {
				objects = fmt.Sprintf("%d objects of %d..%d bytes", o.Count, o.SizeMinBytes, o.SizeMaxBytes)
			}
			sessions := ""
			if m.SessionPut > 0 {
				sessions = fmt.Sprintf(" session_put %g (%.0f%% abandoned)", m.SessionPut, 100*workload.SessionAbandonDefault)
			}
			p("content", "mix put %g get %g range_get %g%s, %s, R=%d W=%d", m.Put, m.Get, m.RangeGet, sessions, objects, StorageReplicas, StorageWriteQuorum)
		}
		if m.Lookup > 0 {
			p("dht", "mix lookup %g: FindNode for random ids via random up nodes, graded against every live node; %d bootstrap contacts per node (n1 and %d earlier nodes)",
				m.Lookup, BootstrapRandomCount+1, BootstrapRandomCount)
		}
	}
	for _, f := range s.Faults {
		p("fault", "%s", describeScenarioFault(&f))
	}
	if rf := s.RandomFaults; rf != nil {
		p("random", "crashes %g/min (restart after %v), partitions %g/min (for %v), survivable %v",
			rf.CrashesPerMinute, rf.RestartAfter, rf.PartitionsPerMinute, rf.PartitionFor, rf.Survivable)
	}
	if len(draws) > 0 {
		p("swarm", "%s", scenario.FormatDraws(draws))
	}
	var checks []string
	for _, c := range s.Checks {
		if c.Within > 0 {
			checks = append(checks, fmt.Sprintf("%s(within %v)", c.Name, c.Within))
		} else {
			checks = append(checks, c.Name)
		}
	}
	p("checks", "%s", strings.Join(checks, ", "))
	return b.String()
}

func describeScenarioFault(f *scenario.Fault) string {
	head := fmt.Sprintf("at %v", f.At)
	if f.For > 0 {
		head += fmt.Sprintf(" for %v", f.For)
	}
	switch f.Kind {
	case scenario.KindPartition:
		p := f.Partition
		switch {
		case p.Isolate != "":
			return head + " partition: isolate " + p.Isolate
		case p.OneWay != nil:
			return fmt.Sprintf("%s partition: one way from %v to %v", head, p.OneWay.From, p.OneWay.To)
		case p.Bridge != nil:
			return fmt.Sprintf("%s partition: bridge %v | %v via %s", head, p.Bridge.Left, p.Bridge.Right, p.Bridge.Via)
		}
		return fmt.Sprintf("%s partition: groups %v", head, p.Groups)
	case scenario.KindCrash:
		if f.Crash.Swap != "" {
			return fmt.Sprintf("%s %s %s (a crash in ronsim run), restart after %v", head, f.Crash.Swap, f.Crash.Target, f.Crash.RestartAfter)
		}
		if f.Crash.Wipe && f.Crash.RestartAfter > 0 {
			return fmt.Sprintf("%s wipe %s (crash, erase its disk, keep its key), restart after %v", head, f.Crash.Target, f.Crash.RestartAfter)
		}
		if f.Crash.Wipe {
			return fmt.Sprintf("%s wipe %s (crash, erase its disk; stays down)", head, f.Crash.Target)
		}
		if f.Crash.RestartAfter > 0 {
			return fmt.Sprintf("%s crash %s, restart after %v", head, f.Crash.Target, f.Crash.RestartAfter)
		}
		return fmt.Sprintf("%s crash %s (stays down)", head, f.Crash.Target)
	case scenario.KindPause:
		return head + " pause " + f.Pause.Target
	case scenario.KindClock:
		return fmt.Sprintf("%s clock %s offset %v drift %g", head, f.Clock.Node, f.Clock.Offset, f.Clock.Drift)
	case scenario.KindDisk:
		full := diskFaults(f.Disk.Apply(scenario.Disk{}), f.Disk.Full)
		return fmt.Sprintf("%s disk %s read_error %g write_error %g corrupt_read %g corrupt_write %g torn %g full %v", head, f.Disk.Node,
			full.ReadErrorProb, full.WriteErrorProb, full.CorruptReadProb, full.CorruptWriteProb, full.TornWriteProb, full.Full)
	case scenario.KindNetwork:
		n := f.Network.Apply(scenario.Network{})
		return fmt.Sprintf("%s network latency p50 %v p99 %v loss %g duplicate %g reorder %g", head, n.Latency.P50, n.Latency.P99, n.Loss, n.Duplicate, n.Reorder)
	}
	return head + " " + f.Kind
}
