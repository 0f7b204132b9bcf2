package audit

import (
	"errors"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/envtest"
)

// fill publishes and settles until the durable head reaches seq.
func (h *harness) fill(seq uint64) {
	h.t.Helper()
	for h.svc.Status().Durable.Seq < seq {
		h.publish(int(min(seq-h.svc.Status().Durable.Seq, InflightRecordsMax/2)))
		h.settle()
		h.svc.CheckInvariants()
	}
}

// storedFrom reads the records on disk after the stored base, the way an
// external verifier would, and checks nothing at or below the base is
// left.
func (h *harness) storedFrom() (Head, []Record) {
	h.t.Helper()
	var base Head
	if v, ok := h.e.Stored(BaseKey); ok {
		var err error
		if base, err = DecodeBase(v); err != nil {
			h.t.Fatalf("stored base: %v", err)
		}
	}
	for seq := uint64(1); seq <= base.Seq; seq++ {
		if _, ok := h.e.Stored(string(RecordKey(seq))); ok {
			h.t.Fatalf("seq %d at or below the base (seq %d) still on disk", seq, base.Seq)
		}
	}
	var out []Record
	for seq := base.Seq + 1; ; seq++ {
		v, ok := h.e.Stored(string(RecordKey(seq)))
		if !ok {
			return base, out
		}
		r, err := DecodeStored(RecordKey(seq), v)
		if err != nil {
			h.t.Fatalf("seq %d: %v", seq, err)
		}
		out = append(out, r)
	}
}

// retainHarness returns a harness whose bound holds two and a half
// segments of the records publish writes.
func retainHarness(t *testing.T) (h *harness, segBytes int64) {
	h = newHarness(t)
	h.fill(SegmentRecords)
	segBytes = h.svc.held
	h.cfg = Config{RetainBytes: 2*segBytes + segBytes/2}
	h.restart()
	return h, segBytes
}

// Retention drops whole oldest segments once the log holds more than the
// bound, keeps the newest records, and the retained chain verifies from
// the stored base, across a restart too.
func TestRetentionDropsWholeOldestSegments(t *testing.T) {
	h, segBytes := retainHarness(t)
	h.fill(5*SegmentRecords + 100)
	st := h.svc.Status()
	base, recs := h.storedFrom()
	if base.Seq == 0 || base.Seq%SegmentRecords != 0 || st.Base != base {
		t.Fatalf("base %+v (status %+v), want a segment's end", base, st.Base)
	}
	if held := h.svc.held; held > h.cfg.RetainBytes+segBytes || held < h.cfg.RetainBytes-segBytes {
		t.Fatalf("held %d bytes, bound %d, segment %d", held, h.cfg.RetainBytes, segBytes)
	}
	if uint64(len(recs)) != st.Durable.Seq-base.Seq || recs[len(recs)-1].Seq != st.Durable.Seq {
		t.Fatalf("%d records kept after base %d, head %d: the newest must be kept", len(recs), base.Seq, st.Durable.Seq)
	}
	if bad, err := VerifyHeadFrom(base, recs, st.Durable); err != nil {
		t.Fatalf("retained chain: record %d: %v", bad, err)
	}
	if _, err := Verify(recs); err == nil {
		t.Fatal("Verify from seq 1 accepted a log that starts after the base")
	}
	m := h.e.Recorder.Values
	if m[MetricRetentionDroppedRecord] != float64(base.Seq) || m[MetricRetentionDroppedSeg] != float64(base.Seq/SegmentRecords) {
		t.Fatalf("dropped metrics %v records, %v segments; base seq %d", m[MetricRetentionDroppedRecord], m[MetricRetentionDroppedSeg], base.Seq)
	}
	if m[MetricRetainedBytes] != float64(h.svc.held) {
		t.Fatalf("retained bytes gauge %v, held %d", m[MetricRetainedBytes], h.svc.held)
	}
	held := h.svc.held
	h.restart()
	if got := h.svc.Status(); !got.Ready || got.Durable != st.Durable || got.Base != base || h.svc.held != held {
		t.Fatalf("after restart %+v held %d, want head %+v base %+v held %d", got, h.svc.held, st.Durable, base, held)
	}
	h.fill(st.Durable.Seq + 3)
	base, recs = h.storedFrom()
	if bad, err := VerifyHeadFrom(base, recs, h.svc.Status().Durable); err != nil {
		t.Fatalf("chain after restart and appends: record %d: %v", bad, err)
	}
}

