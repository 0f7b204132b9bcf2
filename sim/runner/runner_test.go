package runner_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ron-network/ron/sim/runner"
	"github.com/ron-network/ron/sim/scenario"
)

// Small overlay scenarios: a few nodes, no registry, so each run takes
// milliseconds.
const overlaySplit = `
name: "overlay: split 1|2 of 3 for 3s, sessions recover"
duration: 10s
nodes: {count: 3}
network:
  latency: {p50: 2ms, p99: 20ms}
faults:
  - {at: 2s, for: 3s, partition: {groups: [[n1], [n2, n3]]}}
  - {at: 6s, crash: random, restart_after: 1s}
checks: [sessions, {slo: {overlay_rpc_latency_seconds: {p99: 1}}}]
`

const overlayRandom = `
name: "overlay: random crashes and isolations of 5"
duration: 40s
nodes: {count: 5}
network:
  latency: {p50: 2ms, p99: 20ms}
faults:
  - {at: 1s, for: 2s, pause: random}
random_faults: {crash_rate: 8, restart_after: 2s, partition_rate: 8, partition_for: 3s}
swarm:
  loss: [0, 0.05]
  reorder: [0, 0.05]
  crash_rate: [4, 10]
checks: [sessions]
`

func parse(t *testing.T, file, text string) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Parse(file, []byte(text))
	if err != nil {
		t.Fatalf("parse %s: %v", file, err)
	}
	return s
}

func run(t *testing.T, s *scenario.Scenario, opts runner.Options) *runner.Report {
	t.Helper()
	rep, err := runner.Run(s, opts)
	if err != nil {
		t.Fatalf("run %s seed %d: %v", s.Source, opts.Seed, err)
	}
	return rep
}

func TestReportFieldsFilledAndStable(t *testing.T) {
	s := parse(t, "testdata/overlay_split.yaml", overlaySplit)
	a := run(t, s, runner.Options{Seed: 3})
	b := run(t, s, runner.Options{Seed: 3})
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(a.TraceHash) {
		t.Fatalf("trace hash %q", a.TraceHash)
	}
	if a.TraceHash != b.TraceHash || a.Events != b.Events {
		t.Fatalf("seed 3 twice: %s/%d vs %s/%d", a.TraceHash, a.Events, b.TraceHash, b.Events)
	}
	if c := run(t, s, runner.Options{Seed: 4}); c.TraceHash == a.TraceHash {
		t.Fatal("seeds 3 and 4 gave the same trace")
	}
	if a.Events == 0 || a.Scenario != s.Name || a.File != s.Source || a.Seed != 3 || a.Nodes != 3 || a.SimSeconds != 10 {
		t.Fatalf("report %+v", a)
	}
	var names []string
	for _, c := range a.Checks {
		names = append(names, c.Name)
		if !c.OK || c.Detail == "" {
			t.Errorf("check %+v", c)
		}
	}
	// The scenario's checks, then the one every run with faults gets.
	if !slices.Equal(names, []string{"sessions", "slo", "faults_bit"}) || !a.OK {
		t.Fatalf("checks %v ok %v, want sessions, slo and faults_bit passing", names, a.OK)
	}
	if a.Replay != runner.ReplayCommand(s.Source, 3, false) {
		t.Fatalf("replay %q", a.Replay)
	}
	sum, ok := a.SLO["overlay_rpc_latency_seconds"]
	if !ok || sum.Count == 0 || sum.P50 > sum.P99 || sum.P99 > sum.Max || sum.Mean <= 0 {
		t.Fatalf("slo summary %+v", a.SLO)
	}
	// The timeline: split at 2s healed at 5s, a crash at 6s restarted at 7s.
	want := []string{"2:partition", "5:heal", "6:crash", "7:restart"}
	if got := faultKeys(a.Faults, 10, false); !slices.Equal(got, want) {
		t.Fatalf("faults %v, want %v", got, want)
	}
	if a.Faults[2].Detail != a.Faults[3].Detail {
		t.Fatalf("crash of %s restarted %s", a.Faults[2].Detail, a.Faults[3].Detail)
	}
}

// faultKeys lists "seconds:kind" (and the detail when withDetail) of the
// fault actions before end seconds.
func faultKeys(faults []runner.FaultReport, end float64, withDetail bool) []string {
	var out []string
	for _, f := range faults {
		if f.AtSeconds >= end {
			continue
		}
		key := fmt.Sprintf("%g:%s", f.AtSeconds, f.Kind)
		if withDetail {
			key += " " + f.Detail
		}
		out = append(out, key)
	}
	return out
}

func TestFailedCheckFailsReport(t *testing.T) {
	text := strings.Replace(overlaySplit, "{p99: 1}", "{p99: 0}", 1)
	s := parse(t, "testdata/overlay_budget_zero.yaml", text)
	rep := run(t, s, runner.Options{Seed: 1})
	if rep.OK {
		t.Fatal("a p99 budget of 0 passed")
	}
	for _, c := range rep.Checks {
		if (c.Name == "slo") == c.OK {
			t.Fatalf("check %+v", c)
		}
	}
	var text2 strings.Builder
	rep.WriteText(&text2)
	if !strings.Contains(text2.String(), "result     FAIL") || !strings.Contains(text2.String(), rep.Replay) {
		t.Fatalf("text report lacks the verdict or the replay command:\n%s", text2.String())
	}
}

