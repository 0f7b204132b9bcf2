package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestRealRefusesWhatItCannotMakeReal: a scenario with corrupt and torn
// writes is refused with exit status 2 and the line of each refused
// fault, before any process starts.
func TestRealRefusesWhatItCannotMakeReal(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := dispatch([]string{"real", "../../scenarios/disk_faults.yaml", "--rond", "/nonexistent/rond"}, &stdout, &stderr)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 {
		t.Fatalf("err %v, want exit status 2", err)
	}
	for _, want := range []string{"disk_faults.yaml:38: fault disk.corrupt_write", "disk_faults.yaml:38: fault disk.torn_write", "random_faults"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal lacks %q:\n%v", want, err)
		}
	}
}

func TestRealBadInput(t *testing.T) {
	var stdout, stderr bytes.Buffer
	for _, args := range [][]string{{"real"}, {"real", "a.yaml", "b.yaml"}, {"real", "../../scenarios/real_smoke.yaml", "--duration", "soon"}} {
		err := dispatch(args, &stdout, &stderr)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("%v: %v, want exit status 2", args, err)
		}
	}
}
