package admission

import (
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
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
