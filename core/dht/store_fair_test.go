package dht

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// keyID is the node id of a test key: a remote node that signs its own
// records and sends them itself, as every node does.
func keyID(k ed25519.PrivateKey) proto.NodeID {
	return proto.NodeIDFromPublicKey(k.Public().(ed25519.PublicKey))
}

// maxExpiry is the latest expiry verification accepts, less a minute: what
// an attacker stamps on records to outlast everyone else's.
func maxExpiry(now env.Time) env.Time {
	return now.Add(ProviderTTLDefault + ExpirySkewMax - time.Minute)
}

// provideFrom delivers a PROVIDE of rec from sender and returns the ack.
func (s *solo) provideFrom(sender proto.NodeID, corr uint64, rec ProviderRecord) ackStatus {
	s.deliver(sender, corr, message{kind: kindProvide, record: rec})
	ack, ok := findKind(s.sent(), kindProvideAck, sender)
	if !ok {
		s.t.Fatalf("no PROVIDE_ACK to the sender of record %d", corr)
	}
	return ack.m.status
}

func (s *solo) holds(addr proto.Addr, provider proto.NodeID) bool {
	for _, r := range s.d.store.appendProviders(nil, addr, s.e.Now(), ProvidersPerAddrMax) {
		if r.Provider == provider {
			return true
		}
	}
	return false
}

// TestProviderEclipseMaxExpiry is the red team's attack on one address
// (rt5 reproC): three honest providers hold records for an address; 64
// throwaway keys each announce themselves for it with the latest expiry
// verification accepts, 64 times. The honest records must survive (the
// old store shed whichever record expired first, so all three went), and
// an honest provider refreshing its record must still succeed.
func TestProviderEclipseMaxExpiry(t *testing.T) {
	s := newSolo(t, Config{})
	addr := proto.AddrOf([]byte("an honest object"))
	now := s.e.Now()
	var honest []ed25519.PrivateKey
	corr := uint64(1)
	for i := 0; i < 3; i++ {
		k := testKey(31, i)
		honest = append(honest, k)
		if st := s.provideFrom(keyID(k), corr, NewProviderRecord(k, addr, now.Add(ProviderTTLDefault))); st != ackStored {
			t.Fatalf("honest record %d: ack %d", i, st)
		}
		corr++
	}
	for a := 0; a < 64; a++ {
		k := testKey(32, a)
		rec := NewProviderRecord(k, addr, maxExpiry(now))
		for j := 0; j < 64; j++ {
			s.provideFrom(keyID(k), corr, rec)
			corr++
		}
	}
	for i, k := range honest {
		if !s.holds(addr, keyID(k)) {
			t.Errorf("honest provider %d evicted by max-expiry records", i)
		}
	}
	if got := len(s.d.store.appendProviders(nil, addr, s.e.Now(), ProvidersPerAddrMax)); got != ProvidersPerAddrMax {
		t.Errorf("address holds %d records, want the cap %d", got, ProvidersPerAddrMax)
	}
	// Half a TTL on, the honest providers republish: it replaces in place.
	s.advance(RepublishIntervalDefault)
	for i, k := range honest {
		if st := s.provideFrom(keyID(k), corr, NewProviderRecord(k, addr, s.e.Now().Add(ProviderTTLDefault))); st != ackStored {
			t.Errorf("honest republish %d: ack %d, want stored", i, st)
		}
		corr++
	}
	// The attackers' records expire while theirs go on.
	s.advance(ProviderTTLDefault/2 + ExpirySkewMax)
	for i, k := range honest {
		if !s.holds(addr, keyID(k)) {
			t.Errorf("republished honest provider %d gone", i)
		}
	}
}

