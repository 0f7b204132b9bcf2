package gateway

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ron-network/ron/core/edgecache"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/io/runtime"
)

// writeCounter counts the writes of the connections it accepts.
type writeCounter struct {
	net.Listener
	mu     sync.Mutex
	writes int
}

func (l *writeCounter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countedConn{Conn: c, l: l}, nil
}

func (l *writeCounter) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.writes
}

type countedConn struct {
	net.Conn
	l *writeCounter
}

func (c *countedConn) Write(b []byte) (int, error) {
	c.l.mu.Lock()
	c.l.writes++
	c.l.mu.Unlock()
	return c.Conn.Write(b)
}

// A GET of a 4 KiB object leaves in one write (headers and body), not
// two: net/http's 4 KiB connection buffer would split it (envelopeConn.cork).
func TestSmallGetIsOneWrite(t *testing.T) {
	for _, size := range []int{1, 4 << 10, 12 << 10} {
		data := object(size, 5)
		addr := proto.AddrOf(data)
		f := newEdgeFixture(t, 1<<20, data)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		counter := &writeCounter{Listener: ln}
		srv := NewServer(f.g, nil)
		go func() { _ = srv.Serve(f.g.Listener(counter)) }()
		c := &http.Client{Transport: &http.Transport{}}
		for i := range 3 { // a miss, then hits from the edge cache
			before := counter.count()
			resp, err := c.Get("http://" + ln.Addr().String() + "/o/" + addr.String())
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
				t.Fatalf("size %d GET %d: %d, %d bytes, %v", size, i, resp.StatusCode, len(body), err)
			}
			if resp.Header.Get("ETag") != etag(addr) || resp.Header.Get("Content-Length") == "" {
				t.Fatalf("size %d: headers %v", size, resp.Header)
			}
			if n := counter.count() - before; n != 1 {
				t.Errorf("size %d GET %d: %d writes, want 1", size, i, n)
			}
		}
		_ = srv.Close()
	}
}

// The cork's write error reaches the handler's later writes.
func TestCorkKeepsWriteError(t *testing.T) {
	a, b := net.Pipe()
	_ = b.Close()
	c := &envelopeConn{Conn: a}
	c.cork()
	if n, err := c.Write([]byte("hello")); n != 5 || err != nil {
		t.Fatalf("corked write: %d, %v", n, err)
	}
	c.uncork()
	if _, err := c.Write([]byte("x")); err == nil {
		t.Fatal("a write after a failed uncork succeeded")
	}
}

// BenchmarkGetSmallCached is an anonymous 4 KiB GET served from the edge
// cache with Prometheus metrics, as rond serves it, the handler only (no
// connection): allocations per request, the benchmark's own request and
// recorder included.
func BenchmarkGetSmallCached(b *testing.B) {
	data := object(4<<10, 5)
	addr := proto.AddrOf(data)
	g := New(Config{Backend: newEdgeBackend(data), Metrics: runtime.NewPromMetrics(slog.New(slog.DiscardHandler)),
		EdgeCacheBytes: 1 << 20, Logger: slog.New(slog.DiscardHandler),
		Admission: AdmissionConfig{AnonymousRate: 1e12, AnonymousBurst: 1e12}})
	path := "/o/" + addr.String()
	g.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		g.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != http.StatusOK {
			b.Fatal(w.Code, w.Body.String())
		}
	}
}

// etag is the quoted text of the address.
func TestETagIsQuotedAddress(t *testing.T) {
	for _, data := range [][]byte{nil, []byte("a"), object(5000, 3)} {
		a := proto.AddrOf(data)
		if got, want := etag(a), `"`+a.String()+`"`; got != want {
			t.Fatalf("etag %s, want %s", got, want)
		}
	}
}

// objectPath takes only requests the mux routes to GET /o/{addr}, with
// the same path value (it may leave others, escaped paths, to the mux).
func TestObjectPathAgreesWithMux(t *testing.T) {
	mux := http.NewServeMux()
	var got string
	mux.HandleFunc(objectPattern, func(_ http.ResponseWriter, r *http.Request) { got = "object " + r.PathValue("addr") })
	mux.HandleFunc("/", func(http.ResponseWriter, *http.Request) { got = "other" })
	targets := []string{"/o/b3:abc", "/o/", "/o", "/o/a/b", "/o/a/", "/o/a%2Fb", "/o/a%20b", "/o/%C3%BC", "/o/ü",
		"/o/..", "/o/.", "/o//x", "/O/x", "/o/x?y=1", "/o/x#f", "/oo/x", "/o/a%", "/o/%2e%2e"}
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete} {
		for _, target := range targets {
			r, err := http.NewRequest(method, "http://node"+target, nil)
			if err != nil {
				continue
			}
			got = ""
			mux.ServeHTTP(httptest.NewRecorder(), r)
			want := got
			fast := "other"
			if addr, ok := objectPath(r); ok {
				fast = "object " + addr
			}
			if strings.HasPrefix(fast, "object ") && fast != want {
				t.Errorf("%s %s: objectPath %q, mux %q", method, target, fast, want)
			}
		}
	}
}

