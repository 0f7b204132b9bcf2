package oapgate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/ron-network/ron/core/proto/oap"
	"github.com/ron-network/ron/io/gateway"
)

// requestFlags are the flags a request frame may carry.
const requestFlags = oap.FlagREQ | oap.FlagSTART | oap.FlagEND | oap.FlagCOMP

// errRejected is what the handler sees once its stream was rejected.
var errRejected = errors.New("oapgate: request stream rejected")

// exchange is one request stream on the server: frames in, an
// http.Request for the handler, its response out as frames. One goroutine
// (serveStream, which runs the handler) uses it.
type exchange struct {
	srv    *Server
	conn   *quic.Conn
	st     *quic.Stream
	starts *connStarts // the connection's share of the pending START bound
	start  oap.Header  // the START frame's header: corr_id and tenant echo
	in     []byte      // frame buffer of oap.ReadFrame, reused
	out    []byte      // encoded frame being written, reused
	reason oap.Reason  // set once the stream is rejected
}

// serveStream reads the START frame, turns it into an http.Request and
// runs the handler. A protocol violation resets this stream only.
func (s *Server) serveStream(conn *quic.Conn, st *quic.Stream, starts *connStarts) {
	defer s.streams.Done()
	x := &exchange{srv: s, conn: conn, st: st, starts: starts}
	s.streamBegin(conn)
	defer s.streamEnd(conn)
	// A request whose START has not arrived when the server stops taking
	// streams is not one Shutdown waits for: its read is cut at once.
	stop := context.AfterFunc(s.acceptCtx, func() { st.CancelRead(StreamCodeCancelled) })
	first, refused, err := x.readStart(time.Now().Add(s.cfg.StartTimeout))
	s.starts.leave(starts.source)
	if !stop() {
		x.cancel(StreamCodeCancelled)
		return
	}
	if refused != "" {
		s.metrics.Add(MetricStreamsRefused, refused, 1)
		s.log.Debug("oapgate: request stream refused", "remote", conn.RemoteAddr().String(), "reason", refused)
		x.cancel(StreamCodeBusy)
		return
	}
	// In flight, for the choice of an idle connection to evict at
	// ConnsMax, from the whole START until the response is written: a
	// stream that only waits for its START, or whose client does not
	// acknowledge a response, must not keep its connection from being
	// idle.
	inFlight := err == nil
	if inFlight && !s.requestBegin(conn) {
		// The connection was chosen for eviction or for its idle close
		// and is being closed: refused unserved (ErrBusy, retry safe),
		// so that the close (code 5 or 6) cuts no request that ran
		// after that choice.
		s.metrics.Add(MetricStreamsRefused, RefusedConnClosing, 1)
		s.log.Debug("oapgate: request on a connection being closed (evicted or idle) refused", "remote", conn.RemoteAddr().String())
		x.cancel(StreamCodeBusy)
		return
	}
	done := func() {
		if inFlight {
			inFlight = false
			s.requestEnd(conn)
		}
	}
	defer done()
	var head RequestHead
	if err == nil {
		x.start = first.Header
		head, err = x.parseHead(&first)
	}
	if err != nil {
		x.fail(err)
		return
	}
	req, bad := x.request(head, &first)
	w := &responseWriter{x: x, header: http.Header{}, discard: head.Method == http.MethodHead}
	if bad != "" {
		writeBadRequest(w, head, bad)
	} else if x.run(w, req) {
		x.cancel(StreamCodeAborted)
		return
	}
	if x.reason != "" {
		return // reset when it was rejected
	}
	if err := w.finish(); err != nil {
		x.cancel(StreamCodeAborted)
		return
	}
	st.CancelRead(StreamCodeDone) // whatever the handler did not read is not wanted
	done()
	// The handler has returned, so the gateway no longer counts this
	// request: the wait for the acknowledgement (up to FrameTimeout) must
	// not keep the last body frame's buffer (up to a MiB) alive.
	x.in, x.out = nil, nil
	x.awaitAck()
}

