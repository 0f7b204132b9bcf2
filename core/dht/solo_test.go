package dht

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/envtest"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// solo is one DHT on an envtest env; the test plays every remote node.
type solo struct {
	t *testing.T
	d *DHT
	e *envtest.Env
}

// sentMsg is a decoded frame the machine sent.
type sentMsg struct {
	to   proto.NodeID
	corr uint64
	m    message
}

func newSolo(t *testing.T, cfg Config) *solo {
	if cfg.Key == nil {
		cfg.Key = testKey(7, 0)
	}
	d := New(cfg)
	e := envtest.New(d.Self(), 7)
	d.Init(e)
	envtest.Step(d, env.Start{})
	return &solo{t: t, d: d, e: e}
}

// sent decodes and clears the frames sent so far.
func (s *solo) sent() []sentMsg {
	var out []sentMsg
	for _, f := range s.e.TakeSent() {
		h, m, err := decodeFrame(f.Frame)
		if err != nil {
			s.t.Fatalf("machine sent an undecodable frame: %v", err)
		}
		out = append(out, sentMsg{to: f.To, corr: h.CorrID, m: m})
	}
	return out
}

// deliver hands the machine a message from a remote node.
func (s *solo) deliver(from proto.NodeID, corr uint64, m message) {
	envtest.Step(s.d, env.Message{From: from, Frame: encodeFrame(corr, &m)})
	s.d.checkDeep()
}

// advance moves the clock and fires due timers.
func (s *solo) advance(d time.Duration) {
	for _, in := range s.e.Advance(d) {
		envtest.Step(s.d, in)
	}
	s.d.checkDeep()
}

// waitRPCsOut advances past every retry of an RPC that gets no answer.
func (s *solo) waitRPCsOut() {
	for i := 0; i < RPCAttemptsMax; i++ {
		s.advance(RPCTimeoutDefault * 12 / 10)
	}
}

func (s *solo) metric(name, label string) float64 {
	return s.e.Recorder.Values[envtest.Key(name, label)]
}

// idsInBucket returns n distinct ids in bucket b of self.
func idsInBucket(self proto.NodeID, b, n int, seed uint64) []proto.NodeID {
	t := newTable(self, 1)
	r := env.NewRand(seed)
	out := make([]proto.NodeID, n)
	for i := range out {
		out[i] = t.randomIDInBucket(b, r)
	}
	return out
}

func findKind(msgs []sentMsg, k kind, to proto.NodeID) (sentMsg, bool) {
	for _, m := range msgs {
		if m.m.kind == k && m.to == to {
			return m, true
		}
	}
	return sentMsg{}, false
}

func countKind(msgs []sentMsg, k kind) int {
	n := 0
	for _, m := range msgs {
		if m.m.kind == k {
			n++
		}
	}
	return n
}

// fillBucket makes a full bucket 0 (K = 2) of a, b and offers c.
func fillBucket(t *testing.T) (s *solo, a, b, c proto.NodeID, ping sentMsg) {
	s = newSolo(t, Config{K: 2})
	ids := idsInBucket(s.d.Self(), 0, 3, 1)
	a, b, c = ids[0], ids[1], ids[2]
	s.deliver(a, 1, message{kind: kindPing})
	s.deliver(b, 2, message{kind: kindPing})
	if got := countKind(s.sent(), kindPong); got != 2 {
		t.Fatalf("%d pongs for 2 pings", got)
	}
	s.deliver(c, 3, message{kind: kindPing})
	msgs := s.sent()
	if _, ok := findKind(msgs, kindPong, c); !ok {
		t.Fatalf("no pong to the newcomer")
	}
	ping, ok := findKind(msgs, kindPing, a)
	if !ok {
		t.Fatalf("full bucket: no ping to the least recently seen contact; sent %+v", msgs)
	}
	return s, a, b, c, ping
}

