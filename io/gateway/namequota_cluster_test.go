package gateway_test

import (
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/failpoint"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/runtime"
)

// another is a second gateway, with f's configuration, over f's node and
// registry: another gateway of the cluster, or f's gateway restarted.
func (f *fixture) another(edit func(*gateway.Config)) *fixture {
	f.t.Helper()
	keys, _ := rootKeyring(f.t)
	cfg := gateway.Config{Backend: f.rt, Verifier: auth.NewVerifier(keys, nil), Metrics: f.rt.Prom(),
		Gatherer: f.rt.Prom().Registry(), Logger: slog.New(slog.DiscardHandler), Version: "test"}
	edit(&cfg)
	g := gateway.New(cfg)
	srv := httptest.NewUnstartedServer(g)
	srv.Config = gateway.NewServer(g, nil)
	srv.Listener = gateway.EnvelopeListener(srv.Listener)
	srv.Start()
	f.t.Cleanup(srv.Close)
	return &fixture{t: f.t, srv: srv, rt: f.rt, key: f.key, root: f.root}
}

// Once the registry's cluster version carries tenants (VersionQuota), the
// quota is the registry's: two gateways over one registry cannot together
// let a tenant past it, nor can a gateway restarted (its edge count
// empty). The refusal is the edge's 403 NAME_QUOTA, counted alike.
func TestNameQuotaHoldsAcrossGateways(t *testing.T) {
	if err := failpoint.Enable(runtime.FailpointRegistryVersionMax, fmt.Sprintf("return(%d)", registry.VersionQuota)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = failpoint.Disable(runtime.FailpointRegistryVersionMax) })
	quota := func(c *gateway.Config) { c.NamesPerTenantMax = 3 }
	g1 := newServerFixtureWith(t, quota)
	deadline := time.Now().Add(30 * time.Second)
	for metricValue(t, g1, registry.MetricClusterVersion, "") < registry.VersionQuota {
		if time.Now().After(deadline) {
			t.Fatalf("cluster version %v, want %d", metricValue(t, g1, registry.MetricClusterVersion, ""), registry.VersionQuota)
		}
		time.Sleep(20 * time.Millisecond)
	}
	g2 := g1.another(quota)
	evil := g1.tenantToken("evil")
	for i, g := range []*fixture{g1, g1, g2} {
		if r := g.do("POST", fmt.Sprintf("/names/evil-%d", i), []byte(ownerClaim(byte(i+1))), evil); r.StatusCode != 201 {
			t.Fatalf("evil's claim %d: %d %s", i, r.StatusCode, r.body)
		}
	}
	// g2 has seen one claim of evil's: only the registry can refuse this.
	env := wantError(t, g2.do("POST", "/names/evil-3", []byte(ownerClaim(4)), evil), 403, gateway.CodeNameQuota)
	if !strings.Contains(env.Message, "tenant evil reached its quota of 3 names in the registry") || env.Retryable {
		t.Fatalf("registry quota refusal %+v, want a final refusal naming the tenant and its quota", env)
	}
	// A gateway restarted counts nothing at the edge; the registry still does.
	g3 := g1.another(quota)
	wantError(t, g3.do("POST", "/names/evil-4", []byte(ownerClaim(5)), evil), 403, gateway.CodeNameQuota)
	if r := g3.do("POST", "/names/evil-0", []byte(ownerClaim(1)), evil); r.StatusCode != 201 {
		t.Fatalf("evil's repeated claim of its own name at the quota: %d %s", r.StatusCode, r.body)
	}
	if r := g3.do("POST", "/names/alice-1", []byte(ownerClaim(9)), g3.tenantToken("alice")); r.StatusCode != 201 {
		t.Fatalf("alice's claim while evil is at its quota: %d %s", r.StatusCode, r.body)
	}
	if n := metricValue(t, g1, gateway.MetricNamesRefused, gateway.NamesRefusedQuota); n != 2 {
		t.Fatalf("quota refusals counted: %v, want 2", n)
	}
}
