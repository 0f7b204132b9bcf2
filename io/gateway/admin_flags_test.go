package gateway_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/pebbledisk"
	"github.com/ron-network/ron/io/runtime"
)

// fakeFlags is a FlagSwitch over a map; failing makes Set fail as a node
// that cannot apply a flag would.
type fakeFlags struct {
	mu      sync.Mutex
	on      map[string]bool
	failing bool
}

func (f *fakeFlags) Enabled(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	on, known := f.on[name]
	return on || !known
}

func (f *fakeFlags) Flags() map[string]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]bool{}
	for k, v := range f.on {
		out[k] = v
	}
	return out
}

func (f *fakeFlags) Set(_ context.Context, name string, on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, known := f.on[name]; !known {
		return fmt.Errorf("%w %q (did you mean %q?)", gateway.ErrUnknownFlag, name, "repair")
	}
	if f.failing {
		return errors.New("node not ready")
	}
	f.on[name] = on
	return nil
}

func newFlagsFixture(t *testing.T) (*fixture, *fakeFlags, *gateway.Gateway) {
	t.Helper()
	rt := startNode(t, pebbledisk.Options{Dir: "db", FS: vfs.NewMem()},
		runtime.NodeSpec{Key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))}, 13)
	keys, key := rootKeyring(t)
	flags := &fakeFlags{on: map[string]bool{gateway.FlagAnonymousReads: true, "repair": true, "oap": true}}
	g := gateway.New(gateway.Config{Backend: rt, Verifier: auth.NewVerifier(keys, nil), Metrics: rt.Prom(),
		Logger: slog.New(slog.DiscardHandler), Version: "test", Flags: flags})
	f := &fixture{t: t, srv: httptest.NewServer(g), rt: rt, key: key}
	f.root = f.mint(auth.OpsAll)
	t.Cleanup(f.srv.Close)
	f.waitReady()
	return f, flags, g
}

// TestAdminFlagsNeedsAnAdminTokenAndAudits: without a token 401, with a
// token lacking admin 403, and neither changes a flag; with an admin
// token the flag flips, the answer lists every flag, and one audit record
// names the flag and both states.
func TestAdminFlagsNeedsAnAdminTokenAndAudits(t *testing.T) {
	f, flags, _ := newFlagsFixture(t)
	body := []byte(`{"repair": false}`)
	wantError(t, f.do("POST", "/admin/flags", body, nil), http.StatusUnauthorized, gateway.CodeUnauthorized)
	writer := map[string]string{"Authorization": "Bearer " + f.mint(auth.Ops(auth.OpWrite, auth.OpRead))}
	wantError(t, f.do("POST", "/admin/flags", body, writer), http.StatusForbidden, gateway.CodeForbidden)
	if !flags.Enabled("repair") {
		t.Fatal("a refused request changed the flag")
	}
	r := f.do("POST", "/admin/flags", body, f.bearer())
	if r.StatusCode != http.StatusOK || !strings.Contains(string(r.body), `"repair":false`) {
		t.Fatalf("admin flip: %d %s", r.StatusCode, r.body)
	}
	if flags.Enabled("repair") {
		t.Fatal("the flag did not flip")
	}
	recs := readAudit(t, f)
	last := recs[len(recs)-1]
	if last.Kind != audit.KindPolicyChange || last.Subject != "flag:repair" || last.Detail != "repair: true -> false" || !strings.HasPrefix(last.Actor, "token:") {
		t.Fatalf("last audit record %+v", last)
	}
	count := len(recs)
	// The same state again is accepted and not audited (nothing changed).
	if r := f.do("POST", "/admin/flags", body, f.bearer()); r.StatusCode != http.StatusOK {
		t.Fatalf("same state: %d %s", r.StatusCode, r.body)
	}
	if got := len(readAudit(t, f)); got != count {
		t.Fatalf("a no-op flip was audited: %d records, want %d", got, count)
	}
}

