package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ron-network/ron/core/admission"
	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/edgecache"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/storage"
	"github.com/ron-network/ron/io/runtime"
)

// Streaming limits (see "Streaming bodies" in doc.go).
const (
	// StreamChunkBytes is the piece a PUT body is cut into: one storage
	// chunk, so the gateway holds one piece of a body at a time.
	StreamChunkBytes = storage.ChunkBytesDefault
	// StreamWindowMax bounds the chunk reads one GET has in flight; with
	// chunks of at most storage.ChunkBytesMax it bounds a response's
	// buffered bytes to about StreamWindowMax MiB (2 MiB with the default
	// 256 KiB chunks). It applies to objects read in batches
	// (StreamBatchChunksMax), whose window holds only
	// StreamWindowMax/StreamBatchChunksMax storage calls.
	StreamWindowMax = 8
	// StreamCachedWindowMax is the window of an object whose chunks go
	// through the edge cache, read one chunk per storage call: 4 (the
	// window before batches), so that one GET does not queue more chunk
	// reads than io/pebbledisk runs at once (4; storage's GetWindowMax of
	// 8 measured worse for that reason, BENCHMARKS.md).
	StreamCachedWindowMax = 4
	// StreamBatchChunksMax is how many chunks of a streamed GET one
	// storage call reads (storage.GetChunks) when the edge cache does not
	// take the object's chunks: StreamWindowMax/StreamBatchChunksMax
	// batches are in flight, so the next are read while one is written.
	// One call per chunk cost a hand-off to the node's loop and back per
	// 256 KiB. Batches of 4 cut rond's CPU per GiB as much but slowed a
	// one-connection GET by about 9% (a batch waits for its slowest chunk
	// and the window refills a batch at a time); batches of 2 did not
	// (BENCHMARKS.md, "Range GET hand-offs").
	StreamBatchChunksMax = 2
	// StreamShrinkAfter is how many times in a row a response's next job
	// must be found read before its client asked for it (the client, not
	// storage, is the slow side) before a widened window shrinks back to
	// narrowWindow, its read chunks beyond it dropped and their
	// read-ahead given back to the budget (chunkFetcher.shrink), if the
	// budget is pressed (a first chunk waits, or no window could widen).
	// Twice: once may be a client's pause.
	StreamShrinkAfter = 2
	// BufferedReadBytesMax: reads up to this size take one storage call
	// (and may be served or filled by the edge cache); larger ones stream.
	BufferedReadBytesMax = 1 << 20
	// MultipartBytesMax bounds the bytes of a multi-range response, which
	// is assembled in memory; beyond it the Range header is ignored and
	// the whole object is streamed (RFC 9110 lets a server do so).
	MultipartBytesMax = 8 << 20
	// ObjectBytesDefault is Config.ObjectBytesMax when zero.
	ObjectBytesDefault = storage.StreamObjectBytesMax
	// abortTimeout bounds the PutAbort sent after a failed upload.
	abortTimeout = 5 * time.Second
)

// putObject streams the body into a storage upload session chunk by
// chunk, hashing it as it goes: 201 {"addr","size"}. Any failure before
// the commit aborts the session, so nothing becomes visible.
func (g *Gateway) putObject(req *request) *apiError {
	if req.r.ContentLength > g.cfg.ObjectBytesMax {
		// Before a byte is read (and so before net/http sends a client
		// that asked for it "100 Continue"); the connection closes, since
		// the body will not be read.
		g.refuse(req, ShedBodyTooLarge)
		return errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "body of %d bytes exceeds %d", req.r.ContentLength, g.cfg.ObjectBytesMax)
	}
	// The edge's session table bounds uploads per tenant and per node
	// before storage opens one, so a tenant holding slow uploads cannot
	// take every session, and a full table is a counted, typed refusal
	// (and readiness false) rather than storage's untyped 503.
	body := g.sessionBody(req)
	slot, refusal := g.admit.openSession(req.tenant, body.stop)
	if refusal.Refused() {
		g.refuse(req, refusal.Reason)
		return refusalError(refusal)
	}
	defer g.admit.closeSession(slot)
	// Whatever way the handler leaves (a failed PutBegin too), stop's reach
	// ends with it: an expire that took this stop from the table may run
	// it after the handler returned, when the kept-alive connection may be
	// serving the next request (finish is idempotent; the first call wins).
	defer body.finish(false)
	// PutBegin must not be cut short by the client going away: a session
	// storage opened but whose reply nobody read would hold one of
	// storage.SessionsMax slots until SessionTTL. Detached from the
	// request, the reply always arrives and the deferred abort frees it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(req.r.Context()), g.cfg.CallTimeout)
	begun, err := runtime.Call(ctx, g.cfg.Backend, storage.PutBegin{Pin: true})
	cancel()
	if err != nil {
		return mapError(err, true)
	}
	committed := false
	defer func() {
		if !committed {
			g.abortSession(begun.Session)
		}
	}()
	body.slot = slot
	addr, size, e := g.uploadBody(req, begun.Session, body)
	// A stop landing while the last chunk was in flight (the whole body
	// read) sets a past read deadline; net/http's background read then
	// fails and cancels the request's context, so the chunk's call, or
	// the commit's, fails with context.Canceled. The cause is the expired
	// session, whose slot the table may have given away: say so, and
	// commit nothing.
	if body.finish(e == nil) {
		return g.sessionExpired(req)
	}
	if e != nil {
		return e
	}
	if e := g.authorize(req, auth.OpWrite, addr.String(), size); e != nil {
		return e
	}
	audited := !g.cfg.ObjectWriteAuditOff
	stored := audited && g.storedLocally(req, addr) // before the commit: for the audit record only
	committed = true                                // from here the outcome belongs to storage
	res, err := call(g, req, storage.PutCommit{Session: begun.Session, Addr: addr, Size: size})
	if err != nil {
		return retryablePut(mapError(err, true))
	}
	if audited {
		g.auditObjectWrite(req, res.Addr, res.Size, stored)
	}
	req.w.Header().Set("Location", "/o/"+res.Addr.String())
	req.w.Header().Set("ETag", etag(res.Addr))
	writeJSON(req.w, http.StatusCreated, map[string]any{"addr": res.Addr.String(), "size": res.Size})
	return nil
}