func TestPingBeforeEvictKeepsLiveContact(t *testing.T) {
	s, a, b, c, ping := fillBucket(t)
	s.deliver(a, ping.corr, message{kind: kindPong})
	s.waitRPCsOut()
	if !s.d.table.contains(a) || !s.d.table.contains(b) || s.d.table.contains(c) {
		t.Fatalf("live old contact: table a=%v b=%v c=%v, want a, b kept and c out",
			s.d.table.contains(a), s.d.table.contains(b), s.d.table.contains(c))
	}
	if got := countKind(s.sent(), kindPing); got != 0 {
		t.Errorf("%d pings resent after the pong", got)
	}
	// a answered, so the bucket is quiet for EvictionPingGap: a newcomer
	// is dropped without a ping.
	ids := idsInBucket(s.d.Self(), 0, 5, 1)
	d, e := ids[3], ids[4]
	s.deliver(d, 4, message{kind: kindPing})
	if got := countKind(s.sent(), kindPing); got != 0 || s.d.table.contains(d) {
		t.Errorf("newcomer in the quiet period: %d pings, in table %v; want none, out", got, s.d.table.contains(d))
	}
	// After the gap, a is the most recently seen: b is pinged next.
	s.advance(EvictionPingGap)
	s.deliver(e, 5, message{kind: kindPing})
	if _, ok := findKind(s.sent(), kindPing, b); !ok {
		t.Errorf("next eviction did not ping b, the least recently seen")
	}
}

func TestPingBeforeEvictReplacesDeadContact(t *testing.T) {
	s, a, b, c, _ := fillBucket(t)
	s.waitRPCsOut()
	if s.d.table.contains(a) || !s.d.table.contains(b) || !s.d.table.contains(c) {
		t.Fatalf("dead old contact: table a=%v b=%v c=%v, want a evicted for c",
			s.d.table.contains(a), s.d.table.contains(b), s.d.table.contains(c))
	}
	if got := s.metric(MetricTimeouts, ""); got != RPCAttemptsMax {
		t.Errorf("timeouts = %v, want one per attempt (%d)", got, RPCAttemptsMax)
	}
}

// TestStaleAndDuplicateRepliesIgnored: a reply is accepted once, from the
// node asked, and only while the RPC is outstanding.
func TestStaleAndDuplicateRepliesIgnored(t *testing.T) {
	s, a, _, c, ping := fillBucket(t)
	s.deliver(c, ping.corr, message{kind: kindPong}) // wrong sender
	if got := s.metric(MetricRejects, ReasonUnexpectedReply); got != 1 {
		t.Fatalf("reply from the wrong node: rejects = %v, want 1", got)
	}
	s.deliver(a, ping.corr, message{kind: kindNodes}) // wrong kind
	s.deliver(a, ping.corr, message{kind: kindPong})
	s.deliver(a, ping.corr, message{kind: kindPong}) // duplicate
	if got := s.metric(MetricRejects, ReasonUnexpectedReply); got != 3 {
		t.Fatalf("rejects = %v, want 3 (wrong sender, wrong kind, duplicate)", got)
	}
	if s.d.table.contains(c) {
		t.Fatalf("a spoofed pong evicted nothing, but c entered the table")
	}
}

