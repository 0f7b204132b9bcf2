package gateway

import (
	"container/list"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ron-network/ron/core/env"
)

// Connection limits of the HTTP listener (see "Hostile input" in doc.go).
// A connection costs the node a file descriptor, a goroutine and
// net/http's buffers even while idle, and a response in flight holds what
// its handler buffered (a streamed GET: its read-ahead window, up to
// StreamWindowMax chunks) for as long as the client lets its writes
// block. These bound both; the read-ahead budget (readahead.go) bounds
// what all streamed responses hold together.
const (
	// ConnsPerSourceDefault bounds the open connections from one source
	// address. It is four times quicnet.ConnsPerSourceDefault (64 QUIC
	// connections each carry many streams; an HTTP/1.1 connection carries
	// one request at a time, so a client, a NAT or a reverse proxy in
	// front of many users needs more), and loopback gets no exemption: a
	// local process is as able to exhaust descriptors as a remote one,
	// and 256 is above any concurrency rond's own tools and benchmarks use.
	ConnsPerSourceDefault = 256
	// ConnsMaxDefault bounds the open connections in all: four times
	// io/oapgate.ConnsDefault (1024), for the same reason, and well below
	// the descriptor limit rond runs with (the Go runtime raises the soft
	// limit to the hard one, commonly 20000 or more), so the disk and the
	// QUIC sockets always have descriptors left. At ConnsMaxDefault idle
	// connections net/http's buffers and goroutines cost about 100 MiB.
	ConnsMaxDefault = 4096
	// WriteStallTimeoutDefault: a write of response bytes that makes too
	// little progress for this long (writeProgressMin: the client stopped
	// reading and the socket's send buffer is full) fails, which ends the
	// response and closes the connection, releasing what the response
	// held. It is a progress bound, not a total: each write gets it
	// afresh, and again after each window that made progress, so a slow
	// client that keeps reading is never cut off.
	WriteStallTimeoutDefault = 30 * time.Second
)

// ConnLimits bound the HTTP listener's connections (Gateway.Listener).
// Zero fields take the defaults above.
type ConnLimits struct {
	PerSourceMax      int
	Max               int
	WriteStallTimeout time.Duration
	// NextHeaderTimeout bounds a keep-alive connection's next request
	// from its first byte (default ReadHeaderTimeoutDefault): net/http
	// waits for four bytes of it under IdleTimeout, and starts its
	// ReadHeaderTimeout only then, so one to three bytes held a
	// connection for the whole IdleTimeout (2 min).
	NextHeaderTimeout time.Duration
}

func (l ConnLimits) withDefaults() ConnLimits {
	if l.PerSourceMax <= 0 {
		l.PerSourceMax = ConnsPerSourceDefault
	}
	if l.Max <= 0 {
		l.Max = ConnsMaxDefault
	}
	if l.WriteStallTimeout <= 0 {
		l.WriteStallTimeout = WriteStallTimeoutDefault
	}
	if l.NextHeaderTimeout <= 0 {
		l.NextHeaderTimeout = ReadHeaderTimeoutDefault
	}
	return l
}

// Metrics of the listener's connections, and the shed reason of a
// response cut off by a stalled client.
const (
	MetricConnsOpen    = "gateway_conns_open"
	MetricConnsIdle    = "gateway_conns_idle"
	MetricConnsRefused = "gateway_conns_refused_total"
	MetricConnsEvicted = "gateway_conns_evicted_total"
	// Reasons of MetricConnsRefused.
	ConnsRefusedPerSource = "per_source" // PerSourceMax connections from that address are open
	ConnsRefusedTotal     = "total"      // Max connections are open and none is idle
	// ShedWriteStall counts, in omnigate_shed_total, the connections whose
	// response was cut off by WriteStallTimeout.
	ShedWriteStall = "write_stall"
)

var _ = env.Declare(
	env.MetricDef{Name: MetricConnsOpen, Kind: env.Gauge, Help: "Open HTTP connections of the gateway's listener."},
	env.MetricDef{Name: MetricConnsIdle, Kind: env.Gauge, Help: "HTTP connections of the gateway's listener waiting for a request: idle keep-alive ones, and new ones whose first request has not been read."},
	env.MetricDef{Name: MetricConnsRefused, Kind: env.Counter, Label: "reason",
		LabelValues: []string{ConnsRefusedPerSource, ConnsRefusedTotal},
		Help:        "HTTP connections closed at accept by the per-source or the total cap, by reason."},
	env.MetricDef{Name: MetricConnsEvicted, Kind: env.Counter,
		Help: "HTTP connections waiting for a request (idle, silent, or with an incomplete header) closed to make room for a new one at the total cap."},
)

