package oapgate

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
	"github.com/ron-network/ron/io/quicnet"
)

// ALPN is the application protocol of the client endpoint. Peers speak
// quicnet.ALPN ("ron/1") on their own socket; the two never mix.
const ALPN = "oap/1"

// Defaults applied to zero Config fields, and fixed limits.
const (
	IdleTimeoutDefault      = 30 * time.Second
	HandshakeTimeoutDefault = 5 * time.Second
	// HelloTimeoutDefault bounds the wait for a new connection's HELLO: a
	// client sends it at once, so a connection still silent after this is
	// closed (transport_handshake_fail_total{reason="hello_timeout"})
	// before idle connections can pile up to ConnsMax.
	HelloTimeoutDefault = 3 * time.Second
	// HelloPendingPerSourceMax bounds the connections from one source
	// (quicnet.SourceKeyOf) that have not finished their HELLO: when one
	// more arrives, the OLDEST of them is closed (codeHelloEvicted,
	// transport_handshake_fail_total{reason="hello_pending"}) and the new
	// one is served. quic-go buffers what such a connection sends on
	// streams the node has not accepted yet, up to the connection's
	// receive window, so this bounds that memory per source (8 x
	// serverConnWindowBytes). A client finishes its HELLO in one round
	// trip after the handshake, so it is rarely the oldest: silent
	// connections held by someone else behind the same address (NAT, an
	// IPv6 /64) do not lock it out, as refusing the newest did.
	HelloPendingPerSourceMax = 8
	// FrameTimeoutDefault bounds the wait for the next frame of a request
	// body, and for the client to take the next frame of a response, so a
	// stalled client cannot hold a gateway admission slot for ever.
	FrameTimeoutDefault = 30 * time.Second
	// StartTimeoutDefault bounds the wait for a request's whole START
	// frame, from the stream's accept: a client sends it at once (a
	// token and a head, at most StartFrameBytesMax), so a stream that has
	// not within this is cancelled. It is what a stream that sends
	// nothing, or a START that never completes, can hold its goroutine
	// and its charge for (FrameTimeout, 30 s, let 16 sources hold the
	// node's pending START bound with headers alone).
	StartTimeoutDefault = 5 * time.Second
	// ConnIdleTimeoutDefault closes a connection with no request stream
	// for this long (codeIdle), as the HTTP listener closes a keep-alive
	// connection after its IdleTimeout (2 min). QUIC's own idle timeout
	// (IdleTimeout) never does: the client's keep-alive PINGs reset it.
	ConnIdleTimeoutDefault = 2 * time.Minute
	// ConnsDefault is Config.ConnsMax when zero.
	ConnsDefault = 1024
	// ConnsMaxLimit is the largest Config.ConnsMax: the choice of a
	// connection to evict scans them all under the server's lock, which
	// every request start and end takes, so a larger bound would stall
	// requests at each eviction (and a node is not meant to hold more
	// client connections than this anyway).
	ConnsMaxLimit = 65536
	// handshakeRoomDivisor: beyond ConnsMax established connections, the
	// endpoint holds at most ConnsMax/handshakeRoomDivisor (at least one)
	// more, handshakes included (quicnet.SourceGuard.SetConnsMax), so
	// pending handshakes are bounded in total too, not only per source.
	handshakeRoomDivisor = 4
	// StreamsPerConnMax is how many requests one connection may have in
	// flight: the HELLO reply's max_inflight, enforced by QUIC's stream
	// limit (a client's next stream waits for a free one).
	StreamsPerConnMax = oap.HelloInflightDefault
	// BodyFrameBytes is the body payload of one frame, both ways: one
	// storage chunk, so a gateway write of a chunk is one frame.
	BodyFrameBytes = 256 << 10
	// FlagsSupported are the flags a client may use (the HELLO reply's
	// flags_supported); any other flag on a request is bad_flags.
	FlagsSupported = oap.FlagREQ | oap.FlagRESP | oap.FlagSTART | oap.FlagEND | oap.FlagCOMP
	// closeReasonBytesMax bounds the reason phrase of a CONNECTION_CLOSE.
	closeReasonBytesMax = 200
	// streamWindowBytes and connWindowBytes are the client's initial
	// QUIC receive windows: with quic-go's defaults (512 KiB) a body of
	// 256 KiB frames kept stalling on window updates (about 70 MB/s for a
	// 1 MiB PUT on loopback, 114 MB/s with these). quic-go grows them
	// only up to its 6 MiB and 15 MiB maxima, which bound memory.
	streamWindowBytes = 2 << 20
	connWindowBytes   = 4 << 20
	// serverStreamWindowBytes and serverConnWindowBytes are the node's
	// initial receive windows, smaller: quic-go buffers what a client
	// sends on streams the node has not accepted yet, up to the
	// connection's window, and the node accepts request streams only
	// after the HELLO (up to HelloTimeout). With 4 MiB, connections from
	// one address that sent no HELLO but filled their streams took a
	// node from 62 to 663 MB of RSS. A connection's window grows (quic-go
	// autotuning, up to serverStreamWindowMax and serverConnWindowMax)
	// only as the node reads, so only after the HELLO.
	serverStreamWindowBytes = 512 << 10
	serverConnWindowBytes   = 1 << 20
	serverStreamWindowMax   = 6 << 20
	serverConnWindowMax     = 15 << 20
)

