package registry

import (
	"fmt"
	"slices"
	"time"

	"go.etcd.io/raft/v3"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// Client-side and server-side limits.
const (
	// PendingOpsMax bounds the client ops one node has in flight; beyond it
	// a request is shed with ErrUnavailable. It is at most
	// SessionResultsMax, so the dedup table can remember every op a session
	// still waits for.
	PendingOpsMax = 64
	// RelaysMax bounds the forwarded writes a replica waits to answer.
	RelaysMax = 1024
	// ReadsMax bounds the linearizable reads a replica has in progress.
	ReadsMax = 1024
	// RetryBackoffMin and RetryBackoffMax bound the exponential backoff
	// between attempts of one op (jittered by RetryJitterFrac).
	RetryBackoffMin = 50 * time.Millisecond
	RetryBackoffMax = 400 * time.Millisecond
	RetryJitterFrac = 0.25
)

// pendingOp is a client op accepted by this node, waiting for an answer.
type pendingOp struct {
	seq      uint64
	req      env.RequestID
	op       op
	started  env.Time
	deadline env.Time
	nextTry  env.Time
	backoff  time.Duration
	target   int  // non-replica: the replica index of the next attempt
	sent     bool // proposed, read or forwarded at least once
	readCtx  uint64
	hasRead  bool
	// proposed: a write proposed or forwarded at least once, so its
	// outcome may be in the log; never checked by a read after that.
	proposed bool
	// checkTried: a conflict check (checkFirst) was started.
	checkTried bool
	// leaderless: last attempted on a replica that knew no leader (raft
	// dropped the proposal or read); retryOnLeader retries it whenever a
	// leader is learned.
	leaderless bool
}

// checking reports whether p's read is a Set's conflict check
// (attemptCheck): a Set reads only for that, a resolve for its answer.
func (p *pendingOp) checking() bool { return p.hasRead && p.op.kind == opSet }

// readWait is a linearizable read waiting for its read index and then for
// the applied index to reach it.
type readWait struct {
	from   origin
	name   string
	expiry env.Time
	index  uint64
	have   bool
}

func (r *Registry) onRequest(req env.Request) {
	o, c, reason := checkRequestSig(req.Body, r.cfg.Signatures, !(r.bug.TrustForwarded && r.replica < 0))
	if c == codeOK && o.kind == opRevoke {
		c, reason = checkRevoke(r.admins, &o)
	}
	if c == codeOK && o.kind == opDescribe && r.replica < 0 && o.desc.node != r.self {
		c, reason = codeNotOwner, reasonDescribeNotSelf // the replica would refuse it (onForward)
	}
	label := "unknown"
	if o.kind > 0 && o.kind < opKindEnd {
		label = o.kind.String()
	}
	r.env.Metrics().Add(MetricOps, label, 1)
	switch {
	case c != codeOK:
		r.env.Metrics().Add(MetricRejects, reason, 1)
		r.env.Reply(req.ID, Result{Err: ingressErr(&o, c, reason)})
		return
	case r.replica >= 0 && r.phase == phaseFailed:
		r.env.Reply(req.ID, Result{Err: ErrFailed})
		return
	case len(r.pending) >= PendingOpsMax:
		r.env.Metrics().Add(MetricRejects, reasonOverload, 1)
		r.env.Reply(req.ID, Result{Err: ErrUnavailable})
		return
	}
	now := r.env.Now()
	p := &pendingOp{seq: r.nextSeq, req: req.ID, op: o, started: now, deadline: now.Add(r.cfg.OpTimeout),
		nextTry: now, backoff: RetryBackoffMin, target: r.leaderHint}
	r.nextSeq++
	r.pending = append(r.pending, p)
	r.attempt(p)
}

// floor is the lowest op number this session still waits for.
func (r *Registry) floor() uint64 {
	if len(r.pending) > 0 {
		return r.pending[0].seq
	}
	return r.nextSeq
}

func (r *Registry) findPending(seq uint64) *pendingOp {
	i, ok := slices.BinarySearchFunc(r.pending, seq, func(p *pendingOp, s uint64) int { return cmpUint64(p.seq, s) })
	if !ok {
		return nil
	}
	return r.pending[i]
}

// complete answers p's client with the registry's answer and forgets p.
func (r *Registry) complete(p *pendingOp, c code, rec Record) {
	if c == codeRetry {
		c = codeUnknownOutcome
	}
	if !r.forget(p) {
		return
	}
	elapsed := r.env.Now().Sub(p.started).Seconds()
	switch {
	case p.op.kind == opResolve && c == codeOK:
		r.env.Metrics().Observe(MetricResolveLatency, "", elapsed)
	case p.op.kind.isWrite() && c != codeUnknownOutcome:
		r.env.Metrics().Observe(MetricCommitLatency, "", elapsed)
	}
	r.env.Reply(p.req, Result{Err: resultErr(&p.op, c, rec), Record: rec})
}

// expire ends p at its deadline: ErrUnknownOutcome if it was sent,
// ErrUnavailable if it never was. Its time is OpTimeout by construction,
// so it is counted (registry_timeouts_total), not observed as a latency:
// under a partition the ops accepted on the cut-off side all end so, and
// in registry_commit_latency_seconds they made its p99 the share of ops
// that hit the deadline rather than how fast the registry commits
// (scenarios/partition.yaml's commit_p99 read 2.01s, OpTimeout plus a
// tick, whenever more than 1% of its writes ended unavailable).
func (r *Registry) expire(p *pendingOp) {
	c, label := codeUnavailable, timeoutUnavailable
	if p.sent {
		c, label = codeUnknownOutcome, timeoutUnknown
	}
	if !r.forget(p) {
		return
	}
	r.env.Metrics().Add(MetricTimeouts, label, 1)
	r.env.Reply(p.req, Result{Err: resultErr(&p.op, c, Record{})})
}

// forget removes p from the pending ops (and its read), reporting
// whether it was there.
func (r *Registry) forget(p *pendingOp) bool {
	i := slices.Index(r.pending, p)
	if i < 0 {
		return false
	}
	r.pending = slices.Delete(r.pending, i, i+1)
	if p.hasRead {
		delete(r.reads, p.readCtx)
	}
	return true
}

// retryPending ends ops past their deadline and re-attempts those due.
func (r *Registry) retryPending(now env.Time) {
	for _, p := range slices.Clone(r.pending) {
		switch {
		case now >= p.deadline:
			r.expire(p)
		case now >= p.nextTry:
			r.attempt(p)
		}
	}
}

// attempt tries p once more: on a replica by proposing or reading through
// raft, elsewhere by forwarding to the next replica.
func (r *Registry) attempt(p *pendingOp) {
	now := r.env.Now()
	p.nextTry = now.Add(r.env.Rand().Jitter(p.backoff, RetryJitterFrac))
	p.backoff = min(2*p.backoff, RetryBackoffMax)
	from := origin{node: r.self, session: r.session, seq: p.seq}
	p.leaderless = r.replica >= 0 && r.lead == raft.None
	if r.replica < 0 {
		target := p.target % len(r.cfg.Replicas)
		p.target = target + 1
		f := forward{from: from, floor: r.floor(), op: p.op}
		frame := oap.MustEncode(&oap.Frame{Header: oap.Header{Flags: oap.FlagREQ, AppProto: oap.ProtoRegistry, CorrID: p.seq},
			Payload: encodeForward(&f, r.clusterSeen)})
		r.env.Send(r.cfg.Replicas[target], frame)
		p.sent = true
		return
	}
	switch {
	case r.phase == phaseFailed && !p.sent:
		r.complete(p, codeFailed, Record{})
	case r.phase != phaseRunning:
	case p.op.kind == opStaleResolve:
		rec := r.m.lookup(p.op.name)
		rec.Stale = true
		r.complete(p, codeOK, rec)
	case p.op.kind == opResolve:
		r.attemptRead(p, from)
	case r.descriptorsFull(&p.op):
		r.env.Metrics().Add(MetricRejects, reasonDescriptorsFull, 1)
		r.complete(p, codeTooLarge, Record{})
	case r.checkFirst(p):
		r.attemptCheck(p, from)
	default:
		if p.checking() { // a check not answered by the retry: propose
			delete(r.reads, p.readCtx)
			p.hasRead = false
		}
		r.proposeWrite(p, from)
	}
}

// proposeWrite forwards p's write to the leader or proposes it.
func (r *Registry) proposeWrite(p *pendingOp, from origin) {
	if r.forwardWrite(p, from) || r.serveWrite(from, r.floor(), &p.op) {
		p.sent, p.proposed = true, true
		if r.bug.AckBeforeCommit && p.op.kind == opSet {
			r.complete(p, codeOK, writeRecord(&p.op, codeOK, p.op.seq))
		}
	}
}

// checkFirst reports whether p is a Set that this replica's applied state
// already shows as refused: a seq at or below the name's, or another
// owner. Both are final (a name's seq only grows and its owner never
// changes, machine.exec), so proposing it would only carry a refusal
// through the log, with every replica's write and fsync, to apply
// (a compare-and-set's conflict, the common case under contention).
// Such a Set is answered by a linearizable read instead (attemptCheck),
// as a resolve is, and judged by setOutcome on the state at the read
// index, so its 409 carries the name's state at a point inside the op's
// window, as a refusal at apply does. A Set that was proposed once is
// never checked: its outcome may be in the log. A check gets one try: a
// retry (the read lost, no leader, a partition) proposes the Set as
// before, so faults end it as they end any write.
func (r *Registry) checkFirst(p *pendingOp) bool {
	if p.op.kind != opSet || p.proposed || p.checkTried || r.bug.AckBeforeCommit {
		return false
	}
	rec := r.m.names[p.op.name]
	return rec != nil && (rec.owner != p.op.owner || p.op.seq <= rec.seq)
}

// descriptorsFull reports whether o is a Describe that apply is sure to
// refuse too_large: the applied state holds DescriptorsMax descriptors,
// none of them o's node. That verdict is final (machine.describe: no
// entry removes a descriptor, and a new node is added only below
// DescriptorsMax), so at every later index, where o's entry would apply,
// the table is still full without o's node; and an earlier entry that
// added the node would show in this state. Refusing it here, on a
// replica's own request or a forward, keeps a flood of such Describes
// out of the log (each one a write and an fsync on every replica; the
// red team's 30,000 grew each replica's log by 5 MB). Apply still
// checks: a replica whose applied state lags proposes, and apply
// refuses.
func (r *Registry) descriptorsFull(o *op) bool {
	return o.kind == opDescribe && len(r.m.descs) >= DescriptorsMax && r.m.descs[o.desc.node] == nil
}

// attemptCheck starts (or restarts) p's conflict check: a ReadIndex, then
// answerReads judges p on the state at that index.
func (r *Registry) attemptCheck(p *pendingOp, from origin) {
	if p.hasRead {
		delete(r.reads, p.readCtx)
		p.hasRead = false
	}
	p.checkTried = true
	if ctr, ok := r.serveRead(from, p.op.name); ok {
		p.readCtx, p.hasRead = ctr, true
	}
}

// checked ends p's conflict check on the applied state at its read index:
// a refusal is answered as applyEntry answers one, anything else is
// proposed (and judged again at apply).
func (r *Registry) checked(p *pendingOp, from origin) {
	p.hasRead = false
	c, nameSeq := setOutcome(r.m.names[p.op.name], &p.op)
	if c == codeOK {
		r.proposeWrite(p, from)
		return
	}
	r.complete(p, c, r.replyRecord(&p.op, c, nameSeq))
}

// forwardWrite sends a write that a follower accepted straight to the
// leader it knows of, as a non-replica does (onForward), and reports
// whether it did. Proposing it here instead puts raft's MsgProp in the
// next Ready, which waits while the follower's current Ready is on disk
// (an fsync), and the answer then waits for this follower to learn the
// commit and take a Ready to apply it (often behind another fsync); the
// leader answers a forward when it applies the entry, when it takes the
// Ready that commits it (applyDurable). The entry is the same either way
// (origin, floor and op), so de-duplication, retries and the answer do
// not change: the op completes on the leader's reply or on this
// replica's own apply, whichever comes first, both the committed
// outcome. Without a known leader (or as the leader) it proposes.
func (r *Registry) forwardWrite(p *pendingOp, from origin) bool {
	if r.leading || r.lead == raft.None || r.lead > uint64(len(r.cfg.Replicas)) || int(r.lead-1) == r.replica {
		return false
	}
	f := forward{from: from, floor: r.floor(), op: p.op}
	frame := oap.MustEncode(&oap.Frame{Header: oap.Header{Flags: oap.FlagREQ, AppProto: oap.ProtoRegistry, CorrID: p.seq},
		Payload: encodeForward(&f, r.m.clusterVersion)})
	r.env.Send(r.cfg.Replicas[r.lead-1], frame)
	return true
}

// isReplica reports whether id is one of the replicas.
func (r *Registry) isReplica(id proto.NodeID) bool {
	_, ok := slices.BinarySearchFunc(r.cfg.Replicas, id, proto.NodeID.Compare)
	return ok
}

func (r *Registry) attemptRead(p *pendingOp, from origin) {
	if r.bug.LocalResolve {
		r.complete(p, codeOK, r.m.lookup(p.op.name))
		return
	}
	if p.hasRead {
		delete(r.reads, p.readCtx)
		p.hasRead = false
	}
	if ctr, ok := r.serveRead(from, p.op.name); ok {
		p.readCtx, p.hasRead, p.sent = ctr, true, true
	}
}

// serveWrite proposes a write. For a remote origin it remembers to answer
// when the entry applies. It reports whether raft accepted the proposal
// (a follower forwards it to the leader; without a leader it is dropped).
func (r *Registry) serveWrite(from origin, floor uint64, o *op) bool {
	remote := from.node != r.self
	if remote {
		if _, ok := r.relays[from]; !ok && len(r.relays) >= RelaysMax {
			r.env.Metrics().Add(MetricRejects, reasonOverload, 1)
			r.sendReply(from, codeRetry, Record{})
			return false
		}
		r.relays[from] = r.env.Now().Add(r.cfg.OpTimeout)
	}
	stamped := *o
	if o.kind == opRevoke {
		stamped.stamp = r.env.Now() // the "now" the apply prunes with: a replica's clock
	}
	data := encodeEntry(&entry{version: r.m.clusterVersion, from: from, floor: floor, op: stamped})
	if err := r.rn.Propose(data); err != nil {
		if remote {
			r.sendReply(from, codeRetry, Record{})
		}
		return false
	}
	return true
}

// serveRead starts a ReadIndex for name on behalf of from.
func (r *Registry) serveRead(from origin, name string) (uint64, bool) {
	if len(r.reads) >= ReadsMax {
		r.env.Metrics().Add(MetricRejects, reasonOverload, 1)
		if from.node != r.self {
			r.sendReply(from, codeRetry, Record{})
		}
		return 0, false
	}
	ctr := r.readNext
	r.readNext++
	r.reads[ctr] = &readWait{from: from, name: name, expiry: r.env.Now().Add(r.cfg.OpTimeout)}
	r.rn.ReadIndex(readNonceCtx(r.readNonce, ctr))
	return ctr, true
}

func (r *Registry) onReadStates(states []raft.ReadState) {
	for _, rs := range states {
		ctx := rs.RequestCtx
		if len(ctx) != 16 || beUint64(ctx[:8]) != r.readNonce {
			continue
		}
		if w := r.reads[beUint64(ctx[8:])]; w != nil {
			w.index, w.have = rs.Index, true
		}
	}
}

func beUint64(b []byte) uint64 {
	var v uint64
	for _, c := range b[:8] {
		v = v<<8 | uint64(c)
	}
	return v
}

// answerReads answers, in request order, every read whose read index the
// applied state has reached.
func (r *Registry) answerReads() {
	for _, ctr := range env.SortedKeys(r.reads) {
		w := r.reads[ctr]
		if !w.have || w.index > r.m.applied {
			continue
		}
		delete(r.reads, ctr)
		if w.from.node == r.self && w.from.session == r.session {
			if p := r.findPending(w.from.seq); p != nil && p.checking() && p.readCtx == ctr {
				r.checked(p, w.from)
				continue
			}
		}
		r.deliver(w.from, codeOK, r.m.lookup(w.name))
	}
}

// deliver hands a result to its origin: a local pending op or a reply frame.
func (r *Registry) deliver(from origin, c code, rec Record) {
	if from.node == r.self {
		if p := r.findPending(from.seq); p != nil && from.session == r.session {
			r.complete(p, c, rec)
		}
		return
	}
	r.sendReply(from, c, rec)
}

func (r *Registry) sendReply(to origin, c code, rec Record) {
	p := reply{session: to.session, seq: to.seq, code: c, rec: rec, leader: r.lead}
	frame := oap.MustEncode(&oap.Frame{Header: oap.Header{Flags: oap.FlagRESP, AppProto: oap.ProtoRegistry, CorrID: to.seq},
		Payload: encodeReply(&p)})
	r.env.Send(to.node, frame)
}

// onForward serves an op forwarded by a non-replica.
func (r *Registry) onForward(f forward, _ uint64) {
	if r.replica < 0 {
		r.env.Metrics().Add(MetricRejects, reasonMalformed, 1)
		return
	}
	if r.phase != phaseRunning {
		r.sendReply(f.from, codeRetry, Record{})
		return
	}
	c, reason := validateOp(&f.op)
	// A non-replica's Claim, Set or Describe is checked here as at
	// ingress (checkRequest): its owner or node key must not be weak.
	// During a rolling upgrade a retry of such an op that an older leader
	// already committed is answered bad_key here: the caller hears a
	// refusal for a committed entry. Only a weak key (no honest owner or
	// node holds one) meets this, and the replicas' state is unaffected.
	if c == codeOK && !r.isReplica(f.from.node) && !ingressKeyOK(&f.op) {
		c, reason = codeBadSignature, reasonBadKey
	}
	// A replica's forward carries a Set it verified at ingress (its own
	// client's, forwardWrite): it is trusted as its raft proposals are
	// (doc.go, "Signatures"). A non-replica's is verified here.
	if c == codeOK && f.op.kind == opSet && !r.bug.TrustForwarded && !r.isReplica(f.from.node) && !r.cfg.Signatures.setOK(&f.op) {
		c, reason = codeBadSignature, reasonBadSignature
	}
	if c == codeOK && f.op.kind == opRevoke {
		c, reason = checkRevoke(r.admins, &f.op)
	}
	// A non-replica describes only itself: the descriptor's node id must
	// be the forwarder's, which the overlay authenticated (msg.From). Else
	// one member could fill the descriptor table (DescriptorsMax, never
	// emptied) with descriptors of keys it makes up, and every node
	// described after would be refused too_large for good (doc.go, "Trust
	// boundary"). A replica's forward is trusted, as its proposals are.
	if c == codeOK && f.op.kind == opDescribe && !r.isReplica(f.from.node) && f.op.desc.node != f.from.node {
		c, reason = codeNotOwner, reasonDescribeNotSelf
	}
	if c == codeOK && r.descriptorsFull(&f.op) {
		c, reason = codeTooLarge, reasonDescriptorsFull
	}
	if c != codeOK {
		r.env.Metrics().Add(MetricRejects, reason, 1)
		r.sendReply(f.from, c, Record{})
		return
	}
	switch f.op.kind {
	case opStaleResolve:
		rec := r.m.lookup(f.op.name)
		rec.Stale = true
		r.sendReply(f.from, codeOK, rec)
	case opResolve:
		if r.bug.LocalResolve {
			r.sendReply(f.from, codeOK, r.m.lookup(f.op.name))
			return
		}
		if r.lead == raft.None {
			// raft drops a ReadIndex with no leader known, silently: say
			// so now (leader 0), so the non-replica tries another replica
			// at once and learns this one knows no leader (NoLeader).
			r.sendReply(f.from, codeRetry, Record{})
			return
		}
		r.serveRead(f.from, f.op.name)
	default:
		r.serveWrite(f.from, f.floor, &f.op)
	}
}

// onReply completes a forwarded op, or re-aims it on codeRetry (a
// replica's next attempt forwards to the leader it then knows, or
// proposes).
func (r *Registry) onReply(from proto.NodeID, p reply) {
	if p.session != r.session {
		return
	}
	if r.replica < 0 && p.leader > 0 && p.leader <= uint64(len(r.cfg.Replicas)) {
		r.leaderHint, r.leaderKnown = int(p.leader-1), true
	}
	if r.replica < 0 && r.isReplica(from) {
		r.replicaHeard = r.env.Now()
		r.heardLeader(p.leader)
	}
	op := r.findPending(p.seq)
	if op == nil {
		return
	}
	if p.code == codeRetry {
		if p.leader > 0 && r.cfg.Replicas[r.leaderHint] != from {
			op.target = r.leaderHint
		}
		op.nextTry = min(op.nextTry, r.env.Now().Add(r.cfg.TickInterval))
		return
	}
	r.complete(op, p.code, p.rec)
}

// expireServerState forgets relays and reads whose origin stopped waiting.
func (r *Registry) expireServerState(now env.Time) {
	// map order ok: deleting expired entries is order-independent.
	for k, expiry := range r.relays {
		if now >= expiry {
			delete(r.relays, k)
		}
	}
	// map order ok: deleting expired entries is order-independent.
	for k, w := range r.reads {
		if now >= w.expiry {
			delete(r.reads, k)
		}
	}
}

// AppliedIndex is the index of the last applied log entry (0 on a
// non-replica).
func (r *Registry) AppliedIndex() uint64 {
	if r.m == nil {
		return 0
	}
	return r.m.applied
}

// StateHash is the BLAKE3 of the canonical encoding of the replicated
// content (names, descriptors, dedup table); replicas at the same applied
// index agree on it.
func (r *Registry) StateHash() [32]byte {
	if r.m == nil {
		return newMachine().stateHash()
	}
	return r.m.stateHash()
}

// ChainHash is the hash chain over every applied entry.
func (r *Registry) ChainHash() [32]byte {
	if r.m == nil {
		return [32]byte{}
	}
	return r.m.chain
}

// IsLeader reports whether this replica is the raft leader.
func (r *Registry) IsLeader() bool {
	return r.phase == phaseRunning && r.rn.BasicStatus().RaftState == raft.StateLeader
}

// Leader returns the leader as this node knows it: raft's view on a
// replica, the latest hint from a reply on a non-replica.
func (r *Registry) Leader() (proto.NodeID, bool) {
	if r.replica < 0 {
		if !r.leaderKnown || len(r.cfg.Replicas) == 0 {
			return proto.NodeID{}, false
		}
		return r.cfg.Replicas[r.leaderHint%len(r.cfg.Replicas)], true
	}
	if r.phase != phaseRunning {
		return proto.NodeID{}, false
	}
	lead := r.rn.BasicStatus().Lead
	if lead == raft.None || lead > uint64(len(r.cfg.Replicas)) {
		return proto.NodeID{}, false
	}
	return r.cfg.Replicas[lead-1], true
}

// Failed reports whether the replica stopped after a disk error or
// corruption.
func (r *Registry) Failed() bool { return r.phase == phaseFailed }

// Recovering reports whether the replica is still reading its disk (it
// just started): until then Unconfirmed cannot tell yet.
func (r *Registry) Recovering() bool { return r.phase == phaseRecovering }

// Descriptors returns the node descriptors in the local applied state,
// sorted by node id (nil on a non-replica).
func (r *Registry) Descriptors() []NodeDescriptor {
	if r.m == nil {
		return nil
	}
	return r.m.descriptors()
}

// CheckInvariants panics if a bound or an ordering invariant is broken.
func (r *Registry) CheckInvariants() {
	if len(r.pending) > PendingOpsMax || len(r.relays) > RelaysMax || len(r.reads) > ReadsMax {
		panic(fmt.Sprintf("registry: over limits: %d pending, %d relays, %d reads", len(r.pending), len(r.relays), len(r.reads)))
	}
	for i := 1; i < len(r.pending); i++ {
		if r.pending[i-1].seq >= r.pending[i].seq {
			panic("registry: pending ops out of order")
		}
	}
	if r.m != nil {
		r.m.checkInvariants()
	}
	if r.phase != phaseRunning {
		return
	}
	last, _ := r.storage.LastIndex()
	// A leader applies past its log copy only the committed entries of
	// its in-flight Ready (applyCommittedAhead), never past raft's commit
	// index; it may have stepped down since, so this does not ask r.leading.
	applyLast := last
	if r.inflight != nil && len(r.inflight.Entries) > 0 {
		applyLast = max(applyLast, r.inflight.Entries[len(r.inflight.Entries)-1].GetIndex())
	}
	if r.m.applied > applyLast || r.snapIndex > r.m.applied {
		panic(fmt.Sprintf("registry: applied %d, snapshot %d, log last %d (may apply to %d)", r.m.applied, r.snapIndex, last, applyLast))
	}
	if r.m.applied > last {
		if commit := r.rn.BasicStatus().GetCommit(); r.m.applied > commit {
			panic(fmt.Sprintf("registry: applied %d ahead of the log copy (%d) and past the commit index %d", r.m.applied, last, commit))
		}
	}
	if r.inflight == nil && r.disk.last != last {
		panic(fmt.Sprintf("registry: disk log ends at %d, mirror at %d", r.disk.last, last))
	}
}

var _ interface {
	Name() string
	CheckInvariants()
} = (*Registry)(nil)