// uploadBody sends the body as chunks of session and returns the BLAKE3
// of the whole body and its size. The gateway does not hash the body:
// storage hashes each chunk once as a subtree of the object's BLAKE3
// tree and answers each PutChunk with the address of the object ending
// there, so the last answer is the address. Reading piece k+1 overlaps
// the PutChunk of piece k (see chunkUploader). A body that ends early (the
// client closed, or sent less than its Content-Length) is an error. It
// returns only once no chunk is in flight, so the caller's abort (or
// commit) reaches storage after every chunk.
func (g *Gateway) uploadBody(req *request, session uint64, sb *sessionBody) (proto.Addr, uint64, *apiError) {
	// A token's max_bytes caps the body as it is read, so a body without
	// Content-Length cannot stream past it either.
	limit := g.cfg.ObjectBytesMax
	if req.maxBytes < uint64(limit) {
		limit = int64(req.maxBytes)
	}
	body := http.MaxBytesReader(req.w, sb, limit)
	up := chunkUploader{g: g, req: req, session: session}
	var size uint64
	for {
		piece := make([]byte, StreamChunkBytes) // storage owns each piece
		n, err := fill(body, piece)
		// The table expired the slot (no body byte for SessionTTL) and may
		// have given it away: going on would hold an upload the table no
		// longer counts, past the tenant's and node's limits. Checked
		// before the piece is sent, so nothing more reaches storage.
		if errors.Is(err, errSessionExpired) || n > 0 && !g.admit.touchSession(sb.slot) {
			_ = up.wait()
			return proto.Addr{}, 0, g.sessionExpired(req)
		}
		if n > 0 {
			size += uint64(n)
			if e := up.send(piece[:n]); e != nil {
				return proto.Addr{}, 0, e
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			_ = up.wait() // the read error is the cause; a chunk error would follow from it
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) && limit < g.cfg.ObjectBytesMax {
				g.cfg.Metrics.Add(MetricShed, ShedTokenDenied, 1)
				return proto.Addr{}, 0, denied(auth.ReasonTooLarge)
			}
			if errors.As(err, &tooLarge) {
				g.cfg.Metrics.Add(MetricShed, ShedBodyTooLarge, 1)
				return proto.Addr{}, 0, errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "body exceeds %d bytes", g.cfg.ObjectBytesMax)
			}
			if e := bodyError(req, int64(size), err); e != nil {
				return proto.Addr{}, 0, e
			}
			return proto.Addr{}, 0, errorf(http.StatusBadRequest, CodeBadRequest, "reading body after %d bytes: %v", size, err)
		}
	}
	if e := up.wait(); e != nil {
		return proto.Addr{}, 0, e
	}
	if req.r.ContentLength >= 0 && size != uint64(req.r.ContentLength) {
		return proto.Addr{}, 0, errorf(http.StatusBadRequest, CodeBadRequest, "body of %d bytes, Content-Length %d", size, req.r.ContentLength)
	}
	if size == 0 {
		return proto.AddrOf(nil), 0, nil
	}
	if up.last.Size != size {
		return proto.Addr{}, 0, errorf(http.StatusInternalServerError, CodeInternal, "storage staged %d bytes of a %d-byte body", up.last.Size, size)
	}
	return up.last.Addr, size, nil
}

