package admission

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"pgregory.net/rapid"
)

// TestSessionsBoundPerTenantAndGlobally: one tenant stops at its limit
// while others still open; the table full refuses everyone and makes
// readiness false with a reason; expiry frees idle sessions in id order.
func TestSessionsBoundPerTenantAndGlobally(t *testing.T) {
	s := NewSessions(SessionsConfig{SessionsMax: 4, SessionsPerTenantMax: 2, SessionTTL: time.Second})
	var held []SessionID
	for i := 0; i < 2; i++ {
		id, r := s.Open(0, "hog")
		if r.Refused() {
			t.Fatalf("hog session %d refused: %+v", i, r)
		}
		held = append(held, id)
	}
	if _, r := s.Open(0, "hog"); r.Reason != ShedSessionsTenant {
		t.Fatalf("hog beyond its limit: %+v", r)
	}
	if ok, _ := Ready(nil, s); !ok {
		t.Fatal("a tenant at its limit made the node unready")
	}
	for _, tenant := range []string{"a", "b"} {
		if _, r := s.Open(env.Time(time.Second/2), tenant); r.Refused() {
			t.Fatalf("tenant %s refused while the node has room: %+v", tenant, r)
		}
	}
	if _, r := s.Open(0, "c"); r.Reason != ShedSessionsFull || r.Kind != KindOverloaded {
		t.Fatalf("full table: %+v", r)
	}
	if ok, reason := Ready(nil, s); ok || reason != NotReadySessions {
		t.Fatalf("full table ready=%v %q", ok, reason)
	}
	s.Touch(env.Time(time.Second/2), held[1])
	expired := s.Expire(env.Time(time.Second))
	if len(expired) != 1 || expired[0] != held[0] {
		t.Fatalf("expired %v, want only the idle %v", expired, held[0])
	}
	if ok, _ := Ready(nil, s); !ok || s.Tenant("hog") != 1 {
		t.Fatalf("after expiry: ready %v, hog holds %d", ok, s.Tenant("hog"))
	}
	s.Close(held[0]) // already expired: a no-op
	s.Close(held[1])
	if s.Len() != 2 || s.Tenant("hog") != 0 {
		t.Fatalf("after close: %d open, hog %d", s.Len(), s.Tenant("hog"))
	}
}

// TestSessionsKeepAShareForTenantsHoldingNone: 8 tenants each trying to
// hold 8 slow uploads (SessionsPerTenantMax) no longer fill the 64
// sessions: once only the reserved quarter is free they are refused
// (429 sessions_tenant, readiness still true), and a 9th tenant, then
// 13 more, each get a session; only then is the table full (503). On the
// old table the 8 took all 64 and the 9th was refused sessions_full.
func TestSessionsKeepAShareForTenantsHoldingNone(t *testing.T) {
	s := NewSessions(SessionsConfig{})
	cfg := s.Config()
	if cfg.SessionsMax != 64 || cfg.SessionsPerTenantMax != 8 || cfg.SessionsReserved != 16 {
		t.Fatalf("defaults %+v, want 64 sessions, 8 per tenant, 16 reserved", cfg)
	}
	refused := 0
	for i := 0; i < 8; i++ {
		for j := 0; j < 8; j++ {
			_, r := s.Open(0, fmt.Sprintf("attacker%d", i))
			if !r.Refused() {
				continue
			}
			refused++
			if r.Kind != KindOverQuota || r.Reason != ShedSessionsReserved || !strings.Contains(r.Detail, "kept for tenants holding none") {
				t.Fatalf("attacker%d's session %d: %+v, want 429 sessions_reserved naming the reserve", i, j, r)
			}
		}
	}
	// six attackers grow to 48 sessions; the last two still get their
	// first session each (they held none), from the reserve
	if s.Len() != 50 || refused != 14 {
		t.Fatalf("8 attackers hold %d sessions (%d refused), want 50 (14 refused)", s.Len(), refused)
	}
	if ok, reason := Ready(nil, s); !ok {
		t.Fatalf("unready (%s) with the reserve free", reason)
	}
	if _, r := s.Open(0, "victim"); r.Refused() {
		t.Fatalf("a 9th tenant was refused: %+v", r)
	}
	if _, r := s.Open(0, "victim"); r.Reason != ShedSessionsReserved {
		t.Fatalf("the 9th tenant's second session: %+v, want sessions_reserved", r)
	}
	for i := 0; i < 13; i++ {
		if _, r := s.Open(0, fmt.Sprintf("newcomer%d", i)); r.Refused() {
			t.Fatalf("newcomer %d refused with %d open: %+v", i, s.Len(), r)
		}
	}
	if _, r := s.Open(0, "late"); r.Reason != ShedSessionsFull || r.Kind != KindOverloaded {
		t.Fatalf("full table: %+v", r)
	}
	if ok, reason := Ready(nil, s); ok || reason != NotReadySessions {
		t.Fatalf("full table ready=%v %q", ok, reason)
	}
}

