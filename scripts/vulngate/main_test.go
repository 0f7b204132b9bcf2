package main

import (
	"os"
	"testing"
)

// TestReachableIsReported: a finding with a function in its innermost
// frame is reachable and named by its ID; module- and package-level
// findings are only counted.
func TestReachableIsReported(t *testing.T) {
	f, err := os.Open("testdata/reachable.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	reachable, others, err := parse(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(reachable) != 1 || reachable[0].id != "GO-2099-0001" || reachable[0].fixed != "v1.2.3" || others != 1 {
		t.Fatalf("reachable %+v, others %d", reachable, others)
	}
}

func TestAcceptedNeedsReason(t *testing.T) {
	name := t.TempDir() + "/accepted"
	if err := os.WriteFile(name, []byte("GO-2099-0001\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readAccepted(name); err == nil {
		t.Fatal("accepted ID without a reason")
	}
}