// sessionBody is an upload's body as uploadBody reads it, tied to the
// upload's slot in the edge's session table. A read that brings bytes
// touches the slot (at most once per sessionTouchEvery of the gateway's
// clock), so the slot's idle time is the body's, whatever the chunk size:
// a body that sends a byte now and then keeps its slot as long as
// BodyLimits let it live, instead of needing a whole StreamChunkBytes
// chunk per SessionTTL (a hidden 4.4 KiB/s minimum with the defaults).
// stop, run by the edge when the table expires the slot, fails the read
// in progress and every later one with errSessionExpired at once, so a
// stalled client does not keep storage's session and a write slot until
// its next byte.
type sessionBody struct {
	g       *Gateway
	body    io.ReadCloser
	rate    *rateBody // interrupts a read blocked on the connection; nil when the body has none
	slot    admission.SessionID
	touched time.Time // when Read last touched the slot
	stopped atomic.Bool
	// mu orders stop against finish: once the body is read (or given
	// up), a late stop must not set a read deadline on a connection
	// that may go on to serve another request.
	mu       sync.Mutex
	finished bool
}

// errSessionExpired is the read error of a body whose slot the edge's
// session table expired.
var errSessionExpired = errors.New("gateway: upload session expired")

// sessionTouchEvery bounds how often a body's reads touch its slot: often
// enough against any SessionTTL of a second or more, rarely enough that
// the edge's mutex does not see every read.
func sessionTouchEvery(ttl time.Duration) time.Duration { return min(time.Second, ttl/4) }

// sessionBody wraps req's body; the caller sets slot once the session is
// open.
func (g *Gateway) sessionBody(req *request) *sessionBody {
	b := &sessionBody{g: g, body: req.r.Body, touched: g.cfg.Clock()}
	b.rate, _ = req.r.Body.(*rateBody)
	return b
}

func (b *sessionBody) Read(p []byte) (int, error) {
	if b.stopped.Load() {
		return 0, errSessionExpired
	}
	n, err := b.body.Read(p)
	if b.stopped.Load() || errors.Is(err, errBodyInterrupted) {
		return 0, errSessionExpired // the bytes would reach storage after the slot is gone
	}
	if now := b.g.cfg.Clock(); n > 0 && now.Sub(b.touched) >= sessionTouchEvery(b.g.admit.sessions.Config().SessionTTL) {
		b.touched = now
		if !b.g.admit.touchSession(b.slot) {
			b.stopped.Store(true)
			return 0, errSessionExpired
		}
	}
	return n, err
}

func (b *sessionBody) Close() error { return b.body.Close() }

// stop is the edge's stop func for the upload: see sessionBody.
func (b *sessionBody) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	b.stopped.Store(true)
	if b.rate != nil {
		b.rate.interrupt()
	}
}

// finish ends stop's reach: uploadBody is done with the body. If the
// whole body was read (ok) while a stop raced in, the past read deadline
// that stop set is cleared, so the connection can serve its next request;
// a body given up is answered with Connection: close instead. It reports
// whether a stop came first. Only the first call acts: putObject defers
// finish(false) for its early returns after calling finish(ok) itself.
func (b *sessionBody) finish(ok bool) (stopped bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return b.stopped.Load()
	}
	b.finished = true
	if ok && b.stopped.Load() && b.rate != nil {
		_ = b.rate.rc.SetReadDeadline(time.Time{})
	}
	return b.stopped.Load()
}

// sessionExpired answers an upload stopped because its slot expired:
// 503 session_expired (counted once, by serveRoute), Connection: close
// since the rest of the body is not wanted.
func (g *Gateway) sessionExpired(req *request) *apiError {
	e := refusalError(admission.SessionExpired(g.admit.sessions.Config().SessionTTL))
	e.shed = ShedSessionExpired
	req.w.Header().Set("Connection", "close")
	return e
}

// chunkUploader sends an upload's chunks with one PutChunk in flight while
// the handler reads the next piece, so the body and the node's hashing
// and chunk write proceed together instead of in turn.
//
// At most one chunk is in flight because a session appends chunks in the
// order their requests reach the node, and two concurrent calls may reach
// it in either order; send therefore waits for the previous chunk's reply
// before it starts the next. The gateway holds at most two pieces of a
// body: the one in flight and the one being read.
type chunkUploader struct {
	g        *Gateway
	req      *request
	session  uint64
	inflight chan chunkSent // outcome of the chunk in flight; nil when none
	last     storage.PutChunkResult
}

type chunkSent struct {
	res storage.PutChunkResult
	err *apiError
}

