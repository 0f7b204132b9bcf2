package audit

import (
	"bytes"
	"fmt"
	"time"

	"github.com/ron-network/ron/core/env"
)

// Service limits and timings.
const (
	// Topic is the bus topic the service subscribes to.
	Topic = "audit"
	// KeyPrefix starts every record's disk key: "audit/<seq, 16 hex digits>".
	KeyPrefix = "audit/"
	// InflightRecordsMax bounds records appended but not yet durable. It is
	// also the longest unsynced tail a crash can leave behind, which bounds
	// what recovery may discard (see recover.go).
	InflightRecordsMax = 1024
	// PendingEventsMax bounds events queued while the chain head is being
	// recovered.
	PendingEventsMax = 1024
	// WriteAttemptsMax bounds the attempts at one put or sync before the
	// service stops appending (a chain with a hole must not grow).
	WriteAttemptsMax = 5
	// RecoverAttemptsMax bounds full recovery scans after read errors.
	RecoverAttemptsMax = 5
	// RecoverRetryDelay paces recovery scans after a failure.
	RecoverRetryDelay = 200 * time.Millisecond
	// SyncDelay is how long the log waits, after a record is put with no
	// sync in flight or pending, before it submits the sync that covers
	// it: records put meanwhile share that sync (group commit), and a
	// sync that other services' writes make of the same disk meanwhile
	// leaves it nothing to write (see writeRecord). It lengthens a
	// record's way to durability by at most this much: with the sync, a
	// record stays within the 2.5-5 ms bucket of
	// audit_append_latency_seconds, half the audit_append_p95 budget of
	// 10 ms (a delay of 5 ms put every record in the 5-10 ms bucket, whose
	// interpolated p95 reads close to the budget). A registry writing
	// 500-700 times a second syncs every 1.4-2 ms, so most delays still
	// see one of its syncs.
	SyncDelay = 2 * time.Millisecond
	// seqMax keeps a seq inside a disk tag (tagKindShift bits).
	seqMax = 1<<tagKindShift - 1
)

// Disk and timer tags: the op kind above tagKindShift, a seq below it.
const (
	tagKindShift = 48
	tagScan      = 1
	tagPut       = 2
	tagSync      = 3
	tagDelete    = 4
	tagRetry     = 5
	tagSyncDue   = 7 // SyncDelay's timer (tagRead is 6)
)

// Metric names.
const (
	MetricAppendLatency     = "audit_append_latency_seconds"
	MetricDropped           = "audit_dropped_total"
	MetricRecoveryDiscarded = "audit_recovery_discarded_total"
)

var _ = env.Declare(
	env.MetricDef{Name: MetricAppendLatency, Kind: env.Histogram,
		Help: "Time from an audit event to its record being durable.", Buckets: env.LatencyBuckets},
	env.MetricDef{Name: MetricDropped, Kind: env.Counter,
		Help: "Audit events not recorded, by reason (backlog, unavailable, invalid).", Label: "reason"},
	env.MetricDef{Name: MetricRecoveryDiscarded, Kind: env.Counter,
		Help: "Unsynced tail records discarded at recovery because a crash left them unchained."},
)

// Event is what other services publish on Topic (as Event or *Event) to
// have a record appended. Texts longer than their Record limit are cut.
type Event struct {
	Kind    Kind
	Actor   string
	Tenant  string
	Subject string
	Detail  string
}

// HeadQuery is a Request body; the reply is a HeadStatus.
type HeadQuery struct{}

// HeadStatus reports the chain heads: Appended includes records not yet
// durable; Durable only those covered by a completed sync. Base is the
// head of the records retention dropped (zero when none was): the first
// record held has seq Base.Seq+1 and links to Base.Hash (VerifyFrom).
type HeadStatus struct {
	Appended Head
	Durable  Head
	Base     Head
	Ready    bool
	Broken   bool
}

type state uint8

const (
	stateIdle state = iota
	stateRecovering
	stateReady
	stateBroken
)