// A run with random faults and swarm draws, recorded and replayed without
// randomness, applies the same fault actions at the same times to the same
// nodes.
func TestRecordedScenarioReplaysTheSameFaults(t *testing.T) {
	s := parse(t, "testdata/overlay_random.yaml", overlayRandom)
	first := run(t, s, runner.Options{Seed: 11, Swarm: true})
	if first.Recorded == nil {
		t.Fatal("no recorded scenario")
	}
	data, err := first.Recorded.Marshal()
	if err != nil {
		t.Fatalf("marshal recorded: %v", err)
	}
	replay, err := scenario.Parse("testdata/recorded.yaml", data)
	if err != nil {
		t.Fatalf("recorded scenario does not parse: %v\n%s", err, data)
	}
	if replay.RandomFaults != nil || replay.Swarm != nil {
		t.Fatal("the recorded scenario still draws")
	}
	second := run(t, replay, runner.Options{Seed: 11})
	end := s.Duration.Seconds()
	a, b := faultKeys(first.Faults, end, true), faultKeys(second.Faults, end, true)
	crashes := 0
	for _, k := range a {
		if strings.Contains(k, ":crash ") {
			crashes++
		}
	}
	if crashes == 0 || !slices.ContainsFunc(a, func(k string) bool { return strings.Contains(k, ":isolate ") }) {
		t.Fatalf("the random faults did not fire (need a crash and an isolation): %v", a)
	}
	if !slices.Equal(a, b) {
		t.Fatalf("replayed faults differ:\nrun    %v\nreplay %v\nrecorded:\n%s", a, b, data)
	}
	// The swarm draws are baked into the recorded network section.
	if len(first.Swarm) == 0 || replay.Network.Loss != drawn(first.Swarm, "network.loss") {
		t.Fatalf("recorded loss %v, drawn %v", replay.Network.Loss, first.Swarm)
	}
}

func drawn(draws []runner.Draw, field string) float64 {
	for _, d := range draws {
		if d.Field == field {
			return d.Value
		}
	}
	return -1
}

func TestSwarmDrawsInReport(t *testing.T) {
	s := parse(t, "testdata/overlay_random.yaml", overlayRandom)
	rep := run(t, s, runner.Options{Seed: 2, Swarm: true})
	ranges := map[string][2]float64{"network.loss": {0, 0.05}, "network.reorder": {0, 0.05}, "random_faults.crash_rate": {4, 10}}
	if len(rep.Swarm) != len(ranges) {
		t.Fatalf("draws %v, want one per swarm range", rep.Swarm)
	}
	var fields []string
	for _, d := range rep.Swarm {
		r, ok := ranges[d.Field]
		if !ok || d.Value < r[0] || d.Value >= r[1] {
			t.Fatalf("draw %+v outside its range", d)
		}
		fields = append(fields, d.Field)
	}
	if !slices.IsSorted(fields) {
		t.Fatalf("draws %v not in field order", fields)
	}
	if !strings.HasSuffix(rep.Replay, " --swarm") {
		t.Fatalf("replay of a swarm run %q lacks --swarm", rep.Replay)
	}
	again := run(t, s, runner.Options{Seed: 2, Swarm: true})
	if !slices.Equal(again.Swarm, rep.Swarm) {
		t.Fatal("the same seed drew different values")
	}
	if plain := run(t, s, runner.Options{Seed: 2}); len(plain.Swarm) != 0 || strings.Contains(plain.Replay, "--swarm") {
		t.Fatalf("a run without swarm reports draws %v, replay %q", plain.Swarm, plain.Replay)
	}
}

func TestPreamblePrintsSeedFirstAndEveryFault(t *testing.T) {
	s := parse(t, "testdata/overlay_split.yaml", overlaySplit)
	lines := strings.Split(strings.TrimSpace(runner.Preamble(s, 12345, false)), "\n")
	if !strings.HasPrefix(lines[0], "seed") || !strings.HasSuffix(lines[0], " 12345") {
		t.Fatalf("first line %q, want the seed", lines[0])
	}
	var faults []string
	for _, l := range lines {
		if strings.HasPrefix(l, "fault ") {
			faults = append(faults, l)
		}
	}
	if len(faults) != len(s.Faults) {
		t.Fatalf("%d fault lines for %d faults:\n%s", len(faults), len(s.Faults), strings.Join(lines, "\n"))
	}
	if !strings.Contains(faults[0], "at 2s for 3s") || !strings.Contains(faults[1], "crash random") {
		t.Fatalf("fault lines %q", faults)
	}
	text := strings.Join(lines, "\n")
	for _, want := range []string{s.Name, s.Source, "checks", "sessions", "slo"} {
		if !strings.Contains(text, want) {
			t.Fatalf("preamble lacks %q:\n%s", want, text)
		}
	}

	r := parse(t, "testdata/overlay_random.yaml", overlayRandom)
	swarmed := runner.Preamble(r, 2, true)
	rep := run(t, r, runner.Options{Seed: 2, Swarm: true})
	if !strings.Contains(swarmed, "\nrandom ") || !strings.Contains(swarmed, "\nswarm ") {
		t.Fatalf("preamble of a swarm run lacks random faults or draws:\n%s", swarmed)
	}
	for _, d := range rep.Swarm {
		if !strings.Contains(swarmed, d.Field+"=") {
			t.Fatalf("preamble lacks draw %s:\n%s", d.Field, swarmed)
		}
	}
	if strings.Contains(runner.Preamble(r, 2, false), "\nswarm ") {
		t.Fatal("preamble without swarm prints draws")
	}
}

func TestReplayCommand(t *testing.T) {
	if got, want := runner.ReplayCommand("scenarios/x.yaml", 42, false), "go run ./cmd/ronsim run scenarios/x.yaml --seed 42"; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
	if got, want := runner.ReplayCommand("a.yaml", 18446744073709551615, true), "go run ./cmd/ronsim run a.yaml --seed 18446744073709551615 --swarm"; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
}
