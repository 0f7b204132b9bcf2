package main

import (
	"bytes"
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
	if !strings.Contains(out.String(), "registry  cluster version 2 (log entry format)") {
		t.Fatalf("status with a cluster version:\n%s", out.String())
	}
	out.Reset()
	s.FlagSources = nil // a node that predates flag sources
	printStatus(&client{stdout: &out}, s)
	if !strings.Contains(out.String(), "flags     oap=on repair=off republish=on") {
		t.Fatalf("status without sources:\n%s", out.String())
	}
}