// send waits for the chunk in flight and, if it succeeded, starts sending
// data (which storage then owns).
func (u *chunkUploader) send(data []byte) *apiError {
	if e := u.wait(); e != nil {
		return e
	}
	done := make(chan chunkSent, 1)
	go func() {
		res, e := u.g.putChunk(u.req, u.session, data)
		done <- chunkSent{res: res, err: e}
	}()
	u.inflight = done
	return nil
}

// wait returns the outcome of the chunk in flight, nil when there is none.
func (u *chunkUploader) wait() *apiError {
	if u.inflight == nil {
		return nil
	}
	sent := <-u.inflight
	u.inflight = nil
	if sent.err == nil {
		u.last = sent.res
	}
	return sent.err
}

// fill reads until b is full (nil error), or the body ended (io.EOF, with
// n possibly > 0), or failed. Unlike io.ReadFull it keeps a truncated
// body's io.ErrUnexpectedEOF apart from a short last piece.
func fill(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (g *Gateway) putChunk(req *request, session uint64, data []byte) (storage.PutChunkResult, *apiError) {
	res, err := call(g, req, storage.PutChunk{Session: session, Data: data})
	if err != nil {
		return res, mapError(err, true)
	}
	return res, nil
}

// abortSession drops a failed upload's staged chunks. It runs after the
// request may have been cancelled, hence its own context; if it fails the
// session expires after storage's SessionTTL anyway.
func (g *Gateway) abortSession(session uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), abortTimeout)
	defer cancel()
	_, _ = runtime.Call(ctx, g.cfg.Backend, storage.PutAbort{Session: session})
}

// writeObject answers with bytes [start, start+length) of addr (size
// bytes in all) under status. Small reads, and objects the edge cache
// holds, take one storage call; the others stream chunk by chunk.
//
// A body of more than BufferedReadBytesMax holds a streamed-response
// slot (bodySlot) until written, buffered or streamed alike.
func (g *Gateway) writeObject(req *request, addr proto.Addr, status int, start, length, size uint64) *apiError {
	if held, e := g.bodySlot(req, length); e != nil {
		return e
	} else if held {
		defer g.streams.release()
	}
	if length <= BufferedReadBytesMax || g.edge.fits(size) {
		readLength := length
		if start == 0 && length == size {
			readLength = 0 // a whole read: verified against the address, cacheable
		}
		if length == 0 {
			writeBody(req, status, nil)
			return nil
		}
		if readLength > 0 {
			parts, lent, e := g.readParts(req, addr, start, readLength)
			if e != nil {
				return e
			}
			writeBody(req, status, parts...)
			for _, b := range lent { // written out: the buffers are free
				release(b)
			}
			return nil
		}
		data, _, e := g.read(req, addr, start, readLength)
		if e != nil {
			return e
		}
		writeBody(req, status, data)
		return nil
	}
	man, e := g.manifest(req, addr)
	if e != nil {
		return e
	}
	if man.Size != size || start+length > size {
		return errorf(http.StatusBadGateway, CodeInternal, "manifest of %s says %d bytes, expected %d", addr.Short(), man.Size, size)
	}
	return g.streamChunks(req, addr, &man, status, start, length)
}

// manifest asks storage for the manifest of addr.
func (g *Gateway) manifest(req *request, addr proto.Addr) (storage.Manifest, *apiError) {
	res, err := call(g, req, storage.GetManifest{Addr: addr})
	if err != nil {
		return storage.Manifest{}, mapError(err, false)
	}
	return res.Manifest, nil
}

// piece is the part [from, to) of one chunk that a response needs.
type piece struct {
	chunk    storage.ChunkRef
	offset   uint64 // of the chunk in the object: its key is bound to it
	index    uint32 // in the manifest: the edge cache key
	from, to uint32
}

// planPieces lists the chunks covering [start, start+length) of man, in
// order, with the part of each that the range needs: only those chunks
// are fetched.
func planPieces(man *storage.Manifest, start, length uint64) []piece {
	var out []piece
	end := start + length
	var off uint64
	for i, c := range man.Chunks {
		next := off + uint64(c.Size)
		if next > start && off < end {
			out = append(out, piece{chunk: c, offset: off, index: uint32(i), from: uint32(max(start, off) - off), to: uint32(min(end, next) - off)})
		}
		if next >= end {
			break
		}
		off = next
	}
	return out
}

// fetched is one chunk read's outcome. buf, when set, is the pooled
// buffer lent to the read (storage.GetChunk.Into), which data may share:
// the writer returns it to chunkBufs once data is written out.
type fetched struct {
	data []byte
	buf  *[]byte
	err  *apiError
}

