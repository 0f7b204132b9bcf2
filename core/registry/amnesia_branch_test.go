package registry

import (
	"slices"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"

	"github.com/ron-network/ron/core/proto/wire"
)

// Tests for branches of amnesia.go that no scenario reaches on purpose:
// the term checks an unconfirmed replica makes once every other replica
// answered, and the leader's re-probe of a querier whose commit index is
// behind.

// wipedUnconfirmed returns a 3-replica cluster whose replica w lost its
// disk and restarted, and is unconfirmed now, with every other replica's
// report overridden: all heard, holding state far ahead of w (so it
// cannot confirm), at raft term floor. The cluster must not run after
// this (real answers would replace the reports).
func wipedUnconfirmed(t *testing.T, floor uint64) (*cluster, *Registry) {
	t.Helper()
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	if r := c.do(l, Claim{Name: "a.org", Owner: newOwner(1).pub}); r.Err != nil {
		t.Fatal(r.Err)
	}
	w := (l + 1) % replicas3
	c.crash(w).Wipe()
	c.restart(w)
	if !c.c.RunUntil(2*time.Second, func() bool { return c.nodes[w].reg.Unconfirmed() }) {
		t.Fatal("the wiped replica never came up unconfirmed")
	}
	reg := c.nodes[w].reg
	for i := range reg.amn.reports {
		if i != reg.replica {
			reg.amn.reports[i] = stateReport{heard: true, hasState: true, last: 1 << 40, term: floor}
		}
	}
	if term := reg.rn.BasicStatus().GetTerm(); term >= floor {
		t.Fatalf("the wiped replica is at term %d already, want below the floor %d", term, floor)
	}
	return c, reg
}

// Once every other replica answered, an acknowledgement raft produced for
// a leader whose term is below the highest term they reported is not
// sent: that leader may be stale, and this replica may have promised the
// higher term before its wipe (unconfirmedDropsOut, the term check).
func TestUnconfirmedDropsAcksBelowReportedTerm(t *testing.T) {
	const floor = 50
	_, reg := wipedUnconfirmed(t, floor)
	for _, typ := range []pb.MessageType{pb.MsgAppResp, pb.MsgHeartbeatResp} {
		if !reg.unconfirmedDropsOut(&pb.Message{Type: typ.Enum(), Term: new(uint64(floor - 1))}) {
			t.Errorf("%v at term %d, below the reported term %d, was sent", typ, floor-1, floor)
		}
		if reg.unconfirmedDropsOut(&pb.Message{Type: typ.Enum(), Term: new(uint64(floor))}) {
			t.Errorf("%v at the reported term %d was dropped", typ, floor)
		}
	}
	// A request (not an acknowledgement) is not filtered here.
	if reg.unconfirmedDropsOut(&pb.Message{Type: pb.MsgApp.Enum(), Term: new(uint64(floor - 1))}) {
		t.Error("an outbound MsgApp was dropped by the acknowledgement check")
	}
}

// Once every other replica answered, an inbound raft message whose term is
// below the highest term they reported is dropped before raft sees it (a
// stale leader or candidate), while one at that term, or without a term,
// is stepped (unconfirmedDropsIn, the term filter). Before every replica
// answered, no floor is known and nothing is dropped for its term.
func TestUnconfirmedDropsMessagesBelowReportedTerm(t *testing.T) {
	const floor = 50
	_, reg := wipedUnconfirmed(t, floor)
	for _, typ := range []pb.MessageType{pb.MsgApp, pb.MsgHeartbeat, pb.MsgSnap} {
		if !reg.unconfirmedDropsIn(&pb.Message{Type: typ.Enum(), Term: new(uint64(floor - 1))}) {
			t.Errorf("%v at term %d, below the reported term %d, reached raft", typ, floor-1, floor)
		}
		if reg.unconfirmedDropsIn(&pb.Message{Type: typ.Enum(), Term: new(uint64(floor)), Commit: new(uint64(0))}) {
			t.Errorf("%v at the reported term %d was dropped", typ, floor)
		}
	}
	if reg.unconfirmedDropsIn(&pb.Message{Type: pb.MsgApp.Enum(), Term: new(uint64(0))}) {
		t.Error("a message without a term was dropped by the term filter")
	}
	other := (reg.replica + 1) % replicas3
	reg.amn.reports[other].heard = false
	if reg.unconfirmedDropsIn(&pb.Message{Type: pb.MsgApp.Enum(), Term: new(uint64(floor - 1))}) {
		t.Error("a message was dropped for its term before every replica answered")
	}
}

