package sim

import (
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestQueuePopsInTimeThenSequenceOrder drives the heap with random pushes
// and pops and compares it with a sorted model.
func TestQueuePopsInTimeThenSequenceOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var q queue
		type item struct {
			at   time.Duration
			seq  int
			slot int32
		}
		var model []item
		pushes := 0
		t.Repeat(map[string]func(*rapid.T){
			"push": func(t *rapid.T) {
				at := time.Duration(rapid.IntRange(0, 20).Draw(t, "at"))
				slot := q.alloc()
				q.push(at, slot)
				pushes++
				model = append(model, item{at: at, seq: pushes, slot: slot})
			},
			"pop": func(t *rapid.T) {
				if len(model) == 0 {
					t.Skip("empty")
				}
				slices.SortFunc(model, func(a, b item) int {
					if a.at != b.at {
						return int(a.at - b.at)
					}
					return a.seq - b.seq
				})
				want := model[0]
				model = model[1:]
				got := q.pop()
				if got.at != want.at || got.slot != want.slot {
					t.Fatalf("popped (%v, slot %d), want (%v, slot %d)", got.at, got.slot, want.at, want.slot)
				}
				q.release(got.slot)
			},
			"": func(t *rapid.T) {
				if len(q.heap) != len(model) {
					t.Fatalf("heap holds %d, model %d", len(q.heap), len(model))
				}
			},
		})
	})
}

func TestTimerIDRoundTripsAndIsNeverZero(t *testing.T) {
	var q queue
	seen := map[uint64]bool{}
	for i := 0; i < 1000; i++ {
		slot := q.alloc()
		id := timerID(slot, q.slab[slot].gen)
		if id == 0 || seen[uint64(id)] {
			t.Fatalf("id %d zero or repeated", id)
		}
		seen[uint64(id)] = true
		if s, g := splitTimerID(id); s != slot || g != q.slab[slot].gen {
			t.Fatalf("split(%d) = %d,%d", id, s, g)
		}
		if i%3 != 0 {
			q.release(slot)
		}
	}
}
