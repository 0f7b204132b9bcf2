package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/edgecache"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/storage"
)

// edgeBackend is an in-memory storage service with storage's read
// semantics (Length 0: to the end; ranges outside the object: ErrRange;
// SizeMax; manifests of StreamChunkBytes chunks for streamed reads),
// counting the Gets and the chunks GetChunk and GetChunks read.
type edgeBackend struct {
	mu        sync.Mutex
	objects   map[proto.Addr][]byte
	manifests map[proto.Addr]storage.Manifest // computed on first use
	gets      int
	chunkGets int
}

func newEdgeBackend(objects ...[]byte) *edgeBackend {
	b := &edgeBackend{objects: map[proto.Addr][]byte{}, manifests: map[proto.Addr]storage.Manifest{}}
	for _, o := range objects {
		b.objects[proto.AddrOf(o)] = o
	}
	return b
}

func (b *edgeBackend) Ready() bool { return true }

func (b *edgeBackend) Call(_ context.Context, service string, body any) (any, error) {
	if service != "storage" {
		return nil, fmt.Errorf("edgeBackend: no service %q", service)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch body := body.(type) {
	case storage.Get:
		b.gets++
		data, ok := b.objects[body.Addr]
		if !ok {
			return storage.GetResult{Err: storage.ErrNotFound}, nil
		}
		size := uint64(len(data))
		if body.Offset == 0 && body.Length == 0 && body.SizeMax > 0 && size > body.SizeMax {
			return storage.GetResult{Size: size, Err: storage.ErrTooLarge}, nil
		}
		end := size
		if body.Length > 0 {
			end = body.Offset + body.Length
		}
		if body.Offset > size || end > size || end < body.Offset {
			return storage.GetResult{Err: storage.ErrRange}, nil
		}
		return storage.GetResult{Data: bytes.Clone(data[body.Offset:end]), Size: size}, nil
	case storage.Delete:
		delete(b.objects, body.Addr)
		return storage.DeleteResult{}, nil
	case storage.GetManifest:
		data, ok := b.objects[body.Addr]
		if !ok {
			return storage.ManifestResult{Err: storage.ErrNotFound}, nil
		}
		return storage.ManifestResult{Manifest: b.manifest(body.Addr, data)}, nil
	case storage.GetChunk:
		b.chunkGets++
		data, ok := b.objects[body.Addr]
		if !ok {
			return storage.GetResult{Err: storage.ErrNotFound}, nil
		}
		off := 0
		for _, c := range b.manifest(body.Addr, data).Chunks {
			if c == body.Chunk {
				return storage.GetResult{Data: bytes.Clone(data[off : off+int(c.Size)]), Size: uint64(c.Size)}, nil
			}
			off += int(c.Size)
		}
		return storage.GetResult{Err: storage.ErrNotFound}, nil
	case storage.GetChunks:
		b.chunkGets += len(body.Chunks)
		data, ok := b.objects[body.Addr]
		if !ok {
			return storage.GetResult{Err: storage.ErrNotFound}, nil
		}
		man := b.manifest(body.Addr, data)
		first := int(body.Offset / StreamChunkBytes)
		var res storage.GetResult
		off := body.Offset
		for k, c := range body.Chunks {
			if body.Offset%StreamChunkBytes != 0 || first+k >= len(man.Chunks) || man.Chunks[first+k] != c {
				return storage.GetResult{Err: storage.ErrNotFound}, nil
			}
			res.Parts = append(res.Parts, bytes.Clone(data[off:off+uint64(c.Size)]))
			res.Size += uint64(c.Size)
			off += uint64(c.Size)
		}
		if len(res.Parts) == 1 {
			res.Data, res.Parts = res.Parts[0], nil
		}
		return res, nil
	}
	return nil, fmt.Errorf("edgeBackend: unexpected %T", body)
}

// manifest returns the manifest of data (at addr); the caller holds mu.
func (b *edgeBackend) manifest(addr proto.Addr, data []byte) storage.Manifest {
	man, ok := b.manifests[addr]
	if !ok {
		_, man = storage.Split(data, StreamChunkBytes)
		b.manifests[addr] = man
	}
	return man
}

func (b *edgeBackend) getCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.gets
}

func (b *edgeBackend) chunkGetCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.chunkGets
}

// edgeMetrics records the last value set and the sum added per name{label}.
type edgeMetrics struct {
	mu     sync.Mutex
	values map[string]float64
}

func (m *edgeMetrics) key(name, label string) string { return name + "{" + label + "}" }

func (m *edgeMetrics) Add(name, label string, delta float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.values[m.key(name, label)] += delta
}