// The cached Date header is the second's, in net/http's format.
func TestDateHeader(t *testing.T) {
	now := time.Date(2026, 12, 6, 1, 2, 3, 400, time.FixedZone("x", 3600))
	if got, want := dateHeader(now), now.UTC().Format(http.TimeFormat); len(got) != 1 || got[0] != want {
		t.Fatalf("dateHeader %v, want %s", got, want)
	}
	later := now.Add(time.Second)
	if got, want := dateHeader(later)[0], later.UTC().Format(http.TimeFormat); got != want {
		t.Fatalf("next second: %s, want %s", got, want)
	}
}

// reusedWriter is a ResponseWriter that keeps its header map from one
// response to the next, so AllocsPerRun counts the gateway's allocations.
type reusedWriter struct {
	h      http.Header
	code   int
	length int
}

func (w *reusedWriter) Header() http.Header { return w.h }

func (w *reusedWriter) WriteHeader(code int) { w.code = code }

func (w *reusedWriter) Write(b []byte) (int, error) {
	w.length += len(b)
	return len(b), nil
}

// An anonymous GET of a small cached object allocates only what each
// response must own: the request state (one allocation, which carries the
// status writer and the header value slices), the correlation id, the
// ETag and the Content-Length text. It took 10 before: a status writer,
// the header value slices, a path value map, the admission release
// closure and its Once.
func TestGetSmallCachedAllocs(t *testing.T) {
	data := object(4<<10, 5)
	addr := proto.AddrOf(data)
	metrics := runtime.NewPromMetrics(slog.New(slog.DiscardHandler))
	g := New(Config{Backend: newEdgeBackend(data), Metrics: metrics,
		EdgeCacheBytes: 1 << 20, Logger: slog.New(slog.DiscardHandler),
		Admission: AdmissionConfig{AnonymousRate: 1e12, AnonymousBurst: 1e12}})
	r := httptest.NewRequest(http.MethodGet, "/o/"+addr.String(), nil)
	w := &reusedWriter{h: http.Header{}}
	get := func() {
		clear(w.h)
		w.code, w.length = 0, 0
		g.ServeHTTP(w, r)
	}
	get() // fills the edge cache
	allocs := testing.AllocsPerRun(100, get)
	if w.code != http.StatusOK || w.length != len(data) || w.h.Get("Etag") != etag(addr) || w.h.Get("X-Request-Id") == "" {
		t.Fatalf("GET: %d, %d bytes, headers %v", w.code, w.length, w.h)
	}
	t.Logf("%.0f allocations per cached small GET", allocs)
	if allocs > 4 && !raceEnabled { // the race gate's instrumentation allocates too (5 seen)
		t.Errorf("%.0f allocations per cached small GET, want at most 4", allocs)
	}
	// Every request still counts: 102 GETs (AllocsPerRun runs one more
	// than asked), the first a miss of the edge cache.
	families, err := metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	counted := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetValue()
			}
			switch {
			case m.Counter != nil:
				counted[key] = m.Counter.GetValue()
			case m.Histogram != nil:
				counted[key] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	for key, want := range map[string]float64{MetricRequests + ",200": 102, MetricRequestLatency: 102,
		MetricRouteLatency + "," + getObjectRoute: 102, edgecache.MetricRequests + "," + edgecache.ResultHit: 101,
		edgecache.MetricRequests + "," + edgecache.ResultMiss: 1} {
		if counted[key] != want {
			t.Errorf("%s = %v, want %v", key, counted[key], want)
		}
	}
}

// The GET /o/{addr} path that skips the mux still gives the policy the
// object's address as the resource, as the mux's path value did.
func TestObjectPathKeepsTheResourceForThePolicy(t *testing.T) {
	denied, allowed := object(100, 1), object(100, 2)
	p, err := NewPolicy([]byte(`version: 1
name: one-object-private
rules:
  - name: private-object
    effect: deny
    match: {ops: [read], prefixes: ["` + proto.AddrOf(denied).String() + `"]}
  - name: public-reads
    effect: allow
    match: {ops: [read]}
`))
	if err != nil {
		t.Fatal(err)
	}
	g := New(Config{Backend: newEdgeBackend(denied, allowed), Metrics: runtime.NewPromMetrics(slog.New(slog.DiscardHandler)),
		Logger: slog.New(slog.DiscardHandler), Policy: p, EdgeCacheBytes: 1 << 20})
	for range 2 { // a miss, then a hit of the edge cache
		w := httptest.NewRecorder()
		g.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/o/"+proto.AddrOf(denied).String(), nil))
		if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "private-object") {
			t.Fatalf("GET of the private object: %d %s", w.Code, w.Body)
		}
		w = httptest.NewRecorder()
		g.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/o/"+proto.AddrOf(allowed).String(), nil))
		if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), allowed) {
			t.Fatalf("GET of the public object: %d", w.Code)
		}
	}
}
