package scenario

import (
	"strings"
	"testing"
	"time"
)

func TestRegistryLatencyCheck(t *testing.T) {
	const head = "name: x\nduration: 10s\nnodes: {count: 3, registry_replicas: 3}\nworkload: {clients: 1, rate: 10/s, mix: {set: 1}}\n"
	s, err := Parse("x.yaml", []byte(head+"checks: [registry_latency, {liveness: {within: 2s}}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Checks[0].Registry; got != (RegistryLatency{CommitP99: RegistryCommitP99Default, Election: RegistryElectionDefault, Unanswered: RegistryUnansweredDefault}) {
		t.Fatalf("defaults %+v", got)
	}
	s, err = Parse("x.yaml", []byte(head+"checks: [{registry_latency: {commit_p99: 25ms, election: 4s}}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Checks[0].Registry; got != (RegistryLatency{CommitP99: 25 * time.Millisecond, Election: 4 * time.Second, Unanswered: RegistryUnansweredDefault}) {
		t.Fatalf("%+v", got)
	}
	s, err = Parse("x.yaml", []byte(head+"checks: [{registry_latency: {unanswered: 0.002}}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Checks[0].Registry; got != (RegistryLatency{CommitP99: RegistryCommitP99Default, Election: RegistryElectionDefault, Unanswered: 0.002}) {
		t.Fatalf("%+v", got)
	}
	for text, want := range map[string]string{
		head + "checks: [{registry_latency: {commit_p99: 0s}}]\n":  "checks[0].registry_latency.commit_p99",
		head + "checks: [{registry_latency: {election: 5}}]\n":     "checks[0].registry_latency.election",
		head + "checks: [{registry_latency: {elections: 5s}}]\n":   "elections",
		head + "checks: [{registry_latency: {unanswered: 1.5}}]\n": "checks[0].registry_latency.unanswered",
		head + "checks: [{registry_latency: {unanswered: 5%}}]\n":  "checks[0].registry_latency.unanswered",
		strings.Replace(head, "registry_replicas: 3", "registry_replicas: 0", 1) + "workload: {clients: 1, rate: 10/s, mix: {put: 1}}\nchecks: [registry_latency]\n": "nodes.registry_replicas is 0",
	} {
		if _, err := Parse("x.yaml", []byte(text)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to name %q", text, err, want)
		}
	}
}
