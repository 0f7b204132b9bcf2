package registry

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// raftID is node i's raft id (its 1-based position in the sorted replicas).
func (c *cluster) raftID(i int) uint64 {
	return uint64(indexOf(c.replicas, c.nodes[i].id) + 1)
}

// nodeIndex is the test index of the replica with raft id id.
func (c *cluster) nodeIndex(id uint64) int {
	for i, n := range c.nodes {
		if id != 0 && n.id == c.replicas[id-1] {
			return i
		}
	}
	return -1
}

// transfer sends TransferLeader t to node i and waits for its answer.
func (c *cluster) transfer(i int, t TransferLeader) TransferResult {
	c.t.Helper()
	resp, ok := c.c.Await(i, c.submit(i, t), 10*time.Second)
	if !ok {
		c.t.Fatalf("node %d: no answer to %+v", i, t)
	}
	return resp.(TransferResult)
}

// claimOK claims name through node i and fails the test unless it commits.
func (c *cluster) claimOK(i int, name string) {
	c.t.Helper()
	if r := c.do(i, Claim{Name: name, Owner: newOwner(1).pub}); r.Err != nil {
		c.t.Fatalf("claim %s via node %d: %v", name, i, r.Err)
	}
}

func TestTransferLeaderToNamedFollower(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	c.claimOK(3, "before.org")
	f := (l + 1) % replicas3
	res := c.transfer(l, TransferLeader{To: c.raftID(f)})
	if res.Err != nil || res.Old != c.raftID(l) || res.New != c.raftID(f) || res.OldNode != c.nodes[l].id || res.NewNode != c.nodes[f].id {
		t.Fatalf("transfer to replica %d: %+v, want ok from %d to %d", c.raftID(f), res, c.raftID(l), c.raftID(f))
	}
	if got := c.leader(2 * time.Second); got != f {
		t.Fatalf("leader after the transfer is node %d, want %d", got, f)
	}
	for i, via := range []int{3, l, f} {
		c.claimOK(via, fmt.Sprintf("after%d.org", i))
	}
	c.awaitConverged(2 * time.Second)
}

func TestTransferLeaderByNodeID(t *testing.T) {
	c := newCluster(t, replicas3, 0, Config{})
	l := c.leader(2 * time.Second)
	f := (l + 2) % replicas3
	c.claimOK(l, "first.org") // a follower probes until it acknowledged the leader's first append
	res := c.transfer(l, TransferLeader{ToNode: c.nodes[f].id})
	if res.Err != nil || res.NewNode != c.nodes[f].id {
		t.Fatalf("transfer to node %s: %+v", c.nodes[f].id, res)
	}
	// The leader itself: nothing to move, answered at once.
	res = c.transfer(f, TransferLeader{To: c.raftID(f)})
	if res.Err != nil || res.Old != res.New || res.New != c.raftID(f) {
		t.Fatalf("transfer to the leader itself: %+v, want ok with Old = New = %d", res, c.raftID(f))
	}
}

func TestTransferLeaderBestVoter(t *testing.T) {
	c := newCluster(t, 5, 1, Config{})
	l := c.leader(2 * time.Second)
	c.claimOK(5, "before.org")
	res := c.transfer(l, TransferLeader{})
	if res.Err != nil || res.Old != c.raftID(l) || res.New == 0 || res.New == res.Old {
		t.Fatalf("transfer to the best voter: %+v", res)
	}
	if got := c.leader(2 * time.Second); got != c.nodeIndex(res.New) {
		t.Fatalf("leader after the transfer is node %d, want node %d (replica %d)", got, c.nodeIndex(res.New), res.New)
	}
	c.claimOK(5, "after.org")
	c.awaitConverged(2 * time.Second)
}

func TestTransferLeaderNotLeader(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	c.claimOK(3, "hint.org") // the non-replica learns the leader from the reply
	f := (l + 1) % replicas3
	for _, i := range []int{f, 3} {
		res := c.transfer(i, TransferLeader{To: c.raftID(f)})
		if !errIs(res.Err, ErrNotLeader) || res.Leader != c.raftID(l) || res.LeaderNode != c.nodes[l].id {
			t.Fatalf("transfer asked at node %d: %+v, want ErrNotLeader naming replica %d", i, res, c.raftID(l))
		}
	}
	if got := c.leader(time.Second); got != l {
		t.Fatalf("leader moved to node %d after refused requests", got)
	}
}

func TestTransferLeaderNoSuchReplica(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	for _, req := range []TransferLeader{{To: 4}, {ToNode: c.nodes[3].id}, {ToNode: proto.NodeID{1}}} {
		if res := c.transfer(l, req); !errIs(res.Err, ErrNoSuchReplica) {
			t.Fatalf("transfer %+v: %v, want ErrNoSuchReplica", req, res.Err)
		}
	}
}

