package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/storage"
)

type nopMetrics struct{}

func (nopMetrics) Add(string, string, float64)     {}
func (nopMetrics) Set(string, string, float64)     {}
func (nopMetrics) Observe(string, string, float64) {}

var _ env.Metrics = nopMetrics{}

// blockingBackend answers storage reads only when released.
type blockingBackend struct {
	entered chan struct{}
	release chan struct{}
}

func (b *blockingBackend) Ready() bool { return true }
func (b *blockingBackend) Call(ctx context.Context, _ string, _ any) (any, error) {
	b.entered <- struct{}{}
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return storage.GetResult{Data: []byte("x"), Size: 1}, nil
}

func TestOverloadIs503WithRetryAfter(t *testing.T) {
	b := &blockingBackend{entered: make(chan struct{}, 4), release: make(chan struct{})}
	// Both requests come from one loopback address: no per-source bound
	// (RequestsPerSource -1), so the second meets the admission cap.
	g := New(Config{Backend: b, Metrics: nopMetrics{},
		Admission:         AdmissionConfig{InflightMax: 1, ReadHeadroom: 0, QueueDepthMax: 1, QueueWaitMax: 20 * time.Millisecond},
		RequestsPerSource: -1})
	srv := httptest.NewServer(g)
	defer srv.Close()
	path := srv.URL + "/o/b3:" + string(make64('a'))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r, err := http.Get(path)
		if err == nil {
			r.Body.Close()
		}
	}()
	<-b.entered // the one slot is taken
	r, err := http.Get(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var envelope Envelope
	_ = json.NewDecoder(r.Body).Decode(&envelope)
	if r.StatusCode != 503 || envelope.Code != CodeOverloaded || r.Header.Get("Retry-After") == "" || !envelope.Retryable {
		t.Fatalf("got %d %+v Retry-After %q, want 503 OVERLOADED with Retry-After", r.StatusCode, envelope, r.Header.Get("Retry-After"))
	}
	ready, _ := http.Get(srv.URL + "/readyz")
	ready.Body.Close()
	if ready.StatusCode != 503 {
		t.Fatalf("readyz under saturation: %d, want 503", ready.StatusCode)
	}
	close(b.release)
	wg.Wait()
}

func make64(c byte) []byte {
	b := make([]byte, 64)
	for i := range b {
		b[i] = c
	}
	return b
}

// TestDeficitRoundRobinInterleavesTenants: with one slot, tenant A queues
// five requests before tenant B queues one; B must run second, not sixth.
// QueueWaitMax is far longer than the test: it checks the order only, and
// a queued request timing out on a loaded machine is not an order.
func TestDeficitRoundRobinInterleavesTenants(t *testing.T) {
	a := newEdgeState(AdmissionConfig{InflightMax: 1, ReadHeadroom: 0, QueueWaitMax: 30 * time.Second}, SessionsConfig{}, time.Now)
	release, err, _ := a.admit(context.Background(), "hog", false, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	order := make(chan string, 8)
	var wg sync.WaitGroup
	start := func(tenant string) {
		a.mu.Lock()
		before := a.gate.Queued()
		a.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			rel, err, _ := a.admit(context.Background(), tenant, false, false, 0)
			if err != nil {
				t.Error(err)
				return
			}
			order <- tenant
			rel.release()
		}()
		waitQueued(t, a, before)
	}
	for i := 0; i < 5; i++ {
		start("A")
	}
	start("B")
	release.release()
	wg.Wait()
	close(order)
	var got []string
	for tenant := range order {
		got = append(got, tenant)
	}
	if len(got) != 6 || got[0] != "A" || got[1] != "B" {
		t.Fatalf("grant order %v, want A then B first", got)
	}
}