// TestSessionsReserveConfig: 0 takes a quarter, a reserve as large as the
// table is clamped to SessionsMax-1 (not silently turned into the
// default) and Validate reports it, a negative one reserves none and
// stays so when defaults are filled again (the simulator fills them
// twice).
func TestSessionsReserveConfig(t *testing.T) {
	for _, c := range []struct {
		max, reserved, want int
		invalid             bool
	}{{64, 0, 16, false}, {8, 0, 2, false}, {3, 0, 0, false}, {8, 8, 7, true}, {8, 30, 7, true}, {0, 64, 63, true},
		{8, 7, 7, false}, {8, 3, 3, false}, {8, -5, 0, false}} {
		in := SessionsConfig{SessionsMax: c.max, SessionsReserved: c.reserved}
		cfg := in.WithDefaults().WithDefaults()
		if got := cfg.reserved(); got != c.want {
			t.Errorf("SessionsMax %d SessionsReserved %d: %d reserved, want %d", c.max, c.reserved, got, c.want)
		}
		if err := in.Validate(); (err != nil) != c.invalid || err != nil && !strings.Contains(err.Error(), "SessionsReserved") {
			t.Errorf("SessionsMax %d SessionsReserved %d: Validate %v, want invalid %v", c.max, c.reserved, err, c.invalid)
		}
	}
}

// TestSessionsReserveBoundary: with 8 sessions and 2 reserved, a tenant
// holding one is admitted to a second while 3 are free (reserved+1) and
// refused sessions_reserved at exactly 2 free (== reserved), where a
// tenant holding none still gets one.
func TestSessionsReserveBoundary(t *testing.T) {
	s := NewSessions(SessionsConfig{SessionsMax: 8, SessionsPerTenantMax: 8, SessionsReserved: 2})
	for i := 0; i < 4; i++ {
		if _, r := s.Open(0, fmt.Sprintf("filler%d", i)); r.Refused() {
			t.Fatal(r)
		}
	}
	if _, r := s.Open(0, "holder"); r.Refused() { // 3 free after this
		t.Fatal(r)
	}
	if free := 8 - s.Len(); free != 3 {
		t.Fatalf("%d free, want 3", free)
	}
	if _, r := s.Open(0, "holder"); r.Refused() {
		t.Fatalf("holder refused with reserved+1 free: %+v", r)
	}
	if _, r := s.Open(0, "holder"); r.Reason != ShedSessionsReserved || r.Kind != KindOverQuota {
		t.Fatalf("holder with free == reserved: %+v, want 429 sessions_reserved", r)
	}
	if _, r := s.Open(0, "newcomer"); r.Refused() {
		t.Fatalf("a tenant holding none refused from the reserve: %+v", r)
	}
}

// TestSessionsFairShareProperty drives a table with random opens, closes,
// touches and expiries and checks every Open against the rule: a tenant
// at SessionsPerTenantMax is refused sessions_tenant; otherwise a full
// table refuses sessions_full; otherwise a tenant holding none is always
// admitted, and one holding some only while more than SessionsReserved
// are free. Counts never exceed either limit.
func TestSessionsFairShareProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := SessionsConfig{
			SessionsMax:          rapid.IntRange(1, 24).Draw(t, "max"),
			SessionsPerTenantMax: rapid.IntRange(1, 10).Draw(t, "perTenant"),
			SessionsReserved:     rapid.IntRange(-2, 12).Draw(t, "reserved"),
			SessionTTL:           time.Second,
		}
		s := NewSessions(cfg)
		cfg = s.Config()
		tenants := rapid.IntRange(1, 30).Draw(t, "tenants")
		owner := map[SessionID]string{}
		var held []SessionID // open ids in open order, for deterministic picks
		now := env.Time(0)
		for step := rapid.IntRange(1, 300).Draw(t, "steps"); step > 0; step-- {
			switch rapid.IntRange(0, 9).Draw(t, "op") {
			case 0, 1, 2, 3, 4, 5:
				tenant := fmt.Sprintf("t%d", rapid.IntRange(0, tenants-1).Draw(t, "tenant"))
				had, free := s.Tenant(tenant), cfg.SessionsMax-s.Len()
				id, r := s.Open(now, tenant)
				want := ""
				switch {
				case had >= cfg.SessionsPerTenantMax:
					want = ShedSessionsTenant
				case free <= 0:
					want = ShedSessionsFull
				case had > 0 && free <= cfg.reserved():
					want = ShedSessionsReserved
				}
				if r.Reason != want {
					t.Fatalf("%s holding %d with %d free of %+v: refusal %q, want %q", tenant, had, free, cfg, r.Reason, want)
				}
				if !r.Refused() {
					owner[id] = tenant
					held = append(held, id)
				}
			case 6, 7:
				if len(held) > 0 {
					i := rapid.IntRange(0, len(held)-1).Draw(t, "close")
					s.Close(held[i])
					delete(owner, held[i])
					held = append(held[:i], held[i+1:]...)
				}
			case 8:
				if len(held) > 0 {
					s.Touch(now, held[rapid.IntRange(0, len(held)-1).Draw(t, "touch")])
				}
			case 9:
				now += env.Time(rapid.IntRange(0, 2000).Draw(t, "ms")) * env.Time(time.Millisecond)
				for _, id := range s.Expire(now) {
					delete(owner, id)
				}
				kept := held[:0]
				for _, id := range held {
					if _, ok := owner[id]; ok {
						kept = append(kept, id)
					}
				}
				held = kept
			}
			counts := map[string]int{}
			// map order ok: counts
			for _, tenant := range owner {
				counts[tenant]++
			}
			// map order ok: each checked alone
			for tenant, n := range counts {
				if n > cfg.SessionsPerTenantMax || s.Tenant(tenant) != n {
					t.Fatalf("%s holds %d (table says %d), limit %d", tenant, n, s.Tenant(tenant), cfg.SessionsPerTenantMax)
				}
			}
			if s.Len() != len(owner) || s.Len() > cfg.SessionsMax {
				t.Fatalf("%d open (model %d), limit %d", s.Len(), len(owner), cfg.SessionsMax)
			}
		}
	})
}
