//go:build canary

package runner_test

import (
	"strings"
	"testing"

	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/sim/runner"
)

// A normal build has no way to make a node panic from a scenario (that
// would be a bug), so the report of a node panic is tested in canary
// builds: a registry that skips its syncs loses its raft log in a crash,
// and raft panics when the leader's commit index is past the log's end.
//
//	go test -tags canary ./sim/runner -run TestNodePanicIsAFailedCheck
func TestNodePanicIsAFailedCheck(t *testing.T) {
	s := parse(t, "testdata/follower_crash.yaml", `
name: "registry of 3: a follower crashes and loses its unsynced log"
duration: 5s
nodes: {count: 3, registry_replicas: 3}
workload: {clients: 4, rate: 200/s, stop: 4s, names: 4, mix: {claim: 0.2, set: 1}}
faults:
  - {at: 3s, crash: n2, restart_after: 200ms}
`)
	// Seed 2: where the lost log meets a heartbeat whose commit index is
	// past it (on seed 1 the bug is caught by a check before any panic,
	// since the leader's appends went out before its own sync).
	const seed = 2
	good := run(t, s, runner.Options{Seed: seed})
	if !good.OK || good.Error != "" {
		t.Fatalf("the correct registry failed: %s %+v", good.Error, good.Checks)
	}
	rep := run(t, s, runner.Options{Seed: seed, RegistryBug: registry.Bug{SkipSync: true}})
	if rep.OK || !strings.Contains(rep.Error, "panicked") {
		t.Fatalf("ok %v error %q, want a node panic", rep.OK, rep.Error)
	}
	// The lost log is reported twice: by synced_writes at the restart
	// that found it, naming the first acknowledged write no majority
	// holds, and then by the panic it led to.
	if len(rep.Checks) != 2 || rep.Checks[0].Name != "synced_writes" || rep.Checks[0].OK ||
		!strings.Contains(rep.Checks[0].Detail, "at the restart of n2") || !strings.Contains(rep.Checks[0].Detail, "acknowledged at") {
		t.Fatalf("checks %+v, want a failed synced_writes check naming the write, then no_panic", rep.Checks)
	}
	if c := rep.Checks[1]; c.Name != "no_panic" || c.OK || c.Detail != rep.Error {
		t.Fatalf("checks %+v, want a failed no_panic check after synced_writes", rep.Checks)
	}
	if rep.TraceHash == "" || rep.Events == 0 || rep.Replay == "" {
		t.Fatalf("a failed run must still report its trace and replay: %+v", rep)
	}
	var text strings.Builder
	rep.WriteText(&text)
	if !strings.Contains(text.String(), "FAIL no_panic") || !strings.Contains(text.String(), "FAIL synced_writes") || !strings.Contains(text.String(), "replay     "+rep.Replay) {
		t.Fatalf("text report:\n%s", text.String())
	}
}