// waitQueued waits until the goroutine just started has queued.
func waitQueued(t *testing.T, a *edgeState, before int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		a.mu.Lock()
		n := a.gate.Queued()
		a.mu.Unlock()
		if n == before+1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("request never queued")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWritesLeaveHeadroomForReads(t *testing.T) {
	a := newEdgeState(AdmissionConfig{InflightMax: 2, ReadHeadroom: 1, QueueWaitMax: 10 * time.Millisecond}, SessionsConfig{}, time.Now)
	if _, err, _ := a.admit(context.Background(), "t", false, true, 0); err != nil {
		t.Fatal(err)
	}
	if _, err, reason := a.admit(context.Background(), "t", false, true, 0); err == nil || reason != ShedQueueTimeout {
		t.Fatalf("second write: %v %q, want shed after waiting (only headroom left)", err, reason)
	}
	if _, err, _ := a.admit(context.Background(), "t", false, false, 0); err != nil {
		t.Fatalf("a read must use the headroom: %v", err)
	}
}

func TestTokenBucketRefills(t *testing.T) {
	now := time.Unix(1000, 0)
	a := newEdgeState(AdmissionConfig{TenantRate: 2, TenantBurst: 1}, SessionsConfig{}, func() time.Time { return now })
	rel, err, _ := a.admit(context.Background(), "t", false, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	rel.release()
	_, err, reason := a.admit(context.Background(), "t", false, false, 0)
	if err == nil || reason != ShedOverQuota || err.retryAfter <= 0 || err.retryAfter > time.Second/2 {
		t.Fatalf("empty bucket: %v %q", err, reason)
	}
	now = now.Add(time.Second / 2) // one token at 2/s
	if _, err, _ := a.admit(context.Background(), "t", false, false, 0); err != nil {
		t.Fatalf("after refill: %v", err)
	}
}

// TestAnonymousReadsHaveTheirOwnBucket: with the default settings and a
// stopped clock, anonymous reads are admitted far past a tenant's burst
// (the shared anonymous bucket holds two seconds of AnonymousRateDefault)
// while a tenant's writes stop at its own burst; a token's tenant named
// "public" does not drain the anonymous bucket; an empty anonymous bucket
// is a 429 with a Retry-After of one token's refill, and refills.
func TestAnonymousReadsHaveTheirOwnBucket(t *testing.T) {
	now := time.Unix(1000, 0)
	a := newEdgeState(AdmissionConfig{}, SessionsConfig{}, func() time.Time { return now })
	admitted := func(tenant string, anonymous, write bool) (int, *apiError, string) {
		for n := 0; ; n++ {
			rel, err, reason := a.admit(context.Background(), tenant, anonymous, write, 0)
			if err != nil {
				return n, err, reason
			}
			rel.release()
		}
	}
	if n, _, reason := admitted("acme", false, true); n != TenantBurstDefault || reason != ShedOverQuota {
		t.Fatalf("tenant writes: %d admitted then %q, want %v then over quota", n, reason, TenantBurstDefault)
	}
	if n, _, _ := admitted(PublicTenant, false, true); n != TenantBurstDefault {
		t.Fatalf("writes of a token's tenant %q: %d admitted, want %v", PublicTenant, n, TenantBurstDefault)
	}
	n, err, reason := admitted(PublicTenant, true, false)
	if n != 2*AnonymousRateDefault || reason != ShedOverQuota || err.status != http.StatusTooManyRequests {
		t.Fatalf("anonymous reads: %d admitted then %q, want %v then over quota", n, reason, 2*AnonymousRateDefault)
	}
	if perToken := time.Duration(float64(time.Second) / AnonymousRateDefault); err.retryAfter <= 0 || err.retryAfter > perToken {
		t.Fatalf("anonymous Retry-After %v, want within one token's refill (%v)", err.retryAfter, perToken)
	}
	if _, err, _ := a.admit(context.Background(), "acme", false, true, 0); err == nil {
		t.Fatal("the tenant's writes were admitted again without a refill")
	}
	now = now.Add(100 * time.Millisecond)
	if n, _, _ := admitted(PublicTenant, true, false); n != AnonymousRateDefault/10 {
		t.Fatalf("anonymous reads after 100 ms: %d admitted, want %v", n, AnonymousRateDefault/10)
	}
}

// TestAnonymousBurstDefault: two seconds of the rate, and at least one
// request, so a tiny rate still admits.
func TestAnonymousBurstDefault(t *testing.T) {
	for rate, want := range map[float64]float64{0: 2 * AnonymousRateDefault, 100: 200, 0.001: 1} {
		if got := (AdmissionConfig{AnonymousRate: rate}).WithDefaults().AnonymousBurst; got != want {
			t.Errorf("rate %v: burst %v, want %v", rate, got, want)
		}
	}
}

// TestAnonymousReadsStillTakeSlots: the anonymous bucket is only the
// quota; anonymous reads still need an in-flight slot and queue for one.
func TestAnonymousReadsStillTakeSlots(t *testing.T) {
	a := newEdgeState(AdmissionConfig{InflightMax: 1, ReadHeadroom: 0, QueueWaitMax: 10 * time.Millisecond}, SessionsConfig{}, time.Now)
	release, err, _ := a.admit(context.Background(), PublicTenant, true, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err, reason := a.admit(context.Background(), PublicTenant, true, false, 0); err == nil || reason != ShedQueueTimeout {
		t.Fatalf("second anonymous read with the only slot taken: %v %q, want a queue timeout", err, reason)
	}
	release.release()
	if _, err, _ := a.admit(context.Background(), PublicTenant, true, false, 0); err != nil {
		t.Fatalf("anonymous read after the slot was released: %v", err)
	}
}
