package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Connection and body limits of the HTTP server (see "Hostile input" in
// doc.go). A limit bounds what one attacker connection can hold; none of
// them bounds the total time of a request, so a large upload at a normal
// rate is never cut off.
const (
	// ReadHeaderTimeoutDefault bounds the request line and headers.
	ReadHeaderTimeoutDefault = 10 * time.Second
	// IdleTimeoutDefault closes a keep-alive connection with no request.
	IdleTimeoutDefault = 2 * time.Minute
	// HeaderBytesMax bounds the request line and headers (net/http adds
	// 4 KiB of slack); a token is at most 4 KiB, so this leaves room.
	HeaderBytesMax = 16 << 10
	// BodyIdleTimeoutDefault: a body that sends no byte for this long is
	// cut off, whatever its average rate.
	BodyIdleTimeoutDefault = 20 * time.Second
	// BodyRateMinDefault is the minimum average rate of a request body in
	// bytes per second once BodyRateGraceDefault has passed: a slow-loris
	// body holding a slot at 1 byte/s is cut off within seconds, while a
	// 1 GiB upload needs only to average 16 KiB/s (18 hours).
	BodyRateMinDefault = 16 << 10
	// BodyRateGraceDefault is the time a body gets before its rate counts.
	BodyRateGraceDefault = 10 * time.Second
	// MessageBytesMax bounds an envelope's message, so bad input quoted in
	// it (a name, a range header, a token) echoes only a bounded prefix.
	MessageBytesMax = 256
	// ShedSlowBody counts bodies cut off by BodyLimits.
	ShedSlowBody = "slow_body"
)

// BodyLimits bound how slowly a request body may arrive. Zero fields take
// the defaults above.
type BodyLimits struct {
	IdleTimeout time.Duration
	RateMin     int64 // bytes per second
	RateGrace   time.Duration
}

func (l BodyLimits) withDefaults() BodyLimits {
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = BodyIdleTimeoutDefault
	}
	if l.RateMin <= 0 {
		l.RateMin = BodyRateMinDefault
	}
	if l.RateGrace <= 0 {
		l.RateGrace = BodyRateGraceDefault
	}
	return l
}

// MemoryBytesMaxDefault is rond's --memory-max for a micronode, whose
// objects live in its heap.
const MemoryBytesMaxDefault = 1 << 30

// refuseOverBudget answers 507 when a write's body cannot fit the memory
// budget (memBudget) now: a declared body bigger than what is left, or
// any body with nothing left. It reserves nothing: it runs before the
// token check and admission, and a request waiting there, or refused
// there, must not hold memory every other tenant's writes then lack
// (reserveBody takes the reservation once the request is admitted).
func (g *Gateway) refuseOverBudget(req *request) *apiError {
	if g.budget == nil {
		return nil
	}
	n := max(req.r.ContentLength, 0)
	ok, left := g.budget.fits(max(n, 1)) // a body without a length (or an empty one) needs some room
	if ok {
		return nil
	}
	return g.overBudget(req, n, left)
}

// reserveBody reserves an admitted write's declared body against the
// memory budget, before a byte of it is read, or answers 507 when it
// does not fit; a body without a length reserves as it is read
// (rateBody.Read).
func (g *Gateway) reserveBody(req *request) *apiError {
	if g.budget == nil {
		return nil
	}
	rb, _ := req.r.Body.(*rateBody)
	n := req.r.ContentLength
	if n <= 0 || rb == nil || rb.res == nil {
		return nil
	}
	got, left := g.budget.take(n, false)
	if got == n {
		rb.res.reserved += n
		return nil
	}
	return g.overBudget(req, n, left)
}

// overBudget is the 507 of a body of n bytes with left bytes left.
func (g *Gateway) overBudget(req *request, n, left int64) *apiError {
	g.refuse(req, ShedMemoryBudget)
	return insufficientStorage(fmt.Sprintf("memory budget: a body of %d bytes does not fit the %d bytes left of --memory-max %d",
		n, left, g.cfg.MemoryBytesMax))
}