// awaitAck waits until the client acknowledges the response: having read
// the END frame it stops reading (STOP_SENDING), which is the only sign
// quic-go gives that the frames arrived. Closing the connection before
// then (Shutdown) could cut the response short. A client that never
// acknowledges gets a FIN after FrameTimeout, and Close does not wait.
//
// The CancelWrite after the acknowledgement sends nothing (the send side
// is already reset by the STOP_SENDING) but tells quic-go the application
// saw the reset; until then the stream never completes and its slot
// towards StreamsPerConnMax is never given back to the client.
func (x *exchange) awaitAck() {
	timer := time.NewTimer(x.srv.cfg.FrameTimeout)
	defer timer.Stop()
	select {
	case <-x.st.Context().Done(): // the acknowledgement, or the connection ended
		x.st.CancelWrite(StreamCodeDone)
	case <-x.srv.ctx.Done():
	case <-timer.C:
		_ = x.st.Close()
	}
}

// readStart reads the request's first frame, which must be a START of at
// most StartFrameBytesMax bytes, all of it within StartTimeout of the
// stream's accept (deadline). Its header is checked first (flags,
// app_proto_id, declared length). Its first StartFreeBytes are charged
// to nothing, and its buffer for them starts at startFirstBytes and
// doubles as they arrive; past them the buffer grows StartChunkBytes at a time, each
// chunk charged to the pending START bound before it is allocated, and
// everything charged is given back when readStart returns: refused names
// the bound the next chunk would pass, and then the stream is refused.
func (x *exchange) readStart(deadline time.Time) (f oap.Frame, refused string, err error) {
	_ = x.st.SetReadDeadline(deadline)
	var hb [oap.HeaderBytes]byte
	if _, err := io.ReadFull(x.st, hb[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return f, "", &oap.Error{Reason: oap.ReasonTruncated, Detail: "the client ended the stream inside the START frame's header"}
		}
		return f, "", fmt.Errorf("oapgate: read START header: %w", err)
	}
	h, err := oap.ParseHeader(hb[:])
	if err == nil {
		err = checkRequestFrame(&oap.Frame{Header: h}, true, 0)
	}
	if err == nil && h.Len > StartFrameBytesMax {
		err = &oap.Error{Reason: oap.ReasonFrameOversize, Detail: fmt.Sprintf(
			"START frame declares %d bytes; a START carries at most %d (the %d-byte header, a token of at most %d, a head of at most %d, %d bytes for compression)",
			h.Len, StartFrameBytesMax, oap.HeaderBytes, oap.CapBytesMax, HeadBytesMax, startCompressSlackBytes)}
	}
	if err != nil {
		return f, "", err
	}
	total := int(h.Len)
	charged := 0
	defer func() { x.srv.starts.release(x.starts, charged) }()
	// The free part too grows only as its bytes arrive (doubling from
	// startFirstBytes), so a header declaring a large START costs little
	// until the client sends it.
	buf := make([]byte, 0, min(total, startFirstBytes))
	buf = append(buf, hb[:]...)
	for len(buf) < total {
		if len(buf) == cap(buf) {
			var next int
			if cap(buf) < StartFreeBytes {
				next = min(total, StartFreeBytes, 2*cap(buf))
			} else {
				next = min(total, cap(buf)+StartChunkBytes)
				n := next - StartFreeBytes - charged
				if refused := x.srv.starts.take(x.starts, n); refused != "" {
					return f, refused, nil
				}
				charged += n
			}
			grown := make([]byte, len(buf), next)
			copy(grown, buf)
			buf = grown
		}
		n, err := io.ReadFull(x.st, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return f, "", &oap.Error{Reason: oap.ReasonTruncated, Detail: fmt.Sprintf(
				"the client ended the stream %d bytes into a START frame of %d", len(buf), total)}
		}
		if err != nil {
			return f, "", fmt.Errorf("oapgate: read START frame (%d of %d bytes): %w", len(buf), total, err)
		}
	}
	f, err = oap.Decode(buf)
	return f, "", err
}

// readFrame reads the next frame, waiting at most FrameTimeout.
func (x *exchange) readFrame() (oap.Frame, error) {
	_ = x.st.SetReadDeadline(time.Now().Add(x.srv.cfg.FrameTimeout))
	f, buf, err := oap.ReadFrame(x.st, x.in)
	x.in = buf
	if errors.Is(err, io.EOF) {
		return f, &oap.Error{Reason: oap.ReasonTruncated, Detail: "the client ended the stream without an END frame"}
	}
	return f, err
}