func TestTransferLeaderToPartitionedTarget(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	f := (l + 1) % replicas3
	c.isolate(f)
	// CheckQuorum clears RecentActive every election timeout: run four
	// of them (at least two are needed: the first may find it set).
	c.run(4 * time.Duration(ElectionTicks) * TickIntervalDefault)
	res := c.transfer(l, TransferLeader{To: c.raftID(f)})
	if !errIs(res.Err, ErrTargetNotCaughtUp) || res.New != 0 {
		t.Fatalf("transfer to an isolated replica: %+v, want ErrTargetNotCaughtUp", res)
	}
	if got := c.leader(time.Second); got != l {
		t.Fatalf("leader moved to node %d", got)
	}
	c.claimOK(3, "still.org")
}

func TestTransferLeaderAbortedKeepsLeader(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	c.claimOK(3, "before.org")
	f := (l + 1) % replicas3
	// The target is caught up when asked, but nothing from the leader
	// reaches it any more (its MsgTimeoutNow included): raft aborts the
	// transfer after an election timeout. The third replica still hears
	// the leader, so the target's pre-votes fail and the leader stays.
	lid, fid := c.nodes[l].id, c.nodes[f].id
	c.cut = func(from, to proto.NodeID, _ []byte) bool { return from == lid && to == fid }
	res := c.transfer(l, TransferLeader{To: c.raftID(f)})
	if !errIs(res.Err, ErrTransferFailed) || !strings.Contains(res.Err.Error(), "aborted") || res.New != 0 {
		t.Fatalf("transfer to a replica that never hears MsgTimeoutNow: %+v, want ErrTransferFailed (aborted)", res)
	}
	if st := c.nodes[l].reg.rn.BasicStatus(); st.RaftState != raft.StateLeader {
		t.Fatalf("old leader is %v after the aborted transfer", st.RaftState)
	}
	c.claimOK(3, "after.org")
	c.heal()
	c.awaitConverged(3 * time.Second)
}

func TestTransferLeaderNoCandidate(t *testing.T) {
	c := newCluster(t, 1, 0, Config{})
	l := c.leader(2 * time.Second)
	if res := c.transfer(l, TransferLeader{}); !errIs(res.Err, ErrNoCandidate) || !errIs(res.Err, ErrSingleReplica) || res.Old != 1 {
		t.Fatalf("transfer in a one-replica group: %+v, want ErrNoCandidate and ErrSingleReplica", res)
	}
	c.claimOK(l, "alone.org")
}

// Writes in flight while leadership moves are not lost: raft drops the
// proposals made during the transfer and their origins retry them at the
// new leader, so every one commits.
func TestTransferLeaderUnderWrites(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	c.claimOK(3, "warm.org")
	f := (l + 2) % replicas3
	var ids []env.RequestID
	var via []int
	for i := range 20 {
		n := []int{3, l, f}[i%3]
		ids, via = append(ids, c.submit(n, Claim{Name: fmt.Sprintf("w%d.org", i), Owner: newOwner(1).pub})), append(via, n)
	}
	if res := c.transfer(l, TransferLeader{To: c.raftID(f)}); res.Err != nil || res.New != c.raftID(f) {
		t.Fatalf("transfer under writes: %+v", res)
	}
	for i, id := range ids {
		r, ok := c.await(via[i], id, c.opTimeout()+time.Second)
		if !ok || r.Err != nil {
			t.Fatalf("write %d via node %d: %v (answered %v)", i, via[i], r.Err, ok)
		}
	}
	c.awaitConverged(2 * time.Second)
}

// cutTimeoutNow starts a transfer from leader l to node f that cannot
// complete: nothing from l reaches f (its MsgTimeoutNow included).
func (c *cluster) cutTimeoutNow(l, f int) env.RequestID {
	lid, fid := c.nodes[l].id, c.nodes[f].id
	c.cut = func(from, to proto.NodeID, _ []byte) bool { return from == lid && to == fid }
	return c.submit(l, TransferLeader{To: c.raftID(f)})
}

// A second request while a transfer is pending is refused with
// ErrTransferInProgress naming the leader, whatever its target; the first
// still ends (aborted here).
func TestTransferLeaderInProgress(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	c.claimOK(3, "before.org")
	f, g := (l+1)%replicas3, (l+2)%replicas3
	first := c.cutTimeoutNow(l, f)
	c.round()
	for _, req := range []TransferLeader{{To: c.raftID(g)}, {}, {To: c.raftID(f)}} {
		res := c.transfer(l, req)
		if !errIs(res.Err, ErrTransferInProgress) || res.Leader != c.raftID(l) || res.LeaderNode != c.nodes[l].id {
			t.Fatalf("transfer %+v while one is pending: %+v, want ErrTransferInProgress naming replica %d", req, res, c.raftID(l))
		}
	}
	resp, ok := c.c.Await(l, first, 5*time.Second)
	if res, _ := resp.(TransferResult); !ok || !errIs(res.Err, ErrTransferFailed) || res.New != 0 {
		t.Fatalf("first transfer: %+v (answered %v), want ErrTransferFailed (aborted)", resp, ok)
	}
}

