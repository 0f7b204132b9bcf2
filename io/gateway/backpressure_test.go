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
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/storage"
)

// busyBackend is edgeBackend behind storage's refusal of reads: at most
// limit reads (Get, GetManifest, GetChunk, GetChunks) are assembled at
// once, and one more is refused at once with storage's own error
// (storage.InflightGetsMax, core/storage/get.go). A read other than a
// manifest takes latency, as a disk read would, so that concurrent
// streams overlap. While refuseLeft > 0, a read other than a manifest
// (Get, GetChunk, GetChunks) that ends past object offset refuseAt fails
// with the same refusal whatever the load, and counts down refuseLeft.
// Refusals go by offset, not by call order: a stream's window of reads
// is issued concurrently, so the order its calls arrive in is not fixed,
// and the read the headers wait for (the first piece) must pass.
type busyBackend struct {
	*edgeBackend
	latency time.Duration

	mu         sync.Mutex
	limit      int
	inflight   int
	refused    int
	refuseAt   uint64
	refuseLeft int
}

// readEnd is the object offset just past what a chunk read asks for.
func readEnd(body any) uint64 {
	switch c := body.(type) {
	case storage.Get:
		return c.Offset + c.Length
	case storage.GetChunk:
		return c.Offset + uint64(c.Chunk.Size)
	case storage.GetChunks:
		end := c.Offset
		for _, ref := range c.Chunks {
			end += uint64(ref.Size)
		}
		return end
	}
	return 0
}

func (b *busyBackend) Call(ctx context.Context, service string, body any) (any, error) {
	manifest := false
	switch body := body.(type) {
	case storage.GetManifest:
		manifest = true
	case storage.Get, storage.GetChunk, storage.GetChunks:
		b.mu.Lock()
		refuse := b.refuseLeft > 0 && readEnd(body) > b.refuseAt
		if refuse {
			b.refuseLeft--
			b.refused++
		}
		b.mu.Unlock()
		if refuse {
			return storage.GetResult{Err: fmt.Errorf("%w: refused by the test", storage.ErrBusy)}, nil
		}
	default:
		return b.edgeBackend.Call(ctx, service, body)
	}
	b.mu.Lock()
	if b.inflight >= b.limit {
		b.refused++
		b.mu.Unlock()
		err := fmt.Errorf("%w: %d gets in flight", storage.ErrBusy, b.limit)
		if manifest {
			return storage.ManifestResult{Err: err}, nil
		}
		return storage.GetResult{Err: err}, nil
	}
	b.inflight++
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.inflight--
		b.mu.Unlock()
	}()
	if !manifest {
		time.Sleep(b.latency) // the disk read
	}
	return b.edgeBackend.Call(ctx, service, body)
}

func (b *busyBackend) refusals() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.refused
}

// newBusyFixture serves objects over real loopback HTTP from a
// busyBackend with storage's limit of reads in flight.
func newBusyFixture(t *testing.T, cacheBytes int64, objects ...[]byte) (*httptest.Server, *Gateway, *busyBackend, *edgeMetrics) {
	t.Helper()
	b := &busyBackend{edgeBackend: newEdgeBackend(objects...), limit: storage.InflightGetsMax, latency: time.Millisecond}
	m := &edgeMetrics{values: map[string]float64{}}
	g := New(Config{Backend: b, Metrics: m, EdgeCacheBytes: cacheBytes, Logger: slog.New(slog.DiscardHandler),
		Admission: AdmissionConfig{TenantRate: 1e6, AnonymousRate: 1e6, AnonymousBurst: 1e6}})
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return srv, g, b, m
}