// Metric names. oap_rejects_total{reason} is core/node's declaration, so
// that the client endpoint and the peer transport count under one name.
const (
	MetricOAPRejects   = node.MetricOAPRejects
	MetricConnections  = "oapgate_connections"
	MetricConnsRefused = "oapgate_conns_refused_total"
	// MetricConnsEvicted counts the idle connections closed (codeEvicted)
	// to make room for a new one at ConnsMax.
	MetricConnsEvicted = "oapgate_conns_evicted_total"
	// MetricConnsIdleClosed counts the connections closed (codeIdle)
	// after ConnIdleTimeout with no request stream.
	MetricConnsIdleClosed = "oapgate_conns_idle_closed_total"
	// MetricStreamsRefused counts request streams refused unserved
	// (StreamCodeBusy), by reason: before their START frame was read, by
	// the bound they would have passed (RefusedStartConn,
	// RefusedStartSource, RefusedStartNode, RefusedStartStreams), or with
	// it read, because the connection was chosen for eviction or for its
	// idle close (RefusedConnClosing).
	MetricStreamsRefused = "oapgate_streams_refused_total"
)

// RefusedConnClosing is the oapgate_streams_refused_total reason of a
// request whose START completed after its connection was chosen for
// eviction at ConnsMax or for its idle close: refused unserved, so the
// close cuts no request that ran after that choice.
const RefusedConnClosing = "conn_closing"

// Reasons of an eviction, in its log line: the victim had no request
// stream at all, or only streams with no request in flight (waiting for
// their START or for the acknowledgement of a response).
const (
	evictedQuiet     = "quiet"
	evictedNoRequest = "no_request_in_flight"
)

var _ = env.Declare(
	env.MetricDef{Name: MetricConnections, Kind: env.Gauge,
		Help: "Client connections to the OAP/1 endpoint."},
	env.MetricDef{Name: MetricConnsRefused, Kind: env.Counter,
		Help: "Client connections refused because ConnsMax were open and every one had a request in flight."},
	env.MetricDef{Name: MetricConnsEvicted, Kind: env.Counter,
		Help: "Idle client connections (no request in flight, the longest since their last one) closed to make room for a new one at ConnsMax."},
	env.MetricDef{Name: MetricConnsIdleClosed, Kind: env.Counter,
		Help: "Client connections closed after ConnIdleTimeout with no request stream (keep-alive PINGs alone do not keep a connection)."},
	env.MetricDef{Name: MetricStreamsRefused, Kind: env.Counter, Label: "reason",
		Help:        "Client request streams refused unserved (busy): the START frames pending per connection, per source or in all, or the streams from the source waiting for theirs, were at their bound, or the connection was being closed (evicted or idle).",
		LabelValues: []string{RefusedStartConn, RefusedStartSource, RefusedStartNode, RefusedStartStreams, RefusedConnClosing}},
)

