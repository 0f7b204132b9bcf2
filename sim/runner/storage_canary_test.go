//go:build canary

package runner

import (
	"fmt"
	"testing"

	"github.com/ron-network/ron/sim/scenario"
)

// storageCanaryChecks are the checks whose failure counts as catching a
// storage bug: the content correctness checks. Convergence or a panic
// would prove nothing about the checkers' teeth.
var storageCanaryChecks = map[string]bool{"integrity": true, "durability": true, "pins": true}

// TestStorageCanary proves the content checks bite: each deliberately
// wrong storage machine (core/storage Config.Bug*, honoured only in canary
// builds) must fail the named check on some seed within CanarySeedsMax of
// a scenario with the faults that expose it, and every seed up to that one
// must pass with the correct machine, so the failure is the bug's and not
// the scenario's.
func TestStorageCanary(t *testing.T) {
	cases := []struct {
		bug   StorageBug
		file  string
		check string
		kind  string
	}{
		// The repository's churn scenario: n4's disk flips bits on reads
		// for 8s; served unverified, the bits reach a client.
		{StorageBugServeUnverified, "../../scenarios/content_churn.yaml", "integrity", "read corruption"},
		// Every node crashes at once: objects acknowledged before their
		// replicas synced are gone after the restart.
		{StorageBugAckBeforeSync, "testdata/canary_content_power_loss.yaml", "durability", "lost unsynced write"},
		// Garbage collection that ignores pins removes the pinned copies
		// of nodes outside an object's placement once the placement holds
		// it.
		{StorageBugIgnorePins, "../../scenarios/pins.yaml", "pins", "none (pinned puts)"},
		// A pinned put of an object the node once deleted is stored
		// unpinned: only a client that unpins and pins again (the
		// scenario's unpins, re-pinning on the same node) meets it, and
		// garbage collection then removes the re-pinned copy.
		{StorageBugRepinLost, "../../scenarios/pins.yaml", "pins", "none (unpins, re-pins)"},
	}
	for _, c := range cases {
		t.Run(c.bug.String(), func(t *testing.T) {
			s, err := scenario.Load(c.file)
			if err != nil {
				t.Fatal(err)
			}
			seed, failed, verdict := firstStorageCaught(t, s, c.bug, c.check)
			canaryRows = append(canaryRows, canaryRow{variant: "storage." + c.bug.String(), layer: "storage", kind: c.kind, check: c.check, seeds: seed,
				without: fmt.Sprintf("correct store passes 1..%d", seed)})
			if seed == 0 {
				t.Fatalf("%s not caught by %s over seeds 1..%d of %s", c.bug, c.check, CanarySeedsMax, c.file)
			}
			t.Logf("%s caught at seed %d of %s by %s: %s", c.bug, seed, c.file, failed, verdict)
			for clean := uint64(1); clean <= seed; clean++ {
				if rep := runStorageSeed(t, s, clean, StorageBugNone); !rep.OK {
					t.Fatalf("seed %d fails without the bug too, so it proves nothing: %s", clean, failures(rep))
				}
			}
		})
	}
}

// firstStorageCaught runs seeds 1..CanarySeedsMax with bug and returns the
// first seed on which the content correctness check named want failed,
// with its name and verdict (seed 0 when it never did). A seed on which
// only the other content check failed is logged: the bug was caught, but
// not by the check this case is about.
func firstStorageCaught(t *testing.T, s *scenario.Scenario, bug StorageBug, want string) (uint64, string, string) {
	t.Helper()
	for seed := uint64(1); seed <= CanarySeedsMax; seed++ {
		rep := runStorageSeed(t, s, seed, bug)
		for _, c := range rep.Checks {
			if !c.OK && c.Name == want {
				return seed, c.Name, c.Detail
			}
		}
		other := false
		for _, c := range rep.Checks {
			if !c.OK && storageCanaryChecks[c.Name] {
				other = true
				t.Logf("seed %d: %s caught by %s, not %s: %s", seed, bug, c.Name, want, c.Detail)
			}
		}
		if !rep.OK && !other {
			t.Logf("seed %d failed only checks that do not count: %s", seed, failures(rep))
		}
	}
	return 0, "", ""
}

func runStorageSeed(t *testing.T, s *scenario.Scenario, seed uint64, bug StorageBug) *Report {
	t.Helper()
	rep, err := Run(s, Options{Seed: seed, StorageBug: bug, AutoVizDir: t.TempDir()})
	if err != nil {
		t.Fatal(fmt.Errorf("seed %d: %w", seed, err))
	}
	return rep
}
