package dht

import (
	"testing"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// TestStorePerAddressCap: one address holds at most ProvidersPerAddrMax
// records; a newcomer that expires later replaces the earliest of that
// address only, and a re-put with a later expiry refreshes in place.
func TestStorePerAddressCap(t *testing.T) {
	s := newStore(ProviderRecordsMax)
	addr := proto.AddrOf([]byte("popular"))
	rec := func(i int, exp env.Time) *ProviderRecord {
		r := &ProviderRecord{Addr: addr, Expiry: exp}
		r.Provider[0], r.Provider[1] = byte(i>>8), byte(i)
		return r
	}
	for i := 0; i < ProvidersPerAddrMax; i++ {
		if res, shed := s.put(rec(i, env.Time(100+i))); res != putStored || shed != 0 {
			t.Fatalf("record %d: %d, shed %d", i, res, shed)
		}
	}
	other := &ProviderRecord{Addr: proto.AddrOf([]byte("other")), Expiry: 1}
	if res, _ := s.put(other); res != putStored {
		t.Fatal("another address is not limited by this one's cap")
	}
	if res, _ := s.put(rec(1000, 50)); res != putShed {
		t.Fatal("a record expiring before every rival was stored")
	}
	if res, shed := s.put(rec(1000, 500)); res != putStored || shed != 1 {
		t.Fatalf("later record: %d, shed %d", res, shed)
	}
	if got := s.appendProviders(nil, addr, 0, 1000); len(got) != ProvidersPerAddrMax || got[0].Expiry == 100 {
		t.Fatalf("%d records, first expiry %d; want the cap and the 100 one gone", len(got), got[0].Expiry)
	}
	if res, shed := s.put(rec(5, 1000)); res != putStored || shed != 0 {
		t.Fatal("refresh of a stored provider shed something")
	}
	// Due by now: the other address's record and records 1..63 except the
	// refreshed 5 (0 was shed); left: 5 (expiry 1000) and 1000 (expiry 500).
	if n := s.expire(env.Time(100 + ProvidersPerAddrMax)); n != 1+ProvidersPerAddrMax-2 {
		t.Fatalf("expired %d, want %d", n, 1+ProvidersPerAddrMax-2)
	}
	s.check()
	if s.len() != 2 {
		t.Fatalf("store holds %d, want 2", s.len())
	}
}

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