// Config configures a Server. Zero durations and limits take the defaults.
type Config struct {
	// Key is the node key: the server presents the node's self-signed
	// certificate (quicnet.SelfSignedCertificate), so clients can pin its
	// NodeID.
	Key        ed25519.PrivateKey
	ListenAddr string // "127.0.0.1:4434"; port 0 picks one
	// Handler serves every request (the node's *gateway.Gateway). It sees
	// an ordinary *http.Request whose Authorization header carries the
	// START frame's capability bytes.
	Handler http.Handler
	// UA is the ua of the HELLO reply ("rond/<version>").
	UA string
	// Metrics receives oap_rejects_total and the oapgate_* metrics; it is
	// called from many goroutines at once. Nil discards.
	Metrics env.Metrics
	Logger  *slog.Logger // nil discards

	IdleTimeout, HandshakeTimeout, HelloTimeout, FrameTimeout time.Duration
	// StartTimeout bounds the wait for a request's whole START frame
	// (StartTimeoutDefault when zero).
	StartTimeout time.Duration
	// ConnIdleTimeout closes a connection that has had no request stream
	// for this long, since its accept or its last stream's end (codeIdle,
	// oapgate_conns_idle_closed_total; ConnIdleTimeoutDefault when zero).
	// IdleTimeout cannot: it is QUIC's, and the client's keep-alive PINGs
	// reset it. Set, it may not be below HelloTimeout or StartTimeout
	// (ErrConfig); the default rises to the larger of them.
	ConnIdleTimeout time.Duration
	// ConnsMax bounds open client connections. At it, a new one takes
	// the place of the connection idle longest (no request in flight,
	// the longest since its last one began or ended, or since its
	// accept), which is closed (codeEvicted) and counted in
	// oapgate_conns_evicted_total; when every one has a request in
	// flight the new one is closed at once and counted in
	// oapgate_conns_refused_total (and
	// transport_handshake_fail_total{reason="conns_full"}). Connections
	// still in handshake are bounded too: with the established ones, at
	// ConnsMax plus a quarter (handshakes_full beyond it).
	ConnsMax int
	// ConnsPerSourceMax bounds the connections from one source address,
	// handshakes included (0: quicnet.ConnsPerSourceDefault).
	ConnsPerSourceMax int
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("oapgate: bad config")

func (cfg Config) withDefaults() (Config, error) {
	switch {
	case len(cfg.Key) != ed25519.PrivateKeySize:
		return cfg, fmt.Errorf("%w: Key is %d bytes, want an Ed25519 private key", ErrConfig, len(cfg.Key))
	case cfg.ListenAddr == "":
		return cfg, fmt.Errorf("%w: ListenAddr is empty", ErrConfig)
	case cfg.Handler == nil:
		return cfg, fmt.Errorf("%w: Handler is nil", ErrConfig)
	case cfg.ConnsMax < 0:
		return cfg, fmt.Errorf("%w: ConnsMax is negative (%d)", ErrConfig, cfg.ConnsMax)
	case cfg.ConnsMax > ConnsMaxLimit:
		return cfg, fmt.Errorf("%w: ConnsMax %d is above ConnsMaxLimit (%d)", ErrConfig, cfg.ConnsMax, ConnsMaxLimit)
	case cfg.ConnsPerSourceMax < 0:
		return cfg, fmt.Errorf("%w: ConnsPerSourceMax is negative (%d)", ErrConfig, cfg.ConnsPerSourceMax)
	}
	if err := oap.LocalHelloReply(cfg.UA).Validate(); err != nil {
		return cfg, fmt.Errorf("%w: UA: %v", ErrConfig, err)
	}
	durations := []struct {
		name  string
		value *time.Duration
		def   time.Duration
	}{
		{"IdleTimeout", &cfg.IdleTimeout, IdleTimeoutDefault},
		{"HandshakeTimeout", &cfg.HandshakeTimeout, HandshakeTimeoutDefault},
		{"HelloTimeout", &cfg.HelloTimeout, HelloTimeoutDefault},
		{"FrameTimeout", &cfg.FrameTimeout, FrameTimeoutDefault},
		{"StartTimeout", &cfg.StartTimeout, StartTimeoutDefault},
		{"ConnIdleTimeout", &cfg.ConnIdleTimeout, ConnIdleTimeoutDefault},
	}
	idleSet := cfg.ConnIdleTimeout != 0
	for _, d := range durations {
		if *d.value < 0 {
			return cfg, fmt.Errorf("%w: %s is negative (%v)", ErrConfig, d.name, *d.value)
		}
		if *d.value == 0 {
			*d.value = d.def
		}
	}
	// The idle close runs from the accept: below either bound it would
	// close connections still in their HELLO, or waiting for a request's
	// START, as idle. The default rises to them; a value set is refused.
	if !idleSet {
		cfg.ConnIdleTimeout = max(cfg.ConnIdleTimeout, cfg.HelloTimeout, cfg.StartTimeout)
	}
	for _, d := range durations {
		if (d.name == "HelloTimeout" || d.name == "StartTimeout") && cfg.ConnIdleTimeout < *d.value {
			return cfg, fmt.Errorf("%w: ConnIdleTimeout (%v) is below %s (%v): it would close connections still in their HELLO or START as idle", ErrConfig, cfg.ConnIdleTimeout, d.name, *d.value)
		}
	}
	if cfg.ConnsMax == 0 {
		cfg.ConnsMax = ConnsDefault
	}
	if cfg.Metrics == nil {
		cfg.Metrics = discardMetrics{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}

type discardMetrics struct{}

func (discardMetrics) Add(string, string, float64)     {}
func (discardMetrics) Set(string, string, float64)     {}
func (discardMetrics) Observe(string, string, float64) {}

// Server is the OAP/1 client endpoint of one node. Its methods are safe
// for concurrent use.
type Server struct {
	cfg     Config
	id      proto.NodeID
	log     *slog.Logger
	metrics env.Metrics

	udp   *net.UDPConn
	qt    *quic.Transport
	ln    *quic.Listener
	guard *quicnet.SourceGuard // per-source limits, source-address validation, refusal counts
	// starts bounds the START frames being received (pending.go).
	starts *startBudget

	// acceptCtx ends when the server stops taking connections and
	// streams (Shutdown or Close); ctx ends when it closes.
	acceptCtx     context.Context
	stopAccepting context.CancelFunc
	ctx           context.Context
	cancel        context.CancelFunc
	// acceptors are the accept loop and one goroutine per connection
	// (HELLO, then accepting its streams); streams are the requests in
	// flight. streams.Add runs only on acceptors, so waiting for the
	// acceptors first makes streams.Wait safe.
	acceptors sync.WaitGroup
	streams   sync.WaitGroup
	counter   sync.WaitGroup // CountNonQUIC

	mu     sync.Mutex
	closed bool
	conns  map[*quic.Conn]*connState
	// activity numbers the moments connections became idle or busy
	// (connState.last), so the longest idle one is the smallest.
	activity uint64
	// helloing lists, per source and oldest first, the connections whose
	// HELLO has not finished (HelloPendingPerSourceMax).
	helloing map[netip.Addr][]*quic.Conn
	// evicting, when set (tests only), is called with the connection
	// chosen for eviction before it is closed.
	evicting func(*quic.Conn)
	// idleClosers are the goroutines of idle closes (connState.idle's
	// callbacks) closing their connection; Close waits for them. Added
	// to only under mu and while !closed, so never after Close's Wait
	// began.
	idleClosers sync.WaitGroup
	// evictLog paces the eviction lines: an attacker churning
	// connections causes one eviction per connection.
	evictLog *quicnet.LogPacer
}

// Listen binds cfg.ListenAddr (UDP) and starts serving.
func Listen(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	cert, err := quicnet.SelfSignedCertificate(cfg.Key)
	if err != nil {
		return nil, err
	}
	udpAddr, err := net.ResolveUDPAddr("udp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("oapgate: listen address %q: %w", cfg.ListenAddr, err)
	}
	udp, err := net.ListenUDP("udp", udpAddr)
	if err != nil {
		return nil, fmt.Errorf("oapgate: listen on %s: %w", cfg.ListenAddr, err)
	}
	s := &Server{cfg: cfg, id: proto.NodeIDFromPublicKey(cfg.Key.Public().(ed25519.PublicKey)),
		log: cfg.Logger, metrics: cfg.Metrics, udp: udp, conns: map[*quic.Conn]*connState{},
		helloing: map[netip.Addr][]*quic.Conn{}, starts: newStartBudget(), evictLog: quicnet.NewLogPacer()}
	s.acceptCtx, s.stopAccepting = context.WithCancel(context.Background())
	s.ctx, s.cancel = context.WithCancel(context.Background())
	quicnet.SilenceQuicGoBufferWarning()
	s.qt = &quic.Transport{Conn: udp, StatelessResetKey: quicnet.StatelessResetKey(cfg.Key, "ron/oapgate stateless reset key v1")}
	s.guard = quicnet.NewSourceGuard(quicnet.EndpointOAP, cfg.ConnsPerSourceMax, s.metrics)
	s.guard.SetLogger(s.log)
	s.guard.SetConnsMax(guardConnsMax(cfg.ConnsMax), 0)
	s.guard.Install(s.qt)
	tlsConf := serverTLS(cert)
	quicnet.CountWrongALPN(tlsConf, s.guard.Fail)
	s.ln, err = s.qt.Listen(tlsConf, s.quicConfig())
	if err != nil {
		s.stopAccepting()
		s.cancel()
		_ = s.qt.Close()
		_ = udp.Close()
		return nil, fmt.Errorf("oapgate: start QUIC listener: %w", err)
	}
	s.metrics.Set(MetricConnections, "", 0)
	s.acceptors.Add(1)
	go s.acceptLoop()
	s.counter.Add(1)
	go func() {
		defer s.counter.Done()
		quicnet.CountNonQUIC(s.ctx, s.qt, s.metrics)
	}()
	return s, nil
}

// guardConnsMax is the endpoint's bound on connections, handshakes
// included: connsMax established ones (track) plus room for handshakes.
// Beyond it an attempt is refused before quic-go allocates anything for
// it (transport_handshake_fail_total{reason="handshakes_full"}).
func guardConnsMax(connsMax int) int {
	return connsMax + max(connsMax/handshakeRoomDivisor, 1)
}

// serverTLS presents the node certificate and asks nothing of the client:
// a client is authorised per request by the token in its START frame,
// not by a certificate.
func serverTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{ALPN},
		MinVersion:   tls.VersionTLS13,
	}
}

// quicConfig admits StreamsPerConnMax request streams plus the HELLO
// stream, and no unidirectional streams.
func (s *Server) quicConfig() *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout:           s.cfg.HandshakeTimeout,
		MaxIdleTimeout:                 s.cfg.IdleTimeout,
		MaxIncomingStreams:             StreamsPerConnMax + 1,
		MaxIncomingUniStreams:          -1,
		InitialStreamReceiveWindow:     serverStreamWindowBytes,
		InitialConnectionReceiveWindow: serverConnWindowBytes,
		MaxStreamReceiveWindow:         serverStreamWindowMax,
		MaxConnectionReceiveWindow:     serverConnWindowMax,
	}
}

