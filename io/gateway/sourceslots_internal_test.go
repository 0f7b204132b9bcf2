package gateway

import (
	"net/http"
	"net/netip"
	"testing"
)

// TestSourceSlotsAllocFree: taking and giving back a source's slot, and
// finding a request's source, allocate nothing once the map has held a
// source (the hot path of every admitted request); the cap holds and a
// release makes room again.
func TestSourceSlotsAllocFree(t *testing.T) {
	s := newSourceSlots(2)
	r := &http.Request{RemoteAddr: "[::ffff:192.0.2.7]:4321"}
	src := requestSource(r)
	if src != netip.MustParseAddr("192.0.2.7") {
		t.Fatalf("source of %q is %v, want the IPv4 address", r.RemoteAddr, src)
	}
	s.take(src)
	s.release(src)
	if n := testing.AllocsPerRun(100, func() {
		src := requestSource(r)
		if !s.take(src) {
			t.Fatal("refused under the cap")
		}
		s.release(src)
	}); n != 0 && !raceEnabled {
		t.Fatalf("%v allocations per request, want 0", n)
	}
	for i, want := range []bool{true, true, false} { // a cap of 2
		if got := s.take(src); got != want {
			t.Fatalf("take %d: %v, want %v", i+1, got, want)
		}
	}
	s.release(src)
	if !s.take(src) || s.inFlight(src) != 2 {
		t.Fatalf("after a release: %d in flight, want 2", s.inFlight(src))
	}
	if unbounded := newSourceSlots(0); !unbounded.take(src) || unbounded.inFlight(src) != 0 {
		t.Fatal("no bound (0) counted or refused")
	}
}

// TestRequestsPerSourceDefault: a quarter of the admission in-flight cap.
func TestRequestsPerSourceDefault(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want int
	}{
		{Config{}, InflightMaxDefault / 4},
		{Config{Admission: AdmissionConfig{InflightMax: 40}}, 10},
		{Config{Admission: AdmissionConfig{InflightMax: 2}}, 1},
		{Config{RequestsPerSource: 7}, 7},
		{Config{RequestsPerSource: -1}, 0},
	} {
		if got := requestsPerSource(c.cfg); got != c.want {
			t.Errorf("%+v: %d, want %d", c.cfg.Admission, got, c.want)
		}
	}
	if requestsPerSource(Config{}) != 64 {
		t.Fatal("the default is not 64 with the admission defaults")
	}
}