// chunkBufs recycles the buffers streamed GETs read chunks into, so a
// chunk read costs no allocation (and no clearing of 256 KiB) per chunk.
// A buffer goes back only after a read that replied without error (the
// disk is done with it) and after the bytes were written to the client;
// a failed or abandoned read leaves its buffer to the collector.
var chunkBufs = sync.Pool{New: func() any {
	b := make([]byte, StreamChunkBytes)
	return &b
}}

// chunkFetcher reads a response's pieces in order with at most windowMax
// chunk reads in flight; close cancels the rest. cached
// says whether the object's chunks go through the edge cache: only for
// objects it admits (edgecache's AdmitsChunksOf), so that streaming a
// large object does not evict the hot entries. A cached object's chunks
// are read one per call (each is a cache entry); any other object's in
// batches of StreamBatchChunksMax consecutive chunks, one storage call
// each (storage.GetChunks).
//
// The reads run on at most windowMax goroutines per response
// (started with the first reads, ended by close), not one per chunk: a
// goroutine per chunk cost its creation, its stack's growth and its exit
// on every 256 KiB of a large GET.
type chunkFetcher struct {
	g       *Gateway
	ctx     context.Context
	cancel  context.CancelFunc
	addr    proto.Addr
	cached  bool
	pieces  []piece
	started int
	window  []windowPiece
	jobs    chan fetchJob // to the fetching goroutines; nil until the first read
	// wide says the window may widen past narrowWindow: the last time
	// next found a job's first piece at the window's head, it was still
	// being read, so storage, not the client, held the response back.
	// It starts false: a client that reads slowly (or not at all) would
	// otherwise pin a full window of read chunks until it read them.
	wide bool
	// slowHeads counts the times in a row next found a job's first piece
	// at the window's head already read: the client, not storage, is the
	// slow side. At StreamShrinkAfter, next shrinks a widened window
	// (shrink).
	slowHeads int
	dropped   int // pieces shrink dropped, to read again (tests)
	// readAhead is the response's share of the gateway's read-ahead
	// budget (readahead.go): every piece in the window, and the one
	// next returned until written, is reserved there.
	readAhead streamReadAhead
}

// fetchJob is a run of consecutive pieces to read and where each one's
// outcome goes (outs[i] for pieces[i]); bytes is their read-ahead.
type fetchJob struct {
	pieces []piece
	outs   []chan<- fetched
	bytes  int64
}

// windowPiece is a piece in the window: where its read's outcome comes,
// and whether it is its job's first piece (a job's pieces come together,
// so only the first tells whether the read was done before it was due).
type windowPiece struct {
	out   chan fetched
	first bool
}

func (g *Gateway) newChunkFetcher(req *request, addr proto.Addr, objectBytes uint64, pieces []piece) *chunkFetcher {
	ctx, cancel := context.WithCancel(req.r.Context())
	return &chunkFetcher{g: g, ctx: ctx, cancel: cancel, addr: addr, cached: g.edge.admitsChunksOf(objectBytes), pieces: pieces}
}

// open reserves the response's first chunk in the read-ahead budget
// (its largest chunk, which it keeps until close), waiting up to
// g.readAheadWait: it comes before the headers, so a response the budget
// has no room for is a clean 503, and one over its source's share
// (readAheadSourceBytesMax) a clean 429.
func (f *chunkFetcher) open(req *request) *apiError {
	var floor int64
	for _, p := range f.pieces {
		floor = max(floor, int64(p.chunk.Size))
	}
	return f.readAhead.open(req.r.Context(), f.g.readAhead, requestSource(req.r), floor, f.g.readAheadWait)
}

// close cancels the jobs not yet sent to storage, ends the fetching
// goroutines once they have answered the jobs already handed to them, and
// gives the response's read-ahead back to the budget, but for the bytes
// of storage calls still running: storage fills the buffers lent to them
// until it answers (a call does not stop when its caller gives up), so
// those calls keep their read slot and their bytes until then (see the
// fetching goroutines in start).
func (f *chunkFetcher) close() {
	f.cancel()
	if f.jobs != nil {
		close(f.jobs)
	}
	f.readAhead.close()
}

// written counts out the read-ahead of piece i, whose bytes next
// returned and the response wrote; next's trim gives it back.
func (f *chunkFetcher) written(i int) {
	f.readAhead.done(int64(f.pieces[i].chunk.Size))
}

// reserveJob reserves the read-ahead of the next job, of up to n pieces,
// without waiting: n pieces, else one (a smaller batch beats no read),
// else none. It returns the pieces reserved and their bytes. A response
// with an empty window always gets one: the floor it holds covers any of
// its chunks.
func (f *chunkFetcher) reserveJob(n int) (int, int64) {
	for k := n; k >= 1; k = min(k-1, 1) {
		var bytes int64
		for _, p := range f.pieces[f.started : f.started+k] {
			bytes += int64(p.chunk.Size)
		}
		if f.readAhead.grow(bytes) {
			return k, bytes
		}
	}
	if len(f.window) == 0 {
		panic(fmt.Sprintf("gateway: a stream with an empty window could not reserve a chunk (floor %d, held %d, used %d)",
			f.readAhead.floor, f.readAhead.held, f.readAhead.used))
	}
	return 0, 0
}

