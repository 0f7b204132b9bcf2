package dht

import (
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// rpc is one outstanding request. Its reply is matched by corr id and
// sender; the request is rebuilt from its owner on every retry, so no frame
// is kept.
type rpc struct {
	to       proto.NodeID
	kind     kind   // request kind
	lookup   uint64 // owning lookup id; 0 for an eviction ping
	depth    uint8  // lookup queries: the queried node's depth
	attempts uint8
	timer    env.TimerID
}

// eviction is a pending ping-before-evict: pinged is the bucket's least
// recently seen contact, candidate the newest contact waiting for its slot.
type eviction struct {
	pinged    proto.NodeID
	candidate proto.NodeID
}

// nextCorr issues a corr id not in use. Ids live in the 48-bit timer tag
// value space, so the RPC's timer tag names it directly.
func (d *DHT) nextCorr() uint64 {
	for {
		d.corr = (d.corr + 1) & tagValueMask
		if _, used := d.pending[d.corr]; d.corr != 0 && !used {
			return d.corr
		}
	}
}

// call sends a request and tracks it. It returns false, counting the shed,
// when PendingRPCsMax RPCs are already outstanding.
func (d *DHT) call(to proto.NodeID, m *message, lookupID uint64, depth uint8) bool {
	if len(d.pending) >= PendingRPCsMax {
		d.env.Metrics().Add(MetricShed, "rpc", 1)
		return false
	}
	corr := d.nextCorr()
	r := &rpc{to: to, kind: m.kind, lookup: lookupID, depth: depth, attempts: 1}
	r.timer = d.env.SetTimer(d.rpcTimeout(), tagRPC<<tagKindShift|corr)
	d.pending[corr] = r
	d.env.Send(to, encodeFrame(corr, m))
	return true
}

// rpcTimeout is RPCTimeout with 10% seeded jitter, so that retries of many
// nodes do not line up.
func (d *DHT) rpcTimeout() time.Duration { return d.env.Rand().Jitter(d.cfg.RPCTimeout, 0.1) }

func (d *DHT) onTimer(tag uint64) {
	if !d.started {
		return
	}
	switch tag >> tagKindShift {
	case tagRPC:
		d.onRPCTimeout(tag & tagValueMask)
	case tagTick:
		d.maintain()
	}
}

// onRPCTimeout retries the RPC up to RPCAttemptsMax sends, then fails it.
// A retry keeps the corr id, so a late reply to an earlier attempt counts.
func (d *DHT) onRPCTimeout(corr uint64) {
	r, ok := d.pending[corr]
	if !ok {
		return
	}
	d.env.Metrics().Add(MetricTimeouts, "", 1)
	m, wanted := d.requestFor(r)
	if !wanted {
		// The lookup finished without this answer; one late reply is no
		// evidence against the contact, so it is not penalised.
		delete(d.pending, corr)
		return
	}
	if int(r.attempts) < RPCAttemptsMax {
		r.attempts++
		r.timer = d.env.SetTimer(d.rpcTimeout(), tagRPC<<tagKindShift|corr)
		d.env.Send(r.to, encodeFrame(corr, &m))
		return
	}
	delete(d.pending, corr)
	d.table.failed(r.to)
	if r.lookup == 0 {
		d.onPingFailed(r.to)
		return
	}
	if l, ok := d.lookups[r.lookup]; ok {
		l.rpcDone(r, nil)
		d.advance(l)
	}
}

// requestFor rebuilds the request of r from its owner; false when the
// owner is gone and the RPC is no longer worth sending.
func (d *DHT) requestFor(r *rpc) (message, bool) {
	if r.kind == kindPing {
		return message{kind: kindPing}, true
	}
	l, ok := d.lookups[r.lookup]
	if !ok {
		return message{}, false
	}
	return l.request(r.kind), true
}

// onMessage handles one received frame. Every valid request and every
// matched reply teaches the routing table that its sender is alive.
func (d *DHT) onMessage(from proto.NodeID, frame []byte) {
	h, m, err := decodeFrame(frame)
	if err != nil {
		d.env.Metrics().Add(MetricRejects, ReasonMalformed, 1)
		return
	}
	if !d.member(from) {
		// A closed membership: neither learned nor answered, so a
		// non-member enters no routing table, stores no provider record
		// and is told nothing (Config.Members). The log names it
		// (refusedNotMember).
		d.refusedNotMember(from)
		return
	}
	if m.kind.isRequest() {
		d.learn(from)
		d.serve(from, h.CorrID, &m)
		return
	}
	r, ok := d.pending[h.CorrID]
	if !ok || r.to != from || responseKind(r.kind) != m.kind {
		d.env.Metrics().Add(MetricRejects, ReasonUnexpectedReply, 1)
		return
	}
	delete(d.pending, h.CorrID)
	d.env.CancelTimer(r.timer)
	d.learn(from)
	if r.lookup == 0 {
		d.onPong(from)
		return
	}
	if l, ok := d.lookups[r.lookup]; ok {
		l.rpcDone(r, &m)
		d.onLookupReply(l, r, &m)
		d.advance(l)
	}
}

// serve answers a request.
func (d *DHT) serve(from proto.NodeID, corr uint64, m *message) {
	var ids [KMax]proto.NodeID
	var raw [KMax * proto.IDBytes]byte
	resp := message{kind: responseKind(m.kind)}
	switch m.kind {
	case kindFindNode:
		closest := d.table.appendClosest(ids[:0], m.target, d.cfg.K)
		if d.cfg.Bug.ReplySkipsFirst && len(closest) > 0 {
			closest = closest[1:]
		}
		resp.nodes = appendIDs(raw[:0], closest)
	case kindFindProviders:
		closest := d.table.appendClosest(ids[:0], m.target, d.cfg.K)
		resp.nodes = appendIDs(raw[:0], closest)
		want := int(m.max)
		if want == 0 {
			want = ProvidersPerReplyMax
		}
		resp.records = d.store.appendProviders(nil, proto.Addr(m.target), d.env.Now(), want)
	case kindProvide:
		resp.status = d.accept(from, &m.record)
	}
	d.env.Send(from, encodeFrame(corr, &resp))
}

// accept verifies and stores a record received in PROVIDE from the
// authenticated node from (this node for its own record). A record over a
// quota is not stored: it is counted as a reject by quota and acknowledged
// as shed.
//
// The cheap refusals run before the signature check, so that a member
// flooding records over its quota costs the node loop map lookups, not an
// ed25519 verification per record: the provider's membership, then the
// quotas (store.refusal). Neither charges anything to the record's claimed
// provider or address; the sender quota is the authenticated from's, and
// the provider quota only refuses what put would refuse once verified, so
// unverified records cannot use up an honest node's quota.
func (d *DHT) accept(from proto.NodeID, rec *ProviderRecord) ackStatus {
	if !d.member(rec.Provider) {
		// A member relaying another node's record: only members provide.
		d.env.Metrics().Add(MetricRejects, ReasonNotMember, 1)
		return ackRejected
	}
	if res := d.store.refusal(rec, from); res != putStored {
		return d.acked(res)
	}
	if !d.verify(rec) {
		return ackRejected
	}
	res, shed := d.store.put(rec, from)
	d.env.Metrics().Add(MetricShed, "provider_record", float64(shed))
	d.env.Metrics().Set(MetricProviderRecords, "", float64(d.store.len()))
	return d.acked(res)
}

// acked counts put's result and returns the ack for it.
func (d *DHT) acked(res putResult) ackStatus {
	switch res {
	case putShed:
		d.env.Metrics().Add(MetricShed, "provider_record", 1)
		return ackShed
	case putSenderQuota:
		d.env.Metrics().Add(MetricRejects, ReasonSenderQuota, 1)
		return ackShed
	case putProviderQuota:
		d.env.Metrics().Add(MetricRejects, ReasonProviderQuota, 1)
		return ackShed
	}
	return ackStored
}

// verify checks a record and counts a rejection by its reason.
func (d *DHT) verify(rec *ProviderRecord) bool {
	if err := rec.Verify(d.env.Now(), d.cfg.ProviderTTL); err != nil {
		reason := ReasonMalformed
		if re, ok := err.(*RecordError); ok {
			reason = re.Reason
		}
		d.env.Metrics().Add(MetricRejects, reason, 1)
		return false
	}
	return true
}

// learn records a live sender, starting ping-before-evict when its bucket
// is full: the least recently seen contact is pinged and replaced by the
// newcomer only if it does not answer. Kademlia prefers old contacts
// because long-lived nodes are the likeliest to stay, and so that a flood
// of new ids cannot flush a table. Once the head answered, newcomers to
// its bucket are dropped unpinged for EvictionPingGap: in a large network
// nearly every sender is new to a full bucket, and pinging the next head
// each time would add an RPC to most messages (and the pinged node, new to
// its own full bucket, would ping in turn).
func (d *DHT) learn(id proto.NodeID) {
	if !d.member(id) {
		return // onMessage drops non-members first; a guard for other callers
	}
	res, head := d.table.seen(id)
	if res != insertFull {
		return
	}
	b := d.table.bucketOf(id)
	if d.env.Now().Before(d.table.buckets[b].confirmedUntil) {
		return // the bucket's oldest contact just proved alive
	}
	if ev, ok := d.evicts[b]; ok {
		ev.candidate = id // the newest waiting contact gets the slot
		d.evicts[b] = ev
		return
	}
	if !d.call(head, &message{kind: kindPing}, 0, 0) {
		return
	}
	d.evicts[b] = eviction{pinged: head, candidate: id}
}

// onPong ends an eviction: the pinged contact lives (learn already moved
// it to most recently seen), so the candidate is dropped and the bucket's
// quiet period starts.
func (d *DHT) onPong(from proto.NodeID) {
	b := d.table.bucketOf(from)
	if ev, ok := d.evicts[b]; ok && ev.pinged == from {
		delete(d.evicts, b)
		if b < len(d.table.buckets) {
			d.table.buckets[b].confirmedUntil = d.env.Now().Add(EvictionPingGap)
		}
	}
}

// onPingFailed evicts the silent contact and admits the candidate.
func (d *DHT) onPingFailed(to proto.NodeID) {
	b := d.table.bucketOf(to)
	ev, ok := d.evicts[b]
	if !ok || ev.pinged != to {
		return
	}
	delete(d.evicts, b)
	d.table.remove(to)
	d.learn(ev.candidate)
}
