package registry

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/internal/refusedlog"
	"github.com/ron-network/ron/core/membership"
	"github.com/ron-network/ron/core/node"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// ServiceName is the registry's service name (env.Request.Service).
const ServiceName = "registry"

// Raft sizing.
const (
	// RaftMsgBytesMax bounds the entries of one append message.
	RaftMsgBytesMax = 64 << 10
	// RaftUncommittedBytesMax bounds a leader's uncommitted tail; beyond it
	// proposals are dropped (and retried by their origin).
	RaftUncommittedBytesMax = 1 << 20
	// RaftInflightMsgsMax bounds unacknowledged appends per follower.
	RaftInflightMsgsMax = 64
)

// Timer tags and disk tags (below node.TagMax), all declared here. Timers
// and disk ops complete through different inputs, so the two sets may
// share numbers; within a set each is distinct.
const (
	// Timer tags.
	tagTick    = 1 // raft's tick (Config.TickInterval)
	tagRevPull = 2 // a non-replica's revocation pull (revoke.go)

	// Disk tags.
	tagScan     = 1 // recovery's scan of the replica's keys
	tagPersist  = 2 // a Ready's writes and sync
	tagSnapshot = 3 // a snapshot's writes
	tagMarker   = 4 // keyUnconfirmed's and keyConfirmed's writes (amnesia.go)
)

// phase is the replica's life cycle: recovering (reading the disk),
// running, or failed (a disk error or corruption: it stops participating
// until restarted from durable state).
type phase uint8

const (
	phaseRecovering phase = iota + 1
	phaseRunning
	phaseFailed
)

// Registry is the registry service of one node. See doc.go.
type Registry struct {
	cfg     Config
	bug     Bug // effective canary bugs (zero unless canaryBugs)
	env     env.Env
	self    proto.NodeID
	replica int                           // index in cfg.Replicas, or -1
	admins  [][ed25519.PublicKeySize]byte // cfg.AdminKeys
	// members is cfg.Members as a set; open when it is empty.
	members membership.Set
	// refused paces the log line naming a refused non-member
	// (core/internal/refusedlog).
	refused refusedlog.Log

	// Replica state.
	phase       phase
	rn          *raft.RawNode
	storage     *raft.MemoryStorage
	m           *machine
	rec         *recovery
	disk        diskLog
	inflight    *raft.Ready // nil, or &ready while its writes are on disk
	ready       raft.Ready  // the inflight Ready's storage: taking one allocates nothing
	pendingSnap *machine    // state of an inflight received snapshot
	inflightOps int         // disk ops of the inflight Ready still outstanding
	lead        uint64
	// lastLead is the last leader this replica knew (None before the
	// first): a leader learned again after a spell without one (a
	// pre-candidate hearing from the same leader) is no leader change
	// for retryOnLeader.
	lastLead uint64
	// leaderlessSince is when lead last became None (the replica's start
	// included): NoLeader measures from it.
	leaderlessSince env.Time
	// leading: raft's last SoftState said this replica leads.
	leading bool
	// sentEarly: the inflight Ready's messages that promise no durable
	// state went out when it was taken (sendEarly); finishReady sends
	// the others.
	sentEarly bool
	// hsTerm, hsVote: of the hard state last written (see needsSync;
	// a write that changes either is synced).
	hsTerm, hsVote uint64
	snapIndex      uint64
	snapFresh      env.Time // when the snapshot last covered all applied state

	// Server side: forwarded ops and linearizable reads in progress.
	relays    map[origin]env.Time // write forwards awaiting apply -> expiry
	reads     map[uint64]*readWait
	readNonce uint64
	readNext  uint64

	// Client side: ops accepted here.
	session     uint64
	nextSeq     uint64
	pending     []*pendingOp // ascending seq
	leaderHint  int          // replica index of the last known leader
	leaderKnown bool         // a reply has named a leader
	// replicaHeard is when a non-replica last heard a replica answer (a
	// reply or a revocation pull's list), or started pulling:
	// ReplicasSilent measures from it.
	replicaHeard env.Time
	// unled: since the last replica reply that named a leader, a
	// non-replica has had replies from replicas that knew none, the first
	// at unledFirst and the latest at unledLast (NoLeader).
	unled                 bool
	unledFirst, unledLast env.Time

	tickArmed bool
	// scratch is reused to build each raft message's payload (oap.Encode
	// copies it into the frame).
	scratch []byte
	// arena holds the messages readRaftMessage decodes next.
	arena messageArena

	// failErr is why the replica failed (phaseFailed).
	failErr error

	// Cluster version (clusterversion.go): the highest version this
	// replica reads, ticks counted since Start, and the latest
	// advertisement from each replica (by replica index).
	versionMax uint64
	ticks      uint64
	adverts    []advert
	// clusterSeen (a non-replica) is the highest cluster version a
	// replica told it of, reset at Start; it carries a Claim's tenant
	// from VersionQuota on (encodeForward).
	clusterSeen uint64
	// amn is non-nil while the replica is unconfirmed: it started with no
	// raft state and may not vote yet (amnesia.go).
	amn *amnesia
	// queried[i] is the tick (plus one) of replica i's latest state query:
	// a replica that asks is unconfirmed and cannot take leadership over
	// (resetStaleMatch).
	queried []uint64
	// queryMarks[i] is the longest log and highest commit index replica
	// i's current incarnation (its query nonce) reported in a state
	// query: a late or duplicated query is judged by them (resetStaleMatch).
	queryMarks []queryMark
	// confirmed: keyConfirmed is on disk (or its write submitted): this
	// replica was confirmed once, so it reports state even with an empty
	// log (amnesia.go).
	confirmed bool
	// termFloor is the highest raft term the other replicas reported when
	// this replica confirmed (kept in keyConfirmed): a lower-term message
	// is dropped while its own term is below it (termFloorDrops).
	termFloor uint64

	// Non-replica revocation view (revoke.go): pulled entries and the
	// log index they are complete through.
	revView  *auth.MemRevocations
	revSince uint64
	// revAwaiting: a pull went out and, under Bug.PullRearmOnAnswer, only
	// its answer arms the next one.
	revAwaiting bool

	// xfer is the TransferLeader in progress (leader.go), nil if none.
	xfer *transfer
}