func (m *edgeMetrics) Set(name, label string, value float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.values[m.key(name, label)] = value
}

func (m *edgeMetrics) Observe(string, string, float64) {}

func (m *edgeMetrics) get(name, label string) (float64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.values[m.key(name, label)]
	return v, ok
}

type edgeFixture struct {
	t       *testing.T
	g       *Gateway
	backend *edgeBackend
	metrics *edgeMetrics
	token   string
}

func newEdgeFixture(t *testing.T, cacheBytes int64, objects ...[]byte) *edgeFixture {
	t.Helper()
	keys := auth.NewKeyring(nil)
	secret, _ := auth.NewSecret(bytes.Repeat([]byte{9}, auth.KeyBytes))
	if err := keys.Create("root", auth.KindMAC, secret); err != nil {
		t.Fatal(err)
	}
	key, _ := keys.CurrentMACKey("root")
	tok, err := auth.Mint(key, "alice", auth.OpsAll, [auth.NonceBytes]byte{1})
	if err != nil {
		t.Fatal(err)
	}
	f := &edgeFixture{t: t, backend: newEdgeBackend(objects...), metrics: &edgeMetrics{values: map[string]float64{}}, token: tok.Encode()}
	f.g = New(Config{Backend: f.backend, Metrics: f.metrics, Verifier: auth.NewVerifier(keys, nil), EdgeCacheBytes: cacheBytes,
		Logger: slog.New(slog.DiscardHandler), Admission: AdmissionConfig{TenantRate: 1e6}})
	return f
}

// do serves one request in-process and returns the recorded response.
func (f *edgeFixture) do(method string, addr proto.Addr, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "/o/"+addr.String(), nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	f.g.ServeHTTP(w, r)
	return w
}

func (f *edgeFixture) metric(name, label string) float64 {
	f.t.Helper()
	v, ok := f.metrics.get(name, label)
	if !ok {
		f.t.Fatalf("metric %s{%s} was never reported", name, label)
	}
	return v
}

func object(n int, seed byte) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = seed + byte(i*7)
	}
	return out
}

// TestSecondGetIsAHit: the first GET reads storage and fills the cache;
// the second is served from it without a storage call, and the metrics
// say one miss, one hit.
func TestSecondGetIsAHit(t *testing.T) {
	obj := object(1000, 1)
	f := newEdgeFixture(t, 1<<20, obj)
	addr := proto.AddrOf(obj)
	for i := range 2 {
		w := f.do(http.MethodGet, addr)
		if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), obj) {
			t.Fatalf("GET %d: status %d, %d bytes", i, w.Code, w.Body.Len())
		}
	}
	if n := f.backend.getCount(); n != 1 {
		t.Fatalf("two GETs made %d storage reads, want 1", n)
	}
	if hit, miss := f.metric(edgecache.MetricRequests, edgecache.ResultHit), f.metric(edgecache.MetricRequests, edgecache.ResultMiss); hit != 1 || miss != 1 {
		t.Fatalf("requests hit=%v miss=%v, want 1 and 1", hit, miss)
	}
	if r := f.metric(edgecache.MetricHitRatio, ""); r != 0.5 {
		t.Fatalf("hit ratio %v after one miss and one hit", r)
	}
	if b := f.metric(edgecache.MetricBytes, ""); b != float64(len(obj)+edgecache.EntryOverheadBytes) {
		t.Fatalf("edge_cache_bytes %v, want the object plus one entry overhead", b)
	}
}

