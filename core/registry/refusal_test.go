package registry

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// TestRefusalsSayWhy: a claim past NamesMax says the registry is full
// (ErrRegistryFull, still ErrTooLarge for callers that switch on it), and a
// Set whose seq is ahead of the name's says so with both seqs (still
// ErrStaleSeq), through a replica and through a non-replica alike. The
// words are chosen where the answer is delivered: the replicated code is
// the one older builds record.
func TestRefusalsSayWhy(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	alice := newOwner(1)
	for i := 0; i < NamesMax; i += PendingOpsMax {
		var ids []env.RequestID
		for j := i; j < min(i+PendingOpsMax, NamesMax); j++ {
			ids = append(ids, c.submit(l, Claim{Name: fmt.Sprintf("n%d.org", j), Owner: alice.pub}))
		}
		for k, id := range ids {
			if r, ok := c.await(l, id, 5*time.Second); !ok || r.Err != nil {
				t.Fatalf("claim %d of %d: %+v (answered %v)", i+k, NamesMax, r, ok)
			}
		}
	}
	for _, i := range []int{l, 3} {
		r := c.do(i, Claim{Name: "one-more.org", Owner: alice.pub})
		if !errors.Is(r.Err, ErrRegistryFull) || !errors.Is(r.Err, ErrTooLarge) || !strings.Contains(r.Err.Error(), "full") ||
			strings.Contains(r.Err.Error(), "too large") {
			t.Fatalf("claim past NamesMax via node %d: %v, want ErrRegistryFull saying the registry is full", i, r.Err)
		}
	}
	// A name already held is not a new one: its owner's claim still succeeds.
	if r := c.do(3, Claim{Name: "n0.org", Owner: alice.pub}); r.Err != nil {
		t.Fatalf("idempotent claim in a full registry: %v", r.Err)
	}

	target := proto.AddrOf([]byte("v1"))
	if r := c.do(l, alice.set("n0.org", target, 1)); r.Err != nil {
		t.Fatalf("set seq 1: %v", r.Err)
	}
	for _, i := range []int{l, 3} {
		r := c.do(i, alice.set("n0.org", target, 5))
		var ahead *SeqAheadError
		if !errors.As(r.Err, &ahead) || ahead.Seq != 5 || ahead.Current != 1 || !errors.Is(r.Err, ErrSeqAhead) ||
			!errors.Is(r.Err, ErrStaleSeq) || r.Record.Seq != 1 || strings.Contains(r.Err.Error(), "stale") ||
			!strings.Contains(r.Err.Error(), "signs 2") {
			t.Fatalf("future seq via node %d: %+v (%v), want SeqAheadError{5, 1} with the record at seq 1", i, r, r.Err)
		}
		r = c.do(i, alice.set("n0.org", target, 1))
		if errors.Is(r.Err, ErrSeqAhead) || !errors.Is(r.Err, ErrStaleSeq) || !strings.Contains(r.Err.Error(), "seq 1, the name's seq is 1") {
			t.Fatalf("repeated seq via node %d: %v, want a stale seq naming both seqs", i, r.Err)
		}
	}
}
