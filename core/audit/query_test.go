package audit

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/envtest"
)

// request handles one Request and returns the replies it produced once
// the disk settled.
func (h *harness) request(id env.RequestID, body any) []any {
	h.t.Helper()
	h.e.Replies = nil
	envtest.Step(h.svc, env.Request{ID: id, Service: "audit", Body: body})
	h.settle()
	var out []any
	for _, r := range h.e.Replies {
		if r.ID != id {
			h.t.Fatalf("reply to request %d, want %d", r.ID, id)
		}
		out = append(out, r.Resp)
	}
	return out
}

func TestAppendRequestChainsAndAnswersSeq(t *testing.T) {
	h := newHarness(t)
	for i := 1; i <= 3; i++ {
		got := h.request(env.RequestID(i), Append{Event{Kind: KindDelete, Actor: "gw", Subject: fmt.Sprintf("b3:%d", i)}})
		if len(got) != 1 || got[0].(AppendResult) != (AppendResult{Seq: uint64(i)}) {
			t.Fatalf("append %d replied %v", i, got)
		}
	}
	recs := h.stored()
	if len(recs) != 3 || recs[2].Subject != "b3:3" || recs[2].Kind != KindDelete {
		t.Fatalf("stored %+v", recs)
	}
	if bad, err := Verify(recs); err != nil {
		t.Fatalf("chain of requested appends: record %d: %v", bad, err)
	}
	got := h.request(9, Append{Event{Kind: 0}})
	if res := got[0].(AppendResult); res.Err == nil || res.Seq != 0 {
		t.Fatalf("invalid kind answered %+v", res)
	}
}

func TestAppendRequestOnBrokenLogIsUnavailable(t *testing.T) {
	h := newHarness(t)
	h.svc.fail(errors.New("test: broken"))
	got := h.request(1, Append{Event{Kind: KindNameWrite}})
	if res := got[0].(AppendResult); !errors.Is(res.Err, ErrUnavailable) {
		t.Fatalf("append on a broken log answered %+v", res)
	}
}

func TestReadRecordsPages(t *testing.T) {
	h := newHarness(t)
	h.publish(7)
	h.settle()
	want := h.stored()
	var got []Record
	from := uint64(1)
	for page := 0; page < 10; page++ {
		rep := h.request(env.RequestID(100+page), ReadRecords{From: from, Limit: 3})
		p := rep[0].(RecordsPage)
		if p.Err != nil {
			t.Fatal(p.Err)
		}
		got = append(got, p.Records...)
		if !p.More {
			break
		}
		from = p.Records[len(p.Records)-1].Seq + 1
	}
	if len(got) != len(want) {
		t.Fatalf("paged %d records, stored %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("record %d: paged %+v, stored %+v", i, got[i], want[i])
		}
	}
	empty := h.request(200, ReadRecords{From: 8, Limit: 5})[0].(RecordsPage)
	if len(empty.Records) != 0 || empty.More || empty.Err != nil {
		t.Fatalf("read past the head: %+v", empty)
	}
}

func TestReadRecordsReportsUndecodableRecord(t *testing.T) {
	h := newHarness(t)
	h.publish(4)
	h.settle()
	// Overwrite seq 3 with bytes whose seal does not hold.
	h.e.Submit(env.DiskOp{Kind: env.DiskPut, Key: RecordKey(3), Value: []byte("not a sealed record")})
	h.e.CompleteDisk()
	p := h.request(1, ReadRecords{From: 1, Limit: 10})[0].(RecordsPage)
	if p.Err == nil || p.BadSeq != 3 || len(p.Records) != 2 || p.More {
		t.Fatalf("page over a corrupt record: %d records, bad seq %d, more %v, err %v", len(p.Records), p.BadSeq, p.More, p.Err)
	}
}

func TestReadRecordsLimits(t *testing.T) {
	h := newHarness(t)
	for _, limit := range []int{0, -1, ReadPageRecordsMax + 1} {
		if rep := h.request(1, ReadRecords{From: 1, Limit: limit}); len(rep) != 1 || rep[0].(error) == nil {
			t.Fatalf("limit %d answered %v", limit, rep)
		}
	}
	// Fill the read slots without completing the scans.
	h.e.Replies = nil
	for i := 0; i < ReadsInflightMax+1; i++ {
		envtest.Step(h.svc, env.Request{ID: env.RequestID(10 + i), Body: ReadRecords{From: 1, Limit: 1}})
	}
	if len(h.e.Replies) != 1 || !errors.Is(h.e.Replies[0].Resp.(error), ErrBusy) {
		t.Fatalf("read beyond ReadsInflightMax: replies %v", h.e.Replies)
	}
	h.e.Replies = nil
	h.settle()
	if len(h.e.Replies) != ReadsInflightMax || len(h.svc.reads) != 0 {
		t.Fatalf("%d reads answered, %d still waiting", len(h.e.Replies), len(h.svc.reads))
	}
}

func TestSeqOfKey(t *testing.T) {
	cases := map[string]uint64{string(RecordKey(42)): 42, "audit/xyz": 0, "other/0000000000000001": 0, "audit/": 0}
	for key, want := range cases {
		if got := seqOfKey([]byte(key)); got != want {
			t.Errorf("seqOfKey(%q) = %d, want %d", key, got, want)
		}
	}
}