// bodyError answers a body read that failed after size bytes: a body too
// slow (BodyLimits) is 408, retryable; one without a length that reached
// the end of the memory budget is 507, retryable (as a declared one
// refused up front); nil for anything else (the caller's 400).
func bodyError(req *request, size int64, err error) *apiError {
	var be *budgetError
	switch {
	case errors.As(err, &be):
		// No Connection: close here: bodyGuard.settle drains the rest
		// and has net/http close after a delay (a chunked body), so a
		// client still sending reads the refusal instead of a reset.
		e := insufficientStorage(fmt.Sprintf("memory budget: a body without a length ran out of --memory-max %d after %d bytes",
			be.max, be.read))
		e.shed = ShedMemoryBudget
		return e
	case errors.Is(err, ErrBodyTooSlow):
		return &apiError{status: http.StatusRequestTimeout, code: CodeRequestTimeout, retryable: true,
			message: fmt.Sprintf("reading body after %d bytes: %v", size, err)}
	}
	return nil
}

// Shed reasons of writes refused for lack of room: Config.MemoryBytesMax,
// and a full disk.
const (
	ShedMemoryBudget = "memory_budget"
	ShedDiskFull     = "disk_full"
)

// liveHeapBytes is the heap the last GC found live.
func liveHeapBytes() uint64 {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return sample[0].Value.Uint64()
}

// ErrBodyTooSlow is the read error of a body that broke BodyLimits.
var ErrBodyTooSlow = errors.New("gateway: request body too slow")

// NewServer returns an http.Server for handler with the header timeout,
// header size cap and idle timeout set; errorLog receives net/http's own
// complaints (nil: discarded). Serve it on EnvelopeListener so that
// net/http's protocol errors are envelopes too: its ConnState and
// ConnContext hooks tell the envelope connections when net/http may write
// one, so a caller that sets its own must call these (ConnState and
// ConnContext of the returned server) from them. It sets no ReadTimeout or
// WriteTimeout: those bound a whole request and would cut off a large
// upload or download; the gateway bounds bodies by rate instead, and
// responses by write progress (Gateway.Listener's ConnLimits). Its
// ConnState tells Gateway.Listener which connections are idle.
func NewServer(handler http.Handler, errorLog *log.Logger) *http.Server {
	if errorLog == nil {
		errorLog = log.New(io.Discard, "", 0)
	}
	return &http.Server{Handler: handler, ReadHeaderTimeout: ReadHeaderTimeoutDefault, IdleTimeout: IdleTimeoutDefault,
		MaxHeaderBytes: HeaderBytesMax, ErrorLog: errorLog, ConnContext: withConn, ConnState: connState}
}

// connState is http.Server.ConnState: an envelope connection that went
// idle between two requests may next carry one of net/http's own error
// responses (its next request may be malformed); a hijacked or closed one
// never does.
func connState(c net.Conn, state http.ConnState) {
	ec, ok := c.(*envelopeConn)
	if !ok {
		return // TLS: net/http's errors are inside the TLS records
	}
	if tc, ok := ec.Conn.(*trackedConn); ok {
		tc.table.setState(tc, state) // idle connections may be evicted
	}
	switch state {
	case http.StateNew:
		ec.between.Store(true)
	case http.StateIdle:
		// Only after an HTTP/1 response a handler of the gateway began
		// (responding): net/http's HTTP/2 server also reports an idle
		// connection, when its last stream closes, while the tail of
		// that stream's last frame may still be in its write buffer,
		// so the next write may be body bytes.
		if ec.responded.Swap(false) {
			ec.between.Store(true)
		}
	case http.StateHijacked, http.StateClosed:
		ec.between.Store(false)
	}
	// StateActive comes after a request was read, also a malformed one,
	// whose error response follows: it changes nothing.
}

// responding tells r's envelope connection that a handler's response to
// r is under way: none of the connection's writes is then net/http's own
// error until the connection is idle again (connState). The gateway's
// handlers (ServeHTTP, WithStatus, FlagGuard) call it first.
func responding(r *http.Request) {
	if c := connOf(r); c != nil {
		c.between.Store(false)
		c.responded.Store(true)
	}
}

// connKey is the context key of the connection a request arrived on.
type connKey struct{}

