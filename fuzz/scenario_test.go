package fuzz

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ron-network/ron/sim/runner"
	"github.com/ron-network/ron/sim/scenario"
)

// Simulation limits of FuzzScenarioSimulation: an accepted scenario is cut
// down to these so one input simulates in milliseconds.
const (
	fuzzScenarioDurationMax = 3 * time.Second
	fuzzScenarioNodesMax    = 5
)

// FuzzScenarioSimulation parses a scenario file and, when the loader
// accepts it, runs a short simulation of it twice with the same seed: the
// runner must not fail to set up a scenario the loader accepted, nothing
// may panic, and the two runs must give the same trace hash
// (determinism). Checks may fail: a fuzzed scenario can ask for an SLO the
// faults make impossible.
func FuzzScenarioSimulation(f *testing.F) {
	files, err := filepath.Glob("../scenarios/*.yaml")
	if err != nil || len(files) == 0 {
		f.Fatalf("no scenario files: %v", err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := scenario.Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		if s.Nodes.Count > fuzzScenarioNodesMax || s.Nodes.Count < 1 {
			return // a shape the fuzzer may not afford; the loader's limits are tested in sim/scenario
		}
		s.Duration = min(s.Duration, fuzzScenarioDurationMax)
		first, err := runner.Run(s, runner.Options{Seed: 1, AutoVizDir: t.TempDir()})
		if err != nil {
			t.Fatalf("accepted scenario does not run: %v\n%s", err, data)
		}
		second, err := runner.Run(s, runner.Options{Seed: 1, AutoVizDir: t.TempDir()})
		if err != nil || second.TraceHash != first.TraceHash {
			t.Fatalf("same seed, different runs: %s vs %s (%v)\n%s", first.TraceHash, second.TraceHash, err, data)
		}
	})
}
