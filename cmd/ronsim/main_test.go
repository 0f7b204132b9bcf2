package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/sim/scenario"
)

// ronsim is the binary TestMain builds; the tests run it as a subprocess
// from the repository root, as a user would.
var ronsim string

const repoRoot = "../.."

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ronsim-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ronsim = filepath.Join(dir, "ronsim")
	build := exec.Command("go", "build", "-o", ronsim, ".")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building ronsim:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

func ronsimRun(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(ronsim, args...)
	cmd.Dir = repoRoot
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("ronsim %v: %v", args, err)
	}
	return r
}

func expectCode(t *testing.T, r result, code int, args ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("ronsim %v exited %d, want %d\nstdout:\n%s\nstderr:\n%s", args, r.code, code, r.stdout, r.stderr)
	}
}

// writeScenario writes text into a temp file and returns its absolute path.
func writeScenario(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const smallRegistry = `name: "registry of 3 under a light workload, a follower crashes"
duration: 5s
seed: 3
nodes: {count: 3, registry_replicas: 3}
workload: {clients: 2, rate: 50/s, timeout: 1s, stop: 4s, names: 4, mix: {claim: 0.2, set: 0.4, resolve: 0.3, stale_resolve: 0.1}}
faults:
  - {at: 2s, crash: n3, restart_after: 500ms}
  - {at: 1s, for: 1s, partition: {isolate: n2}}
checks: [linearizable]
`

func TestHelp(t *testing.T) {
	for _, arg := range []string{"help", "-h", "--help"} {
		r := ronsimRun(t, arg)
		expectCode(t, r, 0, arg)
		for _, want := range []string{"Examples:", "ronsim run scenarios/", "ronsim explore", "--from default 1", "--workers default one per CPU", "ronsim determinism", "Exit status"} {
			if !strings.Contains(r.stdout, want) {
				t.Fatalf("ronsim %s lacks %q:\n%s", arg, want, r.stdout)
			}
		}
	}
	expectCode(t, ronsimRun(t), 2)
	r := ronsimRun(t, "frobnicate")
	expectCode(t, r, 2, "frobnicate")
	if !strings.Contains(r.stderr, `unknown command "frobnicate"`) {
		t.Fatalf("stderr %q", r.stderr)
	}
}

func TestRunPasses(t *testing.T) {
	r := ronsimRun(t, "run", "scenarios/overlay_partition.yaml")
	expectCode(t, r, 0, "run")
	if !strings.HasPrefix(r.stdout, "seed ") {
		t.Fatalf("the text report does not start with the seed:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "result     PASS") || strings.Contains(r.stdout, "replay") {
		t.Fatalf("a passing run's report:\n%s", r.stdout)
	}
}

func TestRunJSONFields(t *testing.T) {
	r := ronsimRun(t, "run", "scenarios/overlay_partition.yaml", "--json", "--seed", "5")
	expectCode(t, r, 0, "run --json")
	var rep map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, r.stdout)
	}
	for _, key := range []string{"scenario", "seed", "trace_hash", "sim_seconds", "wall_seconds", "speedup",
		"events", "events_per_second", "faults", "checks", "ok", "slo"} {
		if _, ok := rep[key]; !ok {
			t.Errorf("--json lacks %q", key)
		}
	}
	var typed struct {
		Scenario  string  `json:"scenario"`
		Seed      uint64  `json:"seed"`
		TraceHash string  `json:"trace_hash"`
		Sim       float64 `json:"sim_seconds"`
		Events    uint64  `json:"events"`
		OK        bool    `json:"ok"`
		Faults    []struct {
			Kind string `json:"kind"`
		} `json:"faults"`
		Checks []map[string]any          `json:"checks"`
		SLO    map[string]map[string]any `json:"slo"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &typed); err != nil {
		t.Fatal(err)
	}
	if typed.Seed != 5 || typed.Sim != 60 || typed.Events == 0 || !typed.OK || len(typed.TraceHash) != 64 || len(typed.Faults) == 0 {
		t.Fatalf("report %+v", typed)
	}
	for _, c := range typed.Checks {
		if _, ok := c["name"].(string); !ok || len(c) != 3 {
			t.Fatalf("check %v, want {name, ok, detail}", c)
		}
		if _, ok := c["ok"].(bool); !ok {
			t.Fatalf("check %v", c)
		}
		if _, ok := c["detail"].(string); !ok {
			t.Fatalf("check %v", c)
		}
	}
	slo, ok := typed.SLO["overlay_rpc_latency_seconds"]
	if !ok {
		t.Fatalf("slo %v lacks overlay_rpc_latency_seconds", typed.SLO)
	}
	for _, stat := range []string{"count", "mean", "p50", "p95", "p99", "max"} {
		if _, ok := slo[stat].(float64); !ok {
			t.Fatalf("slo summary %v lacks %s", slo, stat)
		}
	}
}

func TestBadInputExits2(t *testing.T) {
	bad := writeScenario(t, "bad.yaml", "name: \"x\"\nduration: 10s\nnodes: {count: 3}\nbogus_key: 1\n")
	r := ronsimRun(t, "run", bad)
	expectCode(t, r, 2, "run bad.yaml")
	if !strings.Contains(r.stderr, bad+":4:") || !strings.Contains(r.stderr, "bogus_key") {
		t.Fatalf("stderr %q, want %s:4: naming bogus_key", r.stderr, bad)
	}
	for _, args := range [][]string{
		{"run", filepath.Join(t.TempDir(), "missing.yaml")},
		{"run", "scenarios/overlay_partition.yaml", "--nope"},
		{"run", "scenarios/overlay_partition.yaml", "--seed", "abc"},
		{"run"},
		{"run", "scenarios/overlay_partition.yaml", "scenarios/partition.yaml"},
		{"explore", "scenarios/overlay_partition.yaml", "--shard", "3/2"},
		{"explore", "scenarios/overlay_partition.yaml", "--workers", "0"},
		{"determinism"},
	} {
		r := ronsimRun(t, args...)
		expectCode(t, r, 2, args...)
		if r.stderr == "" {
			t.Fatalf("ronsim %v exited 2 without saying why", args)
		}
	}
}

// overlayBudgetZero is overlay_partition.yaml with an RPC latency budget
// no run can meet.
func overlayBudgetZero(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "scenarios/overlay_partition.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(data), "p99: 0.15}", "p99: 0}", 1)
	if text == string(data) {
		t.Fatal("overlay_partition.yaml no longer has the p99 budget this test edits")
	}
	return writeScenario(t, "budget_zero.yaml", text)
}

func TestFailingCheckExits1WithReplay(t *testing.T) {
	path := overlayBudgetZero(t)
	r := ronsimRun(t, "run", path, "--seed", "9")
	expectCode(t, r, 1, "run budget_zero.yaml")
	want := "replay     go run ./cmd/ronsim run " + path + " --seed 9"
	if !strings.Contains(r.stdout, "FAIL slo") || !strings.Contains(r.stdout, want) {
		t.Fatalf("stdout lacks the failed check or %q:\n%s", want, r.stdout)
	}
}

func TestRunWritesTraceHistoryAndRecord(t *testing.T) {
	path := writeScenario(t, "small_registry.yaml", smallRegistry)
	out := t.TempDir()
	trace := filepath.Join(out, "nested", "trace.jsonl")
	history := filepath.Join(out, "history.jsonl")
	record := filepath.Join(out, "record.yaml")
	// A seed other than the file's: the record must carry the run's seed.
	r := ronsimRun(t, "run", path, "--seed", "4", "--trace", trace, "--history", history, "--record", record, "--json")
	expectCode(t, r, 0, "run --trace --history --record")

	var rep struct {
		Events    uint64 `json:"events"`
		TraceHash string `json:"trace_hash"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	traceLines := jsonLines(t, trace)
	if uint64(len(traceLines)) != rep.Events {
		t.Fatalf("%d trace lines for %d events in the report", len(traceLines), rep.Events)
	}
	for _, key := range []string{"i", "t", "node", "kind", "h"} {
		if _, ok := traceLines[0][key]; !ok {
			t.Fatalf("trace line %v lacks %q", traceLines[0], key)
		}
	}
	historyLines := jsonLines(t, history)
	if len(historyLines) == 0 {
		t.Fatal("empty history")
	}
	for _, key := range []string{"client", "op", "name", "input", "output", "call", "return"} {
		if _, ok := historyLines[0][key]; !ok {
			t.Fatalf("history line %v lacks %q", historyLines[0], key)
		}
	}
	rec, err := scenario.Load(record)
	if err != nil {
		t.Fatalf("--record file does not parse: %v", err)
	}
	kinds := map[string]bool{}
	for _, f := range rec.Faults {
		kinds[f.Kind] = true
	}
	if len(rec.Faults) != 2 || !kinds[scenario.KindCrash] || !kinds[scenario.KindPartition] {
		t.Fatalf("recorded faults %+v, want the crash and the partition", rec.Faults)
	}
	// The record replays the run with no flags: same seed, same trace.
	replay := ronsimRun(t, "run", record, "--json")
	expectCode(t, replay, 0, "run "+record)
	var again struct {
		TraceHash string `json:"trace_hash"`
	}
	if err := json.Unmarshal([]byte(replay.stdout), &again); err != nil {
		t.Fatal(err)
	}
	if again.TraceHash != rep.TraceHash {
		t.Fatalf("recorded file replays trace %s, the run was %s", again.TraceHash, rep.TraceHash)
	}
}

func jsonLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: line %d: %v", path, len(out)+1, err)
		}
		out = append(out, m)
	}
	return out
}