// The age bound drops a segment whose newest record is older than it.
func TestRetentionByAge(t *testing.T) {
	h := newHarness(t)
	h.cfg = Config{RetainBytes: RetainBytesDefault, RetainAge: 3600e9}
	h.restart()
	h.fill(2*SegmentRecords + 10)
	if h.svc.Status().Base.Seq != 0 {
		t.Fatalf("dropped young segments: base %+v", h.svc.Status().Base)
	}
	h.e.Clock += 7200e9
	h.fill(2*SegmentRecords + 20)
	// Age drops are paced by growth: one now, the next once the log has
	// started a new segment.
	if got := h.svc.Status().Base.Seq; got != SegmentRecords {
		t.Fatalf("base seq %d after the age bound passed, want %d (one segment per segment written)", got, SegmentRecords)
	}
	h.fill(3*SegmentRecords + 20)
	if got := h.svc.Status().Base.Seq; got != 2*SegmentRecords {
		t.Fatalf("base seq %d once a new segment started, want %d", got, 2*SegmentRecords)
	}
	// The oldest held record (seq 2*SegmentRecords+1) was written before
	// the clock moved 2 h.
	if age := h.e.Recorder.Values[MetricOldestRecordAge]; age < 7200 || age > 7300 {
		t.Fatalf("oldest record age %v s, want about 7200", age)
	}
}

// A clock that jumps far ahead drops one segment, then no faster than
// the log grows; a segment whose records are in the future (the clock
// went back) is never old.
func TestRetentionByAgeDistrustsTheClock(t *testing.T) {
	h := newHarness(t)
	h.cfg = Config{RetainBytes: RetainBytesDefault, RetainAge: 3600e9}
	h.restart()
	h.e.Clock += 1000 * 3600e9
	h.fill(4*SegmentRecords + 10)
	h.e.Clock -= 1000 * 3600e9 // back: every held record is in the future
	h.fill(4*SegmentRecords + 20)
	if got := h.svc.Status().Base.Seq; got != 0 {
		t.Fatalf("base seq %d: dropped records from the future", got)
	}
	h.e.Clock += 100 * 365 * 24 * 3600e9 // a century ahead: all are old
	h.fill(4*SegmentRecords + 30)
	if got := h.svc.Status().Base.Seq; got != SegmentRecords {
		t.Fatalf("base seq %d after a clock jump, want %d (one segment)", got, SegmentRecords)
	}
	h.fill(5*SegmentRecords - 1)
	if got := h.svc.Status().Base.Seq; got != SegmentRecords {
		t.Fatalf("base seq %d before a new segment started, want %d", got, SegmentRecords)
	}
}

// Every drop is announced by a retention record chained before it, which
// names the base: the stored log passes VerifyBaseWitnessed, and a prefix
// cut with a forged base (sealed with the same CRC) does not.
func TestRetentionDropsAreWitnessed(t *testing.T) {
	h, _ := retainHarness(t)
	h.fill(5 * SegmentRecords)
	base, recs := h.storedFrom()
	if base.Seq == 0 {
		t.Fatal("nothing dropped")
	}
	if err := VerifyBaseWitnessed(base, recs); err != nil {
		t.Fatalf("retention's own base: %v", err)
	}
	var witnesses int
	for _, r := range recs {
		if r.Kind == KindRetention {
			witnesses++
			if h, err := ParseHead(r.Subject); err != nil || h.Seq%SegmentRecords != 0 || h.Seq >= r.Seq {
				t.Fatalf("retention record %d names %q (%v)", r.Seq, r.Subject, err)
			}
		}
	}
	if witnesses == 0 {
		t.Fatal("no retention record held")
	}
	// An intruder cuts one more segment and writes a matching base.
	cut := HeadOf(recs[:SegmentRecords])
	if cut.Seq%SegmentRecords != 0 {
		t.Fatalf("cut at seq %d", cut.Seq)
	}
	if _, err := VerifyFrom(cut, recs[SegmentRecords:]); err != nil {
		t.Fatalf("the forged base chains: %v", err)
	}
	if err := VerifyBaseWitnessed(cut, recs[SegmentRecords:]); !errors.Is(err, ErrBroken) {
		t.Fatalf("a prefix cut with a forged base: %v", err)
	}
	odd := HeadOf(recs[:10])
	if err := VerifyBaseWitnessed(odd, recs[10:]); !errors.Is(err, ErrBroken) {
		t.Fatalf("a base inside a segment: %v", err)
	}
}

