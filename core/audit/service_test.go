package audit

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/envtest"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
)

// harness runs one audit service on an envtest env; the env's store
// survives a restart (a new service on the same env).
type harness struct {
	t   *testing.T
	e   *envtest.Env
	svc *Service
	// cfg, when set, replaces the service's config as is (tests use
	// retention bounds below RetainBytesMin).
	cfg Config
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, e: envtest.New(proto.NodeID{1}, 1)}
	h.restart()
	return h
}

// restart starts a fresh service on the same disk and runs recovery.
func (h *harness) restart() {
	h.svc = New(Config{})
	if h.cfg != (Config{}) {
		h.svc.cfg = h.cfg
	}
	h.svc.Init(h.e)
	envtest.Step(h.svc, env.Start{})
	h.settle()
	if !h.svc.Status().Ready && !h.svc.Status().Broken {
		h.t.Fatalf("service neither ready nor broken after recovery")
	}
}

// settle completes disk ops and fires timers until nothing is left.
func (h *harness) settle() {
	for round := 0; round < 100; round++ {
		ins := h.e.CompleteDisk()
		ins = append(ins, h.e.Advance(time.Second)...)
		if len(ins) == 0 {
			return
		}
		for _, in := range ins {
			envtest.Step(h.svc, in)
		}
	}
	h.t.Fatalf("disk and timers did not settle")
}

func (h *harness) publish(n int) {
	for i := 0; i < n; i++ {
		envtest.Step(h.svc, env.BusEvent{Topic: Topic, Event: Event{Kind: KindNameWrite, Actor: "node", Tenant: "acme", Subject: fmt.Sprintf("name-%d", i)}})
	}
}

// stored reads every record on disk, in seq order, the way an external
// verifier would.
func (h *harness) stored() []Record {
	var out []Record
	for seq := uint64(1); ; seq++ {
		v, ok := h.e.Stored(string(RecordKey(seq)))
		if !ok {
			return out
		}
		r, err := DecodeStored(RecordKey(seq), v)
		if err != nil {
			h.t.Fatalf("seq %d: %v", seq, err)
		}
		out = append(out, r)
	}
}

func TestServiceAppendsDurably(t *testing.T) {
	h := newHarness(t)
	h.publish(3)
	st := h.svc.Status()
	if st.Appended.Seq != 3 || st.Durable.Seq != 0 {
		t.Fatalf("before the disk completes: %+v", st)
	}
	h.stepAll(h.e.Advance(SyncDelay)) // the sync falls due
	h.settle()
	st = h.svc.Status()
	if st.Durable != st.Appended || st.Durable.Seq != 3 {
		t.Fatalf("after sync: %+v", st)
	}
	records := h.stored()
	if i, err := VerifyHead(records, st.Durable); err != nil {
		t.Fatalf("stored chain: %d, %v", i, err)
	}
	if records[2].Subject != "name-2" || records[2].Kind != KindNameWrite {
		t.Fatalf("record content: %+v", records[2])
	}
	obs := h.e.Recorder.Observations[MetricAppendLatency]
	if len(obs) != 3 || obs[0] < 0.005 {
		t.Fatalf("append latency observations %v, want 3 of at least 5ms", obs)
	}
}

func TestServiceRecoversHeadAndContinuesChain(t *testing.T) {
	h := newHarness(t)
	h.publish(5)
	h.settle()
	before := h.svc.Status().Durable
	h.restart()
	if got := h.svc.Status(); got.Durable != before || got.Appended != before {
		t.Fatalf("recovered %+v, want head %+v", got, before)
	}
	h.publish(2)
	h.settle()
	records := h.stored()
	if len(records) != 7 {
		t.Fatalf("%d records after restart and 2 appends", len(records))
	}
	if i, err := VerifyHead(records, h.svc.Status().Durable); err != nil {
		t.Fatalf("chain across restart: %d, %v", i, err)
	}
}

func TestServiceQueuesEventsDuringRecovery(t *testing.T) {
	h := newHarness(t)
	h.publish(2)
	h.settle()
	h.svc = New(Config{})
	h.svc.Init(h.e)
	envtest.Step(h.svc, env.Start{})
	h.publish(3) // the scan has not completed yet
	if h.svc.Status().Ready || h.svc.Status().Appended.Seq != 0 {
		t.Fatalf("appended before recovery finished")
	}
	h.settle()
	if got := h.svc.Status().Durable.Seq; got != 5 {
		t.Fatalf("durable seq %d, want 5", got)
	}
	if _, err := Verify(h.stored()); err != nil {
		t.Fatal(err)
	}
}

