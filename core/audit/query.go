package audit

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
)

// Request bodies for callers outside the node loop (the HTTP gateway runs
// on its own goroutines and cannot publish on the bus): Append records an
// event, ReadRecords pages through the stored log.
const (
	// ReadsInflightMax bounds ReadRecords requests waiting for their scan.
	ReadsInflightMax = 16
	// ReadPageRecordsMax bounds the records of one ReadRecords page.
	ReadPageRecordsMax = 512
	// readSlotMask keeps a read's slot number inside a disk tag.
	readSlotMask = 1<<tagKindShift - 1
)

// tagRead marks a ReadRecords scan; the low bits carry the read's id.
const tagRead = 6

// ErrBusy is replied when ReadsInflightMax reads are already waiting.
var ErrBusy = errors.New("audit: too many reads in flight")

// ErrUnavailable is replied to Append when the log cannot take the event
// (it stopped appending, or the backlog is full).
var ErrUnavailable = errors.New("audit: log unavailable")

// Append is a Request body: record Event. The reply is an AppendResult
// sent as soon as the record is chained (or queued while the log
// recovers), not when it is durable: callers on a request path should not
// wait for a sync, and audit_append_latency_seconds still measures event
// to durability.
type Append struct{ Event Event }

// AppendResult answers Append. Seq is the record's seq, 0 when the event
// was queued behind recovery.
type AppendResult struct {
	Seq uint64
	Err error
}

// ReadRecords is a Request body: up to Limit records (1..ReadPageRecordsMax)
// with seq >= From, in seq order, as stored. The reply is a RecordsPage;
// when retention dropped records From asks for, the page says so
// (Truncated) rather than silently starting later.
type ReadRecords struct {
	From  uint64
	Limit int
}

// RecordsPage answers ReadRecords. More is set when records after the
// last returned one may exist. Err is set when a stored record does not
// decode (its seal or encoding is broken): Records then ends just before
// it and BadSeq names it.
//
// Base is the head of the records retention dropped when the scan ran
// (zero when none were): records start at Base.Seq+1 at the earliest,
// and the first links to Base.Hash (VerifyFrom). Truncated is set when
// From is at or below Base.Seq: the range asked for starts before the
// retained log, and records From..Base.Seq are gone, not missing.
type RecordsPage struct {
	Records   []Record
	More      bool
	BadSeq    uint64
	Err       error
	Base      Head
	Truncated bool
}

// pendingRead is a ReadRecords waiting for its scan.
type pendingRead struct {
	id    uint64
	reqID env.RequestID
	limit int
	from  uint64
}

func (s *Service) onRequest(in env.Request) {
	switch body := in.Body.(type) {
	case HeadQuery:
		s.env.Reply(in.ID, s.Status())
	case Append:
		s.env.Reply(in.ID, s.appendRequested(body.Event))
	case ReadRecords:
		s.startRead(in.ID, body)
	default:
		s.env.Reply(in.ID, fmt.Errorf("%w: %T", node.ErrUnknownRequest, in.Body))
	}
}

// appendRequested is onEvent with an answer: the seq of the new record, or
// why the event was not taken.
func (s *Service) appendRequested(e Event) AppendResult {
	if !e.Kind.Valid() {
		s.drop("invalid")
		return AppendResult{Err: fmt.Errorf("audit: invalid kind %d", e.Kind)}
	}
	before := s.head.Seq
	queued := len(s.pending)
	s.onEvent(e)
	switch {
	case s.head.Seq == before+1:
		return AppendResult{Seq: s.head.Seq}
	case len(s.pending) == queued+1:
		return AppendResult{}
	}
	return AppendResult{Err: ErrUnavailable}
}

func (s *Service) startRead(id env.RequestID, q ReadRecords) {
	if q.Limit <= 0 || q.Limit > ReadPageRecordsMax {
		s.env.Reply(id, fmt.Errorf("audit: read limit %d outside 1..%d", q.Limit, ReadPageRecordsMax))
		return
	}
	if len(s.reads) >= ReadsInflightMax {
		s.env.Reply(id, ErrBusy)
		return
	}
	s.nextRead = (s.nextRead + 1) & readSlotMask
	s.reads = append(s.reads, pendingRead{id: s.nextRead, reqID: id, limit: q.Limit, from: max(q.From, 1)})
	s.env.Submit(env.DiskOp{Kind: env.DiskScan, Tag: tagRead<<tagKindShift | s.nextRead,
		Prefix: []byte(KeyPrefix), Start: RecordKey(max(q.From, 1)), Limit: q.Limit})
}

func (s *Service) onReadDone(d env.DiskDone) {
	id := d.Op.Tag & readSlotMask
	i := 0
	for i < len(s.reads) && s.reads[i].id != id {
		i++
	}
	if i == len(s.reads) {
		return // a read from before a restart of this service
	}
	rd := s.reads[i]
	s.reads = append(s.reads[:i], s.reads[i+1:]...)
	if d.Result.Err != nil {
		s.env.Reply(rd.reqID, fmt.Errorf("audit: reading the log: %w", d.Result.Err))
		return
	}
	// Completions arrive in submission order, so s.base is the base the
	// scan saw: a drop's batch submitted before the scan has completed.
	if s.baseErr != nil {
		s.env.Reply(rd.reqID, fmt.Errorf("%w: %v", ErrUnavailable, s.baseErr))
		return
	}
	page := pageOf(d.Result)
	page.Base, page.Truncated = s.base, rd.from <= s.base.Seq
	s.env.Reply(rd.reqID, page)
}

// pageOf decodes a scan; it stops at the first pair that does not decode.
func pageOf(res env.DiskResult) RecordsPage {
	page := RecordsPage{Records: make([]Record, 0, len(res.Pairs)), More: res.More}
	for _, kv := range res.Pairs {
		r, err := DecodeStored(kv.Key, kv.Value)
		if err != nil {
			page.BadSeq = seqOfKey(kv.Key)
			page.Err = fmt.Errorf("audit: stored record %q: %w", kv.Key, err)
			page.More = false
			return page
		}
		page.Records = append(page.Records, r)
	}
	return page
}

// seqOfKey parses the seq of a record key; 0 when the key is not one.
func seqOfKey(key []byte) uint64 {
	var seq uint64
	hexDigits, ok := bytes.CutPrefix(key, []byte(KeyPrefix))
	if !ok || len(hexDigits) != 16 {
		return 0
	}
	if _, err := fmt.Sscanf(string(hexDigits), "%016x", &seq); err != nil {
		return 0
	}
	return seq
}