// A drop whose batch applies but whose sync keeps failing stops retention
// after WriteAttemptsMax attempts (the batch's success must not reset the
// count the sync's failure raised).
func TestRetentionStopsAfterRepeatedSyncFailures(t *testing.T) {
	h, _ := retainHarness(t)
	h.fill(2*SegmentRecords + SegmentRecords/2 + 10)
	h.svc.dropFailures = 0
	for i := 0; i < 3*WriteAttemptsMax; i++ {
		h.svc.dropping = true
		envtest.Step(h.svc, env.DiskDone{Op: env.DiskOp{Kind: env.DiskBatch, Tag: tagDrop<<tagKindShift | 1<<40}})
		envtest.Step(h.svc, env.DiskDone{Op: env.DiskOp{Kind: env.DiskSync, Tag: tagDrop << tagKindShift},
			Result: env.DiskResult{Err: errors.New("disk on fire")}})
	}
	if h.svc.dropFailures < WriteAttemptsMax {
		t.Fatalf("drop failures %d after %d failed syncs, want retention stopped", h.svc.dropFailures, 3*WriteAttemptsMax)
	}
}

func TestConfigValidateRetainAge(t *testing.T) {
	for _, c := range []struct {
		age time.Duration
		ok  bool
	}{{0, true}, {RetainAgeMin, true}, {time.Minute, false}, {-time.Hour, false}} {
		if err := (Config{RetainAge: c.age}).Validate(); (err == nil) != c.ok {
			t.Errorf("retain age %v: %v", c.age, err)
		}
	}
}

// A crash at each step of a drop (before its batch ran, after the batch,
// after its sync) leaves a log that recovers with the same head, verifies
// from its base, and goes on dropping.
func TestRetentionSurvivesACrashAtEachStep(t *testing.T) {
	for step := 0; step <= 2; step++ {
		h, _ := retainHarness(t)
		h.fill(2*SegmentRecords + SegmentRecords/2 - 10)
		if h.svc.Status().Base.Seq != 0 {
			t.Fatalf("step %d: dropped before the bound", step)
		}
		// Twenty more records push the log past the bound: the sync that
		// makes them durable submits the drop.
		h.publish(20)
		for i := 0; i < 100 && !h.svc.dropping; i++ {
			h.stepAll(h.e.CompleteDiskN(1))
			h.stepAll(h.e.Advance(SyncDelay))
		}
		if !h.svc.dropping || h.e.PendingDisk() != 2 {
			t.Fatalf("step %d: no drop pending (%d disk ops)", step, h.e.PendingDisk())
		}
		head := h.svc.Status().Durable
		for _, in := range h.e.CompleteDiskN(step) {
			envtest.Step(h.svc, in)
		}
		h.e.Crash()
		h.restart()
		st := h.svc.Status()
		if !st.Ready || st.Durable != head {
			t.Fatalf("step %d: recovered %+v, want ready at head %+v", step, st, head)
		}
		base, recs := h.storedFrom()
		if bad, err := VerifyHeadFrom(base, recs, head); err != nil {
			t.Fatalf("step %d: chain after the crash: record %d: %v", step, bad, err)
		}
		// Recovery goes on with the drop the crash interrupted.
		if st.Base.Seq != SegmentRecords || base != st.Base {
			t.Fatalf("step %d: base %+v, stored %+v; want the first segment dropped", step, st.Base, base)
		}
	}
}

