package gateway

import (
	"container/list"
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/storage"
)

// Read-ahead budget of streamed GETs (see "Backpressure of streamed
// reads" in doc.go).
const (
	// ReadAheadBytesDefault is Config.ReadAheadBytesMax when zero and no
	// smaller memory budget applies: 1024 streams reading one default
	// chunk (256 KiB) each, four times what admission's in-flight cap lets
	// run at once by default (admission.InflightMaxDefault), or 96 full
	// windows (StreamWindowMax chunks) within the widening's three
	// quarters. Without it, the in-flight cap alone let 256 responses
	// hold 2 MiB each (512 MiB), more with a larger cap.
	ReadAheadBytesDefault = 256 << 20
	// ReadAheadMemoryFraction is the part of Config.MemoryBytesMax (a
	// micronode's --memory-max) that read-ahead may take by default: a
	// quarter, so that buffered chunks cannot crowd out the objects the
	// budget exists for.
	ReadAheadMemoryFraction = 4
	// ReadAheadBytesMin is the smallest budget: one chunk of the largest
	// size, so that a stream alone always gets its first read.
	ReadAheadBytesMin = storage.ChunkBytesMax
	// ReadAheadHeadroomFraction is the part of the budget kept for the
	// first chunks of responses (open): a stream widens its window only
	// while the rest of the budget stays free, so streams whose slow
	// clients sit on full windows cannot by themselves lock new streams
	// out; only first chunks, one per open response, fill the budget.
	ReadAheadHeadroomFraction = 4
	// ReadAheadWaitMax bounds how long a streamed GET waits, before its
	// headers, for its first chunk's reservation; then it is refused
	// (503 with Retry-After, ShedReadAhead).
	ReadAheadWaitMax = time.Second
)

// MetricReadAheadBytes is the gauge of the bytes streamed GETs have
// reserved; ShedReadAhead counts, in omnigate_shed_total, the GETs
// refused because the budget had no room for their first chunk.
// ShedReadAheadSource counts the GETs refused because their source's
// open responses already held its share of the budget
// (readAheadSourceBytesMax).
const (
	MetricReadAheadBytes = "gateway_stream_read_ahead_bytes"
	// MetricReadAheadDropped counts the read chunks that widened windows
	// dropped to give their read-ahead to a waiting first chunk
	// (chunkFetcher.shrink); each is read again when its client reaches it.
	MetricReadAheadDropped = "gateway_stream_read_ahead_dropped_total"
	ShedReadAhead          = "read_ahead_budget"
	ShedReadAheadSource    = "read_ahead_source"
)

var _ = env.Declare(env.MetricDef{Name: MetricReadAheadBytes, Kind: env.Gauge,
	Help: "Bytes of chunks that streamed GETs have reserved from the read-ahead budget: being read, or read and not yet written to the client."})

var _ = env.Declare(env.MetricDef{Name: MetricReadAheadDropped, Kind: env.Counter,
	Help: "Read chunks that widened windows of streamed GETs dropped, to be read again, so that a waiting first chunk got their read-ahead."})

// readAheadBytesMax is the budget cfg asks for: ReadAheadBytesMax, else
// the default bounded by a fraction of the memory budget; never below
// ReadAheadBytesMin.
func readAheadBytesMax(cfg Config) int64 {
	n := cfg.ReadAheadBytesMax
	if n <= 0 {
		n = ReadAheadBytesDefault
		if cfg.MemoryBytesMax > 0 {
			n = min(n, cfg.MemoryBytesMax/ReadAheadMemoryFraction)
		}
	}
	return max(n, ReadAheadBytesMin)
}

// readAheadSourceFractionMin: a source's read-ahead share is at least
// this part of the budget, whatever RequestsPerSource.
const readAheadSourceFractionMin = 4