// A crash can leave unsynced records out of order: here seq 4 of 6 is
// lost. Recovery keeps 1..3, discards 5..6, and the chain continues at 4.
func TestServiceDiscardsUnsyncedTailAfterCrash(t *testing.T) {
	h := newHarness(t)
	h.publish(6)
	h.settle()
	h.deleteKey(RecordKey(4))
	h.restart()
	if got := h.svc.Status().Durable.Seq; got != 3 {
		t.Fatalf("recovered head seq %d, want 3", got)
	}
	if got := h.e.Recorder.Values[MetricRecoveryDiscarded]; got != 2 {
		t.Fatalf("discarded %v records, want 2", got)
	}
	h.publish(1)
	h.settle()
	records := h.stored()
	if len(records) != 4 {
		t.Fatalf("%d records on disk, want 4 (stale tail deleted)", len(records))
	}
	if _, ok := h.e.Stored(string(RecordKey(5))); ok {
		t.Fatalf("stale seq 5 still on disk")
	}
	if _, err := VerifyHead(records, h.svc.Status().Durable); err != nil {
		t.Fatal(err)
	}
}

// A corrupt last record is retried (it might be a read fault), then
// treated as an unsynced tail.
func TestServiceCorruptTailRecord(t *testing.T) {
	h := newHarness(t)
	h.publish(3)
	h.settle()
	v, _ := h.e.Stored(string(RecordKey(3)))
	v[2] ^= 0x40 // the fake store hands out its own slice
	h.restart()
	if got := h.svc.Status(); !got.Ready || got.Durable.Seq != 2 {
		t.Fatalf("after corrupt tail: %+v", got)
	}
}

// A break with more than InflightRecordsMax records after it cannot be a
// crash artifact: the service stops appending and counts what it drops.
func TestServiceStopsOnBreakInsideTheLog(t *testing.T) {
	h := newHarness(t)
	for h.svc.Status().Durable.Seq < InflightRecordsMax+10 {
		h.publish(InflightRecordsMax / 2)
		h.settle()
	}
	h.deleteKey(RecordKey(5))
	h.restart()
	if !h.svc.Status().Broken {
		t.Fatalf("service kept appending over a hole: %+v", h.svc.Status())
	}
	h.publish(2)
	if got := h.e.Recorder.Values[envtest.Key(MetricDropped, "unavailable")]; got != 2 {
		t.Fatalf("dropped %v, want 2", got)
	}
	if _, ok := h.e.Stored(string(RecordKey(6))); !ok {
		t.Fatalf("a broken service must not delete evidence")
	}
}

func TestServiceRetriesFailedWrites(t *testing.T) {
	h := newHarness(t)
	h.publish(2)
	h.stepAll(h.e.Advance(SyncDelay)) // the sync falls due behind the puts
	// Fail the first put and the first sync.
	var ins []env.Input
	failedPut, failedSync := false, false
	for _, in := range h.e.CompleteDisk() {
		d := in.(env.DiskDone)
		if d.Op.Kind == env.DiskPut && !failedPut {
			d.Result.Err, failedPut = fmt.Errorf("%w: injected", env.ErrDiskIO), true
		}
		if d.Op.Kind == env.DiskSync && !failedSync {
			d.Result.Err, failedSync = fmt.Errorf("%w: injected", env.ErrDiskIO), true
		}
		ins = append(ins, d)
	}
	if !failedPut || !failedSync {
		t.Fatalf("injected a put failure %t, a sync failure %t: want both", failedPut, failedSync)
	}
	for _, in := range ins {
		envtest.Step(h.svc, in)
	}
	if h.svc.Status().Durable.Seq == 2 {
		t.Fatalf("durable although a put failed")
	}
	h.settle()
	if got := h.svc.Status(); got.Durable.Seq != 2 || got.Broken {
		t.Fatalf("after retries: %+v", got)
	}
	if _, err := VerifyHead(h.stored(), h.svc.Status().Durable); err != nil {
		t.Fatal(err)
	}
}