// TestRangesFromCache: a range GET of a small object fills the cache, and
// later single ranges, multiple ranges, HEAD and If-None-Match are served
// from it with the same answers storage would give.
func TestRangesFromCache(t *testing.T) {
	obj := object(5000, 2)
	f := newEdgeFixture(t, 1<<20, obj)
	addr := proto.AddrOf(obj)
	first := f.do(http.MethodGet, addr, "Range", "bytes=10-19")
	if first.Code != http.StatusPartialContent || !bytes.Equal(first.Body.Bytes(), obj[10:20]) {
		t.Fatalf("first range: status %d body %x", first.Code, first.Body.Bytes())
	}
	reads := f.backend.getCount()
	w := f.do(http.MethodGet, addr, "Range", "bytes=-100")
	if w.Code != http.StatusPartialContent || !bytes.Equal(w.Body.Bytes(), obj[4900:]) || w.Header().Get("Content-Range") != "bytes 4900-4999/5000" {
		t.Fatalf("suffix range: status %d, Content-Range %q", w.Code, w.Header().Get("Content-Range"))
	}
	w = f.do(http.MethodGet, addr, "Range", "bytes=0-1,4998-")
	if got := multipartBodies(t, w); w.Code != http.StatusPartialContent || len(got) != 2 ||
		!bytes.Equal(got[0], obj[:2]) || !bytes.Equal(got[1], obj[4998:]) {
		t.Fatalf("multi range: status %d, parts %q", w.Code, got)
	}
	w = f.do(http.MethodHead, addr)
	if w.Code != http.StatusOK || w.Header().Get("Content-Length") != "5000" {
		t.Fatalf("HEAD: status %d, Content-Length %q", w.Code, w.Header().Get("Content-Length"))
	}
	w = f.do(http.MethodGet, addr, "If-None-Match", etag(addr))
	if w.Code != http.StatusNotModified {
		t.Fatalf("If-None-Match: status %d", w.Code)
	}
	if n := f.backend.getCount(); n != reads {
		t.Fatalf("cached requests made %d storage reads", n-reads)
	}
	if hit, miss := f.metric(edgecache.MetricRequests, edgecache.ResultHit), f.metric(edgecache.MetricRequests, edgecache.ResultMiss); hit != 4 || miss != 1 {
		t.Fatalf("requests hit=%v miss=%v, want 4 hits (one per request, not per lookup) and 1 miss", hit, miss)
	}
	w = f.do(http.MethodGet, addr, "Range", "bytes=6000-")
	if w.Code != http.StatusRequestedRangeNotSatisfiable {
		t.Fatalf("range past the end of a cached object: status %d", w.Code)
	}
}

func multipartBodies(t *testing.T, w *httptest.ResponseRecorder) [][]byte {
	t.Helper()
	_, params, err := mime.ParseMediaType(w.Header().Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(w.Body, params["boundary"])
	var out [][]byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(p)
		out = append(out, data)
	}
}

// TestDeleteEvicts: after DELETE the object is no longer served from the
// cache (storage, which dropped it, answers 404) and the bytes gauge
// falls back to zero.
func TestDeleteEvicts(t *testing.T) {
	obj := object(300, 3)
	f := newEdgeFixture(t, 1<<20, obj)
	addr := proto.AddrOf(obj)
	if w := f.do(http.MethodGet, addr); w.Code != http.StatusOK {
		t.Fatalf("GET: %d", w.Code)
	}
	if w := f.do(http.MethodDelete, addr, "Authorization", "Bearer "+f.token); w.Code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", w.Code, w.Body)
	}
	if w := f.do(http.MethodGet, addr); w.Code != http.StatusNotFound {
		t.Fatalf("GET after DELETE: status %d, want 404 from storage", w.Code)
	}
	if b := f.metric(edgecache.MetricBytes, ""); b != 0 {
		t.Fatalf("edge_cache_bytes %v after the only object was deleted", b)
	}
}

// TestStaleFillAfterRemoveIsDropped: a fill whose miss happened before a
// DELETE's eviction must not put the object back.
func TestStaleFillAfterRemoveIsDropped(t *testing.T) {
	e := newEdge(1<<20, &edgeMetrics{values: map[string]float64{}})
	addr := proto.AddrOf([]byte("x"))
	key := edgecache.ObjectKey(addr)
	_, _, generation := e.get(key)
	e.remove(addr)
	e.put(key, []byte("x"), generation)
	if _, ok, _ := e.get(key); ok {
		t.Fatal("a fill from before the remove was cached")
	}
	_, _, generation = e.get(key)
	e.put(key, []byte("x"), generation)
	if _, ok, _ := e.get(key); !ok {
		t.Fatal("a fill after the remove was not cached")
	}
}

// TestLargeAndDisabledNotCached: objects above EntryBytesMax always go to
// storage, and a zero capacity caches nothing and reports nothing.
func TestLargeAndDisabledNotCached(t *testing.T) {
	large := object(edgecache.EntryBytesMax+1, 4)
	f := newEdgeFixture(t, 64<<20, large)
	for range 2 {
		if w := f.do(http.MethodGet, proto.AddrOf(large)); w.Code != http.StatusOK || w.Body.Len() != len(large) {
			t.Fatalf("GET large: status %d, %d bytes", w.Code, w.Body.Len())
		}
	}
	if n := f.backend.getCount(); n != 2 {
		t.Fatalf("two GETs of an object above EntryBytesMax made %d storage reads, want 2", n)
	}
	small := object(10, 5)
	off := newEdgeFixture(t, 0, small)
	for range 2 {
		off.do(http.MethodGet, proto.AddrOf(small))
	}
	if n := off.backend.getCount(); n != 2 {
		t.Fatalf("a disabled cache served %d of 2 GETs", 2-n)
	}
	if _, ok := off.metrics.get(edgecache.MetricRequests, edgecache.ResultMiss); ok {
		t.Fatal("a disabled cache reported lookups")
	}
}

