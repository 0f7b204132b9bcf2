// Package edgecache is the edge cache of ARCHITECTURE 5.7: a byte-bounded LRU of
// hot objects and chunks, kept in front of the storage machine by the
// gateway. It is pure and deterministic (no clock, no randomness, no
// locks); the gateway owns one Cache behind a mutex and reports its
// metrics.
//
// # What is cached
//
// Values are immutable because addresses are content hashes, so an entry
// never goes stale and there is no TTL or revalidation. The only
// invalidation is Remove(addr), which the gateway calls on DELETE so that
// a node stops serving an object it was told to drop. A Key is an address
// plus a chunk index (WholeObject for a whole object), so a gateway that
// streams large objects chunk by chunk can cache each chunk on its own
// (ChunkKey) while small objects are cached whole (ObjectKey); one object
// may have both kinds of entries, and Remove drops them all.
//
// # Bounds
//
// The capacity counts each entry's data plus EntryOverheadBytes, so the
// number of entries is bounded even when values are empty, and the charged
// total never exceeds the capacity: Put evicts least recently used entries
// until the new one fits, and refuses (counting it) a value above
// EntryBytesMax or above the whole capacity. A capacity of 0 disables the
// cache.
//
// # Large streamed objects
//
// Plain LRU is not scan resistant: one streamed read of an object larger
// than the cache would push every chunk through it and evict every hot
// entry, for no later hit (an object larger than the cache evicts its own
// first chunks before a reread reaches them). So an object's chunks are
// admitted only when the whole object is at most
// BytesMax/ChunkedObjectFraction (AdmitsChunksOf, 8 MiB of the default 64
// MiB); one streamed read then displaces at most that share of the cache.
// Larger objects stream past the cache.
//
// # Rejected alternatives
//
// Segmented or frequency-aware policies (SLRU, TinyLFU) resist scans
// better, but the edge cache sits behind admission and a per-entry cap,
// and plain LRU is what the design asks for and is easy to check against a
// model (cache_test.go). Admitting a chunk only on its second access (a
// ghost list of recent misses) would also keep a single pass out, but not
// a second pass over the same large object, which would flush the cache
// just the same; the size bound keeps both out and needs no extra state.
// container/list was not used because the intrusive ring avoids one
// allocation per entry and keeps the invariant walk simple.
package edgecache
