package dht

import (
	"bytes"
	"container/heap"
	"fmt"
	"slices"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// storedRecord is a record in the store with its position in the expiry heap.
type storedRecord struct {
	rec       ProviderRecord
	heapIndex int
}

// store holds verified provider records, at most max in all and
// ProvidersPerAddrMax per address. A min-heap on expiry makes both expiry
// and shedding O(log n): when full, the record that would expire first
// goes, because it is the one the network loses least by dropping (its
// provider republishes before expiry if it is still alive).
//
// Rejected alternative: LRU eviction. Readers of a popular address would
// keep stale records alive and a flood of fresh records from one provider
// could push out everyone else's; expiry order is what the TTL contract
// already promises.
type store struct {
	max    int
	byAddr map[proto.Addr][]*storedRecord // each slice sorted by provider id
	expiry recordHeap
}

type putResult uint8

const (
	putStored putResult = iota + 1 // stored or refreshed
	putShed                        // not stored: every stored rival expires later
)

func newStore(max int) store {
	return store{max: max, byAddr: map[proto.Addr][]*storedRecord{}}
}

func (s *store) len() int { return len(s.expiry) }

// put stores a verified record. It reports how many other records were
// shed to make room (0 or 1).
func (s *store) put(rec *ProviderRecord) (putResult, int) {
	list := s.byAddr[rec.Addr]
	i, found := slices.BinarySearchFunc(list, rec.Provider, func(sr *storedRecord, p proto.NodeID) int {
		return bytes.Compare(sr.rec.Provider[:], p[:])
	})
	if found {
		if rec.Expiry > list[i].rec.Expiry {
			list[i].rec = *rec
			heap.Fix(&s.expiry, list[i].heapIndex)
		}
		return putStored, 0
	}
	var victim *storedRecord
	switch {
	case len(list) >= ProvidersPerAddrMax:
		victim = earliest(list)
	case len(s.expiry) >= s.max:
		victim = s.expiry[0]
	}
	if victim != nil && victim.rec.Expiry >= rec.Expiry {
		return putShed, 0
	}
	shed := 0
	if victim != nil {
		s.remove(victim)
		shed = 1
		list = s.byAddr[rec.Addr]
		i, _ = slices.BinarySearchFunc(list, rec.Provider, func(sr *storedRecord, p proto.NodeID) int {
			return bytes.Compare(sr.rec.Provider[:], p[:])
		})
	}
	sr := &storedRecord{rec: *rec}
	heap.Push(&s.expiry, sr)
	s.byAddr[rec.Addr] = slices.Insert(list, i, sr)
	return putStored, shed
}

func earliest(list []*storedRecord) *storedRecord {
	e := list[0]
	for _, sr := range list[1:] {
		if sr.rec.Expiry < e.rec.Expiry {
			e = sr
		}
	}
	return e
}

func (s *store) remove(sr *storedRecord) {
	heap.Remove(&s.expiry, sr.heapIndex)
	list := s.byAddr[sr.rec.Addr]
	i := slices.Index(list, sr)
	list = slices.Delete(list, i, i+1)
	if len(list) == 0 {
		delete(s.byAddr, sr.rec.Addr)
		return
	}
	s.byAddr[sr.rec.Addr] = list
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

// appendProviders appends up to n unexpired records for addr, in provider
// id order, to dst.
func (s *store) appendProviders(dst []ProviderRecord, addr proto.Addr, now env.Time, n int) []ProviderRecord {
	for _, sr := range s.byAddr[addr] {
		if n <= 0 {
			break
		}
		if now.Before(sr.rec.Expiry) {
			dst = append(dst, sr.rec)
			n--
		}
	}
	return dst
}

func (s *store) check() {
	total := 0
	// map order ok: a commutative count and per-entry checks.
	for _, list := range s.byAddr {
		if len(list) == 0 || len(list) > ProvidersPerAddrMax {
			panic(fmt.Sprintf("dht: %d records for one address", len(list)))
		}
		total += len(list)
	}
	if total != len(s.expiry) || total > s.max {
		panic(fmt.Sprintf("dht: store holds %d by address, %d in heap, max %d", total, len(s.expiry), s.max))
	}
}

// recordHeap is a min-heap on expiry; ties by provider id keep it
// deterministic.
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