// TestHopBudget: a chain of nodes each knowing only the next; with
// HopsMax = 2 the lookup stops after learning at depth 2 and reports
// ErrHopBudget with the best set so far.
func TestHopBudget(t *testing.T) {
	var target proto.NodeID
	target[0] = 0xff
	// chain[i] is closer to target than chain[i-1].
	chain := make([]proto.NodeID, 5)
	for i := range chain {
		chain[i] = target
		chain[i][1+i] ^= 1 // distances shrink as the flipped bit moves right
		chain[i][31] ^= byte(5 - i)
	}
	s := newSolo(t, Config{HopsMax: 2, Bootstrap: chain[:1]})
	s.sent() // the bootstrap self-lookup's query
	s.waitRPCsOut()
	s.sent()
	var res *LookupResult
	s.d.Lookup(target, func(r LookupResult) { res = &r })
	for step := 0; res == nil && step < 10; step++ {
		for _, q := range s.sent() {
			if q.m.kind != kindFindNode {
				continue
			}
			i := indexOf(chain, q.to)
			reply := message{kind: kindNodes}
			if i+1 < len(chain) {
				reply.nodes = appendIDs(nil, chain[i+1:i+2])
			}
			s.deliver(q.to, q.corr, reply)
		}
	}
	if res == nil {
		t.Fatal("lookup did not finish")
	}
	if res.Err != ErrHopBudget {
		t.Fatalf("Err = %v, want ErrHopBudget", res.Err)
	}
	if res.Hops != 2 || res.Closest[0] != chain[2] {
		t.Fatalf("hops %d, closest %s; want 2 hops ending at chain[2] %s", res.Hops, res.Closest[0].Short(), chain[2].Short())
	}
	if got := s.metric(MetricLookups, ResultHopBudget); got != 1 {
		t.Errorf("dht_lookups_total{hop_budget} = %v, want 1", got)
	}
}

func indexOf(ids []proto.NodeID, id proto.NodeID) int {
	for i := range ids {
		if ids[i] == id {
			return i
		}
	}
	return -1
}

// forgeries returns records that must each be rejected, with the reason.
func forgeries(now env.Time, addr proto.Addr) map[string]ProviderRecord {
	good := NewProviderRecord(testKey(9, 1), addr, now.Add(time.Hour))
	badSig := good
	badSig.Signature[3] ^= 1
	otherAddr := good
	otherAddr.Addr[0] ^= 1 // signature no longer covers the bytes
	wrongID := good
	wrongID.Provider[0] ^= 1
	expired := NewProviderRecord(testKey(9, 1), addr, now.Add(-time.Second))
	tooFar := NewProviderRecord(testKey(9, 1), addr, now.Add(ProviderTTLDefault+ExpirySkewMax+time.Minute))
	return map[string]ProviderRecord{
		"bad_signature": badSig, "bad_signature/addr": otherAddr, "wrong_provider_id": wrongID,
		"expired": expired, "expiry_too_far": tooFar,
	}
}

func TestProvideRejectsForgedRecords(t *testing.T) {
	s := newSolo(t, Config{})
	addr := proto.AddrOf([]byte("object"))
	sender := idsInBucket(s.d.Self(), 0, 1, 3)[0]
	for _, name := range env.SortedKeys(forgeries(s.e.Now(), addr)) {
		rec := forgeries(s.e.Now(), addr)[name]
		s.deliver(sender, 10, message{kind: kindProvide, record: rec})
		ack, ok := findKind(s.sent(), kindProvideAck, sender)
		if !ok || ack.m.status != ackRejected {
			t.Errorf("%s: ack %+v, want rejected", name, ack.m)
		}
	}
	for reason, want := range map[string]float64{"bad_signature": 2, "wrong_provider_id": 1, "expired": 1, "expiry_too_far": 1} {
		if got := s.metric(MetricRejects, reason); got != want {
			t.Errorf("dht_rejects_total{%s} = %v, want %v", reason, got, want)
		}
	}
	if s.d.ProviderRecords() != 0 {
		t.Fatalf("%d forged records stored", s.d.ProviderRecords())
	}
	good := NewProviderRecord(testKey(9, 1), addr, s.e.Now().Add(time.Hour))
	s.deliver(sender, 11, message{kind: kindProvide, record: good})
	if ack, _ := findKind(s.sent(), kindProvideAck, sender); ack.m.status != ackStored || s.d.ProviderRecords() != 1 {
		t.Fatalf("valid record: ack %d, store %d", ack.m.status, s.d.ProviderRecords())
	}
}

