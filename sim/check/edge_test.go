package check

import (
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/admission"
	"github.com/ron-network/ron/sim/workload"
)

func queueEvents(grants ...string) []EdgeEvent {
	var out []EdgeEvent
	for _, tenant := range []string{"a", "b"} {
		for i := 0; i < 4; i++ {
			out = append(out, EdgeEvent{Kind: EdgeEnqueue, Tenant: tenant, Write: true, Cost: 1})
		}
	}
	for i, tenant := range grants {
		out = append(out, EdgeEvent{At: time.Duration(i), Kind: EdgeGrant, Tenant: tenant, Write: true, Cost: 1})
	}
	return out
}

// TestFairnessBound: alternating grants pass; one tenant granted three
// times while the other waits breaks the bound (quantum 1 + cost 1).
func TestFairnessBound(t *testing.T) {
	if r := CheckFairness(queueEvents("a", "b", "a", "b"), 0); !r.OK {
		t.Fatalf("round robin failed: %s", r.Detail)
	}
	if r := CheckFairness(queueEvents("a", "a", "a"), 0); r.OK || !strings.Contains(r.Detail, "beyond the DRR bound") {
		t.Fatalf("starvation passed: %s", r.Detail)
	}
	if r := CheckFairness(nil, 0); r.OK {
		t.Fatalf("no contention passed: %s", r.Detail)
	}
}

// TestFairnessSkipsTenantsAtTheirWriteBound: a tenant running its
// writesPerTenantMax writes is held back by its own writes, not waiting
// for a slot, so the grants others get meanwhile are not a DRR gap; once
// it runs fewer, starving it is caught again.
func TestFairnessSkipsTenantsAtTheirWriteBound(t *testing.T) {
	events := []EdgeEvent{{Kind: EdgeWriteStart, Tenant: "b", Write: true, Cost: 1}}
	events = append(events, queueEvents("a", "a", "a")...)
	if r := CheckFairness(events, 1); strings.Contains(r.Detail, "beyond the DRR bound") {
		t.Fatalf("grants while b was at its write bound failed: %s", r.Detail)
	}
	events = append(events, EdgeEvent{Kind: EdgeWriteEnd, Tenant: "b", Write: true})
	for i := 0; i < 4; i++ {
		events = append(events, EdgeEvent{Kind: EdgeEnqueue, Tenant: "a", Write: true, Cost: 1})
	}
	for i := 0; i < 3; i++ {
		events = append(events, EdgeEvent{At: time.Duration(10 + i), Kind: EdgeGrant, Tenant: "a", Write: true, Cost: 1})
	}
	if r := CheckFairness(events, 1); r.OK || !strings.Contains(r.Detail, "beyond the DRR bound") {
		t.Fatalf("starving b below its bound passed: %s", r.Detail)
	}
}

// TestRefusalsMustMatchTheCounters: a refusal nobody counted, or an
// untyped one, fails.
func TestRefusalsMustMatchTheCounters(t *testing.T) {
	seen := []admission.Refusal{{Kind: admission.KindOverQuota, Reason: admission.ShedOverQuota}}
	if r := CheckRefusals(seen, map[string]float64{admission.ShedOverQuota: 1}); !r.OK {
		t.Fatalf("matching counts failed: %s", r.Detail)
	}
	if r := CheckRefusals(seen, map[string]float64{}); r.OK {
		t.Fatal("an uncounted refusal passed")
	}
	if r := CheckRefusals([]admission.Refusal{{Reason: "mystery"}}, nil); r.OK {
		t.Fatal("an untyped refusal passed")
	}
}

// TestReadAvailabilityCountsCapacityRefusals: a read refused for the
// node's capacity while writes are shed counts against availability; one
// refused for its own quota does not.
func TestReadAvailabilityCountsCapacityRefusals(t *testing.T) {
	var records []workload.EdgeRecord
	records = append(records, workload.EdgeRecord{Write: true, Return: 1, Refusal: admission.QueueTimeout()})
	for i := 0; i < ReadsSeenMin; i++ {
		records = append(records, workload.EdgeRecord{Call: time.Duration(i), Return: time.Duration(i + 1)})
	}
	own := workload.EdgeRecord{Return: 1, Refusal: admission.Refusal{Kind: admission.KindOverQuota, Reason: admission.ShedOverQuota}}
	if r := CheckReadAvailability(append(records, own)); !r.OK {
		t.Fatalf("own-quota refusal counted: %s", r.Detail)
	}
	shed := workload.EdgeRecord{Return: 1, Refusal: admission.QueueTimeout()}
	if r := CheckReadAvailability(append(records, shed)); r.OK {
		t.Fatalf("a read shed for capacity passed at %d reads: %s", ReadsSeenMin+1, r.Detail)
	}
}
