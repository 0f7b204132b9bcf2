package scenario

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/stack"
)

// Headers for table cases: three lines, so a case's first body line is 4.
const (
	withRegistry = "name: t\nduration: 60s\nnodes: {count: 5, registry_replicas: 3}\n"
	noRegistry   = "name: t\nduration: 60s\nnodes: {count: 5}\n"
)

type wantError struct {
	line  int
	field string
	msg   string // a substring of Msg
}

type badCase struct {
	name string
	text string
	want []wantError
}

func one(line int, field, msg string) []wantError { return []wantError{{line, field, msg}} }

// checkErrors asserts that err lists exactly the wanted errors, in order,
// each located in file "case.yaml" and formatted "file:line: field: msg".
func checkErrors(t *testing.T, err error, want []wantError) {
	t.Helper()
	if err == nil {
		t.Fatalf("Parse accepted the input; want %d error(s), first %+v", len(want), want[0])
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("errors.Is(err, ErrInvalid) is false for %v", err)
	}
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error %T is not an ErrorList: %v", err, err)
	}
	if len(list) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(list), len(want), err)
	}
	for i, w := range want {
		got := list[i]
		if got.File != "case.yaml" || got.Line != w.line || got.Field != w.field || !strings.Contains(got.Msg, w.msg) {
			t.Errorf("error %d = %q\nwant case.yaml:%d: %s: ...%s...", i, got.Error(), w.line, w.field, w.msg)
		}
		prefix := "case.yaml:" + strconv.Itoa(w.line) + ": "
		if w.field != "" {
			prefix += w.field + ": "
		}
		if !strings.HasPrefix(got.Error(), prefix) {
			t.Errorf("error %d text %q does not start with %q", i, got.Error(), prefix)
		}
	}
}

func runBad(t *testing.T, cases []badCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Parse("case.yaml", []byte(c.text))
			if s != nil {
				t.Errorf("Parse returned a scenario along with an error")
			}
			checkErrors(t, err, c.want)
		})
	}
}

func TestParseRejectsStructure(t *testing.T) {
	runBad(t, []badCase{
		{"unknown top key", "nmae: t\nduration: 60s\nnodes: {count: 1}\n", []wantError{
			{1, "nmae", "unknown key"}, {1, "name", "required"}}},
		{"unknown nested key", withRegistry + "network: {lose: 0.1}\n", one(4, "network.lose", "unknown key")},
		{"unknown key in fault kind", withRegistry + "faults:\n  - {at: 1s, for: 1s, partition: {isolte: n1}}\n",
			[]wantError{{5, "faults[0].partition.isolte", "unknown key"}, {5, "faults[0].partition", "needs exactly one of"}}},
		{"duplicate key", withRegistry + "duration: 10s\n", one(4, "duration", "duplicate key")},
		{"missing name", "duration: 60s\nnodes: {count: 1}\n", one(1, "name", "required")},
		{"missing duration", "name: t\nnodes: {count: 1}\n", one(1, "duration", "required")},
		{"missing nodes", "name: t\nduration: 1s\n", one(1, "nodes", "required")},
		{"missing nodes.count", "name: t\nduration: 1s\nnodes: {registry_replicas: 1}\n", one(3, "nodes.count", "required")},
		{"empty value is missing", "name:\nduration: 1s\nnodes: {count: 1}\n", one(1, "name", "required")},
		{"top level not a mapping", "- name: t\n", one(1, "", "want a mapping")},
		{"empty file", "", one(1, "", "empty file")},
		{"two documents", "name: t\nduration: 1s\nnodes: {count: 1}\n---\nname: u\n", one(4, "", "exactly one YAML document")},
		{"alias", "name: &n t\ndescription: *n\nduration: 1s\nnodes: {count: 1}\n", one(1, "", "anchors and aliases")},
		{"non-string key", withRegistry + "network: {1: 2}\n", one(4, "network", "keys must be plain names")},
		{"name with newline", "name: \"a\\nb\"\nduration: 1s\nnodes: {count: 1}\n", one(1, "name", "control character")},
		{"name not a string", "name: 12\nduration: 1s\nnodes: {count: 1}\n", one(1, "name", "want a string")},
	})
}

// TestParseSyntaxError checks that a YAML syntax error is reported as one
// located error. The line is yaml.v3's (it points at the construct that
// failed, sometimes the line before), so only its range is asserted.
func TestParseSyntaxError(t *testing.T) {
	_, err := Parse("case.yaml", []byte("name: t\nduration: [1s\nnodes: {count: 1}\n"))
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 1 {
		t.Fatalf("want one error, got %v", err)
	}
	if e := list[0]; e.Line < 1 || e.Line > 3 || !strings.Contains(e.Msg, "not valid YAML") {
		t.Fatalf("got %v", e)
	}
}