func TestServiceBoundsInflightAndRejectsInvalidEvents(t *testing.T) {
	h := newHarness(t)
	h.publish(InflightRecordsMax + 3) // disk never completes in between
	if got := h.e.Recorder.Values[envtest.Key(MetricDropped, "backlog")]; got != 3 {
		t.Fatalf("backlog drops %v, want 3", got)
	}
	envtest.Step(h.svc, env.BusEvent{Topic: Topic, Event: "not an event"})
	envtest.Step(h.svc, env.BusEvent{Topic: Topic, Event: &Event{Kind: 99}})
	if got := h.e.Recorder.Values[envtest.Key(MetricDropped, "invalid")]; got != 2 {
		t.Fatalf("invalid drops %v, want 2", got)
	}
	h.settle()
	envtest.Step(h.svc, env.BusEvent{Topic: Topic, Event: &Event{Kind: KindDelete, Detail: strings.Repeat("x", DetailBytesMax+5)}})
	h.settle()
	records := h.stored()
	if last := records[len(records)-1]; len(last.Detail) != DetailBytesMax {
		t.Fatalf("oversized detail stored as %d bytes", len(last.Detail))
	}
}

// Through a node: events published on the bus reach the service, and a
// HeadQuery request is answered.
func TestServiceInNode(t *testing.T) {
	e := envtest.New(proto.NodeID{2}, 1)
	svc := New(Config{})
	n := node.New(e, node.Config{Invariants: true}, svc)
	n.Step(env.Start{})
	for _, in := range e.CompleteDisk() {
		n.Step(in)
	}
	n.Step(env.BusEvent{Topic: Topic, Event: Event{Kind: KindPolicyChange, Subject: "default"}})
	for _, in := range append(e.CompleteDisk(), e.Advance(SyncDelay)...) {
		n.Step(in)
	}
	for _, in := range e.CompleteDisk() {
		n.Step(in)
	}
	n.Step(env.Request{ID: 7, Service: "audit", Body: HeadQuery{}})
	if len(e.Replies) != 1 {
		t.Fatalf("replies: %+v", e.Replies)
	}
	st, ok := e.Replies[0].Resp.(HeadStatus)
	if !ok || st.Durable.Seq != 1 || !st.Ready {
		t.Fatalf("head status %+v", e.Replies[0].Resp)
	}
}

func (h *harness) deleteKey(key []byte) {
	h.e.Submit(env.DiskOp{Kind: env.DiskDelete, Key: key})
	for _, in := range h.e.CompleteDisk() {
		if err := in.(env.DiskDone).Result.Err; err != nil {
			h.t.Fatal(errors.Unwrap(err))
		}
	}
}

// completeCountingSyncs completes the pending disk ops, steps the
// service through them, and returns how many were syncs.
func (h *harness) completeCountingSyncs() int {
	syncs := 0
	for _, in := range h.e.CompleteDisk() {
		if in.(env.DiskDone).Op.Kind == env.DiskSync {
			syncs++
		}
		h.stepAll([]env.Input{in})
	}
	return syncs
}

// stepAll steps the service through ins, checking its invariants after
// each input.
func (h *harness) stepAll(ins []env.Input) {
	for _, in := range ins {
		envtest.Step(h.svc, in)
		h.svc.CheckInvariants()
	}
}

// Group commit: while the log's sync is in flight, records are put
// without a sync of their own; that sync covers only the puts completed
// before it, and its completion submits one sync for all that came after.
func TestServiceGroupCommitsRecordsPutDuringASync(t *testing.T) {
	h := newHarness(t)
	h.publish(1)
	h.stepAll(h.e.Advance(SyncDelay))
	if got := h.e.PendingDisk(); got != 2 {
		t.Fatalf("first record: %d ops pending, want its put and a sync", got)
	}
	first := h.e.CompleteDisk() // put 1, sync 1: done on disk, not yet seen by the service
	h.publish(3)
	if got := h.e.PendingDisk(); got != 3 {
		t.Fatalf("records put during the sync: %d ops pending, want their 3 puts and no sync", got)
	}
	h.stepAll(first)
	if got := h.svc.Status().Durable.Seq; got != 1 {
		t.Fatalf("after the first sync the durable head is %d, want 1 (the later puts were not covered)", got)
	}
	if got := h.e.PendingDisk(); got != 4 {
		t.Fatalf("after the first sync: %d ops pending, want the 3 puts and one sync", got)
	}
	syncs := h.completeCountingSyncs()
	st := h.svc.Status()
	if syncs != 1 || st.Durable != st.Appended || st.Durable.Seq != 4 || h.e.PendingDisk() != 0 {
		t.Fatalf("after the second sync: %d syncs, %+v, %d ops pending", syncs, st, h.e.PendingDisk())
	}
	if _, err := VerifyHead(h.stored(), st.Durable); err != nil {
		t.Fatal(err)
	}
	if obs := h.e.Recorder.Observations[MetricAppendLatency]; len(obs) != 4 {
		t.Fatalf("%d append latencies observed, want 4", len(obs))
	}
}