// TestEdgeConcurrent runs GETs (whole and ranged) and DELETEs of objects
// that together overflow a small cache from several goroutines; every
// answer must be the object's bytes or, once deleted, 404. Run with -race.
func TestEdgeConcurrent(t *testing.T) {
	var objs [][]byte
	for i := range 8 {
		objs = append(objs, object(3000+i*500, byte(i)))
	}
	f := newEdgeFixture(t, 3*(4000+edgecache.EntryOverheadBytes), objs...)
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for worker := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				obj := objs[(worker*31+i*7)%len(objs)]
				addr := proto.AddrOf(obj)
				if worker == 0 && i%50 == 49 {
					f.do(http.MethodDelete, addr, "Authorization", "Bearer "+f.token)
					continue
				}
				ranged := i%3 == 0
				var w *httptest.ResponseRecorder
				want := obj
				if ranged {
					w, want = f.do(http.MethodGet, addr, "Range", "bytes=100-199"), obj[100:200]
				} else {
					w = f.do(http.MethodGet, addr)
				}
				if w.Code == http.StatusNotFound {
					continue
				}
				if !bytes.Equal(w.Body.Bytes(), want) {
					errs <- fmt.Sprintf("worker %d: GET %s (ranged %v): status %d, wrong bytes", worker, addr.Short(), ranged, w.Code)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	stats, lookups := f.g.edge.stats()
	if stats.Bytes > f.g.edge.cache.BytesMax() || lookups.Hits == 0 || lookups.Misses == 0 {
		t.Fatalf("after the run: %+v, %+v", stats, lookups)
	}
	if stats.Evictions == 0 {
		t.Fatalf("eight objects in a cache for three caused no eviction: %+v", stats)
	}
}

// TestLargeStreamKeepsHotObjects: a GET streams an object four times the
// cache's size chunk by chunk; the hot small objects cached before are
// all still hits afterwards (nothing was evicted), and the large object's
// chunks were not cached. An object the cache admits (at most
// BytesMax/ChunkedObjectFraction) still has its streamed chunks cached.
func TestLargeStreamKeepsHotObjects(t *testing.T) {
	const cacheBytes = 8 << 20
	var hot [][]byte
	for i := range 32 {
		hot = append(hot, object(64<<10, byte(i)))
	}
	large := object(4*cacheBytes, 99)
	f := newEdgeFixture(t, cacheBytes, append(hot, large)...)
	getAll := func() {
		for _, obj := range hot {
			if w := f.do(http.MethodGet, proto.AddrOf(obj)); w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), obj) {
				t.Fatalf("GET hot: status %d", w.Code)
			}
		}
	}
	getAll()
	if w := f.do(http.MethodGet, proto.AddrOf(large)); w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), large) {
		t.Fatalf("GET large: status %d, %d bytes", w.Code, w.Body.Len())
	}
	if n := f.backend.chunkGetCount(); n != len(large)/StreamChunkBytes {
		t.Fatalf("the large GET read %d chunks, want %d (it must stream)", n, len(large)/StreamChunkBytes)
	}
	before := f.backend.getCount()
	getAll()
	stats, _ := f.g.edge.stats()
	if n := f.backend.getCount() - before; n != 0 || stats.Evictions != 0 {
		t.Fatalf("after streaming %d MiB through a %d MiB cache: %d hot objects missed, %d evictions", len(large)>>20, cacheBytes>>20, n, stats.Evictions)
	}
	if stats.Entries != len(hot) {
		t.Fatalf("the cache holds %d entries, want the %d hot objects only", stats.Entries, len(hot))
	}

	admitted := object(edgecache.EntryBytesMax+3*StreamChunkBytes, 77) // streamed (above EntryBytesMax), within 64 MiB / 8
	g := newEdgeFixture(t, 64<<20, admitted)
	for range 2 {
		if w := g.do(http.MethodGet, proto.AddrOf(admitted)); w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), admitted) {
			t.Fatalf("GET admitted: status %d", w.Code)
		}
	}
	if n, want := g.backend.chunkGetCount(), len(admitted)/StreamChunkBytes; n != want {
		t.Fatalf("two streamed GETs of an admitted object read %d chunks from storage, want %d (the second from the cache)", n, want)
	}
}