// readAheadSourceBytesMax is the part of the budget (bytesMax) one
// source's open responses may hold, first chunks, widened windows and
// first chunks waiting together. A source is its full address, as
// Config.RequestsPerSource keys it (not an IPv6 /64). The share is the
// budget's part that the source's requests are of admission's in-flight
// cap: bytesMax x requestsPerSource / InflightMax, a quarter with the
// defaults (64 of 256), at least a quarter (readAheadSourceFractionMin:
// a lower RequestsPerSource already bounds the source's streams, and a
// smaller share would let its own widened windows refuse its next first
// chunk) and ReadAheadBytesMin (one chunk of the largest size), at most
// the budget; the whole budget when requests per
// source are unbounded (RequestsPerSource < 0). So raising
// RequestsPerSource for a reverse proxy (one source for all its clients)
// raises its share with it: at InflightMax it may hold the whole budget.
// Without a share one address holding RequestsPerSource idle streamed
// GETs could take a small budget whole and every other client's GET was
// refused (read_ahead_budget) while /readyz said ready. A GET whose first
// chunk does not fit its source's share is refused at once, 429 with
// Retry-After (ShedReadAheadSource), as a source over RequestsPerSource
// is; a window does not widen past it.
func readAheadSourceBytesMax(cfg Config, bytesMax int64) int64 {
	perSource := int64(requestsPerSource(cfg))
	inflight := int64(cfg.Admission.WithDefaults().InflightMax)
	if perSource <= 0 || perSource >= inflight {
		return bytesMax
	}
	// bytesMax x perSource / inflight without overflow: perSource <
	// inflight, an int.
	share := bytesMax/inflight*perSource + bytesMax%inflight*perSource/inflight
	return min(bytesMax, max(share, bytesMax/readAheadSourceFractionMin, ReadAheadBytesMin))
}

// readAheadBudget is the gateway-wide budget of read-ahead bytes: a chunk
// read of a streamed GET is reserved here before it starts and given back
// once its bytes were written to the client (or the response ended).
// Without it every response holds up to StreamWindowMax chunks for as
// long as its client takes to read them, and a few sources of slow
// readers could pin GiBs.
//
// A first chunk (reserve) may take the whole budget; widening a window
// (tryReserve) only what leaves headroom (ReadAheadHeadroomFraction)
// free, and never while a first chunk waits: waiters are served in
// arrival order and ahead of tryReserve, like readSlots. So under
// contention the windows shrink as their chunks are written and new
// streams get in; when the budget is all first chunks, a new stream
// waits at most ReadAheadWaitMax and is refused. Invariant, under mu:
// 0 <= reserved <= bytesMax, and the first waiter does not fit (else it
// would have been served).
type readAheadBudget struct {
	bytesMax int64
	headroom int64 // tryReserve leaves this much free
	// sourceMax bounds the bytes one source's responses hold (first
	// chunks and widened windows) or wait for as first chunks
	// (readAheadSourceBytesMax); bySource counts them, and holds only
	// sources with some.
	sourceMax int64
	// firstBytes is the first chunk full asks room for: a default chunk
	// (StreamChunkBytes), at most the budget.
	firstBytes int64
	gauge      env.Series

	mu       sync.Mutex
	reserved int64
	// floors is the part of reserved held as the first chunks of open
	// responses: it comes back only as whole responses end, so a first
	// chunk that does not fit beside it is refused at once instead of
	// waiting (and holding an admission slot) for nothing.
	floors   int64
	bySource map[netip.Addr]int64
	peak     int64      // the most ever reserved (tests)
	waiters  *list.List // of *readAheadWaiter, first come first
	// seq numbers the changes of reserved (under mu); gaugeMu orders the
	// gauge's writes, made outside mu, so that the last change wins.
	seq      uint64
	gaugeMu  sync.Mutex
	gaugeSeq uint64
}

type readAheadWaiter struct {
	bytes int64
	ready chan struct{} // closed once the bytes are reserved for it
}

