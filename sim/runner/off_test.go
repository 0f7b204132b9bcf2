package runner

import (
	"strings"
	"testing"

	"github.com/ron-network/ron/core/stack"
	"github.com/ron-network/ron/sim/scenario"
)

// TestNodesOff: nodes.off decides the optional services (absent: those
// the workload does not use; audit always runs), and turning off one the
// workload needs is refused before the run.
func TestNodesOff(t *testing.T) {
	base := "name: t\nduration: 2s\nnodes: {count: 3%s}\nworkload:\n  clients: 1\n  rate: 5/s\n  mix: {lookup: 1}\n"
	cases := []struct {
		off  string
		want stack.Optional
	}{
		{"", stack.Storage},
		{", off: []", 0},
		{", off: [audit, storage]", stack.Audit | stack.Storage},
	}
	for _, tc := range cases {
		s, err := scenario.Parse("t.yaml", []byte(strings.Replace(base, "%s", tc.off, 1)))
		if err != nil {
			t.Fatal(err)
		}
		if got := newCluster(s, Options{}).off(); got != tc.want {
			t.Errorf("off %q: %v, want %v", tc.off, got, tc.want)
		}
	}
	s, err := scenario.Parse("t.yaml", []byte(strings.Replace(base, "%s", ", off: [dht]", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(s, Options{Seed: 1}); err == nil || !strings.Contains(err.Error(), "nodes.off lists dht") {
		t.Fatalf("a run without the DHT its lookups need: %v", err)
	}
}
