package oapgate

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
	"github.com/ron-network/ron/io/quicnet"
)

// Client defaults.
const (
	// ClientUADefault is the HELLO ua of a client that names none.
	ClientUADefault = "oapgate-client"
	// KeepAliveDefault keeps an idle client connection open.
	KeepAliveDefault = 10 * time.Second
	// helloFrameBytesMin is the smallest max_frame a client accepts: a
	// START frame must fit a whole token and a small head.
	helloFrameBytesMin = oap.HeaderBytes + oap.CapBytesMax + 4<<10
)

// ErrPinMismatch is wrapped by the dial error of a node whose certificate
// key is not the pinned NodeID.
var ErrPinMismatch = errors.New("oapgate: node id mismatch")

// ClientConfig configures a Client. Exactly one of NodeID and
// InsecureSkipVerify must be set: a client either pins the node (the
// certificate key must hash to NodeID) or says explicitly that it trusts
// whatever answers at the address.
type ClientConfig struct {
	NodeID             proto.NodeID
	InsecureSkipVerify bool
	UA                 string // HELLO ua; ClientUADefault when empty
	// HandshakeTimeout bounds the QUIC and TLS handshake and the HELLO
	// exchange (HandshakeTimeoutDefault when zero).
	HandshakeTimeout time.Duration
	IdleTimeout      time.Duration // IdleTimeoutDefault when zero
}

// Client speaks the client API over one QUIC connection, opened on first
// use and again after it failed. It is an http.RoundTripper: an
// http.Client built on it sends every request over OAP/1, its bearer
// token moved from the Authorization header into the START frame's
// capability bytes. It is safe for concurrent use; requests run in
// parallel, up to the node's max_inflight (QUIC makes the next one wait).
type Client struct {
	addr string
	cfg  ClientConfig
	tls  *tls.Config
	quic *quic.Config
	// mismatch records the NodeID a rejected certificate named, for the
	// dial error (the TLS callback runs on a quic-go goroutine).
	mismatch atomic.Pointer[proto.NodeID]
	corrID   atomic.Uint64

	mu     sync.Mutex
	conn   *quic.Conn
	hello  oap.HelloReply
	closed bool
}

var _ http.RoundTripper = (*Client)(nil)

// NewClient checks cfg and returns a client for addr ("host:port"); it
// connects on first use.
func NewClient(addr string, cfg ClientConfig) (*Client, error) {
	if cfg.NodeID.IsZero() == !cfg.InsecureSkipVerify {
		return nil, fmt.Errorf("%w: set exactly one of NodeID (pin the node) and InsecureSkipVerify", ErrConfig)
	}
	if cfg.UA == "" {
		cfg.UA = ClientUADefault
	}
	if err := (oap.HelloRequest{UA: cfg.UA}).Validate(); err != nil {
		return nil, fmt.Errorf("%w: UA: %v", ErrConfig, err)
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = HandshakeTimeoutDefault
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = IdleTimeoutDefault
	}
	c := &Client{addr: addr, cfg: cfg}
	c.tls = c.clientTLS()
	c.quic = &quic.Config{HandshakeIdleTimeout: cfg.HandshakeTimeout, MaxIdleTimeout: cfg.IdleTimeout,
		KeepAlivePeriod: min(KeepAliveDefault, cfg.IdleTimeout/2), MaxIncomingStreams: -1, MaxIncomingUniStreams: -1,
		InitialStreamReceiveWindow: streamWindowBytes, InitialConnectionReceiveWindow: connWindowBytes}
	return c, nil
}

// Dial is NewClient followed by connecting and the HELLO exchange.
func Dial(ctx context.Context, addr string, cfg ClientConfig) (*Client, error) {
	c, err := NewClient(addr, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := c.connect(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// clientTLS presents no certificate. The CA check means nothing for a
// node's self-signed certificate, so it is off; the pin replaces it.
func (c *Client) clientTLS() *tls.Config {
	conf := &tls.Config{NextProtos: []string{ALPN}, MinVersion: tls.VersionTLS13, InsecureSkipVerify: true}
	if c.cfg.InsecureSkipVerify {
		return conf
	}
	conf.VerifyPeerCertificate = func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
		got, err := quicnet.NodeIDOfCertificates(rawCerts)
		if err != nil {
			return err
		}
		if got != c.cfg.NodeID {
			c.mismatch.Store(&got)
			return fmt.Errorf("%w: pinned %s, the node is %s", ErrPinMismatch, c.cfg.NodeID.Short(), got.Short())
		}
		return nil
	}
	return conf
}

// Hello is the node's HELLO reply on the current connection (zero before
// the first one).
func (c *Client) Hello() oap.HelloReply {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hello
}

// Close closes the connection; requests in flight fail.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.conn == nil {
		return nil
	}
	return c.conn.CloseWithError(codeShutdown, "client closed")
}

