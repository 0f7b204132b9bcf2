package registry

import (
	"fmt"
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto"
)

// cutToMinority cuts the cluster so that the non-replica nr reaches only
// replica a, and a reaches no other replica: the other replicas keep a
// quorum and a leader, a and nr are a leaderless minority.
func (c *cluster) cutToMinority(nr, a int) {
	aid, nid := c.nodes[a].id, c.nodes[nr].id
	c.cut = func(from, to proto.NodeID, _ []byte) bool {
		fromSide := from == aid || from == nid
		toSide := to == aid || to == nid
		return fromSide != toSide
	}
}

// steady submits op(k) at node i every period while running d, reporting
// whether stop held at any moment between events (then it returns at once).
func (c *cluster) steady(i int, d, period time.Duration, op func(k int) any, stop func() bool) bool {
	end := c.c.Now + d
	for k := 0; c.c.Now < end; k++ {
		c.submit(i, op(k))
		if c.c.RunUntil(period, stop) {
			return true
		}
	}
	return false
}

// A non-replica whose ops reach only a leaderless minority of the
// replicas reports NoLeader (rond: /readyz registry_no_leader) once their
// replies have said "no leader" for longer than the grace, whether it
// writes (raft drops the proposal: codeRetry) or only resolves (the
// replica refuses the read it cannot serve); and not once a reply names a
// leader again after the heal. The replicas of the majority never do.
func TestNoLeaderOnNonReplicaInLeaderlessMinority(t *testing.T) {
	for _, kind := range []string{"claim", "resolve"} {
		t.Run(kind, func(t *testing.T) {
			c := newCluster(t, replicas3, 1, Config{})
			const nr = replicas3
			lead := c.leader(2 * time.Second)
			a := (lead + 1) % replicas3
			op := func(k int) any {
				if kind == "resolve" {
					return Resolve{Name: "example.org"}
				}
				return Claim{Name: fmt.Sprintf("n%d.example.org", k), Owner: newOwner(1).pub}
			}
			noLeader := func() bool { return c.nodes[nr].reg.NoLeader() }
			if c.steady(nr, 3*time.Second, 100*time.Millisecond, op, noLeader) {
				t.Fatalf("the non-replica reports no leader with no fault")
			}
			c.cutToMinority(nr, a)
			if !c.steady(nr, 10*time.Second, 100*time.Millisecond, op, noLeader) {
				t.Fatalf("non-replica reaching only leaderless replica %d: NoLeader never held in 10s", a)
			}
			for i := range replicas3 {
				if i != a && c.nodes[i].reg.NoLeader() {
					t.Fatalf("replica %d of the majority reports no leader", i)
				}
			}
			c.heal()
			healed := func() bool { return !c.nodes[nr].reg.NoLeader() }
			if !c.steady(nr, 10*time.Second, 100*time.Millisecond, op, healed) {
				t.Fatalf("healed non-replica still reports no leader after 10s of ops")
			}
		})
	}
}

// A healthy cluster never makes a busy non-replica report NoLeader: not
// through a leadership transfer, a follower's crash and restart, nor the
// leader's crash and the election that follows (its replies say "no
// leader" only while the replicas have none, for less than the grace).
func TestNoLeaderNeverOnHealthyNonReplica(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	const nr = replicas3
	lead := c.leader(2 * time.Second)
	k := 0
	op := func(int) any {
		k++
		if k%2 == 0 {
			return Resolve{Name: "example.org"}
		}
		return Claim{Name: fmt.Sprintf("n%d.example.org", k), Owner: newOwner(1).pub}
	}
	flapped := func() bool { return c.nodes[nr].reg.NoLeader() }
	busy := func(what string, d time.Duration) {
		t.Helper()
		if c.steady(nr, d, 20*time.Millisecond, op, flapped) {
			t.Fatalf("%s: the non-replica reported no leader at %v", what, c.c.Now)
		}
	}
	busy("steady", 2*time.Second)
	to := (lead + 1) % replicas3
	id := c.submit(lead, TransferLeader{To: c.raftID(to)})
	busy("transfer", 2*time.Second)
	if res, ok := c.c.Members[lead].Replies[id].(TransferResult); !ok || res.Err != nil {
		t.Fatalf("transfer: %+v", c.c.Members[lead].Replies[id])
	}
	lead = c.leader(2 * time.Second)
	f := (lead + 1) % replicas3
	c.crash(f)
	busy("follower down", 3*time.Second)
	c.restart(f)
	busy("follower back", 3*time.Second)
	c.crash(lead)
	busy("leader down", 5*time.Second)
	c.restart(lead)
	busy("old leader back", 3*time.Second)
}