// New returns a registry service. cfg.Replicas must be sorted and unique;
// a violation is a programmer error.
func New(cfg Config) *Registry {
	cfg = cfg.withDefaults()
	if !slices.IsSortedFunc(cfg.Replicas, proto.NodeID.Compare) || len(slices.CompactFunc(slices.Clone(cfg.Replicas),
		func(a, b proto.NodeID) bool { return a == b })) != len(cfg.Replicas) {
		panic("registry: Config.Replicas must be sorted and unique")
	}
	if len(cfg.Key) != ed25519.PrivateKeySize {
		panic("registry: Config.Key must be an ed25519 private key")
	}
	if cfg.VersionMax > versionLast {
		panic(fmt.Sprintf("registry: Config.VersionMax %d: this build knows versions up to %d", cfg.VersionMax, versionLast))
	}
	r := &Registry{cfg: cfg, replica: -1, admins: adminsOf(cfg.AdminKeys), versionMax: cfg.versionMax()}
	r.setMembers(cfg.Members)
	return r
}

// isMember reports whether id may use the registry protocol here: always
// when Config.Members is empty, else when id is this node or listed.
func (r *Registry) isMember(id proto.NodeID) bool {
	return id == r.self || r.members.Admits(id)
}

func (r *Registry) Name() string        { return ServiceName }
func (r *Registry) Protocols() []uint16 { return []uint16{oap.ProtoRegistry} }

// Init records the env and works out this node's role.
func (r *Registry) Init(e env.Env) {
	r.env = e
	r.self = e.Self()
	r.replica = slices.IndexFunc(r.cfg.Replicas, func(id proto.NodeID) bool { return id == r.self })
	if r.replica >= 0 && proto.NodeIDFromPublicKey(r.cfg.Key.Public().(ed25519.PublicKey)) != r.self {
		panic("registry: Config.Key does not belong to this node")
	}
	if r.cfg.Bug.any() {
		if canaryBugs {
			r.bug = r.cfg.Bug
		} else {
			e.Log().Warn("registry: Config.Bug ignored outside canary builds")
			e.Metrics().Add(MetricRejects, reasonCanaryIgnored, 1)
		}
	}
}

// Handle runs one input to completion.
func (r *Registry) Handle(in env.Input) {
	switch in := in.(type) {
	case env.Start:
		r.start()
	case env.Message:
		r.onMessage(in)
	case env.TimerFired:
		switch in.Tag {
		case tagTick:
			r.onTick()
		case tagRevPull:
			r.onRevPull()
		}
	case env.DiskDone:
		r.onDisk(in)
	case env.Request:
		if m, ok := in.Body.(SetMembers); ok {
			r.setMembers(m.Members)
			r.env.Reply(in.ID, m)
			break
		}
		if t, ok := in.Body.(TransferLeader); ok {
			r.onTransferLeader(in.ID, t)
			break
		}
		if _, ok := in.Body.(StatusQuery); ok {
			r.env.Reply(in.ID, r.View())
			break
		}
		r.onRequest(in)
	case env.BusEvent:
		r.onBusEvent(in)
	}
	r.pump()
	r.pollTransfer()
	r.armTick()
}

// start resets volatile state (a restart is a fresh Start) and, on a
// replica, begins recovery from disk.
func (r *Registry) start() {
	rand := r.env.Rand()
	r.session, r.readNonce = rand.Uint64(), rand.Uint64()
	r.nextSeq, r.pending, r.leaderHint = 1, nil, 0
	r.unled = false
	r.relays, r.reads = map[origin]env.Time{}, map[uint64]*readWait{}
	r.tickArmed = false
	if r.xfer != nil {
		r.endTransfer(TransferResult{Old: r.xfer.old, OldNode: r.nodeOf(r.xfer.old),
			Err: fmt.Errorf("%w: the replica restarted during the transfer; check which replica leads", ErrTransferUnknown)})
	}
	if r.replica < 0 {
		r.clusterSeen = VersionBase
		r.startPulls()
		return
	}
	r.phase, r.rec, r.rn, r.inflight, r.m = phaseRecovering, &recovery{}, nil, nil, newMachine()
	r.lead, r.leading, r.sentEarly = raft.None, false, false
	r.setLead(raft.None)
	r.leaderlessSince = r.env.Now()
	r.ticks, r.adverts = 0, make([]advert, len(r.cfg.Replicas))
	r.amn, r.queried, r.queryMarks = nil, make([]uint64, len(r.cfg.Replicas)), make([]queryMark, len(r.cfg.Replicas))
	r.setIsLeader(false)
	r.m.admins = r.admins
	r.env.Submit(env.DiskOp{Kind: env.DiskScan, Tag: tagScan, Prefix: []byte(keyPrefix), Limit: RecoveryScanLimit})
}

func (r *Registry) armTick() {
	if r.tickArmed || (r.replica < 0 && len(r.pending) == 0) || r.env == nil {
		return
	}
	r.env.SetTimer(r.cfg.TickInterval, tagTick)
	r.tickArmed = true
}

