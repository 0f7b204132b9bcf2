package edgecache

import (
	"errors"
	"fmt"
	"math"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/internal/invariants"
	"github.com/ron-network/ron/core/proto"
)

// Limits.
const (
	// BytesMaxDefault is the default capacity of an edge cache (rond's
	// --edge-cache-bytes).
	BytesMaxDefault = 64 << 20
	// EntryBytesMax caps the data of one entry: whole objects up to this
	// size, or one chunk of a larger object. Bigger values are refused so
	// that one large object cannot flush every hot small one.
	EntryBytesMax = 4 << 20
	// EntryOverheadBytes is charged per entry on top of its data, for the
	// key, list links and map slot. It also bounds the number of entries:
	// at most BytesMax/EntryOverheadBytes, even for empty objects.
	EntryOverheadBytes = 128
	// ChunkedObjectFraction bounds the objects whose chunks are cached:
	// at most BytesMax/ChunkedObjectFraction bytes (see AdmitsChunksOf).
	ChunkedObjectFraction = 8
)

// WholeObject is the Chunk of a Key that names a whole object.
const WholeObject = math.MaxUint32

// Key names one cached value: a whole object (Chunk == WholeObject) or
// chunk Chunk (0-based) of a larger one. Content is immutable, so a key's
// value never changes; only its presence does.
type Key struct {
	Addr  proto.Addr
	Chunk uint32
}

// ObjectKey is the key of addr's whole object.
func ObjectKey(addr proto.Addr) Key { return Key{Addr: addr, Chunk: WholeObject} }

// ChunkKey is the key of chunk index of addr. index must be below
// WholeObject.
func ChunkKey(addr proto.Addr, index uint32) Key {
	if index == WholeObject {
		panic("edgecache: chunk index collides with WholeObject")
	}
	return Key{Addr: addr, Chunk: index}
}

// Errors Put returns; the value was not cached.
var (
	ErrDisabled = errors.New("edgecache: disabled")
	ErrTooLarge = errors.New("edgecache: entry too large")
)

// Metric names (ARCHITECTURE section 8). The owner reports them: the cache is a
// plain value with no env.
const (
	MetricHitRatio = "edge_cache_hit_ratio"
	MetricBytes    = "edge_cache_bytes"
	MetricRequests = "edge_cache_requests_total"
	// MetricRequests label values.
	ResultHit  = "hit"
	ResultMiss = "miss"
)

var _ = env.Declare(
	env.MetricDef{Name: MetricHitRatio, Kind: env.Gauge, Help: "Edge cache hits over lookups since start (for a windowed ratio use rate() of edge_cache_requests_total)."},
	env.MetricDef{Name: MetricBytes, Kind: env.Gauge, Help: "Bytes the edge cache holds: data plus a fixed per-entry overhead."},
	env.MetricDef{Name: MetricRequests, Kind: env.Counter, Help: "Edge cache lookups, by result.", Label: "result",
		LabelValues: []string{ResultHit, ResultMiss}}, // a cache that never hits still has a hit series, so its ratio alert can fire
)

// entry is one cached value and its links in the recency ring.
type entry struct {
	key        Key
	data       []byte
	prev, next *entry
}

func (e *entry) cost() uint64 { return uint64(len(e.data)) + EntryOverheadBytes }

// Stats are a cache's counters since New.
type Stats struct {
	Entries   int
	Bytes     uint64 // charged bytes, data plus EntryOverheadBytes per entry
	Inserts   uint64
	Evictions uint64 // entries dropped to make room
	Removals  uint64 // entries dropped by Remove
	Refused   uint64 // Puts refused as too large
}

// Cache is a byte-bounded LRU of immutable values. It is not safe for
// concurrent use: the owner serialises calls (the gateway holds a mutex).
//
// Invariants, checked after every mutation: bytes is the sum of the
// entries' costs and never exceeds bytesMax; the ring holds exactly the
// entries of the map, most recently used first; byAddr lists, for every
// address, exactly the keys of that address in the map.
//
// byAddr exists so that Remove(addr) drops every chunk of an object without
// a scan of the whole cache. A cache keyed by address alone (one value per
// object, chunks inside it) was rejected: a streamed object's chunks are
// hot independently and must be evicted independently.
type Cache struct {
	bytesMax uint64
	entries  map[Key]*entry
	byAddr   map[proto.Addr][]Key
	ring     entry // sentinel: ring.next is the most recent, ring.prev the least
	bytes    uint64
	stats    Stats
}

// New returns a cache holding at most bytesMax charged bytes; 0 gives a
// disabled cache that refuses every Put.
func New(bytesMax uint64) *Cache {
	c := &Cache{bytesMax: bytesMax, entries: map[Key]*entry{}, byAddr: map[proto.Addr][]Key{}}
	c.ring.next, c.ring.prev = &c.ring, &c.ring
	return c
}

// BytesMax is the capacity given to New.
func (c *Cache) BytesMax() uint64 { return c.bytesMax }

// Get returns the value of k and marks it most recently used. The slice is
// shared with the cache: the caller must not modify it.
func (c *Cache) Get(k Key) ([]byte, bool) {
	e, ok := c.entries[k]
	if !ok {
		return nil, false
	}
	c.unlink(e)
	c.pushFront(e)
	return e.data, true
}

// Contains reports whether k is cached, without touching its recency.
func (c *Cache) Contains(k Key) bool {
	_, ok := c.entries[k]
	return ok
}