// connect returns the open connection, dialing (and saying HELLO) when
// there is none or it failed.
func (c *Client) connect(ctx context.Context) (*quic.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("oapgate: client closed")
	}
	if c.conn != nil && c.conn.Context().Err() == nil {
		return c.conn, nil
	}
	quicnet.SilenceQuicGoBufferWarning()
	ctx, cancel := context.WithTimeout(ctx, c.cfg.HandshakeTimeout)
	defer cancel()
	conn, err := quic.DialAddr(ctx, c.addr, c.tls, c.quic)
	if err != nil {
		if got := c.mismatch.Swap(nil); got != nil {
			return nil, fmt.Errorf("%w: %s answers as node %s, not the pinned %s", ErrPinMismatch, c.addr, got, c.cfg.NodeID)
		}
		return nil, fmt.Errorf("oapgate: dial %s: %w", c.addr, err)
	}
	reply, err := c.sayHello(ctx, conn)
	if err != nil {
		_ = conn.CloseWithError(codeShutdown, "hello failed")
		return nil, fmt.Errorf("oapgate: HELLO to %s: %w", c.addr, remoteError(err))
	}
	c.conn, c.hello = conn, reply
	return conn, nil
}

// sayHello runs the HELLO exchange on the connection's first stream.
func (c *Client) sayHello(ctx context.Context, conn *quic.Conn) (oap.HelloReply, error) {
	st, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return oap.HelloReply{}, err
	}
	defer st.CancelRead(StreamCodeDone)
	if deadline, ok := ctx.Deadline(); ok {
		_ = st.SetDeadline(deadline)
	}
	req, err := oap.HelloRequestFrame(0, 0, c.corrID.Add(1), oap.HelloRequest{UA: c.cfg.UA})
	if err != nil {
		return oap.HelloReply{}, err
	}
	if _, err := st.Write(oap.MustEncode(&req)); err != nil {
		return oap.HelloReply{}, err
	}
	_ = st.Close()
	f, _, err := oap.ReadFrameLimit(st, nil, oap.HelloFrameBytesMax)
	if err != nil {
		return oap.HelloReply{}, err
	}
	reply, err := oap.ParseHelloReplyFrame(&f)
	switch {
	case err != nil:
		return oap.HelloReply{}, err
	case f.CorrID != req.CorrID:
		return oap.HelloReply{}, &oap.Error{Reason: oap.ReasonBadHello, Detail: fmt.Sprintf("reply corr_id %d, sent %d", f.CorrID, req.CorrID)}
	case reply.MaxFrame < helloFrameBytesMin:
		return oap.HelloReply{}, &oap.Error{Reason: oap.ReasonBadHello, Detail: fmt.Sprintf("max_frame %d leaves no room for a token and a head (want at least %d)", reply.MaxFrame, helloFrameBytesMin)}
	case !reply.Supports(oap.Version):
		return oap.HelloReply{}, &oap.Error{Reason: oap.ReasonBadHello, Detail: fmt.Sprintf("the node speaks versions %v, not %d", reply.Versions, oap.Version)}
	}
	return reply, nil
}

// RoundTrip sends req on a new stream and returns once the response head
// arrived; the body streams from the returned Response. The request body
// is sent concurrently, in frames of at most BodyFrameBytes (and the
// node's max_frame), by a goroutine that closes it when done; when the
// exchange fails before that goroutine starts, RoundTrip closes it.
func (c *Client) RoundTrip(req *http.Request) (*http.Response, error) {
	hasBody := req.Body != nil && req.Body != http.NoBody
	x, err := c.start(req, hasBody)
	if err != nil {
		if hasBody {
			_ = req.Body.Close()
		}
		return nil, err
	}
	if hasBody {
		go x.writeBody(req.Body, min(BodyFrameBytes, int(c.Hello().MaxFrame)-oap.HeaderBytes))
	}
	resp, err := x.readHead(req)
	if err != nil {
		x.abort()
		return nil, x.explain(req.Context(), err)
	}
	return resp, nil
}

