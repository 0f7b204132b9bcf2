package registry

import (
	"slices"
	"strconv"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
	"github.com/ron-network/ron/core/proto/wire"
)

// A replica that starts with no raft state (doc.go, "Amnesia") in a group
// of more than one replica is unconfirmed: it may have voted and
// acknowledged entries before it lost its disk, so it must not vote,
// grant a pre-vote or campaign until it knows its log holds everything it
// may have acknowledged, or that the group is new.

// StateQueryTicks is how often (in raft ticks) an unconfirmed replica
// asks the other replicas for their raft state.
const StateQueryTicks = 10

// stateReport is what one other replica answered to this incarnation's
// state queries: whether it holds raft state, and the last log index of
// its latest answer.
type stateReport struct {
	heard    bool
	hasState bool
	last     uint64
	term     uint64 // the highest raft term it reported
}

// amnesia is an unconfirmed replica's progress.
type amnesia struct {
	nonce   uint64 // this incarnation's query id (its session); replies echo it
	reports []stateReport
}

// startUnconfirmed makes the replica unconfirmed when it recovered no raft
// state at all (empty) in a group of more than one replica, or when
// keyUnconfirmed is still on disk (marked): it started empty, caught up
// part of the way and restarted, so its log may still miss entries it
// acknowledged before it lost its disk. The mark is written (and synced)
// before anything raft writes, disk ops completing in order, so a crash
// cannot leave raft state without it.
func (r *Registry) startUnconfirmed(empty, marked bool) {
	r.amn = nil
	r.env.Metrics().Set(MetricUnconfirmed, "", 0)
	if (!empty && !marked) || len(r.cfg.Replicas) < 2 {
		return
	}
	if !marked {
		r.env.Submit(env.DiskOp{Kind: env.DiskBatch, Tag: tagMarker, Batch: []env.DiskWrite{{Key: []byte(keyUnconfirmed), Value: env.Seal(nil)}}})
		r.env.Submit(env.DiskOp{Kind: env.DiskSync, Tag: tagMarker})
	}
	r.amn = &amnesia{nonce: r.session, reports: make([]stateReport, len(r.cfg.Replicas))}
	r.env.Metrics().Set(MetricUnconfirmed, "", 1)
	r.env.Log().Warn("registry: this replica started with no raft state (a new data directory) in a group of "+
		strconv.Itoa(len(r.cfg.Replicas))+" replicas: it will not acknowledge until every other replica has "+
		"answered, nor vote or campaign until it has also caught up to their highest log index, or every replica "+
		"reports no state (a new cluster: all replicas must start); if it lost a disk it once had, the "+
		"acknowledged writes it held are kept only by the others", "replicas", len(r.cfg.Replicas), "resumed", marked)
	r.sendStateQuery()
}

// Unconfirmed reports whether the replica is waiting to learn that it may
// vote (it started with no raft state; see doc.go, "Amnesia").
func (r *Registry) Unconfirmed() bool { return r.amn != nil }

// sendStateQuery asks every other replica for its raft state.
func (r *Registry) sendStateQuery() {
	last, _ := r.storage.LastIndex()
	payload := wire.AppendUvarint([]byte{codecVersion, envStateQuery}, r.amn.nonce)
	payload = wire.AppendUvarint(payload, last)
	payload = wire.AppendUvarint(payload, r.rn.BasicStatus().GetCommit())
	frame := oap.MustEncode(&oap.Frame{Header: oap.Header{Flags: oap.FlagEVENT, AppProto: oap.ProtoRegistry}, Payload: payload})
	for i, id := range r.cfg.Replicas {
		if i != r.replica {
			r.env.Send(id, frame)
		}
	}
}

// onUnconfirmedTick runs every tick instead of raft's tick while the
// replica is unconfirmed: raft never reaches its election timeout, so it
// never campaigns.
func (r *Registry) onUnconfirmedTick() {
	if r.ticks%StateQueryTicks == 0 {
		r.sendStateQuery()
	}
	r.maybeConfirm()
}

