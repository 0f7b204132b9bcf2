package audit

import (
	"errors"
	"testing"

	"github.com/ron-network/ron/core/env"
)

// A log that stops at recovery on a break in its middle still states its
// base: a verifier of what it serves is pointed at the real break, not at
// a missing seq 1.
func TestRetentionStoppedLogKeepsItsBase(t *testing.T) {
	h, _ := retainHarness(t)
	h.fill(5 * SegmentRecords)
	st := h.svc.Status()
	if st.Base.Seq == 0 {
		t.Fatal("nothing dropped")
	}
	breakSeq := st.Base.Seq + 10
	v, _ := h.e.Stored(string(RecordKey(breakSeq)))
	v[len(v)-1] ^= 1 // the fake store hands out its own slice
	h.restart()
	got := h.svc.Status()
	if !got.Broken || got.Base != st.Base {
		t.Fatalf("after restart: %+v, want broken with base %+v", got, st.Base)
	}
	page := h.request(9, ReadRecords{From: 1, Limit: 20})[0].(RecordsPage)
	if page.Base != st.Base || !page.Truncated {
		t.Fatalf("page base %+v truncated %v, want base %+v", page.Base, page.Truncated, st.Base)
	}
	if _, err := VerifyFrom(page.Base, page.Records); err != nil {
		t.Fatalf("records before the break do not verify from the base: %v", err)
	}
	if page.BadSeq != breakSeq {
		t.Fatalf("page names seq %d as bad, want %d", page.BadSeq, breakSeq)
	}
}

// A base that does not decode: reads answer an error naming it rather
// than a page with no base (whose records would look cut at seq 1).
func TestRetentionCorruptBaseReadsFail(t *testing.T) {
	h, _ := retainHarness(t)
	h.fill(4 * SegmentRecords)
	v, _ := h.e.Stored(BaseKey)
	v[len(v)-1] ^= 1
	h.restart()
	resp := h.request(9, ReadRecords{From: 1, Limit: 5})[0]
	err, ok := resp.(error)
	if !ok || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("read over a corrupt base answered %#v", resp)
	}
}

// A lost base with a retained log (first record a segment start above 1)
// is not a crash tail: the log stops and deletes nothing.
func TestRetentionLostBaseDeletesNothing(t *testing.T) {
	h := newHarness(t)
	h.cfg = Config{RetainBytes: RetainBytesDefault, RetainAge: 3600e9}
	h.restart()
	h.fill(SegmentRecords + 10)
	h.e.Clock += 7200e9
	h.fill(SegmentRecords + 20)
	st := h.svc.Status()
	if st.Base.Seq != SegmentRecords {
		t.Fatalf("base %+v, want the first segment dropped", st.Base)
	}
	h.e.Submit(env.DiskOp{Kind: env.DiskDelete, Key: []byte(BaseKey)})
	h.e.CompleteDisk()
	h.restart()
	got := h.svc.Status()
	if !got.Broken {
		t.Fatalf("after losing the base: %+v, want a stopped log", got)
	}
	for seq := st.Base.Seq + 1; seq <= st.Durable.Seq; seq++ {
		if _, ok := h.e.Stored(string(RecordKey(seq))); !ok {
			t.Fatalf("seq %d deleted after the base was lost", seq)
		}
	}
}
