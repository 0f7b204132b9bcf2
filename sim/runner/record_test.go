package runner

import (
	"path/filepath"
	"testing"

	"github.com/ron-network/ron/sim/scenario"
)

// TestRecordReplaysEveryScenario: for every scenario in scenarios/, a run
// with swarm draws at a seed other than the file's, recorded, replays the
// identical trace hash from the recorded file alone (its own seed, no
// swarm, no random faults), as `ronsim run FILE` does with no flags.
func TestRecordReplaysEveryScenario(t *testing.T) {
	files, err := filepath.Glob("../../scenarios/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			s, err := scenario.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			const seed = 101
			first, err := Run(s, Options{Seed: seed, Swarm: true, AutoVizDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			data, err := first.Recorded.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			replay, err := scenario.Parse(filepath.Join(t.TempDir(), "recorded.yaml"), data)
			if err != nil {
				t.Fatalf("recorded scenario does not parse: %v\n%s", err, data)
			}
			if replay.Seed == nil || *replay.Seed != seed || replay.Swarm != nil || replay.RandomFaults != nil {
				t.Fatalf("recorded seed %v swarm %v random faults %v: the file does not replay alone", replay.Seed, replay.Swarm, replay.RandomFaults)
			}
			second, err := Run(replay, Options{Seed: *replay.Seed, AutoVizDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			if first.TraceHash != second.TraceHash || first.Events != second.Events {
				t.Fatalf("run %s (%d events), replay %s (%d events)\nrecorded:\n%s",
					first.TraceHash, first.Events, second.TraceHash, second.Events, data)
			}
		})
	}
}