// start opens the request's stream and sends its START frame (with END
// and the stream's FIN when there is no body).
func (c *Client) start(req *http.Request, hasBody bool) (*clientExchange, error) {
	caps, head, err := requestHeadOf(req)
	if err != nil {
		return nil, err
	}
	ctx := req.Context()
	conn, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	st, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, fmt.Errorf("oapgate: open a stream to %s: %w", c.addr, remoteError(err))
	}
	x := &clientExchange{st: st, corrID: c.corrID.Add(1), wrote: make(chan struct{}), isHead: req.Method == http.MethodHead}
	x.stop = context.AfterFunc(ctx, func() { x.cancel(StreamCodeCancelled) })
	flags := oap.FlagREQ | oap.FlagSTART
	if !hasBody {
		flags |= oap.FlagEND
		close(x.wrote) // no body writer runs
	}
	if err := x.send(flags, caps, head); err != nil {
		x.abort()
		return nil, fmt.Errorf("oapgate: send the request head: %w", x.explain(ctx, err))
	}
	if !hasBody {
		_ = st.Close()
	}
	return x, nil
}

// requestHeadOf splits req into the capability bytes (its bearer token)
// and the encoded head.
func requestHeadOf(req *http.Request) ([]byte, []byte, error) {
	var caps []byte
	if auth := req.Header.Get("Authorization"); auth != "" {
		token, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || token == "" {
			return nil, nil, errors.New("oapgate: only a bearer token can travel as capability bytes")
		}
		if len(token) > oap.CapBytesMax {
			return nil, nil, fmt.Errorf("oapgate: token of %d bytes exceeds %d", len(token), oap.CapBytesMax)
		}
		caps = []byte(token)
	}
	header := req.Header.Clone()
	header.Del("Authorization")
	header.Del("Content-Length")
	if req.ContentLength > 0 {
		header.Set("Content-Length", strconv.FormatInt(req.ContentLength, 10))
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	head, err := AppendRequestHead(nil, RequestHead{Method: method, Target: req.URL.RequestURI(), Fields: FieldsOf(header)})
	if err != nil {
		return nil, nil, fmt.Errorf("oapgate: request head: %w", err)
	}
	return caps, head, nil
}

// clientExchange is one request stream on the client. The body writer
// runs on its own goroutine; everything else on the caller's.
type clientExchange struct {
	st     *quic.Stream
	corrID uint64
	isHead bool
	stop   func() bool   // unregisters the context watch
	wrote  chan struct{} // closed when the body writer is done
	out    []byte        // the writer's frame buffer
	in     []byte        // the reader's frame buffer
}

func (x *clientExchange) cancel(code quic.StreamErrorCode) {
	x.st.CancelRead(code)
	x.st.CancelWrite(code)
}

// abort ends a failed exchange: the stream is reset, which stops the body
// writer at its next frame. It does not wait for the writer, which may be
// blocked reading the caller's body; the writer closes that body itself.
func (x *clientExchange) abort() {
	x.stop()
	x.cancel(StreamCodeCancelled)
}

// explain prefers the context's error when it caused the failure, and
// names what the node did otherwise.
func (x *clientExchange) explain(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("oapgate: %w", context.Cause(ctx))
	}
	return remoteError(err)
}

func (x *clientExchange) send(flags uint16, caps, p []byte) error {
	f := oap.Frame{Header: oap.Header{Flags: flags, AppProto: oap.ProtoClient, CorrID: x.corrID}, Cap: caps, Payload: p}
	out, err := oap.Append(x.out[:0], &f)
	if err != nil {
		return err
	}
	x.out = out
	_, err = x.st.Write(out)
	return err
}

// writeBody sends body in REQ frames of at most chunk bytes, END on the
// last, then closes the stream's send side. On a read error the stream is
// reset, so the node never takes a cut body for a whole one.
func (x *clientExchange) writeBody(body io.ReadCloser, chunk int) {
	defer close(x.wrote)
	defer body.Close()
	buf := make([]byte, chunk)
	for {
		n, err := io.ReadFull(body, buf)
		end := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !end {
			x.st.CancelWrite(StreamCodeCancelled)
			return
		}
		flags := oap.FlagREQ
		if end {
			flags |= oap.FlagEND
		}
		if err := x.send(flags, nil, buf[:n]); err != nil {
			return // the node answered early or reset the stream; the reader reports it
		}
		if end {
			_ = x.st.Close()
			return
		}
	}
}

