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
)

// Retention metrics.
const (
	MetricRetainedBytes          = "audit_retained_bytes"
	MetricRetentionDroppedRecord = "audit_retention_dropped_records_total"
	MetricRetentionDroppedSeg    = "audit_retention_dropped_segments_total"
)

var _ = env.Declare(
	env.MetricDef{Name: MetricRetainedBytes, Kind: env.Gauge,
		Help: "Bytes (keys and sealed values) of the audit records the log holds."},
	env.MetricDef{Name: MetricRetentionDroppedRecord, Kind: env.Counter,
		Help: "Audit records deleted by retention (audit_retain_bytes, audit_retain_age)."},
	env.MetricDef{Name: MetricRetentionDroppedSeg, Kind: env.Counter,
		Help: "Audit log segments deleted by retention."},
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
	if c.RetainAge < 0 {
		return fmt.Errorf("audit: negative retain age %v", c.RetainAge)
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
		segs = append(segs, segment{id: id})
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
func (s *Service) maybeDrop() {
	s.env.Metrics().Set(MetricRetainedBytes, "", float64(s.held))
	if s.state != stateReady || s.dropping || s.dropFailures >= WriteAttemptsMax || len(s.segs) < 2 {
		return
	}
	old := &s.segs[0]
	if old.last.Seq != segmentEnd(old.id) || old.last.Seq > s.durable.Seq {
		return
	}
	tooBig := s.held > s.cfg.RetainBytes
	tooOld := s.cfg.RetainAge > 0 && s.env.Now().Sub(old.newest) > s.cfg.RetainAge
	if !tooBig && !tooOld {
		return
	}
	first := max(old.id*SegmentRecords+1, s.base.Seq+1)
	batch := make([]env.DiskWrite, 0, SegmentRecords+1)
	batch = append(batch, env.DiskWrite{Key: []byte(BaseKey), Value: env.Seal(marshalBase(old.last))})
	for seq := first; seq <= old.last.Seq; seq++ {
		batch = append(batch, env.DiskWrite{Key: RecordKey(seq), Delete: true})
	}
	s.dropping = true
	s.env.Submit(env.DiskOp{Kind: env.DiskBatch, Tag: tagDrop<<tagKindShift | old.id, Batch: batch})
	s.env.Submit(env.DiskOp{Kind: env.DiskSync, Tag: tagDrop << tagKindShift})
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
		s.dropFailures = 0
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