// checkRequestFrame applies the client API's rules on top of the codec's
// (which already refused oversize frames, unknown flag bits and
// capability bytes on a frame without START).
func checkRequestFrame(f *oap.Frame, first bool, corrID uint64) error {
	switch {
	case f.AppProto != oap.ProtoClient:
		return &oap.Error{Reason: oap.ReasonUnknownApp, Detail: fmt.Sprintf("app_proto_id %d on a request stream, the client API is %d", f.AppProto, oap.ProtoClient)}
	case f.Flags&^requestFlags != 0 || f.Flags&oap.FlagREQ == 0:
		return &oap.Error{Reason: oap.ReasonBadFlags, Detail: fmt.Sprintf("flags %#04x: a request frame has REQ and may add only START, END, COMP", f.Flags)}
	case first && f.Flags&oap.FlagSTART == 0:
		return &oap.Error{Reason: oap.ReasonBadFlags, Detail: "the first frame of a request stream needs START"}
	case !first && f.Flags&oap.FlagSTART != 0:
		return &oap.Error{Reason: oap.ReasonBadFlags, Detail: "START on a body frame"}
	case !first && f.CorrID != corrID:
		return &oap.Error{Reason: oap.ReasonHeaderMalformed, Detail: fmt.Sprintf("corr_id %d on a stream opened with %d", f.CorrID, corrID)}
	}
	return nil
}

// bodyInflatedBytesMax bounds what one COMP body frame may inflate to: no
// more than an uncompressed body frame could carry. With oap's own bound
// (InflatedBytesMax, 8 MiB) a few hundred compressed bytes made the server
// allocate megabytes per stream.
const bodyInflatedBytesMax = oap.FrameBytesMax - oap.HeaderBytes

// bodyWindowBytesMax is the largest zstd window a compressed body frame
// may declare (single-segment frames, like oap.Compress's, declare none).
// One frame's payload needs only 1 MiB, but libzstd's streaming default
// (the zstd CLI reading a pipe) declares 2 MiB whatever the content, so
// 2 MiB admits those encoders for 2 MiB more history while inflating.
// Heads keep the window of their bound, HeadBytesMax: a head is small,
// and a client that compresses one can size its window.
const bodyWindowBytesMax = 2 << 20

// payload is f's payload, inflated when COMP is set to at most limit
// bytes (decompress_bound past it) from zstd frames declaring at most
// window (decompress_window past it).
func payload(f *oap.Frame, limit, window int) ([]byte, error) {
	if f.Flags&oap.FlagCOMP == 0 {
		return f.Payload, nil
	}
	return oap.InflateWindow(f.Payload, limit, window)
}

// headPayload is a START frame's head bytes. A compressed head is
// inflated to at most HeadBytesMax: one that would inflate further is
// bad_head, as the same head sent uncompressed would be, refused before
// it costs more than the bound; one whose zstd window is past
// HeadBytesMax is decompress_window, not bad_head: it may be a small head
// from a streaming encoder, and the client should be told why.
func headPayload(f *oap.Frame) ([]byte, error) {
	p, err := payload(f, HeadBytesMax, HeadBytesMax)
	if oap.ReasonOf(err) == oap.ReasonDecompressBound {
		return nil, badHead("compressed head: %v", err)
	}
	return p, err
}

func (x *exchange) parseHead(f *oap.Frame) (RequestHead, error) {
	p, err := headPayload(f)
	if err != nil {
		return RequestHead{}, err
	}
	return ParseRequestHead(p)
}

// fail ends the stream after a failed read: a protocol violation is
// rejected and counted, anything else (the client reset the stream, the
// connection died, a frame timeout) just cancels it.
func (x *exchange) fail(err error) {
	if oap.ReasonOf(err) != "" {
		x.reject(err)
		return
	}
	x.srv.log.Debug("oapgate: request stream failed", "remote", x.conn.RemoteAddr().String(), "err", err)
	x.cancel(StreamCodeCancelled)
}

// reject resets the stream both ways with the reason's code and counts
// it. Only this stream ends; the connection serves on.
func (x *exchange) reject(err error) {
	if x.reason != "" {
		return
	}
	x.reason = oap.ReasonOf(err)
	x.srv.reject(err, "remote", x.conn.RemoteAddr().String())
	x.cancel(RejectCode(x.reason))
}

