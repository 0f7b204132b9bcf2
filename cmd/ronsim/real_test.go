package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ron-network/ron/sim/real"
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

// TestRealOverOAP runs a short scenario with every client on OAP/1
// (io/oapgate's client, pinned to each node): the operations succeed and
// pass the same checks as over HTTP.
func TestRealOverOAP(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs rond processes")
	}
	bin, err := real.BuildRond("../..", t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "oap.yaml")
	src := `name: every client on OAP/1
duration: 8s
nodes: {count: 3, registry_replicas: 3}
workload: {clients: 2, rate: 20/s, timeout: 3s, stop: 7s, names: 4, mix: {claim: 0.3, set: 0.4, resolve: 0.2, stale_resolve: 0.1}}
checks: [linearizable, durability]
`
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err = dispatch([]string{"real", file, "--rond", bin, "--oap-share", "1", "--json"}, &stdout, &stderr)
	var rep struct {
		OK         bool `json:"ok"`
		Mode       string
		OAPClients int `json:"oap_clients"`
		Registry   struct {
			OpsOK int `json:"ops_ok"`
		}
	}
	if jerr := json.Unmarshal(stdout.Bytes(), &rep); err != nil || jerr != nil || !rep.OK || rep.Mode != "real" || rep.OAPClients != 2 || rep.Registry.OpsOK == 0 {
		t.Fatalf("err %v, report %+v:\n%s\n%s", err, rep, stdout.String(), stderr.String())
	}
}
