package dht

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sort"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

type purpose uint8

const (
	purposeFindNode purpose = iota + 1
	purposeFindProviders
	purposeProvide
	purposeSelf    // bootstrap: refreshes the buckets it left empty when done
	purposeRefresh // bucket refresh: only its side effects matter
)

type candState uint8

const (
	candFresh candState = iota
	candInflight
	candAnswered
	candFailed
)

// candidate is one node on a lookup's shortlist. learnedAt is the depth of
// the node whose reply named it first (0: the local table); querying it is
// a query at depth learnedAt+1. key is the first 64 bits of its distance to
// the target (distanceKey), which decides nearly every comparison of a
// shortlist search without reading the id.
type candidate struct {
	id        proto.NodeID
	key       uint64
	state     candState
	learnedAt uint8
}

// distanceKey is the first 64 bits of the XOR distance of id to target.
func distanceKey(id, target *proto.NodeID) uint64 {
	return binary.BigEndian.Uint64(id[:]) ^ binary.BigEndian.Uint64(target[:])
}

// lookup is one iterative Kademlia lookup. cands is sorted by XOR distance
// to target, holds no duplicates, and never exceeds candidatesMax(k). The
// window is its first k non-failed candidates; the lookup converges when no
// window candidate is fresh or in flight.
type lookup struct {
	id        uint64
	purpose   purpose
	target    proto.NodeID
	started   env.Time
	cands     []candidate
	inflight  int // RPCs in flight for the find phase, including dropped candidates
	queries   int
	answers   int  // remote nodes that answered
	budgetHit bool // the hop or query budget kept a window candidate out

	addr      proto.Addr       // FindProviders, Provide
	max       int              // FindProviders: records wanted
	providers []ProviderRecord // FindProviders: verified, distinct providers
	provHops  int              // FindProviders: deepest replier of a kept record

	record        ProviderRecord // Provide: the signed record
	storing       bool           // Provide: find phase over, PROVIDE RPCs out
	storesPending int
	stored        int

	hops int
	err  error

	onNode      func(LookupResult)
	onProviders func(ProvidersResult)
	onProvide   func(ProvideResult)
}

func candidatesMax(k int) int { return min(LookupCandidatesMax, 4*k) }

// startLookup registers l, seeds it from the routing table and sends its
// first queries; a lookup that cannot start finishes at once.
func (d *DHT) startLookup(l *lookup) {
	if !d.started {
		l.err = ErrNotStarted
		d.deliver(l)
		return
	}
	if len(d.lookups) >= LookupsInflightMax {
		d.env.Metrics().Add(MetricShed, "lookup", 1)
		l.err = ErrOverloaded
		d.deliver(l)
		return
	}
	now := d.env.Now()
	l.started = now
	d.nextLID++
	l.id = d.nextLID
	l.cands = make([]candidate, 0, candidatesMax(d.cfg.K)) // the one allocation of the shortlist
	var seed [KMax]proto.NodeID
	for _, id := range d.table.appendClosest(seed[:0], l.target, d.cfg.K) {
		l.cands = append(l.cands, candidate{id: id, key: distanceKey(&id, &l.target)})
	}
	if l.purpose == purposeFindProviders {
		l.providers = d.store.appendProviders(nil, l.addr, now, l.max)
	}
	d.table.markRefreshed(l.target, now)
	if len(l.cands) == 0 {
		d.conclude(l, ResultEmpty, ErrNoContacts)
		return
	}
	// This node is part of the network: it takes its place in the result
	// as an answered candidate that is never queried.
	pos, _ := l.search(d.self)
	l.cands = slices.Insert(l.cands, pos, candidate{id: d.self, key: distanceKey(&d.self, &l.target), state: candAnswered})
	d.lookups[l.id] = l
	d.advance(l)
}

// advance sends queries while the lookup has parallelism left, then
// concludes it if its window has converged.
func (d *DHT) advance(l *lookup) {
	if l.storing {
		if l.storesPending == 0 {
			d.finish(l)
		}
		return
	}
	if l.satisfied() {
		d.converged(l)
		return
	}
	k := d.cfg.K
	for l.inflight < d.cfg.Alpha && l.queries < LookupQueriesMax {
		i := l.nextFresh(k)
		if i < 0 {
			break
		}
		if !d.query(l, i) {
			l.cands[i].state = candFailed
		}
	}
	fresh, busy := l.windowState(k)
	if busy || (fresh && l.queries < LookupQueriesMax) {
		return
	}
	if fresh {
		l.budgetHit = true
	}
	d.converged(l)
}

