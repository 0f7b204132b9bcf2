package envtest_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/envtest"
	"github.com/ron-network/ron/core/proto"
)

func TestAdvanceFiresDueTimersInDeadlineOrder(t *testing.T) {
	e := envtest.New(proto.NodeID{1}, 1)
	start := e.Now()
	e.SetTimer(3*time.Second, 30)
	e.SetTimer(time.Second, 10)
	e.SetTimer(time.Second, 11) // same deadline, armed later
	cancelled := e.SetTimer(2*time.Second, 20)
	e.SetTimer(-time.Second, 0) // fires at once
	e.CancelTimer(cancelled)
	e.CancelTimer(cancelled) // cancelling twice is a no-op
	if e.Armed() != 4 {
		t.Fatalf("%d timers armed, want 4", e.Armed())
	}
	tags := func(ins []env.Input) []uint64 {
		var out []uint64
		for _, in := range ins {
			out = append(out, in.(env.TimerFired).Tag)
		}
		return out
	}
	if got := tags(e.Advance(0)); len(got) != 1 || got[0] != 0 {
		t.Fatalf("Advance(0) fired %v, want [0]", got)
	}
	if got := tags(e.Advance(2 * time.Second)); len(got) != 2 || got[0] != 10 || got[1] != 11 {
		t.Fatalf("Advance(2s) fired %v, want [10 11]", got)
	}
	if got := tags(e.Advance(time.Second)); len(got) != 1 || got[0] != 30 {
		t.Fatalf("Advance(1s) fired %v, want [30]", got)
	}
	if e.Armed() != 0 || len(e.Advance(time.Hour)) != 0 {
		t.Fatal("a timer fired twice")
	}
	if got := e.Now().Sub(start); got != time.Hour+3*time.Second {
		t.Fatalf("clock moved %v", got)
	}
}

func TestCompleteDiskInSubmissionOrder(t *testing.T) {
	e := envtest.New(proto.NodeID{1}, 1)
	e.Submit(env.DiskOp{Kind: env.DiskPut, Tag: 1, Key: []byte("k/b"), Value: []byte("2")})
	e.Submit(env.DiskOp{Kind: env.DiskBatch, Tag: 2, Batch: []env.DiskWrite{
		{Key: []byte("k/a"), Value: []byte("1")}, {Key: []byte("k/c"), Value: []byte("3")}, {Key: []byte("x"), Value: []byte("9")}}})
	e.Submit(env.DiskOp{Kind: env.DiskGet, Tag: 3, Key: []byte("k/a")})
	e.Submit(env.DiskOp{Kind: env.DiskScan, Tag: 4, Prefix: []byte("k/"), Start: []byte("k/b"), Limit: 1})
	e.Submit(env.DiskOp{Kind: env.DiskDelete, Tag: 5, Key: []byte("k/a")})
	e.Submit(env.DiskOp{Kind: env.DiskGet, Tag: 6, Key: []byte("k/a")})
	e.Submit(env.DiskOp{Kind: env.DiskScan, Tag: 7}) // invalid: limit 0
	if e.PendingDisk() != 7 {
		t.Fatalf("%d pending", e.PendingDisk())
	}
	done := e.CompleteDisk()
	if len(done) != 7 || e.PendingDisk() != 0 {
		t.Fatalf("%d completions, %d still pending", len(done), e.PendingDisk())
	}
	for i, in := range done {
		d := in.(env.DiskDone)
		if d.Op.Tag != uint64(i+1) || d.ID != env.OpID(i+1) {
			t.Fatalf("completion %d has tag %d id %d", i, d.Op.Tag, d.ID)
		}
	}
	if r := done[2].(env.DiskDone).Result; !r.Found || string(r.Value) != "1" {
		t.Fatalf("get after batch: %+v", r)
	}
	scan := done[3].(env.DiskDone).Result
	if len(scan.Pairs) != 1 || string(scan.Pairs[0].Key) != "k/b" || !scan.More {
		t.Fatalf("scan from k/b limit 1: %+v", scan)
	}
	if r := done[5].(env.DiskDone).Result; r.Found || r.Err != nil {
		t.Fatalf("get after delete: %+v", r)
	}
	if r := done[6].(env.DiskDone).Result; !errors.Is(r.Err, env.ErrDiskInvalid) {
		t.Fatalf("invalid scan: %v", r.Err)
	}
	if v, ok := e.Stored("k/c"); !ok || string(v) != "3" {
		t.Fatalf("Stored(k/c) = %q, %v", v, ok)
	}
}

func TestRecordsSendsRepliesAndMetrics(t *testing.T) {
	e := envtest.New(proto.NodeID{1}, 1)
	e.Send(proto.NodeID{2}, []byte("a"))
	e.Send(proto.NodeID{3}, []byte("b"))
	if sent := e.TakeSent(); len(sent) != 2 || sent[1].To != (proto.NodeID{3}) || len(e.Sent) != 0 {
		t.Fatalf("TakeSent = %v, left %v", sent, e.Sent)
	}
	e.Reply(7, "ok")
	e.Publish("topic", 1)
	if len(e.Replies) != 1 || e.Replies[0].ID != 7 || len(e.Events) != 1 {
		t.Fatalf("replies %v events %v", e.Replies, e.Events)
	}
	m := e.Metrics()
	m.Add("c_total", "x", 1)
	m.Add("c_total", "x", 2)
	m.Set("g", "", 5)
	m.Observe("h_seconds", "", 0.5)
	if e.Recorder.Values[envtest.Key("c_total", "x")] != 3 || e.Recorder.Values["g"] != 5 {
		t.Fatalf("values %v", e.Recorder.Values)
	}
	if got := e.Recorder.Observations["h_seconds"]; len(got) != 1 || got[0] != 0.5 {
		t.Fatalf("observations %v", got)
	}
	if envtest.Key("a", "b") != "a{b}" || envtest.Key("a", "") != "a" {
		t.Fatal("Key format")
	}
}

func TestSameSeedSameRandomness(t *testing.T) {
	a, b := envtest.New(proto.NodeID{1}, 5), envtest.New(proto.NodeID{2}, 5)
	if a.Rand().Uint64() != b.Rand().Uint64() {
		t.Fatal("two fakes with the same seed draw differently")
	}
	if a.Self() != (proto.NodeID{1}) {
		t.Fatal("Self")
	}
}