type inflight struct {
	seq      uint64
	hash     [32]byte
	key      []byte
	value    []byte // sealed
	started  env.Time
	putDone  bool
	attempts int
	failed   bool // its put failed WriteAttemptsMax times: it never becomes durable

}

// Service is the audit log: a node.Service that appends hash-chained
// records for bus events and persists them through the disk.
type Service struct {
	env      env.Env
	cfg      Config
	state    state
	head     Head // last appended (possibly not yet durable)
	durable  Head
	pending  []Event
	inflight []inflight // ascending seq, ending at head.Seq
	recovery *recovery
	// syncFailures counts consecutive failed syncs.
	syncFailures int
	// syncing: a sync of records is submitted and not completed; at most
	// one is (group commit, see writeRecord).
	syncing bool
	// syncDue: SyncDelay's timer is armed and will submit the sync (never
	// while syncing).
	syncDue bool
	// reads are ReadRecords requests waiting for their scan, in
	// submission order; nextRead numbers them.
	reads    []pendingRead
	nextRead uint64
	// Retention (retain.go): the segments held, oldest first, their
	// bytes, the head of the dropped prefix, and whether a drop runs.
	segs         []segment
	held         int64
	base         Head
	dropping     bool
	dropFailures int
	// baseErr is set while the base cannot be placed (it does not
	// decode, or it is lost): reads answer it rather than a page with
	// no base.
	baseErr error
	// witnessed is the id+1 of the segment whose drop a retention record
	// announced (witnessSeq, chained before the drop's batch runs).
	witnessed, witnessSeq uint64
	// ageNext is the segment the durable head must reach before the
	// next drop by age (RetainAge): age drops are paced by growth.
	ageNext uint64
}

// New returns the audit service; cfg must pass Validate (an invalid
// setting takes its default).
func New(cfg Config) *Service {
	if cfg.Validate() != nil {
		cfg = Config{}
	}
	return &Service{cfg: cfg.withDefaults()}
}

func (s *Service) Name() string        { return ServiceName }
func (s *Service) Protocols() []uint16 { return nil }
func (s *Service) Topics() []string    { return []string{Topic} }
func (s *Service) Init(e env.Env)      { s.env = e }

// Status reports the heads without a request round trip (for tests and the
// node's owner).
func (s *Service) Status() HeadStatus {
	return HeadStatus{Appended: s.head, Durable: s.durable, Base: s.base, Ready: s.state == stateReady, Broken: s.state == stateBroken}
}

// Handle runs one input.
func (s *Service) Handle(in env.Input) {
	switch in := in.(type) {
	case env.Start:
		s.startRecovery()
	case env.BusEvent:
		s.onEvent(in.Event)
	case env.DiskDone:
		s.onDisk(in)
	case env.TimerFired:
		switch in.Tag >> tagKindShift {
		case tagRetry:
			if s.state == stateRecovering {
				s.scan(nil)
			}
		case tagSyncDue:
			s.onSyncDue()
		}
	case env.Request:
		s.onRequest(in)
	}
}

func (s *Service) onEvent(ev any) {
	var e Event
	switch v := ev.(type) {
	case Event:
		e = v
	case *Event:
		e = *v
	default:
		s.drop("invalid")
		return
	}
	if !e.Kind.Valid() {
		s.drop("invalid")
		return
	}
	switch s.state {
	case stateReady:
		s.append(e)
	case stateIdle, stateRecovering:
		if len(s.pending) >= PendingEventsMax {
			s.drop("backlog")
			return
		}
		s.pending = append(s.pending, e)
	default:
		s.drop("unavailable")
	}
}

func (s *Service) drop(reason string) { s.env.Metrics().Add(MetricDropped, reason, 1) }

