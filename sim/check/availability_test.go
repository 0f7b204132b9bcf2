package check

import (
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/sim/workload"
)

func availabilityOp(kind string, call time.Duration, output map[string]any, node int) *workload.Op {
	op := &workload.Op{Kind: kind, Call: int64(call), Output: output, Node: node, Input: map[string]any{}}
	if output != nil {
		ret := int64(call + time.Millisecond)
		op.Return = &ret
	}
	return op
}

func TestAvailability(t *testing.T) {
	healed := 10 * time.Second
	none := func(*workload.Op) bool { return false }
	var ops []*workload.Op
	// Before the heal, failures do not count.
	for i := 0; i < 20; i++ {
		ops = append(ops, availabilityOp(workload.OpResolve, time.Second, map[string]any{"found": false, "error": "unavailable"}, 0))
	}
	// After it: 10 sets, one refused (stale_seq: a definite answer) and
	// one unknown; 10 resolves, all found.
	for i := 0; i < 10; i++ {
		out := map[string]any{"ok": true}
		switch i {
		case 0:
			out = map[string]any{"ok": false, "error": "stale_seq"}
		case 1:
			out = nil
		}
		ops = append(ops, availabilityOp(workload.OpSet, healed+time.Duration(i)*time.Second, out, 1))
		ops = append(ops, availabilityOp(workload.OpResolve, healed+time.Duration(i)*time.Second, map[string]any{"found": true}, 1))
	}
	h := &workload.History{Ops: ops}
	if r := Availability(h, healed, none); !r.OK || !strings.Contains(r.Detail, "set 9/10") || !strings.Contains(r.Detail, "resolve 10/10") {
		t.Fatalf("%+v", r)
	}
	// A registry that fails every linearizable read after the heal: the
	// resolves fail the check, whatever else succeeds.
	for _, op := range ops[20:] {
		if op.Kind == workload.OpResolve {
			op.Output = map[string]any{"found": false, "error": "unavailable"}
		}
	}
	if r := Availability(h, healed, none); r.OK || !strings.Contains(r.Detail, "below 90%: resolve") {
		t.Fatalf("unavailable resolves passed: %+v", r)
	}
	// Ops sent to an excluded (failed) replica count neither way.
	if r := Availability(h, healed, func(op *workload.Op) bool { return op.Kind == workload.OpResolve }); !r.OK {
		t.Fatalf("%+v", r)
	}
	if r := Availability(h, time.Hour, none); r.OK {
		t.Fatalf("no op after the heal passed: %+v", r)
	}
}
