package pebbledisk

import (
	"maps"
	"strings"
	"testing"

	"github.com/ron-network/ron/core/env"
)

// A sync with no write since the last successful sync completes without
// an fdatasync; after a write of any kind (a small put, a side value, a
// delete, a batch, each alone or with a sync in one group) the next sync
// is real: a power loss right after it keeps the write. The power loss
// drops every unsynced byte (the unsynced journal), so a skipped sync
// after a write would lose it here.
func TestSyncSkippedOnlyWithoutAWriteSinceTheLast(t *testing.T) {
	enableFailpoint(t, FailpointUnsynced, `return("keep")`)
	h := newHarness(t, 0, 1)
	h.lose = true
	defer h.close()
	skipped := func() uint64 { return h.disk.Stats().SyncsSkipped }
	sync := func() { h.do(t, env.DiskOp{Kind: env.DiskSync}) }

	sync() // nothing written since Open: the state Open found is durable
	if got := skipped(); got != 1 {
		t.Fatalf("a sync right after Open: %d skipped, want 1", got)
	}
	durable := map[string]string{}
	writes := []struct {
		name string
		op   []crashWrite
	}{
		{"small put", []crashWrite{{key: "a", value: "small"}}},
		{"side value", []crashWrite{{key: "b", value: strings.Repeat("s", 3*testSideMin)}}},
		{"delete", []crashWrite{{key: "a", del: true}}},
		{"batch", []crashWrite{{key: "c", value: "in a batch"}, {key: "d", value: strings.Repeat("t", 2*testSideMin)}}},
	}
	for i, w := range writes {
		before := skipped()
		if i%2 == 0 {
			h.do(t, diskOpOf(w.op))
			sync()
		} else { // the write and its sync in one group
			h.Submit(diskOpOf(w.op))
			h.Submit(env.DiskOp{Kind: env.DiskSync})
			for _, d := range h.Drain() {
				if d.Result.Err != nil {
					t.Fatalf("%s: %s: %v", w.name, d.Op.Kind, d.Result.Err)
				}
			}
		}
		if got := skipped(); got != before {
			t.Fatalf("%s: the sync after it was skipped", w.name)
		}
		applyCrashOp(durable, w.op)
		sync() // nothing new: skipped
		if got := skipped(); got != before+1 {
			t.Fatalf("%s: a second sync with no write between: %d skipped, want %d", w.name, got-before, 1)
		}
		h.Crash()
		if got := h.readAll(t); !maps.Equal(got, durable) {
			t.Fatalf("%s: after a power loss the store holds %s, want %s", w.name, describeState(got), describeState(durable))
		}
	}
}

// Syncs queued together with no write among them form a group that
// writes nothing: after a synced write, none of them reaches the disk.
// A real sync fails here (the injected sync failure is checked only past
// the skip); a get queued first gives the syncs time to queue up behind
// it and run as one group.
func TestSyncOnlyGroupIsSkipped(t *testing.T) {
	h := newHarness(t, 0, 1)
	defer h.close()
	h.do(t, diskOpOf([]crashWrite{{key: "a", value: strings.Repeat("s", 3*testSideMin)}}))
	h.do(t, env.DiskOp{Kind: env.DiskSync})
	enableFailpoint(t, FailpointSync, "return(true)")
	h.Submit(env.DiskOp{Kind: env.DiskGet, Key: []byte("a")})
	for range 3 {
		h.Submit(env.DiskOp{Kind: env.DiskSync})
	}
	for _, d := range h.Drain() {
		if d.Result.Err != nil {
			t.Fatalf("%s with no write since the last sync: %v", d.Op.Kind, d.Result.Err)
		}
	}
	h.Submit(diskOpOf([]crashWrite{{key: "b", value: "w"}}))
	h.Submit(env.DiskOp{Kind: env.DiskSync})
	if done := h.Drain(); len(done) != 2 || done[1].Result.Err == nil {
		t.Fatalf("the sync after a write did not reach the disk (no injected failure): %+v", done)
	}
}

// A sync that failed made nothing durable: the next sync is real, and the
// write it covers survives a power loss.
func TestSyncAfterAFailedSyncIsReal(t *testing.T) {
	enableFailpoint(t, FailpointUnsynced, `return("keep")`)
	h := newHarness(t, 0, 1)
	h.lose = true
	defer h.close()
	w := []crashWrite{{key: "a", value: "small"}, {key: "b", value: strings.Repeat("s", 3*testSideMin)}}
	h.do(t, diskOpOf(w))
	enableFailpoint(t, FailpointSync, "1*return(true)")
	h.Submit(env.DiskOp{Kind: env.DiskSync})
	if done := h.Drain(); len(done) != 1 || done[0].Result.Err == nil {
		t.Fatalf("the injected sync failure did not fail the sync: %+v", done)
	}
	before := h.disk.Stats().SyncsSkipped
	h.do(t, env.DiskOp{Kind: env.DiskSync})
	if got := h.disk.Stats().SyncsSkipped; got != before {
		t.Fatalf("the sync after a failed one was skipped")
	}
	durable := map[string]string{}
	applyCrashOp(durable, w)
	h.Crash()
	if got := h.readAll(t); !maps.Equal(got, durable) {
		t.Fatalf("after a power loss the store holds %s, want %s", describeState(got), describeState(durable))
	}
}
