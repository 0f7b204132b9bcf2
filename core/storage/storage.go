package storage

import (
	"fmt"
	"slices"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/internal/invariants"
	"github.com/ron-network/ron/core/internal/refusedlog"
	"github.com/ron-network/ron/core/membership"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// Timer and disk tag layout: kind in bits 48..55, value (a corr id, job id
// or operation id) below. Values are 48-bit counters.
const (
	tagKindShift        = 48
	tagValueMask        = 1<<tagKindShift - 1
	tagRPC       uint64 = 1 // timer: an RPC attempt timed out
	tagTick      uint64 = 2 // timer: the repair/GC tick
	tagPut       uint64 = 3 // timer: a put's deadline
	tagGet       uint64 = 4 // timer: a get's deadline
	tagDisk      uint64 = 5 // disk: a job's operation completed
	tagRecovery  uint64 = 6 // disk: a recovery scan page (value 0), a manifest's second read (recoveryReread) or the scrub cursor's read (recoveryScrubCursor)
	tagSweep     uint64 = 7 // disk: an orphan sweep page (sweep.go)
	tagHandoff   uint64 = 8 // timer: the next hand-off attempt (handoff.go)
	tagScrub     uint64 = 9 // timer: the scrub's next read (scrub.go)
)

var _ = [node.TagMax - (tagScrub<<tagKindShift | tagValueMask)]struct{}{} // tags fit node.TagMax

// Storage is the replicated content store of one node. See the package doc.
type Storage struct {
	cfg  Config
	env  env.Env
	self proto.NodeID
	// members is Config.Members as a set; open when it is empty (an open
	// placement through the DHT: every sender is served).
	members membership.Set
	// refused: when each refused non-member was last logged (refused.go).
	refused refusedlog.Log
	// shareLog: when each sender refused for its staged share was last
	// logged (refusedSenderShare).
	shareLog refusedlog.Log
	// fetchReads counts, per sender, its FetchChunk reads in flight
	// (serveFetchChunk; at most FetchReadsPerSenderMax each). A sender
	// without any is not listed.
	fetchReads map[proto.NodeID]int
	// fetching holds the FetchChunk requests (sender, corr id) whose
	// read is in flight: an RPC resends its request, same corr id, up to
	// RPCAttemptsMax times, and a resend arriving while the first is
	// read is dropped (the read answers it) instead of counted again.
	// As many as the reads in flight.
	fetching map[fetchReq]bool

	ready   bool // recovery finished
	index   index
	rpcs    map[uint64]*rpc
	corr    uint64
	jobs    map[uint64]*diskJob
	nextJob uint64
	puts    map[uint64]*putOp
	// trailing: the acknowledged puts in s.puts whose pushes are still
	// open, oldest acknowledgement first (put.go, trail), and the sum of
	// their footprints.
	trailing      []*putOp
	trailingBytes int64
	// trailingCalls: the requests the trailing puts' pushes have
	// outstanding (push.calls), at most TrailingRPCsMax.
	trailingCalls int
	gets          map[uint64]*getOp
	nextOp        uint64
	tick          env.TimerID

	recovery       recoveryScan
	sweep          orphanSweep
	sweepSeq       uint64                       // last sweep page tag; survives reset (see sweepPage)
	sweepDue       bool                         // a session chunk delete failed or was refused: the tick sweeps (sweepIfDue)
	sweepNotBefore env.Time                     // no due sweep starts before (SweepDueGapIntervals)
	cursor         proto.Addr                   // repair: last object audited
	audits         map[proto.Addr]*audit        // repair: objects being audited
	damaged        map[proto.Addr]damage        // chunks that failed their check (push.go)
	healing        map[proto.Addr]bool          // chunks being healed
	healWrites     map[proto.Addr][]func(error) // heal writes in flight, and who waits for them (healWith)
	groups         *groupCache                  // group CVs of chunks verified whole (groups.go)
	provideNext    []proto.Addr                 // objects to announce on later ticks
	sessions       map[uint64]*session          // open upload sessions
	handoffs       handoffTable                 // pushes to placement nodes acknowledged puts missed (handoff.go)
	repairPairs    []*repairPair                // repair pushes to confirm or backed off (repairbackoff.go)
	// lostPins: the pins recovery found without a held manifest (it was
	// corrupt), ascending by address, at most LostPinsMax, each with its
	// restore backoff. Their records stay on disk: a write of the object
	// here is pinned (writeObject), a Delete removes the record
	// (onDelete, runDeletes).
	lostPins []lostPin
	// keptPins: the pins recovery found whose manifest is on disk but
	// not indexed (a newer build wrote it, or LocalObjectsMax was
	// reached), ascending, at most KeptPinsMax. Never restored: no write
	// of such an object is made here (writeObject refuses it, so a newer
	// build's manifest is not overwritten and no unpinned copy lets GC
	// delete the record), and a Delete removes the record (deleteKeptPin).
	keptPins []proto.Addr
	// lostPinNext: the index in lostPins of the next to restore;
	// restoring: a restore is in flight (restoreLostPin).
	lostPinNext int
	restoring   bool
	scrub       scrubState  // the background scrub's cursor (scrub.go)
	scrubRec    scrubRecord // its record on disk (scrub.go)
	stats       Stats
	// deleted is Config.BugRepinLost's memory of the objects a client
	// deleted here (nil otherwise).
	deleted map[proto.Addr]bool
}

// Stats are cumulative counters and current sizes, for the simulator.
type Stats struct {
	Objects       int
	Bytes         uint64
	Staged        int
	PutsInflight  int
	GetsInflight  int
	RPCsInflight  int
	Corruptions   uint64
	Repairs       uint64
	Rejects       uint64
	ChunksWritten uint64
	// Sessions is the open upload sessions; SessionsExpired counts those
	// collected after SessionTTL.
	Sessions        int
	SessionsExpired uint64
	// OrphansSwept counts unreferenced chunks the sweep after recovery
	// deleted; Sweeping is true while it runs.
	OrphansSwept uint64
	Sweeping     bool
	// HandoffsPending is the hand-offs waiting (handoff.go);
	// HandoffsDelivered counts those that ended with the node holding
	// the object, HandoffsDropped those given up (any reason).
	HandoffsPending   int
	HandoffsDelivered uint64
	HandoffsDropped   uint64
}

var _ node.Service = (*Storage)(nil)
var _ node.InvariantChecker = (*Storage)(nil)

// New returns a storage machine for cfg. An invalid cfg is a programmer
// error (owners validate configuration first) and panics.
func New(cfg Config) *Storage {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	s := &Storage{cfg: cfg.withDefaults()}
	s.setMembers(cfg.Members)
	s.reset()
	return s
}

// reset drops every in-memory structure: at Start the durable state on
// disk is the only truth.
func (s *Storage) reset() {
	s.ready = false
	s.index = newIndex()
	s.rpcs = map[uint64]*rpc{}
	s.jobs = map[uint64]*diskJob{}
	s.fetchReads = map[proto.NodeID]int{} // their jobs are dropped with s.jobs
	s.fetching = map[fetchReq]bool{}
	s.puts = map[uint64]*putOp{}
	s.trailing, s.trailingBytes, s.trailingCalls = nil, 0, 0
	s.gets = map[uint64]*getOp{}
	s.audits = map[proto.Addr]*audit{}
	s.damaged = map[proto.Addr]damage{}
	s.healing = map[proto.Addr]bool{}
	s.healWrites = map[proto.Addr][]func(error){}
	s.groups = newGroupCache(GroupCacheBytesMax)
	s.provideNext = nil
	s.sessions = map[uint64]*session{}
	s.recovery = recoveryScan{}
	s.lostPins, s.lostPinNext, s.restoring = nil, 0, false
	s.keptPins = nil
	s.sweep = orphanSweep{}
	s.sweepDue = false                             // the sweep after recovery covers it
	s.handoffs = handoffTable{seq: s.handoffs.seq} // seq survives, like sweepSeq
	s.scrub = scrubState{seq: s.scrub.seq}         // so does the scrub's
	s.scrubRec = scrubRecord{}
	s.repairPairs = nil
	s.tick = 0
}

func (s *Storage) Name() string        { return ServiceName }
func (s *Storage) Protocols() []uint16 { return []uint16{oap.ProtoStorage} }

// Init hands the machine its env.
func (s *Storage) Init(e env.Env) {
	s.env = e
	s.self = e.Self()
}

// Handle runs one input to completion.
func (s *Storage) Handle(in env.Input) {
	switch in := in.(type) {
	case env.Start:
		s.reset()
		s.startRecovery()
	case env.Message:
		s.onMessage(in.From, in.Frame)
	case env.TimerFired:
		s.onTimer(in.Tag)
	case env.DiskDone:
		s.onDiskDone(in)
	case env.Request:
		s.onRequest(in)
	}
}

func (s *Storage) onTimer(tag uint64) {
	value := tag & tagValueMask
	switch tag >> tagKindShift {
	case tagRPC:
		s.onRPCTimeout(value)
	case tagTick:
		s.onTick()
	case tagPut:
		if p := s.puts[value]; p != nil {
			p.deadlinePassed(s)
		}
	case tagGet:
		if g := s.gets[value]; g != nil {
			s.finishGet(g, fmt.Errorf("%w: deadline passed", ErrUnavailable))
		}
	case tagHandoff:
		s.onHandoffTimer(value)
	case tagScrub:
		s.onScrubTimer(value)
	}
}

func (s *Storage) onRequest(in env.Request) {
	switch body := in.Body.(type) {
	case Put:
		s.onPut(in.ID, body)
	case *Put:
		s.onPut(in.ID, *body)
	case Get:
		s.onGet(in.ID, body)
	case *Get:
		s.onGet(in.ID, *body)
	case Has:
		s.env.Reply(in.ID, HasResult{Local: s.HasLocal(body.Addr)})
	case *Has:
		s.env.Reply(in.ID, HasResult{Local: s.HasLocal(body.Addr)})
	case Delete:
		s.onDelete(in.ID, body.Addr)
	case *Delete:
		s.onDelete(in.ID, body.Addr)
	case SetRepair:
		s.cfg.RepairOff = !body.Enabled
		s.env.Reply(in.ID, body)
	case SetMembers:
		if len(body.Members) == 0 && s.cfg.DHT == nil {
			s.env.Reply(in.ID, fmt.Errorf("%w: SetMembers with no members: nothing would place objects (Config.DHT is nil)", ErrBadRequest))
			return
		}
		if err := s.setQuorum(body); err != nil {
			s.env.Reply(in.ID, err)
			return
		}
		s.setMembers(body.Members)
		s.env.Reply(in.ID, body)
	default:
		s.onStreamRequest(in)
	}
}

// onStreamRequest routes the streaming requests (session.go).
func (s *Storage) onStreamRequest(in env.Request) {
	switch body := in.Body.(type) {
	case PutBegin:
		s.onPutBegin(in.ID, body)
	case *PutBegin:
		s.onPutBegin(in.ID, *body)
	case PutChunk:
		s.onPutChunk(in.ID, body)
	case *PutChunk:
		s.onPutChunk(in.ID, *body)
	case PutCommit:
		s.onPutCommit(in.ID, body)
	case *PutCommit:
		s.onPutCommit(in.ID, *body)
	case PutAbort:
		s.onPutAbort(in.ID, body)
	case *PutAbort:
		s.onPutAbort(in.ID, *body)
	case GetManifest:
		s.onGetManifest(in.ID, body)
	case *GetManifest:
		s.onGetManifest(in.ID, *body)
	case GetChunk:
		s.onGetChunk(in.ID, body)
	case *GetChunk:
		s.onGetChunk(in.ID, *body)
	case GetChunks:
		s.onGetChunks(in.ID, body)
	case *GetChunks:
		s.onGetChunks(in.ID, *body)
	default:
		s.reject(ReasonBadRequest)
		s.env.Reply(in.ID, fmt.Errorf("%w: %w: %T", node.ErrUnknownRequest, ErrBadRequest, in.Body))
	}
}

func (s *Storage) reject(reason string) {
	s.stats.Rejects++
	s.env.Metrics().Add(MetricRejects, reason, 1)
}

// corruption counts bytes from source (a peer, or this node's disk: self)
// that failed verification.
func (s *Storage) corruption(source proto.NodeID) {
	s.stats.Corruptions++
	s.env.Metrics().Add(MetricCorruption, "", 1)
	if s.cfg.CorruptionFrom != nil {
		s.cfg.CorruptionFrom(source)
	}
}

func (s *Storage) setGauges() {
	s.env.Metrics().Set(MetricObjects, "", float64(len(s.index.sorted)))
	s.env.Metrics().Set(MetricBytes, "", float64(s.index.bytes))
}

// member reports whether id may use this node's peer protocol: always
// when Config.Members is empty, else when id is this node or listed.
func (s *Storage) member(id proto.NodeID) bool {
	return id == s.self || s.members.Admits(id)
}

// placement returns the nodes an object is placed on: the R nodes closest
// to its address by XOR distance, closest first, from Members or (when
// Members is empty) from the DHT's routing table plus this node.
func (s *Storage) placement(addr proto.Addr) []proto.NodeID {
	var pool []proto.NodeID
	if len(s.cfg.Members) > 0 {
		pool = slices.Clone(s.cfg.Members)
	} else {
		pool = append(s.cfg.DHT.Closest(addr.Key(), s.cfg.Replicas), s.self)
	}
	key := addr.Key()
	slices.SortFunc(pool, func(a, b proto.NodeID) int { return compareDistance(a, b, key) })
	pool = slices.Compact(pool)
	return pool[:min(len(pool), s.cfg.Replicas)]
}

// compareDistance orders a and b by XOR distance to key.
func compareDistance(a, b, key proto.NodeID) int {
	for i := range key {
		da, db := a[i]^key[i], b[i]^key[i]
		if da != db {
			if da < db {
				return -1
			}
			return 1
		}
	}
	return 0
}

// LocalObjects returns the committed objects of this node, sorted. The
// caller owns the slice.
func (s *Storage) LocalObjects() []proto.Addr { return slices.Clone(s.index.sorted) }

// HasLocal reports whether this node holds addr durably.
func (s *Storage) HasLocal(addr proto.Addr) bool { return s.index.committed(addr) != nil }

// LocalManifest returns the manifest of the committed object addr this
// node holds (false when it holds none). The caller owns the copy.
func (s *Storage) LocalManifest(addr proto.Addr) (Manifest, bool) {
	o := s.index.committed(addr)
	if o == nil {
		return Manifest{}, false
	}
	return Manifest{Size: o.manifest.Size, Chunks: slices.Clone(o.manifest.Chunks)}, true
}

// Ready reports whether recovery has finished.
func (s *Storage) Ready() bool { return s.ready }

// Stats returns the counters and current sizes.
func (s *Storage) Stats() Stats {
	st := s.stats
	st.Objects, st.Bytes, st.Staged = len(s.index.sorted), s.index.bytes, len(s.index.staged)
	st.PutsInflight, st.GetsInflight, st.RPCsInflight = len(s.puts), len(s.gets), len(s.rpcs)
	st.Sessions = len(s.sessions)
	st.Sweeping = s.sweep.active
	st.HandoffsPending = len(s.handoffs.list)
	return st
}

// CheckInvariants implements node.InvariantChecker: the node calls it once
// after every step; Handle does not check by itself.
func (s *Storage) CheckInvariants() {
	if len(s.rpcs) > RPCsInflightMax || len(s.jobs) > DiskJobsMax || len(s.puts) > InflightPutsMax+TrailingPutsMax ||
		len(s.trailing) > TrailingPutsMax || s.trailingBytes > TrailingPutBytesMax || s.activePuts() > InflightPutsMax ||
		s.trailingCalls > TrailingRPCsMax ||
		len(s.gets) > InflightGetsMax || len(s.audits) > RepairAuditsMax || len(s.damaged) > DamagedChunksMax ||
		len(s.provideNext) > ProvideQueueMax || len(s.sessions) > SessionsMax {
		panic("storage: a bounded table exceeds its limit")
	}
	if !s.ready && (len(s.puts) > 0 || len(s.gets) > 0 || len(s.audits) > 0 || len(s.sessions) > 0 || s.sweep.active || len(s.handoffs.list) > 0) {
		panic("storage: client or repair work before recovery finished")
	}
	s.index.check(invariants.Enabled)
	if invariants.Enabled {
		s.checkLostPins()
	}
	s.checkPuts()
	s.checkGets()
	s.checkHandoffs(invariants.Enabled)
}
