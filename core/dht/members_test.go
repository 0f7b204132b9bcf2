package dht

import (
	"slices"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/envtest"
	"github.com/ron-network/ron/core/proto"
)

// TestNonMembersNotLearnedOrServed: with Config.Members set, a node
// outside it that pings, asks FIND_NODE or PROVIDEs its own valid record
// gets no answer, enters no routing table and stores nothing; each
// message counts dht_rejects_total{reason="not_member"}. A member's
// PROVIDE of a non-member's record is refused too. A member is learned,
// answered, and its own record stored. The old code learned and served
// every sender (the red team's 60 fake ids filled node1's table).
func TestNonMembersNotLearnedOrServed(t *testing.T) {
	memberKey, strangerKey := testKey(9, 1), testKey(9, 3)
	member, stranger := keyID(memberKey), keyID(strangerKey)
	s := newSolo(t, Config{Members: []proto.NodeID{member}})
	s.sent()
	addr := proto.AddrOf([]byte("object"))

	s.deliver(stranger, 1, message{kind: kindPing})
	s.deliver(stranger, 2, message{kind: kindFindNode, target: stranger})
	s.deliver(stranger, 3, message{kind: kindProvide, record: NewProviderRecord(strangerKey, addr, s.e.Now().Add(time.Hour))})
	if msgs := s.sent(); len(msgs) != 0 {
		t.Fatalf("answered a non-member: %+v", msgs)
	}
	if got := s.metric(MetricRejects, ReasonNotMember); got != 3 {
		t.Fatalf("not_member rejects = %v, want 3", got)
	}
	if slices.Contains(s.d.Closest(stranger, KMax), stranger) {
		t.Fatal("a non-member entered the routing table")
	}
	if n := s.d.ProviderRecords(); n != 0 {
		t.Fatalf("%d records stored from a non-member", n)
	}

	s.deliver(member, 4, message{kind: kindProvide, record: NewProviderRecord(strangerKey, addr, s.e.Now().Add(time.Hour))})
	if ack, ok := findKind(s.sent(), kindProvideAck, member); !ok || ack.m.status != ackRejected || s.d.ProviderRecords() != 0 {
		t.Fatalf("a member's relay of a non-member's record: ack %+v (sent %v), %d stored; want rejected, none", ack.m, ok, s.d.ProviderRecords())
	}
	s.deliver(member, 5, message{kind: kindPing})
	if _, ok := findKind(s.sent(), kindPong, member); !ok {
		t.Fatal("no pong to a member")
	}
	if !slices.Contains(s.d.Closest(member, KMax), member) {
		t.Fatal("a member was not learned")
	}
	s.deliver(member, 6, message{kind: kindProvide, record: NewProviderRecord(memberKey, addr, s.e.Now().Add(time.Hour))})
	if ack, ok := findKind(s.sent(), kindProvideAck, member); !ok || ack.m.status != ackStored || s.d.ProviderRecords() != 1 {
		t.Fatalf("a member's own record: ack %+v (sent %v), %d stored; want stored", ack.m, ok, s.d.ProviderRecords())
	}
}

// TestLookupSkipsNonMembers: a member's FIND_NODE reply naming a
// non-member does not make the lookup query it, and a member's
// FIND_PROVIDERS reply carrying a non-member's valid record does not
// return it (storage would fetch from that provider).
func TestLookupSkipsNonMembers(t *testing.T) {
	memberKey, strangerKey := testKey(9, 1), testKey(9, 3)
	member, stranger := keyID(memberKey), keyID(strangerKey)
	s := newSolo(t, Config{Members: []proto.NodeID{member}, Bootstrap: []proto.NodeID{member}})
	s.sent()
	s.waitRPCsOut()
	s.sent()
	s.deliver(member, 1, message{kind: kindPing}) // back in the table
	s.sent()

	var res *LookupResult
	s.d.Lookup(stranger, func(r LookupResult) { res = &r })
	q, ok := findKind(s.sent(), kindFindNode, member)
	if !ok {
		t.Fatal("no FIND_NODE to the member")
	}
	s.deliver(member, q.corr, message{kind: kindNodes, nodes: appendIDs(nil, []proto.NodeID{stranger})})
	if _, ok := findKind(s.sent(), kindFindNode, stranger); ok {
		t.Fatal("the lookup queried a non-member named in a reply")
	}
	if res == nil {
		t.Fatal("lookup did not finish")
	}
	if slices.Contains(res.Closest, stranger) {
		t.Fatalf("lookup result names a non-member: %v", res.Closest)
	}

	addr := proto.AddrOf([]byte("object"))
	var pres *ProvidersResult
	s.d.FindProvidersAsync(addr, 0, func(r ProvidersResult) { pres = &r })
	fq, ok := findKind(s.sent(), kindFindProviders, member)
	if !ok {
		t.Fatal("no FIND_PROVIDERS to the member")
	}
	mine := NewProviderRecord(memberKey, addr, s.e.Now().Add(time.Hour))
	reply := message{kind: kindProviders, records: []ProviderRecord{NewProviderRecord(strangerKey, addr, s.e.Now().Add(time.Hour)), mine}}
	s.deliver(member, fq.corr, reply)
	if pres == nil {
		t.Fatal("FindProviders did not finish")
	}
	if len(pres.Providers) != 1 || pres.Providers[0] != mine {
		t.Fatalf("providers %+v, want only the member's record", pres.Providers)
	}
}

// TestSetMembers: a SetMembers request replaces a running machine's
// membership. A stranger refused before is answered and learned once
// listed; dropped again, it leaves the routing table at once and is
// refused. The old code had no SetMembers: the list was fixed at New.
func TestSetMembers(t *testing.T) {
	member, stranger := keyID(testKey(9, 1)), keyID(testKey(9, 3))
	s := newSolo(t, Config{Members: []proto.NodeID{member}})
	s.sent()
	set := func(ids ...proto.NodeID) {
		t.Helper()
		envtest.Step(s.d, env.Request{ID: 1, Service: ServiceName, Body: SetMembers{Members: ids}})
		s.d.checkDeep()
	}
	s.deliver(stranger, 1, message{kind: kindPing})
	if _, ok := findKind(s.sent(), kindPong, stranger); ok || s.metric(MetricRejects, ReasonNotMember) != 1 {
		t.Fatal("a stranger was answered before it was listed")
	}

	set(member, stranger)
	s.deliver(stranger, 2, message{kind: kindPing})
	if _, ok := findKind(s.sent(), kindPong, stranger); !ok {
		t.Fatal("no pong to the stranger once listed")
	}
	if !slices.Contains(s.d.Closest(stranger, KMax), stranger) {
		t.Fatal("the listed stranger was not learned")
	}

	set(member)
	if slices.Contains(s.d.Closest(stranger, KMax), stranger) {
		t.Fatal("a dropped member stayed in the routing table")
	}
	s.deliver(stranger, 3, message{kind: kindPing})
	if _, ok := findKind(s.sent(), kindPong, stranger); ok || s.metric(MetricRejects, ReasonNotMember) != 2 {
		t.Fatalf("a dropped member was answered (not_member rejects %v, want 2)", s.metric(MetricRejects, ReasonNotMember))
	}
}