// TestAdminFlagsRefusesUnknownAndUnappliedFlags: an unknown name is a 400
// naming the nearest flag, and nothing changes even for the known names
// of the same body; a null value is a 400 naming the flag, not false; a flag the node cannot apply is a retryable 503.
func TestAdminFlagsRefusesUnknownAndUnappliedFlags(t *testing.T) {
	f, flags, _ := newFlagsFixture(t)
	env := wantError(t, f.do("POST", "/admin/flags", []byte(`{"oap": false, "repiar": false}`), f.bearer()), http.StatusBadRequest, gateway.CodeBadRequest)
	if !strings.Contains(env.Message, `"repair"`) || !flags.Enabled("oap") {
		t.Fatalf("unknown flag: %+v, oap on %v", env, flags.Enabled("oap"))
	}
	wantError(t, f.do("POST", "/admin/flags", []byte(`{}`), f.bearer()), http.StatusBadRequest, gateway.CodeBadRequest)
	wantError(t, f.do("POST", "/admin/flags", []byte(`{"oap": "no"}`), f.bearer()), http.StatusBadRequest, gateway.CodeBadRequest)
	// A null is not false: refused naming the flag, and no flag changes
	// (the known "oap" of the same body neither).
	env = wantError(t, f.do("POST", "/admin/flags", []byte(`{"oap": false, "repair": null}`), f.bearer()), http.StatusBadRequest, gateway.CodeBadRequest)
	if !strings.Contains(env.Message, `"repair"`) || !flags.Enabled("repair") || !flags.Enabled("oap") {
		t.Fatalf("null flag: %+v, repair on %v, oap on %v", env, flags.Enabled("repair"), flags.Enabled("oap"))
	}
	flags.mu.Lock()
	flags.failing = true
	flags.mu.Unlock()
	if env := wantError(t, f.do("POST", "/admin/flags", []byte(`{"oap": false}`), f.bearer()), http.StatusServiceUnavailable, gateway.CodeUnavailable); !env.Retryable {
		t.Fatalf("unapplied flag: %+v, want retryable", env)
	}
}

// TestAnonymousReadsFlag: off, a read without a token (or with an invalid
// one) is 401 anonymous_reads_off while a read with a valid token works;
// on again, anonymous reads work.
func TestAnonymousReadsFlag(t *testing.T) {
	f, flags, _ := newFlagsFixture(t)
	addr := f.put([]byte("read me"))
	if r := f.do("GET", "/o/"+addr, nil, nil); r.StatusCode != http.StatusOK {
		t.Fatalf("anonymous read with the flag on: %d", r.StatusCode)
	}
	if r := f.do("POST", "/admin/flags", []byte(`{"anonymous_reads": false}`), f.bearer()); r.StatusCode != http.StatusOK {
		t.Fatalf("flip: %d %s", r.StatusCode, r.body)
	}
	env := wantError(t, f.do("GET", "/o/"+addr, nil, nil), http.StatusUnauthorized, gateway.CodeUnauthorized)
	if env.Reason != gateway.ReasonAnonymousReadsOff {
		t.Fatalf("reason %q", env.Reason)
	}
	wantError(t, f.do("GET", "/o/"+addr, nil, map[string]string{"Authorization": "Bearer not-a-token"}), http.StatusUnauthorized, gateway.CodeUnauthorized)
	if r := f.do("GET", "/o/"+addr, nil, f.bearer()); r.StatusCode != http.StatusOK || string(r.body) != "read me" {
		t.Fatalf("read with a token, flag off: %d %q", r.StatusCode, r.body)
	}
	if r := f.do("GET", "/healthz", nil, nil); r.StatusCode != http.StatusOK {
		t.Fatalf("/healthz with the flag off: %d", r.StatusCode)
	}
	if err := flags.Set(context.Background(), gateway.FlagAnonymousReads, true); err != nil {
		t.Fatal(err)
	}
	if r := f.do("GET", "/o/"+addr, nil, nil); r.StatusCode != http.StatusOK {
		t.Fatalf("anonymous read, flag back on: %d", r.StatusCode)
	}
}

// TestFlagGuard: a guarded handler answers 503 with the envelope naming
// the flag while it is off, and runs while it is on.
func TestFlagGuard(t *testing.T) {
	f, flags, g := newFlagsFixture(t)
	srv := httptest.NewServer(g.FlagGuard("oap", g))
	defer srv.Close()
	f.srv = srv
	if r := f.do("GET", "/healthz", nil, nil); r.StatusCode != http.StatusOK {
		t.Fatalf("guard on: %d", r.StatusCode)
	}
	_ = flags.Set(context.Background(), "oap", false)
	env := wantError(t, f.do("GET", "/healthz", nil, nil), http.StatusServiceUnavailable, gateway.CodeUnavailable)
	if !env.Retryable || !strings.Contains(env.Message, "flag oap") {
		t.Fatalf("guard off: %+v", env)
	}
}