// batchMax is the pieces one job reads: one for a cached object, else
// StreamBatchChunksMax.
func (f *chunkFetcher) batchMax() int {
	if f.cached {
		return 1
	}
	return StreamBatchChunksMax
}

// windowMax is the chunk reads in flight: StreamCachedWindowMax for a
// cached object (one chunk per call), else StreamWindowMax.
func (f *chunkFetcher) windowMax() int {
	if f.cached {
		return StreamCachedWindowMax
	}
	return StreamWindowMax
}

// narrowWindow is the window of a response whose client, not storage,
// is the bottleneck: one job beyond the chunk being read, so that a job
// starts while another is read and next can tell whether storage keeps
// up (a job's first piece reaching the head unread).
func (f *chunkFetcher) narrowWindow() int {
	return f.batchMax() + 1
}

// start hands a job to a fetching goroutine, starting them on the first
// call: as many as jobs fit in the window. At most windowMax reads are in
// flight (next's window), so the send never blocks and a goroutine is
// free for each job.
func (f *chunkFetcher) start(j fetchJob) {
	if f.jobs == nil {
		f.jobs = make(chan fetchJob, f.windowMax())
		b := f.batchMax()
		for range min(f.windowMax()/b, (len(f.pieces)+b-1)/b) { // jobs in the window, jobs in all
			go func() {
				var outcomes [StreamBatchChunksMax]fetched
				for j := range f.jobs {
					res := outcomes[:len(j.pieces)]
					switch {
					case f.ctx.Err() != nil: // the response ended: not sent
						for k := range res {
							res[k] = fetched{err: unavailable(f.ctx.Err())}
						}
					case f.cached:
						res[0] = f.fetch(j.pieces[0])
					default:
						f.fetchBatch(j, res)
					}
					// Storage is done with j's buffers: its bytes stop being
					// lent before next can count them written.
					f.readAhead.returned(j.bytes)
					f.g.streamReads.release() // taken by next for j
					for k, out := range j.outs {
						out <- res[k]
						res[k] = fetched{} // the goroutine keeps no buffer
					}
				}
			}()
		}
	}
	f.jobs <- j
}

// next returns the bytes of the next piece, waiting for its read and
// starting the following ones, and the pooled buffer they may share (nil
// if none), for release once they are written. A job starts only when the
// window has room for all of it, so batches keep their size.
//
// Every job holds one of the gateway's streamed-read slots
// (g.streamReads, backpressure.go) from here until its storage call
// answers: a response with no read in flight waits for one (in arrival
// order, before any response that widens its window), one with reads in
// flight starts another only if a slot is free. So the streams together
// never ask storage for more than StreamReadsMax reads, each keeps at
// least one in flight, and a lone stream has its whole window.
//
// A job's bytes are reserved in the read-ahead budget (reserveJob)
// before its slot, and stay reserved until the caller reports each
// piece written: when the budget is spent the window shrinks, down to
// the one chunk every open response can always read. The window widens
// past narrowWindow only while storage is what the client waits for
// (f.wide): a slow client's response keeps a narrow window, so slow
// clients do not take the room other streams widen into.
//
// It returns an error as soon as the request ends (the client left),
// without waiting for the read in flight.
func (f *chunkFetcher) next() ([]byte, *[]byte, *apiError) {
	if len(f.window) > 0 && f.window[0].first {
		f.wide = len(f.window[0].out) == 0 // not read yet: storage is behind
		if f.wide {
			f.slowHeads = 0
		} else if f.slowHeads++; f.slowHeads >= StreamShrinkAfter && len(f.window) > f.narrowWindow() && f.g.readAhead.pressed() {
			f.shrink()
		}
	}
	limit := f.windowMax()
	if !f.wide {
		limit = f.narrowWindow()
	}
	for f.started < len(f.pieces) {
		n := min(f.batchMax(), len(f.pieces)-f.started)
		if len(f.window)+n > limit {
			break
		}
		n, bytes := f.reserveJob(n)
		if n == 0 {
			break
		}
		if len(f.window) > 0 && !f.g.streamReads.tryAcquire() {
			f.readAhead.done(bytes)
			break
		}
		if len(f.window) == 0 {
			if err := f.g.streamReads.acquire(f.ctx); err != nil {
				f.readAhead.done(bytes)
				return nil, nil, unavailable(fmt.Errorf("waiting for a read slot: %w", err))
			}
		}
		j := fetchJob{pieces: f.pieces[f.started : f.started+n], outs: make([]chan<- fetched, n), bytes: bytes}
		for k := range n {
			ch := make(chan fetched, 1)
			j.outs[k] = ch
			f.window = append(f.window, windowPiece{out: ch, first: k == 0})
		}
		f.readAhead.lend(bytes)
		f.start(j)
		f.started += n
	}
	f.readAhead.trim()
	if len(f.window) == 0 {
		return nil, nil, nil
	}
	var res fetched
	select {
	case res = <-f.window[0].out:
	case <-f.ctx.Done():
		return nil, nil, unavailable(fmt.Errorf("request ended: %w", f.ctx.Err()))
	}
	f.window = f.window[1:]
	p := f.pieces[f.started-len(f.window)-1]
	if res.err != nil {
		return nil, nil, res.err
	}
	return res.data[p.from:p.to], res.buf, nil
}

