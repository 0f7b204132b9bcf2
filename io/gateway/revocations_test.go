package gateway_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/authz"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/runtime"
)

// revocationBackend answers authz.RevokedQuery from a set it is told,
// or fails every call with err.
type revocationBackend struct {
	mu      sync.Mutex
	revoked map[auth.TokenID]bool
	err     error
	calls   int
}

func newRevocationBackend() *revocationBackend {
	return &revocationBackend{revoked: map[auth.TokenID]bool{}}
}

func (b *revocationBackend) Call(_ context.Context, service string, body any) (any, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	q, ok := body.(authz.RevokedQuery)
	if service != authz.ServiceName || !ok {
		return nil, errors.New("revocationBackend: unexpected call")
	}
	if b.err != nil {
		return nil, b.err
	}
	return authz.RevokedAnswer{Revoked: b.revoked[q.ID], Enforced: true}, nil
}

func (b *revocationBackend) Ready() bool { return true }

func (b *revocationBackend) set(id auth.TokenID, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.revoked[id] = true
	b.err = err
}

func (b *revocationBackend) fail(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.err = err
}

func (b *revocationBackend) callCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls
}

// fakeClock is a settable clock safe for concurrent reads.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newCache(b *revocationBackend) (*gateway.RevocationCache, *fakeClock) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	return gateway.NewRevocationCache(b, runtime.NewPromMetrics(slog.New(slog.DiscardHandler)), clock.Now), clock
}

// TestRevocationCacheReusesAnswers: "not revoked" is reused for
// RevocationCacheTTL and then asked again; "revoked" is reused for good.
func TestRevocationCacheReusesAnswers(t *testing.T) {
	b := newRevocationBackend()
	c, clock := newCache(b)
	id := auth.TokenID{1}
	if c.Revoked(id) || b.callCount() != 1 {
		t.Fatalf("first lookup: calls %d", b.callCount())
	}
	b.set(id, nil)
	clock.advance(gateway.RevocationCacheTTL - 1)
	if c.Revoked(id) || b.callCount() != 1 {
		t.Fatalf("inside the TTL the cached answer must be reused (calls %d)", b.callCount())
	}
	clock.advance(1)
	if !c.Revoked(id) || b.callCount() != 2 {
		t.Fatalf("after the TTL the node must be asked again and its revocation seen (calls %d)", b.callCount())
	}
	clock.advance(time.Hour)
	if !c.Revoked(id) || b.callCount() != 2 {
		t.Fatalf("a revocation must be reused without asking (calls %d)", b.callCount())
	}
	other := auth.TokenID{2}
	c.Note(other)
	if !c.Revoked(other) || b.callCount() != 2 {
		t.Fatalf("a noted revocation must answer revoked without asking (calls %d)", b.callCount())
	}
}

// TestRevocationCacheWhenTheNodeCannotAnswer: an expired entry is reused;
// without one, a node that is not ready means "not revoked" and any other
// failure "revoked".
func TestRevocationCacheWhenTheNodeCannotAnswer(t *testing.T) {
	b := newRevocationBackend()
	c, clock := newCache(b)
	known, revokedKnown := auth.TokenID{1}, auth.TokenID{2}
	b.set(revokedKnown, nil)
	c.Revoked(known)
	clock.advance(time.Hour)
	b.fail(errors.New("boom"))
	if c.Revoked(known) {
		t.Fatal("a stale 'not revoked' entry should be reused when the node fails")
	}
	if !c.Revoked(auth.TokenID{3}) {
		t.Fatal("an unknown id must fail closed when the node fails")
	}
	b.fail(runtime.ErrNotReady)
	if c.Revoked(auth.TokenID{4}) {
		t.Fatal("an unknown id while the node is not ready answers not revoked")
	}
	b.fail(nil)
	if c.Revoked(auth.TokenID{3}) || c.Revoked(auth.TokenID{4}) {
		t.Fatal("answers given while the node failed must not be cached")
	}
}

// TestRevocationCacheProperties drives the cache with random lookups,
// revocations, notes, failures and clock steps against a model: the
// cache stays within its bound; while the node answers, a lookup a TTL or
// more after the node learnt a revocation answers revoked, and an id that
// was never revoked (nor noted) is never reported revoked.
func TestRevocationCacheProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		b := newRevocationBackend()
		c, clock := newCache(b)
		revokedAt := map[auth.TokenID]time.Time{}
		noted := map[auth.TokenID]bool{}
		failing, floods := false, 0
		idGen := rapid.Custom(func(t *rapid.T) auth.TokenID { return auth.TokenID{rapid.ByteRange(0, 40).Draw(t, "id")} })
		t.Repeat(map[string]func(*rapid.T){
			"lookup": func(t *rapid.T) {
				id := idGen.Draw(t, "id")
				got := c.Revoked(id)
				at, revoked := revokedAt[id]
				if !failing && revoked && !clock.Now().Before(at.Add(gateway.RevocationCacheTTL)) && !got {
					t.Fatalf("%x revoked at %v, still allowed at %v", id[:1], at, clock.Now())
				}
				if !failing && !revoked && !noted[id] && got {
					t.Fatalf("%x never revoked, reported revoked", id[:1])
				}
			},
			"revoke": func(t *rapid.T) {
				id := idGen.Draw(t, "id")
				if _, ok := revokedAt[id]; !ok {
					revokedAt[id] = clock.Now()
				}
				b.set(id, nil)
				failing = false
			},
			"note": func(t *rapid.T) {
				id := idGen.Draw(t, "id")
				noted[id] = true
				c.Note(id)
			},
			"flood": func(t *rapid.T) {
				// Distinct ids beyond the small space, to reach the bound.
				n := rapid.IntRange(1, gateway.RevocationCacheEntriesMax).Draw(t, "n")
				floods++
				for i := 0; i < n; i++ {
					c.Revoked(auth.TokenID{0xff, byte(i >> 8), byte(i), byte(floods), byte(floods >> 8)})
				}
			},
			"fail": func(t *rapid.T) {
				failing = true
				b.fail(errors.New("boom"))
			},
			"heal": func(t *rapid.T) {
				failing = false
				b.fail(nil)
			},
			"tick": func(t *rapid.T) {
				clock.advance(time.Duration(rapid.Int64Range(0, int64(2*gateway.RevocationCacheTTL)).Draw(t, "d")))
			},
			"": func(t *rapid.T) {
				if n := c.Len(); n > gateway.RevocationCacheEntriesMax {
					t.Fatalf("cache holds %d entries, bound %d", n, gateway.RevocationCacheEntriesMax)
				}
			},
		})
	})
}

// TestRevocationCacheConcurrentUse is for -race: lookups and notes from
// many goroutines while the clock moves.
func TestRevocationCacheConcurrentUse(t *testing.T) {
	b := newRevocationBackend()
	c, clock := newCache(b)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				id := auth.TokenID{byte(i % 16)}
				if i%7 == g {
					c.Note(id)
				}
				c.Revoked(id)
				clock.advance(time.Millisecond)
			}
		}(g)
	}
	wg.Wait()
	// Every id was noted by some goroutine (the one with g == i%7).
	for i := 0; i < 16; i++ {
		if !c.Revoked(auth.TokenID{byte(i)}) {
			t.Fatalf("id %d was noted revoked and then forgotten", i)
		}
	}
}
