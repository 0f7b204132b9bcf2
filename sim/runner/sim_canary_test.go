//go:build canary

package runner

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/ron-network/ron/sim"
	"github.com/ron-network/ron/sim/scenario"
)

// canaryRow is one line of the table `make canary` prints.
type canaryRow struct {
	variant, layer, kind, check string
	seeds                       uint64 // seeds needed to catch it (0: missed)
	without                     string // what happened with the fault kind off
}

// canaryRows collects the rows of every canary test of the run; TestMain
// prints them.
var canaryRows []canaryRow

// TestMain prints the table of canary rows to stdout, and to the file
// named by CANARY_TABLE when set (`make canary` prints that file: go test
// hides a passing package's output).
func TestMain(m *testing.M) {
	code := m.Run()
	if len(canaryRows) > 0 {
		var b strings.Builder
		sort.SliceStable(canaryRows, func(a, b int) bool { return canaryRows[a].layer < canaryRows[b].layer })
		fmt.Fprintf(&b, "%-30s %-10s %-22s %-16s %-6s %s\n", "variant", "layer", "fault kind", "caught by", "seeds", "without the bug or the kind")
		for _, r := range canaryRows {
			seeds := fmt.Sprint(r.seeds)
			if r.seeds == 0 {
				seeds = "MISSED"
			}
			fmt.Fprintf(&b, "%-30s %-10s %-22s %-16s %-6s %s\n", r.variant, r.layer, r.kind, r.check, seeds, r.without)
		}
		fmt.Fprintf(&b, "%d canary variants, each tried on seeds 1..%d\n", len(canaryRows), CanarySeedsMax)
		fmt.Print("\n" + b.String())
		if path := os.Getenv("CANARY_TABLE"); path != "" {
			if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, "canary table:", err)
				code = 1
			}
		}
	}
	os.Exit(code)
}

// simCanaryGround is a small registry cluster (so disks see reads, writes
// and syncs) with one fault window, given as a YAML fragment. The window
// opens at 3s and the run ends quiet.
func simCanaryGround(network, disk, faults string) string {
	return fmt.Sprintf(`
name: "sim canary ground"
duration: 14s
nodes: {count: 3, registry_replicas: 3}
network: {latency: {p50: 2ms, p99: 10ms}%s}
%s
workload: {clients: 4, rate: 200/s, timeout: 2s, stop: 12s, names: 4, mix: {claim: 0.1, set: 0.6, resolve: 0.3}}
faults:
%s
checks: [linearizable]
`, network, disk, faults)
}

// simContentGround is simCanaryGround for a content workload (storage
// reads its disk on every get; the registry hardly reads after start).
func simContentGround(faults string) string {
	return fmt.Sprintf(`
name: "sim canary ground (content)"
duration: 14s
nodes: {count: 3}
network: {latency: {p50: 2ms, p99: 10ms}}
workload: {clients: 4, rate: 100/s, timeout: 5s, stop: 12s, mix: {put: 0.3, get: 0.7}, objects: {count: 20, size_min: 1KiB, size_max: 64KiB}}
faults:
%s
checks: [integrity]
`, faults)
}

