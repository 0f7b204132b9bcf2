package gateway_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/runtime"
)

// viewBackend answers registry.StatusQuery with view.
type viewBackend struct {
	readyBackend
	view registry.View
}

func (b *viewBackend) Call(_ context.Context, _ string, body any) (any, error) {
	if _, ok := body.(registry.StatusQuery); ok {
		return b.view, nil
	}
	return nil, context.Canceled
}

// A non-replica shows the leader the replicas last named (or null), and
// no term; a node that cannot answer shows no registry view at all.
func TestStatusRegistryViewOfNonReplica(t *testing.T) {
	lead := proto.NodeID{0xab}
	b := &viewBackend{view: registry.View{Replicas: 3, Leader: 2, LeaderNode: lead}}
	clock := &fakeClock{now: time.Unix(1000, 0)}
	gw := gateway.New(gateway.Config{Backend: b, Metrics: runtime.NewPromMetrics(slog.New(slog.DiscardHandler)), Logger: slog.New(slog.DiscardHandler), Version: "test", Clock: clock.Now})
	h := gw.WithStatus(gateway.StatusConfig{NodeID: "n9"})
	rs := getStatus(t, h).Registry
	if rs == nil || rs.Replica || rs.ReplicaID != 0 || rs.Replicas != 3 || rs.Leader == nil || *rs.Leader != lead.String() ||
		rs.LeaderReplica != 2 || rs.Term != 0 || rs.IsLeader || rs.State != "client" {
		t.Fatalf("non-replica view: %+v", rs)
	}
	// Each view below is asked for once the cached one is too old.
	b.view = registry.View{Replicas: 3}
	clock.advance(time.Second)
	if rs := getStatus(t, h).Registry; rs == nil || rs.Leader != nil || rs.LeaderReplica != 0 {
		t.Fatalf("non-replica knowing no leader: %+v, want leader null", rs)
	}
	b.view = registry.View{Replicas: 3, Replica: 1, Failed: true}
	clock.advance(time.Second)
	if rs := getStatus(t, h).Registry; rs == nil || rs.State != "failed" || !rs.Replica {
		t.Fatalf("failed replica: %+v", rs)
	}
	silent := gateway.New(gateway.Config{Backend: &readyBackend{}, Metrics: runtime.NewPromMetrics(slog.New(slog.DiscardHandler)), Logger: slog.New(slog.DiscardHandler)}).WithStatus(gateway.StatusConfig{})
	if rs := getStatus(t, silent).Registry; rs != nil {
		t.Fatalf("a node that did not answer shows a registry view: %+v", rs)
	}
}

// slowViewBackend answers registry.StatusQuery with view once release is
// closed, whatever the call's context says (a node loop that is stuck),
// counting the calls and the most in flight at once.
type slowViewBackend struct {
	readyBackend
	view    registry.View
	release chan struct{}

	mu                       sync.Mutex
	calls, inflight, maxSeen int
}

func (b *slowViewBackend) Call(_ context.Context, _ string, body any) (any, error) {
	if _, ok := body.(registry.StatusQuery); !ok {
		return nil, context.Canceled
	}
	b.mu.Lock()
	b.calls++
	b.inflight++
	b.maxSeen = max(b.maxSeen, b.inflight)
	b.mu.Unlock()
	<-b.release
	b.mu.Lock()
	b.inflight--
	b.mu.Unlock()
	return b.view, nil
}

func (b *slowViewBackend) counts() (calls, maxSeen int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls, b.maxSeen
}

// A flood of GET /status (which answers anyone, without admission
// control) makes at most one call into the node at a time: while the
// node is slow to answer, every request shares the call in flight and
// answers without the registry view; the view it then brings serves the
// next requests without another call.
func TestStatusRegistryViewOneCallInFlight(t *testing.T) {
	const requests = 16
	lead := proto.NodeID{0xcd}
	b := &slowViewBackend{view: registry.View{Replicas: 3, Leader: 1, LeaderNode: lead}, release: make(chan struct{})}
	clock := &fakeClock{now: time.Unix(1000, 0)}
	gw := gateway.New(gateway.Config{Backend: b, Metrics: runtime.NewPromMetrics(slog.New(slog.DiscardHandler)), Logger: slog.New(slog.DiscardHandler), Version: "test", Clock: clock.Now})
	h := gw.WithStatus(gateway.StatusConfig{NodeID: "n9"})
	var wg sync.WaitGroup
	var mu sync.Mutex
	answered := 0
	for range requests {
		wg.Go(func() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/status", nil))
			mu.Lock()
			answered++
			mu.Unlock()
		})
	}
	// Until every request answered without the view (or a second call
	// came in: the bug), the node does not answer.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := answered
		mu.Unlock()
		if _, m := b.counts(); n == requests || m > 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d GET /status answered in 10s while the node was slow", n, requests)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(b.release)
	wg.Wait()
	if calls, m := b.counts(); calls != 1 || m != 1 {
		t.Fatalf("%d concurrent GET /status made %d calls into the node, %d in flight at once; want 1, 1", requests, calls, m)
	}
	// The call's answer serves the next request, with no new call.
	rs := getStatus(t, h).Registry
	if rs == nil || rs.Leader == nil || *rs.Leader != lead.String() {
		t.Fatalf("GET /status after the slow call answered: %+v, want leader %s", rs, lead)
	}
	if calls, _ := b.counts(); calls != 1 {
		t.Fatalf("GET /status within %v of the view made a call (%d in all)", 250*time.Millisecond, calls)
	}
	clock.advance(time.Second)
	if getStatus(t, h).Registry == nil {
		t.Fatalf("GET /status after the view went stale: no view")
	}
	if calls, _ := b.counts(); calls != 2 {
		t.Fatalf("GET /status after the view went stale made %d calls in all, want 2", calls)
	}
}