// TestStoreFloodOneSender is the red team's whole-store flood (rt5
// reproC2): one sender sends far more records than the store holds, each
// for a new address and with the latest accepted expiry, signed by its own
// key and then by fresh keys. Every honest record must survive (the old
// store shed the honest ones, which expire sooner, until none was left).
func TestStoreFloodOneSender(t *testing.T) {
	const max = 512
	s := newSolo(t, Config{ProviderRecordsMax: max})
	now := s.e.Now()
	type held struct {
		addr     proto.Addr
		provider proto.NodeID
	}
	var honest []held
	corr := uint64(1)
	for i := 0; i < 16; i++ {
		k := testKey(41, i)
		for j := 0; j < 4; j++ {
			addr := proto.AddrOf([]byte(fmt.Sprintf("honest %d/%d", i, j)))
			if st := s.provideFrom(keyID(k), corr, NewProviderRecord(k, addr, now.Add(ProviderTTLDefault))); st != ackStored {
				t.Fatalf("honest record %d/%d: ack %d", i, j, st)
			}
			corr++
			honest = append(honest, held{addr, keyID(k)})
		}
	}
	flooder := testKey(42, 0)
	for i := 0; i < 4*max; i++ {
		k := flooder
		if i%2 == 1 {
			k = testKey(43, i) // records of other keys, relayed by the flooder
		}
		addr := proto.AddrOf([]byte(fmt.Sprintf("flood %d", i)))
		s.provideFrom(keyID(flooder), corr, NewProviderRecord(k, addr, maxExpiry(now)))
		corr++
	}
	for _, h := range honest {
		if !s.holds(h.addr, h.provider) {
			t.Fatalf("honest record of %s shed by one sender's flood", h.provider.Short())
		}
	}
	if got := s.d.ProviderRecords(); got > len(honest)+max/8 {
		t.Errorf("store holds %d records; one sender got more than its quota of %d", got, max/8)
	}
}

// TestStoreFloodManySenders: 16 sybil senders flood a store of 256 past
// full. The honest senders, each holding fewer records than any flooder,
// lose none, and a new honest sender still gets a slot: a full store sheds
// from the largest holder.
func TestStoreFloodManySenders(t *testing.T) {
	const max = 256
	s := newSolo(t, Config{ProviderRecordsMax: max})
	now := s.e.Now()
	corr := uint64(1)
	var honest []proto.Addr
	for i := 0; i < 20; i++ {
		k := testKey(51, i)
		addr := proto.AddrOf([]byte(fmt.Sprintf("honest %d", i)))
		honest = append(honest, addr)
		s.provideFrom(keyID(k), corr, NewProviderRecord(k, addr, now.Add(ProviderTTLDefault)))
		corr++
	}
	for a := 0; a < 16; a++ {
		k := testKey(52, a)
		for j := 0; j < 40; j++ {
			addr := proto.AddrOf([]byte(fmt.Sprintf("flood %d/%d", a, j)))
			s.provideFrom(keyID(k), corr, NewProviderRecord(k, addr, maxExpiry(now)))
			corr++
		}
	}
	if got := s.d.ProviderRecords(); got != max {
		t.Fatalf("store holds %d, want it full at %d", got, max)
	}
	for i, addr := range honest {
		if !s.holds(addr, keyID(testKey(51, i))) {
			t.Errorf("honest record %d shed by a sybil flood", i)
		}
	}
	late := testKey(53, 0)
	addr := proto.AddrOf([]byte("late honest"))
	if st := s.provideFrom(keyID(late), corr, NewProviderRecord(late, addr, now.Add(time.Hour))); st != ackStored {
		t.Errorf("a new honest sender into a store full of flood: ack %d, want stored", st)
	}
	if s.metric(MetricShed, "provider_record") == 0 || s.metric(MetricRejects, ReasonSenderQuota) == 0 {
		t.Errorf("shed %v, sender_quota rejects %v; want both counted",
			s.metric(MetricShed, "provider_record"), s.metric(MetricRejects, ReasonSenderQuota))
	}
}