// connTable counts a listener's open connections, per source and in all,
// and keeps its idle ones (net/http's ConnState, through NewServer) in
// the order they became idle, so that at the total cap the longest idle
// one makes room for a new connection.
type connTable struct {
	limits  ConnLimits
	metrics env.Metrics
	log     *slog.Logger

	// reads numbers the first bytes of requests (trackedConn.readSeq).
	reads atomic.Uint64

	mu        sync.Mutex
	open      int
	perSource map[netip.Addr]int
	idle      *list.List // of *trackedConn, longest idle first
}

func newConnTable(limits ConnLimits, metrics env.Metrics, log *slog.Logger) *connTable {
	metrics.Set(MetricConnsOpen, "", 0)
	metrics.Set(MetricConnsIdle, "", 0)
	return &connTable{limits: limits.withDefaults(), metrics: metrics, log: log, perSource: map[netip.Addr]int{}, idle: list.New()}
}

// sourceOf is the address a connection counts under (an IPv4-mapped IPv6
// address as IPv4); the zero Addr for a non-IP connection (one bucket).
func sourceOf(addr net.Addr) netip.Addr {
	if ta, ok := addr.(*net.TCPAddr); ok {
		if ap := ta.AddrPort(); ap.IsValid() {
			return ap.Addr().Unmap()
		}
	}
	return netip.Addr{}
}

// admit counts c, or returns the reason it is refused. At the total cap
// it closes the longest idle connection instead, if there is one.
func (t *connTable) admit(c net.Conn) (*trackedConn, string) {
	src := sourceOf(c.RemoteAddr())
	t.mu.Lock()
	if t.perSource[src] >= t.limits.PerSourceMax {
		t.mu.Unlock()
		return nil, ConnsRefusedPerSource
	}
	var victim *trackedConn
	if t.open >= t.limits.Max {
		// The longest waiting connection no byte of a request reached
		// (idle after a response, or new and silent); else the oldest
		// waiting one whose request's header is incomplete, new or kept
		// alive after a response (one byte sent and then silence must
		// not make a connection safe: sixteen sources of 256 such
		// connections would hold the whole table for ReadHeaderTimeout,
		// or IdleTimeout after a response, again and again). A request
		// whose header is complete is not waiting (StateActive) and is
		// never a victim; nor is one net/http refused with 431 while
		// its drain runs (envelopeConn.drainTooLarge: at most
		// refusedDrainTimeout plus net/http's 0.5 s before the close). Mid-header ones go in the order their partial
		// header began (readSeq), not the order they went idle: a client
		// kept alive for long that just started its next request is
		// younger, as a partial header, than an attacker's connection
		// that sent one byte at accept and nothing since.
		var oldest uint64
		for e := t.idle.Front(); e != nil; e = e.Next() {
			c := e.Value.(*trackedConn)
			if !c.reading.Load() {
				victim = c
				break
			}
			if seq := c.readSeq.Load(); victim == nil || seq < oldest {
				victim, oldest = c, seq
			}
		}
		if victim == nil {
			t.mu.Unlock()
			return nil, ConnsRefusedTotal
		}
		t.releaseLocked(victim)
	}
	tc := &trackedConn{Conn: c, table: t, source: src}
	t.open++
	t.perSource[src]++
	t.metrics.Set(MetricConnsOpen, "", float64(t.open))
	t.mu.Unlock()
	if victim != nil {
		// Its serving goroutine, blocked reading the next request, sees
		// the close and ends; a request that raced in is lost as with
		// http.Server's own idle timeout (clients retry on a reused
		// connection that closes before answering).
		_ = victim.Conn.Close()
		t.metrics.Add(MetricConnsEvicted, "", 1)
	}
	return tc, ""
}

// releaseLocked uncounts c, once.
func (t *connTable) releaseLocked(c *trackedConn) {
	if c.released {
		return
	}
	c.released = true
	if c.idleAt != nil {
		t.idle.Remove(c.idleAt)
		c.idleAt = nil
		t.metrics.Set(MetricConnsIdle, "", float64(t.idle.Len()))
	}
	t.open--
	if n := t.perSource[c.source] - 1; n > 0 {
		t.perSource[c.source] = n
	} else {
		delete(t.perSource, c.source)
	}
	t.metrics.Set(MetricConnsOpen, "", float64(t.open))
}

// setState records net/http's view of c: a connection waiting for a
// request (idle after a response, or new) may be evicted, first one no
// byte of a request reached (net/http calls a connection active only once
// its request's header is complete), then a new one mid-header.
func (t *connTable) setState(c *trackedConn, s http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.released {
		return
	}
	waiting := s == http.StateIdle || s == http.StateNew
	c.keptAlive.Store(s == http.StateIdle)
	switch {
	case waiting && c.idleAt == nil:
		if s == http.StateIdle {
			c.reading.Store(false)
		}
		c.idleAt = t.idle.PushBack(c)
	case !waiting && c.idleAt != nil:
		t.idle.Remove(c.idleAt)
		c.idleAt = nil
	default:
		return
	}
	t.metrics.Set(MetricConnsIdle, "", float64(t.idle.Len()))
}

