package gateway_test

import (
	"testing"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/io/gateway"
)

// TestWrongMethodIs405 checks that a known path under a method no route
// serves is 405 in the envelope with an Allow header naming exactly the
// route table's methods for that path, and that an unknown path stays 404.
func TestWrongMethodIs405(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{}, 0)
	addr := proto.AddrOf([]byte("any")).String()
	cases := []struct{ method, path, allow string }{
		{"POST", "/o/" + addr, "GET, HEAD, DELETE"},
		{"GET", "/o", "PUT"},
		{"DELETE", "/names/some.name", "GET, HEAD, POST, PUT"},
		{"PUT", "/n/some.name", "GET, HEAD"},
		{"POST", "/providers/" + addr, "GET, HEAD"},
		{"DELETE", "/healthz", "GET, HEAD"},
		{"POST", "/metrics", "GET, HEAD"},
	}
	for _, c := range cases {
		r := f.do(c.method, c.path, nil, f.bearer())
		wantError(t, r, 405, gateway.CodeMethodNotAllowed)
		if got := r.Header.Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, got, c.allow)
		}
	}
	for _, c := range []struct{ method, path string }{{"GET", "/nope"}, {"POST", "/o/a/b"}, {"DELETE", "/"}} {
		r := f.do(c.method, c.path, nil, nil)
		wantError(t, r, 404, gateway.CodeNotFound)
		if r.Header.Get("Allow") != "" {
			t.Errorf("%s %s: 404 with Allow %q", c.method, c.path, r.Header.Get("Allow"))
		}
	}
}
