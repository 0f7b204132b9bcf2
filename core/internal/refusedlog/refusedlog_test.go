package refusedlog

import (
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// TestBounded: a Log remembers at most IDsMax ids, forgetting the one
// logged longest ago, and logs each id again only once Every has passed
// for it.
func TestBounded(t *testing.T) {
	var r Log
	id := func(i int) proto.NodeID { return proto.NodeID{byte(i >> 8), byte(i)} }
	now := env.Time(0)
	for i := range IDsMax + 10 {
		now = now.Add(time.Second)
		if !r.Due(id(i), now) {
			t.Fatalf("id %d: first refusal not logged", i)
		}
		if len(r) > IDsMax {
			t.Fatalf("%d ids remembered, bound %d", len(r), IDsMax)
		}
	}
	last := id(IDsMax + 9)
	if r.Due(last, now.Add(Every-time.Nanosecond)) {
		t.Fatal("an id logged again within Every")
	}
	if !r.Due(id(0), now) {
		t.Fatal("the id logged longest ago was not forgotten when the log was full")
	}
	if !r.Due(last, now.Add(Every)) {
		t.Fatal("an id not logged again once Every passed")
	}
}

// TestTiesForgetTheLowestID: ids logged at the same time are forgotten
// lowest first, whatever the map's iteration order.
func TestTiesForgetTheLowestID(t *testing.T) {
	for range 20 {
		var r Log
		for i := range IDsMax {
			r.Due(proto.NodeID{byte(i >> 8), byte(i)}, env.Time(0))
		}
		r.Due(proto.NodeID{0xff}, env.Time(1))
		if _, ok := r[proto.NodeID{0, 0}]; ok {
			t.Fatal("the lowest of the ids logged longest ago was kept when the log was full")
		}
		if len(r) != IDsMax {
			t.Fatalf("%d ids remembered, want %d", len(r), IDsMax)
		}
	}
}
