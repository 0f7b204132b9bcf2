package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/keyfile"
)

// TestProcessClusterNameQuota: three replicas started with
// --cluster-name-quota and --names-per-tenant 2 raise the registry's
// cluster version to VersionQuota (registry_cluster_version on every
// node); then a tenant that claimed two names through node A is refused a
// third through node B, whose own edge count is empty (403 NAME_QUOTA
// from the registry: "in the registry"), and, after A restarts with its
// edge count empty too, a new name through A. Turning the setting off on
// a replica after the raise is refused at start (exit 2 naming
// cluster_name_quota), not left to stop the replica at recovery. Without
// the setting (a second, two-node cluster) the third claim through B
// succeeds: each gateway bounds only its own claims.
func TestProcessClusterNameQuota(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	capKey := filepath.Join(t.TempDir(), "cap.key") // shared: one token verifies on every node
	nodes := newClusterWith(t, 3, func(n *procNode) {
		n.settings = []string{"--cap-key-file", capKey, "--names-per-tenant", "2", "--cluster-name-quota"}
	})
	a, b, c := nodes[0], nodes[1], nodes[2]
	for _, n := range nodes {
		eventually(t, convergeTimeout, n.name+" registry_cluster_version 3", func() (bool, string) {
			v, ok := scrapeMetric(t, n, registry.MetricClusterVersion)
			return ok && v == registry.VersionQuota, fmt.Sprintf("%v (reported: %v)", v, ok)
		})
	}
	token := tenantToken(t, capKey, "acme")
	o := newOwner(t)
	for _, name := range []string{"one.acme", "two.acme"} {
		if got := claimAs(t, a, token, name, o); got.status != http.StatusCreated {
			t.Fatalf("claim %s through %s: %d %+v, want 201", name, a.name, got.status, got.env)
		}
	}
	wantRegistryQuota(t, claimAs(t, b, token, "three.acme", o), b, "three.acme")

	a.kill(t)
	a.start(t)
	a.waitReady(t)
	wantRegistryQuota(t, claimAs(t, a, token, "four.acme", o), a, "four.acme")

	// The setting off on a replica whose store applied the raise.
	c.kill(t)
	args := []string{"--data-dir", c.dataDir, "--http-addr", "127.0.0.1:0", "--quic-addr", c.quic,
		"--cap-key-file", capKey, "--names-per-tenant", "2"}
	args = append(args, c.extra...)
	cmd := exec.Command(buildRond(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case waitErr := <-done:
		_ = waitErr // the exit code is checked below
	case <-time.After(startDeadline):
		_ = cmd.Process.Kill()
		t.Logf("%s killed: %v", c.name, <-done)
		t.Fatalf("%s with cluster_name_quota off after the raise: still running after %v; stderr %q", c.name, startDeadline, stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(stderr.String(), "config: cluster_name_quota: off") {
		t.Fatalf("%s with cluster_name_quota off after the raise: exit %d, stderr %q; want 2 naming cluster_name_quota", c.name, code, stderr.String())
	}
	for _, n := range nodes {
		n.kill(t)
	}

	offKey := filepath.Join(t.TempDir(), "cap.key")
	off := newClusterWith(t, 2, func(n *procNode) {
		n.settings = []string{"--cap-key-file", offKey, "--names-per-tenant", "2"}
	})
	offToken := tenantToken(t, offKey, "acme")
	for i, name := range []string{"one.acme", "two.acme", "three.acme"} {
		n := off[i/2]
		if got := claimAs(t, n, offToken, name, o); got.status != http.StatusCreated {
			t.Fatalf("without cluster_name_quota: claim %s through %s: %d %+v, want 201 (each gateway bounds its own claims)", name, n.name, got.status, got.env)
		}
	}
	if v, ok := scrapeMetric(t, off[0], registry.MetricClusterVersion); ok && v != registry.VersionBase {
		t.Fatalf("without cluster_name_quota: registry_cluster_version %v, want %d", v, registry.VersionBase)
	}
}

// tenantToken mints a token of tenant with every op from the cap key file.
func tenantToken(t *testing.T, capKey, tenant string) string {
	t.Helper()
	_, key, err := keyfile.ReadCapKey(capKey)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := auth.Mint(key, tenant, auth.OpsAll, [auth.NonceBytes]byte{3}, auth.Expiry(env.Time(time.Now().Add(time.Hour).UnixNano())))
	if err != nil {
		t.Fatal(err)
	}
	return tok.Encode()
}

// claimAs claims name for o on n with token, retrying while the registry
// cannot answer (503; 504, after which a retry of a claim that took the
// name answers 409 with o as its owner, counted here as the 201 it was).
func claimAs(t *testing.T, n *procNode, token, name string, o owner) httpAnswer {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"owner": o.pub})
	var got httpAnswer
	eventually(t, convergeTimeout, "POST /names/"+name+" on "+n.name, func() (bool, string) {
		got = call(t, "POST", n.url+"/names/"+name, token, body)
		switch got.status {
		case http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return false, fmt.Sprintf("%d %+v", got.status, got.env)
		case http.StatusConflict:
			if rec := resolveName(t, n, name); rec.Owner == o.pub {
				got = httpAnswer{status: http.StatusCreated}
			}
		}
		return true, ""
	})
	return got
}

// wantRegistryQuota checks got is the registry's refusal of a tenant's
// new name past its quota (the gateway's own edge count words it
// otherwise: "holds N names"), and that the name stayed unclaimed.
func wantRegistryQuota(t *testing.T, got httpAnswer, n *procNode, name string) {
	t.Helper()
	if got.status != http.StatusForbidden || got.env.Code != gateway.CodeNameQuota || !strings.Contains(got.env.Message, "in the registry") {
		t.Fatalf("claim %s through %s: %d %+v, want 403 %s from the registry", name, n.name, got.status, got.env, gateway.CodeNameQuota)
	}
	eventually(t, convergeTimeout, "GET /names/"+name+" on "+n.name+" after the refusal", func() (bool, string) {
		code, body := n.do(t, "GET", "/names/"+name, nil, false)
		switch code {
		case 0, http.StatusServiceUnavailable, http.StatusGatewayTimeout: // no answer yet: ask again
			return false, fmt.Sprintf("%d %s", code, body)
		case http.StatusNotFound:
			return true, ""
		}
		t.Fatalf("GET /names/%s on %s after the refusal: %d %s, want 404", name, n.name, code, body)
		return false, ""
	})
}

// scrapeMetric reads one unlabelled series from n's /metrics; ok is false
// while n does not answer or does not report it yet.
func scrapeMetric(t *testing.T, n *procNode, series string) (float64, bool) {
	t.Helper()
	code, body := n.do(t, "GET", "/metrics", nil, false)
	if code != http.StatusOK {
		return 0, false
	}
	for _, line := range strings.Split(string(body), "\n") {
		if value, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(value, 64)
			return v, err == nil
		}
	}
	return 0, false
}