func (r *Registry) onTick() {
	r.tickArmed = false
	now := r.env.Now()
	if r.phase == phaseRunning {
		if r.amn == nil {
			r.rn.Tick()
		}
		r.onVersionTick()
		if r.amn != nil {
			r.onUnconfirmedTick()
		}
		r.expireServerState(now)
		if r.inflight == nil {
			r.maybeSnapshot()
		}
		if r.m.applied == r.snapIndex {
			r.snapFresh = now
		}
		r.env.Metrics().Set(MetricSnapshotAge, "", now.Sub(r.snapFresh).Seconds())
		r.env.Metrics().Set(MetricNames, "", float64(len(r.m.names)))
		r.env.Metrics().Set(MetricClusterVersion, "", float64(r.m.clusterVersion))
	}
	r.retryPending(now)
}

// fail stops the replica: it no longer steps raft, votes or serves, and
// answers its clients with errors until restarted from durable state.
func (r *Registry) fail(err error, corruption bool) {
	if r.phase == phaseFailed {
		return
	}
	r.phase, r.failErr = phaseFailed, err
	r.inflight = nil
	r.setIsLeader(false)
	if corruption {
		r.env.Metrics().Add(MetricCorruption, "", 1)
	}
	r.env.Log().Error("registry: replica failed", "err", err)
	if r.cfg.Failed != nil {
		r.cfg.Failed(err, corruption)
	}
	for _, p := range slices.Clone(r.pending) {
		if !p.sent {
			r.complete(p, codeFailed, Record{})
		}
	}
}

func (r *Registry) onDisk(d env.DiskDone) {
	if r.replica < 0 || r.phase == phaseFailed {
		return
	}
	if err := d.Result.Err; err != nil {
		r.fail(fmt.Errorf("registry: disk %v: %w", d.Op.Kind, err), isCorruption(err))
		return
	}
	switch d.Op.Tag {
	case tagScan:
		r.onScan(d.Result)
	case tagPersist:
		r.inflightOps--
		if r.inflightOps == 0 && r.inflight != nil {
			r.finishReady()
		}
	case tagSnapshot, tagMarker:
	}
}

// isCorruption reports whether err is corruption anywhere in its tree
// (errors.Is follows multi-%w wraps, as io/pebbledisk's
// "pebbledisk: op: env: corruption: pebble: ..." errors are).
func isCorruption(err error) bool {
	return errors.Is(err, env.ErrCorruption) || errors.Is(err, errCorrupt)
}

func (r *Registry) onScan(res env.DiskResult) {
	if r.phase != phaseRecovering {
		return
	}
	for _, kv := range res.Pairs {
		if err := r.rec.add(kv); err != nil {
			r.fail(err, true)
			return
		}
	}
	if res.More && len(res.Pairs) > 0 {
		start := append(bytes.Clone(r.rec.lastKey), 0)
		r.env.Submit(env.DiskOp{Kind: env.DiskScan, Tag: tagScan, Prefix: []byte(keyPrefix), Start: start, Limit: RecoveryScanLimit})
		return
	}
	if err := r.recover(); err != nil {
		r.fail(err, !errors.Is(err, env.ErrNewerFormat))
	}
}

// recover rebuilds the MemoryStorage mirror and the applied state from what
// the scan read, then creates the RawNode.
func (r *Registry) recover() error {
	rc := r.rec
	r.rec = nil
	ms := raft.NewMemoryStorage()
	m := newMachine()
	snap := rc.snap
	if snap == nil || raft.IsEmptySnap(snap) {
		snap = &pb.Snapshot{Metadata: &pb.SnapshotMetadata{ConfState: r.confState()}}
	} else {
		var err error
		if m, err = openSnapshot(snap.GetData(), r.isReplicaKey, r.versionMax); err != nil {
			return err
		}
		if m.applied != snap.GetMetadata().GetIndex() {
			return fmt.Errorf("registry: snapshot state at %d, metadata %d: %w", m.applied, snap.GetMetadata().GetIndex(), errCorrupt)
		}
	}
	snapIndex := snap.GetMetadata().GetIndex()
	ents, hs, err := rc.build(snapIndex)
	if err != nil {
		return err
	}
	if err := ms.ApplySnapshot(snap); err != nil {
		return fmt.Errorf("registry: restoring snapshot: %w", err)
	}
	if err := ms.Append(ents); err != nil {
		return fmt.Errorf("registry: restoring log: %w", err)
	}
	if err := ms.SetHardState(hs); err != nil {
		return fmt.Errorf("registry: restoring hard state: %w", err)
	}
	m.admins = r.admins
	for _, e := range ents {
		if e.GetIndex() > hs.GetCommit() {
			break
		}
		if err := newerEntry(e, r.versionMax); err != nil {
			return err
		}
		m.apply(e.GetIndex(), e.GetTerm(), e.GetData())
	}
	r.storage, r.m, r.snapIndex, r.snapFresh = ms, m, snapIndex, r.env.Now()
	r.hsTerm, r.hsVote = hs.GetTerm(), hs.GetVote()
	r.disk = diskLog{first: snapIndex + 1, last: snapIndex + uint64(len(ents))}
	if len(rc.entries) > 0 && rc.entries[0].GetIndex() < r.disk.first {
		r.disk.first = rc.entries[0].GetIndex() // leftovers: delete at the next compaction
	}
	rn, err := raft.NewRawNode(r.raftConfig(hs.GetCommit()))
	if err != nil {
		return fmt.Errorf("registry: creating raft node: %w", err)
	}
	r.rn, r.phase = rn, phaseRunning
	r.leaderlessSince = r.env.Now() // the grace runs from here: recovery may take long
	r.confirmed = rc.confirmed && !rc.unconfirmed
	r.termFloor = 0
	if r.confirmed {
		r.termFloor = rc.termFloor
	}
	r.startUnconfirmed(snapIndex == 0 && len(ents) == 0 && raft.IsEmptyHardState(hs) && !rc.confirmed, rc.unconfirmed)
	return nil
}

