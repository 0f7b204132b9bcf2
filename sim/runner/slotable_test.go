package runner_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ron-network/ron/sim/runner"
	"github.com/ron-network/ron/specs/slo"
)

// overlayCalm has no fault at all, so the fault-free objectives are judged.
const overlayCalm = `
name: "overlay: three nodes, no faults"
duration: 10s
nodes: {count: 3}
network:
  latency: {p50: 2ms, p99: 20ms}
checks: [sessions, slo]
`

// Every seed SLO has a row in every report, text and JSON; a figure the
// run observed is judged only when the run's conditions make it
// meaningful, and what cannot be measured says why.
func TestSLOTableNamesEverySeedSLO(t *testing.T) {
	faulty := run(t, parse(t, "split.yaml", overlaySplit), runner.Options{Seed: 1})
	calm := run(t, parse(t, "calm.yaml", overlayCalm), runner.Options{Seed: 1})
	for _, rep := range []*runner.Report{faulty, calm} {
		if len(rep.SLOTable) != len(slo.Seed) {
			t.Fatalf("%d SLO rows for %d seed SLOs", len(rep.SLOTable), len(slo.Seed))
		}
		var text bytes.Buffer
		rep.WriteText(&text)
		data, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		for i, row := range rep.SLOTable {
			o := slo.Seed[i]
			if row.Name != o.Name || row.Budget != o.Bound || row.Verdict == "" {
				t.Fatalf("row %d: %+v for objective %+v", i, row, o)
			}
			if row.Verdict != runner.VerdictPass && row.Verdict != runner.VerdictFail && row.Why == "" {
				t.Fatalf("%s: %s without a why", row.Name, row.Verdict)
			}
			if (row.Observed == nil) != (row.Verdict == runner.VerdictNotMeasured) {
				t.Fatalf("%s: observed %v with verdict %s", row.Name, row.Observed, row.Verdict)
			}
			if !strings.Contains(text.String(), "\n  "+row.Name+" ") || !bytes.Contains(data, []byte(`"name":"`+row.Name+`"`)) {
				t.Fatalf("%s is missing from the text or JSON report", row.Name)
			}
		}
	}
	want := map[string][2]string{ // objective: verdict under faults, without
		"overlay_rpc_p99":         {runner.VerdictPass, runner.VerdictPass},
		"overlay_reconnect_rate":  {runner.VerdictNotChecked, runner.VerdictPass},
		"bus_publish_p95":         {runner.VerdictNotMeasured, runner.VerdictNotMeasured},
		"dht_lookup_p95":          {runner.VerdictNotMeasured, runner.VerdictNotMeasured},
		"omnigate_queue_wait_p95": {runner.VerdictNotMeasured, runner.VerdictNotMeasured},
	}
	for i, row := range faulty.SLOTable {
		w, ok := want[row.Name]
		if !ok {
			continue
		}
		if row.Verdict != w[0] || calm.SLOTable[i].Verdict != w[1] {
			t.Errorf("%s: %s under faults (%s), %s without (%s); want %s and %s", row.Name, row.Verdict, row.Why,
				calm.SLOTable[i].Verdict, calm.SLOTable[i].Why, w[0], w[1])
		}
	}
}

// A bare slo check judges the seed SLOs the run makes meaningful: the
// fault-free ones only in a run without faults.
func TestBareSLOCheckJudgesMeaningfulSeedSLOs(t *testing.T) {
	calm := run(t, parse(t, "calm.yaml", overlayCalm), runner.Options{Seed: 1})
	faulty := run(t, parse(t, "split.yaml", strings.Replace(overlaySplit, "{slo: {overlay_rpc_latency_seconds: {p99: 1}}}", "slo", 1)), runner.Options{Seed: 1})
	for _, c := range []struct {
		rep        *runner.Report
		reconnects bool
	}{{calm, true}, {faulty, false}} {
		var slo *runner.CheckResult
		for i := range c.rep.Checks {
			if c.rep.Checks[i].Name == "slo" {
				slo = &c.rep.Checks[i]
			}
		}
		if slo == nil || !slo.OK || !strings.Contains(slo.Detail, "overlay_rpc_p99") ||
			strings.Contains(slo.Detail, "overlay_reconnect_rate") != c.reconnects {
			t.Fatalf("%s: slo check %+v; want a pass naming overlay_rpc_p99, and overlay_reconnect_rate only without faults", c.rep.Scenario, slo)
		}
	}
}
