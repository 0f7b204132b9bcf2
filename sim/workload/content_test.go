package workload

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/storage"
	"github.com/ron-network/ron/sim"
)

func TestContentObjectBytesAreItsSeed(t *testing.T) {
	a, b := NewContentObject(7, 3000), NewContentObject(7, 3000)
	if a != b || !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("the same seed and size gave different objects")
	}
	if proto.AddrOf(a.Bytes()) != a.Addr || len(a.Bytes()) != 3000 {
		t.Fatal("an object's address is not the hash of its bytes")
	}
	want := make([]byte, 3000)
	env.NewRand(7).Fill(want)
	if !bytes.Equal(a.Bytes(), want) {
		t.Fatal("an object's bytes are not the first Size bytes of env.NewRand(Seed), as the history documents")
	}
	if NewContentObject(8, 3000).Addr == a.Addr {
		t.Fatal("different seeds gave the same object")
	}
}

// runContent runs a content workload for d against three storage nodes
// and returns its history as JSON lines and the workload.
func runContent(t *testing.T, seed uint64, cfg ContentConfig, d time.Duration) ([]byte, *Content) {
	t.Helper()
	var w *sim.World
	var members []proto.NodeID
	w = sim.New(sim.Config{Seed: seed, Nodes: 3, NewNode: func(i int, e env.Env) *node.Node {
		if members == nil {
			for j := 0; j < w.Nodes(); j++ {
				members = append(members, w.NodeID(j))
			}
		}
		return node.New(e, node.Config{Invariants: true}, storage.New(storage.Config{Members: members}))
	}})
	defer w.Close()
	c := NewContent(w, cfg)
	c.Start()
	if err := w.RunUntil(d); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := c.History().WriteJSONLines(&out); err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), c
}

// TestContentWorkload runs the clients against real storage nodes and
// checks the history's shape: sizes in range, reads only of objects whose
// put was acknowledged before the read was issued, acknowledged puts
// report their object's address, and the same seed gives the same history.
func TestContentWorkload(t *testing.T) {
	cfg := ContentConfig{Clients: 3, RatePerSecond: 30, Timeout: 15 * time.Second, Stop: 4 * time.Second,
		Objects: 10, SizeMinBytes: 100, SizeMaxBytes: 300 << 10, Put: 1, Get: 1, RangeGet: 1}
	first, c := runContent(t, 5, cfg, 5*time.Second)
	again, _ := runContent(t, 5, cfg, 5*time.Second)
	if !bytes.Equal(first, again) {
		t.Fatal("the same seed gave two different histories")
	}
	ackedAt := map[string]int64{}
	kinds := map[string]int{}
	for i, op := range c.History().Ops {
		kinds[op.Kind]++
		if op.Unknown() {
			continue
		}
		ok, _ := op.Output["ok"].(bool)
		switch op.Kind {
		case OpPut:
			size := op.Input["size"].(int)
			if size < 100 || size > 300<<10 {
				t.Fatalf("op %d: size %d outside the configured range", i, size)
			}
			if ok {
				want := NewContentObject(op.Input["seed"].(uint64), size).Addr.String()
				if op.Output["addr"] != want {
					t.Fatalf("op %d: acknowledged as %v, want %s", i, op.Output["addr"], want)
				}
				if _, seen := ackedAt[want]; !seen {
					ackedAt[want] = *op.Return
				}
			}
		case OpGet, OpRangeGet:
			at, seen := ackedAt[op.Input["addr"].(string)]
			if !seen || at > op.Call {
				t.Fatalf("op %d reads %v, which was not acknowledged before it was issued", i, op.Input["addr"])
			}
			if ok && op.Kind == OpGet && op.Output["addr"] != op.Input["addr"] {
				t.Fatalf("op %d: a whole get returned bytes hashing to %v", i, op.Output["addr"])
			}
		}
	}
	if kinds[OpPut] == 0 || kinds[OpGet] == 0 || kinds[OpRangeGet] == 0 {
		t.Fatalf("the mix was not exercised: %v", kinds)
	}
	if c.Objects() > cfg.Objects || len(c.Acknowledged()) != len(ackedAt) {
		t.Fatalf("%d objects (max %d), %d acknowledged, history shows %d", c.Objects(), cfg.Objects, len(c.Acknowledged()), len(ackedAt))
	}
}