type exploreSummary struct {
	Scenario       string  `json:"scenario"`
	File           string  `json:"file"`
	Swarm          bool    `json:"swarm"`
	From           uint64  `json:"from"`
	Seeds          uint64  `json:"seeds"`
	Shard          string  `json:"shard"`
	SeedsRun       uint64  `json:"seeds_run"`
	Events         uint64  `json:"events"`
	WallSeconds    float64 `json:"wall_seconds"`
	SeedsPerSecond float64 `json:"seeds_per_second"`
	OK             bool    `json:"ok"`
	Workers        int     `json:"workers"`
	Replay         string  `json:"replay"`
	Failure        *struct {
		Seed   uint64   `json:"seed"`
		Failed []string `json:"failed"`
	} `json:"failure"`
	Type        string `json:"type"`
	Interrupted bool   `json:"interrupted"`
	Exercised   struct {
		Faults map[string]struct{ Seeds, Actions int } `json:"faults"`
		Checks map[string]struct{ Passed, Failed int } `json:"checks"`
		Drawn  map[string]struct{ Min, Max float64 }   `json:"drawn"`
	} `json:"exercised"`
	// seeds are the per-seed lines before the summary.
	seeds []seedLine
}

type seedLine struct {
	Type   string           `json:"type"`
	Seed   uint64           `json:"seed"`
	OK     bool             `json:"ok"`
	Drawn  []map[string]any `json:"drawn"`
	Faults map[string]int   `json:"faults"`
	Checks []map[string]any `json:"checks"`
	Events uint64           `json:"events"`
}

