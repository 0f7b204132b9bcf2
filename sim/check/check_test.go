package check

import (
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/ron-network/ron/sim/workload"
	"github.com/ron-network/ron/specs/namespec"
)

// hist builds histories tersely: each op is (client, kind, name, input,
// output, call, return); ret < 0 means unknown outcome.
type opSpec struct {
	client    int
	kind      string
	name      string
	in, out   map[string]any
	call, ret int64
}

func history(specs ...opSpec) *workload.History {
	h := &workload.History{}
	for _, s := range specs {
		op := &workload.Op{Client: s.client, Kind: s.kind, Name: s.name, Input: s.in, Call: s.call}
		if s.ret >= 0 {
			r := s.ret
			op.Return = &r
			op.Output = s.out
		}
		h.Ops = append(h.Ops, op)
	}
	return h
}

var (
	ok      = map[string]any{"ok": true}
	taken   = map[string]any{"ok": false, "error": "taken"}
	claimA  = map[string]any{"owner": "aa"}
	claimB  = map[string]any{"owner": "bb"}
	set1    = map[string]any{"owner": "aa", "target": "b3:t1", "seq": uint64(1)}
	set2    = map[string]any{"owner": "aa", "target": "b3:t2", "seq": uint64(2)}
	empty   = map[string]any{}
	seenT1  = map[string]any{"found": true, "owner": "aa", "target": "b3:t1", "seq": uint64(1)}
	seenT2  = map[string]any{"found": true, "owner": "aa", "target": "b3:t2", "seq": uint64(2)}
	missing = map[string]any{"found": false}
)

func verdict(t *testing.T, h *workload.History) porcupine.CheckResult {
	t.Helper()
	lin, err := Linearizable(h, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return lin.Result
}

func TestLinearizableAcceptsSequentialHistory(t *testing.T) {
	h := history(
		opSpec{0, workload.OpClaim, "x", claimA, ok, 0, 10},
		opSpec{1, workload.OpClaim, "x", claimB, taken, 20, 30},
		opSpec{0, workload.OpSet, "x", set1, ok, 40, 50},
		opSpec{1, workload.OpResolve, "x", empty, seenT1, 60, 70},
	)
	if v := verdict(t, h); v != porcupine.Ok {
		t.Fatalf("verdict %s, want Ok", v)
	}
}

func TestLinearizableRejectsStaleReadAfterAck(t *testing.T) {
	// The set to seq 2 completed before the resolve began, yet the resolve
	// saw seq 1: what a resolve served from a lagging replica looks like.
	h := history(
		opSpec{0, workload.OpClaim, "x", claimA, ok, 0, 10},
		opSpec{0, workload.OpSet, "x", set1, ok, 20, 30},
		opSpec{0, workload.OpSet, "x", set2, ok, 40, 50},
		opSpec{1, workload.OpResolve, "x", empty, seenT1, 60, 70},
	)
	if v := verdict(t, h); v != porcupine.Illegal {
		t.Fatalf("verdict %s, want Illegal", v)
	}
}

func TestLinearizableUnknownOutcomeMayOrMayNotApply(t *testing.T) {
	applied := history(
		opSpec{0, workload.OpClaim, "x", claimA, ok, 0, 10},
		opSpec{0, workload.OpSet, "x", set1, nil, 20, -1},
		opSpec{1, workload.OpResolve, "x", empty, seenT1, 60, 70},
	)
	notApplied := history(
		opSpec{0, workload.OpClaim, "x", claimA, ok, 0, 10},
		opSpec{0, workload.OpSet, "x", set1, nil, 20, -1},
		opSpec{1, workload.OpResolve, "x", empty, map[string]any{"found": true, "owner": "aa", "target": "", "seq": uint64(0)}, 60, 70},
	)
	for name, h := range map[string]*workload.History{"applied": applied, "not applied": notApplied} {
		if v := verdict(t, h); v != porcupine.Ok {
			t.Errorf("%s: verdict %s, want Ok", name, v)
		}
	}
	// But an unknown set cannot explain a value nobody wrote.
	invented := history(
		opSpec{0, workload.OpClaim, "x", claimA, ok, 0, 10},
		opSpec{0, workload.OpSet, "x", set1, nil, 20, -1},
		opSpec{1, workload.OpResolve, "x", empty, seenT2, 60, 70},
	)
	if v := verdict(t, invented); v != porcupine.Illegal {
		t.Errorf("invented value: verdict %s, want Illegal", v)
	}
}

func TestLinearizableRejectedOpsChangeNothing(t *testing.T) {
	h := history(
		opSpec{0, workload.OpClaim, "x", claimA, map[string]any{"ok": false, "error": "unavailable"}, 0, 10},
		opSpec{1, workload.OpResolve, "x", empty, missing, 20, 30},
	)
	if v := verdict(t, h); v != porcupine.Ok {
		t.Fatalf("verdict %s, want Ok", v)
	}
	h = history(
		opSpec{0, workload.OpClaim, "x", claimA, map[string]any{"ok": false, "error": "unavailable"}, 0, 10},
		opSpec{1, workload.OpResolve, "x", empty, map[string]any{"found": true, "owner": "aa", "target": "", "seq": uint64(0)}, 20, 30},
	)
	if v := verdict(t, h); v != porcupine.Illegal {
		t.Fatalf("verdict %s, want Illegal: an unavailable claim must not take effect", v)
	}
}

func TestStaleReadsMustHaveExisted(t *testing.T) {
	good := history(
		opSpec{0, workload.OpClaim, "x", claimA, ok, 0, 10},
		opSpec{0, workload.OpSet, "x", set1, ok, 20, 30},
		opSpec{0, workload.OpSet, "x", set2, ok, 40, 50},
		opSpec{1, workload.OpStaleResolve, "x", empty, seenT1, 60, 70},
	)
	if r := StaleReads(good); !r.OK {
		t.Fatalf("old but real stale read rejected: %s", r.Detail)
	}
	bad := history(
		opSpec{0, workload.OpClaim, "x", claimA, ok, 0, 10},
		opSpec{1, workload.OpStaleResolve, "x", empty, seenT2, 60, 70},
	)
	if r := StaleReads(bad); r.OK {
		t.Fatal("an invented stale read passed")
	}
}

func TestDurability(t *testing.T) {
	h := history(
		opSpec{0, workload.OpClaim, "x", claimA, ok, 0, 10},
		opSpec{0, workload.OpSet, "x", set1, ok, 20, 30},
	)
	if r := Durability(h, map[string]namespec.State{"x": {Claimed: true, Owner: "aa", Target: "b3:t1", Seq: 1}}, "n1"); !r.OK {
		t.Fatalf("intact state rejected: %s", r.Detail)
	}
	if r := Durability(h, map[string]namespec.State{"x": {Claimed: true, Owner: "aa"}}, "n1"); r.OK {
		t.Fatal("a lost acknowledged set passed")
	}
	if r := Durability(h, map[string]namespec.State{}, "n1"); r.OK {
		t.Fatal("a lost acknowledged claim passed")
	}
	if r := Durability(h, map[string]namespec.State{"x": {Claimed: true, Owner: "aa", Target: "b3:zz", Seq: 1}}, "n1"); r.OK {
		t.Fatal("a final state no write produced passed")
	}
}