func TestParseRejectsValues(t *testing.T) {
	runBad(t, []badCase{
		{"bare number duration", "name: t\nduration: 60\nnodes: {count: 1}\n", one(2, "duration", "add a unit")},
		{"quoted bare duration", "name: t\nduration: \"1.5\"\nnodes: {count: 1}\n", one(2, "duration", "add a unit")},
		{"bad duration", "name: t\nduration: 60 seconds\nnodes: {count: 1}\n", one(2, "duration", "bad duration")},
		{"zero duration", "name: t\nduration: 0s\nnodes: {count: 1}\n", one(2, "duration", "> 0")},
		{"duration above max", "name: t\nduration: 25h\nnodes: {count: 1}\n", one(2, "duration", "want a duration in 0s..24h")},
		{"negative seed", withRegistry + "seed: -1\n", one(4, "seed", "whole number")},
		{"string seed", withRegistry + "seed: seven\n", one(4, "seed", "whole number")},
		{"zero nodes", "name: t\nduration: 1s\nnodes: {count: 0}\n", one(3, "nodes.count", "1..100000")},
		{"too many nodes", "name: t\nduration: 1s\nnodes: {count: 100001}\n", one(3, "nodes.count", "1..100000")},
		{"even registry", "name: t\nduration: 1s\nnodes: {count: 5, registry_replicas: 4}\n", one(3, "nodes.registry_replicas", "odd")},
		{"registry above count", "name: t\nduration: 1s\nnodes: {count: 3, registry_replicas: 5}\n", one(3, "nodes.registry_replicas", "only 3 nodes")},
		{"registry above max", "name: t\nduration: 1s\nnodes: {count: 9, registry_replicas: 9}\n", one(3, "nodes.registry_replicas", "0..7")},
		{"unknown service off", "name: t\nduration: 1s\nnodes: {count: 3, off: [dht, gateway]}\n", one(3, "nodes.off[1]", "dht, storage, audit")},
		{"off not a list", "name: t\nduration: 1s\nnodes: {count: 3, off: audit}\n", one(3, "nodes.off", "want a list")},
		{"p50 above p99", withRegistry + "network:\n  latency: {p50: 30ms}\n", one(5, "network.latency", "p50 (30ms) is above p99 (20ms)")},
		{"negative latency", withRegistry + "network: {latency: {p50: -1ms}}\n", one(4, "network.latency.p50", "want a duration in 0s..24h")},
		{"loss above 1", withRegistry + "network: {loss: 1.5}\n", one(4, "network.loss", "0..1")},
		{"loss percent", withRegistry + "network: {loss: 10%}\n", one(4, "network.loss", "0..1")},
		{"loss quoted", withRegistry + "network: {loss: \"0.1\"}\n", one(4, "network.loss", "0..1")},
		{"loss nan", withRegistry + "network: {loss: .nan}\n", one(4, "network.loss", "0..1")},
		{"bandwidth bare", withRegistry + "network: {bandwidth: 100}\n", one(4, "network.bandwidth", "add a unit")},
		{"bandwidth bad unit", withRegistry + "network: {bandwidth: 5furlong/s}\n", one(4, "network.bandwidth", "bad bandwidth")},
		{"bandwidth below a byte", withRegistry + "network: {bandwidth: 1bit/s}\n", one(4, "network.bandwidth", "below 1B/s")},
		{"bandwidth above max", withRegistry + "network: {bandwidth: 2TB/s}\n", one(4, "network.bandwidth", "above 1TB/s")},
		{"disk jitter above 1", withRegistry + "disk: {latency_jitter: 2}\n", one(4, "disk.latency_jitter", "0..1")},
		{"disk latency bare", withRegistry + "disk: {latency: 100}\n", one(4, "disk.latency", "add a unit")},
		{"disk unknown key", withRegistry + "disk: {full: true}\n", one(4, "disk.full", "unknown key")},
	})
}

func TestParseRejectsWorkload(t *testing.T) {
	mix := "  mix: {set: 1}\n"
	runBad(t, []badCase{
		{"too many clients", withRegistry + "workload: {clients: 10001}\n", one(4, "workload.clients", "0..10000")},
		{"rate without unit", withRegistry + "workload:\n  clients: 1\n  rate: 200\n" + mix, one(6, "workload.rate", "bad rate")},
		{"rate bad", withRegistry + "workload:\n  clients: 1\n  rate: fast/s\n" + mix, one(6, "workload.rate", "bad rate")},
		{"rate above max", withRegistry + "workload:\n  clients: 1\n  rate: 20000/ms\n" + mix, one(6, "workload.rate", "above")},
		{"rate missing", withRegistry + "workload:\n  clients: 1\n" + mix, one(5, "workload.rate", "required when clients > 0")},
		{"rate zero", withRegistry + "workload:\n  clients: 1\n  rate: 0/s\n" + mix, one(6, "workload.rate", "> 0")},
		{"mix missing", withRegistry + "workload:\n  clients: 1\n  rate: 1/s\n", one(5, "workload.mix", "required when clients > 0")},
		{"mix all zero", withRegistry + "workload:\n  mix: {set: 0}\n", one(5, "workload.mix", "every weight is 0")},
		{"mix negative", withRegistry + "workload:\n  mix: {set: 1, get: -1}\n", one(5, "workload.mix.get", "0..1e+09")},
		{"mix registry op without registry", noRegistry + "workload:\n  mix: {put: 1, claim: 1}\n", one(5, "workload.mix.claim", "registry operation")},
		{"mix session_put negative", noRegistry + "workload:\n  mix: {put: 1, session_put: -1}\n", one(5, "workload.mix.session_put", "0..1e+09")},
		{"mix session_put through the edge", noRegistry + "workload:\n  mix: {session_put: 1}\n  edge: {}\n",
			one(6, "workload.edge", "session_put streams an object in several storage calls")},
		{"sessions_reserved of every session", noRegistry + "workload:\n  edge:\n    limits: {sessions_max: 8, sessions_reserved: 8}\n",
			one(6, "workload.edge.limits.sessions_reserved", "8 leaves no session for a tenant holding one of sessions_max 8")},
		{"sessions_reserved of the default table", noRegistry + "workload:\n  edge:\n    limits: {sessions_reserved: 64}\n",
			one(6, "workload.edge.limits.sessions_reserved", "of sessions_max 64")},
		{"sessions_reserved negative", noRegistry + "workload:\n  edge:\n    limits: {sessions_reserved: -1}\n",
			one(6, "workload.edge.limits.sessions_reserved", "0..65536")},
		{"mix unknown op", withRegistry + "workload:\n  mix: {set: 1, cas: 1}\n", one(5, "workload.mix.cas", "unknown key")},
		{"timeout zero", withRegistry + "workload: {timeout: 0s}\n", one(4, "workload.timeout", "> 0")},
		{"stop after end", withRegistry + "workload:\n  stop: 61s\n", one(5, "workload.stop", "after the end of the run")},
		{"stop before start", withRegistry + "workload:\n  start: 10s\n  stop: 5s\n", one(6, "workload.stop", "must be after start")},
		{"start at default stop", withRegistry + "workload:\n  start: 60s\n", one(5, "workload.start", "not before stop (1m)")},
		{"names zero", withRegistry + "workload: {names: 0}\n", one(4, "workload.names", "1..100000")},
		{"unpins without pins", withRegistry + "workload: {unpins: 0.2}\n", one(4, "workload.unpins", "needs workload.pins")},
		{"unpins above 1", withRegistry + "workload: {pins: 0.5, unpins: 2}\n", one(4, "workload.unpins", "0..1")},
		{"object size unit", withRegistry + "workload:\n  objects: {count: 1, size_max: 4MB}\n", one(5, "workload.objects.size_max", "bad size")},
		{"object size bare", withRegistry + "workload:\n  objects: {count: 1, size_min: 1024}\n", one(5, "workload.objects.size_min", "add a unit")},
		{"object size above max", withRegistry + "workload:\n  objects: {count: 1, size_max: 2GiB}\n", one(5, "workload.objects.size_max", "larger than 1GiB")},
		{"object sizes inverted", withRegistry + "workload:\n  objects: {count: 1, size_min: 2MiB}\n", one(5, "workload.objects", "size_min (2MiB) is above size_max (1MiB)")},
		{"object count missing", withRegistry + "workload:\n  objects: {size_min: 1KiB}\n", one(5, "workload.objects.count", "required")},
	})
}

