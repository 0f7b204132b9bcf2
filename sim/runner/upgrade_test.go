package runner

import (
	"strings"
	"testing"

	"github.com/ron-network/ron/sim/scenario"
)

// TestSwapsRunTheClusterVersionGate: in the simulator an upgrade restarts
// a node on a build whose registry reads the test-only entry version 2.
// After rolling_upgrade.yaml (every replica upgraded) the replicas agree
// at cluster version 2; after rolling_downgrade.yaml (two of three
// upgraded, then rolled back) the gate never opened, so they agree at the
// base version and the downgrades were safe.
func TestSwapsRunTheClusterVersionGate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two scenarios")
	}
	for _, tc := range []struct {
		file   string
		raised bool
	}{
		{"../../scenarios/rolling_upgrade.yaml", true},
		{"../../scenarios/rolling_downgrade.yaml", false},
	} {
		s, err := scenario.Load(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		for seed := uint64(1); seed <= 3; seed++ {
			rep, err := Run(s, Options{Seed: seed, AutoVizDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, c := range rep.Checks {
				if !c.OK {
					t.Errorf("%s seed %d: %s failed: %s", tc.file, seed, c.Name, c.Detail)
				}
				if c.Name == "liveness" {
					found = true
					if got := strings.Contains(c.Detail, "cluster version 2"); got != tc.raised {
						t.Errorf("%s seed %d: liveness %q; want cluster version 2 reported: %v", tc.file, seed, c.Detail, tc.raised)
					}
				}
			}
			if !found {
				t.Fatalf("%s seed %d: no liveness check", tc.file, seed)
			}
		}
	}
}
