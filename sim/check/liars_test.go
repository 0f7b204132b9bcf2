package check

import (
	"slices"
	"testing"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/storage"
	"github.com/ron-network/ron/sim/workload"
)

func TestLiarCorruption(t *testing.T) {
	liar := []bool{false, false, true}
	none := []bool{false, false, false}
	// from[i][j]: corruption node i counted against node j.
	for _, c := range []struct {
		name    string
		from    [][]int
		garbage []int
		skip    []bool
		ok      bool
	}{
		{"clean", [][]int{{0, 0, 0}, {0, 0, 0}, {4, 5, 0}}, []int{0, 0, 0}, none, true}, // a liar's own counts are not judged
		{"garbage counted", [][]int{{0, 0, 2}, {0, 0, 0}, {0, 0, 0}}, []int{2, 0, 0}, none, true},
		{"garbage lost", [][]int{{0, 0, 1}, {0, 0, 0}, {0, 0, 0}}, []int{2, 0, 0}, none, true},
		{"beyond garbage", [][]int{{0, 0, 3}, {0, 0, 0}, {0, 0, 0}}, []int{2, 0, 0}, none, false},
		// Within the garbage sent, but against an honest peer: the old
		// bound (a node's total) let it pass.
		{"against an honest peer", [][]int{{0, 1, 1}, {0, 0, 0}, {0, 0, 0}}, []int{2, 0, 0}, none, false},
		{"own healthy disk", [][]int{{0, 0, 0}, {0, 1, 0}, {0, 0, 0}}, []int{0, 0, 0}, none, false},
		{"own disk within the garbage", [][]int{{1, 0, 0}, {0, 0, 0}, {0, 0, 0}}, []int{1, 0, 0}, none, false},
		{"rotting disk skipped", [][]int{{0, 0, 0}, {0, 5, 0}, {0, 0, 0}}, []int{0, 0, 0}, []bool{false, true, false}, true},
		{"rotting disk, honest peer", [][]int{{0, 0, 0}, {1, 5, 0}, {0, 0, 0}}, []int{0, 0, 0}, []bool{false, true, false}, false},
	} {
		counted := make([]float64, len(c.from))
		for i, row := range c.from {
			for _, k := range row {
				counted[i] += float64(k)
			}
		}
		if got := LiarCorruption(counted, c.from, c.garbage, liar, c.skip); got.OK != c.ok {
			t.Errorf("%s: OK %v, want %v: %s", c.name, got.OK, c.ok, got.Detail)
		}
	}
	// A count whose source was not named fails.
	if got := LiarCorruption([]float64{1, 0, 0}, [][]int{{0, 0, 0}, {0, 0, 0}, {0, 0, 0}}, []int{1, 0, 0}, liar, none); got.OK {
		t.Errorf("an unnamed source: OK, want a failure: %s", got.Detail)
	}
}

func TestLiarGets(t *testing.T) {
	ret := func(v int64) *int64 { return &v }
	op := func(node int, call, end int64, out map[string]any) *workload.Op {
		return &workload.Op{Kind: workload.OpGet, Node: node, Call: call, Return: ret(end), Output: out, Input: map[string]any{}}
	}
	failed := func(code string) map[string]any { return map[string]any{"ok": false, "error": code} }
	liar := []bool{false, true}
	faults := [][2]int64{{100, 200}}
	judgedOK := op(0, 300, 310, map[string]any{"ok": true}) // keeps a run judged
	for _, c := range []struct {
		name string
		op   *workload.Op
		ok   bool
	}{
		{"ok", op(0, 0, 10, map[string]any{"ok": true}), true},
		{"unavailable", op(0, 0, 10, failed("unavailable")), false},
		{"not found", op(0, 0, 10, failed("not_found")), true},
		{"corrupt", op(0, 0, 10, failed("corruption")), false},
		{"bad manifest", op(0, 0, 10, failed("error: storage: bad manifest")), false},
		{"never answered", &workload.Op{Kind: workload.OpGet, Node: 0, Call: 300, Input: map[string]any{}}, false},
		{"never answered, from a fault on", &workload.Op{Kind: workload.OpGet, Node: 0, Call: 150, Input: map[string]any{}}, true},
		{"via a liar", op(1, 0, 10, failed("corruption")), true},
		{"during a fault", op(0, 150, 160, failed("corruption")), true},
		{"overlapping a fault", op(0, 50, 120, failed("corruption")), true},
		{"after a fault", op(0, 200, 210, failed("corruption")), false},
	} {
		h := &workload.History{Ops: []*workload.Op{c.op, judgedOK}}
		if got := LiarGets(h, liar, faults, nil); got.OK != c.ok {
			t.Errorf("%s: OK %v, want %v: %s", c.name, got.OK, c.ok, got.Detail)
		}
	}
	if got := LiarGets(&workload.History{Ops: []*workload.Op{op(1, 0, 10, map[string]any{"ok": true})}}, liar, faults, nil); got.OK {
		t.Errorf("nothing judged: OK, want a failure: %s", got.Detail)
	}
	// A get sent while only liars held the object is not judged; the
	// others still are.
	h := &workload.History{Ops: []*workload.Op{op(0, 0, 10, failed("corruption")), judgedOK}}
	if got := LiarGets(h, liar, faults, map[int]bool{0: true}); !got.OK {
		t.Errorf("a get of an object only liars held judged: %s", got.Detail)
	}
	if got := LiarGets(h, liar, faults, map[int]bool{1: true}); got.OK {
		t.Errorf("a get of an object an honest node held not judged: %s", got.Detail)
	}
}

func TestLiarWrites(t *testing.T) {
	data := make([]byte, 300)
	for i := range data {
		data[i] = byte(i)
	}
	ref := func(b byte, size uint32) storage.ChunkRef { return storage.ChunkRef{Addr: proto.Addr{b}, Size: size} }
	own := storage.Manifest{Size: 300, Chunks: []storage.ChunkRef{ref(1, 128), ref(2, 128), ref(3, 44)}}
	moved := storage.Manifest{Size: 172, Chunks: []storage.ChunkRef{ref(1, 64), ref(2, 64), ref(3, 44)}}
	short := storage.Manifest{Size: 299, Chunks: []storage.ChunkRef{ref(1, 128), ref(2, 128), ref(3, 43)}}
	stored := [][]byte{data[:128], data[128:256], data[256:]}
	flipped := slices.Clone(data[128:256])
	flipped[7] ^= 1
	for _, c := range []struct {
		name   string
		got    storage.Manifest
		stored [][]byte
		ok     bool
	}{
		{"own", own, stored, true},
		{"moved", moved, stored, false},
		{"short", short, stored, false},
		{"garbage chunk", own, [][]byte{data[:128], flipped, data[256:]}, false},
		{"missing chunk", own, [][]byte{data[:128], nil, data[256:]}, false},
	} {
		held := []HeldManifest{{Node: 0, Got: own, Want: own, Data: data, Stored: stored}, {Node: 1, Got: c.got, Want: own, Data: data, Stored: c.stored}}
		if got := LiarWrites(held); got.OK != c.ok {
			t.Errorf("%s: OK %v, want %v: %s", c.name, got.OK, c.ok, got.Detail)
		}
	}
}
