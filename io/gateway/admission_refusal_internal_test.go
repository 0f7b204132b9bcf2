package gateway

import (
	"net/http"
	"testing"

	"github.com/ron-network/ron/core/admission"
)

// TestTenantWritesRefusalIsTheTenants: a tenant at its write bound with
// its queued writes at their bound is answered 429 with the reason
// tenant_writes and the gate's detail (which limits), retryable, not a
// 503 that would read as the node's overload.
func TestTenantWritesRefusalIsTheTenants(t *testing.T) {
	g := admission.NewGate(admission.Config{InflightMax: 8, ReadHeadroom: 4, WritesPerTenantMax: 1, QueueDepthMax: 4, TenantBurst: 1e6}, 0)
	var d admission.Decision
	for i := 0; i < 3; i++ {
		d = g.Admit(0, admission.Request{Tenant: "carol", Write: true, Cost: 1})
	}
	if d.Outcome != admission.Shed {
		t.Fatalf("carol's third write: %+v, want shed", d)
	}
	e := refusalError(d.Refusal)
	if e.status != http.StatusTooManyRequests || e.code != CodeOverQuota || e.reason != ShedTenantWrites || !e.retryable ||
		e.message != d.Refusal.Detail || e.retryAfter <= 0 {
		t.Fatalf("refusal %+v answered %+v, want 429 OVER_QUOTA reason %s with the gate's detail", d.Refusal, e, ShedTenantWrites)
	}
}