// newReadAheadBudget makes a budget of bytesMax, of which one source may
// hold sourceMax (readAheadSourceBytesMax).
func newReadAheadBudget(bytesMax, sourceMax int64, metrics env.Metrics) *readAheadBudget {
	b := &readAheadBudget{bytesMax: bytesMax, headroom: bytesMax / ReadAheadHeadroomFraction,
		sourceMax:  min(bytesMax, max(sourceMax, ReadAheadBytesMin)),
		firstBytes: min(StreamChunkBytes, bytesMax),
		gauge:      env.SeriesOf(metrics, MetricReadAheadBytes, ""), bySource: map[netip.Addr]int64{}, waiters: list.New()}
	b.gauge.Set(0)
	return b
}

// errSourceShare is reserve's refusal of a first chunk beyond its
// source's share: the source's fault, not the node's (a 429, not a 503).
type errSourceShare struct{ held, max int64 }

func (e errSourceShare) Error() string {
	return fmt.Sprintf("this address's open responses hold %d bytes of read-ahead, its share is %d; let some finish", e.held, e.max)
}

// reserve takes n bytes as a response's first chunk of source src
// (counted in floors and in src's share), waiting up to wait (or ctx) for
// them; it returns an error, holding nothing, if they did not come. It
// does not wait when src's share has no room for n (errSourceShare), nor
// when the first chunks already held leave no room for n: only whole
// responses ending give those back, not likely within wait.
func (b *readAheadBudget) reserve(ctx context.Context, src netip.Addr, n int64, wait time.Duration) error {
	if n > b.bytesMax {
		return fmt.Errorf("a chunk of %d bytes exceeds the read-ahead budget of %d", n, b.bytesMax)
	}
	b.mu.Lock()
	if held := b.bySource[src]; held+n > b.sourceMax {
		b.mu.Unlock()
		return errSourceShare{held: held, max: b.sourceMax}
	}
	if b.waiters.Len() == 0 && b.reserved+n <= b.bytesMax {
		b.bySource[src] += n
		b.take(n)
		b.floors += n
		b.unlockPublish()
		return nil
	}
	if b.bytesMax-b.floors < n {
		floors := b.floors
		b.mu.Unlock()
		return fmt.Errorf("no room for %d bytes of read-ahead: first chunks of open responses hold %d of %d", n, floors, b.bytesMax)
	}
	// A waiter counts in its source's share while it waits, so that a
	// source's waiters together stay within it.
	b.bySource[src] += n
	w := &readAheadWaiter{bytes: n, ready: make(chan struct{})}
	elem := b.waiters.PushBack(w)
	b.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	var err error
	select {
	case <-w.ready:
		return nil
	case <-t.C:
		err = fmt.Errorf("no room for %d bytes of read-ahead in %v: %d of %d reserved", n, wait, b.reservedBytes(), b.bytesMax)
	case <-ctx.Done():
		err = ctx.Err()
	}
	b.mu.Lock()
	select {
	case <-w.ready: // served as it gave up: the bytes are its
		b.mu.Unlock()
		return nil
	default:
	}
	b.waiters.Remove(elem)
	b.unshare(src, n)
	b.serveWaiters() // the next one may fit now that this one is gone
	b.unlockPublish()
	return err
}

// unshare uncounts n bytes of src's share; b.mu is held.
func (b *readAheadBudget) unshare(src netip.Addr, n int64) {
	switch held := b.bySource[src] - n; {
	case held > 0:
		b.bySource[src] = held
	case held == 0:
		delete(b.bySource, src)
	default:
		panic(fmt.Sprintf("gateway: read-ahead share of %v released %d bytes more than it held", src, -held))
	}
}

