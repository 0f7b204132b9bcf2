package real

import (
	"encoding/json"
	"reflect"
	"sort"
	"testing"

	"github.com/ron-network/ron/sim/runner"
)

// TestReportJSONHasRunnersFieldsAndMode: a real report's JSON carries
// every top-level field of `ronsim run --json` plus mode, deterministic
// and relay.
func TestReportJSONHasRunnersFieldsAndMode(t *testing.T) {
	sim := &runner.Report{Registry: &runner.RegistryStats{}, VizPath: "v", Error: "e", Swarm: []runner.Draw{{}}}
	simKeys := keys(t, sim)
	rep := &Report{Report: &runner.Report{Registry: &runner.RegistryStats{}, VizPath: "v", Error: "e", Swarm: []runner.Draw{{}}}, Mode: ModeReal}
	realKeys := keys(t, rep)
	have := map[string]bool{}
	for _, k := range realKeys {
		have[k] = true
	}
	for _, k := range simKeys {
		if !have[k] {
			t.Errorf("real report lacks %q", k)
		}
	}
	for _, k := range []string{"mode", "deterministic", "relay"} {
		if !have[k] {
			t.Errorf("real report lacks %q", k)
		}
	}
	var back map[string]any
	data, _ := json.Marshal(rep)
	if err := json.Unmarshal(data, &back); err != nil || back["mode"] != "real" || back["deterministic"] != false {
		t.Fatalf("mode/deterministic: %v %v", back["mode"], back["deterministic"])
	}
	if reflect.DeepEqual(simKeys, realKeys) {
		t.Fatal("the real report adds nothing")
	}
}

func keys(t *testing.T, v any) []string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