func (r *Registry) confState() *pb.ConfState {
	cs := &pb.ConfState{}
	for i := range r.cfg.Replicas {
		cs.Voters = append(cs.Voters, uint64(i+1))
	}
	return pb.EnsureConfState(cs)
}

func (r *Registry) raftConfig(applied uint64) *raft.Config {
	return &raft.Config{
		ID:                        uint64(r.replica + 1),
		ElectionTick:              r.electionTicks(),
		HeartbeatTick:             HeartbeatTicks,
		Storage:                   r.storage,
		Applied:                   applied,
		MaxSizePerMsg:             RaftMsgBytesMax,
		MaxCommittedSizePerReady:  RaftMsgBytesMax,
		MaxUncommittedEntriesSize: RaftUncommittedBytesMax,
		MaxInflightMsgs:           RaftInflightMsgsMax,
		CheckQuorum:               true,
		PreVote:                   true,
		ReadOnlyOption:            raft.ReadOnlySafe,
		Logger:                    raftLogger{r.env.Log()},
	}
}

// electionTicks is ElectionTicks (ten times it under Bug.SlowElections).
func (r *Registry) electionTicks() int {
	if r.bug.SlowElections {
		return 10 * ElectionTicks
	}
	return ElectionTicks
}

func (r *Registry) isReplicaKey(pub ed25519.PublicKey) bool {
	_, ok := slices.BinarySearchFunc(r.cfg.Replicas, proto.NodeIDFromPublicKey(pub), proto.NodeID.Compare)
	return ok
}

// pump takes the next Ready when none is in flight: one Ready at a time,
// persisted and synced before anything in it takes effect.
func (r *Registry) pump() {
	if r.phase == phaseRunning && r.inflight != nil && !r.cfg.SyncBeforeSend {
		r.applyCommittedAhead()
	}
	if r.phase != phaseRunning || r.inflight != nil || !r.rn.HasReady() {
		return
	}
	r.ready = r.rn.Ready()
	rd := &r.ready
	r.inflight = rd
	r.observeSoftState(rd.SoftState)
	r.onReadStates(rd.ReadStates)
	if !raft.IsEmptySnap(rd.Snapshot) {
		m, err := openSnapshot(rd.Snapshot.GetData(), r.isReplicaKey, r.versionMax)
		if err == nil && m.applied != rd.Snapshot.GetMetadata().GetIndex() {
			err = fmt.Errorf("registry: received snapshot state at %d, metadata %d: %w", m.applied, rd.Snapshot.GetMetadata().GetIndex(), errCorrupt)
		}
		if err != nil {
			r.fail(err, !errors.Is(err, env.ErrNewerFormat))
			return
		}
		m.admins = r.admins
		r.pendingSnap = m
	}
	writes := r.disk.readyWrites(rd)
	if len(writes) == 0 {
		r.finishReady()
		r.pump()
		return
	}
	// Appends leave first: the followers' round trip and syncs are the
	// longer path to a commit than the leader's own sync.
	if !r.cfg.SyncBeforeSend {
		r.sendEarly(rd)
	}
	sync := r.needsSync(rd)
	r.inflightOps = r.submitBatches(writes, tagPersist)
	if sync && !r.bug.SkipSync {
		r.env.Submit(env.DiskOp{Kind: env.DiskSync, Tag: tagPersist})
		r.inflightOps++
	}
	if !r.cfg.SyncBeforeSend {
		r.applyDurable(rd)
	}
}

// sendEarly sends, when the Ready is taken, every message of rd that does
// not promise durable state, and leaves the others to finishReady. This
// is raft's own contract for asynchronous storage writes (raft.go, send):
// raft holds back in msgsAfterAppend exactly the messages that vote on an
// election or acknowledge an append (MsgVoteResp, MsgPreVoteResp,
// MsgAppResp, see mustWait), which the synchronous Ready appends to
// Messages; every other message may leave before the Ready's writes are
// durable. So a leader's appends go out while it syncs its own copy
// (raft thesis 10.2.1: followers write and sync while the leader does),
// and a follower's forwarded proposal or read index while the follower
// syncs, instead of one fsync later. Nothing that leaves early reveals a
// commit that is not durable on a quorum: raft counts the leader's own
// entries as matched only when Advance delivers its self-acknowledgement
// (after the writes), and followers acknowledge with MsgAppResp, which
// waits. A vote goes out only after the vote is durable, and a received
// snapshot's acknowledgement only after the snapshot is.
// Config.SyncBeforeSend holds every message until the writes are done.
func (r *Registry) sendEarly(rd *raft.Ready) {
	early := rd.Messages[:0:0]
	for _, m := range rd.Messages {
		if !mustWait(m) {
			early = append(early, m)
		}
	}
	r.sendRaft(early)
	r.sentEarly = true
}

// mustWait reports whether m may leave only once the Ready that carries
// it is durable: raft's msgsAfterAppend types (see sendEarly).
func mustWait(m *pb.Message) bool {
	switch m.GetType() {
	case pb.MsgAppResp, pb.MsgVoteResp, pb.MsgPreVoteResp:
		return true
	}
	return false
}