// TestStoreQuotas: the per-sender and per-provider quotas refuse with
// their reason and ack shed; a refresh is not counted twice; this node's
// own record is exempt and takes a slot at a full address.
func TestStoreQuotas(t *testing.T) {
	s := newSolo(t, Config{ProviderRecordsMax: 128, ProviderRecordsPerSenderMax: 4})
	now := s.e.Now()
	k := testKey(61, 0)
	corr := uint64(1)
	provide := func(sender proto.NodeID, key ed25519.PrivateKey, name string, exp time.Duration) ackStatus {
		corr++
		return s.provideFrom(sender, corr, NewProviderRecord(key, proto.AddrOf([]byte(name)), now.Add(exp)))
	}
	for i := 0; i < 4; i++ {
		if st := provide(keyID(k), k, fmt.Sprint(i), time.Hour); st != ackStored {
			t.Fatalf("record %d under the quota: ack %d", i, st)
		}
	}
	if st := provide(keyID(k), k, "0", 2*time.Hour); st != ackStored {
		t.Fatalf("refresh at the quota: ack %d, want stored", st)
	}
	if st := provide(keyID(k), k, "4", time.Hour); st != ackShed || s.metric(MetricRejects, ReasonSenderQuota) != 1 {
		t.Fatalf("fifth record: ack %d, sender_quota %v", st, s.metric(MetricRejects, ReasonSenderQuota))
	}
	// The same provider's records relayed by another sender: provider quota.
	other := keyID(testKey(61, 1))
	if st := provide(other, k, "5", time.Hour); st != ackShed || s.metric(MetricRejects, ReasonProviderQuota) != 1 {
		t.Fatalf("relayed fifth record: ack %d, provider_quota %v", st, s.metric(MetricRejects, ReasonProviderQuota))
	}
	if got := s.d.ProviderRecords(); got != 4 {
		t.Fatalf("store holds %d, want 4", got)
	}
	// A full address refuses a new remote provider but not this node.
	addr := proto.AddrOf([]byte("full"))
	for i := 0; i < ProvidersPerAddrMax; i++ {
		pk := testKey(62, i)
		if st := provide(keyID(pk), pk, "full", time.Hour); st != ackStored {
			t.Fatalf("provider %d of a filling address: ack %d", i, st)
		}
	}
	pk := testKey(63, 0)
	if st := provide(keyID(pk), pk, "full", 3*time.Hour); st != ackShed {
		t.Fatalf("new provider at a full address: ack %d, want shed", st)
	}
	self := s.d.Self()
	before := s.metric(MetricShed, "provider_record")
	if st := s.d.accept(self, ptr(NewProviderRecord(testKey(7, 0), addr, now.Add(time.Hour)))); st != ackStored {
		t.Fatalf("own record: ack %d, want stored", st)
	}
	if !s.holds(addr, self) || s.metric(MetricShed, "provider_record") != before+1 {
		t.Fatal("own record not stored in place of another")
	}
	// Every sender holds one record, there and in all: the lowest id goes.
	low := 0
	for i := 1; i < ProvidersPerAddrMax; i++ {
		if a, b := keyID(testKey(62, i)), keyID(testKey(62, low)); bytes.Compare(a[:], b[:]) < 0 {
			low = i
		}
	}
	for i := 0; i < ProvidersPerAddrMax; i++ {
		if want := i != low; s.holds(addr, keyID(testKey(62, i))) != want {
			t.Fatalf("own record at a full address: provider %d held %v, want %v (the lowest id shed)", i, !want, want)
		}
	}
	s.d.checkDeep()
}

func ptr[T any](v T) *T { return &v }

