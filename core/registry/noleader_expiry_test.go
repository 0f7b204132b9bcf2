package registry

import (
	"fmt"
	"testing"
	"time"
)

// Evidence expires: a non-replica that stops sending ops after the cut
// stops reporting NoLeader NoLeaderReplyTTLOps OpTimeouts after the last
// leaderless reply, as it can no longer tell.
func TestNoLeaderOnNonReplicaExpires(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	const nr = replicas3
	lead := c.leader(2 * time.Second)
	c.cutToMinority(nr, (lead+1)%replicas3)
	claim := func(k int) any { return Claim{Name: fmt.Sprintf("n%d.example.org", k), Owner: newOwner(1).pub} }
	if !c.steady(nr, 10*time.Second, 100*time.Millisecond, claim, c.nodes[nr].reg.NoLeader) {
		t.Fatalf("NoLeader never held")
	}
	ttl := time.Duration(NoLeaderReplyTTLOps) * c.opTimeout()
	if !c.c.RunUntil(ttl+2*c.opTimeout(), func() bool { return !c.nodes[nr].reg.NoLeader() }) {
		t.Fatalf("NoLeader still holds %v after the ops stopped", ttl+2*c.opTimeout())
	}
}