// Addr is the bound UDP address (useful with port 0).
func (s *Server) Addr() net.Addr { return s.udp.LocalAddr() }

// ID is the NodeID clients pin: BLAKE3 of the certificate key.
func (s *Server) ID() proto.NodeID { return s.id }

// Shutdown stops taking connections and requests, waits for the requests
// in flight to finish (or ctx to end), then closes. It returns ctx's
// error when the wait was cut short.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopAccepting()
	_ = s.ln.Close()
	drained := make(chan struct{})
	go func() {
		s.acceptors.Wait()
		s.streams.Wait()
		close(drained)
	}()
	var cut error
	select {
	case <-drained:
	case <-ctx.Done():
		cut = ctx.Err()
	}
	return errors.Join(cut, s.Close())
}

// Close closes every connection at once (requests in flight fail) and
// waits for every goroutine the server started. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := make([]*quic.Conn, 0, len(s.conns))
	for c, cs := range s.conns { // map order ok: every connection is closed, in any order
		conns = append(conns, c)
		cs.idle.Stop()
	}
	s.mu.Unlock()

	s.stopAccepting()
	s.cancel()
	errListener := s.ln.Close()
	for _, c := range conns {
		_ = c.CloseWithError(codeShutdown, "shutdown")
	}
	errTransport := s.qt.Close()
	errUDP := s.udp.Close()
	s.acceptors.Wait()
	s.streams.Wait()
	s.counter.Wait()
	s.idleClosers.Wait()
	s.metrics.Set(MetricConnections, "", 0)
	if err := errors.Join(errListener, errTransport, errUDP); err != nil {
		return fmt.Errorf("oapgate: close: %w", err)
	}
	return nil
}

