package audit

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/ron-network/ron/core/env"
)

// futureKind is a kind number this build does not define, as a newer
// build would write it.
const futureKind Kind = kindLast + 1

// writeRaw chains records of the given kinds onto the durable head and
// writes them with the lowest-level encoder (Marshal, env.Seal), straight
// to the disk, as a newer build would have before a downgrade. It
// returns the new head.
func (h *harness) writeRaw(kinds ...Kind) Head {
	h.t.Helper()
	head := h.svc.Status().Durable
	for i, k := range kinds {
		r := Record{Seq: head.Seq + 1, Time: env.Time(i + 1), Kind: k, Actor: "future",
			Subject: "thing-" + k.String(), Detail: "written by a newer build", Prev: head.Hash}
		h.e.Submit(env.DiskOp{Kind: env.DiskPut, Key: RecordKey(r.Seq), Value: env.Seal(r.Marshal())})
		head = Head{Seq: r.Seq, Hash: r.Hash()}
	}
	h.e.Submit(env.DiskOp{Kind: env.DiskSync})
	h.e.CompleteDisk()
	return head
}

// A record of a kind this build does not define has the same framing as
// any other: it decodes, re-encodes to the bytes its hash covers, and
// chains. Only kind 0 (never assigned) is malformed.
func TestUnknownKindRecordDecodesAndVerifies(t *testing.T) {
	recs := chain(4)
	for _, k := range []Kind{futureKind, 255} {
		recs[2].Kind = k
		for i := 2; i < len(recs); i++ {
			recs[i].Prev = recs[i-1].Hash()
		}
		b := recs[2].Marshal()
		got, err := UnmarshalRecord(b)
		if err != nil {
			t.Fatalf("kind %d: does not decode: %v", k, err)
		}
		if got != recs[2] || !bytes.Equal(got.Marshal(), b) || got.Hash() != recs[2].Hash() {
			t.Fatalf("kind %d: decodes to %+v, want %+v byte for byte", k, got, recs[2])
		}
		if bad, err := VerifyHead(recs, HeadOf(recs)); err != nil {
			t.Fatalf("kind %d: chain with it does not verify: record %d: %v", k, bad, err)
		}
		if got.Kind.Valid() || got.Kind.String() != fmt.Sprintf("unknown kind %d", k) {
			t.Fatalf("kind %d: Valid %v, String %q", k, got.Kind.Valid(), got.Kind)
		}
	}
	recs[2].Kind = 0
	if _, err := UnmarshalRecord(recs[2].Marshal()); !errors.Is(err, ErrMalformed) {
		t.Fatalf("kind 0 decoded: %v", err)
	}
	if _, err := Verify(recs); !errors.Is(err, ErrBroken) {
		t.Fatalf("a chain with a kind 0 record verified: %v", err)
	}
}

// A node downgraded to this build from one that wrote records of a kind
// it does not define keeps them: recovery neither discards them as a
// crash tail (few records after them) nor stops the log (many), the
// chain goes on after them, reads serve them and it all verifies.
func TestRecoveryKeepsUnknownKindRecords(t *testing.T) {
	for _, after := range []int{0, 3, InflightRecordsMax + 10} {
		h := newHarness(t)
		h.publish(5)
		h.settle()
		kinds := []Kind{futureKind}
		for i := 0; i < after; i++ {
			kinds = append(kinds, KindNameWrite)
		}
		kinds = append(kinds, 255) // and one more at the very end
		head := h.writeRaw(kinds...)
		h.restart()
		st := h.svc.Status()
		if !st.Ready || st.Broken || st.Durable != head {
			t.Fatalf("%d after: recovered %+v, want ready at head %+v", after, st, head)
		}
		if got := h.e.Recorder.Values[MetricRecoveryDiscarded]; got != 0 {
			t.Fatalf("%d after: discarded %v records", after, got)
		}
		h.publish(2)
		h.settle()
		h.svc.CheckInvariants()
		records := h.stored()
		if len(records) != 5+len(kinds)+2 || records[5].Kind != futureKind || records[len(records)-3].Kind != 255 {
			t.Fatalf("%d after: %d records on disk, want %d with the unknown kinds kept", after, len(records), 5+len(kinds)+2)
		}
		if bad, err := VerifyHead(records, h.svc.Status().Durable); err != nil {
			t.Fatalf("%d after: stored chain: record %d: %v", after, bad, err)
		}
		page := h.request(9, ReadRecords{From: 6, Limit: 1})[0].(RecordsPage)
		if page.Err != nil || len(page.Records) != 1 || page.Records[0].Kind != futureKind {
			t.Fatalf("%d after: read of seq 6: %+v", after, page)
		}
	}
}

// Retention counts and drops segments holding records of unknown kinds
// like any other, and such a record is never taken for a retention
// witness, whatever its subject says.
func TestRetentionWithUnknownKindRecords(t *testing.T) {
	h, _ := retainHarness(t)
	h.writeRaw(futureKind, futureKind)
	h.restart()
	if st := h.svc.Status(); !st.Ready || st.Durable.Seq != SegmentRecords+2 {
		t.Fatalf("recovered %+v", st)
	}
	h.fill(5*SegmentRecords + 100)
	base, recs := h.storedFrom()
	if base.Seq < 2*SegmentRecords {
		t.Fatalf("base %+v: the segment holding the unknown kinds was not dropped", base)
	}
	if bad, err := VerifyHeadFrom(base, recs, h.svc.Status().Durable); err != nil {
		t.Fatalf("retained chain: record %d: %v", bad, err)
	}
	if err := VerifyBaseWitnessed(base, recs); err != nil {
		t.Fatal(err)
	}
	fake := chain(SegmentRecords + 2)
	b := HeadOf(fake[:SegmentRecords])
	fake[SegmentRecords].Kind, fake[SegmentRecords].Subject = futureKind, FormatHead(b)
	fake[SegmentRecords+1].Prev = fake[SegmentRecords].Hash()
	if err := VerifyBaseWitnessed(b, fake[SegmentRecords:]); !errors.Is(err, ErrBroken) {
		t.Fatalf("a record of an unknown kind witnessed a base: %v", err)
	}
}