// withConn is http.Server.ConnContext: it puts an envelope connection in
// its requests' context, so a handler can send a small response in one
// write (see envelopeConn.cork).
func withConn(ctx context.Context, c net.Conn) context.Context {
	if ec, ok := c.(*envelopeConn); ok {
		return context.WithValue(ctx, connKey{}, ec)
	}
	return ctx
}

// connOf is the envelope connection r arrived on, or nil (another
// server, TLS, HTTP/2, a test recorder). An HTTP/2 request (unencrypted
// HTTP/2 served on an envelope listener) gets nil: its connection carries
// frames written by the HTTP/2 server, not this request's bytes alone.
func connOf(r *http.Request) *envelopeConn {
	if r.ProtoMajor != 1 {
		return nil
	}
	c, _ := r.Context().Value(connKey{}).(*envelopeConn)
	return c
}

// preflight answers what must not reach the mux: CONNECT (405), paths
// the mux would clean and redirect ("/o/../etc/passwd" -> 307 /etc/passwd;
// dot segments, doubled slashes), which get a 400 instead, and a
// singleton header sent twice (400, duplicateHeader). It returns
// false when it answered.
func (g *Gateway) preflight(w http.ResponseWriter, r *http.Request) bool {
	var e *apiError
	switch {
	case r.Method == http.MethodConnect:
		e = errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "CONNECT is not served")
	case r.URL.Path == "" || r.URL.Path[0] != '/':
		e = errorf(http.StatusBadRequest, CodeBadRequest, "request target must be an absolute path")
	case cleanPath(r.URL.Path) != r.URL.Path:
		e = errorf(http.StatusBadRequest, CodeBadRequest, "path %q has dot segments or empty segments", r.URL.Path)
	default:
		e = duplicateHeader(r.Header)
	}
	if e == nil {
		return true
	}
	id := corrID(r)
	w.Header().Set("X-Request-Id", id)
	writeError(w, id, e)
	g.cfg.Metrics.Add(MetricRequests, strconv.Itoa(e.status), 1)
	return false
}

// singletonHeaders are the request headers the gateway reads that RFC
// 9110 allows only once (not lists: a second field line cannot be
// combined with the first). The gateway would read the first; a proxy in
// front of it may read the last, so the two would judge different
// requests (a valid token then garbage, or two ranges): such a request
// is refused. If-Match and If-None-Match are lists and stay allowed.
var singletonHeaders = []string{"Authorization", "Range", "If-Range"}

// duplicateHeader refuses (400) a request carrying a singleton header
// more than once.
func duplicateHeader(h http.Header) *apiError {
	for _, name := range singletonHeaders {
		if n := len(h[name]); n > 1 {
			return errorf(http.StatusBadRequest, CodeBadRequest, "header %s appears %d times; send it once", name, n)
		}
	}
	return nil
}