// full reports whether the budget has no room left for a first chunk of
// the default size, or a first chunk already waits, so that a new
// streamed GET would wait and, unless windows shrink within
// ReadAheadWaitMax, be refused (read_ahead_budget); and why: /readyz then
// says not ready. Widening leaves the headroom to first chunks, so the
// budget is this full only when first chunks took the headroom.
func (b *readAheadBudget) full() (bool, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.waiters.Len() == 0 && b.reserved+b.firstBytes <= b.bytesMax {
		return false, ""
	}
	return true, fmt.Sprintf("read-ahead budget full: open streamed responses hold %d of %d bytes (%d as their first chunks), %d first chunks waiting",
		b.reserved, b.bytesMax, b.floors, b.waiters.Len())
}

// pressed reports whether a first chunk waits for the budget: only then
// does a widened window shrink (chunkFetcher.shrink), since dropping read
// chunks costs reading them again. A budget merely without room to widen
// a window is the normal state under load, not a reason to drop.
func (b *readAheadBudget) pressed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.waiters.Len() > 0
}

// sourceBytes is what src's share counts (tests).
func (b *readAheadBudget) sourceBytes(src netip.Addr) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bySource[src]
}

// tryReserve takes n bytes to widen a window of source src: if they
// leave the headroom free, fit src's share and nobody waits.
func (b *readAheadBudget) tryReserve(src netip.Addr, n int64) bool {
	b.mu.Lock()
	if b.waiters.Len() > 0 || b.reserved+n > b.bytesMax-b.headroom || b.bySource[src]+n > b.sourceMax {
		b.mu.Unlock()
		return false
	}
	b.bySource[src] += n
	b.take(n)
	b.unlockPublish()
	return true
}

// release gives back n reserved bytes, of which floor were a first
// chunk's of source src, and serves the waiters that fit.
func (b *readAheadBudget) release(src netip.Addr, n, floor int64) {
	if n == 0 && floor == 0 {
		return
	}
	b.mu.Lock()
	if n < 0 || n > b.reserved || floor < 0 || floor > b.floors || n > b.bySource[src] {
		msg := fmt.Sprintf("gateway: read-ahead release of %d bytes (%d of a floor of %v) with %d reserved (%d floors, %d of the source)",
			n, floor, src, b.reserved, b.floors, b.bySource[src])
		b.mu.Unlock()
		panic(msg)
	}
	b.floors -= floor
	b.unshare(src, n)
	b.reserved -= n
	b.seq++
	b.serveWaiters()
	b.unlockPublish()
}

// take reserves n bytes; b.mu is held.
func (b *readAheadBudget) take(n int64) {
	b.reserved += n
	b.seq++
	b.peak = max(b.peak, b.reserved)
}

// unlockPublish unlocks mu and sets the gauge to the reserved bytes
// outside it (mu is the hot path's lock): of writes racing here, one
// that saw an older change than the last written is skipped, so the
// gauge ends at the last value.
func (b *readAheadBudget) unlockPublish() {
	seq, reserved := b.seq, b.reserved
	b.mu.Unlock()
	b.gaugeMu.Lock()
	if seq > b.gaugeSeq {
		b.gaugeSeq = seq
		b.gauge.Set(float64(reserved))
	}
	b.gaugeMu.Unlock()
}

// serveWaiters hands the bytes to waiters in order while the first one
// fits; b.mu is held.
func (b *readAheadBudget) serveWaiters() {
	for e := b.waiters.Front(); e != nil; e = b.waiters.Front() {
		w := e.Value.(*readAheadWaiter)
		if b.reserved+w.bytes > b.bytesMax {
			return
		}
		b.take(w.bytes)
		b.floors += w.bytes
		b.waiters.Remove(e)
		close(w.ready)
	}
}

func (b *readAheadBudget) reservedBytes() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.reserved
}

func (b *readAheadBudget) peakBytes() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.peak
}

func (b *readAheadBudget) waiting() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.waiters.Len()
}

