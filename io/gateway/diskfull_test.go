package gateway_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/pingcap/failpoint"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/pebbledisk"
	"github.com/ron-network/ron/io/runtime"
)

// newDiskFullFixture is newServerFixture on a runtime that rebuilds a
// machine failed by a full disk (FailedCheck), as rond runs it.
func newDiskFullFixture(t *testing.T) *fixture {
	t.Helper()
	d, err := pebbledisk.Open(pebbledisk.Options{Dir: "db", FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	spec := runtime.NodeSpec{Key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))}
	spec.Replicas = []proto.NodeID{spec.Self()}
	log := slog.New(slog.DiscardHandler)
	rt, err := runtime.New(runtime.Config{Self: spec.Self(), NewNode: spec.NewNode, Disk: d, Metrics: runtime.NewPromMetrics(log),
		Logger: log, ReadyCheck: runtime.NodeReady, FailedCheck: runtime.NodeFailed, Seed: 11,
		RestartBackoffMin: 10 * time.Millisecond, RestartBackoffMax: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rt.Start(nil)
	keys, key := rootKeyring(t)
	g := gateway.New(gateway.Config{Backend: rt, Verifier: auth.NewVerifier(keys, nil), Metrics: rt.Prom(),
		Gatherer: rt.Prom().Registry(), Logger: log, Version: "test"})
	srv := httptest.NewUnstartedServer(g)
	srv.Config = gateway.NewServer(g, nil)
	srv.Listener = gateway.EnvelopeListener(srv.Listener)
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		if err := rt.Close(ctx); err != nil {
			t.Errorf("closing the node after a full disk: %v", err)
		}
		_ = d.Close()
		t.Logf("node closed in %v", time.Since(start).Round(time.Millisecond))
	})
	f := &fixture{t: t, srv: srv, rt: rt, key: key}
	f.root = f.mint(auth.OpsAll)
	f.waitReady()
	return f
}

func (f *fixture) claim(name string) resp {
	owner := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32))
	body := fmt.Sprintf(`{"owner":%q}`, hex.EncodeToString(owner.Public().(ed25519.PublicKey)))
	return f.do("POST", "/names/"+name, []byte(body), f.bearer())
}

// TestDiskFull: a full disk (the pebbledisk write failpoint returns
// ENOSPC) makes the node not ready, with the reason, and refuses writes
// with 507 INSUFFICIENT_STORAGE while stored objects are still served;
// once space is back the node is ready again without a restart, the
// registry replica that failed on the full disk included.
func TestDiskFull(t *testing.T) {
	f := newDiskFullFixture(t)
	data := bytes.Repeat([]byte("stored before the disk filled "), 100)
	addr := f.put(data)
	if r := f.claim("before.example"); r.StatusCode != 201 {
		t.Fatalf("claim: %d %s", r.StatusCode, r.body)
	}

	if err := failpoint.Enable(pebbledisk.FailpointWrite, `return("full")`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = failpoint.Disable(pebbledisk.FailpointWrite) })
	if r := f.claim("during.example"); r.StatusCode < 500 {
		t.Fatalf("a claim on a full disk answered %d %s", r.StatusCode, r.body)
	}
	wantError(t, f.do("PUT", "/o", []byte("new bytes"), f.bearer()), 507, gateway.CodeInsufficientStorage)
	ready := f.do("GET", "/readyz", nil, nil)
	if env := wantError(t, ready, 503, gateway.CodeUnavailable); !strings.Contains(env.Message, "disk full") {
		t.Fatalf("/readyz on a full disk says %q", env.Message)
	}
	waitMetric(t, f, env.MetricNodeReady, 0)
	if r := f.do("GET", "/o/"+addr, nil, nil); r.StatusCode != 200 || !bytes.Equal(r.body, data) {
		t.Fatalf("a stored object on a full disk: %d %s", r.StatusCode, r.body)
	}
	if r := f.do("GET", "/names/before.example", nil, nil); r.StatusCode != 200 {
		t.Logf("resolve on a full disk (registry failed): %d %s", r.StatusCode, r.body)
	}

	if err := failpoint.Disable(pebbledisk.FailpointWrite); err != nil {
		t.Fatal(err)
	}
	f.waitReady()
	waitMetric(t, f, env.MetricNodeReady, 1)
	if got := f.put([]byte("after the disk got space")); got == "" {
		t.Fatal("no address")
	}
	if r := f.claim("after.example"); r.StatusCode != 201 {
		t.Fatalf("claim after recovery: %d %s", r.StatusCode, r.body)
	}
	if r := f.do("GET", "/names/before.example", nil, nil); r.StatusCode != 200 {
		t.Fatalf("resolve after recovery: %d %s", r.StatusCode, r.body)
	}
}

func waitMetric(t *testing.T, f *fixture, name string, want float64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for metricValue(t, f, name, "") != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", name, metricValue(t, f, name, ""), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