func (x *exchange) cancel(code quic.StreamErrorCode) {
	x.st.CancelRead(code)
	x.st.CancelWrite(code)
}

// request builds the handler's request. A head that is well formed but
// cannot be served is answered 400 (bad names the problem) rather than
// rejected: it is the client's request, not its framing, that is wrong.
func (x *exchange) request(head RequestHead, first *oap.Frame) (*http.Request, string) {
	u, err := url.ParseRequestURI(head.Target)
	if err != nil {
		return nil, fmt.Sprintf("target %q: %v", head.Target, err)
	}
	header := HeaderOf(head.Fields)
	if _, ok := header["Authorization"]; ok {
		return nil, "an Authorization field in the head is refused: the token travels as the START frame's capability bytes"
	}
	ended := first.Flags&oap.FlagEND != 0
	length, bad := contentLength(header, ended)
	if bad != "" {
		return nil, bad
	}
	host := header.Get("Host")
	delete(header, "Host")
	if host == "" {
		host = x.srv.Addr().String()
	}
	if len(first.Cap) > 0 {
		header.Set("Authorization", "Bearer "+string(first.Cap))
	}
	req := &http.Request{Method: head.Method, URL: u, Proto: "OAP/1", ProtoMajor: 1, Header: header,
		ContentLength: length, Host: host, RemoteAddr: x.conn.RemoteAddr().String(), RequestURI: head.Target,
		Body: http.NoBody}
	if !ended {
		req.Body = &requestBody{x: x, declared: length}
	}
	return req.WithContext(x.st.Context()), ""
}

// contentLength is the body length the head declares (-1: unknown until
// END), 0 for a START frame that also carries END.
func contentLength(header http.Header, ended bool) (int64, string) {
	values, ok := header["Content-Length"]
	switch {
	case !ok && ended:
		return 0, ""
	case !ok:
		return -1, ""
	case len(values) != 1:
		return 0, "more than one Content-Length field"
	}
	n, err := strconv.ParseInt(values[0], 10, 64)
	if err != nil || n < 0 || values[0] != strconv.FormatInt(n, 10) {
		return 0, fmt.Sprintf("Content-Length %q is not a decimal length", values[0])
	}
	return n, ""
}