func (d *DHT) query(l *lookup, i int) bool {
	c := &l.cands[i]
	m := l.request(kindFindNode)
	if l.purpose == purposeFindProviders {
		m = l.request(kindFindProviders)
	}
	if !d.call(c.id, &m, l.id, c.learnedAt+1) {
		return false
	}
	c.state = candInflight
	l.inflight++
	l.queries++
	return true
}

// request builds the lookup's request of kind k (also for retries).
func (l *lookup) request(k kind) message {
	switch k {
	case kindFindProviders:
		return message{kind: k, target: l.target, max: uint32(l.max)}
	case kindProvide:
		return message{kind: k, record: l.record}
	}
	return message{kind: kindFindNode, target: l.target}
}

// rpcDone settles the RPC r of l; m is its reply, nil on failure.
func (l *lookup) rpcDone(r *rpc, m *message) {
	if r.kind == kindProvide {
		l.storesPending--
		if m != nil && m.status == ackStored {
			l.stored++
		}
		return
	}
	l.inflight--
	if i, ok := l.find(r.to); ok && l.cands[i].state == candInflight {
		l.cands[i].state = candFailed
		if m != nil {
			l.cands[i].state = candAnswered
		}
	}
	if m != nil {
		l.answers++
	}
}

// onLookupReply merges a FIND_NODE or FIND_PROVIDERS answer.
func (d *DHT) onLookupReply(l *lookup, r *rpc, m *message) {
	if l.storing || r.kind == kindProvide {
		return
	}
	for i := range m.records {
		d.takeRecord(l, &m.records[i], int(r.depth))
	}
	for i := 0; i < m.nodeCount(); i++ {
		id := m.node(i)
		if !d.member(id) {
			d.env.Metrics().Add(MetricRejects, ReasonNotMember, 1)
			continue
		}
		l.merge(id, r.depth, d.self, d.cfg.K, d.cfg.HopsMax)
	}
}

func (d *DHT) takeRecord(l *lookup, rec *ProviderRecord, depth int) {
	if len(l.providers) >= l.max {
		return
	}
	if rec.Addr != l.addr {
		d.env.Metrics().Add(MetricRejects, ReasonMalformed, 1)
		return
	}
	for i := range l.providers {
		if l.providers[i].Provider == rec.Provider {
			return
		}
	}
	if !d.verify(rec) {
		return
	}
	if !d.member(rec.Provider) {
		d.env.Metrics().Add(MetricRejects, ReasonNotMember, 1)
		return
	}
	l.providers = append(l.providers, *rec)
	l.provHops = max(l.provHops, depth)
}

// merge inserts id, named by a node at depth, into the shortlist. Nodes
// named beyond the hop budget are not queried; if one would have entered
// the window the lookup ends with ErrHopBudget.
func (l *lookup) merge(id proto.NodeID, depth uint8, self proto.NodeID, k, hopsMax int) {
	if id == self {
		return
	}
	pos, found := l.search(id)
	if found {
		return
	}
	if int(depth) > hopsMax {
		if pos <= l.kthIndex(k) {
			l.budgetHit = true
		}
		return
	}
	limit := candidatesMax(k)
	if pos >= limit {
		return
	}
	if len(l.cands) >= limit {
		l.cands = l.cands[:limit-1]
	}
	l.cands = slices.Insert(l.cands, pos, candidate{id: id, key: distanceKey(&id, &l.target), learnedAt: depth})
}

// search finds id's position in the distance order.
func (l *lookup) search(id proto.NodeID) (int, bool) {
	key := distanceKey(&id, &l.target)
	pos := sort.Search(len(l.cands), func(i int) bool {
		c := &l.cands[i]
		if c.key != key {
			return c.key > key
		}
		return distanceCmpTail(&c.id, &id, &l.target) >= 0
	})
	return pos, pos < len(l.cands) && l.cands[pos].id == id
}

func (l *lookup) find(id proto.NodeID) (int, bool) { return l.search(id) }

// kthIndex is the index of the k-th non-failed candidate, or len(cands)
// when the window is not full.
func (l *lookup) kthIndex(k int) int {
	n := 0
	for i := range l.cands {
		if l.cands[i].state != candFailed {
			if n++; n == k {
				return i
			}
		}
	}
	return len(l.cands)
}

// nextFresh is the closest fresh candidate in the window, or -1.
func (l *lookup) nextFresh(k int) int {
	n := 0
	for i := 0; i < len(l.cands) && n < k; i++ {
		switch l.cands[i].state {
		case candFailed:
			continue
		case candFresh:
			return i
		}
		n++
	}
	return -1
}

// windowState reports whether the window holds fresh or in-flight
// candidates.
func (l *lookup) windowState(k int) (fresh, busy bool) {
	n := 0
	for i := 0; i < len(l.cands) && n < k; i++ {
		switch l.cands[i].state {
		case candFailed:
			continue
		case candFresh:
			fresh = true
		case candInflight:
			busy = true
		}
		n++
	}
	return fresh, busy
}