// trackedConn is one counted connection: it is uncounted when closed
// (whoever closes it: net/http, a hijacker, an eviction), and it bounds
// every write by the table's WriteStallTimeout.
type trackedConn struct {
	net.Conn
	table  *connTable
	source netip.Addr
	// released and idleAt are guarded by table.mu.
	released bool
	idleAt   *list.Element // in table.idle: idle, or new (waiting for a request)
	// reading: bytes arrived since net/http last called c idle.
	reading atomic.Bool
	// readSeq orders the partial headers: table.reads when the first
	// byte of c's current request arrived (stored before reading is set,
	// so it is current whenever reading is true).
	readSeq atomic.Uint64
	// keptAlive: net/http called c idle after a response and has not
	// called it active since (it waits for the next request).
	keptAlive atomic.Bool
	stalled   sync.Once
}

// Read notes the first byte of a request, and its order among the
// partial headers (readSeq). On a kept-alive connection
// whose first read brings fewer than four bytes it also bounds the rest
// of that request's header by NextHeaderTimeout: net/http's Peek(4)
// waits for four under IdleTimeout, and sets its own ReadHeaderTimeout
// deadline only once they are in, so this deadline (set by net/http's
// own goroutine, in its Read, after its idle deadline) is replaced by
// net/http's as soon as the request proceeds.
func (c *trackedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && !c.reading.Load() {
		c.readSeq.Store(c.table.reads.Add(1))
		c.reading.Store(true)
		if n < 4 && c.keptAlive.Load() {
			_ = c.SetReadDeadline(time.Now().Add(c.table.limits.NextHeaderTimeout))
		}
	}
	return n, err
}

func (c *trackedConn) Close() error {
	c.table.mu.Lock()
	c.table.releaseLocked(c)
	c.table.mu.Unlock()
	return c.Conn.Close()
}

// Write bounds the progress of a write: each WriteStallTimeout spent in
// it must see at least writeProgressMin bytes (or the rest of b) taken
// by the kernel, else it fails and the response with it. The deadline is
// set afresh for each write and after each window that made progress, so
// a slow reader is never cut off for the length of its response. A
// window that took some bytes but fewer than writeProgressMin is a stall
// too: a client that never reads can still get a kernel to take a few
// bytes now and then (seen with a 4 KiB receive buffer on loopback).
func (c *trackedConn) Write(b []byte) (int, error) {
	stall := c.table.limits.WriteStallTimeout
	written := 0
	for {
		_ = c.SetWriteDeadline(time.Now().Add(stall))
		n, err := c.Conn.Write(b[written:])
		written += n
		if written == len(b) {
			return written, nil
		}
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return written, err
		}
		if n < writeProgressMin {
			c.stalled.Do(func() {
				c.table.metrics.Add(MetricShed, ShedWriteStall, 1)
				c.table.log.Debug("gateway: closing a connection whose client stopped reading",
					"remote", c.RemoteAddr().String(), "stall", stall, "written", written)
			})
			return written, err
		}
	}
}

// writeProgressMin is the progress a write must make per
// WriteStallTimeout: with the default that is a reader of about 2 KiB/s
// (the kernel takes a slow reader's bytes in pieces of a third of the
// send buffer, so a reader at that rate does get this many taken).
const writeProgressMin = 64 << 10

// refusal503 is written to a connection refused at accept, before it is
// closed: a client that sent its request sees why. The envelope's reason
// is the cap that refused it (MetricConnsRefused's label), so a client or
// a load balancer can tell its own address's cap from the node's.
var refusal503 = map[string][]byte{
	ConnsRefusedPerSource: refusalResponse(ConnsRefusedPerSource, "too many connections from this address (the per-source cap)"),
	ConnsRefusedTotal:     refusalResponse(ConnsRefusedTotal, "too many connections (the node's cap, none idle)"),
}

func refusalResponse(reason, msg string) []byte {
	body, _ := json.Marshal(Envelope{Code: CodeOverloaded, Message: msg, Retryable: true, CorrID: "conn-refused", Reason: reason})
	body = append(body, '\n')
	return fmt.Appendf(nil, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"+
		"Connection: close\r\nRetry-After: 1\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}

// refuseConn answers c 503 naming reason (a MetricConnsRefused reason)
// without waiting (a new socket's send buffer is empty, so the write does
// not block) and closes it.
func refuseConn(c net.Conn, reason string) {
	_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = c.Write(refusal503[reason])
	_ = c.Close()
}
