package gateway

import (
	"net/http"
	"sync"

	"github.com/ron-network/ron/core/edgecache"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/storage"
)

// edge is the gateway's edge cache (ARCHITECTURE 5.7): a core/edgecache LRU
// behind a mutex, plus the request accounting for its metrics.
//
// One mutex guards everything: Get reorders the LRU, so even lookups write,
// and a read-write lock would buy nothing. The critical sections are map
// and pointer operations, far cheaper than the storage calls they save.
//
// generation closes a race with DELETE: a fill that read from storage
// before a remove must not re-insert the object after it. A fill carries
// the generation seen at its miss and is dropped if any remove happened
// since; removes are rare, so the fills lost this way are too.
type edge struct {
	metrics env.Metrics
	// hits, misses and hitRatio are the series every lookup updates.
	hits, misses, hitRatio env.Series

	mu         sync.Mutex
	cache      *edgecache.Cache
	lookups    edgecache.Lookups
	generation uint64
}

func newEdge(bytesMax int64, metrics env.Metrics) *edge {
	return &edge{metrics: metrics, cache: edgecache.New(uint64(max(bytesMax, 0))),
		hits:     env.SeriesOf(metrics, edgecache.MetricRequests, edgecache.ResultHit),
		misses:   env.SeriesOf(metrics, edgecache.MetricRequests, edgecache.ResultMiss),
		hitRatio: env.SeriesOf(metrics, edgecache.MetricHitRatio, "")}
}

// enabled reports whether the cache has any capacity.
func (e *edge) enabled() bool { return e.cache.BytesMax() > 0 }

// fits reports whether an object of size bytes would be cached whole.
func (e *edge) fits(size uint64) bool {
	return e.enabled() && size <= edgecache.EntryBytesMax && size+edgecache.EntryOverheadBytes <= e.cache.BytesMax()
}

// admitsChunksOf reports whether the chunks of an object of objectBytes
// bytes go through the cache (see edgecache's AdmitsChunksOf).
func (e *edge) admitsChunksOf(objectBytes uint64) bool {
	return e.enabled() && e.cache.AdmitsChunksOf(objectBytes)
}

// get returns the value of k (shared: never modify it) and the generation
// to pass to put on a miss. It does not count the lookup: lookup does.
func (e *edge) get(k edgecache.Key) (data []byte, ok bool, generation uint64) {
	if !e.enabled() {
		return nil, false, 0
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.getLocked(k)
}

// getLocked is get with e.mu held.
func (e *edge) getLocked(k edgecache.Key) (data []byte, ok bool, generation uint64) {
	data, ok = e.cache.Get(k)
	return data, ok, e.generation
}

// put caches data under k unless a remove happened since generation was
// read. The cache keeps data: the caller must not modify it afterwards. A
// refused value (too large) is simply not cached.
func (e *edge) put(k edgecache.Key, data []byte, generation uint64) {
	if !e.enabled() {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if generation != e.generation {
		return
	}
	if e.cache.Put(k, data) == nil {
		e.metrics.Set(edgecache.MetricBytes, "", float64(e.cache.Stats().Bytes))
	}
}

// remove drops every entry of addr and fails fills that are in flight.
func (e *edge) remove(addr proto.Addr) {
	if !e.enabled() {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.generation++
	e.cache.Remove(addr)
	e.metrics.Set(edgecache.MetricBytes, "", float64(e.cache.Stats().Bytes))
}

// lookup is get for one request, which it counts once: a range request
// looks up the size and then the bytes, and only the first lookup says
// whether the request was served from the cache. The lookup and its count
// share one critical section.
func (e *edge) lookup(req *request, k edgecache.Key) (data []byte, ok bool, generation uint64) {
	if !e.enabled() {
		return nil, false, 0
	}
	e.mu.Lock()
	data, ok, generation = e.getLocked(k)
	if req.edgeCounted {
		e.mu.Unlock()
		return data, ok, generation
	}
	req.edgeCounted = true
	e.lookups.Record(ok)
	ratio := e.lookups.HitRatio()
	e.mu.Unlock()
	if ok {
		e.hits.Add(1)
	} else {
		e.misses.Add(1)
	}
	e.hitRatio.Set(ratio)
	return data, ok, generation
}

// stats returns the cache's counters (tests and diagnostics).
func (e *edge) stats() (edgecache.Stats, edgecache.Lookups) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cache.Stats(), e.lookups
}

// readCached answers read from a cached whole object when the range lies
// inside it. Out-of-range reads fall through to storage, which owns the
// error semantics. It returns the generation for fillCached on a miss.
func (g *Gateway) readCached(req *request, addr proto.Addr, offset, length uint64) (data []byte, size uint64, ok bool, generation uint64) {
	whole, hit, generation := g.edge.lookup(req, edgecache.ObjectKey(addr))
	if !hit {
		return nil, 0, false, generation
	}
	size = uint64(len(whole))
	end := size
	if length > 0 {
		end = offset + length
	}
	if offset > size || end > size || end < offset {
		return nil, 0, false, generation
	}
	return whole[offset:end], size, true, generation
}

// fillCached caches the result of a whole read: storage verified it
// against the address, so the bytes are the object.
func (g *Gateway) fillCached(addr proto.Addr, offset, length uint64, res storage.GetResult, generation uint64) {
	if offset == 0 && length == 0 && uint64(len(res.Data)) == res.Size && g.edge.fits(res.Size) {
		g.edge.put(edgecache.ObjectKey(addr), res.Data, generation)
	}
}

// sizeCached answers size from a cached whole object.
func (g *Gateway) sizeCached(req *request, addr proto.Addr) (uint64, bool) {
	whole, hit, _ := g.edge.lookup(req, edgecache.ObjectKey(addr))
	return uint64(len(whole)), hit
}

// prefetchForRanges reads a small object whole before a range GET serves
// its ranges, so that they and later ranges of it come from the cache;
// without this, objects only ever read by range would never be cached.
// A failed prefetch is ignored: the range reads go to storage as before.
func (g *Gateway) prefetchForRanges(req *request, addr proto.Addr, size uint64) {
	if req.r.Method != http.MethodGet || req.r.Header.Get("Range") == "" || !g.edge.fits(size) {
		return
	}
	_, _, _ = g.read(req, addr, 0, 0)
}
