package registry

import (
	"go.etcd.io/raft/v3"

	"github.com/ron-network/ron/core/proto"
)

// StatusQuery is a client request (node.Call) for this node's view of
// the registry, answered at once with a View from the node's volatile
// state: no raft round trip, no disk, nothing sent. It is what GET
// /status shows (io/gateway), as etcd's endpoint status shows a member's
// leader and term.
type StatusQuery struct{}

// View is this node's view of the registry. On a replica, Leader and
// Term are raft's (a replica that is still recovering, or failed, knows
// neither); on a non-replica, Leader is the leader the latest replica
// reply that named one named (it may be stale: a non-replica learns of a
// new leader only through the replies to its own ops), none while its
// no-leader evidence holds (NoLeader, as /readyz says), and Term is
// zero.
type View struct {
	// Replicas is the number of registry replicas configured.
	Replicas int
	// Replica is this node's raft id (its 1-based position in
	// Config.Replicas), zero on a non-replica.
	Replica uint64
	// Leader is the leader's raft id, zero when none is known;
	// LeaderNode its node id.
	Leader     uint64
	LeaderNode proto.NodeID
	// Term is the replica's raft term (zero on a non-replica).
	Term uint64
	// IsLeader: this replica is the raft leader.
	IsLeader bool
	// Role is the running replica's raft role: "leader", "follower",
	// "candidate" or "pre-candidate" ("" on a non-replica, and while not
	// running).
	Role string
	// Failed, Recovering: the replica's phase (Failed: stopped after a
	// disk error; Recovering: still reading its disk).
	Failed, Recovering bool
}

// Service names the registry (node.Call).
func (StatusQuery) Service() string { return ServiceName }

// Answer: the registry replies with a View.
func (StatusQuery) Answer(View) {}

// View returns this node's view of the registry (StatusQuery's answer).
func (r *Registry) View() View {
	v := View{Replicas: len(r.cfg.Replicas), Failed: r.Failed(), Recovering: r.Recovering()}
	if r.replica < 0 {
		if id, ok := r.Leader(); ok && !r.NoLeader() {
			v.Leader, v.LeaderNode = uint64(indexOf(r.cfg.Replicas, id)+1), id
		}
		return v
	}
	v.Replica = uint64(r.replica + 1)
	if r.phase != phaseRunning {
		return v
	}
	st := r.rn.BasicStatus()
	v.Term, v.IsLeader = st.GetTerm(), st.RaftState == raft.StateLeader
	v.Role = roleNames[st.RaftState]
	if st.Lead != raft.None && st.Lead <= uint64(len(r.cfg.Replicas)) {
		v.Leader, v.LeaderNode = st.Lead, r.cfg.Replicas[st.Lead-1]
	}
	return v
}

// roleNames name raft's states in View.Role.
var roleNames = map[raft.StateType]string{raft.StateFollower: "follower", raft.StateCandidate: "candidate",
	raft.StateLeader: "leader", raft.StatePreCandidate: "pre-candidate"}
