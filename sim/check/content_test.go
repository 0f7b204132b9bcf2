package check

import (
	"bytes"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/sim/workload"
)

// contentFixture is one object and a lookup that knows only it.
func contentFixture(t *testing.T) (workload.ContentObject, ContentObjects) {
	t.Helper()
	obj := workload.NewContentObject(42, 5000)
	if got := proto.AddrOf(obj.Bytes()); got != obj.Addr {
		t.Fatalf("object address %s, its bytes hash to %s", obj.Addr, got)
	}
	lookup := func(a proto.Addr) (workload.ContentObject, bool) { return obj, a == obj.Addr }
	return obj, lookup
}

func putOp(obj workload.ContentObject, addr string, size uint64) opSpec {
	return opSpec{kind: workload.OpPut, in: map[string]any{"seed": obj.Seed, "size": obj.Size},
		out: map[string]any{"ok": true, "addr": addr, "size": size}, call: 1, ret: 2}
}

func readOp(kind string, addr proto.Addr, offset, length uint64, got []byte, size uint64) opSpec {
	return opSpec{kind: kind, in: map[string]any{"addr": addr.String(), "offset": offset, "length": length},
		out: map[string]any{"ok": true, "addr": proto.AddrOf(got).String(), "size": size, "length": len(got)}, call: 3, ret: 4}
}

func TestIntegrityAcceptsTheRightBytes(t *testing.T) {
	obj, lookup := contentFixture(t)
	data := obj.Bytes()
	h := history(
		putOp(obj, obj.Addr.String(), uint64(obj.Size)),
		readOp(workload.OpGet, obj.Addr, 0, 0, data, uint64(obj.Size)),
		readOp(workload.OpRangeGet, obj.Addr, 100, 50, data[100:150], uint64(obj.Size)),
		readOp(workload.OpRangeGet, obj.Addr, 4999, 1, data[4999:], uint64(obj.Size)),
		readOp(workload.OpRangeGet, obj.Addr, 10, 0, data[10:], uint64(obj.Size)), // length 0: to the end
		opSpec{kind: workload.OpGet, in: map[string]any{"addr": obj.Addr.String(), "offset": uint64(0), "length": uint64(0)},
			out: map[string]any{"ok": false, "error": "not_found"}, call: 5, ret: 6},
		opSpec{kind: workload.OpGet, in: map[string]any{"addr": obj.Addr.String(), "offset": uint64(0), "length": uint64(0)}, call: 7, ret: -1},
	)
	if r := Integrity(h, lookup); !r.OK || !strings.Contains(r.Detail, "5 successful") {
		t.Fatalf("integrity rejected a correct history: %+v", r)
	}
}

func TestIntegrityCatchesWrongBytes(t *testing.T) {
	obj, lookup := contentFixture(t)
	data := obj.Bytes()
	flipped := bytes.Clone(data)
	flipped[2000] ^= 1
	size := uint64(obj.Size)
	cases := map[string]opSpec{
		"whole get, one bit flipped":    readOp(workload.OpGet, obj.Addr, 0, 0, flipped, size),
		"range get, one bit flipped":    readOp(workload.OpRangeGet, obj.Addr, 1990, 20, flipped[1990:2010], size),
		"range get, shifted by one":     readOp(workload.OpRangeGet, obj.Addr, 100, 50, data[101:151], size),
		"range get, short":              readOp(workload.OpRangeGet, obj.Addr, 100, 50, data[100:149], size),
		"whole get, truncated":          readOp(workload.OpGet, obj.Addr, 0, 0, data[:4999], size),
		"get, wrong size reported":      readOp(workload.OpGet, obj.Addr, 0, 0, data, size+1),
		"range beyond the object works": readOp(workload.OpRangeGet, obj.Addr, 5000, 1, data[:1], size),
		"put acknowledged as another":   putOp(obj, proto.AddrOf([]byte("x")).String(), size),
		"put with the wrong size":       putOp(obj, obj.Addr.String(), size-1),
		"get of an unknown object":      readOp(workload.OpGet, proto.AddrOf([]byte("x")), 0, 0, []byte("x"), 1),
	}
	for name, op := range cases {
		t.Run(name, func(t *testing.T) {
			h := history(readOp(workload.OpGet, obj.Addr, 0, 0, data, size), op)
			r := Integrity(h, lookup)
			if r.OK {
				t.Fatalf("integrity accepted %s: %s", name, r.Detail)
			}
			if !strings.HasPrefix(r.Detail, "op 1 ") {
				t.Fatalf("integrity blamed the wrong op: %s", r.Detail)
			}
		})
	}
}