// shrink narrows a window widened while storage was the slow side, now
// that the client is (StreamShrinkAfter) and a first chunk waits for the
// bytes (the budget is pressed; without a waiter, dropping read chunks
// would only cost reading them again): it drops the pieces at the
// window's tail beyond narrowWindow whose reads are done, recycling their
// buffers and counting their read-ahead out (next's trim gives it back to
// the budget), and moves started back so that they are read again when
// the window reaches them. Without it a client that read fast and then
// crawled kept its whole widened window until it read it, bytes other
// streams could not have. A piece still being read ends the shrink: its
// bytes are lent to storage until its call answers; a later call of next
// drops it.
func (f *chunkFetcher) shrink() {
	for len(f.window) > f.narrowWindow() {
		var res fetched
		select {
		case res = <-f.window[len(f.window)-1].out:
		default:
			return // still being read
		}
		release(res.buf)
		f.window = f.window[:len(f.window)-1]
		f.started--
		f.readAhead.done(int64(f.pieces[f.started].chunk.Size))
		f.dropped++
		f.g.cfg.Metrics.Add(MetricReadAheadDropped, "", 1)
	}
}

// release returns a buffer from next to the pool: its bytes were
// written, and the read that filled it is done.
func release(buf *[]byte) {
	if buf != nil {
		chunkBufs.Put(buf)
	}
}

// fetch reads one chunk from the edge cache, else from storage (which
// verified it against its address) and then caches it; chunks of an
// object the cache does not admit bypass it.
func (f *chunkFetcher) fetch(p piece) fetched {
	c, key := p.chunk, edgecache.ChunkKey(f.addr, p.index)
	var generation uint64
	if f.cached {
		cached, hit, gen := f.g.edge.get(key)
		if hit && uint32(len(cached)) == c.Size {
			return fetched{data: cached}
		}
		generation = gen
	}
	// A chunk the edge cache keeps must not share a recycled buffer.
	var buf *[]byte
	var into []byte
	if !f.cached && c.Size <= StreamChunkBytes {
		buf = chunkBufs.Get().(*[]byte)
		into = *buf
	}
	res, err := callRetrying(f.ctx, f.g, storage.GetChunk{Addr: f.addr, Chunk: c, Offset: p.offset, Into: into}, func() node.Call[storage.GetResult] {
		buf = nil // a refused read may still fill it: read into a fresh slice
		return storage.GetChunk{Addr: f.addr, Chunk: c, Offset: p.offset}
	})
	switch {
	case err != nil:
		// The read may still fill buf: it is not recycled.
		return fetched{err: mapError(err, false)}
	case uint32(len(res.Data)) != c.Size:
		return fetched{err: errorf(http.StatusBadGateway, CodeInternal, "chunk %s: %d bytes, want %d", c.Addr.Short(), len(res.Data), c.Size)}
	}
	if f.cached {
		f.g.edge.put(key, res.Data, generation)
	}
	return fetched{data: res.Data, buf: buf}
}

