package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/pebbledisk"
	"github.com/ron-network/ron/io/runtime"
)

// budgetWait bounds every wait of the budget tests (they poll).
const budgetWait = 20 * time.Second

// TestConcurrentPutsShareTheMemoryBudget: PUTs with a Content-Length
// that each fit the memory budget alone, sent at once, are admitted only
// as far as their bodies fit together; the others are refused 507
// before their bodies are read. Each asks for 100 Continue, so a body is
// sent only once admitted, and all are decided before any body is sent:
// the admitted ones hold their reservations meanwhile. On the build
// before, the budget was each body against the live heap alone, so all
// eight were admitted (rond stored 100 MB under --memory-max 64MiB).
func TestConcurrentPutsShareTheMemoryBudget(t *testing.T) {
	const (
		budget = 64 << 20
		free   = 10 << 20 // what MemoryInUse leaves
		size   = 4 << 20  // two fit, three do not
		puts   = 8
	)
	f := newServerFixtureWith(t, func(c *gateway.Config) {
		c.MemoryBytesMax = budget
		c.MemoryInUse = func() uint64 { return budget - free }
	})
	type upload struct {
		conn net.Conn
		rd   *bufio.Reader
		r    *http.Response
		body []byte
	}
	ups := make([]*upload, puts)
	var wg sync.WaitGroup
	for i := range ups {
		conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		_ = conn.SetDeadline(time.Now().Add(budgetWait))
		u := &upload{conn: conn, rd: bufio.NewReader(conn)}
		ups[i] = u
		wg.Go(func() {
			fmt.Fprintf(conn, "PUT /o HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", f.root, size)
			r, err := http.ReadResponse(u.rd, nil) // 100 Continue, or the refusal
			if err != nil {
				t.Errorf("reading the first response: %v", err)
				return
			}
			u.r = r
			if r.StatusCode != http.StatusContinue {
				u.body, _ = io.ReadAll(r.Body)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	admitted := 0
	for i, u := range ups {
		if u.r.StatusCode == http.StatusContinue {
			admitted++
			continue
		}
		wantEnvelope(t, fmt.Sprintf("PUT %d", i), u.r, u.body, 507, gateway.CodeInsufficientStorage)
		if !strings.Contains(string(u.body), "memory budget") {
			t.Fatalf("PUT %d refused with %s", i, u.body)
		}
	}
	if admitted > free/size || admitted == 0 {
		t.Fatalf("%d of %d concurrent PUTs of %d bytes admitted with %d bytes free: want 1 to %d", admitted, puts, size, free, free/size)
	}
	stored := 0
	for i, u := range ups {
		if u.r.StatusCode != http.StatusContinue {
			continue
		}
		wg.Go(func() {
			_, _ = u.conn.Write(bytes.Repeat([]byte{byte(i)}, size))
		})
		r, err := http.ReadResponse(u.rd, nil)
		if err != nil {
			t.Fatalf("PUT %d: reading the response: %v", i, err)
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != http.StatusCreated {
			t.Fatalf("admitted PUT %d: %d %s", i, r.StatusCode, body)
		}
		stored++
	}
	wg.Wait()
	t.Logf("%d of %d concurrent PUTs of %d bytes admitted and stored, %d bytes free", stored, puts, size, free)
}

// newMicroFixture is newServerFixtureWith on a store like a micronode's
// (values in memory), whose MemoryInUse is base plus the store's segment
// garbage: the memory an aborted upload leaves behind until it is freed.
func newMicroFixture(t *testing.T, budget int64, base uint64) *fixture {
	t.Helper()
	d, err := pebbledisk.Open(pebbledisk.Options{Dir: "db", FS: vfs.NewMem(), ValuesInMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	spec := runtime.NodeSpec{Key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))}
	spec.Replicas = []proto.NodeID{spec.Self()}
	log := slog.New(slog.DiscardHandler)
	rt, err := runtime.New(runtime.Config{Self: spec.Self(), NewNode: spec.NewNode, Disk: d,
		Metrics: runtime.NewPromMetrics(log), Logger: log, ReadyCheck: runtime.NodeReady, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	rt.Start(nil)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = rt.Close(ctx)
		_ = d.Close()
	})
	keys, key := rootKeyring(t)
	g := gateway.New(gateway.Config{Backend: rt, Verifier: auth.NewVerifier(keys, nil), Metrics: rt.Prom(),
		Gatherer: rt.Prom().Registry(), Logger: log, Version: "test", MemoryBytesMax: budget,
		MemoryInUse: func() uint64 { return base + uint64(d.Stats().SegmentGarbageBytes) }})
	srv := httptest.NewUnstartedServer(g)
	srv.Config = gateway.NewServer(g, nil)
	srv.Listener = gateway.EnvelopeListener(srv.Listener)
	srv.Start()
	f := &fixture{t: t, srv: srv, rt: rt, key: key}
	f.root = f.mint(auth.OpsAll)
	t.Cleanup(srv.Close)
	f.waitReady()
	return f
}

// TestChunkedBodyOverTheBudget: a body without a length that runs past
// the memory budget is refused 507 INSUFFICIENT_STORAGE "memory budget",
// retryable (the build before answered 413 TOO_LARGE "body exceeds
// 4294967296 bytes", not retryable: neither the limit nor the status it
// hit), and what it staged does not hold the budget: a small write right
// after it is stored (the build before refused every write for about
// 30 s on a micronode, the aborted upload's chunks held as segment
// garbage until the next sync).
func TestChunkedBodyOverTheBudget(t *testing.T) {
	const budget = 16 << 20
	f := newMicroFixture(t, budget, 4<<20)
	req, _ := http.NewRequest("PUT", f.srv.URL+"/o", io.MultiReader(bytes.NewReader(bytes.Repeat([]byte("c"), 3*budget))))
	req.Header.Set("Authorization", "Bearer "+f.root)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if req.ContentLength != 0 {
		t.Fatalf("the body has a length: %d", req.ContentLength)
	}
	wantEnvelope(t, "chunked body over the budget", resp, body, 507, gateway.CodeInsufficientStorage)
	if !strings.Contains(string(body), "memory budget") || !strings.Contains(string(body), `"retryable":true`) {
		t.Fatalf("chunked body over the budget: %s", body)
	}
	small := bytes.Repeat([]byte("s"), 5000)
	deadline := time.Now().Add(budgetWait)
	for {
		r := f.do("PUT", "/o", small, f.bearer())
		if r.StatusCode == http.StatusCreated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a 5000-byte PUT after the refused chunked body: still %d %s after %v", r.StatusCode, r.body, budgetWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSlowBodyIs408: a body that stalls (BodyLimits) is answered 408
// REQUEST_TIMEOUT, retryable, on every route that reads a body: PUT /o
// streams it, POST /names reads it whole. The build before answered 400
// BAD_REQUEST, not retryable, as for a malformed body.
func TestSlowBodyIs408(t *testing.T) {
	f := newServerFixture(t, gateway.BodyLimits{IdleTimeout: 200 * time.Millisecond, RateMin: 1 << 10, RateGrace: 100 * time.Millisecond})
	for _, path := range []string{"/o", "/names/slow.example"} {
		method := "PUT"
		if strings.HasPrefix(path, "/names/") {
			method = "POST"
		}
		r, body := f.raw(fmt.Sprintf("%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 1000\r\n\r\n{\"o", method, path, f.root))
		wantEnvelope(t, method+" "+path+" stalled", r, body, http.StatusRequestTimeout, gateway.CodeRequestTimeout)
		if !strings.Contains(string(body), `"retryable":true`) || !strings.Contains(string(body), "too slow") {
			t.Fatalf("%s %s stalled: %s", method, path, body)
		}
	}
}

// TestQueuedWritesHoldNoBudget: writes waiting for an admission slot
// hold no part of the memory budget; a declared body is reserved once
// admitted. One tenant (mallory, one write at a time) runs one 8 MiB PUT
// and queues four more, which together would fill the 40 MiB free; another
// tenant's 1 MiB PUT is still stored. On the build before, each queued
// PUT reserved its body before admission, and the other tenant's write
// was refused 507, defeating the per-tenant write slots.
func TestQueuedWritesHoldNoBudget(t *testing.T) {
	const (
		budget = 64 << 20
		free   = 40 << 20
		size   = 8 << 20
		queued = free/size - 1
	)
	f := newServerFixtureWith(t, func(c *gateway.Config) {
		c.MemoryBytesMax = budget
		c.MemoryInUse = func() uint64 { return budget - free }
		c.Admission = gateway.AdmissionConfig{WritesPerTenantMax: 1, QueueWaitMax: 2 * budgetWait}
	})
	mallory := f.mintFor("mallory", 1, auth.OpsAll)
	send := func() *bufio.Reader {
		conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		_ = conn.SetDeadline(time.Now().Add(budgetWait))
		fmt.Fprintf(conn, "PUT /o HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", mallory, size)
		return bufio.NewReader(conn)
	}
	// mallory's first PUT is admitted (100 Continue) and holds its 8 MiB.
	r, err := http.ReadResponse(send(), nil)
	if err != nil || r.StatusCode != http.StatusContinue {
		t.Fatalf("mallory's first PUT: %v %v, want 100 Continue", r, err)
	}
	for range queued {
		send()
	}
	deadline := time.Now().Add(budgetWait)
	for f.g.QueuedRequests() != queued {
		if time.Now().After(deadline) {
			t.Fatalf("%d of mallory's PUTs queued after %v, want %d", f.g.QueuedRequests(), budgetWait, queued)
		}
		time.Sleep(5 * time.Millisecond)
	}
	got := f.do("PUT", "/o", bytes.Repeat([]byte("a"), 1<<20), f.bearer())
	if got.StatusCode != http.StatusCreated {
		t.Fatalf("alice's 1 MiB PUT with mallory's %d PUTs of %d bytes queued: %d %s", queued, size, got.StatusCode, got.body)
	}
}
