package runner

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/sim/scenario"
)

func loadRevocation(t *testing.T) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Load(filepath.Join("..", "..", "scenarios", "revocation.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func revocationCheck(t *testing.T, rep *Report) CheckResult {
	t.Helper()
	for _, c := range rep.Checks {
		if c.Name == "revocation" {
			return c
		}
	}
	t.Fatalf("no revocation check in the report")
	return CheckResult{}
}

// TestRevocationScenario: the scenario passes on its seed, and the same run
// judged with a bound shorter than one pull interval fails, so the check
// observes the propagation delay rather than passing vacuously.
func TestRevocationScenario(t *testing.T) {
	s := loadRevocation(t)
	rep, err := Run(s, Options{Seed: *s.Seed})
	if err != nil {
		t.Fatal(err)
	}
	if c := revocationCheck(t, rep); !rep.OK || !c.OK {
		t.Fatalf("revocation.yaml seed %d: ok=%v, revocation: %s", *s.Seed, rep.OK, c.Detail)
	}
	tight := s.Clone()
	for i := range tight.Checks {
		if tight.Checks[i].Name == scenario.CheckRevocation {
			tight.Checks[i].Within = 50 * time.Millisecond
		}
	}
	rep, err = Run(tight, Options{Seed: *s.Seed})
	if err != nil {
		t.Fatal(err)
	}
	if c := revocationCheck(t, rep); c.OK || !strings.Contains(c.Detail, "not denied as revoked") {
		t.Fatalf("a 50ms bound (shorter than the pull interval) passed: %s", c.Detail)
	}
}

// TestRevocationWithinDefaultCoversThePull: the default bound covers the
// pull interval with its jitter plus a margin for round trips and an
// election.
func TestRevocationWithinDefaultCoversThePull(t *testing.T) {
	pull := time.Duration(float64(registry.RevocationPullIntervalDefault) * (1 + registry.RetryJitterFrac))
	if margin := scenario.RevocationWithinDefault - pull; margin < time.Second {
		t.Fatalf("RevocationWithinDefault %v leaves %v over the jittered pull %v; want >= 1s", scenario.RevocationWithinDefault, margin, pull)
	}
}

// TestBoundStart: a fault naming only node i moves only i's bound start to
// its end; one naming a replica moves everyone's; a fault opening after
// the bound ran out moves nothing.
func TestBoundStart(t *testing.T) {
	const sec = time.Second
	s := &scenario.Scenario{Duration: 60 * sec, Nodes: scenario.Nodes{Count: 5, RegistryReplicas: 3}}
	r := &run{scn: s}
	commit, within := 12*sec, 3*sec
	s.Faults = []scenario.Fault{
		{At: 10 * sec, For: 10 * sec, Kind: scenario.KindPartition, Partition: &scenario.Partition{Isolate: "n5"}},
		{At: 40 * sec, Kind: scenario.KindCrash, Crash: &scenario.Crash{Target: "n4", RestartAfter: 3 * sec}},
	}
	for i, want := range []time.Duration{commit, commit, commit, commit, 20 * sec} {
		if got := r.boundStart(i, commit, within); got != want {
			t.Errorf("n%d: bound starts %v, want %v", i+1, got, want)
		}
	}
	s.Faults = append(s.Faults, scenario.Fault{At: 14 * sec, Kind: scenario.KindCrash, Crash: &scenario.Crash{Target: "n2", RestartAfter: 3 * sec}})
	for i, want := range []time.Duration{17 * sec, 17 * sec, 17 * sec, 17 * sec, 20 * sec} {
		if got := r.boundStart(i, commit, within); got != want {
			t.Errorf("with a replica crash, n%d: bound starts %v, want %v", i+1, got, want)
		}
	}
}
