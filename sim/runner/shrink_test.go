package runner

import (
	"testing"

	"github.com/ron-network/ron/sim/scenario"
)

// slowWindow fails its RPC latency budget only while the network fault is
// on: the shrinker must drop the other faults and keep that one.
const slowWindow = `
name: "overlay of 3: a cut, a slow network window, a crash"
duration: 20s
nodes: {count: 3}
network:
  latency: {p50: 2ms, p99: 20ms}
faults:
  - {at: 2s, for: 1s, partition: {isolate: n1}}
  - {at: 4s, for: 4s, network: {latency: {p50: 400ms, p99: 800ms}}}
  - {at: 9s, crash: n2, restart_after: 1s}
  - {at: 12s, for: 2s, disk: {node: n3, read_error: 0.5}}
checks: [sessions, {slo: {overlay_rpc_latency_seconds: {p99: 0.25}}}]
`

func TestShrinkKeepsTheFaultThatFails(t *testing.T) {
	s, err := scenario.Parse("slow.yaml", []byte(slowWindow))
	if err != nil {
		t.Fatal(err)
	}
	const seed = 3
	rep, err := Run(s, Options{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	check := FirstFailedCheck(rep)
	sig, _ := FailureOf(rep, check)
	if check != "slo" || sig != "overlay_rpc_latency_seconds" {
		t.Fatalf("the ground fails %q (%q), want slo on the RPC latency: %+v", check, sig, rep.Checks)
	}
	runs := 0
	eval := func(cands []*scenario.Scenario) ([]bool, error) {
		out := make([]bool, len(cands))
		for k, c := range cands {
			runs++
			r, err := Run(c, Options{Seed: seed, OnlyCheck: check})
			if err != nil {
				return nil, err
			}
			got, failed := FailureOf(r, check)
			out[k] = failed && got == sig
			if len(r.Checks) != 1 {
				t.Fatalf("OnlyCheck ran %d checks", len(r.Checks))
			}
		}
		return out, nil
	}
	var steps []string
	res, err := Shrink(rep.Recorded, ShrinkOptions{Seed: seed, Check: check, Batch: 3, Eval: eval,
		Progress: func(st ShrinkStep) { steps = append(steps, st.What) }})
	if err != nil {
		t.Fatal(err)
	}
	min := res.Scenario
	if len(min.Faults) != 1 || min.Faults[0].Kind != scenario.KindNetwork {
		t.Fatalf("shrunk to %+v, want the network window alone (steps %v)", min.Faults, steps)
	}
	if min.Duration >= s.Duration || min.Nodes.Count > 2 || res.Steps != len(steps) || res.Tried != runs {
		t.Fatalf("shrunk to %s after %d steps (%v), %d tried, %d runs", ShrinkSize(min), res.Steps, steps, res.Tried, runs)
	}
	again, err := Run(min, Options{Seed: seed})
	if got, _ := FailureOf(again, check); err != nil || got != sig {
		t.Fatalf("the shrunk scenario does not fail %s: %v %+v", check, err, again)
	}
}