// A leader whose match for a querier is valid (at or below the querier's
// last index) but whose commit index is above the querier's re-probes it
// (ReportUnreachable: its progress goes from replicate to probe), so the
// next append carries the commit index; a querier whose commit index is
// current is left replicating (resetStaleMatch).
func TestStateQueryBehindCommitReprobes(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	for _, n := range []string{"a.org", "b.org"} {
		if r := c.do(l, Claim{Name: n, Owner: newOwner(1).pub}); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	c.awaitConverged(2 * time.Second)
	f := (l + 1) % replicas3
	lead := c.nodes[l].reg
	raftID := uint64(slices.Index(c.replicas, c.nodes[f].id) + 1)
	progress := func() tracker.Progress { return lead.rn.Status().Progress[raftID] }
	if !c.c.RunUntil(2*time.Second, func() bool { return progress().State == tracker.StateReplicate }) {
		t.Fatalf("follower progress is %v, want replicate", progress().State)
	}
	commit := lead.rn.BasicStatus().GetCommit()
	query := func(nonce, last, commit uint64) []byte {
		b := wire.AppendUvarint([]byte{codecVersion, envStateQuery}, nonce)
		b = wire.AppendUvarint(b, last)
		return wire.AppendUvarint(b, commit)
	}
	pr := progress()
	if pr.Match == 0 || commit == 0 || pr.Match > commit {
		t.Fatalf("match %d commit %d: want a follower holding committed entries", pr.Match, commit)
	}
	if !lead.onStateEnvelope(c.nodes[f].id, query(7, pr.Match, commit)) {
		t.Fatal("a state query was not taken as one")
	}
	if got := progress().State; got != tracker.StateReplicate {
		t.Fatalf("a query with a current commit index moved the follower to %v", got)
	}
	// The querier restarted (a new nonce) and lost its unsynced commit
	// index, its log intact.
	if !lead.onStateEnvelope(c.nodes[f].id, query(8, pr.Match, 0)) {
		t.Fatal("a state query was not taken as one")
	}
	if got := progress().State; got != tracker.StateProbe {
		t.Fatalf("a query whose commit index (0) is below the leader's (%d) left the follower in %v, want probe", commit, got)
	}
	if !lead.IsLeader() {
		t.Fatal("the leader handed leadership over for a valid match")
	}
	if !c.c.RunUntil(2*time.Second, func() bool { return progress().State == tracker.StateReplicate }) {
		t.Fatalf("the probed follower did not return to replicate: %v", progress().State)
	}
}

// A state query that arrives late (duplicated or reordered by the
// network), after a later query of the same incarnation reported a longer
// log, is judged by the longest log and highest commit index that
// incarnation reported: the leader neither hands leadership over for a
// stale "lost entries" report nor re-probes. A query of a new incarnation
// (another nonce: the replica restarted) is judged by its own report.
func TestLateStateQueryKeepsLeader(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	for _, n := range []string{"a.org", "b.org"} {
		if r := c.do(l, Claim{Name: n, Owner: newOwner(1).pub}); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	c.awaitConverged(2 * time.Second)
	f := (l + 1) % replicas3
	lead := c.nodes[l].reg
	raftID := uint64(slices.Index(c.replicas, c.nodes[f].id) + 1)
	progress := func() tracker.Progress { return lead.rn.Status().Progress[raftID] }
	if !c.c.RunUntil(2*time.Second, func() bool {
		o := lead.rn.Status().Progress[uint64(slices.Index(c.replicas, c.nodes[3-l-f].id)+1)]
		return progress().State == tracker.StateReplicate && o.State == tracker.StateReplicate && o.RecentActive
	}) {
		t.Fatalf("follower progress is %v, want both followers replicating", progress().State)
	}
	commit, match := lead.rn.BasicStatus().GetCommit(), progress().Match
	query := func(nonce, last, commit uint64) {
		b := wire.AppendUvarint([]byte{codecVersion, envStateQuery}, nonce)
		b = wire.AppendUvarint(b, last)
		lead.onStateEnvelope(c.nodes[f].id, wire.AppendUvarint(b, commit))
	}
	query(7, match, commit) // the querier's latest: caught up
	query(7, 0, 0)          // its first, arriving late
	if tr := lead.rn.Status().LeadTransferee; tr != 0 {
		t.Fatalf("a late query of an incarnation that reported index %d made the leader hand over to %d", match, tr)
	}
	if got := progress().State; got != tracker.StateReplicate {
		t.Fatalf("a late query re-probed the follower: %v", got)
	}
	query(8, 0, 0) // a new incarnation that lost its log
	if tr := lead.rn.Status().LeadTransferee; tr == 0 {
		t.Fatal("a new incarnation reporting an empty log below the leader's match did not make the leader hand over")
	}
}