// hasRaftState reports whether this replica holds any raft state in its
// storage mirror (what it has made durable: a hard state or a log entry)
// or was confirmed once. A replica of a new cluster that was confirmed
// and stopped before any election reached it must not look new again: a
// replica that lost its disk and it would be a majority reporting no
// state while the third holds every acknowledged write.
func (r *Registry) hasRaftState() bool {
	hs, _, _ := r.storage.InitialState()
	last, _ := r.storage.LastIndex()
	return r.confirmed || !raft.IsEmptyHardState(hs) || last > 0
}

// onStateEnvelope handles envStateQuery and envStateReply; it reports
// whether the payload was one. Only replicas exchange them.
func (r *Registry) onStateEnvelope(from proto.NodeID, payload []byte) bool {
	if len(payload) < 2 || payload[0] != codecVersion || (payload[1] != envStateQuery && payload[1] != envStateReply) {
		return false
	}
	rd := wire.NewReader(payload[2:])
	nonce := rd.Uvarint()
	var hasState bool
	var commit uint64
	var last, term uint64
	if payload[1] == envStateReply {
		hasState, last, term = rd.Bool(), rd.Uvarint(), rd.Uvarint()
	} else {
		last, commit = rd.Uvarint(), rd.Uvarint()
	}
	i := slices.Index(r.cfg.Replicas, from)
	if rd.Done() != nil || i < 0 || r.replica < 0 || i == r.replica {
		r.env.Metrics().Add(MetricRejects, reasonMalformed, 1)
		return true
	}
	if r.phase != phaseRunning {
		return true // recovering: the querier asks again
	}
	if payload[1] == envStateQuery {
		r.queried[i] = r.ticks + 1
		last, commit = r.queryMarks[i].merge(nonce, last, commit)
		r.resetStaleMatch(i, last, commit)
		myLast, _ := r.storage.LastIndex()
		b := wire.AppendUvarint([]byte{codecVersion, envStateReply}, nonce)
		b = wire.AppendBool(b, r.hasRaftState())
		b = wire.AppendUvarint(b, myLast)
		b = wire.AppendUvarint(b, r.rn.BasicStatus().GetTerm())
		r.env.Send(from, oap.MustEncode(&oap.Frame{Header: oap.Header{Flags: oap.FlagEVENT, AppProto: oap.ProtoRegistry}, Payload: b}))
		return true
	}
	if r.amn == nil || nonce != r.amn.nonce {
		return true // an earlier incarnation's, or confirmed already
	}
	rep := &r.amn.reports[i]
	// The lowest answer of this incarnation, not the latest: an entry
	// committed before the wipe and held by this replica stays at or below
	// every answer's last index from then on (a committed entry is never
	// truncated), so the lowest answer still covers it, and it does not
	// move: the latest answer includes a busy group's uncommitted tail,
	// which a replica that applies only committed entries could chase for
	// ever (a review reproduced it at 60 ms latency and 100 writes/s).
	if !rep.heard || last < rep.last {
		rep.last = last
	}
	rep.heard = true
	rep.hasState = rep.hasState || hasState
	rep.term = max(rep.term, term)
	r.maybeConfirm()
	return true
}

// queryMark is what one replica's incarnation reported in its state
// queries so far.
type queryMark struct {
	nonce, last, commit uint64
}

// merge takes a state query's report into the mark and returns the
// longest log and highest commit index the querier's incarnation (nonce)
// reported. Within an incarnation the commit index never falls, and a
// log that held an index held every entry below it: a query that arrives
// late (reordered or duplicated) after a later one must not look like a
// replica that lost entries, or the leader would hand leadership over
// again (or re-probe) for nothing. A new nonce (a restart) starts afresh.
func (q *queryMark) merge(nonce, last, commit uint64) (uint64, uint64) {
	if q.nonce != nonce {
		*q = queryMark{nonce: nonce}
	}
	q.last, q.commit = max(q.last, last), max(q.commit, commit)
	return q.last, q.commit
}

