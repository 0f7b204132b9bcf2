package audit

import (
	"errors"
	"fmt"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto/wire"
)

// Retention (doc.go, "Retention"): the log is cut into segments of
// SegmentRecords consecutive seqs; when the records held exceed
// Config.RetainBytes, or the oldest segment's newest record is older than
// Config.RetainAge, whole oldest segments are dropped. A drop is one
// atomic DiskBatch that deletes every key of the segment and rewrites the
// base (BaseKey): the head of the dropped prefix, from which the first
// retained record is verified. A crash leaves the drop applied or not,
// never half of it.
const (
	// SegmentRecords is the seqs of one segment: segment i holds seqs
	// i*SegmentRecords+1 .. (i+1)*SegmentRecords. With the base's put it
	// fits one batch (env.DiskBatchWritesMax).
	SegmentRecords = 2048
	// RetainBytesDefault is Config.RetainBytes' default.
	RetainBytesDefault = 1 << 30
	// RetainBytesMin is the least RetainBytes accepted: a few segments of
	// typical records (a few hundred bytes each).
	RetainBytesMin = 16 << 20
	// BaseKey holds the base, the head of the records dropped by
	// retention. It sorts before every record key ('-' < '0'), so the
	// start-up scan reads it first, and ReadRecords' scans (from
	// RecordKey(1)) never see it.
	BaseKey = KeyPrefix + "-base"
	// tagDrop marks a drop's batch and the sync after it.
	tagDrop = 8
	// baseFormat versions the base's encoding.
	baseFormat = 1
	// RetainAgeMin is the least RetainAge accepted (0 is none): the
	// audit trail of an hour is not a trail.
	RetainAgeMin = time.Hour
)

// Retention metrics.
const (
	MetricRetainedBytes          = "audit_retained_bytes"
	MetricRetentionDroppedRecord = "audit_retention_dropped_records_total"
	MetricRetentionDroppedSeg    = "audit_retention_dropped_segments_total"
	MetricOldestRecordAge        = "audit_oldest_record_age_seconds"
)

var _ = env.Declare(
	env.MetricDef{Name: MetricRetainedBytes, Kind: env.Gauge,
		Help: "Bytes (keys and sealed values) of the audit records the log holds."},
	env.MetricDef{Name: MetricRetentionDroppedRecord, Kind: env.Counter,
		Help: "Audit records deleted by retention (audit_retain_bytes, audit_retain_age)."},
	env.MetricDef{Name: MetricRetentionDroppedSeg, Kind: env.Counter,
		Help: "Audit log segments deleted by retention."},
	env.MetricDef{Name: MetricOldestRecordAge, Kind: env.Gauge,
		Help: "Age of the oldest audit record the log holds (updated as records become durable): how far back the retained log reaches."},
)

// ErrRetained wraps a verification that needs records retention dropped
// (a saved head older than the base).
var ErrRetained = errors.New("audit: record dropped by retention")

// Config is the service's configuration; the zero Config takes every
// default.
type Config struct {
	// RetainBytes bounds the bytes of records held (their keys and sealed
	// values): past it the oldest segments are dropped, never the one
	// being written, so the log holds at most RetainBytes plus one
	// segment. 0: RetainBytesDefault; else at least RetainBytesMin.
	RetainBytes int64
	// RetainAge drops a segment once its newest record is older than it
	// (checked as records become durable). 0: no age bound.
	RetainAge time.Duration
}