// readFrame reads one response frame and checks that it belongs here.
func (x *clientExchange) readFrame(first bool) (oap.Frame, error) {
	f, buf, err := oap.ReadFrame(x.st, x.in)
	x.in = buf
	if errors.Is(err, io.EOF) {
		return f, &oap.Error{Reason: oap.ReasonTruncated, Detail: "the node ended the stream without an END frame"}
	}
	if err != nil {
		return f, err
	}
	want := oap.FlagRESP
	if first {
		want |= oap.FlagSTART
	}
	switch {
	case f.AppProto != oap.ProtoClient:
		return f, &oap.Error{Reason: oap.ReasonUnknownApp, Detail: fmt.Sprintf("response app_proto_id %d", f.AppProto)}
	case f.Flags&(oap.FlagREQ|oap.FlagRESP|oap.FlagSTART) != want:
		return f, &oap.Error{Reason: oap.ReasonBadFlags, Detail: fmt.Sprintf("response flags %#04x", f.Flags)}
	case f.CorrID != x.corrID:
		return f, &oap.Error{Reason: oap.ReasonHeaderMalformed, Detail: fmt.Sprintf("response corr_id %d, the request's is %d", f.CorrID, x.corrID)}
	}
	return f, nil
}

// readHead reads the RESP|START frame and builds the response.
func (x *clientExchange) readHead(req *http.Request) (*http.Response, error) {
	f, err := x.readFrame(true)
	if err != nil {
		return nil, err
	}
	p, err := headPayload(&f)
	if err != nil {
		return nil, err
	}
	head, err := ParseResponseHead(p)
	if err != nil {
		return nil, err
	}
	status := int(f.Code)
	if status < 200 || status > 999 {
		return nil, &oap.Error{Reason: oap.ReasonHeaderMalformed, Detail: fmt.Sprintf("response status %d", status)}
	}
	header := HeaderOf(head.Fields)
	resp := &http.Response{Status: strconv.Itoa(status) + " " + http.StatusText(status), StatusCode: status,
		Proto: "OAP/1", ProtoMajor: 1, Header: header, Request: req, ContentLength: -1}
	if n, err := strconv.ParseInt(header.Get("Content-Length"), 10, 64); err == nil && n >= 0 {
		resp.ContentLength = n
	}
	body := &responseBody{x: x, declared: resp.ContentLength}
	if x.isHead || !bodyAllowed(status) {
		body.declared = -1 // the length describes a body that is not sent
	}
	if f.Flags&oap.FlagEND != 0 {
		body.end()
	}
	resp.Body = body
	return resp, nil
}

// responseBody reads the RESP frames after the head. It holds one frame
// at a time and checks the total against Content-Length.
type responseBody struct {
	x        *clientExchange
	pending  []byte
	ended    bool
	declared int64
	received int64
	err      error
	closed   bool
}

func (b *responseBody) Read(p []byte) (int, error) {
	for len(b.pending) == 0 {
		switch {
		case b.err != nil:
			return 0, b.err
		case b.ended && b.declared >= 0 && b.received != b.declared:
			b.err = fmt.Errorf("oapgate: response body of %d bytes, Content-Length %d: %w", b.received, b.declared, io.ErrUnexpectedEOF)
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

func (b *responseBody) next() error {
	f, err := b.x.readFrame(false)
	var p []byte
	if err == nil {
		p, err = payload(&f, bodyInflatedBytesMax, bodyWindowBytesMax)
	}
	if err != nil {
		return fmt.Errorf("oapgate: response body: %w", remoteError(err))
	}
	b.received += int64(len(p))
	b.pending = p
	if f.Flags&oap.FlagEND != 0 {
		b.end()
	}
	return nil
}

// end notes the END frame and acknowledges it: the client stops reading
// (STOP_SENDING), which tells the node the whole response arrived.
func (b *responseBody) end() {
	b.ended = true
	b.x.st.CancelRead(StreamCodeDone)
}

// Close ends the exchange: the node is told the client reads no more
// (which acknowledges a response read to its END), and a request body
// still being sent is cut off.
func (b *responseBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	b.x.stop()
	select {
	case <-b.x.wrote:
		b.x.st.CancelRead(StreamCodeDone)
	default:
		b.x.cancel(StreamCodeCancelled)
	}
	return nil
}
