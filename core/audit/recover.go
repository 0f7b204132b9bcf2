package audit

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/ron-network/ron/core/env"
)

// recovery is the state of the start-up scan that rebuilds the chain head.
//
// The scan walks every record in key (= seq) order and follows the chain.
// Two kinds of break are told apart:
//   - a record that does not unseal or decode may be a transient read
//     fault: the whole scan is retried, up to RecoverAttemptsMax times;
//   - a record that decodes but does not link (a gap, a wrong Prev) is
//     what a crash leaves when unsynced writes survive out of order.
//
// A break followed by at most InflightRecordsMax records can only be such
// an unsynced tail (the service never has more records in flight), so those
// records were never durable, were never reported as such, and are
// deleted; the head is the last record before the break. A break followed
// by more is not a crash artifact: the service refuses to append.
//
// The base (BaseKey, retain.go) sorts first: when present the chain
// starts from it, the first record must be Base.Seq+1 and link to
// Base.Hash. Records at or below the base cannot be there (a drop is one
// atomic batch) unless a disk was pieced together from older copies; they
// were dropped by retention already and are deleted again, unchecked. A
// base that does not unseal or decode is retried like a record, then
// stops the log (the retained records cannot be vouched for without it).
// So does a missing base under a first record above seq 1: a crash
// loses a tail, never a log's first records, so those records were
// dropped by retention and the base is lost; treating the kept records
// as an unsynced tail would delete them. A decoded base is the
// service's at once (reads place the records by it, in every state).
type recovery struct {
	attempt  int
	head     Head
	base     Head
	baseErr  error
	dropped  [][]byte // keys at or below the base
	segs     []segment
	held     int64
	breakSeq uint64 // 0 while the chain holds
	breakErr error
	badBytes bool     // the break was a record that did not decode
	stale    [][]byte // keys from the break on
	// lostBase is the seq of the first record when there is no base and
	// it is above 1: retention dropped the records before it and the
	// base is gone (a crash never leaves that: see recoverPair).
	lostBase uint64
	// witness is the newest retention record read (witnessSeq its seq)
	// and the base it names: a drop it announced may still be to do.
	witness    Head
	witnessSeq uint64
}

var errUnlinked = errors.New("audit: record does not link to its predecessor")

func (s *Service) startRecovery() {
	s.state = stateRecovering
	s.head, s.durable, s.inflight = Head{}, Head{}, nil
	s.base, s.baseErr, s.segs, s.held, s.dropping, s.dropFailures = Head{}, nil, nil, 0, false, 0
	s.witnessed, s.witnessSeq, s.ageNext = 0, 0, 0
	s.syncing, s.syncDue, s.syncFailures = false, false, 0
	s.recovery = &recovery{attempt: 1}
	s.scan(nil)
}

// scan issues the next scan page; start nil begins a fresh pass.
func (s *Service) scan(start []byte) {
	rc := s.recovery
	if start == nil {
		*rc = recovery{attempt: rc.attempt}
		s.baseErr = nil
	}
	s.env.Submit(env.DiskOp{Kind: env.DiskScan, Tag: tagScan << tagKindShift, Prefix: []byte(KeyPrefix),
		Start: start, Limit: env.DiskScanLimitMax})
}

func (s *Service) onScan(d env.DiskDone) {
	rc := s.recovery
	if rc == nil || s.state != stateRecovering {
		return
	}
	if d.Result.Err != nil {
		s.retryRecovery(d.Result.Err)
		return
	}
	for _, kv := range d.Result.Pairs {
		s.recoverPair(kv)
		if len(rc.stale) > InflightRecordsMax {
			s.finishRecovery()
			return
		}
	}
	if d.Result.More && len(d.Result.Pairs) > 0 {
		last := d.Result.Pairs[len(d.Result.Pairs)-1].Key
		s.scan(append(bytes.Clone(last), 0))
		return
	}
	s.finishRecovery()
}

func (s *Service) recoverPair(kv env.KV) {
	rc := s.recovery
	if string(kv.Key) == BaseKey {
		base, err := DecodeBase(kv.Value)
		if err != nil {
			rc.baseErr = err
			s.baseErr = fmt.Errorf("the retention base %q does not decode: %w", BaseKey, err)
			return
		}
		// The base is the disk's as soon as it decodes: reads served
		// while recovery runs, or after it stopped the log, place the
		// records held after it (a verifier then names the real break,
		// not a missing seq 1).
		rc.base, rc.head = base, base
		s.base, s.baseErr = base, nil
		return
	}
	// With no base the log starts at seq 1. A first key above it is not
	// what a crash leaves (a crash loses unsynced records from the tail,
	// and the first records of a log are synced before any later drop):
	// retention dropped the records before it and the base is gone.
	// Nothing is deleted; the log stops.
	if rc.base.Seq == 0 && rc.baseErr == nil && rc.head.Seq == 0 && rc.breakSeq == 0 && seqOfKey(kv.Key) > 1 {
		rc.lostBase = seqOfKey(kv.Key)
		s.baseErr = fmt.Errorf("the log starts at seq %d and its retention base %q is missing", rc.lostBase, BaseKey)
		rc.breakSeq, rc.breakErr = 1, s.baseErr
		rc.stale = append(rc.stale, kv.Key)
		return
	}
	// Keys sort by seq: records at or below the base come before any
	// chained record, so only those are parsed.
	if rc.base.Seq != 0 && rc.head == rc.base && rc.breakSeq == 0 && seqOfKey(kv.Key) != 0 && seqOfKey(kv.Key) <= rc.base.Seq {
		rc.dropped = append(rc.dropped, kv.Key)
		return
	}
	if rc.breakSeq != 0 {
		rc.stale = append(rc.stale, kv.Key)
		return
	}
	r, err := DecodeStored(kv.Key, kv.Value)
	bad := err != nil
	if err == nil && (r.Seq != rc.head.Seq+1 || r.Prev != rc.head.Hash) {
		err = fmt.Errorf("%w: seq %d after seq %d", errUnlinked, r.Seq, rc.head.Seq)
	}
	if err != nil {
		rc.breakSeq, rc.breakErr, rc.badBytes = rc.head.Seq+1, err, bad
		rc.stale = append(rc.stale, kv.Key)
		return
	}
	rc.head = Head{Seq: r.Seq, Hash: r.Hash()}
	if r.Kind == KindRetention {
		if h, err := ParseHead(r.Subject); err == nil {
			rc.witness, rc.witnessSeq = h, r.Seq
		}
	}
	n := int64(len(kv.Key) + len(kv.Value))
	rc.held += n
	rc.segs = hold(rc.segs, r.Seq, n, r.Time, rc.head.Hash)
}