// writeBadRequest answers 400 in the gateway's error envelope.
func writeBadRequest(w *responseWriter, head RequestHead, message string) {
	corrID := HeaderOf(head.Fields).Get("X-Request-Id")
	if corrID == "" || len(corrID) > gateway.RequestIDBytesMax {
		var b [12]byte
		_, _ = rand.Read(b[:])
		corrID = hex.EncodeToString(b[:])
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Request-Id", corrID)
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(gateway.Envelope{Code: gateway.CodeBadRequest, Message: message, CorrID: corrID})
}

// run calls the handler and reports whether it aborted: it panicked, with
// http.ErrAbortHandler (the gateway cutting a response short) or with a
// bug, which is logged as net/http would.
func (x *exchange) run(w *responseWriter, req *http.Request) (aborted bool) {
	defer func() {
		if r := recover(); r != nil {
			aborted = true
			if r != http.ErrAbortHandler {
				x.srv.log.Error("oapgate: handler panic", "target", req.RequestURI, "panic", r, "stack", string(debug.Stack()))
			}
		}
	}()
	x.srv.cfg.Handler.ServeHTTP(w, req)
	return false
}

// send writes one response frame, waiting at most FrameTimeout for the
// client to make room.
func (x *exchange) send(flags, code uint16, p []byte) error {
	if x.reason != "" {
		return errRejected
	}
	f := oap.Frame{Header: oap.Header{Flags: flags, Code: code, AppProto: oap.ProtoClient,
		TenantHi: x.start.TenantHi, TenantLo: x.start.TenantLo, CorrID: x.start.CorrID}, Payload: p}
	out, err := oap.Append(x.out[:0], &f)
	if err != nil {
		return err
	}
	x.out = out
	_ = x.st.SetWriteDeadline(time.Now().Add(x.srv.cfg.FrameTimeout))
	_, err = x.st.Write(out)
	return err
}

// requestBody is the handler's view of the REQ frames after START. It
// holds one frame at a time (the exchange's buffer), so a body of any
// size costs at most one frame of memory.
type requestBody struct {
	x        *exchange
	pending  []byte // unread payload of the current frame
	ended    bool   // the END frame was read
	declared int64  // Content-Length, -1 when absent
	received int64
	err      error // sticky
}

func (b *requestBody) Read(p []byte) (int, error) {
	for len(b.pending) == 0 {
		switch {
		case b.err != nil:
			return 0, b.err
		case b.ended && b.declared >= 0 && b.received < b.declared:
			b.err = io.ErrUnexpectedEOF
		case b.ended:
			return 0, io.EOF
		default:
			b.err = b.next()
		}
	}
	n := copy(p, b.pending)
	b.pending = b.pending[n:]
	return n, nil
}

// next reads the following body frame. A protocol violation rejects the
// stream; the handler then sees a read error and its answer is dropped.
func (b *requestBody) next() error {
	x := b.x
	f, err := x.readFrame()
	if err == nil {
		err = checkRequestFrame(&f, false, x.start.CorrID)
	}
	var p []byte
	if err == nil {
		p, err = payload(&f, bodyInflatedBytesMax, bodyWindowBytesMax)
	}
	if err != nil {
		x.fail(err)
		return fmt.Errorf("oapgate: request body: %w", err)
	}
	b.received += int64(len(p))
	if b.declared >= 0 && b.received > b.declared {
		return fmt.Errorf("oapgate: request body longer than its Content-Length %d", b.declared)
	}
	b.pending, b.ended = p, f.Flags&oap.FlagEND != 0
	return nil
}

func (b *requestBody) Close() error { return nil }

// responseWriter turns the handler's response into frames: RESP|START
// with the status as code and the head as payload once the first body
// frame is due (or at the end), then RESP frames of up to BodyFrameBytes,
// END on the last. It buffers at most one frame of body.
type responseWriter struct {
	x        *exchange
	header   http.Header
	status   int
	headSent bool
	discard  bool   // HEAD: the body is not sent
	body     []byte // pending body bytes, at most BodyFrameBytes
	err      error  // first failure: later writes fail at once
}

var _ http.Flusher = (*responseWriter)(nil)

func (w *responseWriter) Header() http.Header { return w.header }

// WriteHeader records the status; informational (1xx) ones are not sent.
func (w *responseWriter) WriteHeader(code int) {
	if w.status != 0 || code < 200 || code > 999 {
		return
	}
	w.status = code
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.discard || !bodyAllowed(w.status) {
		return len(p), nil
	}
	written := 0
	for len(p) > 0 {
		if w.body == nil {
			w.body = make([]byte, 0, BodyFrameBytes)
		}
		n := min(BodyFrameBytes-len(w.body), len(p))
		w.body = append(w.body, p[:n]...)
		p, written = p[n:], written+n
		if len(w.body) == BodyFrameBytes {
			if err := w.flush(false); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// Flush sends the head and the body buffered so far.
func (w *responseWriter) Flush() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	_ = w.flush(false)
}

// finish sends what is left with END. A response that fits one frame
// gets a Content-Length when the handler set none.
func (w *responseWriter) finish() error {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headSent && !w.discard && bodyAllowed(w.status) && w.header.Get("Content-Length") == "" {
		w.header.Set("Content-Length", strconv.Itoa(len(w.body)))
	}
	return w.flush(true)
}

func (w *responseWriter) flush(end bool) error {
	if w.err != nil {
		return w.err
	}
	w.err = w.sendFrames(end)
	return w.err
}

func (w *responseWriter) sendFrames(end bool) error {
	if !w.headSent {
		head, err := AppendResponseHead(nil, ResponseHead{Fields: FieldsOf(w.header)})
		if err != nil {
			return err
		}
		flags := oap.FlagRESP | oap.FlagSTART
		if end && len(w.body) == 0 {
			flags |= oap.FlagEND
		}
		if err := w.x.send(flags, uint16(w.status), head); err != nil {
			return err
		}
		w.headSent = true
		if flags&oap.FlagEND != 0 {
			return nil
		}
	}
	if len(w.body) == 0 && !end {
		return nil
	}
	flags := oap.FlagRESP
	if end {
		flags |= oap.FlagEND
	}
	err := w.x.send(flags, 0, w.body)
	w.body = w.body[:0]
	return err
}

// bodyAllowed: 204 and 304 responses carry no body (RFC 9110).
func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified
}