func explore(t *testing.T, code int, args ...string) exploreSummary {
	t.Helper()
	args = append([]string{"explore"}, append(args, "--json")...)
	r := ronsimRun(t, args...)
	expectCode(t, r, code, args...)
	return parseExplore(t, r.stdout)
}

// parseExplore reads explore --json: one line per seed, then the summary.
func parseExplore(t *testing.T, stdout string) exploreSummary {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var sum exploreSummary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.Type != "summary" {
		t.Fatalf("explore --json last line: %v (type %q)\n%s", err, sum.Type, stdout)
	}
	for _, line := range lines[:len(lines)-1] {
		var s seedLine
		if err := json.Unmarshal([]byte(line), &s); err != nil || s.Type != "seed" {
			t.Fatalf("explore --json seed line %q: %v", line, err)
		}
		sum.seeds = append(sum.seeds, s)
	}
	return sum
}

func TestExploreSummary(t *testing.T) {
	sum := explore(t, 0, "scenarios/overlay_partition.yaml", "--seeds", "4", "--workers", "2")
	if sum.SeedsRun != 4 || sum.Seeds != 4 || sum.From != 1 || sum.Workers != 2 || sum.Shard != "1/1" || !sum.OK {
		t.Fatalf("summary %+v", sum)
	}
	if !sum.Swarm || sum.Events == 0 || sum.WallSeconds <= 0 || sum.SeedsPerSecond <= 0 || sum.Scenario == "" || sum.File != "scenarios/overlay_partition.yaml" {
		t.Fatalf("summary %+v", sum)
	}
	if sum.Failure != nil || sum.Replay != "" {
		t.Fatalf("a passing explore reports a failure: %+v", sum)
	}
	// One line per seed: its draws, faults by kind and checks with figures;
	// the summary adds them up.
	if len(sum.seeds) != 4 {
		t.Fatalf("%d seed lines, want 4", len(sum.seeds))
	}
	seen := map[uint64]bool{}
	partitions := 0
	for _, s := range sum.seeds {
		seen[s.Seed] = true
		if !s.OK || len(s.Drawn) == 0 || len(s.Checks) == 0 || s.Faults["partition"] == 0 || s.Events == 0 {
			t.Fatalf("seed line %+v lacks draws, checks or the scenario's partition", s)
		}
		if d, _ := s.Checks[0]["detail"].(string); d == "" {
			t.Fatalf("seed %d check without figures: %v", s.Seed, s.Checks[0])
		}
		partitions += s.Faults["partition"]
	}
	if len(seen) != 4 {
		t.Fatalf("seeds %v, want 1..4 once each", seen)
	}
	if f := sum.Exercised.Faults["partition"]; f.Seeds != 4 || f.Actions != partitions {
		t.Fatalf("exercised partition %+v, want 4 seeds and %d actions", f, partitions)
	}
	if c := sum.Exercised.Checks["sessions"]; c.Passed != 4 || c.Failed != 0 {
		t.Fatalf("exercised checks %+v", sum.Exercised.Checks)
	}
	if len(sum.Exercised.Drawn) == 0 {
		t.Fatal("no draw ranges in the summary")
	}
}