// TestDurabilityRequired: an acknowledged object is excused only when,
// after every acknowledged put of it, unpins that may have taken effect
// later reached quorum of its placement nodes (pins.yaml seed 909: the
// last put at 17.9s, then unpins on all three placement nodes).
func TestDurabilityRequired(t *testing.T) {
	a, b := proto.AddrOf([]byte("a")), proto.AddrOf([]byte("b"))
	placed := func(i int) bool { return i <= 2 } // nodes 0, 1, 2
	late := func(node int) Unpin {
		return Unpin{Node: node, Addr: a, Call: 12 * time.Second, Return: 13 * time.Second, Returned: true}
	}
	puts := []time.Duration{5 * time.Second, 10 * time.Second}
	cases := []struct {
		name   string
		puts   []time.Duration
		unpins []Unpin
		placed func(int) bool
		want   bool
	}{
		{"no unpin", puts, nil, placed, true},
		{"one placement node unpinned late", puts, []Unpin{late(0)}, placed, true},
		{"one node unpinned twice", puts, []Unpin{late(1), late(1)}, placed, true},
		{"two placement nodes unpinned late", puts, []Unpin{late(0), late(1)}, placed, false},
		{"all three placement nodes unpinned late", puts, []Unpin{late(0), late(1), late(2)}, placed, false},
		{"a non-placement node does not count", puts, []Unpin{late(0), late(4)}, placed, true},
		{"unknown placement: every node counts", puts, []Unpin{late(0), late(4)}, nil, false},
		{"another object", puts, []Unpin{late(0), {Node: 1, Addr: b, Call: 12 * time.Second, Return: 13 * time.Second, Returned: true}}, placed, true},
		{"answered before a later put", append(puts, 14*time.Second), []Unpin{late(0), late(1)}, placed, true},
		{"answered as a later put was sent", append(puts, 13*time.Second), []Unpin{late(0), late(1)}, placed, false},
		{"never answered, sent before every put", append(puts, 20*time.Second), []Unpin{{Node: 0, Addr: a, Call: 2 * time.Second}, {Node: 1, Addr: a, Call: 2 * time.Second}}, placed, false},
		{"no acknowledged put listed", nil, []Unpin{late(0), late(1)}, placed, true},
	}
	for _, c := range cases {
		if got := DurabilityRequired(a, c.puts, c.unpins, c.placed, 2); got != c.want {
			t.Errorf("%s: DurabilityRequired = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestPinRequired: a pinned put is excused only by an unpin of the same
// copy (node and object) that had not answered before the put was sent.
func TestPinRequired(t *testing.T) {
	a, b := proto.AddrOf([]byte("a")), proto.AddrOf([]byte("b"))
	p := PinnedCopy{Node: 1, Addr: a, Call: 10 * time.Second, At: 11 * time.Second}
	cases := []struct {
		name  string
		unpin Unpin
		want  bool
	}{
		{"answered before the put", Unpin{Node: 1, Addr: a, Call: 8 * time.Second, Return: 9 * time.Second, Returned: true}, true},
		{"failed before the put", Unpin{Node: 1, Addr: a, Call: 8 * time.Second, Return: 9 * time.Second, Returned: true, Err: errors.New("x")}, true},
		{"answered as the put was sent", Unpin{Node: 1, Addr: a, Call: 8 * time.Second, Return: 10 * time.Second, Returned: true}, false},
		{"overlapping the put", Unpin{Node: 1, Addr: a, Call: 9 * time.Second, Return: 10500 * time.Millisecond, Returned: true}, false},
		{"after the put", Unpin{Node: 1, Addr: a, Call: 12 * time.Second, Return: 13 * time.Second, Returned: true}, false},
		{"never answered, sent before", Unpin{Node: 1, Addr: a, Call: 2 * time.Second}, false},
		{"another node", Unpin{Node: 2, Addr: a, Call: 12 * time.Second, Return: 13 * time.Second, Returned: true}, true},
		{"another object", Unpin{Node: 1, Addr: b, Call: 12 * time.Second, Return: 13 * time.Second, Returned: true}, true},
	}
	for _, c := range cases {
		if got := PinRequired(p, []Unpin{c.unpin}); got != c.want {
			t.Errorf("%s: PinRequired = %v, want %v", c.name, got, c.want)
		}
	}
	if !PinRequired(p, nil) {
		t.Errorf("no unpin: PinRequired = false")
	}
}