// TestStoreFairnessProperty drives the store with random puts and expiries
// from a few senders and providers. After every step the invariants hold,
// a refresh never changes the count, and a record leaves other than by
// expiry only when its sender held at least two more records than the
// newcomer's sender (a full store), to make room for this node's own
// record, or when a provider delivering its own record sheds one of its
// records another sender delivered (a replay): no choice of expiry wins a
// slot. A small per-address cap reaches the full-address rules.
func TestStoreFairnessProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		max := rapid.IntRange(1, 24).Draw(t, "max")
		quota := rapid.IntRange(1, max).Draw(t, "quota")
		var self proto.NodeID
		self[0] = 0xee
		s := newStore(max, quota, self)
		s.perAddr = rapid.IntRange(1, 4).Draw(t, "perAddr")
		node := func(label string) proto.NodeID {
			var id proto.NodeID
			if i := rapid.IntRange(0, 5).Draw(t, label); i < 5 {
				id[0] = byte(i + 1)
			} else {
				id = self
			}
			return id
		}
		now := env.Time(0)
		for step := 0; step < 200; step++ {
			if rapid.IntRange(0, 9).Draw(t, "op") == 0 {
				now += env.Time(rapid.IntRange(1, 50).Draw(t, "dt"))
				s.expire(now)
				s.check()
				continue
			}
			rec := ProviderRecord{Provider: node("provider"), Expiry: now + env.Time(rapid.IntRange(1, 100).Draw(t, "exp"))}
			rec.Addr[0] = byte(rapid.IntRange(0, 3).Draw(t, "addr"))
			sender := node("sender")
			if rapid.Bool().Draw(t, "honest") {
				sender = rec.Provider
			}
			counts := map[proto.NodeID]int{}
			before := map[*storedRecord]ProviderRecord{}
			owners := map[*storedRecord]proto.NodeID{}
			for _, sr := range s.expiry {
				counts[sr.owner.id]++
				before[sr] = sr.rec
				owners[sr] = sr.owner.id
			}
			refresh := false
			for _, sr := range s.byAddr[rec.Addr] {
				refresh = refresh || sr.rec.Provider == rec.Provider
			}
			n := s.len()
			res, shed := s.put(&rec, sender)
			s.check()
			if refresh && (res != putStored || shed != 0 || s.len() != n) {
				t.Fatalf("refresh: result %d, shed %d, len %d -> %d", res, shed, n, s.len())
			}
			gone := 0
			// map order ok: per-entry checks and a count.
			for sr, old := range before {
				if sr.owner != nil {
					continue
				}
				gone++
				owner := owners[sr]
				own := sender == self && rec.Provider == self
				replay := sender == rec.Provider && old.Provider == rec.Provider && owner != sender
				if own && old.Addr == rec.Addr {
					// The own-record rule: the victim's sender held the
					// most records at the address.
					at := map[proto.NodeID]int{}
					for o, r := range before {
						if r.Addr == rec.Addr {
							at[owners[o]]++
						}
					}
					// map order ok: a max.
					for _, n := range at {
						if n > at[owner] {
							t.Fatalf("own record shed a record of a sender holding %d at the address, not the most (%d)", at[owner], n)
						}
					}
				}
				if !own && !replay && counts[owner] < counts[sender]+2 {
					t.Fatalf("shed a record of a sender holding %d for one holding %d", counts[owner], counts[sender])
				}
			}
			if gone != shed {
				t.Fatalf("%d records left, %d reported shed", gone, shed)
			}
		}
	})
}

// TestReplayDoesNotLockOutProvider (review: provider quota by signer): E
// replays quota-many of A's signed records (any FIND_PROVIDERS reply gives
// them) to this node. A's own PROVIDE must still be stored, shedding the
// youngest replay, and a further replay is refused on the provider quota.
func TestReplayDoesNotLockOutProvider(t *testing.T) {
	s := newSolo(t, Config{ProviderRecordsMax: 128, ProviderRecordsPerSenderMax: 4})
	now := s.e.Now()
	a := testKey(71, 0)
	e := keyID(testKey(71, 1))
	rec := func(i int) ProviderRecord {
		return NewProviderRecord(a, proto.AddrOf([]byte(fmt.Sprint("replayed ", i))), now.Add(time.Hour))
	}
	corr := uint64(1)
	for i := 0; i < 4; i++ {
		if st := s.provideFrom(e, corr, rec(i)); st != ackStored {
			t.Fatalf("replay %d under the quota: ack %d", i, st)
		}
		corr++
	}
	for i := 4; i < 8; i++ {
		if st := s.provideFrom(keyID(a), corr, rec(i)); st != ackStored {
			t.Fatalf("provider's own record %d after %d replays: ack %d, want stored", i, 4, st)
		}
		corr++
		// The youngest replay went: replays 0..6-i remain.
		for j := 0; j < 4; j++ {
			if want := j < 7-i; s.holds(rec(j).Addr, keyID(a)) != want {
				t.Fatalf("after own record %d: replay %d held %v, want %v", i, j, !want, want)
			}
		}
	}
	if st := s.provideFrom(e, corr, rec(9)); st != ackShed || s.metric(MetricRejects, ReasonProviderQuota) != 1 {
		t.Fatalf("replay over the provider quota: ack %d, provider_quota %v", st, s.metric(MetricRejects, ReasonProviderQuota))
	}
	if st := s.provideFrom(keyID(a), corr+1, rec(10)); st != ackShed || s.metric(MetricRejects, ReasonSenderQuota) != 1 {
		t.Fatalf("provider over its own quota: ack %d, sender_quota %v", st, s.metric(MetricRejects, ReasonSenderQuota))
	}
	s.d.checkDeep()
}

