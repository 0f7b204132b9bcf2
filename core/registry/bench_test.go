package registry

import (
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto"
)

// BenchmarkSetsThroughFollower is the CPU of one Set in a 3-replica
// cluster without a signature cache (as rond runs), accepted by a
// follower and applied by every replica: client signing is done before
// the timer starts.
func BenchmarkSetsThroughFollower(b *testing.B) {
	c := newCluster(b, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	f := (l + 1) % replicas3
	alice := newOwner(1)
	if r := c.do(f, Claim{Name: "bench.org", Owner: alice.pub}); r.Err != nil {
		b.Fatalf("claim: %v", r.Err)
	}
	sets := make([]Set, b.N)
	for i := range sets {
		sets[i] = alice.set("bench.org", proto.AddrOf([]byte{byte(i), byte(i >> 8), byte(i >> 16)}), uint64(i+1))
	}
	b.ResetTimer()
	for i := range sets {
		if r := c.do(f, sets[i]); r.Err != nil {
			b.Fatalf("set %d: %v", i+1, r.Err)
		}
	}
}