// applyDurable applies, when the Ready is taken, the committed entries
// that this replica already holds durably: those in the storage mirror
// (which finishReady extends only once a Ready's entries are synced) and
// before this Ready's first new entry (which may replace a conflicting
// tail). A client is then answered as soon as its entry commits, not one
// disk round trip later (a sync, when the Ready also carries new
// entries). Applying an entry needs only that it is committed, i.e.
// durable on a quorum: raft never changes a committed entry, and the
// applied state is rebuilt from the log at every Start, so a crash
// before this Ready's writes complete loses nothing an answer promised
// (etcd's server applies concurrently with its WAL write the same way).
// The hard state's commit index written by this Ready need not be
// durable first (needsSync). The rest of rd.CommittedEntries is applied
// by finishReady; a Ready with a received snapshot applies everything
// there, after the snapshot is installed.
func (r *Registry) applyDurable(rd *raft.Ready) {
	if len(rd.CommittedEntries) == 0 || !raft.IsEmptySnap(rd.Snapshot) {
		return
	}
	bound, _ := r.storage.LastIndex()
	if len(rd.Entries) > 0 {
		bound = min(bound, rd.Entries[0].GetIndex()-1)
	}
	applied := false
	for _, e := range rd.CommittedEntries {
		if e.GetIndex() > bound {
			break
		}
		if err := newerEntry(e, r.versionMax); err != nil {
			r.fail(err, false)
			return
		}
		r.applyEntry(e)
		applied = true
	}
	if applied {
		r.answerReads()
	}
}

// applyCommittedAhead applies, on a leader whose Ready is still on disk,
// the entries raft has committed since the Ready was taken: those the
// followers' acknowledgements alone made durable on a quorum (raft thesis
// 10.2.1: a leader may commit an entry once a majority of followers have
// written it, even if its own write has not completed). One Ready at a
// time otherwise kept the commit, and the client's answer, waiting for the
// leader's own sync whenever both followers acknowledged first (about
// half the sequential sets on a loaded machine, BENCHMARKS.md "The
// leader's own sync"). No sync is skipped: the Ready still completes only
// when its writes are durable, and raft counts the leader's own copy only
// then. It applies only while this replica leads in the term of the
// entries it applies: a leader never replaces its own entries, and an
// entry of its term at an index raft reports committed is the committed
// one (Log Matching). Entries apply in order from the next unapplied
// index: the inflight Ready's committed entries first (committed, so
// applying them needs nothing durable here, see applyDurable), then its
// new entries up to the commit index. Until finishReady appends them to
// the mirror, applied may exceed the mirror's last index (CheckInvariants
// allows it up to the inflight Ready's last entry; a snapshot waits for
// no Ready in flight, maybeSnapshot).
func (r *Registry) applyCommittedAhead() {
	rd := r.inflight
	if !r.leading || len(rd.Entries) == 0 || !raft.IsEmptySnap(rd.Snapshot) {
		return
	}
	st := r.rn.BasicStatus()
	if st.RaftState != raft.StateLeader || st.GetCommit() <= r.m.applied {
		return
	}
	commit, term := st.GetCommit(), st.GetTerm()
	applied := false
	apply := func(e *pb.Entry) bool {
		if e.GetIndex() <= r.m.applied {
			return true
		}
		if e.GetIndex() != r.m.applied+1 || e.GetIndex() > commit {
			return false
		}
		if err := newerEntry(e, r.versionMax); err != nil {
			r.fail(err, false)
			return false
		}
		r.applyEntry(e)
		applied = true
		return true
	}
	done := false
	for _, e := range rd.CommittedEntries {
		if !apply(e) {
			done = true
			break
		}
	}
	for _, e := range rd.Entries {
		if done || e.GetTerm() != term || !apply(e) {
			break
		}
	}
	if applied && r.phase == phaseRunning {
		r.answerReads()
	}
}

// needsSync reports whether rd's writes need a DiskSync before the Ready
// takes effect, and records its hard state as the last written. Only a
// Ready whose one change is a higher commit index goes without (raft's
// MustSync rule, as etcd's WAL applies it): its writes are completed
// before it takes effect, so the next DiskSync, of a later Ready or a
// snapshot, covers them (env.DiskSync makes every completed write
// durable), and losing them in a crash only restarts the replica at an
// older commit index, which raft learns again from the leader. Nothing
// such a Ready reveals depends on them: the entries it commits or acks
// were synced by the Readies that carried them (one Ready at a time: an
// entry not yet durable is in this Ready's Entries, and then it syncs),
// and a vote or a new term changes Term or Vote, which syncs. Without
// it, every write paid a second fsync on every replica, in series with
// the next append (issue 15).
func (r *Registry) needsSync(rd *raft.Ready) bool {
	if raft.IsEmptyHardState(rd.HardState) {
		return len(rd.Entries) > 0 || !raft.IsEmptySnap(rd.Snapshot)
	}
	hs := rd.HardState
	sync := len(rd.Entries) > 0 || !raft.IsEmptySnap(rd.Snapshot) || hs.GetTerm() != r.hsTerm || hs.GetVote() != r.hsVote
	r.hsTerm, r.hsVote = hs.GetTerm(), hs.GetVote()
	return sync
}

// submitBatches submits writes, in order, as DiskBatch ops of at most
// env.DiskBatchWritesMax writes each, and returns how many it submitted.
func (r *Registry) submitBatches(writes []env.DiskWrite, tag uint64) int {
	ops := 0
	for len(writes) > 0 {
		n := min(len(writes), env.DiskBatchWritesMax)
		r.env.Submit(env.DiskOp{Kind: env.DiskBatch, Tag: tag, Batch: writes[:n:n]})
		writes = writes[n:]
		ops++
	}
	return ops
}