// Raft elects a replica other than the target while the transfer is
// pending: ErrTransferFailed naming the winner in New, not success and
// not unknown.
func TestTransferLeaderOtherWinner(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	c.claimOK(3, "before.org")
	f, g := (l+1)%replicas3, (l+2)%replicas3
	id := c.cutTimeoutNow(l, f)
	c.round()
	// Replica g gets a MsgTimeoutNow as if it were the target: it
	// campaigns at once and wins (its log is as long as any).
	rn := c.nodes[g].reg.rn
	m := raftpb.Message{Type: raftpb.MsgTimeoutNow.Enum()}
	from, to, term := c.raftID(l), c.raftID(g), rn.BasicStatus().GetTerm()
	m.From, m.To, m.Term = &from, &to, &term
	if err := rn.Step(&m); err != nil {
		t.Fatalf("MsgTimeoutNow to node %d: %v", g, err)
	}
	resp, ok := c.c.Await(l, id, 5*time.Second)
	res, _ := resp.(TransferResult)
	if !ok || !errIs(res.Err, ErrTransferFailed) || errIs(res.Err, ErrTransferUnknown) || res.New != c.raftID(g) || res.NewNode != c.nodes[g].id {
		t.Fatalf("transfer to replica %d won by replica %d: %+v (answered %v), want ErrTransferFailed with New %d", c.raftID(f), c.raftID(g), resp, ok, c.raftID(g))
	}
	if !strings.Contains(res.Err.Error(), c.nodes[g].id.String()) {
		t.Fatalf("error %q does not name the winner's node %s", res.Err, c.nodes[g].id)
	}
	c.claimOK(3, "after.org")
}

// The target takes over, but the old leader never hears from it (nor
// learns the new leader): the answer is ErrTransferUnknown, not a failure,
// because leadership did move.
func TestTransferLeaderUnknownOutcome(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	c.claimOK(3, "before.org")
	f := (l + 1) % replicas3
	lid, fid := c.nodes[l].id, c.nodes[f].id
	c.cut = func(from, to proto.NodeID, _ []byte) bool { return from == fid && to == lid }
	res := c.transfer(l, TransferLeader{To: c.raftID(f)})
	if !errIs(res.Err, ErrTransferUnknown) || errIs(res.Err, ErrTransferFailed) || res.New != 0 || !TransferStarted(res.Err) {
		t.Fatalf("transfer whose target won unheard: %+v, want ErrTransferUnknown", res)
	}
	if st := c.nodes[f].reg.rn.BasicStatus(); st.RaftState != raft.StateLeader {
		t.Fatalf("target is %v, want leader: the test did not make the case it means", st.RaftState)
	}
	c.heal()
	c.claimOK(3, "after.org")
	c.awaitConverged(3 * time.Second)
}

// The leader fails (a disk error) while its transfer is pending: the
// answer is ErrTransferUnknown (MsgTimeoutNow may be on its way), and a
// new request is refused with ErrNotLeader wrapping ErrFailed.
func TestTransferLeaderReplicaStopped(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	c.claimOK(3, "before.org")
	f := (l + 1) % replicas3
	id := c.cutTimeoutNow(l, f)
	c.round()
	c.nodes[l].reg.fail(errors.New("test: disk gone"), false)
	resp, ok := c.c.Await(l, id, 5*time.Second)
	if res, _ := resp.(TransferResult); !ok || !errIs(res.Err, ErrTransferUnknown) {
		t.Fatalf("transfer at a replica that failed: %+v (answered %v), want ErrTransferUnknown", resp, ok)
	}
	res := c.transfer(l, TransferLeader{})
	if !errIs(res.Err, ErrNotLeader) || !errIs(res.Err, ErrFailed) || TransferStarted(res.Err) {
		t.Fatalf("transfer at a failed replica: %+v, want ErrNotLeader wrapping ErrFailed", res)
	}
}

// Writes made at the leader while a transfer is pending (raft drops their
// proposals) are retried at the next tick once raft aborts it, not after
// their backoff (up to RetryBackoffMax plus jitter).
func TestTransferLeaderAbortRetriesWrites(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	c.claimOK(3, "before.org")
	f := (l + 1) % replicas3
	x := c.cutTimeoutNow(l, f)
	var ids []env.RequestID
	for i := range 20 {
		ids = append(ids, c.submit(l, Claim{Name: fmt.Sprintf("w%d.org", i), Owner: newOwner(1).pub}))
		c.run(20 * time.Millisecond)
	}
	resp, ok := c.c.Await(l, x, 5*time.Second)
	if res, _ := resp.(TransferResult); !ok || !errIs(res.Err, ErrTransferFailed) {
		t.Fatalf("transfer: %+v (answered %v), want ErrTransferFailed (aborted)", resp, ok)
	}
	// A write retried at the next tick commits within a few ticks; one
	// waiting out its backoff takes up to 500 ms.
	limit := 10 * TickIntervalDefault
	for i, id := range ids {
		if r, ok := c.await(l, id, limit); !ok || r.Err != nil {
			t.Fatalf("write %d: not committed within %v of the abort (answered %v, err %v)", i, limit, ok, r.Err)
		}
	}
}
