package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/storage"
)

// newReadAheadFixture serves objects over loopback HTTP from a
// busyBackend (one wrapped by wrap, if not nil) with a read-ahead budget
// of budget bytes; a GET waits wait for its first chunk's room.
func newReadAheadFixture(t *testing.T, budget int64, cacheBytes int64, wait time.Duration, wrap func(*busyBackend) Backend,
	objects ...[]byte) (*httptest.Server, *Gateway, *edgeMetrics) {
	t.Helper()
	b := &busyBackend{edgeBackend: newEdgeBackend(objects...), limit: storage.InflightGetsMax, latency: time.Millisecond}
	var backend Backend = b
	if wrap != nil {
		backend = wrap(b)
	}
	m := &edgeMetrics{values: map[string]float64{}}
	g := New(Config{Backend: backend, Metrics: m, EdgeCacheBytes: cacheBytes, Logger: slog.New(slog.DiscardHandler),
		Admission: AdmissionConfig{TenantRate: 1e6, AnonymousRate: 1e6, AnonymousBurst: 1e6}, ReadAheadBytesMax: budget})
	if g.readAhead.bytesMax != budget {
		t.Fatalf("budget %d bytes, asked for %d", g.readAhead.bytesMax, budget)
	}
	g.readAheadWait = wait
	// Every client here is 127.0.0.1 and these tests are about the
	// gateway-wide budget: no per-source share (TestReadAheadSourceShare
	// is its test).
	g.readAhead.sourceMax = math.MaxInt64
	srv := httptest.NewUnstartedServer(g)
	// Small socket buffers on the server's side: a response's bytes do
	// not vanish into a host's large (autotuned) send buffer, so a client
	// that reads nothing holds its response open (see smallBufferClient).
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if tc, ok := c.(*net.TCPConn); ok && s == http.StateNew {
			_ = tc.SetWriteBuffer(socketBufferBytes)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, g, m
}

// socketBufferBytes is the send and receive buffer the read-ahead tests
// ask of loopback sockets: far below a streamed object, whatever a host's
// tcp_rmem and tcp_wmem allow.
const socketBufferBytes = 64 << 10

// smallBufferClient is a client whose connections have small receive
// buffers (socketBufferBytes), keeping up to idle of them.
func smallBufferClient(idle int) *http.Client {
	dialer := &net.Dialer{}
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: idle,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetReadBuffer(socketBufferBytes)
			}
			return c, err
		}}}
}

// waitReadAheadFree polls until no byte of the budget is reserved and
// nobody waits, and checks the gauge says so too.
func waitReadAheadFree(t *testing.T, g *Gateway, m *edgeMetrics) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		gauge, _ := m.get(MetricReadAheadBytes, "")
		reserved, waiting := g.readAhead.reservedBytes(), g.readAhead.waiting()
		if reserved == 0 && waiting == 0 && gauge == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("read-ahead not given back: %d bytes reserved (gauge %v), %d waiting", reserved, gauge, waiting)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// readSlowly reads body to its end in small pieces with a pause between