// ReadRecords says when the range asked for starts before the retained
// log, and returns from the first retained record.
func TestReadRecordsReportsRetainedRange(t *testing.T) {
	h, _ := retainHarness(t)
	h.fill(4 * SegmentRecords)
	base := h.svc.Status().Base
	if base.Seq == 0 {
		t.Fatal("nothing dropped")
	}
	page := h.request(1, ReadRecords{From: 1, Limit: 3})[0].(RecordsPage)
	if !page.Truncated || page.Base != base || len(page.Records) != 3 || page.Records[0].Seq != base.Seq+1 {
		t.Fatalf("read from 1: truncated %v base %+v first %d", page.Truncated, page.Base, page.Records[0].Seq)
	}
	if _, err := VerifyFrom(page.Base, page.Records); err != nil {
		t.Fatalf("page from the base: %v", err)
	}
	page = h.request(2, ReadRecords{From: base.Seq + 1, Limit: 3})[0].(RecordsPage)
	if page.Truncated || page.Records[0].Seq != base.Seq+1 {
		t.Fatalf("read from the first retained record: truncated %v first %d", page.Truncated, page.Records[0].Seq)
	}
}

// A base that does not decode stops the log: the records after it cannot
// be vouched for, and nothing is deleted.
func TestRetentionCorruptBaseStopsTheLog(t *testing.T) {
	h, _ := retainHarness(t)
	h.fill(4 * SegmentRecords)
	v, _ := h.e.Stored(BaseKey)
	v[len(v)-1] ^= 1
	st := h.svc.Status()
	h.restart()
	if !h.svc.Status().Broken {
		t.Fatalf("appending over a corrupt base: %+v", h.svc.Status())
	}
	for _, seq := range []uint64{st.Base.Seq + 1, st.Durable.Seq} {
		if _, ok := h.e.Stored(string(RecordKey(seq))); !ok {
			t.Fatalf("seq %d deleted after a corrupt base", seq)
		}
	}
	if _, ok := h.e.Stored(BaseKey); !ok {
		t.Fatal("the corrupt base was deleted")
	}
}

func TestVerifyHeadFromBase(t *testing.T) {
	var recs []Record
	var prev Head
	for seq := uint64(1); seq <= 6; seq++ {
		r := Record{Seq: seq, Kind: KindDelete, Prev: prev.Hash}
		recs = append(recs, r)
		prev = Head{Seq: seq, Hash: r.Hash()}
	}
	base := HeadOf(recs[:3])
	kept := recs[3:]
	if _, err := VerifyHeadFrom(base, kept, HeadOf(recs)); err != nil {
		t.Fatalf("retained chain: %v", err)
	}
	if _, err := VerifyHeadFrom(base, kept, base); err != nil {
		t.Fatalf("saved head at the base: %v", err)
	}
	if _, err := VerifyHeadFrom(base, kept, HeadOf(recs[:2])); !errors.Is(err, ErrRetained) {
		t.Fatalf("saved head older than the base: %v", err)
	}
	if _, err := VerifyHeadFrom(Head{Seq: 3, Hash: [32]byte{1}}, kept, HeadOf(recs)); !errors.Is(err, ErrBroken) {
		t.Fatalf("wrong base accepted: %v", err)
	}
	if _, err := VerifyHeadFrom(base, kept[1:], HeadOf(recs)); !errors.Is(err, ErrBroken) {
		t.Fatalf("first retained record removed: %v", err)
	}
}

// Records at or below the base (a disk pieced together from an older
// copy; a drop's batch is atomic and cannot leave them) are deleted at
// recovery, and the log stays ready.
func TestRetentionRecoveryDeletesRecordsBelowTheBase(t *testing.T) {
	h, _ := retainHarness(t)
	h.fill(SegmentRecords + 10)
	key := RecordKey(SegmentRecords)
	old, _ := h.e.Stored(string(key))
	old = append([]byte(nil), old...)
	h.fill(4 * SegmentRecords)
	if h.svc.Status().Base.Seq < SegmentRecords {
		t.Fatal("the first segment was not dropped")
	}
	h.e.Submit(env.DiskOp{Kind: env.DiskPut, Key: key, Value: old})
	h.e.CompleteDisk()
	st := h.svc.Status()
	h.restart()
	if got := h.svc.Status(); !got.Ready || got.Durable != st.Durable || got.Base != st.Base {
		t.Fatalf("after recovery %+v, want %+v", got, st)
	}
	if _, ok := h.e.Stored(string(key)); ok {
		t.Fatal("a record below the base is still on disk")
	}
}
