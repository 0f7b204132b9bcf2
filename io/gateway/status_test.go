package gateway_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/runtime"
)

// readyBackend is a Backend whose readiness a test sets.
type readyBackend struct{ ready atomic.Bool }

func (b *readyBackend) Call(context.Context, string, any) (any, error) { return nil, context.Canceled }
func (b *readyBackend) Ready() bool                                    { return b.ready.Load() }

func getStatus(t *testing.T, h http.Handler) gateway.Status {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/status", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("GET /status: %d %v", rec.Code, rec.Header())
	}
	var s gateway.Status
	if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil {
		t.Fatalf("GET /status: %v: %s", err, rec.Body.String())
	}
	return s
}

// GET /status reads its counts from the metrics, its readiness (and the
// reason) from /readyz, and leaves every other route to the gateway.
func TestStatus(t *testing.T) {
	metrics := runtime.NewPromMetrics(slog.New(slog.DiscardHandler))
	backend := &readyBackend{}
	now := time.Unix(1000, 0)
	gw := gateway.New(gateway.Config{Backend: backend, Metrics: metrics, Gatherer: metrics.Registry(),
		Logger: slog.New(slog.DiscardHandler), Version: "v9", Clock: func() time.Time { return now }})
	h := gw.WithStatus(gateway.StatusConfig{NodeID: "n1", Profile: "micronode (test)", Started: now.Add(-90 * time.Second), RegistryReplica: true,
		Flags: func() map[string]bool { return map[string]bool{"repair": true} }})

	s := getStatus(t, h)
	if s.Ready || s.ReadyReason != "node not ready" || s.NodeID != "n1" || s.Version != "v9" || s.UptimeSeconds != 90 || !s.Flags["repair"] {
		t.Fatalf("starting node: %+v", s)
	}
	if s.Names == nil || *s.Names != 0 {
		t.Fatalf("names %v on a registry replica, want 0", s.Names)
	}
	noRegistry := gw.WithStatus(gateway.StatusConfig{NodeID: "n1"})
	if s := getStatus(t, noRegistry); s.Names != nil {
		t.Fatalf("names %d on a node without a registry replica, want null", *s.Names)
	}

	backend.ready.Store(true)
	metrics.Set("storage_objects", "", 3)
	metrics.Set("storage_bytes", "", 4096)
	metrics.Set("registry_names", "", 2)
	metrics.Set("registry_cluster_version", "", 1)
	metrics.Set("overlay_sessions", "active", 2)
	metrics.Set("overlay_sessions", "backoff", 1)
	metrics.Set("overlay_sessions", "closed", 5)
	s = getStatus(t, h)
	if !s.Ready || s.ReadyReason != "ready" || s.Objects == nil || *s.Objects != 3 || *s.ObjectBytes != 4096 ||
		s.Names == nil || *s.Names != 2 || s.PeersActive != 2 || s.PeersKnown != 3 || s.ClusterVersion == nil || *s.ClusterVersion != 1 {
		t.Fatalf("ready node: %+v", s)
	}
	if s := getStatus(t, noRegistry); s.ClusterVersion != nil {
		t.Fatalf("cluster version %d on a node without a registry replica, want none", *s.ClusterVersion)
	}
	if s.RegistryUnconfirmed {
		t.Fatalf("registry unconfirmed without registry_unconfirmed set")
	}
	metrics.Set("registry_unconfirmed", "", 1)
	if s := getStatus(t, h); !s.RegistryUnconfirmed {
		t.Fatalf("registry_unconfirmed 1, status says confirmed: %+v", s)
	}
	metrics.Set("registry_unconfirmed", "", 0)
	if s := getStatus(t, h); s.RegistryUnconfirmed {
		t.Fatalf("registry_unconfirmed 0, status says unconfirmed: %+v", s)
	}

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/version", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "{\"version\":\"v9\"}\n" {
		t.Fatalf("GET /version through WithStatus: %d %q", rec.Code, rec.Body.String())
	}
}

// fullBackend is a backend whose disk is full, with the storage engine's
// error (a file path under the data directory) as the reason.
type fullBackend struct{ readyBackend }

const fullDetail = "disk full since 2026-01-01T00:00:00Z: pebbledisk: put: disk full: write /srv/ron/data/000123.log: no space left on device"

func (b *fullBackend) DiskFull() (bool, string) { return true, fullDetail }
func (b *fullBackend) NotReadyReason() string   { return fullDetail }

// TestStatusDiskFullReasonFixed: /status and /readyz answer anyone, so
// while the disk is full they say "disk full", never the engine's error
// and its file path; the detail goes to the log. Before, ready_reason
// was the runtime's reason verbatim.
func TestStatusDiskFullReasonFixed(t *testing.T) {
	var logged strings.Builder
	metrics := runtime.NewPromMetrics(slog.New(slog.DiscardHandler))
	gw := gateway.New(gateway.Config{Backend: &fullBackend{}, Metrics: metrics, Gatherer: metrics.Registry(),
		Logger: slog.New(slog.NewTextHandler(&lockedWriter{w: &logged}, nil))})
	s := getStatus(t, gw.WithStatus(gateway.StatusConfig{NodeID: "n1"}))
	if s.Ready || s.ReadyReason != "node not ready: "+gateway.ReasonDiskFull {
		t.Fatalf("disk full: ready %v reason %q, want %q", s.Ready, s.ReadyReason, "node not ready: "+gateway.ReasonDiskFull)
	}
	rec := httptest.NewRecorder()
	gw.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "/srv/ron") {
		t.Fatalf("/readyz with the disk full: %d %s", rec.Code, rec.Body.String())
	}
	if out := logged.String(); !strings.Contains(out, "000123.log") {
		t.Fatalf("the disk's detail is not in the log: %q", out)
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestStatusCountsOnlyForReaders: with reads closed by policy, the object
// counts of GET /status go only to a token that may read (or administer)
// here. Before, they answered anyone, so a write-only tenant could PUT a
// guess and see whether the count moved (a dedup existence oracle).
func TestStatusCountsOnlyForReaders(t *testing.T) {
	metrics := runtime.NewPromMetrics(slog.New(slog.DiscardHandler))
	keys, key := rootKeyring(t)
	p, err := gateway.NewPolicy([]byte(strictPolicy))
	if err != nil {
		t.Fatal(err)
	}
	gw := gateway.New(gateway.Config{Backend: &readyBackend{}, Metrics: metrics, Gatherer: metrics.Registry(),
		Verifier: auth.NewVerifier(keys, nil), Policy: p, Logger: slog.New(slog.DiscardHandler), Version: "v9"})
	h := gw.WithStatus(gateway.StatusConfig{NodeID: "n1"})
	metrics.Set("storage_objects", "", 3)
	metrics.Set("storage_bytes", "", 4096)
	mint := func(tenant string, n byte, scope auth.OpSet) string {
		tok, err := auth.Mint(key, tenant, scope, [auth.NonceBytes]byte{n}, nil...)
		if err != nil {
			t.Fatal(err)
		}
		return tok.Encode()
	}
	status := func(token string) gateway.Status {
		t.Helper()
		req := httptest.NewRequest("GET", "/status", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var s gateway.Status
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &s) != nil {
			t.Fatalf("GET /status: %d %s", rec.Code, rec.Body.String())
		}
		return s
	}
	for name, token := range map[string]string{"no token": "", "write-only token": mint("alice", 1, auth.Ops(auth.OpWrite)),
		"forged token": "not-a-token"} {
		if s := status(token); s.Objects != nil || s.ObjectBytes != nil || !s.StorageCountsHidden {
			t.Fatalf("%s sees objects %v bytes %v hidden %v, want null and hidden", name, s.Objects, s.ObjectBytes, s.StorageCountsHidden)
		}
	}
	for name, token := range map[string]string{"read token": mint("bob", 2, auth.Ops(auth.OpRead)),
		"admin token": mint("ops", 3, auth.Ops(auth.OpAdmin))} {
		s := status(token)
		if name == "admin token" {
			// strictPolicy grants no admin: the policy decides admin too
			if s.Objects != nil {
				t.Fatalf("an admin token the policy denies sees objects %d", *s.Objects)
			}
			continue
		}
		if s.Objects == nil || *s.Objects != 3 || s.ObjectBytes == nil || *s.ObjectBytes != 4096 || s.StorageCountsHidden {
			t.Fatalf("%s: objects %v bytes %v hidden %v, want 3 and 4096, not hidden", name, s.Objects, s.ObjectBytes, s.StorageCountsHidden)
		}
	}
}

// leaderlessBackend serves but is not ready: its registry replica has
// known no raft leader past the grace (runtime.NodeUnready).
type leaderlessBackend struct{ readyBackend }

func (b *leaderlessBackend) NotReadyReason() string { return runtime.ReasonRegistryNoLeader }

// TestReadyzRegistryNoLeader: a node cut off from the registry quorum
// answers /readyz 503 with the machine-readable reason registry_no_leader
// in its envelope, /status says so in words, /healthz stays 200. Before,
// /readyz was 200 there while every name op failed after 2 s.
func TestReadyzRegistryNoLeader(t *testing.T) {
	metrics := runtime.NewPromMetrics(slog.New(slog.DiscardHandler))
	b := &leaderlessBackend{}
	gw := gateway.New(gateway.Config{Backend: b, Metrics: metrics, Gatherer: metrics.Registry(), Logger: slog.New(slog.DiscardHandler)})
	rec := httptest.NewRecorder()
	gw.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	var env gateway.Envelope
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || rec.Code != http.StatusServiceUnavailable ||
		env.Reason != runtime.ReasonRegistryNoLeader || !env.Retryable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("/readyz without a registry leader: %d %s (%v), want 503 with reason %s", rec.Code, rec.Body.String(), err,
			runtime.ReasonRegistryNoLeader)
	}
	if s := getStatus(t, gw.WithStatus(gateway.StatusConfig{NodeID: "n1"})); s.Ready ||
		!strings.Contains(s.ReadyReason, runtime.ReasonRegistryNoLeader) || !strings.Contains(s.ReadyReason, "no raft leader") {
		t.Fatalf("/status without a registry leader: ready %v reason %q", s.Ready, s.ReadyReason)
	}
	rec = httptest.NewRecorder()
	gw.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/healthz without a registry leader: %d %s, want 200 (liveness is not readiness)", rec.Code, rec.Body.String())
	}
}