// append chains e onto the head and writes it: a put, then a sync.
func (s *Service) append(e Event) {
	if len(s.inflight) >= InflightRecordsMax || s.head.Seq >= seqMax {
		s.drop("backlog")
		return
	}
	now := max(s.env.Now(), 0)
	r := Record{Seq: s.head.Seq + 1, Time: now, Kind: e.Kind, Actor: cut(e.Actor, ActorBytesMax),
		Tenant: cut(e.Tenant, TenantBytesMax), Subject: cut(e.Subject, SubjectBytesMax),
		Detail: cut(e.Detail, DetailBytesMax), Prev: s.head.Hash}
	s.head = Head{Seq: r.Seq, Hash: r.Hash()}
	f := inflight{seq: r.Seq, hash: s.head.Hash, key: RecordKey(r.Seq), value: env.Seal(r.Marshal()), started: now}
	s.inflight = append(s.inflight, f)
	s.held += int64(len(f.key) + len(f.value))
	s.segs = hold(s.segs, r.Seq, int64(len(f.key)+len(f.value)), now, s.head.Hash)
	s.writeRecord(&s.inflight[len(s.inflight)-1])
}

// writeRecord submits f's put and makes sure a sync follows it (group
// commit): with no sync of the log in flight or due, one is due
// SyncDelay later (a timer); while one is in flight, the put is covered
// by the next, which onSync submits when that one completes. Every put is
// thus followed by a sync, submitted or due, at most one sync is
// outstanding, and records put while a sync runs or is due share it
// instead of each queueing its own.
//
// The delay is for the node's other writers: a registry replica syncs
// the same disk for every Ready, once or more per name write, and the
// gateway appends a record for every name write it answers. A sync
// submitted at once behind each record cost the leader a second fsync
// per write, queued in front of the next write's own (set1 ran 10-20%
// faster with the gateway's name-write records taken out). A sync
// submitted SyncDelay later finds the record already covered by a sync
// of theirs whenever no write came after it, and then costs no fsync
// (io/pebbledisk skips a sync with nothing written since the last); when
// writes did come, it is one fsync for every record of the delay.
func (s *Service) writeRecord(f *inflight) {
	f.attempts++
	s.env.Submit(env.DiskOp{Kind: env.DiskPut, Tag: tagPut<<tagKindShift | f.seq, Key: bytes.Clone(f.key), Value: bytes.Clone(f.value)})
	if !s.syncing && !s.syncDue {
		s.syncDue = true
		s.env.SetTimer(SyncDelay, tagSyncDue<<tagKindShift)
	}
}

// onSyncDue submits the sync SyncDelay's timer was armed for, in the
// broken state too: records put before the one whose put failed for good
// still become durable (as a sync in flight when the log stopped makes
// them).
func (s *Service) onSyncDue() {
	s.syncDue = false
	if !s.syncing && s.syncable() {
		s.submitSync(s.inflight[len(s.inflight)-1].seq)
	}
}

// syncable reports whether a sync can make a record durable: one is in
// flight and the oldest is not a record whose put failed for good (only
// a stopped log has one; nothing after it can become durable, as
// durability goes oldest first). Without this a stopped log would sync
// for ever on behalf of a record that will never be put.
func (s *Service) syncable() bool {
	return len(s.inflight) > 0 && !s.inflight[0].failed
}

// submitSync submits the log's sync; it covers every put submitted
// before it. seq only labels it.
func (s *Service) submitSync(seq uint64) {
	s.syncing = true
	s.env.Submit(env.DiskOp{Kind: env.DiskSync, Tag: tagSync<<tagKindShift | seq})
}

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// RecordKey is the disk key of seq.
func RecordKey(seq uint64) []byte { return fmt.Appendf(nil, "%s%016x", KeyPrefix, seq) }

func (s *Service) onDisk(d env.DiskDone) {
	seq := d.Op.Tag & seqMax
	switch d.Op.Tag >> tagKindShift {
	case tagScan:
		s.onScan(d)
	case tagPut:
		s.onPut(seq, d.Result.Err)
	case tagSync:
		s.onSync(seq, d.Result.Err)
	case tagDelete:
		// Recovery's deletes are followed by a sync; nothing to track.
	case tagRead:
		s.onReadDone(d)
	case tagDrop:
		s.onDrop(d)
	}
}