// TestFindProvidersOldestFirst (review: served in provider id order): an
// honest provider announces first; then storage's ProviderCandidatesMax
// (8) records signed by keys whose ids sort below it arrive. A reader
// asking for 8 must still get the honest one: records are served oldest
// arrival first, an order a newcomer cannot choose.
func TestFindProvidersOldestFirst(t *testing.T) {
	s := newSolo(t, Config{})
	now := s.e.Now()
	addr := proto.AddrOf([]byte("hidden"))
	honest := testKey(72, 0)
	corr := uint64(1)
	if st := s.provideFrom(keyID(honest), corr, NewProviderRecord(honest, addr, now.Add(ProviderTTLDefault))); st != ackStored {
		t.Fatalf("honest record: ack %d", st)
	}
	var order []proto.NodeID
	order = append(order, keyID(honest))
	for i := 0; len(order) < 9; i++ {
		k := testKey(73, i)
		if id := keyID(k); bytes.Compare(id[:], order[0][:]) < 0 {
			corr++
			if st := s.provideFrom(id, corr, NewProviderRecord(k, addr, maxExpiry(now))); st != ackStored {
				t.Fatalf("low-id record %d: ack %d", i, st)
			}
			order = append(order, id)
		}
	}
	reader := keyID(testKey(72, 1))
	s.deliver(reader, 99, message{kind: kindFindProviders, target: addr.Key(), max: 8})
	resp, ok := findKind(s.sent(), kindProviders, reader)
	if !ok || len(resp.m.records) != 8 {
		t.Fatalf("reply: %v, %d records, want 8", ok, len(resp.m.records))
	}
	for i, r := range resp.m.records {
		if r.Provider != order[i] {
			t.Fatalf("record %d served is %s, want %s (arrival order)", i, r.Provider.Short(), order[i].Short())
		}
	}
}

// TestOwnRecordFullAddressVictim (review: own record evicts the youngest):
// at a full address this node's own record sheds the youngest record of
// the sender holding the most records there, not a late honest arrival.
func TestOwnRecordFullAddressVictim(t *testing.T) {
	var self, e, h proto.NodeID
	self[0], e[0], h[0] = 0xee, 0x50, 0x10
	s := newStore(100, 10, self)
	s.perAddr = 4
	var addr proto.Addr
	put := func(provider byte, sender proto.NodeID) {
		var p proto.NodeID
		p[0] = provider
		if res, _ := s.put(&ProviderRecord{Addr: addr, Provider: p, Expiry: 100}, sender); res != putStored {
			t.Fatalf("record of provider %d: result %d", provider, res)
		}
	}
	put(1, e) // the flooder relays three records, ids low
	put(3, e)
	put(2, e)
	put(h[0], h) // the honest provider, youngest at the address
	if res, shed := s.put(&ProviderRecord{Addr: addr, Provider: self, Expiry: 100}, self); res != putStored || shed != 1 {
		t.Fatalf("own record: result %d, shed %d", res, shed)
	}
	s.check()
	var got []byte
	for _, sr := range s.byAddr[addr] {
		got = append(got, sr.rec.Provider[0])
	}
	if want := []byte{1, 3, h[0], self[0]}; !bytes.Equal(got, want) {
		t.Fatalf("address holds providers %v, want %v (the flooder's youngest, 2, shed)", got, want)
	}
}