// cleanPath is the path ServeMux would serve p under (it redirects when
// the two differ).
func cleanPath(p string) string {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// limitBody replaces r.Body with one that enforces the gateway's
// BodyLimits through the connection's read deadline, and returns the
// writer the handler must use: the first byte of the response settles
// the body (see rateBody.settle).
func (g *Gateway) limitBody(w http.ResponseWriter, r *http.Request) http.ResponseWriter {
	if r.Body == nil || r.Body == http.NoBody {
		return w
	}
	b := &rateBody{body: r.Body, rc: http.NewResponseController(w), limits: g.cfg.BodyLimits.withDefaults(),
		start: time.Now(), onSlow: func() { g.cfg.Metrics.Add(MetricShed, ShedSlowBody, 1) },
		expectContinue: expectsContinue(r), chunked: r.ProtoMajor == 1 && len(r.TransferEncoding) > 0, http1: r.ProtoMajor == 1}
	if g.budget != nil && (r.Method == http.MethodPut || r.Method == http.MethodPost) {
		// A declared body is reserved whole by reserveBody; one
		// without a length reserves as it is read and stops at the end
		// of the budget (507).
		b.res = newBodyBudget(g.budget, r.ContentLength >= 0)
	}
	r.Body = b
	return &bodyGuard{ResponseWriter: w, body: b, head: r.Method == http.MethodHead}
}

// Drain bounds for the part of a body a handler did not read.
const (
	// drainTimeout bounds reading the rest of a body before a response
	// that did not need it (a refusal): net/http would otherwise wait for
	// it, at the client's pace, before sending the response.
	drainTimeout = time.Second
	// drainBytesMax is net/http's own bound on such a read (256 KiB): a
	// body with more left closes the connection instead.
	drainBytesMax = 256 << 10
	// refusedDrainBytesMax bounds what is read and discarded of a body
	// after a refusal that closes its connection (bodyGuard.drainRefused).
	// 4 MiB covers what a client can have in flight towards the node when
	// the refusal reaches it: Linux's largest autotuned send buffer
	// (tcp_wmem's default maximum, 4 MiB) and the node's unread receive
	// buffer (which does not grow while nothing is read). A client that
	// writes its whole body before it reads can so finish writing what
	// it had queued and read the answer; closing with those bytes unread
	// makes the node's kernel reset the connection, and the client loses
	// the answer with its unsent bytes.
	refusedDrainBytesMax = 4 << 20
)

// refusedDrainTimeout bounds that drain in time: 2 s is 128 KiB at
// BodyRateMinDefault, a fifth of ReadHeaderTimeoutDefault (what a
// connection may already hold the node for before any request), and the
// connection stays counted against ConnLimits meanwhile; the request's
// admission slot and per-source slot are released before it. A variable
// for tests only.
var refusedDrainTimeout = 2 * time.Second

// rateBody is a request body with a read deadline set before each read:
// the earlier of "now + IdleTimeout" and the time by which the next byte
// must have arrived for the average rate since start (less RateGrace) to
// stay at least RateMin. Reaching EOF clears the deadline, since net/http
// then reads the connection in the background and a deadline passing
// there would cancel the request.
type rateBody struct {
	body    io.ReadCloser
	rc      *http.ResponseController
	limits  BodyLimits
	start   time.Time
	read    int64
	onSlow  func()
	slowErr error
	eof     bool
	settled bool
	drainBy time.Time // zero until settle
	// res is the body's reservation against the memory budget (nil:
	// none); closed once the body is done or drained (unbudget).
	res *bodyBudget
	// expectContinue: the client waits for "100 Continue" before it
	// sends the body, and net/http sends that on the first read.
	expectContinue bool
	// chunked: the body came with Transfer-Encoding chunked over HTTP/1,
	// and its response closes the connection (see bodyGuard.settle).
	chunked bool
	// http1: the request came over HTTP/1, whose connection a refusal
	// closes (bodyGuard.drainRefused; HTTP/2 resets a stream, and its
	// body reads take no deadline).
	http1 bool
	// interrupted is set by interrupt, from another goroutine: the
	// pending read and every later one fail with errBodyInterrupted.
	interrupted atomic.Bool
}

// errBodyInterrupted is the read error of a body whose reading another
// goroutine stopped (interrupt): not the client's slowness.
var errBodyInterrupted = errors.New("gateway: request body reading interrupted")

// interrupt makes the read in progress (blocked on the connection) and
// every later one return errBodyInterrupted now. Safe from any goroutine:
// the flag is set before the deadline, and Read checks the flag after
// setting its own deadline, so a Read racing with interrupt either sees
// the flag or has its deadline overwritten by the past one.
func (b *rateBody) interrupt() {
	b.interrupted.Store(true)
	_ = b.rc.SetReadDeadline(time.Now())
}

func (b *rateBody) Read(p []byte) (int, error) {
	if b.slowErr != nil {
		return 0, b.slowErr
	}
	if b.interrupted.Load() {
		return 0, errBodyInterrupted
	}
	now := time.Now()
	due := b.start.Add(b.limits.RateGrace + time.Duration(float64(b.read+1)/float64(b.limits.RateMin)*float64(time.Second)))
	deadline := now.Add(b.limits.IdleTimeout)
	if due.Before(deadline) {
		deadline = due
	}
	if !b.drainBy.IsZero() && b.drainBy.Before(deadline) {
		deadline = b.drainBy
	}
	_ = b.rc.SetReadDeadline(deadline) // unsupported (HTTP/2, recorders): no limit
	if b.interrupted.Load() {          // interrupt's deadline may predate ours
		return 0, errBodyInterrupted
	}
	if r := b.res; r != nil && !r.declared && b.read+int64(len(p)) > r.reserved {
		r.grow(b.read + int64(len(p)) - r.reserved)
		if b.read >= r.reserved {
			return 0, &budgetError{read: b.read, max: r.b.max}
		}
		p = p[:r.reserved-b.read]
	}
	n, err := b.body.Read(p)
	b.read += int64(n)
	b.res.observe(b.read)
	if err == io.EOF {
		b.eof = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	var ne net.Error
	if err != nil && b.interrupted.Load() {
		return n, errBodyInterrupted
	}
	if err != nil && (errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()) {
		b.slowErr = fmt.Errorf("%w: %d bytes in %v (minimum %d B/s after %v, no gap over %v)", ErrBodyTooSlow,
			b.read, time.Since(b.start).Round(time.Millisecond), b.limits.RateMin, b.limits.RateGrace, b.limits.IdleTimeout)
		if b.drainBy.IsZero() {
			b.onSlow() // a slow drain after a refusal is not a slow upload
		}
		return n, b.slowErr
	}
	return n, err
}

// settle runs once, before the response: it reads what is left of a body
// the handler did not consume, for at most drainTimeout and drainBytesMax,
// so that net/http's own discard never waits on a slow client.
func (b *rateBody) settle() {
	if b.settled {
		return
	}
	b.settled = true
	if b.eof || b.slowErr != nil {
		return
	}
	b.drainBy = time.Now().Add(drainTimeout)
	_, _ = io.CopyN(io.Discard, b, drainBytesMax+1)
}

func (b *rateBody) Close() error { return b.body.Close() }

// unbudget closes the body's reservation: what was read stays counted
// until the next GC (memBudget.give), and later reads are not budgeted.
func (b *rateBody) unbudget() {
	if b.res != nil {
		b.res.close(b.read)
		b.res = nil
	}
}

// bodyGuard settles the request body before the response starts.
type bodyGuard struct {
	http.ResponseWriter
	body *rateBody
	head bool // a HEAD request: its response has no body
}

func (w *bodyGuard) WriteHeader(code int) {
	if code >= http.StatusOK {
		w.settle()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *bodyGuard) Write(p []byte) (int, error) {
	w.settle()
	return w.ResponseWriter.Write(p)
}

// settle drains the body unless the response closes the connection
// anyway (a refusal with Connection: close): then net/http sends it at
// once and nothing is read. A body its client holds back until "100
// Continue" and of which nothing was read is not drained either: the
// first read would send the 100 Continue, inviting the body the response
// is about to refuse; the response closes the connection instead.
//
// A response to a chunked body (HTTP/1 Transfer-Encoding) closes the
// connection, so no request after it on the connection is read. RFC 9112
// 6.3 requires that when the request also carried Content-Length: the
// two framings disagree on where the body ends, which is how a front
// proxy that reads the other one is made to smuggle a request past
// itself. The gateway cannot refuse exactly that request with a 400:
// net/http's reader deletes the Content-Length header of a chunked
// request before any handler runs (transfer.go, fixLength) and keeps no
// trace of it (ContentLength is -1 as for every chunked body), so every
// chunked body closes its connection instead, whether or not its end was
// found: net/http, left to itself, reads up to drainBytesMax more of a
// body after the response and keeps the connection when it finds the end
// there, serving what follows. The body is drained first (as any unread
// body): closing with body bytes unread would reset the connection under
// a client still sending, before it read the response.
//
// A response that closes the connection with the body not read to its
// end gets a read deadline of drainTimeout from now (now, for an
// expect-continue body left unread): after the handler, net/http still
// reads up to 256 KiB of an unread body before it closes, under no
// deadline of its own, so a client that sends no more (a declared size
// over a route's cap with no body, a client waiting for 100 Continue)
// would hold the connection open after its final response.
func (w *bodyGuard) settle() {
	b := w.body
	if b.settled {
		return
	}
	if b.expectContinue && b.read == 0 && !b.eof {
		w.Header().Set("Connection", "close")
		b.drainBy = time.Now()
	}
	if w.Header().Get("Connection") != "close" {
		b.unbudget() // drained into io.Discard: no memory to budget
		b.settle()
		if b.chunked && !b.eof && b.slowErr == nil {
			// More is left: one byte more through MaxBytesReader has
			// net/http close the connection as after a body over its
			// limit (a delay before the close), so that a client still
			// sending reads the response before the connection resets.
			_, _ = http.MaxBytesReader(w.ResponseWriter, b, 0).Read(make([]byte, 1))
		}
		if b.chunked {
			w.Header().Set("Connection", "close")
		}
	}
	b.settled = true
	if w.Header().Get("Connection") == "close" && !b.eof {
		if b.drainBy.IsZero() {
			b.drainBy = time.Now().Add(drainTimeout)
		}
		_ = b.rc.SetReadDeadline(b.drainBy)
	}
}

// drainRefused runs after the handler returned (its admission slot and
// per-source slot released): a response that closes its connection with
// a declared or chunked body unread (a refusal: 413 for a declared size
// over a route's cap, 429, 503, ...) and sent with its Content-Length
// (writeError's envelopes are) is flushed, then up to
// refusedDrainBytesMax of the body is read and discarded for at most
// refusedDrainTimeout, and only then does net/http close the connection.
// Left to itself net/http reads none of a declared body of more than 256
// KiB, half-closes and closes 500 ms later: a client still writing the
// body (one without Expect: 100-continue) then has its connection reset,
// often before it read the refusal. A body its client holds back for 100
// Continue is not read (nothing of it is in flight), nor one already cut
// off (slow, interrupted) or read to its end, nor an HTTP/2 body (a
// refusal resets its stream, not the connection, and SetReadDeadline
// does not bound its reads). net/http's own bounded read
// and delayed close still follow a drain that did not reach the end.
func (w *bodyGuard) drainRefused() {
	b := w.body
	if !b.http1 || !b.settled || b.eof || b.slowErr != nil || b.interrupted.Load() || w.Header().Get("Connection") != "close" {
		return
	}
	if b.expectContinue && b.read == 0 {
		return
	}
	// Only a response whose end the client can find before the handler
	// returns: a chunked one ends with its last chunk, which net/http
	// sends after the handler (so after the drain).
	if !w.head && w.Header().Get("Content-Length") == "" {
		return
	}
	if b.rc.Flush() != nil {
		return // the client is gone, or the writer cannot flush
	}
	b.unbudget() // read into io.Discard: no memory to budget
	b.drainBy = time.Now().Add(refusedDrainTimeout)
	_, _ = io.CopyN(io.Discard, b, refusedDrainBytesMax)
}

// drainRefused is bodyGuard.drainRefused when w is the writer limitBody
// returned.
func drainRefused(w http.ResponseWriter) {
	if bg, ok := w.(*bodyGuard); ok {
		bg.drainRefused()
	}
}

// expectsContinue reports whether r's client waits for "100 Continue"
// before sending its body (as net/http decides it, RFC 9110 10.1.1).
func expectsContinue(r *http.Request) bool {
	if !r.ProtoAtLeast(1, 1) || r.ContentLength == 0 {
		return false
	}
	for _, v := range r.Header["Expect"] {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "100-continue") {
				return true
			}
		}
	}
	return false
}

// Unwrap lets http.ResponseController reach the connection.
func (w *bodyGuard) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// EnvelopeListener wraps ln so that the plain-text errors net/http writes
// by itself, before any handler runs (431 header too large, 400 bad
// request or missing Host, 501 unsupported transfer encoding, 505 bad
// version), leave as the JSON envelope instead.
func EnvelopeListener(ln net.Listener) net.Listener { return envelopeListener{Listener: ln} }

// Listener is EnvelopeListener that also counts, in omnigate_shed_total
// {reason="read_timeout"}, every connection the server drops on a read
// deadline while a request was partly received (a slow header, a slow
// body), not the idle keep-alive connections it closes. It enforces
// Config.Conns (conns.go): a connection beyond ConnLimits.PerSourceMax
// from its source, or beyond ConnLimits.Max when none is idle, is answered
// 503 and closed at once (gateway_conns_refused_total{reason}); at Max the
// longest idle keep-alive connection is closed to make room (idle as
// NewServer's ConnState reports it); and every write of a response must
// make progress within ConnLimits.WriteStallTimeout.
func (g *Gateway) Listener(ln net.Listener) net.Listener {
	return envelopeListener{Listener: ln, onTimeout: func() { g.cfg.Metrics.Add(MetricShed, ShedReadTimeout, 1) },
		table: newConnTable(g.cfg.Conns, g.cfg.Metrics, g.log)}
}

// ShedReadTimeout counts connections cut on a read deadline mid-request.
const ShedReadTimeout = "read_timeout"

type envelopeListener struct {
	net.Listener
	onTimeout func()     // nil: not counted
	table     *connTable // nil: no connection limits
}

func (l envelopeListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.table == nil {
			return newEnvelopeConn(c, l.onTimeout), nil
		}
		tc, refused := l.table.admit(c)
		if refused != "" {
			l.table.metrics.Add(MetricConnsRefused, refused, 1)
			refuseConn(c, refused)
			continue
		}
		return newEnvelopeConn(tc, l.onTimeout), nil
	}
}