func (s *Server) acceptLoop() {
	defer s.acceptors.Done()
	for {
		conn, err := s.ln.Accept(s.acceptCtx)
		if err != nil {
			return // Shutdown or Close
		}
		s.guard.Accepted(conn)
		if !s.track(conn) {
			continue
		}
		s.acceptors.Add(1)
		go s.serveConn(conn)
	}
}

// connState is what the server knows of one tracked connection, for
// choosing the one to evict at ConnsMax. Guarded by Server.mu.
type connState struct {
	// busy counts its requests in flight: from the whole START until
	// the response is written (not the wait for its acknowledgement).
	busy int
	// streams counts its request streams being served, in flight or
	// not: waiting for their START, or for the acknowledgement of a
	// response written.
	streams int
	// last is Server.activity when it was accepted or a request of it
	// began or ended, and lastAt the time (for the eviction's log line).
	last   uint64
	lastAt time.Time
	// quietAt is when streams last became 0 (or the accept). idle fires
	// ConnIdleTimeout after it: stopped while streams > 0, reset when
	// they return to 0. A fire that finds streams > 0 or a quietAt too
	// recent is a stale one (the callback had started before a Stop or
	// Reset) and does nothing.
	quietAt time.Time
	idle    *time.Timer
}

// track records conn. When ConnsMax are open it closes the connection
// idle longest instead (evictLocked), or refuses conn when every one has
// a request in flight or the server is closing.
func (s *Server) track(conn *quic.Conn) bool {
	s.mu.Lock()
	var victim *quic.Conn
	var evicted connState
	var reason string
	if !s.closed && len(s.conns) >= s.cfg.ConnsMax {
		victim, evicted, reason = s.evictLocked()
	}
	if s.closed || len(s.conns) >= s.cfg.ConnsMax {
		open := len(s.conns)
		s.mu.Unlock()
		s.metrics.Add(MetricConnsRefused, "", 1)
		s.guard.Fail(quicnet.FailConnsFull)
		_ = conn.CloseWithError(codeRefused, fmt.Sprintf("%d connections open, each with a request in flight", open))
		return false
	}
	s.activity++
	now := time.Now()
	s.conns[conn] = &connState{last: s.activity, lastAt: now, quietAt: now,
		idle: time.AfterFunc(s.cfg.ConnIdleTimeout, func() { s.idleExpired(conn) })}
	s.metrics.Set(MetricConnections, "", float64(len(s.conns)))
	evicting := s.evicting
	s.mu.Unlock()
	if victim != nil {
		// Its serveConn sees the close and forgets it (already done).
		// From here on a request of it is refused (requestBegin), not
		// served, so the close cuts no request short.
		s.metrics.Add(MetricConnsEvicted, "", 1)
		s.logEviction(victim, reason, now.Sub(evicted.lastAt))
		if evicting != nil {
			evicting(victim)
		}
		// Closed on a goroutine of its own (the close waits for
		// quic-go's loop), counted among the acceptors: track runs on
		// the accept loop, itself one, so Close's Wait covers it.
		s.acceptors.Add(1)
		go func() {
			defer s.acceptors.Done()
			_ = victim.CloseWithError(codeEvicted, "evicted: the endpoint is full and this connection was idle longest")
		}()
	}
	return true
}

