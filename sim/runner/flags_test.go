package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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
//
// It runs each file's own seed (about 25 s on 2 cores, in make test);
// RON_FLAGS_OFF_SEEDS=N runs the N seeds after it instead (make
// flags-off, in ci-deep with N = 3). The gateway's flags (oap,
// anonymous_reads) have no machine in the simulator: cmd/rond's process
// tests throw them (TestFlagsOnALiveNode, TestOAPFlagOffRefusesOAPAndKeepsHTTP).
func TestScenarioSuiteWithEachFlagOff(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the scenario suite twice")
	}
	extraSeeds := 0
	if v := os.Getenv("RON_FLAGS_OFF_SEEDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("RON_FLAGS_OFF_SEEDS=%q: want a count of seeds >= 1", v)
		}
		extraSeeds = n
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
			base := uint64(1)
			if s.Seed != nil {
				base = *s.Seed
			}
			seeds := []uint64{base}
			if extraSeeds > 0 {
				seeds = seeds[:0]
				for k := 1; k <= extraSeeds; k++ {
					seeds = append(seeds, base+uint64(k))
				}
			}
			for _, seed := range seeds {
				runFlagOff(t, file, s, seed, flag.name, flag.waived, flag.opts)
			}
		}
	}
}

// runFlagOff runs one scenario file at one seed with one flag off.
func runFlagOff(t *testing.T, file string, s *scenario.Scenario, seed uint64, flagName, waived string, set func(*Options)) {
	t.Run(fmt.Sprintf("%s/%s_off/seed%d", filepath.Base(file), flagName, seed), func(t *testing.T) {
		opts := Options{Seed: seed, AutoVizDir: t.TempDir()}
		set(&opts)
		started := time.Now()
		rep, err := Run(s, opts)
		if err != nil {
			t.Fatal(err)
		}
		checked := 0
		for _, c := range rep.Checks {
			if c.Name == waived {
				t.Logf("waived with %s off: %s ok=%v: %s", flagName, c.Name, c.OK, c.Detail)
				continue
			}
			checked++
			if !c.OK {
				t.Errorf("check %s failed with %s off: %s (replay: ronsim run %s --seed %d, with Options.%s)",
					c.Name, flagName, c.Detail, file, seed, map[string]string{"repair": "RepairOff", "republish": "RepublishOff"}[flagName])
			}
		}
		if checked == 0 {
			t.Fatal("no check ran")
		}
		t.Logf("%s with %s off: %d events in %v", filepath.Base(file), flagName, rep.Events, time.Since(started).Round(time.Millisecond))
	})
}