func TestParseRejectsAdversary(t *testing.T) {
	lies := "  lies: [refuse_chunks]\n"
	runBad(t, []badCase{
		{"liars missing", noRegistry + "adversary:\n" + lies, one(5, "adversary.storage_liars", "required")},
		{"unknown liar", noRegistry + "adversary:\n  storage_liars: [n9]\n" + lies, one(5, "adversary.storage_liars[0]", "unknown node")},
		{"every node lies", noRegistry + "adversary:\n  storage_liars: [n1, n2, n3, n4, n5]\n" + lies, one(5, "adversary.storage_liars", "at least one must be honest")},
		{"lies missing", noRegistry + "adversary:\n  storage_liars: [n5]\n", one(5, "adversary.lies", "required")},
		{"lies empty", noRegistry + "adversary:\n  storage_liars: [n5]\n  lies: []\n", one(6, "adversary.lies", "non-empty list of lies")},
		{"unknown lie", noRegistry + "adversary:\n  storage_liars: [n5]\n  lies: [refuse_chunks, fib]\n", one(6, "adversary.lies[1]", `got "fib"`)},
		{"lie twice", noRegistry + "adversary:\n  storage_liars: [n5]\n  lies: [refuse_chunks, refuse_chunks]\n", one(6, "adversary.lies[1]", "listed twice")},
		{"write-path lie twice", noRegistry + "adversary:\n  storage_liars: [n5]\n  lies: [garbage_push, lying_commit, false_held, false_held]\n", one(6, "adversary.lies[3]", "lie false_held listed twice")},
		{"unknown write-path lie", noRegistry + "adversary:\n  storage_liars: [n5]\n  lies: [garbage_pushes]\n", one(6, "adversary.lies[0]", `garbage_push, lying_commit, false_held, got "garbage_pushes"`)},
		{"rate above 1", noRegistry + "adversary:\n  storage_liars: [n5]\n" + lies + "  rate: 1.5\n", one(7, "adversary.rate", "0..1")},
		{"unknown key", noRegistry + "adversary:\n  storage_liars: [n5]\n" + lies + "  liars: [n4]\n", one(7, "adversary.liars", "unknown key")},
	})
}

func TestParseRejectsFaults(t *testing.T) {
	f := withRegistry + "faults:\n"
	runBad(t, []badCase{
		{"not a list", withRegistry + "faults: {at: 1s}\n", one(4, "faults", "want a list")},
		{"at missing", f + "  - {for: 1s, pause: n1}\n", one(5, "faults[0].at", "required")},
		{"at bare number", f + "  - {at: 10, for: 1s, pause: n1}\n", one(5, "faults[0].at", "add a unit")},
		{"at at end", f + "  - {at: 60s, for: 1s, pause: n1}\n", one(5, "faults[0].at", "not before the end of the run")},
		{"window past end", f + "  - {at: 50s, for: 11s, pause: n1}\n", one(5, "faults[0].for", "window ends at 1m1s")},
		{"for missing", f + "  - {at: 1s}\n  - {at: 1s, pause: n1}\n", []wantError{
			{5, "faults[0]", "needs one fault kind"}, {6, "faults[1].for", "required for a pause fault"}}},
		{"for on crash", f + "  - {at: 1s, for: 1s, crash: n1}\n", one(5, "faults[0].for", "use restart_after")},
		{"restart_after on pause", f + "  - {at: 1s, for: 1s, pause: n1, restart_after: 1s}\n", one(5, "faults[0].restart_after", "only a crash")},
		{"restart past end", f + "  - {at: 58s, crash: n1, restart_after: 3s}\n", one(5, "faults[0].restart_after", "window ends at 1m1s")},
		{"two kinds", f + "  - {at: 1s, for: 1s, pause: n1, crash: n2}\n", one(5, "faults[0]", "has crash and pause")},
		{"unknown node", f + "  - {at: 1s, for: 1s, partition: {isolate: n9}}\n", one(5, "faults[0].partition.isolate", `unknown node "n9" (nodes are n1..n5)`)},
		{"bad node name", f + "  - {at: 1s, crash: n01}\n", one(5, "faults[0].crash", `unknown node "n01"`)},
		{"leader without registry", noRegistry + "faults:\n  - {at: 1s, for: 1s, partition: {isolate: leader}}\n", one(5, "faults[0].partition.isolate", "needs a registry")},
		{"pause all", f + "  - {at: 1s, for: 1s, pause: all}\n", one(5, "faults[0].pause", `unknown node "all"`)},
		{"node in two groups", f + "  - {at: 1s, for: 1s, partition: {groups: [[n1, n2], [n3, n1]]}}\n", one(5, "faults[0].partition.groups[1][1]", "already in faults[0].partition.groups[0]")},
		{"one group of all", f + "  - {at: 1s, for: 1s, partition: {groups: [[n1, n2, n3, n4, n5]]}}\n", one(5, "faults[0].partition.groups", "nothing is cut")},
		{"one_way overlap", f + "  - {at: 1s, for: 1s, partition: {one_way: {from: [n1], to: [n1]}}}\n", one(5, "faults[0].partition.one_way.to[0]", "already in")},
		{"one_way missing to", f + "  - {at: 1s, for: 1s, partition: {one_way: {from: [n1]}}}\n", one(5, "faults[0].partition.one_way.to", "required")},
		{"one_way leader", f + "  - {at: 1s, for: 1s, partition: {one_way: {from: [leader], to: [n2]}}}\n", one(5, "faults[0].partition.one_way.from[0]", `unknown node "leader"`)},
		{"empty list", f + "  - {at: 1s, for: 1s, partition: {one_way: {from: [], to: [n2]}}}\n", one(5, "faults[0].partition.one_way.from", "non-empty list")},
		{"bridge via in side", f + "  - {at: 1s, for: 1s, partition: {bridge: {left: [n1, n2], right: [n4], via: n2}}}\n", one(5, "faults[0].partition.bridge.via", "already in")},
		{"bridge missing via", f + "  - {at: 1s, for: 1s, partition: {bridge: {left: [n1], right: [n4]}}}\n", one(5, "faults[0].partition.bridge.via", "required")},
		{"clock unchanged", f + "  - {at: 1s, for: 1s, clock: {node: n1}}\n", one(5, "faults[0].clock", "neither offset nor drift")},
		{"clock drift", f + "  - {at: 1s, for: 1s, clock: {node: n1, drift: 0.7}}\n", one(5, "faults[0].clock.drift", "-0.5..0.5")},
		{"clock offset", f + "  - {at: 1s, for: 1s, clock: {node: n1, offset: 25h}}\n", one(5, "faults[0].clock.offset", "want a duration in -24h..24h")},
		{"disk node", f + "  - {at: 1s, for: 1s, disk: {node: everyone, full: true}}\n", one(5, "faults[0].disk.node", `unknown node "everyone"`)},
		{"disk unchanged", f + "  - {at: 1s, for: 1s, disk: {node: all}}\n", one(5, "faults[0].disk", "changes nothing")},
		{"disk bad probability", f + "  - {at: 1s, for: 1s, disk: {node: n1, read_error: 3}}\n", one(5, "faults[0].disk.read_error", "0..1")},
		{"network unchanged", f + "  - {at: 1s, for: 1s, network: {}}\n", one(5, "faults[0].network", "changes nothing")},
		{"network latency", f + "  - {at: 1s, for: 1s, network: {latency: {p99: 1ms}}}\n", one(5, "faults[0].network.latency", "p50 (2ms) is above p99 (1ms)")},
		{"fault not a mapping", f + "  - pause\n", one(5, "faults[0]", "want a mapping")},
		{"upgrade unknown node", f + "  - {at: 1s, upgrade: {node: n9}}\n", one(5, "faults[0].upgrade.node", `unknown node "n9"`)},
		{"upgrade leader", f + "  - {at: 1s, upgrade: {node: leader}}\n", one(5, "faults[0].upgrade.node", `unknown node "leader"`)},
		{"upgrade not a mapping", f + "  - {at: 1s, upgrade: n2}\n", one(5, "faults[0].upgrade", "want a mapping")},
		{"upgrade without node", f + "  - {at: 1s, downgrade: {}}\n", one(5, "faults[0].downgrade.node", "required")},
		{"upgrade with for", f + "  - {at: 1s, for: 1s, upgrade: {node: n2}}\n", one(5, "faults[0].for", "use restart_after")},
		{"upgrade past end", f + "  - {at: 58s, upgrade: {node: n2}}\n", one(5, "faults[0].upgrade", "window ends at 1m1s")},
		{"upgrade and crash", f + "  - {at: 1s, crash: n1, upgrade: {node: n1}}\n", one(5, "faults[0]", "has crash and upgrade")},
		{"upgrade over crash", f + "  - {at: 1s, crash: n2, restart_after: 5s}\n  - {at: 2s, upgrade: {node: n2}}\n", one(6, "faults[1]", "")},
		{"wipe unknown node", f + "  - {at: 1s, wipe: n9, restart_after: 1s}\n", one(5, "faults[0].wipe", `unknown node "n9"`)},
		{"wipe a mapping", f + "  - {at: 1s, wipe: {node: n2}, restart_after: 1s}\n", one(5, "faults[0].wipe", "")},
		{"wipe with for", f + "  - {at: 1s, for: 1s, wipe: n2}\n", one(5, "faults[0].for", "a wipe has no for")},
		{"wipe past end", f + "  - {at: 58s, wipe: n2, restart_after: 3s}\n", one(5, "faults[0].restart_after", "window ends at 1m1s")},
		{"wipe and crash", f + "  - {at: 1s, crash: n1, wipe: n1}\n", one(5, "faults[0]", "has crash and wipe")},
		{"wipe over crash", f + "  - {at: 1s, crash: n2, restart_after: 5s}\n  - {at: 2s, wipe: n2, restart_after: 1s}\n", one(6, "faults[1]", "")},
	})
}