// logEviction logs an eviction at info, paced (evictLog): a client
// whose connection is closed under it should be explainable from the
// log, but one attacker connection per eviction must not flood it.
func (s *Server) logEviction(victim *quic.Conn, reason string, idleFor time.Duration) {
	ok, suppressed := s.evictLog.Due(time.Now())
	if !ok {
		return
	}
	if suppressed > 0 {
		s.log.Info("oapgate: eviction lines suppressed", "suppressed", suppressed)
	}
	s.log.Info("oapgate: connection evicted at ConnsMax", "remote", victim.RemoteAddr().String(), "reason", reason,
		"idle_for", idleFor.Round(time.Millisecond), "conns_max", s.cfg.ConnsMax)
}

// idleExpired closes conn (codeIdle) when it has had no request stream
// for ConnIdleTimeout; it is connState.idle's callback. Like an eviction
// it forgets conn first, so a request whose START completes from then on
// is refused (requestBegin), not cut by the close.
func (s *Server) idleExpired(conn *quic.Conn) {
	s.mu.Lock()
	cs := s.conns[conn]
	if s.closed || cs == nil || cs.streams != 0 || time.Since(cs.quietAt) < s.cfg.ConnIdleTimeout {
		s.mu.Unlock()
		return // closing, forgotten, busy again, or a stale fire
	}
	delete(s.conns, conn)
	s.metrics.Set(MetricConnections, "", float64(len(s.conns)))
	s.idleClosers.Add(1)
	s.mu.Unlock()
	defer s.idleClosers.Done()
	s.metrics.Add(MetricConnsIdleClosed, "", 1)
	s.log.Debug("oapgate: idle connection closed", "remote", conn.RemoteAddr().String(), "conn_idle_timeout", s.cfg.ConnIdleTimeout)
	_ = conn.CloseWithError(codeIdle, fmt.Sprintf("idle: no request for %v", s.cfg.ConnIdleTimeout))
}

// evictLocked forgets the connection idle longest and returns it for the
// caller to close, with its state and why it was chosen (evictedQuiet or
// evictedNoRequest), or nil when every connection has a request in flight.
// It chooses first among the quiet connections, with no request stream
// at all: one waiting for its START, or for the acknowledgement of a
// response written, counts as idle, but closing it would lose that
// response (the client would not know whether its write was applied).
// Only when none is quiet does it choose among those with no request in
// flight, so that connections holding streams cannot lock every new
// client out. A connection still in its HELLO counts as idle since its
// accept. ConnsMax is at most ConnsMaxLimit and this runs only at it, so
// a scan will do.
func (s *Server) evictLocked() (*quic.Conn, connState, string) {
	var quiet, idle *quic.Conn
	var quietLast, idleLast uint64
	for c, cs := range s.conns { // map order ok: the smallest last is unique
		if cs.busy != 0 {
			continue
		}
		if idle == nil || cs.last < idleLast {
			idle, idleLast = c, cs.last
		}
		if cs.streams == 0 && (quiet == nil || cs.last < quietLast) {
			quiet, quietLast = c, cs.last
		}
	}
	victim, reason := idle, evictedNoRequest
	if quiet != nil {
		victim, reason = quiet, evictedQuiet
	}
	if victim == nil {
		return nil, connState{}, ""
	}
	cs := s.conns[victim]
	cs.idle.Stop()
	delete(s.conns, victim)
	return victim, *cs, reason
}

// requestBegin and requestEnd bracket a request of conn in flight.
// requestBegin reports whether conn is still tracked: once it was chosen
// for eviction (or forgotten) the request must not be served.
func (s *Server) requestBegin(conn *quic.Conn) bool { return s.mark(conn, 1, 0, true) }
func (s *Server) requestEnd(conn *quic.Conn)        { s.mark(conn, -1, 0, true) }

