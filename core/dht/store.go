package dht

import (
	"bytes"
	"cmp"
	"container/heap"
	"fmt"
	"slices"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// storedRecord is a record in the store with its position in the expiry
// heap, the sender it is charged to and its arrival order.
type storedRecord struct {
	rec        ProviderRecord
	owner      *holder // the sender that first delivered it
	seq        uint64  // arrival order in the store: larger is younger
	heapIndex  int
	prev, next *storedRecord // owner's records, oldest first
	pprev      *storedRecord // provider's records, oldest first
	pnext      *storedRecord
}

// providerRecs is one provider's records in arrival order.
type providerRecs struct {
	n              int
	oldest, newest *storedRecord
}

// holder is one sender's share of the store: its records in arrival order
// and its position in the largest-holder heap.
type holder struct {
	id             proto.NodeID
	n              int
	oldest, newest *storedRecord
	heapIndex      int
}

// store holds verified provider records, at most max in all, perAddr
// (ProvidersPerAddrMax) per address and perSender per sender and per
// provider. No rule lets a newcomer win a slot by the expiry it carries,
// since any sender can stamp the largest expiry verification accepts:
//
//   - a sender (the authenticated node that sent PROVIDE) or a provider
//     (the record's signer) holding perSender records gets no more
//     (putSenderQuota, putProviderQuota), except that a provider
//     delivering its own record sheds its youngest record charged to
//     another sender: replays of its records never lock it out;
//   - a full address refuses new providers; only this node's own record
//     gets in, shedding the youngest record there of the sender charged
//     with the most records at that address (ties: the sender charged
//     with the most records in all, then the lower id);
//   - a full store sheds the youngest record of the sender holding the
//     most records, the newcomer counted as its sender's youngest: so a
//     newcomer whose sender would hold at least as many as the largest is
//     refused, and a flood only ever sheds the flooder's own records.
//
// A refresh (the same provider for the same address) replaces the record
// in place when it expires later: it keeps its arrival order and its
// sender, and is not counted again. A min-heap on expiry keeps expire
// O(log n). See doc.go for the rejected alternatives.
type store struct {
	max       int
	perSender int
	perAddr   int          // ProvidersPerAddrMax; a field so tests can make it small
	self      proto.NodeID // exempt from the quotas for its own records
	seq       uint64
	byAddr    map[proto.Addr][]*storedRecord // each slice sorted by provider id
	expiry    recordHeap
	senders   map[proto.NodeID]*holder
	largest   holderHeap
	providers map[proto.NodeID]*providerRecs
}

type putResult uint8

const (
	putStored        putResult = iota + 1 // stored or refreshed
	putShed                               // not stored: the address or the store is full
	putSenderQuota                        // not stored: its sender holds perSender records
	putProviderQuota                      // not stored: its provider has perSender records here, not all sent by others
)

func newStore(max, perSender int, self proto.NodeID) store {
	return store{
		max: max, perSender: perSender, perAddr: ProvidersPerAddrMax, self: self,
		byAddr:    map[proto.Addr][]*storedRecord{},
		senders:   map[proto.NodeID]*holder{},
		providers: map[proto.NodeID]*providerRecs{},
	}
}

func (s *store) len() int { return len(s.expiry) }

func providerCmp(sr *storedRecord, p proto.NodeID) int {
	return bytes.Compare(sr.rec.Provider[:], p[:])
}

// quota applies the sender and provider quotas to a record that is not a
// refresh. It returns putStored when they let rec in, with the record to
// shed for it (the provider's youngest record another sender delivered,
// when the provider itself sends at its quota), or the quota refusing it.
func (s *store) quota(rec *ProviderRecord, sender proto.NodeID) (putResult, *storedRecord) {
	if sender == s.self && rec.Provider == s.self {
		return putStored, nil // this node's own record: exempt
	}
	if h := s.senders[sender]; h != nil && h.n >= s.perSender {
		return putSenderQuota, nil
	}
	if p := s.providers[rec.Provider]; p != nil && p.n >= s.perSender {
		if sender != rec.Provider {
			return putProviderQuota, nil
		}
		// The provider itself sent fewer than perSender (its sender
		// quota), so others delivered the rest: shed the youngest.
		if replayed := youngestRelayed(p, sender); replayed != nil {
			return putStored, replayed
		}
		return putProviderQuota, nil
	}
	return putStored, nil
}

// refusal reports, without changing the store, the quota for which put
// would refuse rec from sender (putStored: none would). It reads only
// rec's address and provider, never trusting them to charge anyone, so
// accept runs it before the signature check: a flood over quota costs a
// map lookup per record, not an ed25519 verification. The refusal is the
// one put would return for the same record once verified, since
// verification changes nothing here.
func (s *store) refusal(rec *ProviderRecord, sender proto.NodeID) putResult {
	list := s.byAddr[rec.Addr]
	if _, found := slices.BinarySearchFunc(list, rec.Provider, providerCmp); found {
		return putStored // a refresh: no quota applies
	}
	res, _ := s.quota(rec, sender)
	return res
}

// put stores a verified record that sender delivered. It reports how many
// other records were shed to make room (0 or 1).
func (s *store) put(rec *ProviderRecord, sender proto.NodeID) (putResult, int) {
	list := s.byAddr[rec.Addr]
	i, found := slices.BinarySearchFunc(list, rec.Provider, providerCmp)
	if found {
		if rec.Expiry > list[i].rec.Expiry {
			list[i].rec = *rec
			heap.Fix(&s.expiry, list[i].heapIndex)
		}
		return putStored, 0
	}
	own := sender == s.self && rec.Provider == s.self
	h := s.senders[sender]
	quota, replayed := s.quota(rec, sender)
	if quota != putStored {
		return quota, 0
	}
	var victim *storedRecord
	switch {
	case len(list) >= s.perAddr:
		if !own {
			return putShed, 0
		}
		victim = s.addrVictim(list)
	case replayed != nil:
		victim = replayed
	case len(s.expiry) >= s.max:
		top := s.largest[0]
		n := 0
		if h != nil {
			n = h.n
		}
		if n+1 >= top.n {
			return putShed, 0
		}
		victim = top.newest
	}
	shed := 0
	if victim != nil {
		s.remove(victim)
		shed = 1
		list = s.byAddr[rec.Addr]
		i, _ = slices.BinarySearchFunc(list, rec.Provider, providerCmp)
		h = s.senders[sender] // the victim may have been its last record
	}
	if h == nil {
		h = &holder{id: sender}
		s.senders[sender] = h
		heap.Push(&s.largest, h)
	}
	s.seq++
	sr := &storedRecord{rec: *rec, owner: h, seq: s.seq, prev: h.newest}
	if h.newest != nil {
		h.newest.next = sr
	} else {
		h.oldest = sr
	}
	h.newest = sr
	h.n++
	heap.Fix(&s.largest, h.heapIndex)
	p := s.providers[rec.Provider]
	if p == nil {
		p = &providerRecs{}
		s.providers[rec.Provider] = p
	}
	sr.pprev = p.newest
	if p.newest != nil {
		p.newest.pnext = sr
	} else {
		p.oldest = sr
	}
	p.newest = sr
	p.n++
	heap.Push(&s.expiry, sr)
	s.byAddr[rec.Addr] = slices.Insert(list, i, sr)
	return putStored, shed
}

// addrVictim is the record a full address sheds for this node's own
// record: the youngest record of the sender charged with the most records
// at the address, ties to the sender charged with the most records in all,
// then to the lower id (the full-store rule, at the address). A flood of
// one address so sheds the flooder's records, not a late honest arrival's.
func (s *store) addrVictim(list []*storedRecord) *storedRecord {
	var victim *storedRecord
	best := 0
	for _, sr := range list {
		n := 0
		for _, o := range list {
			if o.owner == sr.owner {
				n++
			}
		}
		if victim == nil {
			victim, best = sr, n
			continue
		}
		switch vo := victim.owner; {
		case sr.owner == vo:
			if sr.seq > victim.seq {
				victim = sr
			}
		case n > best,
			n == best && (sr.owner.n > vo.n ||
				sr.owner.n == vo.n && bytes.Compare(sr.owner.id[:], vo.id[:]) < 0):
			victim, best = sr, n
		}
	}
	return victim
}

// youngestRelayed is p's youngest record not charged to sender (p's own
// id), walking back past at most the records sender delivered itself.
func youngestRelayed(p *providerRecs, sender proto.NodeID) *storedRecord {
	for sr := p.newest; sr != nil; sr = sr.pprev {
		if sr.owner.id != sender {
			return sr
		}
	}
	return nil
}

func (s *store) remove(sr *storedRecord) {
	heap.Remove(&s.expiry, sr.heapIndex)
	list := s.byAddr[sr.rec.Addr]
	i := slices.Index(list, sr)
	list = slices.Delete(list, i, i+1)
	if len(list) == 0 {
		delete(s.byAddr, sr.rec.Addr)
	} else {
		s.byAddr[sr.rec.Addr] = list
	}
	h := sr.owner
	if sr.prev != nil {
		sr.prev.next = sr.next
	} else {
		h.oldest = sr.next
	}
	if sr.next != nil {
		sr.next.prev = sr.prev
	} else {
		h.newest = sr.prev
	}
	sr.prev, sr.next, sr.owner = nil, nil, nil
	h.n--
	if h.n == 0 {
		heap.Remove(&s.largest, h.heapIndex)
		delete(s.senders, h.id)
	} else {
		heap.Fix(&s.largest, h.heapIndex)
	}
	p := s.providers[sr.rec.Provider]
	if sr.pprev != nil {
		sr.pprev.pnext = sr.pnext
	} else {
		p.oldest = sr.pnext
	}
	if sr.pnext != nil {
		sr.pnext.pprev = sr.pprev
	} else {
		p.newest = sr.pprev
	}
	sr.pprev, sr.pnext = nil, nil
	if p.n--; p.n == 0 {
		delete(s.providers, sr.rec.Provider)
	}
}

// expire drops every record whose expiry is not after now and returns how
// many went.
func (s *store) expire(now env.Time) int {
	n := 0
	for len(s.expiry) > 0 && !now.Before(s.expiry[0].rec.Expiry) {
		s.remove(s.expiry[0])
		n++
	}
	return n
}

// appendProviders appends up to n unexpired records for addr, oldest
// arrival first, to dst. Arrival order (kept by a refresh) puts the
// incumbents first, as the full-address rule does, and is one a newcomer
// cannot choose: provider id order let records signed by keys with low ids
// hide every honest provider from a reader taking the first few.
func (s *store) appendProviders(dst []ProviderRecord, addr proto.Addr, now env.Time, n int) []ProviderRecord {
	list := s.byAddr[addr]
	var buf [ProvidersPerAddrMax]*storedRecord
	live := buf[:0]
	for _, sr := range list {
		if now.Before(sr.rec.Expiry) {
			live = append(live, sr)
		}
	}
	slices.SortFunc(live, func(a, b *storedRecord) int { return cmp.Compare(a.seq, b.seq) })
	for _, sr := range live[:min(n, len(live))] {
		dst = append(dst, sr.rec)
	}
	return dst
}

func (s *store) check() {
	total := 0
	providers := map[proto.NodeID]int{}
	// map order ok: a commutative count and per-entry checks.
	for _, list := range s.byAddr {
		if len(list) == 0 || len(list) > s.perAddr {
			panic(fmt.Sprintf("dht: %d records for one address", len(list)))
		}
		total += len(list)
		for _, sr := range list {
			providers[sr.rec.Provider]++
			if s.senders[sr.owner.id] != sr.owner {
				panic("dht: stored record charged to an unknown sender")
			}
		}
	}
	if total != len(s.expiry) || total > s.max {
		panic(fmt.Sprintf("dht: store holds %d by address, %d in heap, max %d", total, len(s.expiry), s.max))
	}
	if len(providers) != len(s.providers) {
		panic(fmt.Sprintf("dht: %d providers stored, %d counted", len(providers), len(s.providers)))
	}
	// map order ok: per-entry checks.
	for p, n := range providers {
		pr := s.providers[p]
		m := 0
		var prev *storedRecord
		for sr := pr.oldest; sr != nil; sr = sr.pnext {
			if sr.rec.Provider != p || sr.pprev != prev || (prev != nil && prev.seq >= sr.seq) {
				panic("dht: a provider's record list is broken")
			}
			prev = sr
			m++
		}
		if pr.n != n || m != n || pr.newest != prev || (n > s.perSender && p != s.self) {
			panic(fmt.Sprintf("dht: provider holds %d records, counted %d, quota %d", n, pr.n, s.perSender))
		}
	}
	if len(s.largest) != len(s.senders) {
		panic(fmt.Sprintf("dht: %d senders, %d in heap", len(s.senders), len(s.largest)))
	}
	held := 0
	// map order ok: a commutative count and per-entry checks.
	for id, h := range s.senders {
		n := 0
		var prev *storedRecord
		for sr := h.oldest; sr != nil; sr = sr.next {
			if sr.owner != h || sr.prev != prev || (prev != nil && prev.seq >= sr.seq) {
				panic("dht: a sender's record list is broken")
			}
			prev = sr
			n++
		}
		if h.id != id || h.n != n || n == 0 || h.newest != prev || s.largest[h.heapIndex] != h ||
			(n > s.perSender && id != s.self) {
			panic(fmt.Sprintf("dht: sender holds %d records, counted %d, quota %d", n, h.n, s.perSender))
		}
		held += n
	}
	if held != total {
		panic(fmt.Sprintf("dht: senders hold %d records, store %d", held, total))
	}
}

// recordHeap is a min-heap on expiry; ties by address, then provider id,
// keep it deterministic.
type recordHeap []*storedRecord

func (h recordHeap) Len() int { return len(h) }
func (h recordHeap) Less(i, j int) bool {
	if h[i].rec.Expiry != h[j].rec.Expiry {
		return h[i].rec.Expiry < h[j].rec.Expiry
	}
	if c := bytes.Compare(h[i].rec.Addr[:], h[j].rec.Addr[:]); c != 0 {
		return c < 0
	}
	return bytes.Compare(h[i].rec.Provider[:], h[j].rec.Provider[:]) < 0
}
func (h recordHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIndex = i
	h[j].heapIndex = j
}
func (h *recordHeap) Push(x any) {
	sr := x.(*storedRecord)
	sr.heapIndex = len(*h)
	*h = append(*h, sr)
}
func (h *recordHeap) Pop() any {
	old := *h
	sr := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	sr.heapIndex = -1
	return sr
}

// holderHeap is a max-heap on records held; ties by sender id keep it
// deterministic.
type holderHeap []*holder

func (h holderHeap) Len() int { return len(h) }
func (h holderHeap) Less(i, j int) bool {
	if h[i].n != h[j].n {
		return h[i].n > h[j].n
	}
	return bytes.Compare(h[i].id[:], h[j].id[:]) < 0
}
func (h holderHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIndex = i
	h[j].heapIndex = j
}
func (h *holderHeap) Push(x any) {
	hd := x.(*holder)
	hd.heapIndex = len(*h)
	*h = append(*h, hd)
}
func (h *holderHeap) Pop() any {
	old := *h
	hd := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	hd.heapIndex = -1
	return hd
}