// newEnvelopeConn wraps c, a connection just accepted: between responses
// (net/http may answer its first request with one of its own errors).
func newEnvelopeConn(c net.Conn, onTimeout func()) *envelopeConn {
	ec := &envelopeConn{Conn: c, onTimeout: onTimeout}
	ec.between.Store(true)
	return ec
}

// envelopeConn rewrites net/http's protocol error responses. net/http
// writes each in one Write straight to the connection, in a fixed shape:
// the status line, then exactly netHTTPErrorHeaders, then a text body.
// It writes them only between responses: from the goroutine reading the
// next request, before any handler runs for it, while nothing else is
// written. So only the first write while the connection is "between"
// responses is looked at; the bytes of a response never are (its body is
// anyone's content, and net/http writes a large body straight to the
// connection, so a body may well start with that shape).
//
// between is set when the connection is accepted and when it goes idle
// after a response (connState: net/http flushed the whole response
// before), and cleared by the first write after it, by a handler starting
// (responding) and by a hijack or close. The first write clears it
// whatever it is, so a handler that does not call responding has only its
// response's first write looked at: the status line and headers, which
// never have that shape (a handler's headers are sorted, which puts
// Connection before Content-Type, and carry a Date); the connection is
// then not looked at again (connState re-arms it only after a response
// that called responding), so net/http's next protocol error on it is
// plain text, never a body rewritten. So do the first bytes of a TLS
// handshake or of unencrypted HTTP/2, whose requests never call
// responding (connOf is nil for them): net/http's HTTP/2 server reports
// its connections idle when their last stream closes, with the tail of
// that stream's last frame possibly still buffered, so an idle alone
// must not re-arm the check.
type envelopeConn struct {
	net.Conn
	onTimeout func()
	between   atomic.Bool
	responded atomic.Bool // responding was called since the last idle (connState)
	// corked: writes are collected in pending, to be sent in one write
	// by uncork; werr is the error of that write, returned by every
	// later one. Only the connection's serving goroutine writes, so
	// these need no lock.
	corked  bool
	pending *[]byte
	werr    error
	// midRequest: bytes were read since the last write, so a request is
	// partly received (reads and writes run on different goroutines).
	midRequest atomic.Bool
	counted    sync.Once
}