// streamReadAhead is one response's share of the budget. It keeps floor
// bytes (its largest chunk) from open to close, so that once its headers
// are out a stream can always read its next chunk without waiting for
// anyone: when the budget is spent its window shrinks to that one chunk,
// it never stops. What it reserves beyond the floor is taken without
// waiting (tryReserve); what it no longer uses is given back by trim,
// once per fill of the window rather than per chunk written.
//
// Its chunk reads run on the fetcher's goroutines, which may outlive the
// response: storage fills the buffers lent to a read until its call
// answers, even after the client left. So lent counts the bytes of reads
// whose storage call has not answered (under mu, the only field those
// goroutines touch), and close keeps them reserved: each is given back by
// returned, when its call answers.
//
// Invariant: floor <= held and lent <= used <= held while open (held is
// what it took from the budget, used the bytes of its chunks being read
// or not yet written).
type streamReadAhead struct {
	budget *readAheadBudget
	src    netip.Addr // whose share the floor counts in
	floor  int64
	held   int64
	used   int64

	mu     sync.Mutex
	lent   int64
	closed bool
}

// open reserves the floor in src's share, waiting up to wait; the error
// is the response's refusal: over src's share, a 429 with Retry-After
// counted as ShedReadAheadSource; else a 503 with Retry-After, counted as
// ShedReadAhead unless the request ended while it waited (that is no
// refusal).
func (s *streamReadAhead) open(ctx context.Context, budget *readAheadBudget, src netip.Addr, floor int64, wait time.Duration) *apiError {
	if err := budget.reserve(ctx, src, floor, wait); err != nil {
		if share, ok := err.(errSourceShare); ok {
			return &apiError{status: http.StatusTooManyRequests, code: CodeOverQuota, retryable: true, retryAfter: time.Second,
				reason: ShedReadAheadSource, shed: ShedReadAheadSource, message: "streamed read: " + share.Error()}
		}
		e := &apiError{status: http.StatusServiceUnavailable, code: CodeOverloaded, message: "streamed read: " + err.Error(),
			retryable: true, retryAfter: time.Second, shed: ShedReadAhead}
		if ctx.Err() != nil {
			e.shed = ""
		}
		return e
	}
	s.budget, s.src, s.floor, s.held = budget, src, floor, floor
	return nil
}

// grow counts n more bytes in use if what it holds covers them or the
// budget gives the rest at once.
func (s *streamReadAhead) grow(n int64) bool {
	if need := s.used + n - s.held; need > 0 {
		if !s.budget.tryReserve(s.src, need) {
			return false
		}
		s.held += need
	}
	s.used += n
	return true
}

// done counts n bytes as no longer in use (written, or never read); trim
// gives back what that leaves spare.
func (s *streamReadAhead) done(n int64) {
	s.used -= n
	if s.used < 0 {
		panic(fmt.Sprintf("gateway: stream read-ahead done with %d bytes more than in use", -s.used))
	}
}

// trim gives back what it holds beyond the floor and its bytes in use.
func (s *streamReadAhead) trim() {
	if spare := s.held - max(s.floor, s.used); spare > 0 {
		s.budget.release(s.src, spare, 0)
		s.held -= spare
	}
}

// lend counts n bytes in use as lent to a storage call.
func (s *streamReadAhead) lend(n int64) {
	s.mu.Lock()
	s.lent += n
	s.mu.Unlock()
}

// returned reports that the storage call lent n bytes answered (or was
// never sent): after close, their bytes go back to the budget now.
func (s *streamReadAhead) returned(n int64) {
	s.mu.Lock()
	s.lent -= n
	closed := s.closed
	s.mu.Unlock()
	if closed {
		s.budget.release(s.src, n, 0)
	}
}

// close gives back everything but the bytes lent to storage calls still
// running (returned gives those back). It is safe to call on a stream
// that never opened, and twice.
func (s *streamReadAhead) close() {
	if s.budget == nil {
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	lent := s.lent
	s.mu.Unlock()
	s.budget.release(s.src, s.held-lent, s.floor)
	s.held, s.used = 0, 0
}
