package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/io/gateway"
)

// TestProcessRegistryTenantRate: three replicas with
// --cluster-name-quota, --registry-tenant-rate 0.01 and
// --registry-tenant-burst 2 hold a tenant to two name writes cluster-wide:
// after two claims through node A, its third, through node B (whose own
// gateway bucket is full), is refused 429 OVER_QUOTA with reason
// tenant_registry_rate, retryable, and the name stays unclaimed; another
// tenant's claim through node C passes; the leader counts
// registry_rejects_total{reason="tenant_rate"}.
func TestProcessRegistryTenantRate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	capKey := filepath.Join(t.TempDir(), "cap.key")
	nodes := newClusterWith(t, 3, func(n *procNode) {
		n.settings = []string{"--cap-key-file", capKey, "--cluster-name-quota", "--registry-tenant-rate", "0.01", "--registry-tenant-burst", "2"}
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
	got := claimAs(t, b, token, "three.acme", o)
	if got.status != http.StatusTooManyRequests || got.env.Code != gateway.CodeOverQuota || got.env.Reason != gateway.ShedTenantRegistryRate || !got.env.Retryable {
		t.Fatalf("third claim through %s: %d %+v, want 429 %s reason %s, retryable", b.name, got.status, got.env, gateway.CodeOverQuota, gateway.ShedTenantRegistryRate)
	}
	eventually(t, convergeTimeout, "GET /names/three.acme on "+b.name+" after the refusal", func() (bool, string) {
		code, body := b.do(t, "GET", "/names/three.acme", nil, false)
		switch code {
		case 0, http.StatusServiceUnavailable, http.StatusGatewayTimeout: // no answer yet: ask again
			return false, fmt.Sprintf("%d %s", code, body)
		case http.StatusNotFound:
			return true, ""
		}
		t.Fatalf("GET /names/three.acme after the refusal: %d %s, want 404", code, body)
		return false, ""
	})
	if got := claimAs(t, c, tenantToken(t, capKey, "other"), "one.other", o); got.status != http.StatusCreated {
		t.Fatalf("another tenant's claim through %s: %d %+v, want 201", c.name, got.status, got.env)
	}
	var rejects float64
	for _, n := range nodes {
		v, _ := scrapeMetric(t, n, registry.MetricRejects+`{reason="tenant_rate"}`)
		rejects += v
	}
	if rejects != 1 {
		t.Fatalf("registry_rejects_total{reason=\"tenant_rate\"} sums to %v over the nodes, want 1", rejects)
	}
}
