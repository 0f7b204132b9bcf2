//go:build canary

package runner

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/sim/scenario"
)

// CanarySeedsMax bounds the seeds tried per canary bug: a bug the checks
// cannot catch within it counts as missed.
const CanarySeedsMax = 50

// canaryChecks are the checks whose failure counts as catching a bug: the
// correctness checks. A panic or a liveness failure would prove nothing
// about the checker's teeth.
var canaryChecks = map[string]bool{"linearizable": true, "durability": true, "synced_writes": true}

// TestCanary proves the checks bite: each deliberately wrong registry
// (core/registry Config.Bug, honoured only in canary builds) must fail
// linearizable or durability on some seed of a scenario built to expose
// it, and every seed run up to that one must pass with the correct
// registry, so the failure is the bug's and not the scenario's.
func TestCanary(t *testing.T) {
	cases := []struct {
		name string
		bug  registry.Bug
		file string
		kind string
		want string // the check that must catch it ("": any of canaryChecks)
	}{
		// An isolated old leader answers the clients that picked it from
		// its own, stale state.
		{"LocalResolve", registry.Bug{LocalResolve: true}, "testdata/canary_stale_leader.yaml", "partition (isolate)", ""},
		// An isolated old leader acknowledges sets the next term discards.
		{"AckBeforeCommit", registry.Bug{AckBeforeCommit: true}, "testdata/canary_stale_leader.yaml", "partition (isolate)", ""},
		// Every replica loses its unsynced writes at once: without the sync
		// before the acknowledgement, acknowledged writes go with them. The
		// durability check the runner runs at every restart must report it
		// (naming the write), before raft can panic on the lost log or a
		// read expose it to linearizable.
		{"SkipSync", registry.Bug{SkipSync: true}, "testdata/canary_power_loss.yaml", "lost unsynced write", "synced_writes"},
		// A set's signature unchecked on the forwarding path: the
		// adversarial clients' forged and wrong-key sets entering through
		// a non-replica are applied, which the model says never happens.
		{"TrustForwarded", registry.Bug{TrustForwarded: true}, "../../scenarios/adversarial.yaml", "adversarial client", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := scenario.Load(c.file)
			if err != nil {
				t.Fatal(err)
			}
			seed, failed := firstCaught(t, s, c.bug, c.want)
			check, _, _ := strings.Cut(failed, ":")
			canaryRows = append(canaryRows, canaryRow{variant: "registry." + c.name, layer: "registry", kind: c.kind, check: check, seeds: seed,
				without: fmt.Sprintf("correct registry passes 1..%d", seed)})
			if seed == 0 {
				t.Fatalf("%s not caught over seeds 1..%d of %s", c.name, CanarySeedsMax, c.file)
			}
			t.Logf("%s caught at seed %d of %s by %s", c.name, seed, c.file, failed)
			for clean := uint64(1); clean <= seed; clean++ {
				if rep := runSeed(t, s, clean, registry.Bug{}); !rep.OK {
					t.Fatalf("seed %d fails without the bug too, so it proves nothing: %s", clean, failures(rep))
				}
			}
		})
	}
}

// firstCaught runs seeds 1..CanarySeedsMax with bug and returns the first
// seed on which a correctness check failed, with that check's verdict (0
// when none did).
func firstCaught(t *testing.T, s *scenario.Scenario, bug registry.Bug, want string) (uint64, string) {
	t.Helper()
	for seed := uint64(1); seed <= CanarySeedsMax; seed++ {
		rep := runSeed(t, s, seed, bug)
		for _, c := range rep.Checks {
			if !c.OK && (c.Name == want || want == "" && canaryChecks[c.Name]) {
				return seed, fmt.Sprintf("%s: %s", c.Name, c.Detail)
			}
		}
		if !rep.OK {
			t.Logf("seed %d failed only checks that do not count: %s", seed, failures(rep))
		}
	}
	return 0, ""
}

func runSeed(t *testing.T, s *scenario.Scenario, seed uint64, bug registry.Bug) *Report {
	t.Helper()
	rep, err := Run(s, Options{Seed: seed, RegistryBug: bug, AutoVizDir: t.TempDir()})
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	return rep
}

func failures(rep *Report) string {
	var out []string
	for _, c := range rep.Checks {
		if !c.OK {
			out = append(out, c.Name+": "+c.Detail)
		}
	}
	return strings.Join(out, "; ")
}