// getExact GETs path with hdr until it is not a clean 503 (a refusal
// before the response started, which must carry Retry-After), polling
// until a deadline, and returns the status, the Content-Type and the
// whole body; a body cut short is an error.
func getExact(t *testing.T, client *http.Client, url string, hdr map[string]string) (int, string, []byte, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", nil, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return resp.StatusCode, "", body, fmt.Errorf("%d response cut after %d of %s bytes: %v", resp.StatusCode, len(body), resp.Header.Get("Content-Length"), err)
		}
		if resp.StatusCode == http.StatusServiceUnavailable {
			if resp.Header.Get("Retry-After") == "" {
				return resp.StatusCode, "", body, fmt.Errorf("503 without Retry-After: %s", body)
			}
			if time.Now().After(deadline) {
				return resp.StatusCode, "", body, fmt.Errorf("still refused at the deadline: %s", body)
			}
			continue
		}
		return resp.StatusCode, resp.Header.Get("Content-Type"), body, nil
	}
}

// TestConcurrentStreamsOverStorageLimitComplete: 32 concurrent streamed
// GETs, whose windows ask for more reads than storage assembles at once
// (storage.InflightGetsMax), all end with their exact bytes: streams wait
// for the gateway's slots instead of being refused by storage mid-way.
// Requests refused before their response started get a clean 503 with
// Retry-After and are retried. Before the gateway's backpressure, a
// refused chunk read aborted responses already under way (truncated 200s).
// Plain GETs (chunk batches), GETs of an object the edge cache takes
// (one chunk per read) and multi-range GETs (pieces of
// multipartPieceBytes) are all held to it.
func TestConcurrentStreamsOverStorageLimitComplete(t *testing.T) {
	const clients, rounds = 32, 2
	obj := object(6<<20+1000, 3) // 25 chunks; too large for an edge cache entry (it streams)
	addr := proto.AddrOf(obj)
	for _, tc := range []struct {
		name       string
		cacheBytes int64
		rangeHdr   string
		parts      [][2]int // of a multi-range answer
	}{
		{name: "batches"},
		{name: "cached", cacheBytes: 256 << 20},
		{name: "multipart", rangeHdr: "bytes=0-2999999,3500000-5999999", parts: [][2]int{{0, 3000000}, {3500000, 6000000}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _, b, _ := newBusyFixture(t, tc.cacheBytes, obj)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
			defer client.CloseIdleConnections()
			var hdr map[string]string
			if tc.rangeHdr != "" {
				hdr = map[string]string{"Range": tc.rangeHdr}
			}
			var wg sync.WaitGroup
			errs := make(chan error, clients*rounds)
			for range clients {
				wg.Go(func() {
					for range rounds {
						status, ctype, body, err := getExact(t, client, srv.URL+"/o/"+addr.String(), hdr)
						if err != nil {
							errs <- err
							continue
						}
						errs <- checkBody(status, ctype, body, obj, tc.parts)
					}
				})
			}
			wg.Wait()
			close(errs)
			failed := 0
			for err := range errs {
				if err != nil {
					if failed < 5 {
						t.Error(err)
					}
					failed++
				}
			}
			if failed > 0 {
				t.Errorf("%d of %d GETs failed (storage refused %d reads)", failed, clients*rounds, b.refusals())
			}
		})
	}
}

// checkBody says whether a GET answered obj whole (200) or, when parts
// are given, a multipart answer of exactly those ranges [from, to).
func checkBody(status int, ctype string, body, obj []byte, parts [][2]int) error {
	if parts == nil {
		if status != http.StatusOK || !bytes.Equal(body, obj) {
			return fmt.Errorf("status %d, %d bytes, want 200 with the %d bytes of the object", status, len(body), len(obj))
		}
		return nil
	}
	if status != http.StatusPartialContent {
		return fmt.Errorf("multi-range status %d, want 206", status)
	}
	_, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		return err
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for i, r := range parts {
		w := obj[r[0]:r[1]]
		p, err := mr.NextPart()
		if err != nil {
			return fmt.Errorf("part %d: %v", i, err)
		}
		got, err := io.ReadAll(p)
		if err != nil || !bytes.Equal(got, w) {
			return fmt.Errorf("part %d: %d bytes (%v), want %d exact bytes", i, len(got), err, len(w))
		}
	}
	if _, err := mr.NextPart(); err != io.EOF {
		return fmt.Errorf("after the parts: %v", err)
	}
	return nil
}

