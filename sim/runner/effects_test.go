package runner

import (
	"strings"
	"testing"

	"github.com/ron-network/ron/sim/scenario"
)

const everyWindow = `
name: "overlay of 3: one window of each measured kind"
duration: 30s
nodes: {count: 3}
network: {latency: {p50: 2ms, p99: 20ms}, duplicate: 0.2}
faults:
  - {at: 2s, for: 3s, partition: {isolate: n1}}
  - {at: 6s, for: 3s, partition: {one_way: {from: [n2], to: [n3]}}}
  - {at: 10s, for: 8s, network: {loss: 0.4, reorder: 0.6}}
  - {at: 19s, for: 2s, pause: n2}
  - {at: 22s, for: 3s, clock: {node: n3, drift: 0.2}}
  - {at: 26s, crash: n1, restart_after: 1s}
checks: [sessions]
`

// Every window of a kind whose effect is certain shows it, and the
// faults_bit check passes on it.
func TestFaultEffectsMeasured(t *testing.T) {
	s, err := scenario.Parse("every.yaml", []byte(everyWindow))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(s, Options{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, e := range rep.FaultEffects {
		if e.Required && !e.Bit {
			t.Errorf("window %+v had no effect", e)
		}
		if e.Required {
			kinds[e.Kind+" "+strings.Fields(e.Target)[0]] = true
		}
	}
	for _, want := range []string{"partition isolate", "partition one-way", "network all", "pause n2", "clock n3", "defaults every"} {
		if !kinds[want] {
			t.Errorf("no required, measured effect for %q: %+v", want, rep.FaultEffects)
		}
	}
	var bit *CheckResult
	for k := range rep.Checks {
		if rep.Checks[k].Name == "faults_bit" {
			bit = &rep.Checks[k]
		}
	}
	if bit == nil || !bit.OK {
		t.Fatalf("faults_bit %+v", bit)
	}
	// A window with no effect fails the check.
	missed := append(rep.FaultEffects[:0:0], rep.FaultEffects...)
	missed[0].Bit = false
	if r := checkFaultsBit(missed); r.OK || !strings.Contains(r.Detail, "had no effect") {
		t.Fatalf("%+v", r)
	}
}