// Put caches data under k as the most recently used entry, evicting least
// recently used entries until it fits; a value already under k is
// replaced. The cache keeps data: the caller must not modify it afterwards.
// It refuses (and counts) a value above EntryBytesMax or one whose cost
// exceeds the whole capacity, leaving the cache unchanged.
func (c *Cache) Put(k Key, data []byte) error {
	if c.bytesMax == 0 {
		return ErrDisabled
	}
	cost := uint64(len(data)) + EntryOverheadBytes
	if len(data) > EntryBytesMax || cost > c.bytesMax {
		c.stats.Refused++
		return fmt.Errorf("%w: %d bytes (entry max %d, capacity %d)", ErrTooLarge, len(data), EntryBytesMax, c.bytesMax)
	}
	if old, ok := c.entries[k]; ok {
		c.drop(old)
	}
	for c.bytes+cost > c.bytesMax {
		c.drop(c.ring.prev)
		c.stats.Evictions++
	}
	e := &entry{key: k, data: data}
	c.entries[k] = e
	c.byAddr[k.Addr] = append(c.byAddr[k.Addr], k)
	c.pushFront(e)
	c.bytes += cost
	c.stats.Inserts++
	c.checkInvariants()
	return nil
}

// AdmitsChunksOf reports whether the chunks of an object of objectBytes
// bytes should be cached: only when the whole object is at most
// BytesMax/ChunkedObjectFraction. Streaming a larger object through the
// cache chunk by chunk would evict everything older than its first chunk
// (and, if it exceeds the capacity, its own first chunks too, so a reread
// would not hit either); refused, it evicts nothing. Owners ask before
// they look up or put a ChunkKey.
func (c *Cache) AdmitsChunksOf(objectBytes uint64) bool {
	return c.bytesMax > 0 && objectBytes <= c.bytesMax/ChunkedObjectFraction
}

// Remove drops every entry of addr (the whole object and its chunks) and
// returns how many there were.
func (c *Cache) Remove(addr proto.Addr) int {
	keys := c.byAddr[addr]
	n := len(keys)
	for len(keys) > 0 {
		c.drop(c.entries[keys[0]])
		keys = c.byAddr[addr]
	}
	c.stats.Removals += uint64(n)
	c.checkInvariants()
	return n
}

// Stats returns the cache's counters.
func (c *Cache) Stats() Stats {
	s := c.stats
	s.Entries, s.Bytes = len(c.entries), c.bytes
	return s
}

// Keys returns the cached keys, most recently used first.
func (c *Cache) Keys() []Key {
	out := make([]Key, 0, len(c.entries))
	for e := c.ring.next; e != &c.ring; e = e.next {
		out = append(out, e.key)
	}
	return out
}

// drop removes e from the ring, the map and byAddr.
func (c *Cache) drop(e *entry) {
	if e == &c.ring {
		panic("edgecache: drop of the sentinel (bytes accounting is broken)")
	}
	c.unlink(e)
	delete(c.entries, e.key)
	c.bytes -= e.cost()
	keys := c.byAddr[e.key.Addr]
	for i, k := range keys {
		if k == e.key {
			keys = append(keys[:i], keys[i+1:]...)
			break
		}
	}
	if len(keys) == 0 {
		delete(c.byAddr, e.key.Addr)
	} else {
		c.byAddr[e.key.Addr] = keys
	}
}

func (c *Cache) unlink(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (c *Cache) pushFront(e *entry) {
	e.prev, e.next = &c.ring, c.ring.next
	c.ring.next.prev = e
	c.ring.next = e
}

// checkInvariants panics on a broken invariant. The bound is checked
// always; the O(entries) walk only with -tags invariants.
func (c *Cache) checkInvariants() {
	if c.bytes > c.bytesMax {
		panic(fmt.Sprintf("edgecache: %d bytes held over the bound %d", c.bytes, c.bytesMax))
	}
	if !invariants.Enabled {
		return
	}
	c.checkDeep()
}

func (c *Cache) checkDeep() {
	var sum uint64
	count := 0
	for e := c.ring.next; e != &c.ring; e = e.next {
		if e.next.prev != e || c.entries[e.key] != e {
			panic("edgecache: recency ring and map disagree")
		}
		sum += e.cost()
		count++
	}
	if count != len(c.entries) || sum != c.bytes {
		panic(fmt.Sprintf("edgecache: ring has %d entries of %d bytes, map %d entries, accounted %d bytes", count, sum, len(c.entries), c.bytes))
	}
	listed := 0
	// map order ok: only counts and membership checks, nothing is output
	for addr, keys := range c.byAddr {
		for _, k := range keys {
			if k.Addr != addr || c.entries[k] == nil {
				panic("edgecache: byAddr lists a key that is not cached")
			}
		}
		listed += len(keys)
	}
	if listed != len(c.entries) {
		panic(fmt.Sprintf("edgecache: byAddr lists %d keys, map holds %d", listed, len(c.entries)))
	}
}

// Lookups counts an owner's lookups, for edge_cache_hit_ratio. The owner
// decides what one lookup is (the gateway: one per object request), so
// that a request that touches the cache twice is not counted twice.
type Lookups struct{ Hits, Misses uint64 }

// Record counts one lookup.
func (l *Lookups) Record(hit bool) {
	if hit {
		l.Hits++
	} else {
		l.Misses++
	}
}

// HitRatio is Hits over all lookups, 0 before the first.
func (l Lookups) HitRatio() float64 {
	if l.Hits+l.Misses == 0 {
		return 0
	}
	return float64(l.Hits) / float64(l.Hits+l.Misses)
}