// TestStoreFullShedsLargestNewest fills the store so the full-store rule
// runs, and checks which record goes: the youngest of the sender charged
// with the most records, never its oldest or another sender's.
func TestStoreFullShedsLargestNewest(t *testing.T) {
	s := newSolo(t, Config{ProviderRecordsMax: 16, ProviderRecordsPerSenderMax: 8})
	now := s.e.Now()
	corr := uint64(1)
	type held struct {
		addr     proto.Addr
		provider proto.NodeID
	}
	provide := func(k ed25519.PrivateKey, name string) (held, ackStatus) {
		corr++
		addr := proto.AddrOf([]byte(name))
		return held{addr, keyID(k)}, s.provideFrom(keyID(k), corr, NewProviderRecord(k, addr, now.Add(time.Hour)))
	}
	big := testKey(74, 0)
	var bigs []held
	for i := 0; i < 8; i++ {
		h, st := provide(big, fmt.Sprint("big ", i))
		if st != ackStored {
			t.Fatalf("big %d: ack %d", i, st)
		}
		bigs = append(bigs, h)
	}
	var others []held
	for i := 0; i < 8; i++ {
		h, st := provide(testKey(75, i%2), fmt.Sprint("other ", i))
		if st != ackStored {
			t.Fatalf("other %d: ack %d", i, st)
		}
		others = append(others, h)
	}
	if got := s.d.ProviderRecords(); got != 16 {
		t.Fatalf("store holds %d, want it full at 16", got)
	}
	late, st := provide(testKey(76, 0), "late")
	if st != ackStored || s.metric(MetricShed, "provider_record") != 1 {
		t.Fatalf("newcomer into a full store: ack %d, shed %v", st, s.metric(MetricShed, "provider_record"))
	}
	for i, h := range bigs {
		if want := i < 7; s.holds(h.addr, h.provider) != want {
			t.Fatalf("largest sender's record %d held %v, want %v (only its youngest shed)", i, !want, want)
		}
	}
	for i, h := range append(others, late) {
		if !s.holds(h.addr, h.provider) {
			t.Fatalf("record %d of a smaller sender shed", i)
		}
	}
	s.d.checkDeep()
}

// TestOverQuotaRecordsSkipVerification is the red team's F2 flood (rt7): a
// member at its sender quota keeps sending PROVIDEs. Each must be refused
// by quota before its signature is checked, which the loop pays for in
// ed25519 time: a forged signature over quota counts as sender_quota, not
// bad_signature (the old accept verified first). Forged records claiming an
// honest provider, from a sender under quota, are still verified and
// rejected, and charge nothing to that provider: its own records get in.
func TestOverQuotaRecordsSkipVerification(t *testing.T) {
	s := newSolo(t, Config{ProviderRecordsMax: 128, ProviderRecordsPerSenderMax: 4})
	now := s.e.Now()
	flooder := testKey(64, 0)
	corr := uint64(1)
	for i := range 4 {
		corr++
		if st := s.provideFrom(keyID(flooder), corr, NewProviderRecord(flooder, proto.AddrOf([]byte(fmt.Sprint(i))), now.Add(time.Hour))); st != ackStored {
			t.Fatalf("record %d under the quota: ack %d", i, st)
		}
	}
	const flood = 50
	for i := range flood {
		rec := NewProviderRecord(flooder, proto.AddrOf([]byte(fmt.Sprint("flood", i))), now.Add(time.Hour))
		rec.Signature[0] ^= 1 // verification would reject it: it must not run
		corr++
		if st := s.provideFrom(keyID(flooder), corr, rec); st != ackShed {
			t.Fatalf("flood record %d: ack %d, want shed by quota", i, st)
		}
	}
	if got := s.metric(MetricRejects, ReasonBadSignature); got != 0 {
		t.Fatalf("%v over-quota records reached signature verification", got)
	}
	if got := s.metric(MetricRejects, ReasonSenderQuota); got != flood {
		t.Fatalf("sender_quota rejects %v, want %d", got, flood)
	}
	honest := testKey(64, 1)
	relay := keyID(testKey(64, 2))
	for i := range 8 {
		rec := NewProviderRecord(honest, proto.AddrOf([]byte(fmt.Sprint("h", i))), now.Add(time.Hour))
		rec.Signature[0] ^= 1
		corr++
		if st := s.provideFrom(relay, corr, rec); st != ackRejected {
			t.Fatalf("forged record %d for an honest provider: ack %d, want rejected", i, st)
		}
	}
	if got := s.metric(MetricRejects, ReasonBadSignature); got != 8 {
		t.Fatalf("bad_signature rejects %v, want 8", got)
	}
	for i := range 4 {
		corr++
		if st := s.provideFrom(keyID(honest), corr, NewProviderRecord(honest, proto.AddrOf([]byte(fmt.Sprint("h", i))), now.Add(time.Hour))); st != ackStored {
			t.Fatalf("honest provider's record %d after forgeries in its name: ack %d", i, st)
		}
	}
	s.d.checkDeep()
}