// window returns the window's ids (sorted by distance) and the deepest
// learnedAt among them: the lookup's hop count.
func (l *lookup) window(k int) ([]proto.NodeID, int) {
	var ids []proto.NodeID
	hops := 0
	for i := 0; i < len(l.cands) && len(ids) < k; i++ {
		if l.cands[i].state != candFailed {
			ids = append(ids, l.cands[i].id)
			hops = max(hops, int(l.cands[i].learnedAt))
		}
	}
	return ids, hops
}

// converged ends the find phase: it records the lookup's metrics, then
// either finishes or, for Provide, sends the record to the window.
func (d *DHT) converged(l *lookup) {
	_, hops := l.window(d.cfg.K)
	result, err := ResultOK, error(nil)
	switch {
	case l.satisfied():
		hops = l.provHops
	case l.answers == 0:
		result, err = ResultTimeout, ErrTimeout
	case l.budgetHit:
		result, err = ResultHopBudget, ErrHopBudget
	}
	if l.purpose == purposeFindProviders && len(l.providers) > 0 {
		hops, err = l.provHops, nil
	}
	l.hops = hops
	d.conclude(l, result, err)
}

// satisfied reports whether a FindProviders lookup holds all the records
// it asked for, which ends it before convergence.
func (l *lookup) satisfied() bool {
	return l.purpose == purposeFindProviders && len(l.providers) >= l.max
}

// conclude records a lookup's metrics and moves it on to its delivery.
func (d *DHT) conclude(l *lookup, result string, err error) {
	m := d.env.Metrics()
	m.Add(MetricLookups, result, 1)
	m.Observe(MetricLookupLatency, "", d.env.Now().Sub(l.started).Seconds())
	if result == ResultOK || result == ResultHopBudget {
		m.Observe(MetricLookupHops, "", float64(l.hops))
	}
	l.err = err
	if l.purpose == purposeProvide {
		d.storeRecord(l)
		return
	}
	d.finish(l)
}

// storeRecord starts the PROVIDE phase: the record goes to every window
// node, this one included when it is among the K closest. A lookup that
// found no contacts stores locally only.
func (d *DHT) storeRecord(l *lookup) {
	l.storing = true
	ids, _ := l.window(d.cfg.K)
	if len(ids) == 0 {
		ids = append(ids, d.self)
	}
	_, registered := d.lookups[l.id]
	for _, id := range ids {
		switch {
		case id == d.self:
			if d.accept(d.self, &l.record) == ackStored {
				l.stored++
			}
		case registered && d.call(id, &message{kind: kindProvide, record: l.record}, l.id, 0):
			l.storesPending++
		}
	}
	d.advance(l)
}

// finish removes l and delivers its result.
func (d *DHT) finish(l *lookup) {
	delete(d.lookups, l.id)
	d.deliver(l)
	if l.purpose == purposeSelf {
		d.refreshEmpty()
	}
}

func (d *DHT) deliver(l *lookup) {
	switch {
	case l.onNode != nil:
		ids, _ := l.window(d.cfg.K)
		l.onNode(LookupResult{Closest: ids, Hops: l.hops, Err: l.err})
	case l.onProviders != nil:
		slices.SortFunc(l.providers, func(a, b ProviderRecord) int { return a.Provider.Compare(b.Provider) })
		l.onProviders(ProvidersResult{Providers: l.providers, Hops: l.hops, Err: l.err})
	case l.onProvide != nil:
		err := l.err
		if l.stored == 0 && err == nil {
			err = ErrNotStored
		}
		l.onProvide(ProvideResult{Stored: l.stored, Err: err})
	}
}

// check verifies the shortlist invariants.
func (l *lookup) check(k int) {
	if len(l.cands) > candidatesMax(k) {
		panic(fmt.Sprintf("dht: lookup %d holds %d candidates", l.id, len(l.cands)))
	}
	inflight := 0
	for i := range l.cands {
		if i > 0 && distanceCmp(&l.cands[i-1].id, &l.cands[i].id, &l.target) >= 0 {
			panic(fmt.Sprintf("dht: lookup %d shortlist out of order at %d", l.id, i))
		}
		if l.cands[i].key != distanceKey(&l.cands[i].id, &l.target) {
			panic(fmt.Sprintf("dht: lookup %d candidate %d has a stale distance key", l.id, i))
		}
		if l.cands[i].state == candInflight {
			inflight++
		}
	}
	if inflight > l.inflight || l.inflight < 0 || l.storesPending < 0 {
		panic(fmt.Sprintf("dht: lookup %d: %d candidates in flight, counter %d", l.id, inflight, l.inflight))
	}
}
