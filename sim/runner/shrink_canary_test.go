//go:build canary

package runner

import (
	"testing"

	"github.com/ron-network/ron/sim/scenario"
)

// TestShrinkCanary shrinks a canary's failure: the storage machine that
// acknowledges before its replicas synced, on the power-loss ground (ten
// crashes, every node twice), is caught by durability; the shrinker must
// bring it to at most three faults that still fail durability the same way
// at the same seed, and pass it without the bug. It runs to the shrinker's
// fixed point, with no wall-time budget, so the outcome does not depend on
// the machine's load (a content run is about 0.3 s; the registry's SkipSync
// ground is 40 s a run, too slow to shrink in a test).
func TestShrinkCanary(t *testing.T) {
	s, err := scenario.Load("testdata/canary_content_power_loss.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bug := StorageBugAckBeforeSync
	const check = "durability"
	// Runs of the one check being shrunk: a failing linearizability
	// search would cost the checker's whole budget on every candidate.
	runOnly := func(c *scenario.Scenario, seed uint64, bug StorageBug) *Report {
		rep, err := Run(c, Options{Seed: seed, StorageBug: bug, OnlyCheck: check, AutoVizDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	var seed uint64
	var rep *Report
	for seed = 1; seed <= CanarySeedsMax; seed++ {
		if rep = runOnly(s, seed, bug); FailsCheck(rep, check) {
			break
		}
	}
	if seed > CanarySeedsMax {
		t.Fatalf("%s never failed %s: nothing to shrink", bug, check)
	}
	sig, _ := FailureOf(rep, check)
	failsLikeIt := func(r *Report) bool {
		got, failed := FailureOf(r, check)
		return failed && got == sig
	}
	eval := func(cands []*scenario.Scenario) ([]bool, error) {
		out := make([]bool, len(cands))
		for k, c := range cands {
			out[k] = failsLikeIt(runOnly(c, seed, bug))
		}
		return out, nil
	}
	res, err := Shrink(rep.Recorded, ShrinkOptions{Seed: seed, Check: check, Batch: 1, Eval: eval,
		Progress: func(st ShrinkStep) { t.Logf("%6.1fs %s -> %s", st.Elapsed.Seconds(), st.What, st.Size) }})
	if err != nil {
		t.Fatal(err)
	}
	min := res.Scenario
	t.Logf("seed %d, %s: %s -> %s in %d steps (%d tried)", seed, check, ShrinkSize(rep.Recorded), ShrinkSize(min), res.Steps, res.Tried)
	if len(min.Faults) > 3 {
		t.Fatalf("shrunk to %d faults, want at most 3", len(min.Faults))
	}
	data, err := min.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, err := scenario.Parse("min.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if !failsLikeIt(runOnly(again, seed, bug)) {
		t.Fatalf("the minimal scenario no longer fails %s:\n%s", check, data)
	}
	if FailsCheck(runOnly(again, seed, StorageBugNone), check) {
		t.Fatalf("the minimal scenario fails %s without the bug: it proves nothing:\n%s", check, data)
	}
}
