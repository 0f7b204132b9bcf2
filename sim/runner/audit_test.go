package runner

import (
	"path/filepath"
	"strings"
	"testing"

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