func (c *envelopeConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.midRequest.Store(true)
	}
	if err != nil && c.onTimeout != nil && c.midRequest.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
		c.counted.Do(c.onTimeout)
	}
	return n, err
}

// netHTTPErrorHeaders are the headers of net/http's own error responses
// (server.go, "errorHeaders").
const netHTTPErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

func (c *envelopeConn) Write(b []byte) (int, error) {
	c.midRequest.Store(false)
	if c.werr != nil {
		return 0, c.werr
	}
	if c.corked {
		*c.pending = append(*c.pending, b...)
		return len(b), nil
	}
	if !c.between.Load() {
		return c.Conn.Write(b)
	}
	c.between.Store(false)
	status, text, ok := parseNetHTTPError(b)
	if !ok {
		return c.Conn.Write(b)
	}
	if _, err := c.Conn.Write(protocolEnvelope(status, text)); err != nil {
		return 0, err
	}
	if status == http.StatusRequestHeaderFieldsTooLarge {
		c.drainTooLarge()
	}
	return len(b), nil
}

// drainTooLarge runs after net/http's 431, which it writes once it has
// read HeaderBytesMax (+4 KiB) of a request line or header block, and
// then closes the connection 0.5 s later (its rstAvoidanceDelay). A
// client still sending the rest (a 70 KiB URL) would find the rest
// unread at the close: the node's kernel then resets the connection, and
// a client that reads only once it has sent all gets the reset, not the
// 431. So the write side is shut (the client sees the response end) and
// the rest is read and discarded, within the bounds of a refused body's
// drain (refusedDrainBytesMax, refusedDrainTimeout), until the client
// closes. Nothing of it is parsed or kept: HeaderBytesMax still bounds
// what a header may hold, and the connection stays counted against
// ConnLimits meanwhile.
func (c *envelopeConn) drainTooLarge() {
	inner := c.Conn
	if t, ok := inner.(*trackedConn); ok {
		inner = t.Conn
	}
	if cw, ok := inner.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.SetReadDeadline(time.Now().Add(refusedDrainTimeout))
	_, _ = io.CopyN(io.Discard, c.Conn, refusedDrainBytesMax)
}