// them, as a slow client does.
func readSlowly(body io.Reader) ([]byte, error) {
	var out []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := body.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// TestReadAheadBudgetBoundsStreams: streamed GETs whose clients do not
// read hold at least their first chunk each, so once they fill the
// gateway-wide budget a further GET is refused before its headers: a
// clean 503 OVERLOADED with Retry-After, counted in omnigate_shed_total
// under read_ahead_budget. The reserved bytes never exceed the budget
// (the budget's peak and its gauge), every admitted stream completes with
// its exact bytes once its slow client reads, and the reservation returns
// to zero. Before the budget, every GET was served (each holding up to
// StreamWindowMax chunks for as long as its client liked), and the test
// fails on the first check.
func TestReadAheadBudgetBoundsStreams(t *testing.T) {
	obj := object(4<<20+1000, 7) // 17 chunks: streamed, too large for an edge cache entry
	addr := proto.AddrOf(obj)
	const floors = 16 // first chunks the budget holds
	budget := int64(floors * StreamChunkBytes)
	for _, tc := range []struct {
		name       string
		cacheBytes int64
	}{{name: "batches"}, {name: "cached", cacheBytes: 256 << 20}} {
		t.Run(tc.name, func(t *testing.T) {
			srv, g, m := newReadAheadFixture(t, budget, tc.cacheBytes, 20*time.Millisecond, nil, obj)
			client := smallBufferClient(floors + 1)
			defer client.CloseIdleConnections()
			// Open streams whose clients read nothing yet until one is
			// refused: each holds a chunk from before its headers until
			// its body ends (the small socket buffers cannot take the
			// object), so at most floors of them fit.
			var held []*http.Response
			var refused *http.Response
			t.Cleanup(func() { // on a failure too: the server's Close waits for their handlers
				for _, resp := range held {
					resp.Body.Close()
				}
			})
			for refused == nil && len(held) <= floors {
				resp, err := client.Get(srv.URL + "/o/" + addr.String())
				if err != nil {
					t.Fatal(err)
				}
				switch resp.StatusCode {
				case http.StatusOK:
					held = append(held, resp)
				case http.StatusServiceUnavailable:
					refused = resp
				default:
					t.Fatalf("status %d", resp.StatusCode)
				}
			}
			if refused == nil {
				t.Fatalf("%d streams of unread bodies were all served with a budget of %d first chunks", len(held), floors)
			}
			if len(held) == 0 {
				t.Fatal("the first stream was refused with the budget free")
			}
			var env Envelope
			err := json.NewDecoder(refused.Body).Decode(&env)
			refused.Body.Close()
			if err != nil || env.Code != CodeOverloaded || !env.Retryable || refused.Header.Get("Retry-After") == "" {
				t.Fatalf("refusal %+v (%v), Retry-After %q; want a retryable %s with Retry-After", env, err, refused.Header.Get("Retry-After"), CodeOverloaded)
			}
			if v, _ := m.get(MetricShed, ShedReadAhead); v != 1 {
				t.Fatalf("%s{%s} = %v, want 1", MetricShed, ShedReadAhead, v)
			}
			if reserved := g.readAhead.reservedBytes(); reserved < int64(len(held))*StreamChunkBytes {
				t.Fatalf("%d streams open hold %d bytes, less than a chunk each", len(held), reserved)
			}
			// The slow clients read now, all at once: their windows
			// compete for the budget as they drain.
			var wg sync.WaitGroup
			errs := make(chan error, len(held))
			for i, resp := range held {
				wg.Go(func() {
					defer resp.Body.Close()
					body, err := readSlowly(resp.Body)
					if err == nil && string(body) != string(obj) {
						err = fmt.Errorf("%d bytes, not the object's %d", len(body), len(obj))
					}
					if err != nil {
						errs <- fmt.Errorf("stream %d: %w", i, err)
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			waitReadAheadFree(t, g, m)
			if peak := g.readAhead.peakBytes(); peak > budget || peak < int64(len(held))*StreamChunkBytes {
				t.Fatalf("peak read-ahead %d bytes, want at least the %d streams' first chunks and at most the budget, %d", peak, len(held), budget)
			}
		})
	}
}

// failingFrom fails the chunk reads of one object at or past offset as a
// chunk no holder answered for: its streams abort after their headers.
type failingFrom struct {
	*busyBackend
	addr   proto.Addr
	offset uint64
}

func (f failingFrom) Call(ctx context.Context, service string, body any) (any, error) {
	var read storage.Get
	switch c := body.(type) {
	case storage.GetChunks:
		read = storage.Get{Addr: c.Addr, Offset: c.Offset}
	case storage.GetChunk:
		read = storage.Get{Addr: c.Addr, Offset: c.Offset}
	}
	if read.Addr == f.addr && readEnd(body) > f.offset {
		return storage.GetResult{Err: fmt.Errorf("%w: no replica of the chunk answered", storage.ErrUnavailable)}, nil
	}
	return f.busyBackend.Call(ctx, service, body)
}

// TestReadAheadIsGivenBackOnEveryPath: however a streamed GET ends (its
// body read to the end, its client gone mid-body or right after the
// headers, its stream aborted by a failed chunk read after the headers:
// the handler's panic), what it reserved goes back to the budget: with
// many such GETs at once, the reservation and its gauge return to zero.
// It passes on the old code, which reserves nothing; it fails if any of
// these paths keeps its bytes (close not called, or called before the
// window's pieces are counted out).
func TestReadAheadIsGivenBackOnEveryPath(t *testing.T) {
	obj, bad := object(3<<20+500, 8), object(3<<20+700, 9)
	badAddr := proto.AddrOf(bad)
	srv, g, m := newReadAheadFixture(t, 8*StreamChunkBytes, 0, ReadAheadWaitMax,
		func(b *busyBackend) Backend { return failingFrom{busyBackend: b, addr: badAddr, offset: 1 << 20} }, obj, bad)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	defer client.CloseIdleConnections()
	// get GETs o until it is not refused for the budget; a refusal must
	// be the clean 503.
	get := func(o []byte) (*http.Response, error) {
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := client.Get(srv.URL + "/o/" + proto.AddrOf(o).String())
			if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
				return resp, err
			}
			resp.Body.Close()
			if resp.Header.Get("Retry-After") == "" || time.Now().After(deadline) {
				return nil, fmt.Errorf("503, Retry-After %q", resp.Header.Get("Retry-After"))
			}
		}
	}
	paths := map[string]func() error{
		"read to the end": func() error {
			resp, err := get(obj)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil || string(body) != string(obj) {
				return fmt.Errorf("%d of %d bytes: %v", len(body), len(obj), err)
			}
			return nil
		},
		"gone mid-body": func() error {
			resp, err := get(obj)
			if err != nil {
				return err
			}
			_, err = io.ReadFull(resp.Body, make([]byte, 600<<10))
			resp.Body.Close() // unread body: the connection closes
			return err
		},
		"gone after the headers": func() error {
			resp, err := get(obj)
			if err != nil {
				return err
			}
			return resp.Body.Close()
		},
		"aborted after the headers": func() error {
			resp, err := get(bad)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || err == nil || len(body) >= len(bad) {
				return fmt.Errorf("status %d, %d of %d bytes, err %v; want a 200 cut short", resp.StatusCode, len(body), len(bad), err)
			}
			return nil
		},
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for name, path := range paths {
		for range 4 {
			wg.Go(func() {
				if err := path(); err != nil {
					errs <- fmt.Errorf("%s: %w", name, err)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitReadAheadFree(t, g, m)
	if peak := g.readAhead.peakBytes(); peak > g.readAhead.bytesMax || peak == 0 {
		t.Fatalf("peak read-ahead %d bytes, budget %d", peak, g.readAhead.bytesMax)
	}
}

// TestSynctestReadAheadBudget: a first chunk (reserve) may fill the
// budget, widening (tryReserve) leaves the headroom and yields to a
// waiting first chunk; a waiter is served in order when bytes come back,
// gives up at its wait bound or when its request ends, holding nothing;
// a stream keeps its floor until close, so with its window empty it can
// always read a chunk.
func TestSynctestReadAheadBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const chunk = 100
		b := newReadAheadBudget(8*chunk, 2*chunk, nopMetrics{}) // headroom: 2 chunks
		b.sourceMax = math.MaxInt64                             // one source: the share is TestSynctestReadAheadSourceShare's
		var s1, s2, s3 streamReadAhead
		if e := s1.open(context.Background(), b, netip.Addr{}, chunk, time.Second); e != nil {
			t.Fatal(e)
		}
		for i := range 6 { // the floor's chunk, then 5 more up to the headroom
			if !s1.grow(chunk) {
				t.Fatalf("widening to chunk %d of 6 refused", i+1)
			}
		}
		if s1.grow(chunk) || b.reservedBytes() != 6*chunk {
			t.Fatalf("widening took the headroom: %d reserved", b.reservedBytes())
		}
		if e := s2.open(context.Background(), b, netip.Addr{}, 2*chunk, time.Second); e != nil {
			t.Fatalf("a first chunk could not use the headroom: %v", e)
		}
		// Full: a third stream waits; meanwhile nobody widens.
		opened := make(chan *apiError, 1)
		go func() { opened <- s3.open(context.Background(), b, netip.Addr{}, chunk, time.Minute) }()
		synctest.Wait()
		if b.waiting() != 1 {
			t.Fatalf("%d waiting, want 1", b.waiting())
		}
		s1.done(chunk) // a chunk written: given back (trim), to the waiter
		s1.trim()
		synctest.Wait()
		if e := <-opened; e != nil {
			t.Fatalf("the waiter was not served a chunk given back: %v", e)
		}
		// Full again: a waiter that gives up holds nothing.
		e := func() *apiError {
			var s streamReadAhead
			return s.open(context.Background(), b, netip.Addr{}, chunk, time.Second)
		}()
		if e == nil || e.status != http.StatusServiceUnavailable || e.shed != ShedReadAhead || e.retryAfter == 0 {
			t.Fatalf("a wait past its bound: %+v, want a 503 with Retry-After shed as %s", e, ShedReadAhead)
		}
		ctx, cancel := context.WithCancel(context.Background())
		gaveUp := make(chan *apiError, 1)
		go func() { var s streamReadAhead; gaveUp <- s.open(ctx, b, netip.Addr{}, chunk, time.Minute) }()
		synctest.Wait()
		cancel()
		if e := <-gaveUp; e == nil {
			t.Fatalf("a cancelled waiter opened: %v", e)
		}
		if b.waiting() != 0 || b.reservedBytes() != 8*chunk {
			t.Fatalf("after the give-ups: %d waiting, %d reserved; want 0 and the full budget", b.waiting(), b.reservedBytes())
		}
		// s1 writes out its window: it keeps its floor, and with its
		// window empty reads a chunk without asking the budget.
		for range 5 {
			s1.done(chunk)
		}
		s1.trim()
		if s1.held != chunk || s1.used != 0 {
			t.Fatalf("s1 holds %d, uses %d; want its floor, %d, and 0", s1.held, s1.used, chunk)
		}
		if !s1.grow(chunk) {
			t.Fatal("a stream with an empty window could not read a chunk")
		}
		for _, s := range []*streamReadAhead{&s1, &s2, &s3} {
			s.close()
			s.close() // twice is harmless
		}
		if b.reservedBytes() != 0 || b.peakBytes() != 8*chunk {
			t.Fatalf("after close: %d reserved, peak %d", b.reservedBytes(), b.peakBytes())
		}
	})
}

// TestReadAheadBytesMax: the default, a micronode's quarter of its memory
// budget when smaller, an explicit value, and the floor of one largest
// chunk.
func TestReadAheadBytesMax(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want int64
	}{
		{Config{}, ReadAheadBytesDefault},
		{Config{MemoryBytesMax: 64 << 20}, 16 << 20},
		{Config{MemoryBytesMax: 4 << 30}, ReadAheadBytesDefault},
		{Config{ReadAheadBytesMax: 3 << 30, MemoryBytesMax: 64 << 20}, 3 << 30},
		{Config{ReadAheadBytesMax: 1000}, ReadAheadBytesMin},
		{Config{MemoryBytesMax: 1 << 20}, ReadAheadBytesMin},
	} {
		if got := readAheadBytesMax(c.cfg); got != c.want {
			t.Errorf("ReadAheadBytesMax %d, MemoryBytesMax %d: budget %d, want %d", c.cfg.ReadAheadBytesMax, c.cfg.MemoryBytesMax, got, c.want)
		}
	}
}

// TestSynctestReadAheadFirstChunksFull: when the first chunks of open
// responses alone fill the budget (nothing comes back until a whole
// response ends) a new response is refused at once, not after
// ReadAheadWaitMax, while one that finds widened bytes in the way still
// waits and gets them; a request that ends while it waits is no
// refusal: it is not counted under ShedReadAhead. Before, the first
// waited its whole bound (holding its admission slot) and the second
// was counted as shed.
func TestSynctestReadAheadFirstChunksFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const chunk = 100
		b := newReadAheadBudget(8*chunk, 2*chunk, nopMetrics{}) // headroom: 2 chunks
		b.sourceMax = math.MaxInt64                             // one source: the share is TestReadAheadSourceShare's
		var s [8]streamReadAhead
		for i := range s {
			if e := s[i].open(context.Background(), b, netip.Addr{}, chunk, time.Second); e != nil {
				t.Fatal(e)
			}
		}
		start := time.Now()
		var late streamReadAhead
		e := late.open(context.Background(), b, netip.Addr{}, chunk, time.Minute)
		if e == nil || e.shed != ShedReadAhead || e.status != http.StatusServiceUnavailable {
			t.Fatalf("a first chunk with the budget all first chunks: %+v, want a 503 shed as %s", e, ShedReadAhead)
		}
		if waited := time.Since(start); waited != 0 {
			t.Fatalf("refused after waiting %v (fake clock), want at once", waited)
		}
		// Widened bytes in the way: a first chunk waits for them. Four
		// first chunks and two widened fill the room widening may take,
		// two more first chunks the headroom.
		for i := 4; i < 8; i++ {
			s[i].close()
		}
		if !s[0].grow(3*chunk) || b.reservedBytes() != 6*chunk {
			t.Fatalf("widening refused: %d reserved", b.reservedBytes())
		}
		var more [2]streamReadAhead
		for i := range more {
			if e := more[i].open(context.Background(), b, netip.Addr{}, chunk, time.Second); e != nil {
				t.Fatal(e)
			}
			defer more[i].close()
		}
		opened := make(chan *apiError, 1)
		go func() { opened <- late.open(context.Background(), b, netip.Addr{}, chunk, time.Minute) }()
		synctest.Wait()
		if b.waiting() != 1 {
			t.Fatalf("%d waiting, want the first chunk that widened bytes keep out", b.waiting())
		}
		s[0].done(3 * chunk)
		s[0].trim()
		if e := <-opened; e != nil {
			t.Fatalf("the waiter was not served the widened bytes given back: %v", e)
		}
		// Full again, with widened bytes; the next waiter's request ends.
		late.close()
		more[0].close()
		if !s[0].grow(2*chunk) || b.reservedBytes() != 6*chunk {
			t.Fatalf("widening refused: %d reserved", b.reservedBytes())
		}
		var others [2]streamReadAhead
		for i := range others {
			if e := others[i].open(context.Background(), b, netip.Addr{}, chunk, time.Second); e != nil {
				t.Fatal(e)
			}
			defer others[i].close()
		}
		ctx, cancel := context.WithCancel(context.Background())
		gone := make(chan *apiError, 1)
		go func() { var w streamReadAhead; gone <- w.open(ctx, b, netip.Addr{}, chunk, time.Minute) }()
		synctest.Wait()
		if b.waiting() != 1 {
			t.Fatalf("%d waiting, want 1", b.waiting())
		}
		cancel()
		if e := <-gone; e == nil || e.shed != "" {
			t.Fatalf("a request that ended while it waited: %+v, want an error counted under no shed reason", e)
		}
		for i := range 4 {
			s[i].close()
		}
	})
}

// TestSynctestReadAheadSourceShare: a source's responses hold at most
// its share of the budget, first chunks, widened windows and first
// chunks waiting together: a first chunk beyond it is refused at once
// (429, ShedReadAheadSource), a window does not widen past it, while
// another source still gets the rest; a waiter gives its share back when
// it gives up, a closed stream when its lent bytes return. full (what
// /readyz reports) says so while a first chunk would wait.
func TestSynctestReadAheadSourceShare(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const chunk = 100
		srcA, srcB, srcC := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("2001:db8::1")
		b := newReadAheadBudget(8*chunk, 2*chunk, nopMetrics{}) // headroom: 2 chunks
		b.sourceMax, b.firstBytes = 3*chunk, chunk
		var a1, a2 streamReadAhead
		if e := a1.open(context.Background(), b, srcA, chunk, time.Second); e != nil {
			t.Fatal(e)
		}
		for i := range 3 { // the floor's, then two more
			if !a1.grow(chunk) {
				t.Fatalf("widening to chunk %d within the share refused", i+1)
			}
		}
		if a1.grow(chunk) {
			t.Fatalf("widened past its source's share: %d held", b.sourceBytes(srcA))
		}
		e := a2.open(context.Background(), b, srcA, chunk, time.Minute)
		if e == nil || e.status != http.StatusTooManyRequests || e.shed != ShedReadAheadSource || e.reason != ShedReadAheadSource || e.retryAfter == 0 {
			t.Fatalf("a first chunk beyond its source's share: %+v, want a 429 with Retry-After shed as %s", e, ShedReadAheadSource)
		}
		if full, why := b.full(); full {
			t.Fatalf("full with 3 of 8 chunks held: %s", why)
		}
		var bs [3]streamReadAhead
		for i := range bs {
			if e := bs[i].open(context.Background(), b, srcB, chunk, time.Second); e != nil {
				t.Fatalf("another source's first chunk %d: %v", i, e)
			}
		}
		var c1, c2 streamReadAhead
		if e := c1.open(context.Background(), b, srcC, 2*chunk, time.Second); e != nil {
			t.Fatal(e)
		}
		if full, why := b.full(); !full || !strings.Contains(why, "read-ahead") {
			t.Fatalf("the budget full of first chunks: full %v (%q)", full, why)
		}
		// C's next first chunk waits (the budget is full, A's widened
		// bytes may come back), counted in C's share meanwhile.
		opened := make(chan *apiError, 1)
		go func() { opened <- c2.open(context.Background(), b, srcC, chunk, time.Second) }()
		synctest.Wait()
		if b.waiting() != 1 || b.sourceBytes(srcC) != 3*chunk {
			t.Fatalf("%d waiting, C's share counts %d; want 1 and 3 chunks", b.waiting(), b.sourceBytes(srcC))
		}
		var c3 streamReadAhead
		if e := c3.open(context.Background(), b, srcC, chunk, time.Minute); e == nil || e.shed != ShedReadAheadSource {
			t.Fatalf("a first chunk beyond a share its waiter fills: %+v, want %s", e, ShedReadAheadSource)
		}
		if e := <-opened; e == nil || e.shed != ShedReadAhead {
			t.Fatalf("a waiter past its bound: %+v, want %s", e, ShedReadAhead)
		}
		if got := b.sourceBytes(srcC); got != 2*chunk {
			t.Fatalf("C's share counts %d after its waiter gave up, want 2 chunks", got)
		}
		// A closes with a storage call still lent: its share keeps those
		// bytes until the call answers.
		a1.lend(chunk)
		a1.close()
		if got := b.sourceBytes(srcA); got != chunk {
			t.Fatalf("A's share counts %d after close with a chunk lent, want 1 chunk", got)
		}
		a1.returned(chunk)
		if full, why := b.full(); full {
			t.Fatalf("full after A's bytes came back: %s", why)
		}
		for _, s := range []*streamReadAhead{&bs[0], &bs[1], &bs[2], &c1} {
			s.close()
		}
		if b.reservedBytes() != 0 || len(b.bySource) != 0 {
			t.Fatalf("after close: %d reserved, shares %v", b.reservedBytes(), b.bySource)
		}
	})
}

