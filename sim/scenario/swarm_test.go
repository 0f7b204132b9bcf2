package scenario

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ron-network/ron/core/env"
	"pgregory.net/rapid"
)

func TestSwarmFieldTable(t *testing.T) {
	targets := make([]string, len(swarmFields))
	keys := make([]string, len(swarmFields))
	for i, f := range swarmFields {
		targets[i], keys[i] = f.target, f.key
		if !strings.HasSuffix(f.target, "."+f.key) {
			t.Errorf("swarm key %s draws into %s; the names should match", f.key, f.target)
		}
	}
	if !slices.IsSorted(targets) {
		t.Errorf("swarmFields must be sorted by target (the draw order): %v", targets)
	}
	if n := reflect.TypeOf(Swarm{}).NumField(); n != len(swarmFields) || len(swarmKeys) != n {
		t.Errorf("Swarm has %d fields, table %d, keys %d", n, len(swarmFields), len(swarmKeys))
	}
	slices.Sort(keys)
	sortedKeys := slices.Sorted(slices.Values(swarmKeys))
	if !slices.Equal(keys, sortedKeys) {
		t.Errorf("swarmKeys %v and table keys %v differ", sortedKeys, keys)
	}
	// Every field pointer in the table is distinct: no two keys share a range.
	var sw Swarm
	seen := map[**Range]string{}
	for _, f := range swarmFields {
		if other, dup := seen[f.ranges(&sw)]; dup {
			t.Errorf("%s and %s share a field", f.key, other)
		}
		seen[f.ranges(&sw)] = f.key
	}
}

const swarmText = `name: swarm
duration: 60s
nodes: {count: 3, registry_replicas: 3}
network: {loss: 0.5}
disk: {read_error: 0.25}
swarm:
  loss: [0, 0.05]
  duplicate: [0.01, 0.01]
  reorder: [0, 0.05]
  corrupt_read: [0, 0.01]
  corrupt_write: [0, 0.01]
  read_error: [0, 0.01]
  write_error: [0, 0.01]
  unsynced_survive: [0, 1]
  crash_rate: [0, 2]
  partition_rate: [1, 2]
`

func TestSwarmDraws(t *testing.T) {
	s, err := Parse("swarm.yaml", []byte(swarmText))
	if err != nil {
		t.Fatal(err)
	}
	original := s.Clone()
	rapid.Check(t, func(t *rapid.T) {
		seed := rapid.Uint64().Draw(t, "seed")
		drawn, draws := s.DrawSwarm(env.NewRand(seed))
		again, drawsAgain := s.DrawSwarm(env.NewRand(seed))
		if !reflect.DeepEqual(draws, drawsAgain) || !reflect.DeepEqual(drawn, again) {
			t.Fatalf("seed %d: two draws differ", seed)
		}
		if len(draws) != len(swarmFields) {
			t.Fatalf("got %d draws, want one per range (%d)", len(draws), len(swarmFields))
		}
		if !slices.IsSortedFunc(draws, func(a, b Draw) int { return strings.Compare(a.Field, b.Field) }) {
			t.Fatalf("draws not sorted by field: %v", draws)
		}
		for _, d := range draws {
			r := rangeFor(t, s.Swarm, d.Field)
			if d.Value < r.Min || d.Value > r.Max || (r.Min < r.Max && d.Value == r.Max) {
				t.Fatalf("%s = %v outside [%v, %v)", d.Field, d.Value, r.Min, r.Max)
			}
			if got := fieldValue(drawn, d.Field); got != d.Value {
				t.Fatalf("%s: draw %v but scenario holds %v", d.Field, d.Value, got)
			}
		}
		if drawn.Swarm != nil || drawn.RandomFaults == nil || !drawn.RandomFaults.Survivable {
			t.Fatalf("drawn scenario: swarm %v random %+v", drawn.Swarm, drawn.RandomFaults)
		}
		if !reflect.DeepEqual(s, original) {
			t.Fatalf("Swarm changed its receiver")
		}
		// The drawn scenario is concrete and still valid.
		if _, err := drawn.Marshal(); err != nil {
			t.Fatalf("drawn scenario does not marshal: %v", err)
		}
	})
}

func TestSwarmSeedsDiffer(t *testing.T) {
	s, err := Parse("swarm.yaml", []byte(swarmText))
	if err != nil {
		t.Fatal(err)
	}
	_, a := s.DrawSwarm(env.NewRand(1))
	_, b := s.DrawSwarm(env.NewRand(2))
	if reflect.DeepEqual(a, b) {
		t.Fatal("seeds 1 and 2 drew identical values")
	}
	if v := drawOf(a, "network.duplicate"); v != 0.01 {
		t.Errorf("a [0.01, 0.01] range must draw 0.01, got %v", v)
	}
}

func TestSwarmWithoutSection(t *testing.T) {
	s, err := Parse("plain.yaml", []byte(withRegistry+"network: {loss: 0.5}\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := env.NewRand(3)
	before := *r
	out, draws := s.DrawSwarm(r)
	if draws != nil || !reflect.DeepEqual(out, s) || out == s {
		t.Fatalf("no swarm: want an equal copy and nil draws, got %v", draws)
	}
	if *r != before {
		t.Fatal("Swarm advanced the generator without a swarm section")
	}
}

func rangeFor(t *rapid.T, sw *Swarm, field string) *Range {
	for _, f := range swarmFields {
		if f.target == field {
			return *f.ranges(sw)
		}
	}
	t.Fatalf("no swarm field %s", field)
	return nil
}

func drawOf(draws []Draw, field string) float64 {
	for _, d := range draws {
		if d.Field == field {
			return d.Value
		}
	}
	return -1
}

// fieldValue reads a drawn field back by its path, independently of the
// swarm table's apply functions.
func fieldValue(s *Scenario, field string) float64 {
	values := map[string]float64{
		"network.loss": s.Network.Loss, "network.duplicate": s.Network.Duplicate, "network.reorder": s.Network.Reorder,
		"disk.corrupt_read": s.Disk.CorruptRead, "disk.corrupt_write": s.Disk.CorruptWrite,
		"disk.read_error": s.Disk.ReadError, "disk.write_error": s.Disk.WriteError,
		"disk.unsynced_survive":    s.Disk.UnsyncedSurvive,
		"random_faults.crash_rate": s.RandomFaults.CrashesPerMinute, "random_faults.partition_rate": s.RandomFaults.PartitionsPerMinute,
	}
	v, ok := values[field]
	if !ok {
		return -1
	}
	return v
}
