package registry

import (
	"errors"
	"fmt"
	"strconv"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/tracker"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// Errors of a TransferLeader request (TransferResult.Err wraps one;
// doc.go, "Moving leadership"). Those before the transfer started
// (ErrNotLeader to ErrTransferInProgress) are definite: raft was not asked
// to move leadership. Once started, ErrTransferFailed says the target did
// not take over (New names another replica that won, or is zero when raft
// aborted the transfer and this replica still leads), and
// ErrTransferUnknown that this replica cannot tell: leadership may have
// moved (registry_is_leader on each replica says where it is).
var (
	// ErrNotLeader: this node is not the registry leader; the result's
	// Leader names the leader it knows of (zero: none), where the request
	// can be sent again.
	ErrNotLeader = errors.New("registry: this node is not the registry leader")
	// ErrNoSuchReplica: the target is not one of Config.Replicas.
	ErrNoSuchReplica = errors.New("registry: no such replica")
	// ErrTargetNotCaughtUp: the target is not replicating normally from
	// the leader (probing, receiving a snapshot, not heard from within an
	// election timeout, or unconfirmed after a lost disk): raft would not
	// hand it leadership before aborting.
	ErrTargetNotCaughtUp = errors.New("registry: target replica is not caught up")
	// ErrNoCandidate: no target was named and no other voter is caught up.
	ErrNoCandidate = errors.New("registry: no other voter is caught up to take leadership")
	// ErrSingleReplica: the registry has one replica, so there is no other
	// voter to lead (wrapped with ErrNoCandidate): asking again will not
	// help.
	ErrSingleReplica = errors.New("registry: the registry has a single replica")
	// ErrTransferInProgress: a transfer asked for earlier has not ended.
	ErrTransferInProgress = errors.New("registry: a leadership transfer is already in progress")
	// ErrTransferFailed: the transfer started but the target did not take
	// over; the error says why: raft aborted it after an election timeout
	// and this replica still leads (New zero), or another replica won
	// (New and NewNode name it).
	ErrTransferFailed = errors.New("registry: leadership transfer failed")
	// ErrTransferUnknown: the transfer started, but its outcome is not
	// known: this replica stepped down and learned no leader within
	// transferWaitTicks (the target may lead, unheard from), or it stopped
	// or restarted during the transfer. Not a failure to retry blindly:
	// check which replica leads first.
	ErrTransferUnknown = errors.New("registry: leadership transfer outcome unknown")
)

// TransferStarted reports whether err, a TransferResult's, may end a
// transfer raft was asked to make, so leadership may have moved and the
// request is worth an audit record: nil (success; also the answer when
// the target already led and nothing moved, Old == New),
// ErrTransferFailed or ErrTransferUnknown. Every other error is a
// refusal: raft was not asked.
func TransferStarted(err error) bool {
	return err == nil || errors.Is(err, ErrTransferFailed) || errors.Is(err, ErrTransferUnknown)
}

// TransferLeader is a client request (node.Call) to a registry replica
// that leads: hand raft leadership to the replica To (its raft id, the
// 1-based position in Config.Replicas) or ToNode, or, with both zero, to
// the caught-up voter with the highest match (ties: the lowest id), as
// etcd's move-leader does. It is answered with a TransferResult once raft
// reports the new leader, or the transfer failed.
type TransferLeader struct {
	To     uint64
	ToNode proto.NodeID
}

// TransferResult answers TransferLeader. Old and New are raft ids (New
// zero when no replica took over), with their node ids; Leader is the
// leader this node knows of when Err is ErrNotLeader (zero: none).
type TransferResult struct {
	Err              error
	Old, New         uint64
	OldNode, NewNode proto.NodeID
	Leader           uint64
	LeaderNode       proto.NodeID
}

// Service names the registry (node.Call).
func (TransferLeader) Service() string { return ServiceName }

// Answer: the registry replies with a TransferResult.
func (TransferLeader) Answer(TransferResult) {}

// Failure is TransferResult's error (node.Failure).
func (t TransferResult) Failure() error { return t.Err }

// transferWaitTicks bounds how long a started transfer waits for a
// leader before it is answered ErrTransferUnknown: raft resets the
// leader's election clock when the transfer starts and aborts it one
// election timeout later, and an old leader that stepped down learns the
// new leader with its first append; 3 election timeouts leave room for
// that append to arrive. Past them this replica knows no leader and
// cannot tell whether the target took over.
func (r *Registry) transferWaitTicks() uint64 { return uint64(3 * r.electionTicks()) }

// transfer is the TransferLeader in progress on this replica.
type transfer struct {
	req      env.RequestID
	old, to  uint64
	deadline uint64 // r.ticks
}

// nodeOf is the node id of raft id id (zero when out of range).
func (r *Registry) nodeOf(id uint64) proto.NodeID {
	if id == 0 || id > uint64(len(r.cfg.Replicas)) {
		return proto.NodeID{}
	}
	return r.cfg.Replicas[id-1]
}

// onTransferLeader serves a TransferLeader request.
func (r *Registry) onTransferLeader(req env.RequestID, t TransferLeader) {
	res, ok := r.startTransfer(req, t)
	if !ok {
		r.env.Reply(req, res)
	}
}

// startTransfer checks t and starts the transfer (ok true: answered
// later by pollTransfer), or returns the answer.
func (r *Registry) startTransfer(req env.RequestID, t TransferLeader) (TransferResult, bool) {
	to := t.To
	if t.ToNode != (proto.NodeID{}) {
		i := indexOf(r.cfg.Replicas, t.ToNode)
		if i < 0 {
			return TransferResult{Err: fmt.Errorf("%w: node %s is not a registry replica (%d replicas)", ErrNoSuchReplica, t.ToNode, len(r.cfg.Replicas))}, false
		}
		if t.To != 0 && t.To != uint64(i+1) {
			return TransferResult{Err: fmt.Errorf("%w: replica %d is not node %s (that is replica %d)", ErrNoSuchReplica, t.To, t.ToNode, i+1)}, false
		}
		to = uint64(i + 1)
	}
	if to > uint64(len(r.cfg.Replicas)) {
		return TransferResult{Err: fmt.Errorf("%w: replica %d; the registry has replicas 1..%d", ErrNoSuchReplica, to, len(r.cfg.Replicas))}, false
	}
	switch {
	case r.replica < 0:
		id, known := r.Leader()
		res := TransferResult{Err: fmt.Errorf("%w: this node holds no registry replica", ErrNotLeader)}
		if known {
			res.LeaderNode, res.Leader = id, uint64(indexOf(r.cfg.Replicas, id)+1)
		}
		return res, false
	case r.phase == phaseFailed:
		return TransferResult{Err: fmt.Errorf("%w: %w", ErrNotLeader, ErrFailed)}, false
	case r.phase != phaseRunning:
		return TransferResult{Err: fmt.Errorf("%w: the replica is still recovering its state", ErrNotLeader)}, false
	}
	st := r.rn.Status()
	self := st.ID
	if st.RaftState != raft.StateLeader {
		res := TransferResult{Leader: st.Lead, LeaderNode: r.nodeOf(st.Lead)}
		if st.Lead == raft.None {
			res.Err = fmt.Errorf("%w: no leader is known now (an election may be under way)", ErrNotLeader)
		} else {
			res.Err = fmt.Errorf("%w: the leader is replica %d (node %s)", ErrNotLeader, st.Lead, res.LeaderNode)
		}
		return res, false
	}
	if r.xfer != nil || st.LeadTransferee != raft.None {
		return TransferResult{Err: fmt.Errorf("%w (to replica %d)", ErrTransferInProgress, st.LeadTransferee),
			Leader: self, LeaderNode: r.nodeOf(self)}, false
	}
	done := TransferResult{Old: self, OldNode: r.nodeOf(self)}
	if to == self {
		done.New, done.NewNode = self, done.OldNode
		return done, false // already the leader: nothing to move
	}
	if to == 0 {
		if len(r.cfg.Replicas) == 1 {
			done.Err = fmt.Errorf("%w: %w: there is no other voter", ErrNoCandidate, ErrSingleReplica)
			return done, false
		}
		if to, _ = r.bestVoter(&st, 0); to == 0 {
			done.Err = ErrNoCandidate
			return done, false
		}
	} else if why := r.notCaughtUp(&st, to); why != "" {
		done.Err = fmt.Errorf("%w: replica %d %s; leadership stays with replica %d", ErrTargetNotCaughtUp, to, why, self)
		return done, false
	}
	r.env.Log().Info("registry: transferring leadership on request", "from", self, "to", to)
	r.rn.TransferLeader(to)
	r.xfer = &transfer{req: req, old: self, to: to, deadline: r.ticks + r.transferWaitTicks()}
	return TransferResult{}, true
}

// notCaughtUp says why the leader's progress for voter id (not this
// replica) would not take leadership, or "" when it would: it is
// replicating normally, was heard from within the last election timeout
// and is not an unconfirmed replica (which drops MsgTimeoutNow).
func (r *Registry) notCaughtUp(st *raft.Status, id uint64) string {
	pr, ok := st.Progress[id]
	switch {
	case !ok:
		return "is not a voter"
	case pr.State != tracker.StateReplicate:
		return "is not replicating normally (" + pr.State.String() + ", match " + strconv.FormatUint(pr.Match, 10) +
			" of " + strconv.FormatUint(st.GetCommit(), 10) + " committed)"
	case !pr.RecentActive:
		return "has not been heard from within the last election timeout"
	case r.askedLately(id):
		return "is unconfirmed (it lost its raft state and has not caught up)"
	}
	return ""
}

// askedLately: voter id sent a state query lately, so it is unconfirmed
// (it would not campaign, and drops MsgTimeoutNow).
func (r *Registry) askedLately(id uint64) bool {
	q := r.queried[id-1]
	return q != 0 && r.ticks+1-q <= 3*StateQueryTicks
}

// bestVoter is the voter, other than this replica and skip, that is
// replicating normally, recently active and not unconfirmed, with the
// highest match (ties: the lowest id), and that match; 0 when none is.
func (r *Registry) bestVoter(st *raft.Status, skip uint64) (to, best uint64) {
	// map order ok: the highest match wins, ties go to the lowest id.
	for id, p := range st.Progress {
		if id == skip || id == st.ID || p.State != tracker.StateReplicate || !p.RecentActive {
			continue
		}
		if r.askedLately(id) {
			continue // it asked lately: unconfirmed, it would drop MsgTimeoutNow
		}
		if to == 0 || p.Match > best || (p.Match == best && id < to) {
			to, best = id, p.Match
		}
	}
	return to, best
}

// pollTransfer answers the transfer in progress once its outcome is
// known: the target leads (success), another replica leads, raft aborted
// it (this replica still leads with no transferee), or not: the replica
// stopped, or no leader appeared within transferWaitTicks
// (ErrTransferUnknown).
func (r *Registry) pollTransfer() {
	x := r.xfer
	if x == nil {
		return
	}
	res := TransferResult{Old: x.old, OldNode: r.nodeOf(x.old)}
	if r.phase != phaseRunning {
		res.Err = fmt.Errorf("%w: replica %d stopped during the transfer to replica %d; check which replica leads", ErrTransferUnknown, x.old, x.to)
		r.endTransfer(res)
		return
	}
	st := r.rn.BasicStatus()
	switch {
	case st.Lead == x.to:
		res.New, res.NewNode = x.to, r.nodeOf(x.to)
	case st.Lead != raft.None && st.Lead != x.old:
		res.New, res.NewNode = st.Lead, r.nodeOf(st.Lead)
		res.Err = fmt.Errorf("%w: replica %d (node %s) became the leader instead of replica %d", ErrTransferFailed, st.Lead, res.NewNode, x.to)
	case st.RaftState == raft.StateLeader && st.LeadTransferee == raft.None:
		res.Err = fmt.Errorf("%w: raft aborted it: replica %d did not take over within an election timeout (%d ticks); replica %d still leads",
			ErrTransferFailed, x.to, r.electionTicks(), x.old)
	case r.ticks >= x.deadline:
		res.Err = fmt.Errorf("%w: replica %d stepped down and knows no leader %d ticks after the request: replica %d may lead, unheard from, or an election may still be under way; check which replica leads",
			ErrTransferUnknown, x.old, r.transferWaitTicks(), x.to)
	default:
		return
	}
	r.endTransfer(res)
}

// endTransfer answers the transfer in progress with res and makes every
// pending op due at the next tick: raft dropped the proposals and reads
// this replica made while it led with a transferee, and after an abort
// (the same leader: setLead's retryOnLeader does not run) they would
// otherwise wait out their backoff.
func (r *Registry) endTransfer(res TransferResult) {
	x := r.xfer
	r.xfer = nil
	r.retryOnLeader(true)
	if res.Err != nil {
		r.env.Log().Warn("registry: leadership transfer did not succeed", "to", x.to, "err", res.Err)
	} else {
		r.env.Log().Info("registry: leadership transferred", "from", x.old, "to", res.New)
	}
	r.env.Reply(x.req, res)
}

func indexOf(ids []proto.NodeID, id proto.NodeID) int {
	for i, x := range ids {
		if x == id {
			return i
		}
	}
	return -1
}
