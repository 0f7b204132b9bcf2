package gateway

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/storage"
)

// pollUntil polls cond until it holds, failing with what() past a deadline.
func pollUntil(t *testing.T, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(what())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// heldReads holds the chunk reads of an object past its first job
// (offset >= from) until open is closed, as a node's disk would: a
// caller whose context ends gets its answer at once (runtime.Call
// returns), but the read goes on into the buffers it was lent until the
// disk is done (live counts such reads).
type heldReads struct {
	*busyBackend
	from uint64
	open chan struct{}

	mu        sync.Mutex
	live      int // reads the "disk" has not finished
	cancelled int // calls whose caller gave up before the disk finished
}

func (h *heldReads) Call(ctx context.Context, service string, body any) (any, error) {
	var offset uint64
	switch c := body.(type) {
	case storage.GetChunks:
		offset = c.Offset
	case storage.GetChunk:
		offset = c.Offset
	default:
		return h.busyBackend.Call(ctx, service, body)
	}
	if offset < h.from {
		return h.busyBackend.Call(ctx, service, body)
	}
	h.mu.Lock()
	h.live++
	h.mu.Unlock()
	disk := make(chan struct{})
	go func() { // the disk: done once the test opens the gate
		<-h.open
		h.mu.Lock()
		h.live--
		h.mu.Unlock()
		close(disk)
	}()
	select {
	case <-disk:
		return h.busyBackend.Call(ctx, service, body)
	case <-ctx.Done():
		h.mu.Lock()
		h.cancelled++
		h.mu.Unlock()
		return nil, ctx.Err()
	}
}

func (h *heldReads) counts() (live, cancelled int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.live, h.cancelled
}

// TestReadAheadKeptWhileStorageReads: a client that leaves right after
// the headers, while chunk reads are in flight, does not give their
// read-ahead (nor their read slots) back before storage finished
// reading into the buffers lent to them: the reservation stays at least
// those reads' bytes after the handler ended, and goes to zero once
// storage answers. Before, close gave everything back at once and the
// reads' calls returned on the cancel, freeing their slots, while the
// node went on filling the buffers: a client resetting in a loop kept
// StreamReadsMax reads live outside the budget. The test failed on the
// reservation being zero while the reads were live.
func TestReadAheadKeptWhileStorageReads(t *testing.T) {
	obj := object(4<<20+1000, 11)
	addr := proto.AddrOf(obj)
	var held *heldReads
	srv, g, m := newReadAheadFixture(t, 32*StreamChunkBytes, 0, ReadAheadWaitMax, func(b *busyBackend) Backend {
		held = &heldReads{busyBackend: b, from: 2 * StreamChunkBytes, open: make(chan struct{})}
		return held
	}, obj)
	opened := false
	defer func() {
		if !opened {
			close(held.open)
		}
	}()
	resp, err := http.Get(srv.URL + "/o/" + addr.String())
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// The response's first job answered (its headers are out); the
	// next ones are held in storage.
	pollUntil(t, func() string { live, _ := held.counts(); return "no read held: " + itoa(live) },
		func() bool { live, _ := held.counts(); return live > 0 })
	resp.Body.Close() // the client leaves: its connection closes
	pollUntil(t, func() string { return "the handler did not end after its client left" }, func() bool {
		v, _ := m.get(MetricRequests, codeLabel(http.StatusOK))
		return v == 1
	})
	live, _ := held.counts()
	if live == 0 {
		t.Fatal("no read held in storage after the client left")
	}
	// Each held read is a job of StreamBatchChunksMax chunks at most.
	if reserved, lent := g.readAhead.reservedBytes(), int64(live)*StreamChunkBytes; reserved < lent {
		t.Fatalf("%d reads still filling their buffers in storage, but %d bytes reserved (want at least %d)", live, reserved, lent)
	}
	if slots := len(g.streamReads); slots < live {
		t.Fatalf("%d reads still in storage hold %d read slots", live, slots)
	}
	opened = true
	close(held.open)
	waitReadAheadFree(t, g, m)
	pollUntil(t, func() string { return "read slots not given back: " + itoa(len(g.streamReads)) },
		func() bool { return len(g.streamReads) == 0 })
}

func itoa(n int) string { return time.Duration(n).String() }

// countingBackend counts the chunk reads sent to it and answers each
// with zero bytes of the right size, after waiting on gate when the read
// starts at or past gateFrom (gate nil: no wait).
type countingBackend struct {
	gateFrom uint64
	gate     chan struct{}

	mu       sync.Mutex
	calls    int
	inflight int
	most     int
}

func (c *countingBackend) Ready() bool { return true }

func (c *countingBackend) Call(_ context.Context, _ string, body any) (any, error) {
	var refs []storage.ChunkRef
	var offset uint64
	single := false
	switch b := body.(type) {
	case storage.GetChunks:
		refs, offset = b.Chunks, b.Offset
	case storage.GetChunk:
		refs, offset, single = []storage.ChunkRef{b.Chunk}, b.Offset, true
	default:
		return storage.GetResult{Err: storage.ErrNotFound}, nil
	}
	c.mu.Lock()
	c.calls++
	c.inflight++
	c.most = max(c.most, c.inflight)
	c.mu.Unlock()
	if c.gate != nil && offset >= c.gateFrom {
		<-c.gate
	}
	c.mu.Lock()
	c.inflight--
	c.mu.Unlock()
	parts := make([][]byte, len(refs))
	at := offset
	for k, r := range refs {
		parts[k] = make([]byte, r.Size)
		binary.BigEndian.PutUint64(parts[k], at) // whose bytes they are: TestReadAheadShrinksForASlowClient
		at += uint64(r.Size)
	}
	if single {
		return storage.GetResult{Data: parts[0]}, nil
	}
	return storage.GetResult{Parts: parts}, nil
}

func (c *countingBackend) stats() (calls, inflight, most int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls, c.inflight, c.most
}

// newTestFetcher is a fetcher of n whole chunks of StreamChunkBytes for
// r (a request carrying the test's context, from getWith), on a gateway
// with backend and a budget of 64 chunks, opened.
func newTestFetcher(t *testing.T, r *http.Request, backend Backend, n int) (*Gateway, *chunkFetcher) {
	t.Helper()
	g := New(Config{Backend: backend, Metrics: nopMetrics{}, Logger: slog.New(slog.DiscardHandler), ReadAheadBytesMax: 64 * StreamChunkBytes})
	pieces := make([]piece, n)
	for i := range pieces {
		pieces[i] = piece{chunk: storage.ChunkRef{Size: StreamChunkBytes}, offset: uint64(i) * StreamChunkBytes, index: uint32(i), to: StreamChunkBytes}
	}
	req := &request{r: r}
	f := g.newChunkFetcher(req, proto.AddrOf([]byte("x")), uint64(n)*StreamChunkBytes, pieces)
	if e := f.open(req); e != nil {
		t.Fatal(e)
	}
	return g, f
}

// TestFetchJobsAfterTheRequestEndedAreNotSent: a job handed to a
// fetching goroutine once the response's request ended is answered
// without a storage call, and its bytes and slot come back. Before, it
// was sent anyway (runtime.Call queues a call whatever its context),
// costing storage a read nobody would write.
func TestFetchJobsAfterTheRequestEndedAreNotSent(t *testing.T) {
	backend := &countingBackend{}
	ctx, cancel := context.WithCancel(context.Background())
	g, f := newTestFetcher(t, getWith(ctx), backend, 8)
	cancel()
	_, _, e := f.next()
	f.close()
	pollUntil(t, func() string { return "read-ahead or slots not given back" }, func() bool {
		return g.readAhead.reservedBytes() == 0 && len(g.streamReads) == 0
	})
	if calls, _, _ := backend.stats(); calls != 0 {
		t.Fatalf("%d storage calls sent for a request that had ended", calls)
	}
	if e == nil {
		t.Fatal("next returned a piece of a request that ended")
	}
}

// TestReadAheadWidensOnlyForStorage: a response whose client reads
// slowly (every chunk was read before the client asked for it) keeps a
// narrow window, at most narrowWindow chunks reserved, so slow clients
// cannot take the room other streams widen into; a response whose client
// waits for storage widens its window to StreamWindowMax reads. Before,
// every response filled its whole window at once, and the slow one held
// StreamWindowMax chunks.
func TestReadAheadWidensOnlyForStorage(t *testing.T) {
	const n = 24
	t.Run("slow client", func(t *testing.T) {
		backend := &countingBackend{}
		g, f := newTestFetcher(t, getWith(context.Background()), backend, n)
		defer f.close()
		narrow := int64(f.narrowWindow()) * StreamChunkBytes
		for i := range n {
			// The client is slow: the head of the window was read
			// before it asks for it.
			if len(f.window) > 0 {
				pollUntil(t, func() string { return "the head of the window was never read" },
					func() bool { return len(f.window[0].out) > 0 })
			}
			if _, _, e := f.next(); e != nil {
				t.Fatal(e)
			}
			if f.readAhead.held > narrow {
				t.Fatalf("piece %d: a slow client's response holds %d bytes, more than a narrow window's %d", i, f.readAhead.held, narrow)
			}
			f.written(i)
		}
		if r := g.readAhead.reservedBytes(); r > narrow {
			t.Fatalf("%d bytes reserved", r)
		}
	})
	t.Run("storage behind", func(t *testing.T) {
		// The first job answers at once; the later ones wait for the gate,
		// so the client finds a job's first piece unread.
		backend := &countingBackend{gateFrom: 2 * StreamChunkBytes, gate: make(chan struct{})}
		_, f := newTestFetcher(t, getWith(context.Background()), backend, n)
		defer f.close()
		opened := false
		defer func() {
			if !opened {
				close(backend.gate)
			}
		}()
		for i := range 2 {
			if _, _, e := f.next(); e != nil {
				t.Fatal(e)
			}
			f.written(i)
		}
		done := make(chan struct{})
		go func() { // blocks until the gate opens
			defer close(done)
			if _, _, e := f.next(); e != nil {
				t.Error(e)
			}
		}()
		want := StreamWindowMax / StreamBatchChunksMax
		pollUntil(t, func() string {
			_, inflight, _ := backend.stats()
			return "storage behind: " + itoa(inflight) + " reads in flight, want the whole window's"
		}, func() bool { _, inflight, _ := backend.stats(); return inflight == want })
		opened = true
		close(backend.gate)
		<-done
		f.written(2)
		for i := 3; i < n; i++ {
			if _, _, e := f.next(); e != nil {
				t.Fatal(e)
			}
			f.written(i)
		}
	})
}

// TestReadAheadWithReadSlotsContended: with the gateway's read slots
// all taken by other streams and a tight budget, a response with an
// empty window waits for a slot (holding the job's bytes meanwhile),
// one with reads in flight does not start another (its job's bytes go
// back at once), every piece still comes, in order and whole, and the
// budget's accounting ends where it began; a response whose request
// ends while it waits for a slot returns, and gives its bytes back.
func TestReadAheadWithReadSlotsContended(t *testing.T) {
	const n = 12
	backend := &countingBackend{}
	g, f := newTestFetcher(t, getWith(context.Background()), backend, n)
	// A tight budget: a floor and three chunks of widening.
	g.readAhead = newReadAheadBudget(4*StreamChunkBytes, StreamChunkBytes, nopMetrics{})
	f.readAhead = streamReadAhead{}
	if e := f.open(&request{r: httptest.NewRequest(http.MethodGet, "/", nil)}); e != nil {
		t.Fatal(e)
	}
	for range StreamReadsMax { // other streams hold every slot
		g.streamReads <- struct{}{}
	}
	done := make(chan error, 1)
	go func() {
		for i := range n {
			data, _, e := f.next()
			if e != nil {
				done <- e
				return
			}
			if len(data) != StreamChunkBytes {
				done <- fmt.Errorf("piece %d: %d bytes", i, len(data))
				return
			}
			f.written(i)
		}
		if data, _, e := f.next(); data != nil || e != nil {
			done <- fmt.Errorf("a piece past the last: %d bytes, %v", len(data), e)
			return
		}
		done <- nil
	}()
	// The first job's bytes are reserved while it waits for a slot.
	pollUntil(t, func() string { return "the first job did not reserve its bytes" }, func() bool {
		return g.readAhead.reservedBytes() == StreamBatchChunksMax*StreamChunkBytes
	})
	if calls, _, _ := backend.stats(); calls != 0 {
		t.Fatalf("%d calls without a read slot", calls)
	}
	<-g.streamReads // one slot comes free: the stream reads through it alone
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, _, most := backend.stats(); most != 1 {
		t.Fatalf("%d reads in flight at once through one free slot", most)
	}
	if r := g.readAhead.reservedBytes(); r != StreamChunkBytes {
		t.Fatalf("%d bytes reserved after the last piece, want the floor, %d", r, StreamChunkBytes)
	}
	f.close()
	if r := g.readAhead.reservedBytes(); r != 0 {
		t.Fatalf("%d bytes reserved after close", r)
	}
	if slots := len(g.streamReads); slots != StreamReadsMax-1 {
		t.Fatalf("%d slots taken, want the other streams' %d", slots, StreamReadsMax-1)
	}

	// No slot comes free; the request ends while the response waits.
	ctx, cancel := context.WithCancel(context.Background())
	_, waiting := newTestFetcher(t, getWith(ctx), backend, n)
	for len(waiting.g.streamReads) < StreamReadsMax {
		waiting.g.streamReads <- struct{}{}
	}
	errs := make(chan *apiError, 1)
	go func() { _, _, e := waiting.next(); errs <- e }()
	pollUntil(t, func() string { return "the job did not reserve its bytes" }, func() bool {
		return waiting.g.readAhead.reservedBytes() == StreamBatchChunksMax*StreamChunkBytes
	})
	cancel()
	if e := <-errs; e == nil {
		t.Fatal("a response whose request ended got a piece without a read slot")
	}
	waiting.close()
	if r := waiting.g.readAhead.reservedBytes(); r != 0 {
		t.Fatalf("%d bytes reserved after close", r)
	}
}

// getWith is a GET request carrying ctx.
func getWith(ctx context.Context) *http.Request {
	return httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
}

// TestReadAheadShrinksForASlowClient: a response whose window widened
// while storage was behind, and whose client then reads slowly (its next
// job was read before it asked, StreamShrinkAfter times in a row) while
// a first chunk waits for the budget, drops the read chunks beyond a
// narrow window and gives their read-ahead back to the budget (the
// waiter gets in), and reads them again when it reaches them: every
// piece still comes whole, in order. While no window could widen but no
// first chunk waits (the normal state under load) it keeps them: before,
// it dropped them then too, only to read them again.
func TestReadAheadShrinksForASlowClient(t *testing.T) {
	t.Run("a first chunk waits", func(t *testing.T) { testReadAheadShrink(t, true) })
	t.Run("nobody waits", func(t *testing.T) { testReadAheadShrink(t, false) })
}

// testReadAheadShrink is TestReadAheadShrinksForASlowClient with or
// without first chunks waiting for the budget.
func testReadAheadShrink(t *testing.T, waiting bool) {
	const n = 24
	backend := &countingBackend{gateFrom: 2 * StreamChunkBytes, gate: make(chan struct{})}
	g, f := newTestFetcher(t, getWith(context.Background()), backend, n)
	defer f.close()
	narrow := int64(f.narrowWindow()) * StreamChunkBytes
	check := func(i int, data []byte, e *apiError) {
		t.Helper()
		if e != nil {
			t.Fatal(e)
		}
		if len(data) != StreamChunkBytes || binary.BigEndian.Uint64(data) != uint64(i)*StreamChunkBytes {
			t.Fatalf("piece %d: %d bytes of offset %d", i, len(data), binary.BigEndian.Uint64(data))
		}
	}
	for i := range 2 {
		data, _, e := f.next()
		check(i, data, e)
		f.written(i)
	}
	// Storage is behind: the window widens to StreamWindowMax.
	done := make(chan struct{})
	var data2 []byte
	var e2 *apiError
	go func() { defer close(done); data2, _, e2 = f.next() }()
	want := StreamWindowMax / StreamBatchChunksMax
	pollUntil(t, func() string { return "the window did not widen" },
		func() bool { _, inflight, _ := backend.stats(); return inflight == want })
	close(backend.gate)
	<-done
	check(2, data2, e2)
	f.written(2)
	// Other streams press the budget: no window could widen, even with
	// this response's bytes beyond its floor given back.
	var others []*streamReadAhead
	defer func() {
		for _, o := range others {
			o.close()
		}
	}()
	b := g.readAhead
	for i := 0; b.reservedBytes()-f.readAhead.held+f.readAhead.floor+b.firstBytes <= b.bytesMax-b.headroom; i++ {
		o := &streamReadAhead{}
		if e := o.open(context.Background(), g.readAhead, netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), StreamChunkBytes, time.Second); e != nil {
			t.Fatal(e)
		}
		others = append(others, o)
	}
	if waiting {
		// The budget full of first chunks and the widened window, and
		// first chunks waiting: more than reads given back as the client
		// reads a window's worth serve.
		for j := 0; b.reservedBytes()+b.firstBytes <= b.bytesMax; j++ {
			o := &streamReadAhead{}
			if e := o.open(context.Background(), g.readAhead, netip.AddrFrom4([4]byte{10, 1, 0, byte(j)}), StreamChunkBytes, time.Second); e != nil {
				t.Fatal(e)
			}
			others = append(others, o)
		}
		wctx, cancel := context.WithCancel(context.Background())
		const waiters = 2 * StreamWindowMax
		waited := make(chan *streamReadAhead, waiters)
		for j := range waiters {
			go func() {
				w := &streamReadAhead{}
				if e := w.open(wctx, g.readAhead, netip.AddrFrom4([4]byte{10, 2, 0, byte(j)}), StreamChunkBytes, time.Minute); e != nil {
					w = nil
				}
				waited <- w
			}()
		}
		defer func() {
			cancel()
			for range waiters {
				if w := <-waited; w != nil {
					w.close()
				}
			}
		}()
		pollUntil(t, func() string { return "the first chunks did not wait" }, func() bool {
			b.mu.Lock()
			defer b.mu.Unlock()
			return b.waiters.Len() == waiters
		})
	}
	// Now the client is the slow side: every read is done before it asks.
	i := 3
	for ; i < n; i++ {
		pollUntil(t, func() string { return "the window's reads did not finish" }, func() bool {
			for _, p := range f.window {
				if len(p.out) == 0 {
					return false
				}
			}
			return true
		})
		if i == 3 && f.readAhead.held <= narrow {
			t.Fatalf("the window did not widen: %d bytes held", f.readAhead.held)
		}
		data, _, e := f.next()
		check(i, data, e)
		f.written(i)
		if f.slowHeads >= StreamShrinkAfter {
			break
		}
	}
	if i >= n-StreamWindowMax {
		t.Fatalf("piece %d before the client was found slow twice", i)
	}
	switch {
	case waiting && (f.readAhead.held > narrow || f.dropped == 0):
		t.Fatalf("after piece %d of a slow client, first chunks waiting: %d bytes held, %d pieces dropped; want at most a narrow window's %d", i, f.readAhead.held, f.dropped, narrow)
	case !waiting && f.dropped != 0:
		// No window could widen, but nobody waits: the normal state
		// under load, where dropping read chunks only costs reading them
		// again.
		t.Fatalf("after piece %d of a slow client, nobody waiting: %d pieces dropped, want none", i, f.dropped)
	}
	for i++; i < n; i++ {
		data, _, e := f.next()
		check(i, data, e)
		f.written(i)
	}
	if data, _, e := f.next(); data != nil || e != nil {
		t.Fatalf("a piece past the last: %d bytes, %v", len(data), e)
	}
}
