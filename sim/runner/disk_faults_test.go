package runner

import (
	"testing"

	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/sim/scenario"
)

// TestDiskFaultsDetectedNotServed runs scenarios/disk_faults.yaml at its
// own seed: corruption on a minority of replicas must be detected (the
// registry counts it and fails those replicas) while every check passes
// for the healthy majority. It is the regression test for liveness
// treating a failed replica's "failed" answer as a liveness failure.
func TestDiskFaultsDetectedNotServed(t *testing.T) {
	if testing.Short() {
		t.Skip("a 70s simulated run")
	}
	s, err := scenario.Load("../../scenarios/disk_faults.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(s, Options{Seed: *s.Seed, AutoVizDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Checks {
		if !c.OK {
			t.Errorf("check %s failed: %s", c.Name, c.Detail)
		}
	}
	if n := rep.Counters[registry.MetricCorruption]; n < 1 {
		t.Errorf("%s = %v: the scenario's corruption was never detected, so it tests nothing", registry.MetricCorruption, n)
	}
}