// maybeConfirm ends the unconfirmed state when it is safe to vote:
//
//   - every other replica answered, and this replica's applied index
//     reached the highest last log index any reported. An entry committed
//     before this replica lost its state is held by a majority; if this
//     replica was one of them, at least one other holds it too, at an
//     index no higher than that replica's last index. Applied entries are
//     committed, and a committed entry at an index is the only one there,
//     so the applied prefix holds every such entry, and raft's vote rule
//     protects them again. A leader's heartbeat alone is not enough: the
//     leader could die before sending the entries.
//   - every replica (this one included) reports no state: no entry was
//     ever committed and no vote ever cast, so the group is new and
//     bootstraps as before. A majority is not enough: a replica that
//     lost its disk and one that never started would be a majority of a
//     three-replica group while the third holds every acknowledged write.
func (r *Registry) maybeConfirm() {
	a := r.amn
	if a == nil || r.phase != phaseRunning {
		return
	}
	var target uint64
	empty, all, stateSeen := 0, true, false
	if !r.hasRaftState() {
		empty = 1
	}
	for i, rep := range a.reports {
		switch {
		case i == r.replica:
		case !rep.heard:
			all = false
		case rep.hasState:
			stateSeen = true
			target = max(target, rep.last)
		default:
			empty++
		}
	}
	_, floor := a.allHeard(r.replica)
	var why string
	switch {
	case all && !stateSeen && empty == len(r.cfg.Replicas):
		why = "all " + strconv.Itoa(empty) + " replicas report no raft state: a new cluster"
	case all && r.m.applied >= target:
		why = "caught up to index " + strconv.FormatUint(target, 10) + ", the highest last index the other replicas reported"
	default:
		return
	}
	r.amn = nil
	r.env.Metrics().Set(MetricUnconfirmed, "", 0)
	// One batch: a crash keeps both keys' old values (the next start
	// waits again) or both new ones. Synced: a replica that never gets raft
	// state (a new cluster elected without it) must still report state
	// after a restart (hasRaftState).
	// The term floor outlives the unconfirmed state (termFloorDrops): the
	// replica may confirm while its own raft term is still below a term
	// it promised before its wipe; it is kept in the mark for restarts.
	r.confirmed, r.termFloor = true, floor
	r.env.Submit(env.DiskOp{Kind: env.DiskBatch, Tag: tagMarker, Batch: []env.DiskWrite{
		{Key: []byte(keyUnconfirmed), Delete: true}, {Key: []byte(keyConfirmed), Value: env.Seal(wire.AppendUvarint(nil, floor))}}})
	r.env.Submit(env.DiskOp{Kind: env.DiskSync, Tag: tagMarker})
	r.env.Log().Info("registry: replica confirmed, it votes from now on: "+why, "applied", r.m.applied)
}

// unconfirmedDrops reports whether an unconfirmed replica must not step
// or send m: a vote or pre-vote request or answer, or a leader's
// transfer order (it would campaign).
func unconfirmedDrops(m *pb.Message) bool {
	switch m.GetType() {
	case pb.MsgVote, pb.MsgPreVote, pb.MsgVoteResp, pb.MsgPreVoteResp, pb.MsgTimeoutNow, pb.MsgHup:
		return true
	}
	return false
}

// allHeard reports whether every other replica answered this
// incarnation's state query, and the highest raft term they reported.
func (a *amnesia) allHeard(self int) (bool, uint64) {
	var term uint64
	for i, rep := range a.reports {
		if i == self {
			continue
		}
		if !rep.heard {
			return false, 0
		}
		term = max(term, rep.term)
	}
	return true, term
}