func (r *Registry) observeSoftState(ss *raft.SoftState) {
	if ss == nil {
		return
	}
	r.leading = ss.RaftState == raft.StateLeader
	r.setIsLeader(r.leading)
	if ss.Lead == r.lead {
		return
	}
	r.setLead(ss.Lead)
	if ss.Lead != raft.None {
		r.leaderHint = int(ss.Lead - 1)
		r.env.Metrics().Add(MetricLeaderChanges, "", 1)
		r.retryOnLeader(ss.Lead != r.lastLead)
		r.lastLead = ss.Lead
	}
}

// retryOnLeader makes every pending op due at the next tick once this
// replica learns of a new leader, as etcd retries its reads on a leader
// change: an op accepted while there was no leader (raft dropped its
// proposal or read) or forwarded to a leader that is gone otherwise waits
// out its backoff, up to RetryBackoffMax plus jitter, after the leader is
// known, and one accepted shortly before a partition heals ended
// ErrUnavailable or ErrUnknownOutcome at OpTimeout although a leader was
// reachable. The retry happens on the tick, not here, so no proposal is
// made while a Ready is being taken. An op is retried at most once per
// leader change beyond its own backoff, and a retried write is
// de-duplicated by its origin as any retry is. When the leader is the
// one this replica knew before the spell without one (changed false: a
// pre-candidate that hears from it again, as after a stalled leader),
// only the ops last attempted without a leader are retried: those raft
// dropped. The others were forwarded to or proposed through that leader,
// which answers them if it got them; resending up to PendingOpsMax of
// them at once would mostly repeat work. They keep their backoff, so one
// whose forward a cut lost is retried within RetryBackoffMax (plus
// jitter) of the leader coming back, as before retryOnLeader.
func (r *Registry) retryOnLeader(changed bool) {
	now := r.env.Now()
	for _, p := range r.pending {
		if changed || p.leaderless {
			p.nextTry = min(p.nextTry, now)
		}
	}
}

// setLead records the leader raft reports (None: none known), the time
// it became None for NoLeader, and the registry_has_leader gauge.
func (r *Registry) setLead(lead uint64) {
	if lead == raft.None && r.lead != raft.None {
		r.leaderlessSince = r.env.Now()
	}
	r.lead = lead
	v := 0.0
	if lead != raft.None {
		v = 1
	}
	r.env.Metrics().Set(MetricHasLeader, "", v)
}

// NoLeaderGrace is how long a replica of a cluster of several may know
// no raft leader before NoLeader says so, in election timeouts (two: 1 s
// at the default 10 ms tick). It runs from the moment raft drops the
// leader, which on a follower is already one randomized election timeout
// (ElectionTicks to twice that) after the leader's last heartbeat. An
// ordinary election then takes about one more: a pre-candidate wins once
// the other followers' CheckQuorum lease (one timeout) has run out, and a
// split or refused pre-vote costs another randomized timeout. Past two,
// no leader is coming without a change in the network, and every name op
// there already fails at OpTimeout (2 s); a 3-node cluster started
// together elects in about one, so it is never called unready at start.
const NoLeaderGrace = 2

// NoLeaderReplyTTLOps is how long, in OpTimeouts, a non-replica trusts
// the replies that told it no leader is known (NoLeader): past it, with
// no newer reply, it no longer says so (4 s at the default OpTimeout of
// 2 s). A non-replica learns about the leader only from the replies to
// its own ops, so without traffic it cannot tell whether a leader came
// back; it errs towards ready. Every op at a node cut off with a
// leaderless minority fails at OpTimeout, so an op arriving there renews
// the evidence within the grace.
const NoLeaderReplyTTLOps = 2

// NoLeader reports whether this node knows no registry leader, so no
// name op can succeed here: on a replica, raft has known no leader for
// longer than NoLeaderGrace election timeouts (it is cut off from a
// quorum, or the quorum is gone). Always false on a single replica (it
// leads alone), on a failed replica (Failed says that) and while
// recovering. On a non-replica (noLeaderHeard), the replicas that
// answered its ops said for longer than that grace that they knew no
// leader, and lately.
func (r *Registry) NoLeader() bool {
	grace := time.Duration(NoLeaderGrace*r.electionTicks()) * r.cfg.TickInterval
	if r.replica < 0 {
		return r.noLeaderHeard(grace)
	}
	if len(r.cfg.Replicas) <= 1 || r.phase != phaseRunning || r.lead != raft.None {
		return false
	}
	return r.env.Now().Sub(r.leaderlessSince) > grace
}

// noLeaderHeard is NoLeader on a non-replica: replies from replicas
// that knew no leader (a write refused codeRetry because raft dropped the
// proposal, a resolve refused because the replica knows no leader to
// read from, a stale resolve) span more than grace with no reply naming
// a leader in between, and the latest is at most NoLeaderReplyTTLOps
// OpTimeouts old. It reuses what its own ops learn: no probe, no read.
// A spanning window, not one reply, so a healthy node is not called
// unready for an election: a replica that answers without a leader for
// longer than the grace is itself NoLeader by then, and any reply that
// names a leader (the new one, or another replica's) clears it. A
// non-replica cut off from every replica hears nothing and is
// ReplicasSilent instead.
func (r *Registry) noLeaderHeard(grace time.Duration) bool {
	if !r.unled || len(r.cfg.Replicas) <= 1 {
		return false
	}
	ttl := time.Duration(NoLeaderReplyTTLOps) * r.cfg.OpTimeout
	return r.unledLast.Sub(r.unledFirst) > grace && r.env.Now().Sub(r.unledLast) <= ttl
}

