package check

import (
	"testing"

	"github.com/anishathalye/porcupine"

	"github.com/ron-network/ron/sim/workload"
)

// A forged set (wrong key or forged signature) never takes effect: refused
// or unknown it changes nothing; acknowledged, or visible to a later read,
// the history is not linearizable, and a stale read of its target is
// unexplained.
func TestForgedSetNeverApplies(t *testing.T) {
	forged := map[string]any{"owner": "aa", "target": "b3:t1", "seq": uint64(1), "forged": workload.ForgedWrongKey}
	badSig := map[string]any{"ok": false, "error": "bad_signature"}
	refused := history(
		opSpec{0, workload.OpClaim, "x", claimA, ok, 0, 10},
		opSpec{1, workload.OpSet, "x", forged, badSig, 20, 30},
		opSpec{2, workload.OpSet, "x", forged, nil, 20, -1}, // unknown: still never applied
		opSpec{0, workload.OpResolve, "x", empty, map[string]any{"found": true, "owner": "aa", "target": "", "seq": uint64(0)}, 40, 50},
	)
	if v := verdict(t, refused); v != porcupine.Ok {
		t.Fatalf("verdict %s, want Ok", v)
	}
	accepted := history(
		opSpec{0, workload.OpClaim, "x", claimA, ok, 0, 10},
		opSpec{1, workload.OpSet, "x", forged, ok, 20, 30},
	)
	if v := verdict(t, accepted); v != porcupine.Illegal {
		t.Fatalf("verdict %s, want Illegal: an acknowledged forged set", v)
	}
	visible := history(
		opSpec{0, workload.OpClaim, "x", claimA, ok, 0, 10},
		opSpec{1, workload.OpSet, "x", forged, nil, 20, -1},
		opSpec{0, workload.OpResolve, "x", empty, seenT1, 40, 50},
	)
	if v := verdict(t, visible); v != porcupine.Illegal {
		t.Fatalf("verdict %s, want Illegal: a read saw the forged target", v)
	}
	stale := history(
		opSpec{0, workload.OpClaim, "x", claimA, ok, 0, 10},
		opSpec{1, workload.OpSet, "x", forged, nil, 20, -1},
		opSpec{0, workload.OpStaleResolve, "x", empty, seenT1, 40, 50},
	)
	if r := StaleReads(stale); r.OK {
		t.Fatalf("a stale read of a forged target passed: %+v", r)
	}
}