// unconfirmedDropsOut reports whether an unconfirmed replica must not send
// m. Besides votes, it sends no acknowledgement (MsgAppResp,
// MsgHeartbeatResp, which also answers a leader's ReadIndex) until every
// other replica answered its state query: it forgot the term it promised
// before it lost its disk, so a stale leader (one whose term is below a
// term this replica voted or acknowledged in) could otherwise count it
// and commit over entries a later leader committed with its help.
func (r *Registry) unconfirmedDropsOut(m *pb.Message) bool {
	if unconfirmedDrops(m) {
		return true
	}
	switch m.GetType() {
	case pb.MsgAppResp, pb.MsgHeartbeatResp:
		// An acknowledgement raft produced before the last answer came
		// in may be for a stale leader: its term says so.
		all, term := r.amn.allHeard(r.replica)
		return !all || m.GetTerm() < term
	}
	return false
}

// unconfirmedDropsIn reports whether an unconfirmed replica must not step
// m, and lowers a heartbeat's commit index to its own. Once every other
// replica answered, a message below the highest term they reported comes
// from a stale leader or candidate: any term this replica promised before
// its wipe is at most that term (the replica it promised it to still holds
// it). A heartbeat's commit is the leader's view of this replica's match,
// which may predate the wipe: raft would panic committing past its log,
// and its unverified tail must not commit through a heartbeat either;
// appends still commit it by log matching.
func (r *Registry) unconfirmedDropsIn(m *pb.Message) bool {
	if unconfirmedDrops(m) {
		return true
	}
	if all, term := r.amn.allHeard(r.replica); all && m.GetTerm() != 0 && m.GetTerm() < term {
		return true
	}
	if m.GetType() == pb.MsgHeartbeat {
		if c := r.rn.BasicStatus().GetCommit(); m.GetCommit() > c {
			m.Commit = &c
		}
	}
	return false
}

// termFloorDrops reports whether a confirmed replica must not step m:
// while its raft term is below the highest term the other replicas
// reported when it confirmed (termFloor), a message of a lower term comes
// from a stale leader or candidate, which it may have promised a higher
// term before its wipe. Once its term reaches the floor raft's own term
// check does the same.
func (r *Registry) termFloorDrops(m *pb.Message) bool {
	return r.termFloor > 0 && m.GetTerm() != 0 && m.GetTerm() < r.termFloor && r.rn.BasicStatus().GetTerm() < r.termFloor
}

// resetStaleMatch runs on a state query from replica i whose last log
// index is last and commit index commit. A leader whose progress for i matches beyond it still
// believes i holds entries it lost with its disk: raft ignores i's
// rejections at or below that match, so i would never catch up (and a
// heartbeat would commit past its log). The leader hands leadership to
// another voter that is replicating normally and has sent no state
// query lately (an unconfirmed one would not campaign); the next leader probes i
// from scratch. Without such a voter it logs and waits. A leader whose
// match for i is valid but whose commit index is above i's (i restarted
// and lost an unsynced commit index; heartbeats no longer raise it, see
// unconfirmedDropsIn) probes i again (ReportUnreachable): the probe is an
// append, which carries the commit index and is checked by log matching.
func (r *Registry) resetStaleMatch(i int, last, commit uint64) {
	if r.amn != nil || r.rn.BasicStatus().RaftState != raft.StateLeader {
		return
	}
	st := r.rn.Status()
	pr, ok := st.Progress[uint64(i+1)]
	if !ok {
		return
	}
	if pr.Match <= last {
		if commit < min(pr.Match, st.GetCommit()) && pr.State == tracker.StateReplicate {
			r.rn.ReportUnreachable(uint64(i + 1))
		}
		return
	}
	to, _ := r.bestVoter(&st, uint64(i+1))
	if to == 0 {
		r.env.Log().Warn("registry: replica "+strconv.Itoa(i+1)+" lost entries this leader counted it as holding "+
			"(match "+strconv.FormatUint(pr.Match, 10)+", its last index "+strconv.FormatUint(last, 10)+
			") and no other voter can take over leadership to probe it afresh: waiting", "replica", i+1)
		return
	}
	r.env.Log().Info("registry: replica "+strconv.Itoa(i+1)+" lost entries this leader counted it as holding: "+
		"handing leadership to replica "+strconv.FormatUint(to, 10)+", which probes it afresh",
		"match", pr.Match, "last", last)
	r.rn.TransferLeader(to)
}