// fetchBatch reads a job's consecutive chunks in one storage call
// (storage.GetChunks: each verified against its key at its offset, as
// GetChunk does) into pooled buffers, and sets each piece's chunk in out
// (one per piece). On an error every piece of the job gets it and no
// buffer is recycled (a read may still fill one).
func (f *chunkFetcher) fetchBatch(j fetchJob, out []fetched) {
	chunks := make([]storage.ChunkRef, len(j.pieces))
	into := make([][]byte, len(j.pieces))
	bufs := make([]*[]byte, len(j.pieces))
	for k, p := range j.pieces {
		chunks[k] = p.chunk
		if p.chunk.Size <= StreamChunkBytes {
			bufs[k] = chunkBufs.Get().(*[]byte)
			into[k] = *bufs[k]
		}
	}
	res, err := callRetrying(f.ctx, f.g, storage.GetChunks{Addr: f.addr, Chunks: chunks, Offset: j.pieces[0].offset, Into: into}, func() node.Call[storage.GetResult] {
		clear(bufs) // a refused read may still fill them: read into fresh slices
		return storage.GetChunks{Addr: f.addr, Chunks: chunks, Offset: j.pieces[0].offset}
	})
	parts := res.Parts
	if err == nil && parts == nil && len(chunks) == 1 {
		parts = [][]byte{res.Data}
	}
	var e *apiError
	switch {
	case err != nil:
		e = mapError(err, false)
	case len(parts) != len(chunks):
		e = errorf(http.StatusBadGateway, CodeInternal, "%d chunks read, want %d", len(parts), len(chunks))
	}
	for k, c := range chunks {
		if e == nil && uint32(len(parts[k])) != c.Size {
			e = errorf(http.StatusBadGateway, CodeInternal, "chunk %s: %d bytes, want %d", c.Addr.Short(), len(parts[k]), c.Size)
		}
	}
	for k := range out {
		if e != nil {
			out[k] = fetched{err: e}
			continue
		}
		out[k] = fetched{data: parts[k], buf: bufs[k]}
	}
}

// streamChunks writes the range chunk by chunk. Storage verified the
// manifest against addr (its chunk keys merge to the BLAKE3 root) and
// each chunk against its key at its offset, so every byte written is
// verified against the address itself and nothing is hashed again here,
// a whole read included. An error before the first byte is an ordinary
// error response; after it, the connection is aborted (the client sees a
// truncated body, never wrong bytes). Its caller, writeObject, holds the
// streamed-response slot (bodySlot).
func (g *Gateway) streamChunks(req *request, addr proto.Addr, man *storage.Manifest, status int, start, length uint64) *apiError {
	pieces := planPieces(man, start, length)
	f := g.newChunkFetcher(req, addr, man.Size, pieces)
	defer f.close() // on every path, an abort's panic included
	if e := f.open(req); e != nil {
		return e
	}
	data, buf, e := f.next()
	if e != nil {
		return e
	}
	req.w.Header().Set("Content-Type", "application/octet-stream")
	req.w.Header().Set("Content-Length", strconv.FormatUint(length, 10))
	req.w.WriteHeader(status)
	for i := range pieces {
		_, err := req.w.Write(data)
		// Write returned: the bytes are in the socket or copied into the
		// connection's buffer, so the chunk buffer can serve another read
		// and its bytes leave the read-ahead budget.
		release(buf)
		f.written(i)
		if err != nil {
			return nil // the client went away
		}
		if i == len(pieces)-1 {
			break
		}
		if data, buf, e = f.next(); e != nil {
			if req.r.Context().Err() != nil {
				return nil // the client went away: nothing to abort
			}
			g.abortResponse(req, fmt.Errorf("reading %s: %s", addr.Short(), e.message))
		}
	}
	return nil
}

// abortResponse ends a response whose headers are sent: net/http closes
// the connection without completing the body.
func (g *Gateway) abortResponse(req *request, err error) {
	g.log.Warn("gateway: aborting a streamed response", "corr_id", req.corrID, "err", err)
	panic(http.ErrAbortHandler)
}

// getWhole serves a plain GET. One call reads an object of at most
// wholeReadBytesMax bytes (or the edge cache has it); storage refuses a
// larger one with its size, and that one is streamed.
func (g *Gateway) getWhole(req *request, addr proto.Addr) *apiError {
	data, _, hit, generation := g.readCached(req, addr, 0, 0)
	if hit {
		if held, e := g.bodySlot(req, uint64(len(data))); e != nil {
			return e
		} else if held {
			defer g.streams.release()
		}
		writeBody(req, http.StatusOK, data)
		return nil
	}
	res, err := call(g, req, storage.Get{Addr: addr, SizeMax: g.wholeReadBytesMax()})
	if errors.Is(err, storage.ErrTooLarge) && res.Size > 0 {
		return g.writeObject(req, addr, http.StatusOK, 0, res.Size, res.Size)
	}
	if err != nil {
		return mapError(err, false)
	}
	g.fillCached(addr, 0, 0, res, generation)
	if held, e := g.bodySlot(req, uint64(len(res.Data))); e != nil {
		return e
	} else if held {
		defer g.streams.release()
	}
	writeBody(req, http.StatusOK, res.Data)
	return nil
}

// wholeReadBytesMax is the largest object read in one call: what the edge
// cache could keep, at least BufferedReadBytesMax.
func (g *Gateway) wholeReadBytesMax() uint64 {
	if g.edge.enabled() {
		return max(BufferedReadBytesMax, edgecache.EntryBytesMax)
	}
	return BufferedReadBytesMax
}