// heardLeader records, on a non-replica, whether a replica's reply named
// a leader (leader > 0) or said it knew none (noLeaderHeard). A
// leaderless reply after the evidence expired (no reply for longer than
// NoLeaderReplyTTLOps OpTimeouts) starts a new window: the old one says
// nothing about now, and a healthy node that hears one leaderless reply
// during an election must not be called unready at once because of an
// episode minutes ago.
func (r *Registry) heardLeader(leader uint64) {
	now := r.env.Now()
	ttl := time.Duration(NoLeaderReplyTTLOps) * r.cfg.OpTimeout
	switch {
	case leader != 0:
		r.unled = false
	case !r.unled || now.Sub(r.unledLast) > ttl:
		r.unled, r.unledFirst, r.unledLast = true, now, now
	default:
		r.unledLast = now
	}
}

// ReplicasSilent reports whether this non-replica has heard no replica
// answer for longer than its grace: NoLeaderGrace election timeouts or
// three revocation pull periods, the longer (3 s at rond's 1 s pull).
// Its pulls ask every replica each period and any replica that runs
// answers, so silence that long is a node cut off from every replica (or
// every replica down), and every name op here fails. Only a non-replica
// that pulls revocations (Config.RevocationPullInterval > 0, as rond's
// do) can tell: false on any other node. A non-replica that reaches only
// a leaderless minority of the replicas still hears answers: not
// detected here, but by NoLeader, from its ops' replies.
func (r *Registry) ReplicasSilent() bool {
	if r.replica >= 0 || len(r.cfg.Replicas) == 0 || r.cfg.RevocationPullInterval <= 0 {
		return false
	}
	grace := max(time.Duration(NoLeaderGrace*r.electionTicks())*r.cfg.TickInterval, 3*r.cfg.RevocationPullInterval)
	return r.env.Now().Sub(r.replicaHeard) > grace
}

// setIsLeader sets the registry_is_leader gauge.
func (r *Registry) setIsLeader(leader bool) {
	v := 0.0
	if leader {
		v = 1
	}
	r.env.Metrics().Set(MetricIsLeader, "", v)
}

// finishReady completes the inflight Ready once its writes are durable:
// update the storage mirror, send, apply, Advance.
func (r *Registry) finishReady() {
	rd := r.inflight
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := r.storage.ApplySnapshot(rd.Snapshot); err != nil {
			panic(fmt.Sprintf("registry: applying received snapshot: %v", err))
		}
		r.m, r.pendingSnap = r.pendingSnap, nil
		r.snapIndex, r.snapFresh = r.m.applied, r.env.Now()
	}
	if err := r.storage.Append(rd.Entries); err != nil {
		panic(fmt.Sprintf("registry: appending to the log mirror: %v", err))
	}
	if !raft.IsEmptyHardState(rd.HardState) {
		_ = r.storage.SetHardState(rd.HardState) // never fails for MemoryStorage
	}
	switch {
	case !r.sentEarly:
		r.sendRaft(rd.Messages)
	default:
		late := rd.Messages[:0:0]
		for _, m := range rd.Messages {
			if mustWait(m) {
				late = append(late, m)
			}
		}
		r.sendRaft(late)
	}
	r.sentEarly = false
	for _, e := range rd.CommittedEntries { // applyEntry skips what applyDurable applied
		if err := newerEntry(e, r.versionMax); err != nil {
			r.fail(err, false)
			return
		}
		r.applyEntry(e)
	}
	r.inflight = nil
	r.rn.Advance(*rd)
	r.ready = raft.Ready{} // drop its references
	r.answerReads()
	r.maybeSnapshot()
	r.maybeConfirm()
}

func (r *Registry) sendRaft(msgs []*pb.Message) {
	for _, m := range msgs {
		to := m.GetTo()
		if to == 0 || to > uint64(len(r.cfg.Replicas)) || (r.amn != nil && r.unconfirmedDropsOut(m)) {
			continue
		}
		payload, err := appendRaftMessage(append(r.scratch[:0], codecVersion, envRaft), m)
		if err != nil {
			panic(fmt.Sprintf("registry: marshalling raft message: %v", err))
		}
		r.scratch = payload
		frame, err := oap.Encode(&oap.Frame{Header: oap.Header{Flags: oap.FlagEVENT, AppProto: oap.ProtoRegistry}, Payload: payload})
		if err != nil {
			r.env.Metrics().Add(MetricRejects, reasonTooLarge, 1)
			if m.GetType() == pb.MsgSnap {
				r.rn.ReportSnapshot(to, raft.SnapshotFailure)
			}
			continue
		}
		r.env.Send(r.cfg.Replicas[to-1], frame)
		if m.GetType() == pb.MsgSnap {
			r.rn.ReportSnapshot(to, raft.SnapshotFinish)
		}
	}
}

func (r *Registry) applyEntry(e *pb.Entry) {
	if e.GetIndex() <= r.m.applied {
		return
	}
	ae := r.m.apply(e.GetIndex(), e.GetTerm(), e.GetData())
	if ae.reason != "" {
		r.env.Metrics().Add(MetricRejects, ae.reason, 1)
	}
	if ae.untenanted {
		r.env.Metrics().Add(MetricClaimsUntenanted, "", 1)
	}
	if !ae.hasOrigin {
		return
	}
	rec := r.replyRecord(&ae.op, ae.code, ae.nameSeq)
	if ae.from.node == r.self && ae.from.session == r.session {
		if p := r.findPending(ae.from.seq); p != nil {
			r.complete(p, ae.code, rec)
		}
		return
	}
	if _, ok := r.relays[ae.from]; ok {
		delete(r.relays, ae.from)
		r.sendReply(ae.from, ae.code, rec)
	}
}

