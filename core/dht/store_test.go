package dht

import (
	"testing"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// TestClosestAPI: Closest answers from the table, sorted, bounded by n
// and by the table's size.
func TestClosestAPI(t *testing.T) {
	s := newSolo(t, Config{})
	r := env.NewRand(5)
	for i := 0; i < 50; i++ {
		var id proto.NodeID
		r.Fill(id[:])
		s.deliver(id, uint64(i+1), message{kind: kindPing})
	}
	if s.d.TableSize() == 0 || s.d.TableSize() > 50 {
		t.Fatalf("table size %d after 50 senders", s.d.TableSize())
	}
	var target proto.NodeID
	r.Fill(target[:])
	got := s.d.Closest(target, 7)
	if len(got) != min(7, s.d.TableSize()) || !sortedByDistance(got, target) {
		t.Fatalf("Closest(7): %d ids, sorted %v", len(got), sortedByDistance(got, target))
	}
	if all := s.d.Closest(target, 1000); len(all) != s.d.TableSize() {
		t.Fatalf("Closest(1000) = %d ids, table %d", len(all), s.d.TableSize())
	}
}