// TestFindProvidersRejectsForgedReplies: records in FIND_PROVIDERS
// replies are verified; forged ones are dropped and counted, valid ones
// returned.
func TestFindProvidersRejectsForgedReplies(t *testing.T) {
	peer := proto.NodeIDFromPublicKey(testKey(9, 5).Public().(ed25519.PublicKey))
	s := newSolo(t, Config{Bootstrap: []proto.NodeID{peer}})
	s.sent()
	s.waitRPCsOut()
	s.sent()
	addr := proto.AddrOf([]byte("object"))
	var res *ProvidersResult
	s.d.FindProvidersAsync(addr, 0, func(r ProvidersResult) { res = &r })
	q, ok := findKind(s.sent(), kindFindProviders, peer)
	if !ok {
		t.Fatal("no FIND_PROVIDERS sent")
	}
	reply := message{kind: kindProviders}
	for _, name := range env.SortedKeys(forgeries(s.e.Now(), addr)) {
		reply.records = append(reply.records, forgeries(s.e.Now(), addr)[name])
	}
	good := NewProviderRecord(testKey(9, 2), addr, s.e.Now().Add(time.Hour))
	reply.records = append(reply.records, good)
	s.deliver(peer, q.corr, reply)
	if res == nil {
		t.Fatal("lookup did not finish")
	}
	if len(res.Providers) != 1 || res.Providers[0] != good || res.Err != nil {
		t.Fatalf("providers %d (err %v), want only the valid record", len(res.Providers), res.Err)
	}
	// wrong_provider_id, expired, too far count once; bad_signature twice;
	// the record for another address is malformed before its signature.
	if got := s.metric(MetricRejects, ReasonBadSignature) + s.metric(MetricRejects, ReasonWrongProviderID) +
		s.metric(MetricRejects, ReasonExpired) + s.metric(MetricRejects, ReasonExpiryTooFar) + s.metric(MetricRejects, ReasonMalformed); got != 5 {
		t.Errorf("record rejects = %v, want 5", got)
	}
}

// TestExpiredRecordsNotServed: a stored record is not served after its
// expiry and leaves the store at the next tick.
func TestExpiredRecordsNotServed(t *testing.T) {
	s := newSolo(t, Config{})
	sender := idsInBucket(s.d.Self(), 0, 1, 3)[0]
	addr := proto.AddrOf([]byte("y"))
	rec := NewProviderRecord(testKey(12, 0), addr, s.e.Now().Add(10*time.Second))
	s.deliver(sender, 1, message{kind: kindProvide, record: rec})
	s.sent()
	ask := func() int {
		s.deliver(sender, 2, message{kind: kindFindProviders, target: addr.Key()})
		resp, _ := findKind(s.sent(), kindProviders, sender)
		return len(resp.m.records)
	}
	if got := ask(); got != 1 {
		t.Fatalf("fresh record: served %d", got)
	}
	s.advance(11 * time.Second)
	if got := ask(); got != 0 {
		t.Fatalf("expired record served (%d)", got)
	}
	s.advance(MaintenanceIntervalMax)
	if s.d.ProviderRecords() != 0 || s.metric(MetricProviderRecords, "") != 0 {
		t.Fatalf("expired record kept: store %d, gauge %v", s.d.ProviderRecords(), s.metric(MetricProviderRecords, ""))
	}
}

func TestRequestsBeforeStartAndUnknown(t *testing.T) {
	d := New(Config{Key: testKey(1, 1)})
	var got error
	d.Lookup(proto.NodeID{}, func(r LookupResult) { got = r.Err })
	if got != ErrNotStarted {
		t.Fatalf("lookup before start: %v", got)
	}
	s := newSolo(t, Config{})
	s.d.Lookup(proto.NodeID{1}, func(r LookupResult) { got = r.Err })
	if got != ErrNoContacts || s.metric(MetricLookups, ResultEmpty) != 1 {
		t.Fatalf("lookup with an empty table: %v", got)
	}
	envtest.Step(s.d, env.Request{ID: 5, Service: "dht", Body: 42})
	if len(s.e.Replies) != 1 || s.e.Replies[0].ID != 5 {
		t.Fatalf("unknown request got no reply")
	}
	envtest.Step(s.d, env.Message{From: proto.NodeID{9}, Frame: []byte("junk")})
	envtest.Step(s.d, env.Message{From: proto.NodeID{9}, Frame: oap.MustEncode(&oap.Frame{Header: oap.Header{Flags: oap.FlagRESP, AppProto: oap.ProtoDHT}, Payload: []byte{byte(kindPing)}})})
	if got := s.metric(MetricRejects, ReasonMalformed); got != 2 {
		t.Fatalf("malformed rejects = %v, want 2", got)
	}
}

