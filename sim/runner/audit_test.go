package runner

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/sim/scenario"
)

func auditRetentionCheck(t *testing.T, s *scenario.Scenario) CheckResult {
	t.Helper()
	rep, err := Run(s, Options{Seed: *s.Seed})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Checks {
		if c.Name == scenario.CheckAuditRetention {
			return c
		}
	}
	t.Fatalf("no %s check in the report: %+v", scenario.CheckAuditRetention, rep.Checks)
	return CheckResult{}
}

// TestAuditRetentionScenario: scenarios/audit_retention.yaml passes on its
// seed, and the same run without its age bound (retention never fires)
// fails: the check observes retention rather than passing vacuously.
func TestAuditRetentionScenario(t *testing.T) {
	s, err := scenario.Load(filepath.Join("..", "..", "scenarios", "audit_retention.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c := auditRetentionCheck(t, s); !c.OK || !strings.Contains(c.Detail, "dropped by retention") {
		t.Fatalf("the scenario's check: %+v", c)
	}
	s = s.Clone()
	s.Audit.RetainAge = 0
	if c := auditRetentionCheck(t, s); c.OK || !strings.Contains(c.Detail, "retention dropped nothing") {
		t.Fatalf("without an age bound the check: %+v; want a failure saying retention dropped nothing", c)
	}
}

func parseAudit(t *testing.T, yaml string) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Parse("audit.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAuditRetentionSeqReused: a crash 4ms after an append (disk latency
// 1ms: acknowledged, chained, not yet synced) loses it, and the restarted
// node acknowledges a later append with the same seq. The check reports
// the earlier append as lost rather than keeping only the later ack.
func TestAuditRetentionSeqReused(t *testing.T) {
	s := parseAudit(t, `name: seq reused
duration: 1h45m
seed: 1
nodes: {count: 1}
disk: {latency: 1ms}
faults:
  - {at: 1h20m4ms, crash: n1, restart_after: 10s}
audit: {retain_age: 1h, rate: 2/s}
checks: [audit_retention]
`)
	c := auditRetentionCheck(t, s)
	if c.OK || !strings.Contains(c.Detail, "acknowledged again for") {
		t.Fatalf("the check: %+v; want a failure naming an acknowledged append whose seq was reused", c)
	}
}

// TestAuditPausedNodeSkipped: appends at the highest rate to a node paused
// for longer than sim.RequestsPendingMax appends take are not sent while
// it is paused (rond's gateway appends nothing while stopped), so the run
// completes instead of panicking on too many requests pending.
func TestAuditPausedNodeSkipped(t *testing.T) {
	s := parseAudit(t, `name: long pause at the highest rate
duration: 110s
seed: 1
nodes: {count: 1}
faults:
  - {at: 1s, for: 108s, pause: n1}
audit: {rate: 10000/s}
`)
	rep, err := Run(s, Options{Seed: *s.Seed})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("the run failed: %+v", rep.Checks)
	}
}

// TestAuditEvery: the interval between appends saturates instead of
// overflowing to a negative Duration (which became one append per ns).
func TestAuditEvery(t *testing.T) {
	for _, tc := range []struct {
		rate float64
		want time.Duration
	}{
		{2, 500 * time.Millisecond},
		{scenario.AuditRateMax, 100 * time.Microsecond},
		{scenario.AuditRateMin, scenario.DurationMax},
		{1e-20, math.MaxInt64},
		{0, math.MaxInt64},
	} {
		if got := auditEvery(tc.rate); got != tc.want {
			t.Errorf("auditEvery(%g) = %v, want %v", tc.rate, got, tc.want)
		}
	}
}
