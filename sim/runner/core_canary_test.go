//go:build canary

package runner

import (
	"fmt"
	"testing"

	"github.com/ron-network/ron/core/admission"
	"github.com/ron-network/ron/core/dht"
	"github.com/ron-network/ron/core/overlay"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/sim/scenario"
)

// TestCoreCanary proves the DHT, overlay, revocation and admission checks
// bite: each deliberately wrong machine (Config.Bug of core/dht,
// core/overlay, core/registry's revocation pulls, core/admission; honoured
// only in canary builds) must fail the named check on some seed within
// CanarySeedsMax of a shipped scenario, and the correct build must pass
// every seed up to that one, so the failure is the bug's.
func TestCoreCanary(t *testing.T) {
	cases := []struct {
		variant, layer, kind string
		file, check          string
		opts                 Options
	}{
		// A reply that drops its first contact (as if it were the
		// requester) never names the node closest to the target.
		{"dht.ReplySkipsFirst", "dht", "none (routing)", "../../scenarios/dht_1k.yaml", "lookups",
			Options{CoreBugs: CoreBugs{DHT: dht.Bug{ReplySkipsFirst: true}}}},
		// A 10s split makes every cut session fail DynamicAttemptsMax
		// times; forgetting static peers then leaves them down for good.
		{"overlay.ForgetStatic", "overlay", "partition (split)", "../../scenarios/overlay_partition.yaml", "sessions",
			Options{CoreBugs: CoreBugs{Overlay: overlay.Bug{ForgetStatic: true}}}},
		// n5 is isolated when its pull goes out; with the next pull armed
		// only by an answer, n5 never pulls again and keeps allowing the
		// token revoked during the cut.
		{"revocation.PullRearmOnAnswer", "revocation", "partition (isolate)", "../../scenarios/revocation.yaml", "revocation",
			Options{RegistryBug: registry.Bug{PullRearmOnAnswer: true}}},
		// Ten times raft's election timeout: still correct, but the first
		// leader (and every failover) takes 5..10s, over the scenario's
		// election bound (3s).
		{"registry.SlowElections", "registry", "none (latency)", "../../scenarios/slo_calm.yaml", "registry_latency",
			Options{RegistryBug: registry.Bug{SlowElections: true}}},
		// Writes that may take the read headroom never queue (the session
		// cap holds them first), so the gate stops arbitrating between
		// tenants: fairness finds no two tenants ever backlogged together.
		{"admission.SharedHeadroom", "admission", "overload", "../../scenarios/overload.yaml", "fairness",
			Options{CoreBugs: CoreBugs{Admission: admission.Bug{SharedHeadroom: true}}}},
		// A cursor that stays on a just-granted tenant hands it every write
		// slot that frees while others are backlogged.
		{"admission.StickyCursor", "admission", "overload", "../../scenarios/overload.yaml", "fairness",
			Options{CoreBugs: CoreBugs{Admission: admission.Bug{StickyCursor: true}}}},
	}
	for _, c := range cases {
		t.Run(c.variant, func(t *testing.T) {
			s, err := scenario.Load(c.file)
			if err != nil {
				t.Fatal(err)
			}
			seed, detail := firstCheckFails(t, s, c.opts, c.check)
			canaryRows = append(canaryRows, canaryRow{variant: c.variant, layer: c.layer, kind: c.kind, check: c.check, seeds: seed,
				without: fmt.Sprintf("correct build passes 1..%d", seed)})
			if seed == 0 {
				t.Fatalf("%s not caught by %s over seeds 1..%d of %s", c.variant, c.check, CanarySeedsMax, c.file)
			}
			t.Logf("%s caught at seed %d of %s by %s: %s", c.variant, seed, c.file, c.check, detail)
			for clean := uint64(1); clean <= seed; clean++ {
				if rep := runOpts(t, s, clean, Options{}); !rep.OK {
					t.Fatalf("seed %d fails without the bug too, so it proves nothing: %s", clean, failures(rep))
				}
			}
		})
	}
}

// firstCheckFails runs seeds 1..CanarySeedsMax with opts and returns the
// first seed on which the check named want failed, with its verdict (0
// when it never did).
func firstCheckFails(t *testing.T, s *scenario.Scenario, opts Options, want string) (uint64, string) {
	t.Helper()
	for seed := uint64(1); seed <= CanarySeedsMax; seed++ {
		rep := runOpts(t, s, seed, opts)
		for _, c := range rep.Checks {
			if !c.OK && c.Name == want {
				return seed, c.Detail
			}
		}
		if !rep.OK {
			t.Logf("seed %d failed only other checks: %s", seed, failures(rep))
		}
	}
	return 0, ""
}

func runOpts(t *testing.T, s *scenario.Scenario, seed uint64, opts Options) *Report {
	t.Helper()
	opts.Seed, opts.AutoVizDir = seed, t.TempDir()
	rep, err := Run(s, opts)
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	return rep
}