// corkBuffers hold corked responses (a small object's headers and body).
var corkBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// cork collects the writes that follow until uncork, which sends them in
// one write. net/http's connection buffer is 4 KiB, so a response of a
// 4 KiB object (its headers, then its body) otherwise leaves in two
// writes, each a system call and a wake-up of the reader.
func (c *envelopeConn) cork() {
	if c.corked {
		return
	}
	c.corked = true
	c.between.Store(false) // a handler's response (see responding)
	c.pending = corkBuffers.Get().(*[]byte)
}

// uncork sends what cork collected.
func (c *envelopeConn) uncork() {
	if !c.corked {
		return
	}
	c.corked = false
	if len(*c.pending) > 0 && c.werr == nil {
		_, c.werr = c.Conn.Write(*c.pending)
	}
	*c.pending = (*c.pending)[:0]
	if cap(*c.pending) <= 2*corkBytesMax {
		corkBuffers.Put(c.pending)
	}
	c.pending = nil
}

// corkBytesMax bounds the bodies writeBody sends corked.
const corkBytesMax = 16 << 10

// parseNetHTTPError recognises a net/http protocol error response and
// returns its status and text.
func parseNetHTTPError(b []byte) (int, string, bool) {
	rest, ok := bytes.CutPrefix(b, []byte("HTTP/1.1 "))
	if !ok || len(rest) < 4 {
		return 0, "", false
	}
	status, err := strconv.Atoi(string(rest[:3]))
	if err != nil || status < 400 || status > 599 {
		return 0, "", false
	}
	i := bytes.Index(rest, []byte(netHTTPErrorHeaders))
	if i < 0 || bytes.IndexByte(rest[:i], '\n') >= 0 {
		return 0, "", false // the error headers must follow the status line at once
	}
	return status, string(rest[i+len(netHTTPErrorHeaders):]), true
}

// protocolEnvelope is the full response for a net/http protocol error.
func protocolEnvelope(status int, text string) []byte {
	code := CodeBadRequest
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge, http.StatusRequestURITooLong:
		code = CodeTooLarge
	case http.StatusNotImplemented, http.StatusHTTPVersionNotSupported:
		code = CodeNotImplemented
	}
	body, _ := json.Marshal(Envelope{Code: code, Message: boundMessage(text), CorrID: newCorrID()})
	body = append(body, '\n')
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"+
		"Connection: close\r\nContent-Length: %d\r\n\r\n%s", status, http.StatusText(status), len(body), body)
}

// CodeNotImplemented: the request uses a protocol feature the server does
// not implement (501 transfer coding, 505 HTTP version).
const CodeNotImplemented = "NOT_IMPLEMENTED"

// boundMessage cuts a message to MessageBytesMax bytes (on a UTF-8
// boundary) and says how much it dropped.
func boundMessage(m string) string {
	if len(m) <= MessageBytesMax {
		return m
	}
	cut := MessageBytesMax
	for cut > 0 && m[cut]&0xc0 == 0x80 {
		cut--
	}
	return fmt.Sprintf("%s... (%d more bytes)", m[:cut], len(m)-cut)
}
