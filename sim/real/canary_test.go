package real

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ron-network/ron/sim/scenario"
)

// CanaryRunsMax bounds the real runs a canary may need to be caught.
const CanaryRunsMax = 3

// SkipSyncRunsMax bounds the runs of skip_sync: each of its power losses
// catches it only if acknowledged writes were still unsynced on a quorum
// at the kill, and rond's audit log syncs the store within
// audit.SyncDelay (2 ms) of every write the gateway answers (the write's
// audit record), so not every run does (BENCHMARKS.md, "Crashes as power
// losses").
const SkipSyncRunsMax = 6

// canaryChecks are the checks whose failure shows a canary was caught
// (as in sim/runner's TestCanary): liveness on real processes also fails
// for reasons of timing (BENCHMARKS.md, "Simulated vs real").
var canaryChecks = map[string]bool{"linearizable": true, "durability": true}

// TestCanaryCaughtOnRealProcesses runs scenarios/real_canary.yaml
// (local_resolve, ack_before_commit) and testdata/real_power_loss.yaml
// (skip_sync) against a canary build of rond with the registry bug
// turned on: each must fail linearizable or durability within its runs
// (CanaryRunsMax, SkipSyncRunsMax), and the clean build must pass those
// checks on every seed the bug needed. Minutes of real processes: it
// runs only with RON_REAL_CANARY=1 (make real-canary).
func TestCanaryCaughtOnRealProcesses(t *testing.T) {
	if os.Getenv("RON_REAL_CANARY") == "" {
		t.Skip("set RON_REAL_CANARY=1 (make real-canary): minutes of real rond processes")
	}
	clean := testRond(t)
	canary, err := BuildRond("../..", t.TempDir(), "canary")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct {
		bug, file string
		runs      uint64
	}{
		{"local_resolve", filepath.Join("..", "..", "scenarios", "real_canary.yaml"), CanaryRunsMax},
		{"ack_before_commit", filepath.Join("..", "..", "scenarios", "real_canary.yaml"), CanaryRunsMax},
		// Every replica loses power at once: a crash drops the writes not
		// synced (io/pebbledisk's journal, and pebble's unwritten block).
		{"skip_sync", filepath.Join("testdata", "real_power_loss.yaml"), SkipSyncRunsMax},
	} {
		bug, runs := v.bug, v.runs
		s, err := scenario.Load(v.file)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(bug, func(t *testing.T) {
			caught := uint64(0)
			for seed := uint64(1); seed <= runs && caught == 0; seed++ {
				if failed := canaryFailures(t, s, Options{Seed: seed, Rond: canary, Canary: bug}); failed != "" {
					t.Logf("%s caught at run %d: %s", bug, seed, failed)
					caught = seed
				}
			}
			if caught == 0 {
				t.Fatalf("%s not caught in %d real runs", bug, runs)
			}
			for seed := uint64(1); seed <= caught; seed++ {
				if failed := canaryFailures(t, s, Options{Seed: seed, Rond: clean}); failed != "" {
					t.Fatalf("the clean build fails seed %d too, so the run proves nothing: %s", seed, failed)
				}
			}
		})
	}
}

// canaryFailures runs once and returns the failed canary checks ("" when
// none failed).
func canaryFailures(t *testing.T, s *scenario.Scenario, opts Options) string {
	t.Helper()
	rep, err := Run(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	out := ""
	for _, c := range rep.Checks {
		if !c.OK && canaryChecks[c.Name] {
			out += fmt.Sprintf("%s: %s; ", c.Name, c.Detail)
		}
	}
	return out
}