// TestReadyzReadAheadFull: while the open streamed responses leave the
// read-ahead budget no room for another first chunk, /readyz answers 503
// naming the read-ahead budget (and GET /status says the same), so a
// balancer steers new GETs away instead of sending them to be refused
// read_ahead_budget; once a response ends it is ready again. Before,
// /readyz stayed ready with every new GET refused.
func TestReadyzReadAheadFull(t *testing.T) {
	srv, g, _ := newReadAheadFixture(t, 4*StreamChunkBytes, 0, time.Second, nil)
	readyz := func() (int, Envelope) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var env Envelope
		if resp.StatusCode != http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode, env
	}
	var s [4]streamReadAhead
	for i := range s {
		src := netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
		if e := s[i].open(context.Background(), g.readAhead, src, StreamChunkBytes, time.Second); e != nil {
			t.Fatal(e)
		}
		if i < len(s)-1 {
			if status, env := readyz(); status != http.StatusOK {
				t.Fatalf("/readyz with %d of 4 first chunks held: %d %+v", i+1, status, env)
			}
		}
	}
	status, env := readyz()
	if status != http.StatusServiceUnavailable || !strings.Contains(env.Message, "read-ahead budget full") || !env.Retryable {
		t.Fatalf("/readyz with the read-ahead budget full: %d %+v, want 503 naming the read-ahead budget", status, env)
	}
	if ready, why := g.readiness(httptest.NewRequest(http.MethodGet, "/status", nil)); ready || !strings.Contains(why, "read-ahead") {
		t.Fatalf("status readiness with the budget full: %v %q", ready, why)
	}
	s[0].close()
	if status, env := readyz(); status != http.StatusOK {
		t.Fatalf("/readyz after a response ended: %d %+v", status, env)
	}
	for i := 1; i < len(s); i++ {
		s[i].close()
	}
}