func TestConfigValidate(t *testing.T) {
	key := testKey(1, 1)
	bad := []Config{
		{}, {Key: key, K: KMax + 1}, {Key: key, Alpha: -1}, {Key: key, HopsMax: HopsMaxLimit + 1},
		{Key: key, RPCTimeout: -1}, {Key: key, RepublishInterval: 48 * time.Hour},
		{Key: key, ProviderRecordsMax: ProviderRecordsMax + 1},
		{Key: key, ProviderRecordsPerSenderMax: -1},
		{Key: key, ProviderRecordsMax: 100, ProviderRecordsPerSenderMax: 101},
	}
	for i, c := range bad {
		if c.Validate() == nil {
			t.Errorf("config %d: %+v validated", i, c)
		}
	}
	if err := (Config{Key: key}).Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if c := (Config{Key: key, ProviderRecordsMax: 5}).withDefaults(); c.ProviderRecordsPerSenderMax != 1 || c.Validate() != nil {
		t.Errorf("a store of 5: per-sender quota %d, want 1", c.ProviderRecordsPerSenderMax)
	}
}

// TestLimitRelations asserts how the derived limits relate to the base ones.
func TestLimitRelations(t *testing.T) {
	if PendingRPCsMax < LookupsInflightMax*AlphaMax+BucketsCount {
		t.Error("PendingRPCsMax cannot hold every lookup at full parallelism plus one ping per bucket")
	}
	if LookupCandidatesMax < 2*KMax {
		t.Error("a shortlist must hold more than a window")
	}
	if HopsMaxLimit > int(env.HopBuckets[len(env.HopBuckets)-1]) {
		t.Error("hop budget beyond the histogram's buckets")
	}
	if RefreshPerTickMax*2 > LookupsInflightMax {
		t.Error("refresh alone could fill the lookup slots")
	}
	if KMax*proto.IDBytes+ProvidersPerReplyMax*(recordFixedBytes+10)+64 > oap.FrameBytesMax {
		t.Error("the largest reply does not fit a frame")
	}
}

// TestFindProvidersStopsWhenSatisfied: records already held locally answer
// a FindProviders for that many records without any query.
func TestFindProvidersStopsWhenSatisfied(t *testing.T) {
	s := newSolo(t, Config{})
	other := idsInBucket(s.d.Self(), 0, 1, 4)[0]
	addr := proto.AddrOf([]byte("local"))
	rec := NewProviderRecord(testKey(13, 0), addr, s.e.Now().Add(time.Hour))
	s.deliver(other, 1, message{kind: kindProvide, record: rec}) // other is now a contact
	s.sent()
	var res *ProvidersResult
	s.d.FindProvidersAsync(addr, 1, func(r ProvidersResult) { res = &r })
	if res == nil || len(res.Providers) != 1 || res.Providers[0] != rec || res.Hops != 0 || res.Err != nil {
		t.Fatalf("local record did not satisfy the lookup at once: %+v", res)
	}
	if got := countKind(s.sent(), kindFindProviders); got != 0 {
		t.Errorf("%d queries sent for a satisfied lookup", got)
	}
	if got := s.metric(MetricLookups, ResultOK); got != 1 {
		t.Errorf("dht_lookups_total{ok} = %v, want 1", got)
	}
}