// TestSimCanary proves the fault-effect accounting catches a simulator that
// stopped biting: each variant (sim.Bug, honoured only in canary builds)
// must fail faults_bit within CanarySeedsMax seeds of a ground that uses its
// fault kind, the correct simulator must pass those seeds, and the variant
// must pass them when that one kind is off (the ground without it), so it
// is caught only with that kind on.
func TestSimCanary(t *testing.T) {
	// Crashes at odd instants, so some land between a write and its sync.
	const crashes = `  - {at: 2013ms, crash: n1, restart_after: 500ms}
  - {at: 3517ms, crash: n2, restart_after: 500ms}
  - {at: 4731ms, crash: n3, restart_after: 500ms}
  - {at: 6093ms, crash: n1, restart_after: 500ms}
  - {at: 7377ms, crash: n2, restart_after: 500ms}
  - {at: 8859ms, crash: n3, restart_after: 500ms}`
	cases := []struct {
		bug               sim.Bug
		name, kind        string
		network, disk     string // network "content": the content ground
		faults, faultsOff string
	}{
		{sim.BugIsolateLeaks, "IsolateLeaks", "partition (isolate)", "", "", "  - {at: 3s, for: 4s, partition: {isolate: n1}}", ""},
		{sim.BugSplitLeaks, "SplitLeaks", "partition (split)", "", "", "  - {at: 3s, for: 4s, partition: {groups: [[n1], [n2, n3]]}}", ""},
		{sim.BugOneWayLeaks, "OneWayLeaks", "one-way partition", "", "", "  - {at: 3s, for: 4s, partition: {one_way: {from: [n1], to: [n2, n3]}}}", ""},
		{sim.BugBridgeLeaks, "BridgeLeaks", "bridge", "", "", "  - {at: 3s, for: 4s, partition: {bridge: {left: [n1], right: [n3], via: n2}}}", ""},
		{sim.BugNoLoss, "NoLoss", "loss", "", "", "  - {at: 3s, for: 4s, network: {loss: 0.1}}", ""},
		{sim.BugNoDuplicate, "NoDuplicate", "duplication", "", "", "  - {at: 3s, for: 4s, network: {duplicate: 0.1}}", ""},
		{sim.BugNoReorder, "NoReorder", "reordering", "", "", "  - {at: 3s, for: 4s, network: {reorder: 0.1}}", ""},
		{sim.BugClockIgnored, "ClockIgnored", "clock drift", "", "", "  - {at: 3s, for: 4s, clock: {node: n2, drift: 0.3}}", "  - {at: 3s, for: 1s, pause: n3}"},
		{sim.BugPauseIgnored, "PauseIgnored", "pause", "", "", "  - {at: 3s, for: 2s, pause: n2}", ""},
		{sim.BugCrashKeepsUnsynced, "CrashKeepsUnsynced", "lost unsynced write", "", "", crashes, ""},
		{sim.BugNoCorruptRead, "NoCorruptRead", "read corruption", "content", "", "  - {at: 1s, for: 10s, disk: {node: all, corrupt_read: 0.2}}", ""},
		{sim.BugNoCorruptWrite, "NoCorruptWrite", "write corruption", "", "", "  - {at: 1s, for: 10s, disk: {node: n3, corrupt_write: 0.5}}", ""},
		{sim.BugNoReadError, "NoReadError", "read error", "content", "", "  - {at: 1s, for: 10s, disk: {node: all, read_error: 0.2}}", ""},
		{sim.BugNoWriteError, "NoWriteError", "write error", "", "", "  - {at: 1s, for: 10s, disk: {node: n3, write_error: 0.5}}", ""},
		{sim.BugFullIgnored, "FullIgnored", "full disk", "", "", "  - {at: 3s, for: 3s, disk: {node: n3, full: true}}", ""},
		// Every crash keeps its unsynced writes and tears the last one
		// (torn_write 1, unsynced_survive 1 over the crashes).
		{sim.BugTornIgnored, "TornIgnored", "torn write", "", "", crashes + `
  - {at: 1s, for: 9s, disk: {node: all, unsynced_survive: 1, torn_write: 1}}`, crashes + `
  - {at: 1s, for: 9s, disk: {node: all, unsynced_survive: 1}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ground := func(faults string) string { return simCanaryGround("", "", faults) }
			if c.network == "content" {
				ground = simContentGround
			}
			on := parseCanary(t, ground(c.faults))
			seed, detail := firstSimCaught(t, on, c.bug)
			row := canaryRow{variant: "sim." + c.name, layer: "simulator", kind: c.kind, check: "faults_bit", seeds: seed}
			if seed == 0 {
				canaryRows = append(canaryRows, row)
				t.Fatalf("%s not caught over seeds 1..%d", c.name, CanarySeedsMax)
			}
			// The correct simulator passes faults_bit on the same seeds with
			// the kind on: the failure is the variant's, not the ground's.
			for s := uint64(1); s <= seed; s++ {
				if _, failed := FailureOf(runSimSeed(t, on, s, 0), "faults_bit"); failed {
					t.Fatalf("the correct simulator fails faults_bit on seed %d too", s)
				}
			}
			faultsOff := c.faultsOff
			if faultsOff == "" {
				// A window of another kind, so faults_bit still runs.
				faultsOff = "  - {at: 3s, for: 2s, clock: {node: n3, offset: 1s}}"
			}
			off := parseCanary(t, ground(faultsOff))
			for s := uint64(1); s <= seed; s++ {
				if rep := runSimSeed(t, off, s, c.bug); !rep.OK {
					t.Fatalf("with %s off, seed %d still fails: %s", c.kind, s, failures(rep))
				}
			}
			row.without = fmt.Sprintf("passes seeds 1..%d", seed)
			canaryRows = append(canaryRows, row)
			t.Logf("%s caught at seed %d: %s", c.name, seed, detail)
		})
	}
}

func parseCanary(t *testing.T, text string) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Parse("canary_ground.yaml", []byte(text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	return s
}

func firstSimCaught(t *testing.T, s *scenario.Scenario, bug sim.Bug) (uint64, string) {
	t.Helper()
	for seed := uint64(1); seed <= CanarySeedsMax; seed++ {
		rep := runSimSeed(t, s, seed, bug)
		for _, c := range rep.Checks {
			if c.Name == "faults_bit" && !c.OK {
				return seed, c.Detail
			}
		}
		if !rep.OK {
			t.Logf("seed %d failed only checks that do not count: %s", seed, failures(rep))
		}
	}
	return 0, ""
}

func runSimSeed(t *testing.T, s *scenario.Scenario, seed uint64, bug sim.Bug) *Report {
	t.Helper()
	rep, err := Run(s, Options{Seed: seed, SimBug: bug, AutoVizDir: t.TempDir()})
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	return rep
}