// TestStreamRetriesRefusedChunkReads: chunk reads refused after the
// response started are retried with a backoff, so the response completes
// exactly (TestStreamGivesUpOnRefusalsForGood: a read refused for longer
// than the stall bound aborts the response, which the client sees cut
// short, never complete).
func TestStreamRetriesRefusedChunkReads(t *testing.T) {
	obj := object(4<<20, 5)
	addr := proto.AddrOf(obj)
	srv, _, b, m := newBusyFixture(t, 0, obj)
	client := &http.Client{}
	defer client.CloseIdleConnections()

	// Storage refuses a few chunk reads past the first MiB, after the
	// headers went out.
	b.mu.Lock()
	b.refuseAt, b.refuseLeft = 1<<20, 5
	b.mu.Unlock()
	resp, err := client.Get(srv.URL + "/o/" + addr.String())
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(body, obj) {
		t.Fatalf("with refused chunk reads: status %d, %d of %d bytes, err %v", resp.StatusCode, len(body), len(obj), err)
	}
	if v, _ := m.get(MetricStreamRetries, ""); v == 0 {
		t.Errorf("%s = 0 after refused chunk reads", MetricStreamRetries)
	}

	// A multi-range answer: its first piece is read before the headers,
	// the next ones after; storage refuses two of those.
	b.mu.Lock()
	b.refuseAt, b.refuseLeft = 1<<20, 2
	b.mu.Unlock()
	status, ctype, body, err := getExact(t, client, srv.URL+"/o/"+addr.String(), map[string]string{"Range": "bytes=0-2999999,3500000-3999999"})
	if err != nil {
		t.Fatal(err)
	}
	if err := checkBody(status, ctype, body, obj, [][2]int{{0, 3000000}, {3500000, 4000000}}); err != nil {
		t.Fatalf("multi-range with refused reads: %v", err)
	}
}

// TestStreamGivesUpOnRefusalsForGood: chunk reads refused for good after
// the first MiB (the headers went out on the first chunks): the stream
// retries until stallMax, then aborts, cutting the body short.
func TestStreamGivesUpOnRefusalsForGood(t *testing.T) {
	obj := object(4<<20, 7)
	addr := proto.AddrOf(obj)
	srv, g, b, _ := newBusyFixture(t, 0, obj)
	g.stallMax = 50 * time.Millisecond
	b.refuseAt, b.refuseLeft = 1<<20, 1<<30
	client := &http.Client{}
	defer client.CloseIdleConnections()
	resp, err := client.Get(srv.URL + "/o/" + addr.String())
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200 (the first MiB was read)", resp.StatusCode)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || len(body) >= len(obj) {
		t.Fatalf("a stream refused for good: %d of %d bytes, err %v; want a cut body", len(body), len(obj), err)
	}
}

// TestUnreachableChunkIsNotRetried: a started stream retries only
// storage's busy refusals. A chunk no holder answered for (ErrUnavailable
// but not ErrBusy) cuts the stream at once, without a retry: retried, it
// held its read slots for StreamStallMax, so a dozen requests for an
// unreachable object held every slot and stalled all other streams.
func TestUnreachableChunkIsNotRetried(t *testing.T) {
	obj := object(4<<20, 6)
	addr := proto.AddrOf(obj)
	srv, g, b, m := newBusyFixture(t, 0, obj)
	g.stallMax = time.Minute // a retry would wait, not give up
	// The chunks from 1 MiB on have no holder; the first ones are read
	// (and the headers sent) whatever order the window's calls arrive in.
	g.cfg.Backend = unreachableFrom{busyBackend: b, offset: 1 << 20}
	client := &http.Client{}
	defer client.CloseIdleConnections()
	resp, err := client.Get(srv.URL + "/o/" + addr.String())
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err == nil || len(body) >= len(obj) {
		t.Fatalf("status %d, %d of %d bytes, err %v; want a 200 cut short", resp.StatusCode, len(body), len(obj), err)
	}
	if v, _ := m.get(MetricStreamRetries, ""); v != 0 {
		t.Fatalf("%s = %v: an unreachable chunk was retried", MetricStreamRetries, v)
	}
}

