package gateway_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/runtime"
)

// scriptedRegistry is a Backend answering registry calls as the registry
// does (first owner wins a name, names are never released), except that
// a claim made with an owner in hold waits until the test releases it,
// and one made with an owner in lost ends of unknown outcome (504)
// without being applied. It lets a test order concurrent claims.
type scriptedRegistry struct {
	mu     sync.Mutex
	names  map[string]string // name → owner key bytes
	hold   map[string]chan struct{}
	lost   map[string]bool
	arrive chan string // the owner (seed) of each held claim, when it arrives
}

func newScriptedRegistry() *scriptedRegistry {
	return &scriptedRegistry{names: map[string]string{}, hold: map[string]chan struct{}{}, lost: map[string]bool{},
		arrive: make(chan string, 16)}
}

func (s *scriptedRegistry) Ready() bool { return true }

func (s *scriptedRegistry) Call(ctx context.Context, _ string, body any) (any, error) {
	switch b := body.(type) {
	case registry.Claim:
		owner := string(b.Owner)
		s.mu.Lock()
		gate, lost := s.hold[owner], s.lost[owner]
		s.mu.Unlock()
		if gate != nil {
			s.arrive <- owner
			select {
			case <-gate:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if lost {
			return registry.Result{Err: registry.ErrUnknownOutcome}, nil
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if cur, ok := s.names[b.Name]; ok && cur != owner {
			return registry.Result{Err: registry.ErrTaken}, nil
		}
		s.names[b.Name] = owner
		return registry.Result{Record: registry.Record{Found: true, Owner: b.Owner}}, nil
	case registry.Resolve:
		s.mu.Lock()
		defer s.mu.Unlock()
		cur, ok := s.names[b.Name]
		if !ok {
			return registry.Result{}, nil
		}
		return registry.Result{Record: registry.Record{Found: true, Owner: ed25519.PublicKey(cur)}}, nil
	}
	return nil, fmt.Errorf("scripted registry: %T", body)
}

func ownerKey(seed byte) string {
	return string(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32)).Public().(ed25519.PublicKey))
}

// quotaServer serves a gateway over reg with a quota of max names.
func quotaServer(t *testing.T, reg *scriptedRegistry, max int) (*httptest.Server, auth.MACKey) {
	t.Helper()
	keys, key := rootKeyring(t)
	log := slog.New(slog.DiscardHandler)
	g := gateway.New(gateway.Config{Backend: reg, Verifier: auth.NewVerifier(keys, nil), Metrics: runtime.NewPromMetrics(log),
		Logger: log, Version: "test", NamesPerTenantMax: max, NameQuotaExempt: []string{"root"}, CallTimeout: 30 * time.Second})
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return srv, key
}

// claimAs posts a claim of name with owner seed as tenant and returns the
// status (no t.Fatal: it runs on other goroutines).
func claimAs(srv *httptest.Server, key auth.MACKey, tenant, name string, seed byte) (int, string) {
	tok, err := auth.Mint(key, tenant, auth.Ops(auth.OpName), [auth.NonceBytes]byte{2})
	if err != nil {
		return 0, err.Error()
	}
	return send(srv, "POST", "/names/"+name, ownerClaim(seed), "Bearer "+tok.Encode())
}

func send(srv *httptest.Server, method, path, body, auth string) (int, string) {
	req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader([]byte(body)))
	if err != nil {
		return 0, err.Error()
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(b)
}

func wantClaim(t *testing.T, srv *httptest.Server, key auth.MACKey, tenant, name string, seed byte, status int) {
	t.Helper()
	if got, body := claimAs(srv, key, tenant, name, seed); got != status {
		t.Fatalf("%s's claim of %s (owner %d): %d %s, want %d", tenant, name, seed, got, body, status)
	}
}

// The reviewer's interleaving: a tenant claims x twice at once with two
// owners; the first claim is admitted as the name's first, the second
// wins at the registry and the first is refused as taken. The refused
// claim must not uncount x, which the tenant now holds: at a quota of
// one, its next name is refused.
func TestNameQuotaConcurrentDuplicateClaims(t *testing.T) {
	reg := newScriptedRegistry()
	a, b := ownerKey(1), ownerKey(2)
	reg.hold[a], reg.hold[b] = make(chan struct{}), make(chan struct{})
	srv, key := quotaServer(t, reg, 1)
	status := make(chan int, 2)
	go func() { s, _ := claimAs(srv, key, "evil", "x", 1); status <- s }()
	if got := <-reg.arrive; got != a {
		t.Fatal("claim with owner 1 did not arrive first")
	}
	go func() { s, _ := claimAs(srv, key, "evil", "x", 2); status <- s }()
	if got := <-reg.arrive; got != b {
		t.Fatal("claim with owner 2 did not arrive second")
	}
	close(reg.hold[b])
	if s := <-status; s != 201 {
		t.Fatalf("owner 2's claim: %d, want 201", s)
	}
	close(reg.hold[a])
	if s := <-status; s != 409 {
		t.Fatalf("owner 1's claim: %d, want 409", s)
	}
	wantClaim(t, srv, key, "evil", "y", 3, 403)
}

// A claim of unknown outcome (504) counts, but not forever: a later claim
// of the name with the same owner refused as taken shows the 504 did not
// win it, and a resolve naming another owner settles it too. Without
// that, each 504 would lock a place until the gateway restarts.
func TestNameQuotaUnknownClaimsSettle(t *testing.T) {
	reg := newScriptedRegistry()
	reg.lost[ownerKey(1)] = true
	srv, key := quotaServer(t, reg, 1)
	wantClaim(t, srv, key, "evil", "x", 1, 504)
	wantClaim(t, srv, key, "evil", "y", 3, 403) // the 504 may hold x
	wantClaim(t, srv, key, "other", "x", 2, 201)
	reg.mu.Lock()
	delete(reg.lost, ownerKey(1))
	reg.mu.Unlock()
	wantClaim(t, srv, key, "evil", "x", 1, 409) // taken: the 504 did not win x
	wantClaim(t, srv, key, "evil", "y", 3, 201)

	// A resolve naming another owner settles a 504 likewise.
	reg.lost[ownerKey(4)] = true
	wantClaim(t, srv, key, "bob", "x", 4, 504)
	wantClaim(t, srv, key, "bob", "z", 5, 403)
	if s, body := send(srv, "GET", "/names/x", "", ""); s != 200 {
		t.Fatalf("resolve x: %d %s", s, body)
	}
	wantClaim(t, srv, key, "bob", "z", 5, 201)

	// A 504 whose owner the name turns out to have stays counted: the
	// tenant holds the name.
	reg.mu.Lock()
	reg.lost[ownerKey(6)] = true
	reg.names["w"] = ownerKey(6)
	reg.mu.Unlock()
	wantClaim(t, srv, key, "carol", "w", 6, 504)
	if s, body := send(srv, "GET", "/names/w", "", ""); s != 200 {
		t.Fatalf("resolve w: %d %s", s, body)
	}
	wantClaim(t, srv, key, "carol", "v", 7, 403)
}