// replyRecord is the Record a write's reply carries (writeRecord), a
// Set's ErrStaleSeq widened to the name's whole state now: at the entry's
// log position when applyEntry answers, at the read index when a conflict
// check does (Registry.checked).
func (r *Registry) replyRecord(o *op, c code, nameSeq uint64) Record {
	if c == codeStaleSeq && o.kind == opSet {
		return r.m.lookup(o.name)
	}
	return writeRecord(o, c, nameSeq)
}

// writeRecord is the Record a write's reply carries: on success the name's
// new state as the op set it, otherwise only the name's current seq.
// applyEntry widens a Set's ErrStaleSeq to the name's whole state at the
// entry's log position (seq, target, owner), so that a compare-and-set
// retry needs no read: that state is linearizable, read at a point inside
// the op's window (for a de-duplicated retry, the retry's own position).
func writeRecord(o *op, c code, nameSeq uint64) Record {
	if c != codeOK {
		return Record{Seq: nameSeq}
	}
	rec := Record{Found: true, Seq: nameSeq}
	switch o.kind {
	case opClaim, opSet:
		rec.Owner = append([]byte(nil), o.owner[:]...)
		rec.Target = o.target
	}
	return rec
}

// maybeSnapshot takes a snapshot after SnapshotEntries applied entries or
// SnapshotInterval, and compacts the log behind it.
func (r *Registry) maybeSnapshot() {
	if r.phase != phaseRunning || r.inflight != nil || r.m.applied <= r.snapIndex {
		return
	}
	now := r.env.Now()
	if r.m.applied-r.snapIndex < r.cfg.SnapshotEntries && now.Sub(r.snapFresh) < r.cfg.SnapshotInterval {
		return
	}
	data := signSnapshot(r.cfg.Key, r.m.encode(), r.m.clusterVersion)
	snap, err := r.storage.CreateSnapshot(r.m.applied, r.confState(), data)
	if err != nil {
		panic(fmt.Sprintf("registry: creating snapshot at %d: %v", r.m.applied, err))
	}
	var compactTo uint64
	if r.m.applied > LogRetainEntries {
		compactTo = r.m.applied - LogRetainEntries
	}
	if first, _ := r.storage.FirstIndex(); compactTo >= first {
		if err := r.storage.Compact(compactTo); err != nil {
			panic(fmt.Sprintf("registry: compacting to %d: %v", compactTo, err))
		}
	}
	r.submitBatches(r.disk.compactWrites(snap, compactTo), tagSnapshot)
	r.env.Submit(env.DiskOp{Kind: env.DiskSync, Tag: tagSnapshot})
	r.snapIndex, r.snapFresh = r.m.applied, now
}

func (r *Registry) onMessage(msg env.Message) {
	f, err := oap.Decode(msg.Frame)
	if err != nil {
		r.env.Metrics().Add(MetricRejects, reasonMalformed, 1)
		return
	}
	if !r.isMember(msg.From) {
		r.refuseNonMember(msg.From, f.Payload)
		return
	}
	if r.onRevocationEnvelope(msg.From, f.Payload) || r.onVersionEnvelope(msg.From, f.Payload) ||
		r.onStateEnvelope(msg.From, f.Payload) {
		return
	}
	kind, raw, fw, rp, err := decodeEnvelope(f.Payload, msg.From)
	if err != nil {
		r.env.Metrics().Add(MetricRejects, reasonMalformed, 1)
		return
	}
	switch kind {
	case envRaft:
		r.onRaftMessage(msg.From, raw)
	case envForward, envForwardQ:
		r.onForward(fw, f.CorrID)
		if kind == envForward && fw.op.kind == opClaim {
			r.tellVersion(fw.from.node)
		}
	case envReply:
		r.onReply(msg.From, rp)
	}
}

// refuseNonMember drops a message from a node outside Config.Members,
// counting it as not_member. A forward that decodes is answered
// codeNotMember, so an honest node left out of a member list gets
// ErrNotMember at once rather than a timeout; nothing else is answered
// (a pull's answer would be the revocation list the gate withholds).
func (r *Registry) refuseNonMember(from proto.NodeID, payload []byte) {
	r.env.Metrics().Add(MetricRejects, reasonNotMember, 1)
	r.refused.Warn(r.env.Log(), r.env.Now(), "registry", from)
	if len(payload) < 2 || payload[0] != codecVersion || (payload[1] != envForward && payload[1] != envForwardQ) || r.replica < 0 {
		return
	}
	if kind, _, fw, _, err := decodeEnvelope(payload, from); err == nil && (kind == envForward || kind == envForwardQ) {
		r.sendReply(fw.from, codeNotMember, Record{})
	}
}

func (r *Registry) onRaftMessage(from proto.NodeID, raw []byte) {
	if r.phase != phaseRunning {
		return
	}
	m, err := readRaftMessage(raw, &r.arena)
	if err != nil {
		r.env.Metrics().Add(MetricRejects, reasonMalformed, 1)
		return
	}
	// The sender must be the replica whose raft id the message claims.
	sender := m.GetFrom()
	if sender == 0 || sender > uint64(len(r.cfg.Replicas)) || r.cfg.Replicas[sender-1] != from ||
		m.GetTo() != uint64(r.replica+1) || raft.IsLocalMsg(m.GetType()) {
		r.env.Metrics().Add(MetricRejects, reasonMalformed, 1)
		return
	}
	if r.amn != nil && r.unconfirmedDropsIn(m) {
		return // unconfirmed: it must not vote or follow a stale leader (amnesia.go)
	}
	if r.amn == nil && r.termFloorDrops(m) {
		return // below the term floor it confirmed with (amnesia.go)
	}
	_ = r.rn.Step(m) // errors are stale or unknown peers: nothing to do
}

var _ node.Service = (*Registry)(nil)
var _ node.InvariantChecker = (*Registry)(nil)