// SIGINT stops explore: it prints the partial summary of the seeds that
// finished and exits 130.
func TestExploreInterruptPrintsPartialSummary(t *testing.T) {
	cmd := exec.Command(ronsim, "explore", "scenarios/overlay_partition.yaml", "--seeds", "100000", "--workers", "1", "--json")
	cmd.Dir = repoRoot
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1<<16)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var got []string
	select {
	case line := <-lines: // the first seed finished
		got = append(got, line)
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("no seed finished within 30s")
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for line := range lines {
		got = append(got, line)
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 130 {
		t.Fatalf("explore after SIGINT: %v, want exit 130; stderr %s", err, stderr.String())
	}
	sum := parseExplore(t, strings.Join(got, "\n"))
	if !sum.Interrupted || sum.SeedsRun == 0 || sum.SeedsRun >= 100000 || int(sum.SeedsRun) != len(sum.seeds) || !sum.OK {
		t.Fatalf("partial summary %+v after %d seed lines", sum, len(sum.seeds))
	}
	if !strings.Contains(stderr.String(), "interrupted after") {
		t.Fatalf("stderr %q", stderr.String())
	}
}

// Shard K of N runs the seeds at offsets i with i%N == K-1: with --from 1,
// shard 2/2 runs seeds 2, 4, ... and shard 1/2 seeds 1, 3, .... A scenario
// that fails on every seed shows which seed a shard runs first.
func TestExploreShard(t *testing.T) {
	if sum := explore(t, 0, "scenarios/overlay_partition.yaml", "--seeds", "5", "--shard", "2/2", "--workers", "2"); sum.SeedsRun != 2 || sum.Shard != "2/2" {
		t.Fatalf("shard 2/2 of 5 seeds ran %d, want 2 (seeds 2 and 4)", sum.SeedsRun)
	}
	if sum := explore(t, 0, "scenarios/overlay_partition.yaml", "--seeds", "5", "--shard", "1/2", "--workers", "2"); sum.SeedsRun != 3 {
		t.Fatalf("shard 1/2 of 5 seeds ran %d, want 3 (seeds 1, 3 and 5)", sum.SeedsRun)
	}
	failing := overlayBudgetZero(t)
	for shard, seed := range map[string]uint64{"1/2": 1, "2/2": 2, "3/3": 3} {
		sum := explore(t, 1, failing, "--seeds", "6", "--shard", shard, "--workers", "1")
		if sum.OK || sum.Failure == nil || sum.Failure.Seed != seed || sum.SeedsRun != 1 {
			t.Fatalf("shard %s: %+v, want a failure at seed %d first", shard, sum, seed)
		}
		if want := fmt.Sprintf("go run ./cmd/ronsim run %s --seed %d --swarm", failing, seed); sum.Replay != want {
			t.Fatalf("replay %q, want %q", sum.Replay, want)
		}
		if len(sum.Failure.Failed) == 0 || !strings.HasPrefix(sum.Failure.Failed[0], "slo: ") {
			t.Fatalf("failure %+v", sum.Failure)
		}
	}
}

func TestDeterminism(t *testing.T) {
	r := ronsimRun(t, "determinism", "scenarios/overlay_partition.yaml", "--seeds", "2")
	expectCode(t, r, 0, "determinism")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one line per seed:\n%s", r.stdout)
	}
	for i, line := range lines {
		prefix := fmt.Sprintf("ok    scenarios/overlay_partition.yaml seed %d: trace ", i+1)
		if !strings.HasPrefix(line, prefix) || !strings.HasSuffix(line, " events)") {
			t.Fatalf("line %q, want prefix %q", line, prefix)
		}
	}
}

