package scenario

import (
	"fmt"
	"strings"

	"github.com/ron-network/ron/core/env"
	"go.yaml.in/yaml/v3"
)

// Draw is one value drawn by Swarm for one field, named by its path in the
// scenario file ("network.loss", "random_faults.crash_rate").
type Draw struct {
	Field string
	Value float64
}

// swarmField ties one `swarm:` key to the field it draws into. The table is
// kept sorted by target, which is the draw order, so the draws a seed gives
// never depend on map order or on the order of keys in the file.
type swarmField struct {
	key    string
	target string
	max    float64
	ranges func(*Swarm) **Range
	apply  func(*Scenario, float64)
}

var swarmFields = []swarmField{
	{"corrupt_read", "disk.corrupt_read", 1, func(s *Swarm) **Range { return &s.CorruptRead }, func(s *Scenario, v float64) { s.Disk.CorruptRead = v }},
	{"corrupt_write", "disk.corrupt_write", 1, func(s *Swarm) **Range { return &s.CorruptWrite }, func(s *Scenario, v float64) { s.Disk.CorruptWrite = v }},
	{"read_error", "disk.read_error", 1, func(s *Swarm) **Range { return &s.ReadError }, func(s *Scenario, v float64) { s.Disk.ReadError = v }},
	{"unsynced_survive", "disk.unsynced_survive", 1, func(s *Swarm) **Range { return &s.UnsyncedSurvive }, func(s *Scenario, v float64) { s.Disk.UnsyncedSurvive = v }},
	{"write_error", "disk.write_error", 1, func(s *Swarm) **Range { return &s.WriteError }, func(s *Scenario, v float64) { s.Disk.WriteError = v }},
	{"duplicate", "network.duplicate", 1, func(s *Swarm) **Range { return &s.Duplicate }, func(s *Scenario, v float64) { s.Network.Duplicate = v }},
	{"loss", "network.loss", 1, func(s *Swarm) **Range { return &s.Loss }, func(s *Scenario, v float64) { s.Network.Loss = v }},
	{"reorder", "network.reorder", 1, func(s *Swarm) **Range { return &s.Reorder }, func(s *Scenario, v float64) { s.Network.Reorder = v }},
	{"crash_rate", "random_faults.crash_rate", FaultsPerMinuteMax, func(s *Swarm) **Range { return &s.CrashRate }, func(s *Scenario, v float64) { randomFaults(s).CrashesPerMinute = v }},
	{"partition_rate", "random_faults.partition_rate", FaultsPerMinuteMax, func(s *Swarm) **Range { return &s.PartitionRate }, func(s *Scenario, v float64) { randomFaults(s).PartitionsPerMinute = v }},
}

// swarmKeys lists the `swarm:` keys in file-documentation order.
var swarmKeys = []string{"loss", "duplicate", "reorder", "corrupt_read", "corrupt_write",
	"read_error", "write_error", "unsynced_survive", "crash_rate", "partition_rate"}

// randomFaults returns s.RandomFaults, creating it with defaults when a
// swarm draws a rate into a scenario without a random_faults section.
func randomFaults(s *Scenario) *RandomFaults {
	if s.RandomFaults == nil {
		s.RandomFaults = &RandomFaults{RestartAfter: RestartAfterDefault, PartitionFor: PartitionForDefault, Survivable: true}
	}
	return s.RandomFaults
}

// DrawSwarm returns a copy of s with one value drawn from each swarm range into
// the field it names, and the draws sorted by field. The copy has no swarm
// section, so marshalling it gives a concrete scenario that replays the
// drawn run. With no swarm section it returns a copy and nil. r is advanced
// once per range, in the order of the returned draws.
func (s *Scenario) DrawSwarm(r *env.Rand) (*Scenario, []Draw) {
	out := s.Clone()
	if s.Swarm == nil {
		return out, nil
	}
	out.Swarm = nil
	var draws []Draw
	for _, f := range swarmFields {
		rng := *f.ranges(s.Swarm)
		if rng == nil {
			continue
		}
		v := rng.Min + (rng.Max-rng.Min)*r.Float64()
		v = min(max(v, rng.Min), rng.Max) // guard rounding at the edges
		f.apply(out, v)
		draws = append(draws, Draw{Field: f.target, Value: v})
	}
	return out, draws
}

func (d *decoder) swarmSection(n *yaml.Node) *Swarm {
	f, ok := d.mapping(n, "swarm", swarmKeys)
	if !ok {
		return nil
	}
	out := &Swarm{}
	for _, field := range swarmFields {
		v, ok := f.get(field.key)
		if !ok {
			continue
		}
		*field.ranges(out) = d.swarmRange(v, join("swarm", field.key), field.max)
	}
	return out
}

// swarmRange decodes [min, max] with 0 <= min <= max <= hi.
func (d *decoder) swarmRange(n *yaml.Node, path string, hi float64) *Range {
	if n.Kind != yaml.SequenceNode || len(n.Content) != 2 {
		d.fail(n, path, fmt.Sprintf("want a range [min, max] within 0..%s, got %s", formatFloat(hi), describe(n)))
		return nil
	}
	lo, okLo := d.number(n.Content[0], index(path, 0), 0, hi)
	up, okUp := d.number(n.Content[1], index(path, 1), 0, hi)
	if !okLo || !okUp {
		return nil
	}
	if lo > up {
		d.fail(n, path, fmt.Sprintf("min %s is above max %s", formatFloat(lo), formatFloat(up)))
		return nil
	}
	return &Range{Min: lo, Max: up}
}

// FormatDraws formats draws as "network.loss=0.013 disk.read_error=0.002" for
// reports.
func FormatDraws(draws []Draw) string {
	parts := make([]string, len(draws))
	for i, d := range draws {
		parts[i] = d.Field + "=" + formatFloat(d.Value)
	}
	return strings.Join(parts, " ")
}
