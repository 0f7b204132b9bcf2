package runner

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/ron-network/ron/core/stack"
	"github.com/ron-network/ron/sim/scenario"
)

// TestScenarioSuiteWithEachFlagOff runs every scenario whose nodes run
// the flag's machine with the kill switch thrown on every node (rond's
// flags repair and republish): every check of the scenario must pass all
// the same, since turning a flag off must leave the node correct, except
// the one property the flag's path exists for. Repair off waives
// convergence (every placement node holding every acknowledged object,
// i.e. R restored after churn, is what repair does); durability,
// integrity, linearizability and liveness still hold.
func TestScenarioSuiteWithEachFlagOff(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the scenario suite twice")
	}
	files, err := filepath.Glob("../../scenarios/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	flags := []struct {
		name    string
		service stack.Optional
		opts    func(*Options)
		waived  string // the check the flag's path exists for ("": none)
	}{
		{"repair", stack.Storage, func(o *Options) { o.RepairOff = true }, "convergence"},
		{"republish", stack.DHT, func(o *Options) { o.RepublishOff = true }, ""},
	}
	for _, file := range files {
		s, err := scenario.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		off := newCluster(s, Options{}).off()
		for _, flag := range flags {
			if off.Has(flag.service) {
				continue // the flag's machine does not run in this scenario
			}
			t.Run(filepath.Base(file)+"/"+flag.name+"_off", func(t *testing.T) {
				seed := uint64(1)
				if s.Seed != nil {
					seed = *s.Seed
				}
				opts := Options{Seed: seed, AutoVizDir: t.TempDir()}
				flag.opts(&opts)
				started := time.Now()
				rep, err := Run(s, opts)
				if err != nil {
					t.Fatal(err)
				}
				checked := 0
				for _, c := range rep.Checks {
					if c.Name == flag.waived {
						t.Logf("waived with %s off: %s ok=%v: %s", flag.name, c.Name, c.OK, c.Detail)
						continue
					}
					checked++
					if !c.OK {
						t.Errorf("check %s failed with %s off: %s (replay: ronsim run %s --seed %d)", c.Name, flag.name, c.Detail, file, seed)
					}
				}
				if checked == 0 {
					t.Fatal("no check ran")
				}
				t.Logf("%s with %s off: %d events in %v", filepath.Base(file), flag.name, rep.Events, time.Since(started).Round(time.Millisecond))
			})
		}
	}
}