// unreachableFrom is busyBackend whose chunk reads at or past offset fail
// as a chunk no holder answered for.
type unreachableFrom struct {
	*busyBackend
	offset uint64
}

func (u unreachableFrom) Call(ctx context.Context, service string, body any) (any, error) {
	unreachable := fmt.Errorf("%w: no replica of the chunk answered", storage.ErrUnavailable)
	switch c := body.(type) {
	case storage.GetChunks:
		end := c.Offset
		for _, ref := range c.Chunks {
			end += uint64(ref.Size)
		}
		if end > u.offset {
			return storage.GetResult{Err: unreachable}, nil
		}
	case storage.GetChunk:
		if c.Offset >= u.offset {
			return storage.GetResult{Err: unreachable}, nil
		}
	}
	return u.busyBackend.Call(ctx, service, body)
}

// TestRefusalBeforeResponseIsShed: storage refusing a read before the
// response started is a clean 503 OVERLOADED-style envelope with
// Retry-After, counted in omnigate_shed_total under
// ShedStorageUnavailable (HEAD, a whole GET and a streamed GET alike).
func TestRefusalBeforeResponseIsShed(t *testing.T) {
	small, large := object(1000, 1), object(4<<20, 2)
	srv, _, b, m := newBusyFixture(t, 0, small, large)
	b.mu.Lock()
	b.limit = 0 // every read is refused
	b.mu.Unlock()
	for i, c := range []struct {
		method string
		obj    []byte
	}{{http.MethodHead, large}, {http.MethodGet, small}, {http.MethodGet, large}} {
		req, _ := http.NewRequest(c.method, srv.URL+"/o/"+proto.AddrOf(c.obj).String(), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("%s of %d bytes: status %d, Retry-After %q, err %v; want a clean 503 with Retry-After",
				c.method, len(c.obj), resp.StatusCode, resp.Header.Get("Retry-After"), err)
		}
		if c.method == http.MethodGet && !strings.Contains(string(body), CodeUnavailable) {
			t.Errorf("%s: body %s, want the %s envelope", c.method, body, CodeUnavailable)
		}
		if v, _ := m.get(MetricShed, ShedStorageUnavailable); v != float64(i+1) {
			t.Errorf("after %d refusals, %s{%s} = %v", i+1, MetricShed, ShedStorageUnavailable, v)
		}
	}
}

// TestSynctestReadSlotsServeWaitersFirst: the streamed-read budget hands
// a released slot to the stream that waits for its only read, in arrival
// order, never to a stream widening its window (tryAcquire); a waiter
// whose request ends gives up without a slot.
func TestSynctestReadSlotsServeWaitersFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newReadSlots(2)
		for i := range 2 {
			if !s.tryAcquire() {
				t.Fatalf("free slot %d refused", i)
			}
		}
		if s.tryAcquire() {
			t.Fatal("a third slot of two")
		}
		var order []int
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Go(func() {
				if err := s.acquire(context.Background()); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
			})
			synctest.Wait() // waiter i is blocked before i+1 arrives
		}
		ctx, cancel := context.WithCancel(context.Background())
		gaveUp := make(chan error, 1)
		go func() { gaveUp <- s.acquire(ctx) }()
		synctest.Wait()
		s.release()
		synctest.Wait()
		if s.tryAcquire() {
			t.Error("tryAcquire took a slot a waiter was waiting for")
		}
		mu.Lock()
		if len(order) != 1 || order[0] != 0 {
			t.Errorf("after one release, waiters served %v, want [0]", order)
		}
		mu.Unlock()
		s.release()
		wg.Wait()
		if len(order) != 2 || order[1] != 1 {
			t.Errorf("waiters served in order %v, want [0 1]", order)
		}
		cancel()
		if err := <-gaveUp; err == nil {
			t.Fatal("a cancelled waiter got a slot while none was free")
		}
		s.release()
		s.release()
		if !s.tryAcquire() {
			t.Fatal("a released slot is not free")
		}
	})
}
