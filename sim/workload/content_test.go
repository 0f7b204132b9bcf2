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