// A wipe is, to the simulator, a crash whose disk is erased before the
// restart: Parse holds it as KindCrash with Crash.Wipe, and Marshal writes
// it back as the file said.
func TestParseWipeIsAWipingCrash(t *testing.T) {
	text := withRegistry + `faults:
  - {at: 1s, wipe: n2, restart_after: 2s}
  - {at: 10s, wipe: leader}
`
	s, err := Parse("case.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	a, b := s.Faults[0], s.Faults[1]
	if a.Kind != KindCrash || a.Crash.Target != "n2" || !a.Crash.Wipe || a.Crash.Swap != "" || a.Crash.RestartAfter != 2*time.Second || a.Line != 5 {
		t.Errorf("wipe = %+v crash %+v", a, a.Crash)
	}
	if b.Kind != KindCrash || b.Crash.Target != TargetLeader || !b.Crash.Wipe || b.Crash.RestartAfter != 0 {
		t.Errorf("wipe leader = %+v crash %+v", b, b.Crash)
	}
	out, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(out), "wipe:") != 2 {
		t.Errorf("Marshal lost the wipes:\n%s", out)
	}
	again, err := Parse("again.yaml", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if *again.Faults[0].Crash != *a.Crash || *again.Faults[1].Crash != *b.Crash {
		t.Errorf("round trip changed the wipes: %+v %+v", again.Faults[0].Crash, again.Faults[1].Crash)
	}
}

// An upgrade or downgrade is, to the simulator, a crash that restarts:
// Parse holds it as KindCrash with Crash.Swap naming it, and Marshal
// writes it back as the file said.
func TestParseSwapIsARestartingCrash(t *testing.T) {
	text := withRegistry + `faults:
  - {at: 1s, upgrade: {node: n2}}
  - {at: 10s, downgrade: {node: n3}, restart_after: 1s}
`
	s, err := Parse("case.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	up, down := s.Faults[0], s.Faults[1]
	if up.Kind != KindCrash || up.Crash.Target != "n2" || up.Crash.Swap != KindUpgrade || up.Crash.RestartAfter != RestartAfterDefault || up.Line != 5 {
		t.Errorf("upgrade = %+v crash %+v", up, up.Crash)
	}
	if down.Kind != KindCrash || down.Crash.Target != "n3" || down.Crash.Swap != KindDowngrade || down.Crash.RestartAfter != time.Second {
		t.Errorf("downgrade = %+v crash %+v", down, down.Crash)
	}
	out, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "upgrade:") || !strings.Contains(string(out), "downgrade:") {
		t.Errorf("Marshal lost the swaps:\n%s", out)
	}
	again, err := Parse("again.yaml", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if *again.Faults[0].Crash != *up.Crash || *again.Faults[1].Crash != *down.Crash {
		t.Errorf("round trip changed the swaps: %+v %+v", again.Faults[0].Crash, again.Faults[1].Crash)
	}
}

func TestParseRejectsOverlaps(t *testing.T) {
	f := withRegistry + "faults:\n"
	runBad(t, []badCase{
		{"two partitions", f + "  - {at: 10s, for: 5s, partition: {isolate: n1}}\n  - {at: 14s, for: 5s, partition: {isolate: n5}}\n",
			one(6, "faults[1]", "partition 14s..19s overlaps partition 10s..15s of faults[0] (line 5); the network has one cut state")},
		{"overlap reported on the later fault", f + "  - {at: 14s, for: 5s, partition: {isolate: n5}}\n  - {at: 10s, for: 5s, partition: {isolate: n1}}\n",
			one(5, "faults[0]", "overlaps partition 10s..15s of faults[1] (line 6)")},
		{"crash and pause of one node", f + "  - {at: 10s, crash: n2, restart_after: 5s}\n  - {at: 12s, for: 1s, pause: n2}\n",
			one(6, "faults[1]", "pause of n2 12s..13s overlaps crash of n2 10s..15s")},
		{"crash without restart lasts to the end", f + "  - {at: 10s, crash: n2}\n  - {at: 50s, crash: n2}\n",
			one(6, "faults[1]", "overlaps crash of n2 10s..1m")},
		{"two pauses of one node", f + "  - {at: 10s, for: 5s, pause: n3}\n  - {at: 11s, for: 1s, pause: n3}\n",
			one(6, "faults[1]", "one fault at a time")},
		{"leader may be any node", f + "  - {at: 10s, for: 5s, pause: n3}\n  - {at: 11s, crash: leader, restart_after: 1s}\n",
			one(6, "faults[1]", "crash of leader 11s..12s overlaps pause of n3")},
		{"random may be any node", f + "  - {at: 10s, for: 5s, clock: {node: random, drift: 0.1}}\n  - {at: 11s, for: 1s, clock: {node: n1, offset: -1s}}\n",
			one(6, "faults[1]", "clock can be skewed by one fault")},
		{"two clocks of one node", f + "  - {at: 10s, for: 5s, clock: {node: n1, drift: 0.1}}\n  - {at: 11s, for: 1s, clock: {node: n1, offset: 1s}}\n",
			one(6, "faults[1]", "clock of n1 11s..12s overlaps clock of n1 10s..15s")},
		{"two network faults", f + "  - {at: 10s, for: 5s, network: {loss: 0.1}}\n  - {at: 11s, for: 10s, network: {reorder: 0.1}}\n",
			one(6, "faults[1]", "network 11s..21s overlaps network 10s..15s")},
		{"three partitions, two reports", f + "  - {at: 10s, for: 20s, partition: {isolate: n1}}\n  - {at: 11s, for: 1s, partition: {isolate: n2}}\n  - {at: 20s, for: 1s, partition: {isolate: n3}}\n",
			[]wantError{{6, "faults[1]", "of faults[0]"}, {7, "faults[2]", "of faults[0]"}}},
	})
}

func TestParseAcceptsCoexistingWindows(t *testing.T) {
	text := withRegistry + `faults:
  - {at: 10s, for: 5s, partition: {isolate: n1}}
  - {at: 15s, for: 5s, partition: {isolate: n2}}       # touches, does not overlap
  - {at: 10s, for: 5s, pause: n1}
  - {at: 10s, for: 5s, pause: n2}                      # another node
  - {at: 12s, crash: n3, restart_after: 1s}
  - {at: 10s, for: 9s, clock: {node: n4, drift: -0.5}}
  - {at: 11s, for: 9s, clock: {node: n5, offset: -2s}}
  - {at: 10s, for: 9s, network: {loss: 0.5}}
  - {at: 10s, for: 9s, disk: {node: all, read_error: 0.1}}
  - {at: 11s, for: 9s, disk: {node: n1, full: true}}   # disk overrides compose
  - {at: 15s, crash: n1}
`
	s, err := Parse("case.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Faults) != 11 || s.Faults[10].Line != 15 || s.Faults[10].End(s.Duration) != s.Duration {
		t.Fatalf("faults = %d, last line %d", len(s.Faults), s.Faults[len(s.Faults)-1].Line)
	}
}

func TestParseRejectsSectionsAfterFaults(t *testing.T) {
	runBad(t, []badCase{
		{"random crash rate", withRegistry + "random_faults: {crash_rate: -1}\n", one(4, "random_faults.crash_rate", "0..1000")},
		{"random restart zero", withRegistry + "random_faults: {restart_after: 0s}\n", one(4, "random_faults.restart_after", "> 0")},
		{"random survivable yes", withRegistry + "random_faults: {survivable: yes}\n", one(4, "random_faults.survivable", "true or false")},
		{"swarm inverted", withRegistry + "swarm:\n  loss: [0.2, 0.1]\n", one(5, "swarm.loss", "min 0.2 is above max 0.1")},
		{"swarm outside domain", withRegistry + "swarm:\n  loss: [0, 2]\n", one(5, "swarm.loss[1]", "0..1")},
		{"swarm rate domain", withRegistry + "swarm:\n  crash_rate: [0, 2000]\n", one(5, "swarm.crash_rate[1]", "0..1000")},
		{"swarm not a pair", withRegistry + "swarm:\n  reorder: [0, 0.1, 0.2]\n", one(5, "swarm.reorder", "want a range [min, max]")},
		{"swarm unknown", withRegistry + "swarm:\n  latency: [0, 1]\n", one(5, "swarm.latency", "unknown key")},
		{"unknown check", withRegistry + "checks: [linearizable, bogus]\n", one(4, "checks[1]", `unknown check "bogus"`)},
		{"duplicate check", withRegistry + "checks:\n  - durability\n  - {durability: {}}\n", one(6, "checks[1]", "already checks[0]")},
		{"linearizable without registry", noRegistry + "checks: [linearizable]\n", one(4, "checks[0]", "registry_replicas is 0")},
		{"options on plain check", withRegistry + "checks: [{durability: {x: 1}}]\n", one(4, "checks[0].durability.x", "unknown key")},
		{"options on plain check not a map", withRegistry + "checks: [{integrity: 5}]\n", one(4, "checks[0].integrity", "takes no options")},
		{"within zero", withRegistry + "checks: [{liveness: {within: 0s}}]\n", one(4, "checks[0].liveness.within", "> 0")},
		{"within unknown option", withRegistry + "checks: [{convergence: {after: 1s}}]\n", one(4, "checks[0].convergence.after", "unknown key")},
		{"two checks in one item", withRegistry + "checks: [{durability: {}, integrity: {}}]\n", one(4, "checks[0]", "one-key mapping")},
		{"slo empty", withRegistry + "checks: [{slo: {}}]\n", one(4, "checks[0].slo", "bare slo")},
		{"slo bad stat", withRegistry + "checks: [{slo: {m: {p90: 1}}}]\n", one(4, "checks[0].slo.m.p90", "unknown key")},
		{"slo bad metric", withRegistry + "checks: [{slo: {9m: {p99: 1}}}]\n", one(4, "checks[0].slo", "bad metric name")},
		{"slo negative", withRegistry + "checks: [{slo: {m: {max: -1}}}]\n", one(4, "checks[0].slo.m.max", "want a number in 0..")},
		{"slo metric without budget", withRegistry + "checks: [{slo: {m: {}}}]\n", one(4, "checks[0].slo.m", "no budget")},
		{"check item a list", withRegistry + "checks: [[durability]]\n", one(4, "checks[0]", "want a check name")},
		{"lookups without lookup workload", withRegistry + "checks: [lookups]\n", one(4, "checks[0]", "workload.mix.lookup is 0")},
		{"lookups success above 1", withLookups + "checks: [{lookups: {success: 1.5}}]\n", one(5, "checks[0].lookups.success", "want a number in 0..1")},
		{"lookups negative hops", withLookups + "checks: [{lookups: {hops_p99: -1}}]\n", one(5, "checks[0].lookups.hops_p99", "want a number in 0..1000")},
		{"lookups unknown bound", withLookups + "checks: [{lookups: {hops_p50: 3}}]\n", one(5, "checks[0].lookups.hops_p50", "unknown key")},
	})
}

func TestParseErrorsAreCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString(withRegistry)
	for i := 0; i < 2*ErrorsMax; i++ {
		b.WriteString("x" + strconv.Itoa(i) + ": 1\n")
	}
	_, err := Parse("case.yaml", []byte(b.String()))
	var list ErrorList
	if !errors.As(err, &list) || len(list) != ErrorsMax {
		t.Fatalf("got %d errors, want the cap %d", len(list), ErrorsMax)
	}
	if list[0].Line != 4 || list[ErrorsMax-1].Line != 3+ErrorsMax {
		t.Fatalf("errors not ordered by line: first %d last %d", list[0].Line, list[ErrorsMax-1].Line)
	}
}

func TestParseFillsDefaults(t *testing.T) {
	text := withRegistry + `workload:
  clients: 2
  rate: 2/ms
  mix: {set: 3, get: 1}
  objects: {count: 4}
checks: [liveness, convergence, slo]
random_faults: {}
`
	s, err := Parse("case.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if s.Network.Latency != (Latency{P50: 2 * time.Millisecond, P99: 20 * time.Millisecond}) {
		t.Errorf("latency default = %+v", s.Network.Latency)
	}
	w := s.Workload
	if w.RatePerSecond != 2000 || w.Timeout != 2*time.Second || w.Start != 0 || w.Stop != 60*time.Second || w.Names != 16 {
		t.Errorf("workload = %+v", *w)
	}
	if *w.Objects != (Objects{Count: 4, SizeMinBytes: 1024, SizeMaxBytes: 1 << 20}) {
		t.Errorf("objects = %+v", *w.Objects)
	}
	if n := w.Mix.Normalized(); n.Set != 0.75 || n.Get != 0.25 || n.Total() != 1 {
		t.Errorf("normalised mix = %+v", n)
	}
	if s.Checks[0].Within != 10*time.Second || s.Checks[1].Within != 30*time.Second || s.Checks[2].SLO != nil {
		t.Errorf("checks = %+v", s.Checks)
	}
	if *s.RandomFaults != (RandomFaults{RestartAfter: 3 * time.Second, PartitionFor: 5 * time.Second, Survivable: true}) {
		t.Errorf("random faults = %+v", *s.RandomFaults)
	}
	if s.Seed != nil || s.Disk != (Disk{}) || s.Source != "case.yaml" {
		t.Errorf("seed %v disk %+v source %q", s.Seed, s.Disk, s.Source)
	}
}

// withLookups is a scenario whose workload looks nodes up (line 4).
const withLookups = noRegistry + "workload: {clients: 1, rate: 1/s, mix: {lookup: 1}}\n"

// TestParseSessionPut: workload.mix.session_put is a content weight
// (default 0) that survives a marshal round trip.
func TestParseSessionPut(t *testing.T) {
	s, err := Parse("case.yaml", []byte(noRegistry+"workload: {clients: 1, rate: 1/s, mix: {put: 1, session_put: 3}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := s.Workload.Mix
	if m.SessionPut != 3 || !m.UsesContent() || m.Content() != 4 || m.Normalized().SessionPut != 0.75 {
		t.Fatalf("mix %+v: want session_put 3 of a content weight 4", m)
	}
	text, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), "session_put: 3") {
		t.Errorf("marshalled scenario lacks session_put:\n%s", text)
	}
	back, err := Parse("case.yaml", text)
	if err != nil {
		t.Fatal(err)
	}
	if back.Workload.Mix != m {
		t.Errorf("round trip mix %+v, want %+v", back.Workload.Mix, m)
	}
	s, err = Parse("case.yaml", []byte(noRegistry+"workload: {clients: 1, rate: 1/s, mix: {session_put: 0, get: 1}}\n"))
	if err != nil || s.Workload.Mix.SessionPut != 0 || !s.Workload.Mix.UsesContent() {
		t.Fatalf("session_put 0: %v, %+v", err, s)
	}
}

// TestParseSessionsReserved: absent keeps core/admission's default (0),
// 0 asks for none (-1), a count is kept; each survives a round trip.
func TestParseSessionsReserved(t *testing.T) {
	for _, c := range []struct {
		limits string
		want   int
	}{{"{sessions_max: 8}", 0}, {"{sessions_max: 8, sessions_reserved: 0}", -1}, {"{sessions_max: 8, sessions_reserved: 3}", 3}} {
		s, err := Parse("case.yaml", []byte(noRegistry+"workload:\n  edge:\n    limits: "+c.limits+"\n"))
		if err != nil {
			t.Fatalf("%s: %v", c.limits, err)
		}
		if got := s.Workload.Edge.Limits.SessionsReserved; got != c.want {
			t.Fatalf("%s: SessionsReserved %d, want %d", c.limits, got, c.want)
		}
		text, err := s.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse("case.yaml", text)
		if err != nil || back.Workload.Edge.Limits != s.Workload.Edge.Limits {
			t.Fatalf("%s: round trip %v, %+v\n%s", c.limits, err, back.Workload.Edge.Limits, text)
		}
	}
}

func TestParseLookupsCheck(t *testing.T) {
	s, err := Parse("case.yaml", []byte(withLookups+"checks: [lookups, {slo: {m: {p99: 1}}}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := LookupBudgets{Success: LookupSuccessDefault, HopsMean: LookupHopsMeanDefault, HopsP99: LookupHopsP99Default}
	if s.Checks[0].Name != CheckLookups || s.Checks[0].Lookups != want || s.Checks[1].Lookups != (LookupBudgets{}) {
		t.Errorf("bare lookups: checks = %+v, want the defaults %+v on the first only", s.Checks, want)
	}
	s, err = Parse("case.yaml", []byte(withLookups+"checks: [{lookups: {success: 0.9, exact: 0.5}}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	want = LookupBudgets{Success: 0.9, Exact: 0.5, HopsMean: LookupHopsMeanDefault, HopsP99: LookupHopsP99Default}
	if s.Checks[0].Lookups != want {
		t.Errorf("lookups with options = %+v, want %+v (omitted bounds keep their defaults)", s.Checks[0].Lookups, want)
	}
}

func TestParseUnits(t *testing.T) {
	cases := []struct {
		bandwidth string
		want      int64
	}{
		{"0", 0}, {"12.5MB/s", 12_500_000}, {"100Mbit/s", 12_500_000}, {"1GB/s", 1_000_000_000},
		{"1KiB/s", 1024}, {"12.5Kbit/s", 1562}, {"7B/s", 7}, {"1TB/s", 1_000_000_000_000},
	}
	for _, c := range cases {
		s, err := Parse("case.yaml", []byte(withRegistry+"network: {bandwidth: "+c.bandwidth+"}\n"))
		if err != nil {
			t.Fatalf("%s: %v", c.bandwidth, err)
		}
		if got := s.Network.BandwidthBytesPerSecond; got != c.want {
			t.Errorf("bandwidth %s = %d, want %d", c.bandwidth, got, c.want)
		}
	}
	bandwidths := map[int64]string{1: "1B/s", 999: "999B/s", 1000: "1kB/s", 1562: "1.562kB/s", 12_500_000: "12.5MB/s",
		1_000_000_001: "1000000.001kB/s", 123_456_789_000: "123456.789MB/s" /* GB would need 6 decimals */, 1_000_000_000_000: "1TB/s"}
	for n, want := range bandwidths {
		if got := formatBandwidth(n); got != want {
			t.Errorf("formatBandwidth(%d) = %q, want %q", n, got, want)
		}
		if back, msg := parseBandwidthText(want); msg != "" || back != n {
			t.Errorf("parse(%q) = %d %q, want %d", want, back, msg, n)
		}
	}
	sizes := map[string]int64{"0B": 0, "512B": 512, "1KiB": 1024, "1.5MiB": 3 << 19, "4MiB": 4 << 20, "1GiB": 1 << 30}
	for text, want := range sizes {
		got, msg := parseSizeText(text)
		if msg != "" || got != want {
			t.Errorf("size %s = %d %q, want %d", text, got, msg, want)
		}
	}
	rates := map[string]float64{"200/s": 200, "2/ms": 2000, "0.5/s": 0.5, "1e+06/s": 1e6}
	for text, want := range rates {
		got, msg := parseRateText(text)
		if msg != "" || got != want {
			t.Errorf("rate %s = %v %q, want %v", text, got, msg, want)
		}
	}
	durations := map[time.Duration]string{time.Minute: "1m", time.Hour: "1h", 90 * time.Second: "1m30s",
		100 * time.Microsecond: "100us", 0: "0s", -500 * time.Millisecond: "-500ms", time.Hour + time.Second: "1h0m1s"}
	for d, want := range durations {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, msg := parseDurationText(want); msg != "" || back != d {
			t.Errorf("parse(%q) = %v %q", want, back, msg)
		}
	}
}

func TestParseFaultKinds(t *testing.T) {
	text := withRegistry + `network: {latency: {p50: 1ms, p99: 9ms}, loss: 0.01}
disk: {latency: 100us, read_error: 0.2}
faults:
  - {at: 1s, for: 1s, network: {latency: {p50: 5ms}, loss: 0.5, bandwidth: 1MB/s}}
  - {at: 1s, for: 1s, disk: {node: n2, read_error: 0, full: true}}
  - {at: 1s, for: 1s, clock: {node: n2, offset: -500ms}}
  - {at: 1s, for: 1s, partition: {bridge: {left: [n1, n2], right: [n4, n5], via: n3}}}
  - {at: 3s, crash: leader}
`
	s, err := Parse("case.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	net := s.Faults[0].Network
	if *net.Latency != (Latency{P50: 5 * time.Millisecond, P99: 9 * time.Millisecond}) {
		t.Errorf("a fault's missing quantile must come from the network section: %+v", *net.Latency)
	}
	during := net.Apply(s.Network)
	if during.Loss != 0.5 || during.Duplicate != 0 || during.BandwidthBytesPerSecond != 1_000_000 {
		t.Errorf("network during the fault = %+v", during)
	}
	disk := s.Faults[1].Disk.Apply(s.Disk)
	if disk.ReadError != 0 || disk.Latency != 100*time.Microsecond || !s.Faults[1].Disk.Full {
		t.Errorf("disk during the fault = %+v", disk)
	}
	if c := s.Faults[2].Clock; c.Offset != -500*time.Millisecond || c.Drift != 0 {
		t.Errorf("clock = %+v", *c)
	}
	if b := s.Faults[3].Partition.Bridge; b.Via != "n3" || len(b.Left) != 2 || b.Right[1] != "n5" {
		t.Errorf("bridge = %+v", *b)
	}
	if c := s.Faults[4]; c.Kind != KindCrash || c.Crash.Target != TargetLeader || c.Crash.RestartAfter != 0 || c.For != 0 {
		t.Errorf("crash = %+v", c)
	}
}

func TestNodeIndex(t *testing.T) {
	good := map[string]int{"n1": 0, "n2": 1, "n10": 9, "n100000": 99999}
	for name, want := range good {
		if got, ok := NodeIndex(name); !ok || got != want {
			t.Errorf("NodeIndex(%q) = %d, %v; want %d", name, got, ok, want)
		}
		if NodeName(want) != name {
			t.Errorf("NodeName(%d) = %q, want %q", want, NodeName(want), name)
		}
	}
	for _, name := range []string{"", "n", "n0", "n01", "N1", "n1a", "n-1", "node1", "n+1", "n1234567890", "leader"} {
		if _, ok := NodeIndex(name); ok {
			t.Errorf("NodeIndex(%q) accepted", name)
		}
	}
}

func TestLimitsAreConsistent(t *testing.T) {
	if RegistryReplicasMax%2 != 1 || RegistryReplicasMax > NodeCountMax {
		t.Error("RegistryReplicasMax must be odd and fit the cluster")
	}
	if ObjectSizeMinDefault > ObjectSizeMaxDefault || ObjectSizeMaxDefault > ObjectBytesMax {
		t.Error("object size defaults must be ordered and within ObjectBytesMax")
	}
	for _, d := range []time.Duration{LivenessWithinDefault, ConvergenceWithinDefault, TimeoutDefault,
		RestartAfterDefault, PartitionForDefault, LatencyP99Default} {
		if d <= 0 || d > DurationMax {
			t.Errorf("default %v outside (0, DurationMax]", d)
		}
	}
	if LatencyP50Default > LatencyP99Default || NamesDefault > NamesMax || ClockDriftMax >= 1 {
		t.Error("defaults out of their ranges")
	}
	// A name at the cap must still be a valid NodeIndex input.
	if i, ok := NodeIndex(NodeName(NodeCountMax - 1)); !ok || i != NodeCountMax-1 {
		t.Error("NodeIndex cannot name the last node at NodeCountMax")
	}
}

// TestNodesOff: nodes.off names optional services; absent is not the same
// as empty (the runner's default), and it survives Marshal.
func TestNodesOff(t *testing.T) {
	for _, tc := range []struct {
		text  string
		off   stack.Optional
		given bool
	}{
		{"nodes: {count: 3}\n", 0, false},
		{"nodes: {count: 3, off: []}\n", 0, true},
		{"nodes: {count: 3, off: [audit, dht]}\n", stack.Audit | stack.DHT, true},
	} {
		s, err := Parse("t.yaml", []byte("name: t\nduration: 1s\n"+tc.text))
		if err != nil {
			t.Fatalf("%q: %v", tc.text, err)
		}
		if s.Nodes.Off != tc.off || s.Nodes.OffGiven != tc.given {
			t.Errorf("%q: off %v given %v", tc.text, s.Nodes.Off, s.Nodes.OffGiven)
		}
		out, err := s.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse("t.yaml", out)
		if err != nil || back.Nodes.Off != tc.off || back.Nodes.OffGiven != tc.given {
			t.Errorf("%q: after Marshal %+v, %v", tc.text, back.Nodes, err)
		}
	}
}

// TestParseAcceptsReplacementCharacter: U+FFFD written out is a valid
// character (a range loop yields utf8.RuneError for it as for bytes that
// do not decode; TestRoundTrip drew it and Parse refused it).
func TestParseAcceptsReplacementCharacter(t *testing.T) {
	s, err := Parse("case.yaml", []byte("name: \"a\uFFFDb\"\nduration: 1s\nnodes: {count: 1}\n"))
	if err != nil {
		t.Fatalf("Parse refused a name with U+FFFD: %v", err)
	}
	if s.Name != "a\uFFFDb" {
		t.Fatalf("name %q, want %q", s.Name, "a\uFFFDb")
	}
}

func TestParseRejectsAudit(t *testing.T) {
	runBad(t, []badCase{
		{"rate missing", noRegistry + "audit: {retain_age: 1h}\n", one(4, "audit.rate", "required")},
		{"rate zero", noRegistry + "audit: {rate: 0/s}\n", one(4, "audit.rate", "at least one append per 24h0m0s")},
		{"rate below one per 24h", noRegistry + "audit:\n  rate: 1e-20/s\n", one(5, "audit.rate", "at least one append per 24h0m0s")},
		{"rate above the most", noRegistry + "audit: {rate: 20000/s}\n", one(4, "audit.rate", "at most 10000/s")},
		{"rate zero with the check", noRegistry + "audit: {rate: 0/s}\nchecks: [audit_retention]\n", one(4, "audit.rate", "at least one append per 24h0m0s")},
		{"rate missing with the check", noRegistry + "audit: {retain_age: 1h}\nchecks: [audit_retention]\n", one(4, "audit.rate", "required")},
		{"age below the minimum", noRegistry + "audit:\n  rate: 1/s\n  retain_age: 30m\n", one(6, "audit.retain_age", "want a duration in 1h..")},
		{"bytes below the minimum", noRegistry + "audit:\n  rate: 1/s\n  retain_bytes: 1MiB\n", one(6, "audit.retain_bytes", "at least 16MiB")},
		{"unknown key", noRegistry + "audit: {rate: 1/s, retain: 1h}\n", one(4, "audit.retain", "unknown key")},
		{"audit off", "name: t\nduration: 60s\nnodes: {count: 5, off: [audit]}\naudit: {rate: 1/s}\n", one(4, "audit", "nodes.off lists audit")},
		{"check without appends", noRegistry + "checks: [audit_retention]\n", one(4, "checks[0]", "audit.rate is absent")},
	})
}

// TestParseAudit: the audit section reaches the nodes' core/audit Config
// and survives Marshal and Clone.
func TestParseAudit(t *testing.T) {
	s, err := Parse("t.yaml", []byte(noRegistry+"audit: {retain_age: 90m, retain_bytes: 32MiB, rate: 2.5/s}\nchecks: [audit_retention]\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Audit{RetainBytes: 32 << 20, RetainAge: 90 * time.Minute, RatePerSecond: 2.5}
	if s.Audit == nil || *s.Audit != want {
		t.Fatalf("audit section %+v, want %+v", s.Audit, want)
	}
	if c := s.Audit.Config(); c.RetainBytes != want.RetainBytes || c.RetainAge != want.RetainAge || c.Validate() != nil {
		t.Fatalf("audit config %+v (%v)", c, c.Validate())
	}
	out, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse("t.yaml", out)
	if err != nil || back.Audit == nil || *back.Audit != want {
		t.Fatalf("after Marshal: %+v, %v\n%s", back.Audit, err, out)
	}
	if c := s.Clone(); c.Audit == s.Audit || *c.Audit != want {
		t.Fatal("Clone shares or changes the audit section")
	}
}