// streamBegin and streamEnd bracket a request stream of conn being
// served (connState.streams).
func (s *Server) streamBegin(conn *quic.Conn) { s.mark(conn, 0, 1, false) }
func (s *Server) streamEnd(conn *quic.Conn)   { s.mark(conn, 0, -1, false) }

// mark adds to conn's counts, and with touch makes it the latest active,
// when conn is tracked, and reports whether it is.
func (s *Server) mark(conn *quic.Conn, busy, streams int, touch bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.conns[conn]
	if cs == nil { // evicted or forgotten
		return false
	}
	cs.busy += busy
	cs.streams += streams
	switch {
	case streams > 0 && cs.streams == streams:
		cs.idle.Stop() // no longer quiet
	case streams < 0 && cs.streams == 0:
		cs.quietAt = time.Now()
		cs.idle.Reset(s.cfg.ConnIdleTimeout)
	}
	if touch {
		s.activity++
		cs.last = s.activity
		cs.lastAt = time.Now()
	}
	return true
}

// forget removes conn from the connections (a no-op when it was evicted).
// serveConn calls it once conn has ended, on every path but Shutdown's.
func (s *Server) forget(conn *quic.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cs := s.conns[conn]; cs != nil {
		cs.idle.Stop()
	}
	delete(s.conns, conn)
	s.metrics.Set(MetricConnections, "", float64(len(s.conns)))
}

// serveConn runs the HELLO exchange, then starts one goroutine per request
// stream until the connection ends or the server stops accepting. A
// connection that ends by itself is forgotten once its context is done;
// one still open at Shutdown keeps serving its requests in flight until
// Close.
func (s *Server) serveConn(conn *quic.Conn) {
	defer s.acceptors.Done()
	source := quicnet.SourceKeyOf(conn.RemoteAddr())
	s.helloBegin(source, conn)
	err := s.hello(conn)
	s.helloEnd(source, conn)
	if err != nil {
		switch {
		case oap.ReasonOf(err) == oap.ReasonBadHello:
			s.reject(err, "remote", conn.RemoteAddr().String())
			s.guard.Fail(helloFailReason(err))
			_ = conn.CloseWithError(codeBadHello, truncate(err.Error(), closeReasonBytesMax))
		case conn.Context().Err() == nil:
			// The exchange broke off with the connection still open (the
			// client reset its HELLO stream, the server is stopping). A
			// connection nobody serves must not stay open: its client
			// would wait on its requests for ever.
			_ = conn.CloseWithError(codeHelloLost, truncate("HELLO: "+err.Error(), closeReasonBytesMax))
		}
		s.forget(conn)
		return
	}
	cs := &connStarts{source: source}
	for {
		st, err := conn.AcceptStream(s.acceptCtx)
		if err != nil {
			if s.acceptCtx.Err() != nil {
				return // Shutdown or Close: Close closes it
			}
			// The connection is closing: quic-go fails its streams
			// before it cancels its context, so that may still be
			// undone. Waiting for it (CloseWithError waits, and adds
			// nothing to a close under way) keeps the count in step
			// with transport_inbound_connections; checking the context
			// instead left a connection that failed in that gap counted
			// for ever, and 1024 of them refused every client.
			_ = conn.CloseWithError(codeShutdown, "closing")
			s.forget(conn)
			return
		}
		if !s.starts.enter(source) {
			s.metrics.Add(MetricStreamsRefused, RefusedStartStreams, 1)
			st.CancelRead(StreamCodeBusy)
			st.CancelWrite(StreamCodeBusy)
			continue
		}
		s.streams.Add(1)
		go s.serveStream(conn, st, cs)
	}
}

// helloBegin lists conn, from source, as in its HELLO. When
// HelloPendingPerSourceMax from source already are, it closes the oldest
// of them (codeHelloEvicted) to make room: its own serveConn then sees
// the HELLO fail with the connection closed and forgets it.
func (s *Server) helloBegin(source netip.Addr, conn *quic.Conn) {
	s.mu.Lock()
	pending := s.helloing[source]
	var closing []*quic.Conn
	for len(pending) >= HelloPendingPerSourceMax {
		closing = append(closing, pending[0])
		pending = pending[1:]
	}
	s.helloing[source] = append(pending, conn)
	s.mu.Unlock()
	// Closed outside the lock: a close waits for quic-go's loop, and
	// every request start and end takes the lock.
	for _, oldest := range closing {
		s.guard.Fail(FailHelloPending)
		_ = oldest.CloseWithError(codeHelloEvicted, fmt.Sprintf("%d newer connections from this source are in their HELLO", HelloPendingPerSourceMax))
	}
}