func (s *Service) onPut(seq uint64, err error) {
	f := s.findInflight(seq)
	if f == nil {
		return
	}
	if err == nil {
		f.putDone = true
		return
	}
	if f.attempts >= WriteAttemptsMax {
		f.failed = true
		s.fail(fmt.Errorf("audit: put of seq %d failed %d times: %w", seq, f.attempts, err))
		return
	}
	s.writeRecord(f)
}

// onSync makes durable the inflight records, oldest first, whose put has
// completed: disk ops complete in submission order, so a successful sync
// covers every put whose completion arrived before it, whichever record
// the sync was issued for (seq only labels a retry). The records still in
// flight then are those put after this sync was submitted (or put again
// after a failure): the next sync goes out for them.
func (s *Service) onSync(seq uint64, err error) {
	if err != nil {
		s.syncFailures++
		if s.syncFailures >= WriteAttemptsMax {
			s.syncing = false
			s.fail(fmt.Errorf("audit: %d consecutive syncs failed: %w", s.syncFailures, err))
			return
		}
		s.submitSync(seq)
		return
	}
	s.syncFailures = 0
	s.syncing = false
	now := s.env.Now()
	n := 0
	for n < len(s.inflight) && s.inflight[n].putDone {
		f := &s.inflight[n]
		s.env.Metrics().Observe(MetricAppendLatency, "", now.Sub(f.started).Seconds())
		n++
	}
	if n > 0 {
		last := s.inflight[n-1].seq
		s.durable = Head{Seq: last, Hash: s.inflight[n-1].hash}
		s.inflight = append(s.inflight[:0], s.inflight[n:]...)
	}
	if s.syncable() {
		s.submitSync(s.inflight[len(s.inflight)-1].seq)
	}
	if n > 0 {
		s.maybeDrop()
	}
}

func (s *Service) findInflight(seq uint64) *inflight {
	for i := range s.inflight {
		if s.inflight[i].seq == seq {
			return &s.inflight[i]
		}
	}
	return nil
}

// fail stops appending: a log with a hole or an unverifiable head must not
// grow. Events from now on are dropped and counted; the operator repairs
// and restarts.
func (s *Service) fail(err error) {
	s.state = stateBroken
	s.env.Log().Error("audit log stopped appending", "err", err)
	for range s.pending {
		s.drop("unavailable")
	}
	s.pending = nil
}

// CheckInvariants panics if the service's bookkeeping is inconsistent.
func (s *Service) CheckInvariants() {
	if len(s.inflight) > InflightRecordsMax || len(s.pending) > PendingEventsMax || len(s.reads) > ReadsInflightMax {
		panic("audit: a bounded queue exceeds its limit")
	}
	if s.durable.Seq > s.head.Seq {
		panic("audit: durable head beyond the appended head")
	}
	for i, f := range s.inflight {
		if f.seq != s.head.Seq-uint64(len(s.inflight)-1-i) || f.seq <= s.durable.Seq {
			panic(fmt.Sprintf("audit: inflight seq %d out of order (head %d, durable %d)", f.seq, s.head.Seq, s.durable.Seq))
		}
	}
	if s.state == stateReady && len(s.inflight) > 0 && !s.syncing && !s.syncDue {
		panic("audit: records in flight with no sync to cover them")
	}
	if s.syncing && s.syncDue {
		panic("audit: a sync both in flight and due")
	}
	if s.state != stateReady && s.state != stateBroken && len(s.inflight) > 0 {
		panic("audit: appending before recovery finished")
	}
	if s.held != s.heldBytes() || (len(s.segs) > 0 && s.segs[0].id*SegmentRecords < s.base.Seq) {
		panic(fmt.Sprintf("audit: retention bookkeeping: held %d, segments %d, base seq %d", s.held, s.heldBytes(), s.base.Seq))
	}
}
