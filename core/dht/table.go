package dht

import (
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// entry is one contact: 33 bytes with byte alignment, so a full table of a
// node in a 100k network (about 300 contacts) costs about 10 KB. The
// bucket's slice order is the recency order, so no timestamp is kept.
type entry struct {
	id    proto.NodeID
	fails uint8 // consecutive failed RPCs; reset by any valid message
}

// bucket holds the contacts whose common prefix with self is exactly its
// index. entries is ordered least recently seen first and holds at most
// table.k contacts.
type bucket struct {
	entries   []entry
	refreshed env.Time // last time a lookup aimed into this bucket's range
	// confirmedUntil ends the quiet period that an answered eviction ping
	// starts (EvictionPingGap): until then newcomers are dropped unpinged.
	confirmedUntil env.Time
}

// table is the Kademlia routing table. buckets grows on demand up to the
// deepest index in use (never beyond BucketsCount), so a node pays only for
// the ~log2(N/k) buckets that a network of N nodes can fill.
//
// Rejected alternative: a fixed [BucketsCount]bucket array, 8 KB of mostly
// empty headers per node before a single contact is stored.
type table struct {
	self    proto.NodeID
	k       int
	buckets []bucket
	size    int
}

type insertResult uint8

const (
	insertSelf    insertResult = iota + 1 // the id is self: ignored
	insertAdded                           // new contact stored
	insertUpdated                         // known contact moved to most recently seen
	insertFull                            // bucket full: the caller may ping the returned head
)

func newTable(self proto.NodeID, k int) table {
	return table{self: self, k: k}
}

// commonPrefixLen is the number of leading bits a and b share (256 if equal).
func commonPrefixLen(a, b proto.NodeID) int {
	for i := 0; i < proto.IDBytes; i += 8 {
		x := binary.BigEndian.Uint64(a[i:]) ^ binary.BigEndian.Uint64(b[i:])
		if x != 0 {
			return i*8 + bits.LeadingZeros64(x)
		}
	}
	return 8 * proto.IDBytes
}

// distanceCmp orders a and b by XOR distance to target. The first 64 bits
// almost always decide, so they are compared inline and only a tie walks
// the rest (distanceCmpTail).
func distanceCmp(a, b, target *proto.NodeID) int {
	t := binary.BigEndian.Uint64(target[:])
	x := binary.BigEndian.Uint64(a[:]) ^ t
	y := binary.BigEndian.Uint64(b[:]) ^ t
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return distanceCmpTail(a, b, target)
}

// distanceCmpTail is distanceCmp after the first 64 bits tied.
func distanceCmpTail(a, b, target *proto.NodeID) int {
	for i := 8; i < proto.IDBytes; i += 8 {
		t := binary.BigEndian.Uint64(target[i:])
		x := binary.BigEndian.Uint64(a[i:]) ^ t
		y := binary.BigEndian.Uint64(b[i:]) ^ t
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

func (t *table) bucketOf(id proto.NodeID) int { return commonPrefixLen(t.self, id) }

func (t *table) find(id proto.NodeID) (b, i int) {
	b = t.bucketOf(id)
	if b >= len(t.buckets) {
		return b, -1
	}
	es := t.buckets[b].entries
	head := binary.LittleEndian.Uint64(id[:])
	for i := range es {
		// The first 64 bits rule out nearly every other contact without a
		// call to the 32-byte comparison.
		if binary.LittleEndian.Uint64(es[i].id[:]) == head && es[i].id == id {
			return b, i
		}
	}
	return b, -1
}

func (t *table) contains(id proto.NodeID) bool {
	_, i := t.find(id)
	return i >= 0
}

// seen records a valid message from id. It returns insertFull and the least
// recently seen contact of the bucket when id is new and its bucket is full;
// the table is then unchanged (ping-before-evict is the caller's job).
func (t *table) seen(id proto.NodeID) (insertResult, proto.NodeID) {
	if id == t.self {
		return insertSelf, proto.NodeID{}
	}
	b, i := t.find(id)
	if i >= 0 {
		es := t.buckets[b].entries
		copy(es[i:], es[i+1:])
		es[len(es)-1] = entry{id: id}
		return insertUpdated, proto.NodeID{}
	}
	for len(t.buckets) <= b {
		t.buckets = append(t.buckets, bucket{})
	}
	bk := &t.buckets[b]
	if len(bk.entries) >= t.k {
		return insertFull, bk.entries[0].id
	}
	if len(bk.entries) == cap(bk.entries) {
		// Grow by doubling but never past k: a full bucket holds exactly k.
		grown := make([]entry, len(bk.entries), min(t.k, max(2, 2*cap(bk.entries))))
		copy(grown, bk.entries)
		bk.entries = grown
	}
	bk.entries = append(bk.entries, entry{id: id})
	t.size++
	return insertAdded, proto.NodeID{}
}

// remove deletes id, keeping the recency order of the rest.
func (t *table) remove(id proto.NodeID) bool {
	b, i := t.find(id)
	if i < 0 {
		return false
	}
	bk := &t.buckets[b]
	copy(bk.entries[i:], bk.entries[i+1:])
	bk.entries = bk.entries[:len(bk.entries)-1]
	t.size--
	t.trim()
	return true
}

// trim drops empty buckets at the deep end so len(buckets) tracks use.
func (t *table) trim() {
	for n := len(t.buckets); n > 0 && len(t.buckets[n-1].entries) == 0; n-- {
		t.buckets = t.buckets[:n-1]
	}
}

// failed records a failed RPC to id and removes it once it failed
// ContactFailsMax times in a row. It reports whether id was removed.
func (t *table) failed(id proto.NodeID) bool {
	b, i := t.find(id)
	if i < 0 {
		return false
	}
	e := &t.buckets[b].entries[i]
	if e.fails < 255 {
		e.fails++
	}
	if int(e.fails) >= ContactFailsMax {
		return t.remove(id)
	}
	return false
}

// appendClosest appends to dst the n contacts closest to target, sorted by
// XOR distance, and returns the extended slice.
//
// Buckets partition the contacts into distance bands relative to target:
// with c = cpl(self, target), bucket c is nearest, then all buckets deeper
// than c (their distance has its top bit at c), then buckets c-1, c-2, ...,
// 0, each band strictly farther than the previous. So whole bands are fed to
// a bounded insertion sort and the walk stops once n contacts are held.
func (t *table) appendClosest(dst []proto.NodeID, target proto.NodeID, n int) []proto.NodeID {
	if n <= 0 {
		return dst
	}
	var stack [KMax]rankedContact
	run := stack[:0]
	if n > KMax {
		run = make([]rankedContact, 0, n)
	}
	c := commonPrefixLen(t.self, target)
	if c < len(t.buckets) {
		run = t.feed(run, c, &target, n)
		// The deeper buckets form one band, strictly farther than bucket
		// c, so a run that bucket c filled is final; otherwise the whole
		// band is fed, since its buckets are not ordered among themselves.
		if len(run) < n {
			for b := c + 1; b < len(t.buckets); b++ {
				run = t.feed(run, b, &target, n)
			}
		}
	}
	for b := min(c, len(t.buckets)) - 1; b >= 0 && len(run) < n; b-- {
		run = t.feed(run, b, &target, n)
	}
	for i := range run {
		dst = append(dst, *run[i].id)
	}
	return dst
}

// rankedContact is a contact in appendClosest's run: key is the first 64
// bits of its XOR distance to the target, which order nearly every pair
// without touching the id again (rankedCloser breaks ties on the rest).
type rankedContact struct {
	key uint64
	id  *proto.NodeID
}

// rankedCloser reports whether a is strictly closer to target than b.
func rankedCloser(a, b *rankedContact, target *proto.NodeID) bool {
	if a.key != b.key {
		return a.key < b.key
	}
	return distanceCmpTail(a.id, b.id, target) < 0
}

// feed inserts bucket b's contacts into run, sorted by distance to target
// and holding at most n contacts, and returns the run.
func (t *table) feed(run []rankedContact, b int, target *proto.NodeID, n int) []rankedContact {
	head := binary.BigEndian.Uint64(target[:])
	es := t.buckets[b].entries
	for i := range es {
		c := rankedContact{key: binary.BigEndian.Uint64(es[i].id[:]) ^ head, id: &es[i].id}
		if len(run) == n && !rankedCloser(&c, &run[n-1], target) {
			continue
		}
		pos := len(run)
		for pos > 0 && rankedCloser(&c, &run[pos-1], target) {
			pos--
		}
		if len(run) < n {
			run = append(run, rankedContact{})
		}
		copy(run[pos+1:], run[pos:len(run)-1])
		run[pos] = c
	}
	return run
}

// fillRatio is the share of the k-slots of buckets 0..deepest that hold a
// contact: 1 for a table that could not hold another contact in its range.
func (t *table) fillRatio() float64 {
	if len(t.buckets) == 0 {
		return 0
	}
	return float64(t.size) / float64(len(t.buckets)*t.k)
}

// markRefreshed notes a lookup aimed at target.
func (t *table) markRefreshed(target proto.NodeID, now env.Time) {
	if b := t.bucketOf(target); b < len(t.buckets) {
		t.buckets[b].refreshed = now
	}
}

// randomIDInBucket returns an id whose common prefix with self is exactly b.
func (t *table) randomIDInBucket(b int, r *env.Rand) proto.NodeID {
	var id proto.NodeID
	r.Fill(id[:])
	for i := 0; i < b; i++ { // copy self's first b bits
		mask := byte(0x80) >> (i % 8)
		id[i/8] = id[i/8]&^mask | t.self[i/8]&mask
	}
	mask := byte(0x80) >> (b % 8) // flip bit b relative to self
	id[b/8] = id[b/8]&^mask | (^t.self[b/8])&mask
	return id
}

// check verifies the table's structural invariants. deep also checks every
// contact's bucket and uniqueness, which costs O(size*k).
func (t *table) check(deep bool) {
	total := 0
	for b := range t.buckets {
		es := t.buckets[b].entries
		if len(es) > t.k {
			panic(fmt.Sprintf("dht: bucket %d holds %d contacts, k = %d", b, len(es), t.k))
		}
		total += len(es)
		if !deep {
			continue
		}
		for i := range es {
			if got := t.bucketOf(es[i].id); got != b {
				panic(fmt.Sprintf("dht: contact %s in bucket %d, belongs in %d", es[i].id.Short(), b, got))
			}
			for j := i + 1; j < len(es); j++ {
				if es[i].id == es[j].id {
					panic("dht: duplicate contact " + es[i].id.Short())
				}
			}
		}
	}
	if total != t.size {
		panic(fmt.Sprintf("dht: table size %d, buckets hold %d", t.size, total))
	}
	if len(t.buckets) > BucketsCount {
		panic("dht: more buckets than BucketsCount")
	}
}