// helloEnd lists conn, from source, out of its HELLO (helloBegin may have
// done so already, closing it).
func (s *Server) helloEnd(source netip.Addr, conn *quic.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pending := s.helloing[source]
	for i, c := range pending {
		if c == conn {
			pending = append(pending[:i:i], pending[i+1:]...)
			break
		}
	}
	if len(pending) == 0 {
		delete(s.helloing, source)
		return
	}
	s.helloing[source] = pending
}

// hello reads the client's HELLO from its first stream and answers it. An
// error whose reason is bad_hello is the client's fault; any other means
// the connection or the server went away first.
func (s *Server) hello(conn *quic.Conn) error {
	ctx, cancel := context.WithTimeout(s.acceptCtx, s.cfg.HelloTimeout)
	defer cancel()
	st, err := conn.AcceptStream(ctx)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && conn.Context().Err() == nil {
			return helloTimeoutError{&oap.Error{Reason: oap.ReasonBadHello, Detail: fmt.Sprintf("no HELLO stream within %v", s.cfg.HelloTimeout)}}
		}
		return err
	}
	defer st.CancelRead(StreamCodeDone)
	_ = st.SetDeadline(time.Now().Add(s.cfg.HelloTimeout))
	f, _, err := oap.ReadFrameLimit(st, nil, oap.HelloFrameBytesMax)
	if err != nil {
		if conn.Context().Err() != nil || connClosed(err) {
			return err // not the client's HELLO: the connection went away first
		}
		return &oap.Error{Reason: oap.ReasonBadHello, Detail: fmt.Sprintf("reading the HELLO frame: %v", err)}
	}
	if _, err := oap.ParseHelloRequestFrame(&f); err != nil {
		return &oap.Error{Reason: oap.ReasonBadHello, Detail: err.Error()}
	}
	reply, err := oap.HelloReplyFrame(&f, s.helloReply())
	if err != nil {
		panic(fmt.Sprintf("oapgate: own HELLO reply invalid: %v", err)) // our constants: a bug
	}
	if _, err := st.Write(oap.MustEncode(&reply)); err != nil {
		return err
	}
	// The exchange is complete once the reply is written. A client that
	// has read it stops the stream (STOP_SENDING, its "done"), which can
	// reach this side before the FIN and make Close fail: no failure.
	// (Counting that as one left the connection open and unserved, and a
	// client's first request on it waited for ever.)
	_ = st.Close()
	return nil
}

// connClosed reports whether err, from a stream, is its connection's
// close: quic-go fails the streams with it before the connection's
// context ends, so the context alone does not tell a client that closed
// right after its HELLO from one that sent a bad one.
func connClosed(err error) bool {
	var (
		appErr   *quic.ApplicationError
		transErr *quic.TransportError
		idleErr  *quic.IdleTimeoutError
		resetErr *quic.StatelessResetError
	)
	return errors.As(err, &appErr) || errors.As(err, &transErr) || errors.As(err, &idleErr) || errors.As(err, &resetErr)
}

// Reasons of transport_handshake_fail_total{reason} for a connection
// closed before its HELLO completed.
const (
	FailHelloTimeout = "hello_timeout" // no HELLO stream within HelloTimeout
	FailBadHello     = "bad_hello"     // a HELLO that does not parse, or arrives too slowly
	FailHelloPending = "hello_pending" // closed in its HELLO, the oldest of HelloPendingPerSourceMax + 1 from its source
)

// helloTimeoutError is the bad_hello of a connection that opened no
// stream in time.
type helloTimeoutError struct{ err *oap.Error }

func (e helloTimeoutError) Error() string { return e.err.Error() }
func (e helloTimeoutError) Unwrap() error { return e.err }

func helloFailReason(err error) string {
	if errors.As(err, new(helloTimeoutError)) {
		return FailHelloTimeout
	}
	return FailBadHello
}

// helloReply advertises this endpoint's limits: OAP/1's frame cap and
// version, the streams a connection may have in flight and the flags a
// request may use.
func (s *Server) helloReply() oap.HelloReply {
	reply := oap.LocalHelloReply(s.cfg.UA)
	reply.MaxInflight = StreamsPerConnMax
	reply.FlagsSupported = FlagsSupported
	return reply
}

// reject counts err under its reason (oap_rejects_total) and logs it.
func (s *Server) reject(err error, args ...any) {
	reason := oap.ReasonOf(err)
	s.metrics.Add(MetricOAPRejects, string(reason), 1)
	s.log.Debug("oapgate: rejected", append([]any{"reason", string(reason), "err", err}, args...)...)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
