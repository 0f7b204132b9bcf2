package real

import (
	"testing"

	"github.com/ron-network/ron/sim/workload"
)

// TestContentStatsCountsCorruptGets: the real runner's content stats count
// the gets answered corruption (502) as the simulator's do, and nothing
// else (a put refused as corrupt, another error, an unknown outcome).
func TestContentStatsCountsCorruptGets(t *testing.T) {
	ret := int64(1)
	op := func(kind string, out map[string]any) *workload.Op {
		o := &workload.Op{Kind: kind, Input: map[string]any{"size": 10}, Output: out}
		if out != nil {
			o.Return = &ret
		}
		return o
	}
	cc := newContentClients(nil, nil)
	cc.history.Ops = []*workload.Op{
		op(workload.OpGet, map[string]any{"ok": false, "error": "corruption"}),
		op(workload.OpRangeGet, map[string]any{"ok": false, "error": "corruption"}),
		op(workload.OpPut, map[string]any{"ok": false, "error": "corruption"}),
		op(workload.OpGet, map[string]any{"ok": false, "error": "unavailable"}),
		op(workload.OpGet, nil),
		op(workload.OpGet, map[string]any{"ok": true, "length": 7}),
		op(workload.OpPut, map[string]any{"ok": true}),
	}
	st := cc.stats()
	if st.CorruptGets != 2 || st.OpsOK != 2 || st.OpsUnknown != 1 || st.BytesRead != 7 || st.BytesPut != 10 {
		t.Fatalf("stats = corrupt gets %d, ok %d, unknown %d, read %d, put %d; want 2, 2, 1, 7, 10",
			st.CorruptGets, st.OpsOK, st.OpsUnknown, st.BytesRead, st.BytesPut)
	}
}