// Validate reports a setting outside its range.
func (c Config) Validate() error {
	if c.RetainBytes != 0 && c.RetainBytes < RetainBytesMin {
		return fmt.Errorf("audit: retain bytes %d below the minimum %d", c.RetainBytes, RetainBytesMin)
	}
	if c.RetainAge != 0 && c.RetainAge < RetainAgeMin {
		return fmt.Errorf("audit: retain age %v below the minimum %v (0: no age bound)", c.RetainAge, RetainAgeMin)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.RetainBytes == 0 {
		c.RetainBytes = RetainBytesDefault
	}
	return c
}

// segment is what the service knows of one held segment.
type segment struct {
	id     uint64
	bytes  int64
	oldest env.Time // its first record's time
	newest env.Time // newest record's time
	last   Head     // its newest record (closed when last.Seq is its end)
}

func segmentOf(seq uint64) uint64 { return (seq - 1) / SegmentRecords }

// segmentEnd is the last seq of segment id.
func segmentEnd(id uint64) uint64 { return (id + 1) * SegmentRecords }

// hold accounts a record held on disk into segs (ascending by id).
func hold(segs []segment, seq uint64, bytes int64, t env.Time, hash [32]byte) []segment {
	id := segmentOf(seq)
	if n := len(segs); n == 0 || segs[n-1].id != id {
		segs = append(segs, segment{id: id, oldest: t})
	}
	sg := &segs[len(segs)-1]
	sg.bytes += bytes
	sg.newest = max(sg.newest, t)
	sg.last = Head{Seq: seq, Hash: hash}
	return segs
}

// heldBytes sums the segments (CheckInvariants compares it with held).
func (s *Service) heldBytes() int64 {
	var n int64
	for i := range s.segs {
		n += s.segs[i].bytes
	}
	return n
}

// maybeDrop starts a drop of the oldest segment when retention asks for
// it and the segment is closed and durable. At most one drop runs.
//
// Every drop is witnessed in the chain: first a KindRetention record
// naming the segment's last head (the base after the drop) is appended,
// and the drop's batch runs only once that record is durable. A prefix
// cut that no such record names was not made by retention
// (VerifyBaseWitnessed).
//
// The age bound trusts the node's clock, so it is guarded: a segment
// whose newest record is in the future is never old, and age drops are
// paced by growth, at most one per segment the log starts after the
// last (ageNext): a clock jumping years ahead drops one segment, then
// no faster than new ones fill, instead of the whole log at once.
func (s *Service) maybeDrop() {
	s.env.Metrics().Set(MetricRetainedBytes, "", float64(s.held))
	if len(s.segs) > 0 {
		s.env.Metrics().Set(MetricOldestRecordAge, "", max(s.env.Now().Sub(s.segs[0].oldest), 0).Seconds())
	}
	if s.state != stateReady || s.dropping || s.dropFailures >= WriteAttemptsMax || len(s.segs) < 2 {
		return
	}
	old := &s.segs[0]
	if old.last.Seq != segmentEnd(old.id) || old.last.Seq > s.durable.Seq {
		return
	}
	now := s.env.Now()
	tooBig := s.held > s.cfg.RetainBytes
	tooOld := s.cfg.RetainAge > 0 && old.newest <= now && now.Sub(old.newest) > s.cfg.RetainAge &&
		segmentOf(s.durable.Seq) >= s.ageNext
	if !tooBig && !tooOld {
		return
	}
	first := max(old.id*SegmentRecords+1, s.base.Seq+1)
	if s.witnessed != old.id+1 {
		s.witness(old, first, tooBig)
		return
	}
	if s.witnessSeq > s.durable.Seq {
		return // the sync that makes the witness durable calls again
	}
	if !tooBig {
		s.ageNext = segmentOf(s.durable.Seq) + 1
	}
	batch := make([]env.DiskWrite, 0, SegmentRecords+1)
	batch = append(batch, env.DiskWrite{Key: []byte(BaseKey), Value: env.Seal(marshalBase(old.last))})
	for seq := first; seq <= old.last.Seq; seq++ {
		batch = append(batch, env.DiskWrite{Key: RecordKey(seq), Delete: true})
	}
	s.dropping = true
	s.env.Submit(env.DiskOp{Kind: env.DiskBatch, Tag: tagDrop<<tagKindShift | old.id, Batch: batch})
	s.env.Submit(env.DiskOp{Kind: env.DiskSync, Tag: tagDrop << tagKindShift})
}

// witness appends the KindRetention record announcing the drop of
// seqs first..old.last.Seq; the drop waits for it to be durable.
func (s *Service) witness(old *segment, first uint64, bySize bool) {
	if len(s.inflight) >= InflightRecordsMax || s.head.Seq >= seqMax {
		return // retried as records become durable
	}
	reason := fmt.Sprintf("age: newest record %v old, bound %v", s.env.Now().Sub(old.newest), s.cfg.RetainAge)
	if bySize {
		reason = fmt.Sprintf("size: %d bytes held, bound %d", s.held, s.cfg.RetainBytes)
	}
	s.append(Event{Kind: KindRetention, Actor: "node", Subject: FormatHead(old.last),
		Detail: fmt.Sprintf("dropping seqs %d..%d (%d bytes, oldest record time %d); %s",
			first, old.last.Seq, old.bytes, old.oldest, reason)})
	s.witnessed, s.witnessSeq = old.id+1, s.head.Seq
}

// onDrop handles a drop's batch and the sync after it. The base moves
// when the batch applied: every op submitted after it (a ReadRecords
// scan) sees the segment gone, and completions arrive in submission
// order, so a read's reply states the base its scan saw.
func (s *Service) onDrop(d env.DiskDone) {
	if d.Op.Kind == env.DiskBatch {
		if d.Result.Err != nil {
			s.dropFailures++
			s.env.Log().Error("audit: retention drop failed", "segment", d.Op.Tag&seqMax, "err", d.Result.Err)
			return
		}
		if len(s.segs) == 0 || s.segs[0].id != d.Op.Tag&seqMax {
			return // the service restarted meanwhile
		}
		old := s.segs[0]
		records := old.last.Seq - max(old.id*SegmentRecords, s.base.Seq)
		s.base = old.last
		s.held -= old.bytes
		s.segs = append(s.segs[:0], s.segs[1:]...)
		s.env.Metrics().Add(MetricRetentionDroppedRecord, "", float64(records))
		s.env.Metrics().Add(MetricRetentionDroppedSeg, "", 1)
		return
	}
	if !s.dropping {
		return
	}
	s.dropping = false
	if d.Result.Err != nil {
		s.dropFailures++
		s.env.Log().Error("audit: sync after a retention drop failed", "err", d.Result.Err)
	} else if s.base.Seq >= s.witnessedEnd() {
		// Reset only once a drop is applied and synced: a batch that
		// applies and a sync that fails, again and again, must trip
		// WriteAttemptsMax.
		s.dropFailures = 0
	}
	if s.dropFailures >= WriteAttemptsMax {
		s.env.Log().Error("audit: retention stopped after repeated failures; the log grows until restart")
	}
	s.maybeDrop()
}

// marshalBase encodes the base: uvarint format | uvarint seq | raw[32] hash.
func marshalBase(h Head) []byte {
	b := wire.AppendUvarint(nil, baseFormat)
	b = wire.AppendUvarint(b, h.Seq)
	return append(b, h.Hash[:]...)
}

// DecodeBase decodes the base as stored under BaseKey (sealed).
func DecodeBase(value []byte) (Head, error) {
	plain, err := env.Unseal(value)
	if err != nil {
		return Head{}, err
	}
	rd := wire.NewReader(plain)
	if f := rd.Uvarint(); rd.Err() == nil && f != baseFormat {
		return Head{}, fmt.Errorf("%w: base format %d", ErrMalformed, f)
	}
	var h Head
	h.Seq = rd.Uvarint()
	rd.Fixed(h.Hash[:])
	if err := rd.Done(); err != nil {
		return Head{}, fmt.Errorf("%w: base: %v", ErrMalformed, err)
	}
	if h.Seq == 0 || h.Seq >= seqMax {
		return Head{}, fmt.Errorf("%w: base seq %d", ErrMalformed, h.Seq)
	}
	return h, nil
}

// witnessedEnd is the last seq of the segment the current witness
// announces the drop of (0 when none).
func (s *Service) witnessedEnd() uint64 {
	if s.witnessed == 0 {
		return 0
	}
	return segmentEnd(s.witnessed - 1)
}

// FormatHead is a head as "<seq>:<hash, 64 hex digits>" (a retention
// record's Subject; io/gateway's X-Ron-Audit-Head uses the same form).
func FormatHead(h Head) string { return fmt.Sprintf("%d:%x", h.Seq, h.Hash) }

// ParseHead parses FormatHead's output.
func ParseHead(text string) (Head, error) {
	var h Head
	var hash []byte
	if n, err := fmt.Sscanf(text, "%d:%x", &h.Seq, &hash); n != 2 || err != nil || len(hash) != len(h.Hash) ||
		FormatHead(Head{Seq: h.Seq, Hash: [32]byte(hash)}) != text {
		return Head{}, fmt.Errorf("%w: head %q is not <seq>:<64 hex>", ErrMalformed, text)
	}
	copy(h.Hash[:], hash)
	return h, nil
}

// VerifyBaseWitnessed checks a retention base against the records held
// after it (VerifyFrom proved them chained to it): a base the node's
// retention wrote ends a segment (a multiple of SegmentRecords) and is
// named by a KindRetention record chained after it, appended before the
// drop. A base that fails either was not written by retention: records
// were cut from the log's start by someone else. The zero base passes.
//
// What it cannot catch: a cut exactly at a base retention announced
// (the node's own drops), and logs cut before retention records existed.
func VerifyBaseWitnessed(base Head, records []Record) error {
	if base.Seq == 0 {
		return nil
	}
	if base.Seq%SegmentRecords != 0 {
		return fmt.Errorf("%w: retention base seq %d is not a segment end (a multiple of %d): records were cut by something other than retention",
			ErrBroken, base.Seq, SegmentRecords)
	}
	want := FormatHead(base)
	for i := range records {
		if records[i].Kind == KindRetention && records[i].Subject == want {
			return nil
		}
	}
	return fmt.Errorf("%w: no retention record in the log names the base (seq %d): the records before it were cut by something other than retention",
		ErrBroken, base.Seq)
}