func (s *Service) finishRecovery() {
	rc := s.recovery
	if rc.baseErr != nil {
		if rc.attempt < RecoverAttemptsMax {
			s.retryRecovery(rc.baseErr)
			return
		}
		s.recovery = nil
		s.fail(fmt.Errorf("audit: the retention base %q does not decode: %w", BaseKey, rc.baseErr))
		return
	}
	if rc.lostBase != 0 {
		s.recovery = nil
		s.fail(fmt.Errorf("audit: %w: records 1..%d were dropped by retention and the base that chains the rest is lost; "+
			"nothing was deleted: restore %q (a backup, or the X-Ron-Audit-Base of an export) and restart", s.baseErr, rc.lostBase-1, BaseKey))
		return
	}
	if rc.breakSeq != 0 {
		if rc.badBytes && rc.attempt < RecoverAttemptsMax {
			s.retryRecovery(rc.breakErr)
			return
		}
		if len(rc.stale) > InflightRecordsMax {
			s.recovery = nil
			s.fail(fmt.Errorf("audit: chain breaks at seq %d with %d or more records after it: %w", rc.breakSeq, len(rc.stale), rc.breakErr))
			return
		}
		s.discardTail(rc)
	}
	if len(rc.dropped) > 0 {
		s.env.Log().Warn("audit: deleting records the retention base says were dropped",
			"base_seq", rc.base.Seq, "records", len(rc.dropped))
		for _, key := range rc.dropped {
			s.env.Submit(env.DiskOp{Kind: env.DiskDelete, Tag: tagDelete << tagKindShift, Key: key})
		}
		s.env.Submit(env.DiskOp{Kind: env.DiskSync, Tag: tagDelete << tagKindShift})
	}
	s.head, s.durable = rc.head, rc.head
	s.base, s.segs, s.held = rc.base, rc.segs, rc.held
	if len(s.segs) > 0 && rc.witnessSeq != 0 && rc.witness == s.segs[0].last {
		// The drop this record announced did not happen (a crash before
		// its batch): it is witnessed already.
		s.witnessed, s.witnessSeq = s.segs[0].id+1, rc.witnessSeq
	}
	s.state = stateReady
	s.recovery = nil
	pending := s.pending
	s.pending = nil
	for _, e := range pending {
		s.append(e)
	}
	s.maybeDrop()
}

// discardTail deletes the unsynced tail a crash left after the break. The
// deletes precede every later put in the disk's FIFO order.
func (s *Service) discardTail(rc *recovery) {
	s.env.Log().Warn("audit: discarding an unsynced tail left by a crash",
		"break_seq", rc.breakSeq, "records", len(rc.stale), "err", rc.breakErr)
	for _, key := range rc.stale {
		s.env.Submit(env.DiskOp{Kind: env.DiskDelete, Tag: tagDelete << tagKindShift, Key: key})
	}
	s.env.Submit(env.DiskOp{Kind: env.DiskSync, Tag: tagDelete << tagKindShift})
	s.env.Metrics().Add(MetricRecoveryDiscarded, "", float64(len(rc.stale)))
}

func (s *Service) retryRecovery(err error) {
	rc := s.recovery
	if rc.attempt >= RecoverAttemptsMax {
		s.recovery = nil
		s.fail(fmt.Errorf("audit: recovery failed %d times: %w", rc.attempt, err))
		return
	}
	rc.attempt++
	s.env.SetTimer(RecoverRetryDelay, tagRetry<<tagKindShift)
}

// DecodeStored decodes a record as stored under key: the seal must hold,
// the record must decode and its seq must match the key. io/ tools use it
// to read a log for Verify.
func DecodeStored(key, value []byte) (Record, error) {
	plain, err := env.Unseal(value)
	if err != nil {
		return Record{}, err
	}
	r, err := UnmarshalRecord(plain)
	if err != nil {
		return Record{}, err
	}
	if !bytes.Equal(key, RecordKey(r.Seq)) {
		return Record{}, fmt.Errorf("%w: record seq %d stored under key %q", ErrMalformed, r.Seq, key)
	}
	return r, nil
}