// --viz to a path that cannot be written exits 2 naming the flag, before
// the run; a writable --viz gets the HTML with the faults as windows.
func TestRunVizPath(t *testing.T) {
	path := writeScenario(t, "small_registry.yaml", smallRegistry)
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := ronsimRun(t, "run", path, "--viz", filepath.Join(file, "viz.html"))
	expectCode(t, r, 2, "run --viz under a file")
	if !strings.Contains(r.stderr, "--viz") || strings.Contains(r.stdout, "result") {
		t.Fatalf("stderr %q stdout %q: want a --viz error before any run", r.stderr, r.stdout)
	}
	viz := filepath.Join(t.TempDir(), "viz.html")
	r = ronsimRun(t, "run", path, "--viz", viz)
	expectCode(t, r, 0, "run --viz")
	data, err := os.ReadFile(viz)
	if err != nil || !strings.Contains(string(data), "isolate n2") {
		t.Fatalf("viz %s: %v, %d bytes without the isolate annotation", viz, err, len(data))
	}
}

// The --json registry figures match the liveness check's text.
func TestRunJSONRegistryAgreement(t *testing.T) {
	text := strings.Replace(smallRegistry, "checks: [linearizable]", "checks: [linearizable, {liveness: {within: 5s}}]", 1)
	path := writeScenario(t, "small_registry_live.yaml", text)
	r := ronsimRun(t, "run", path, "--json")
	expectCode(t, r, 0, "run --json")
	var rep struct {
		Registry struct {
			Applied  uint64 `json:"applied_index_max"`
			Agreeing int    `json:"replicas_agreeing"`
			OpsOK    int    `json:"ops_ok"`
			Lincheck string `json:"lincheck_verdict"`
		} `json:"registry"`
		Checks []struct {
			Name   string `json:"name"`
			Detail string `json:"detail"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	var n int
	var applied uint64
	for _, c := range rep.Checks {
		if c.Name == "liveness" {
			if _, err := fmt.Sscanf(c.Detail[strings.Index(c.Detail, "; ")+2:], "%d healthy replicas agree at applied index %d", &n, &applied); err != nil {
				t.Fatalf("liveness detail %q: %v", c.Detail, err)
			}
		}
	}
	if n != 3 || rep.Registry.Agreeing != n || rep.Registry.Applied != applied || applied == 0 {
		t.Fatalf("json registry %+v, text says %d replicas agree at %d", rep.Registry, n, applied)
	}
}

// shrink of a run that fails its RPC latency budget on every seed: the
// faults go, the run shortens, and the minimal file fails alone.
func TestShrinkWritesAFailingMinimalScenario(t *testing.T) {
	failing := overlayBudgetZero(t)
	min := filepath.Join(t.TempDir(), "min.yaml")
	r := ronsimRun(t, "shrink", failing, "--seed", "2", "--swarm", "--workers", "2", "--budget", "60s", "-o", min)
	expectCode(t, r, 0, "shrink")
	for _, want := range []string{"shrunk " + failing + " seed 2 (slo fails)", "minimal  " + min, "replay   go run ./cmd/ronsim run " + min} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("shrink stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "shrink: seed 2 fails slo") || !strings.Contains(r.stderr, "drop faults") {
		t.Fatalf("shrink progress:\n%s", r.stderr)
	}
	s, err := scenario.Load(min)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Faults) != 0 || s.Seed == nil || *s.Seed != 2 || s.Swarm != nil || s.Duration >= 60*time.Second {
		t.Fatalf("minimal scenario: %d faults, seed %v, duration %v", len(s.Faults), s.Seed, s.Duration)
	}
	again := ronsimRun(t, "run", min)
	expectCode(t, again, 1, "run "+min)
	if !strings.Contains(again.stdout, "FAIL slo") {
		t.Fatalf("the minimal scenario does not fail slo:\n%s", again.stdout)
	}
	// A seed that passes has nothing to shrink.
	r = ronsimRun(t, "shrink", "scenarios/overlay_partition.yaml", "--seed", "2", "-o", min)
	expectCode(t, r, 2, "shrink of a passing seed")
}

// RONSIM_CANARY names a canary variant; a normal build says it ignores it
// and runs the correct code; an unknown name is bad input.
func TestCanaryEnvIgnoredOutsideCanaryBuilds(t *testing.T) {
	run := func(value string) result {
		cmd := exec.Command(ronsim, "run", "scenarios/overlay_partition.yaml")
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "RONSIM_CANARY="+value)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		r := result{stdout: stdout.String(), stderr: stderr.String()}
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			r.code = exit.ExitCode()
		}
		return r
	}
	r := run("registry.SkipSync")
	expectCode(t, r, 0, "run with RONSIM_CANARY in a normal build")
	if !strings.Contains(r.stderr, "ignored: not a canary build") {
		t.Fatalf("stderr %q", r.stderr)
	}
	r = run("registry.Bogus")
	expectCode(t, r, 2, "run with an unknown RONSIM_CANARY")
	if !strings.Contains(r.stderr, "unknown variant") {
		t.Fatalf("stderr %q", r.stderr)
	}
}
