package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ron-network/ron/io/gateway"
)

// TestStatusNamesEachFlagsSource: ronctl status prints every flag's state
// and, when the node says, where the value came from.
func TestStatusNamesEachFlagsSource(t *testing.T) {
	var out bytes.Buffer
	s := gateway.Status{Ready: true, Flags: map[string]bool{"repair": false, "oap": true, "republish": true},
		FlagSources: map[string]string{"repair": "override", "oap": "config", "republish": "default"}}
	printStatus(&client{stdout: &out}, s)
	want := "flags     oap=on(config) repair=off(override) republish=on(default)"
	if !strings.Contains(out.String(), want) {
		t.Fatalf("status:\n%s\nwant a line %q", out.String(), want)
	}
	if strings.Contains(out.String(), "cluster version") {
		t.Fatalf("status shows a cluster version the node did not report:\n%s", out.String())
	}
	version := uint64(2)
	s.ClusterVersion = &version
	out.Reset()
	printStatus(&client{stdout: &out}, s)
	if !strings.Contains(out.String(), "raft log  cluster version 2 (log entry format)") {
		t.Fatalf("status with a cluster version:\n%s", out.String())
	}
	out.Reset()
	s.FlagSources = nil // a node that predates flag sources
	printStatus(&client{stdout: &out}, s)
	if !strings.Contains(out.String(), "flags     oap=on repair=off republish=on") {
		t.Fatalf("status without sources:\n%s", out.String())
	}
}

// TestStatusSaysHiddenCounts: a node that hides its storage counts from
// the caller (no read rights: /status sends objects null and
// storage_counts_hidden) is shown as hidden, naming the token needed,
// not as a count the node does not keep.
func TestStatusSaysHiddenCounts(t *testing.T) {
	for _, c := range []struct {
		answer, want string
	}{
		{`{"ready":true,"objects":null,"object_bytes":null,"storage_counts_hidden":true}`, "objects   hidden: needs a read token\n"},
		{`{"ready":true,"objects":null,"object_bytes":null}`, "objects   not reported\n"},
		{`{"ready":true,"objects":2,"object_bytes":2048}`, "objects   2 (2.0 KiB)\n"},
	} {
		var s gateway.Status
		if err := json.Unmarshal([]byte(c.answer), &s); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		printStatus(&client{stdout: &out}, s)
		if !strings.Contains(out.String(), c.want) {
			t.Errorf("status of %s:\n%s\nwant a line %q", c.answer, out.String(), c.want)
		}
	}
}

// TestStatusShowsRegistryLeader: ronctl status shows the registry's
// leader and term as the node sees them, and the node's part; --json
// passes the node's registry object through.
func TestStatusShowsRegistryLeader(t *testing.T) {
	for _, c := range []struct {
		answer, want string
	}{
		{`{"ready":true,"registry":{"replica":true,"replica_id":1,"replicas":3,"leader":"aa","leader_replica":1,"term":4,"is_leader":true,"role":"leader","state":"running"}}`,
			"registry  leader this node, term 4; this node is replica 1 of 3 (leader)\n"},
		{`{"ready":true,"registry":{"replica":true,"replica_id":3,"replicas":3,"leader":"bb","leader_replica":2,"term":7,"is_leader":false,"role":"follower","state":"running"}}`,
			"registry  leader replica 2 (node bb), term 7; this node is replica 3 of 3 (follower)\n"},
		{`{"ready":false,"registry":{"replica":true,"replica_id":3,"replicas":3,"leader":null,"term":7,"is_leader":false,"role":"pre-candidate","state":"running"}}`,
			"registry  leader none known, term 7; this node is replica 3 of 3 (pre-candidate)\n"},
		{`{"ready":true,"registry":{"replica":false,"replicas":5,"leader":"cc","leader_replica":4,"is_leader":false,"state":"client"}}`,
			"registry  leader replica 4 (node cc) (as the replicas last said); this node is not a replica (5 replicas)\n"},
	} {
		var s gateway.Status
		if err := json.Unmarshal([]byte(c.answer), &s); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		printStatus(&client{stdout: &out}, s)
		if !strings.Contains(out.String(), c.want) {
			t.Errorf("status of %s:\n%s\nwant a line %q", c.answer, out.String(), c.want)
		}
		out.Reset()
		if err := json.NewEncoder(&out).Encode(s); err != nil || !strings.Contains(out.String(), `"registry":{"replica":`) {
			t.Errorf("--json of %s: %v %s", c.answer, err, out.String())
		}
	}
}

// TestStatusRegistryRowsDistinct: the registry's leader, the cluster
// version and the unconfirmed state are rows with labels of their own.
func TestStatusRegistryRowsDistinct(t *testing.T) {
	var s gateway.Status
	answer := `{"ready":true,"cluster_version":2,"registry_unconfirmed":true,"registry":{"replica":true,"replica_id":1,"replicas":3,"leader":null,"term":4,"role":"follower","state":"running"}}`
	if err := json.Unmarshal([]byte(answer), &s); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	printStatus(&client{stdout: &out}, s)
	labels := map[string]bool{}
	for line := range strings.Lines(out.String()) {
		label, _, _ := strings.Cut(line, "  ")
		if labels[label] {
			t.Fatalf("status prints two rows labelled %q:\n%s", label, out.String())
		}
		labels[label] = true
	}
	for _, want := range []string{"registry  leader none known", "raft log  cluster version 2", "replica   unconfirmed:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status:\n%s\nwant a line starting %q", out.String(), want)
		}
	}
}
