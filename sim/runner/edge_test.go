package runner

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/admission"
	"github.com/ron-network/ron/sim/scenario"
)

func loadOverload(t *testing.T) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Load(filepath.Join("..", "..", "scenarios", "overload.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func checkNamed(t *testing.T, rep *Report, name string) CheckResult {
	t.Helper()
	for _, c := range rep.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s check in the report", name)
	return CheckResult{}
}

// shortened cuts the scenario to d of load (and d/3 to drain), so the
// test stays cheap; the limits are the file's.
func shortened(s *scenario.Scenario, d time.Duration) *scenario.Scenario {
	s = s.Clone()
	s.Workload.Stop, s.Duration = d, d+d/3
	return s
}

// TestOverloadChecksSeeRefusals: overload.yaml's edge checks pass, and
// each saw what it judges: the refusals by reason the nodes counted
// include quota, capacity (queue timeout or sessions) and token refusals,
// and the fairness check compared backlogged tenants. It runs at seed 3,
// not the scenario's own 7: since the scrub's cursor record moved every
// storage run's disk draws, seed 7 sheds no write for capacity in the
// whole run (its readiness check says "0 capacity refusals"), while seeds
// 1-6 and 8 all do within 20 s (queue timeouts: 27-139 at this build).
// ci-deep runs the scenario at 150 seeds besides.
func TestOverloadChecksSeeRefusals(t *testing.T) {
	s := shortened(loadOverload(t), 20*time.Second)
	rep, err := Run(s, Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{scenario.CheckFairness, scenario.CheckReadAvailability, scenario.CheckReadiness, scenario.CheckRefusals} {
		if c := checkNamed(t, rep, name); !c.OK {
			t.Fatalf("%s failed: %s", name, c.Detail)
		}
	}
	shed := func(reason string) float64 {
		return rep.Counters[`omnigate_shed_total{reason="`+reason+`"}`]
	}
	for _, reason := range []string{admission.ShedOverQuota, admission.ShedSessionsTenant, admission.ShedTokenDenied, admission.ShedTenantWrites} {
		if shed(reason) == 0 {
			t.Errorf("no %s refusal counted: %v", reason, rep.Counters)
		}
	}
	if shed(admission.ShedQueueTimeout)+shed(admission.ShedOverload) == 0 {
		t.Errorf("no write shed for capacity: %v", rep.Counters)
	}
	if c := checkNamed(t, rep, scenario.CheckFairness); strings.Contains(c.Detail, " 0 grants compared") {
		t.Errorf("fairness compared nothing: %s", c.Detail)
	}
}

// TestEdgeChecksFailWhenNothingHitsALimit: with only the light writer and
// the readers (no tenant over its rate, no slow uploads, no stale token),
// every edge check fails saying nothing hit a limit: none of them can pass
// on a workload that never reaches the edge's limits.
func TestEdgeChecksFailWhenNothingHitsALimit(t *testing.T) {
	s := shortened(loadOverload(t), 5*time.Second)
	var calm []scenario.EdgeTenant
	for _, g := range s.Workload.Edge.Tenants {
		if g.Name == "light" || g.Name == "reader" {
			calm = append(calm, g)
		}
	}
	s.Workload.Edge.Tenants = calm
	rep, err := Run(s, Options{Seed: *s.Seed})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{scenario.CheckFairness, scenario.CheckReadAvailability, scenario.CheckReadiness, scenario.CheckRefusals} {
		c := checkNamed(t, rep, name)
		if c.OK || !strings.Contains(c.Detail, "nothing hit a limit") {
			t.Errorf("%s on a calm workload: ok=%v %s", name, c.OK, c.Detail)
		}
	}
}

// TestSessionFairShareLetsANewTenantIn: the red team's lockout in the
// simulator. Eight tenants of slow uploaders (8 s per upload, enough
// clients to keep SessionsPerTenantMax uploads open on every node) and a
// light writer share the default session table (64, 8 per tenant). The
// uploaders are held to their share (sessions_reserved) and no upload is
// refused sessions_full: the reserved sessions stay free for a tenant
// holding none. Before the fair share the eight filled every table and
// the light writer's uploads (and theirs) were refused sessions_full.
func TestSessionFairShareLetsANewTenantIn(t *testing.T) {
	s := shortened(loadOverload(t), 12*time.Second)
	s.Workload.Edge.Limits = scenario.EdgeLimits{TenantRate: 100, TenantBurst: 50}
	var groups []scenario.EdgeTenant
	for i := 0; i < 8; i++ {
		groups = append(groups, scenario.EdgeTenant{Name: "trickler" + string(rune('0'+i)), Clients: 40, RatePerSecond: 20,
			Writes: 1, SizeBytes: 64 << 10, UploadBytesPerSecond: 8 << 10, Token: scenario.EdgeTokenValid})
	}
	s.Workload.Edge.Tenants = append(groups, scenario.EdgeTenant{Name: "light", Clients: 2, RatePerSecond: 10,
		Writes: 1, SizeBytes: 16 << 10, UploadBytesPerSecond: 1 << 20, Token: scenario.EdgeTokenValid})
	rep, err := Run(s, Options{Seed: *s.Seed})
	if err != nil {
		t.Fatal(err)
	}
	shed := func(reason string) float64 {
		return rep.Counters[`omnigate_shed_total{reason="`+reason+`"}`]
	}
	if shed(admission.ShedSessionsReserved) == 0 || shed(admission.ShedSessionsFull) != 0 {
		t.Fatalf("sessions_reserved %v, sessions_full %v: want the uploaders held to their share and no table full (%v)",
			shed(admission.ShedSessionsReserved), shed(admission.ShedSessionsFull), rep.Counters)
	}
	// no node was ever unready (its table full), so readiness, judging
	// nothing, fails saying so
	if c := checkNamed(t, rep, scenario.CheckReadiness); !strings.Contains(c.Detail, "no node was ever unready") {
		t.Fatalf("readiness: %s", c.Detail)
	}
	if c := checkNamed(t, rep, scenario.CheckRefusals); !c.OK {
		t.Fatalf("refusals failed: %s", c.Detail)
	}
}

// TestSessionsFairScenario: scenarios/sessions_fair.yaml, at its seed,
// passes its checks and exercises what it is about: tricklers refused
// for the reserve (sessions_reserved) and no table ever full. With
// sessions_reserved: 0 added to its limits (the table before the fair
// share) the tricklers fill every table: sessions_full, no
// sessions_reserved.
func TestSessionsFairScenario(t *testing.T) {
	s, err := scenario.Load(filepath.Join("..", "..", "scenarios", "sessions_fair.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, reserved := range []int{0, -1} {
		s := s.Clone()
		s.Workload.Edge.Limits.SessionsReserved = reserved
		rep, err := Run(s, Options{Seed: *s.Seed})
		if err != nil {
			t.Fatal(err)
		}
		shed := func(reason string) float64 { return rep.Counters[`omnigate_shed_total{reason="`+reason+`"}`] }
		fair := shed(admission.ShedSessionsReserved) > 0 && shed(admission.ShedSessionsFull) == 0
		if reserved == 0 && (!rep.OK || !fair) || reserved < 0 && (fair || shed(admission.ShedSessionsFull) == 0) {
			t.Fatalf("sessions_reserved %d: ok %v, sessions_reserved %v, sessions_full %v", reserved, rep.OK,
				shed(admission.ShedSessionsReserved), shed(admission.ShedSessionsFull))
		}
	}
}

// TestSteadyUploadKeepsItsSession: rond touches an upload's slot whenever
// body bytes arrive, and a simulated body arrives steadily, so an upload
// longer than session_ttl keeps its slot: with a 2 s TTL and 8 s uploads
// (one session per tenant) the run refuses exactly the uploads it
// refuses with the default minute, and stops none as session_expired.
// Before, the simulated slot was touched only when the body ended, so the
// table expired every 8 s upload after 2 s and let the tenant's next one
// in beside it: fewer sessions_tenant refusals, uploads beyond the limit.
func TestSteadyUploadKeepsItsSession(t *testing.T) {
	base := shortened(loadOverload(t), 12*time.Second)
	base.Workload.Edge.Limits = scenario.EdgeLimits{TenantRate: 100, TenantBurst: 50, SessionsPerTenantMax: 1}
	base.Workload.Edge.Tenants = []scenario.EdgeTenant{{Name: "slow", Clients: 12, RatePerSecond: 6,
		Writes: 1, SizeBytes: 64 << 10, UploadBytesPerSecond: 8 << 10, Token: scenario.EdgeTokenValid}}
	shed := map[time.Duration]map[string]float64{}
	for _, ttl := range []time.Duration{time.Minute, 2 * time.Second} {
		s := base.Clone()
		s.Workload.Edge.Limits.SessionTTL = ttl
		rep, err := Run(s, Options{Seed: *s.Seed})
		if err != nil {
			t.Fatal(err)
		}
		shed[ttl] = map[string]float64{}
		for _, reason := range []string{admission.ShedSessionsTenant, admission.ShedSessionExpired} {
			shed[ttl][reason] = rep.Counters[`omnigate_shed_total{reason="`+reason+`"}`]
		}
	}
	long, short := shed[time.Minute], shed[2*time.Second]
	if long[admission.ShedSessionsTenant] == 0 || short[admission.ShedSessionsTenant] != long[admission.ShedSessionsTenant] ||
		short[admission.ShedSessionExpired] != 0 {
		t.Fatalf("TTL 1m: %v; TTL 2s: %v; want the same sessions_tenant refusals (some) and no session_expired", long, short)
	}
}