// Under group commit a log whose syncs keep failing still stops, and no
// record, neither the one the sync was issued for nor one put behind it,
// is reported durable meanwhile.
func TestServiceGroupCommitSyncFailuresStopTheLog(t *testing.T) {
	h := newHarness(t)
	h.publish(1)
	h.stepAll(h.e.Advance(SyncDelay))
	for attempt := 0; attempt < WriteAttemptsMax; attempt++ {
		var ins []env.Input
		for _, in := range h.e.CompleteDisk() {
			d := in.(env.DiskDone)
			if d.Op.Kind == env.DiskSync {
				d.Result.Err = fmt.Errorf("%w: injected", env.ErrDiskIO)
			}
			ins = append(ins, d)
		}
		if attempt == 0 {
			h.publish(1) // put behind the failing sync
		}
		h.stepAll(ins)
		if got := h.svc.Status().Durable.Seq; got != 0 {
			t.Fatalf("attempt %d: durable head %d although every sync failed", attempt, got)
		}
	}
	if st := h.svc.Status(); !st.Broken || st.Durable.Seq != 0 {
		t.Fatalf("after %d failed syncs: %+v, want a stopped log", WriteAttemptsMax, st)
	}
}

// A record's sync waits SyncDelay for company: records put meanwhile
// share it, none of them is durable before it completes, and it is
// submitted once the delay has passed, not before.
func TestServiceSyncWaitsSyncDelayForMoreRecords(t *testing.T) {
	h := newHarness(t)
	h.publish(1)
	h.stepAll(h.e.CompleteDisk()) // the put lands; its sync is only due
	if got := h.e.PendingDisk(); got != 0 {
		t.Fatalf("right after the first put: %d ops pending, want no sync yet", got)
	}
	h.stepAll(h.e.Advance(SyncDelay - time.Millisecond))
	h.publish(2)
	if got, st := h.e.PendingDisk(), h.svc.Status(); got != 2 || st.Durable.Seq != 0 {
		t.Fatalf("within the delay: %d ops pending (want the 2 puts, no sync), durable %d", got, st.Durable.Seq)
	}
	h.stepAll(h.e.Advance(time.Millisecond))
	syncs := h.completeCountingSyncs()
	st := h.svc.Status()
	if syncs != 1 || st.Durable != st.Appended || st.Durable.Seq != 3 || h.e.PendingDisk() != 0 {
		t.Fatalf("after the delay: %d syncs (want 1 for all 3 records), %+v, %d ops pending", syncs, st, h.e.PendingDisk())
	}
	h.settle()
	if got := h.e.PendingDisk(); got != 0 {
		t.Fatalf("a spare sync after the log was durable: %d ops pending", got)
	}
}

// A put that fails for good stops the log; the records put before it
// still become durable, and the log then stops syncing instead of
// syncing for ever on behalf of the record that will never be put.
func TestServiceStopsSyncingAfterAPutFailsForGood(t *testing.T) {
	h := newHarness(t)
	h.publish(2)
	for round := 0; !h.svc.Status().Broken; round++ {
		if round > 10*WriteAttemptsMax {
			t.Fatalf("the log did not stop after record 2's put failed %d times", WriteAttemptsMax)
		}
		var ins []env.Input
		for _, in := range h.e.CompleteDisk() {
			d := in.(env.DiskDone)
			if d.Op.Kind == env.DiskPut && d.Op.Tag&seqMax == 2 {
				d.Result.Err = fmt.Errorf("%w: injected", env.ErrDiskIO)
			}
			ins = append(ins, d)
		}
		h.stepAll(ins)
		h.stepAll(h.e.Advance(SyncDelay))
	}
	h.settle() // fails when the syncs never end
	if st := h.svc.Status(); st.Durable.Seq != 1 || st.Appended.Seq != 2 {
		t.Fatalf("stopped log: %+v, want record 1 durable and record 2 never", st)
	}
}