func TestContentDurability(t *testing.T) {
	obj, _ := contentFixture(t)
	good := FinalRead{Object: obj, Node: 1, Answer: true, Addr: obj.Addr, Length: obj.Size}
	if r := ContentDurability([]workload.ContentObject{obj}, map[proto.Addr]FinalRead{obj.Addr: good}); !r.OK {
		t.Fatalf("an intact read failed: %s", r.Detail)
	}
	if r := ContentDurability(nil, nil); !r.OK {
		t.Fatalf("nothing acknowledged, nothing to lose: %s", r.Detail)
	}
	bad := map[string]FinalRead{
		"no answer": {Object: obj, Node: 1},
		"not found": {Object: obj, Node: 1, Answer: true, Err: "not_found"},
		"wrong":     {Object: obj, Node: 1, Answer: true, Addr: proto.AddrOf(nil), Length: obj.Size},
		"short":     {Object: obj, Node: 1, Answer: true, Addr: obj.Addr, Length: obj.Size - 1},
	}
	for name, rd := range bad {
		if r := ContentDurability([]workload.ContentObject{obj}, map[proto.Addr]FinalRead{obj.Addr: rd}); r.OK {
			t.Errorf("%s: accepted: %s", name, r.Detail)
		}
	}
	if r := ContentDurability([]workload.ContentObject{obj}, map[proto.Addr]FinalRead{}); r.OK {
		t.Errorf("an object never read back passed: %s", r.Detail)
	}
}

// TestPlacementIsTheClosest compares Placement with a brute force over
// every member: no member left out may be closer than one chosen.
func TestPlacementIsTheClosest(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 12).Draw(t, "members")
		r := rapid.IntRange(1, 5).Draw(t, "r")
		members := make([]proto.NodeID, n)
		for i := range members {
			copy(members[i][:], rapid.SliceOfN(rapid.Byte(), proto.IDBytes, proto.IDBytes).Draw(t, "id"))
		}
		var addr proto.Addr
		copy(addr[:], rapid.SliceOfN(rapid.Byte(), proto.IDBytes, proto.IDBytes).Draw(t, "addr"))
		got := Placement(members, addr, r)
		distinct := map[proto.NodeID]bool{}
		for _, m := range members {
			distinct[m] = true
		}
		if len(got) != min(r, len(distinct)) {
			t.Fatalf("placed on %d nodes, want %d", len(got), min(r, len(distinct)))
		}
		xor := func(id proto.NodeID) []byte {
			d := make([]byte, proto.IDBytes)
			for i := range d {
				d[i] = id[i] ^ addr[i]
			}
			return d
		}
		chosen := map[proto.NodeID]bool{}
		for k, id := range got {
			if chosen[id] {
				t.Fatalf("%s placed twice", id.Short())
			}
			chosen[id] = true
			if k > 0 && bytes.Compare(xor(got[k-1]), xor(id)) >= 0 {
				t.Fatalf("placement not ordered by distance at %d", k)
			}
		}
		for m := range distinct {
			if !chosen[m] && bytes.Compare(xor(m), xor(got[len(got)-1])) < 0 {
				t.Fatalf("%s left out but closer than %s", m.Short(), got[len(got)-1].Short())
			}
		}
	})
}
