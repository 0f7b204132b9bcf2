package oapgate_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/ron-network/ron/core/proto/oap"
	"github.com/ron-network/ron/io/oapgate"
	"github.com/ron-network/ron/io/quicnet"
)

// peakRecorder is a recorder that also keeps each gauge's highest value.
type peakRecorder struct {
	recorder
	peakMu sync.Mutex
	peaks  map[string]float64
}

func newPeakRecorder() *peakRecorder {
	return &peakRecorder{recorder: recorder{values: map[string]float64{}}, peaks: map[string]float64{}}
}

func (r *peakRecorder) Set(name, label string, value float64) {
	r.recorder.Set(name, label, value)
	r.peakMu.Lock()
	defer r.peakMu.Unlock()
	r.peaks[name+"{"+label+"}"] = max(r.peaks[name+"{"+label+"}"], value)
}

func (r *peakRecorder) peak(name, label string) float64 {
	r.peakMu.Lock()
	defer r.peakMu.Unlock()
	return r.peaks[name+"{"+label+"}"]
}

// guardedServer is an OAP/1 endpoint in front of cfg.Handler or, when
// nil, a handler that answers 204, with small connection limits.
func guardedServer(t *testing.T, cfg oapgate.Config) (*oapgate.Server, *peakRecorder) {
	t.Helper()
	metrics := newPeakRecorder()
	cfg.Key = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{4}, 32))
	cfg.ListenAddr = "127.0.0.1:0"
	if cfg.Handler == nil {
		cfg.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	}
	cfg.Metrics = metrics
	srv, err := oapgate.Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv, metrics
}

// dialFrom dials addr over QUIC from the loopback address source (an
// attacker on 127.0.0.2 is another source than a client on 127.0.0.1).
func dialFrom(t *testing.T, source, addr string, alpn string) (*quic.Conn, error) {
	t.Helper()
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(source)})
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: udp}
	t.Cleanup(func() { _ = tr.Close(); _ = udp.Close() })
	raddr, _ := net.ResolveUDPAddr("udp", addr)
	ctx, cancel := context.WithTimeout(context.Background(), readyWait)
	defer cancel()
	return tr.Dial(ctx, raddr, &tls.Config{NextProtos: []string{alpn}, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13},
		&quic.Config{HandshakeIdleTimeout: 5 * time.Second})
}

// legitimateRequest runs a HELLO and one request from 127.0.0.1 with the
// package's client.
func legitimateRequest(t *testing.T, srv *oapgate.Server) {
	t.Helper()
	client, err := oapgate.NewClient(srv.Addr().String(), oapgate.ClientConfig{NodeID: srv.ID(), UA: "legit"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	req, _ := http.NewRequest("GET", "http://node/healthz", nil)
	resp, err := (&http.Client{Transport: client, Timeout: readyWait}).Do(req)
	if err != nil {
		t.Fatalf("a legitimate client is not served: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("a legitimate client got %d", resp.StatusCode)
	}
}

// TestIdleConnectionsCannotLockOutClients: connections that never send
// HELLO are bounded per source and closed after HelloTimeout, each
// refusal counted in transport_handshake_fail_total; a client from
// another address is served throughout.
func TestIdleConnectionsCannotLockOutClients(t *testing.T) {
	// All perSource+3 dials must happen while the first idle connection
	// still holds its slot: once HelloTimeout closes it, a later dial is
	// rightly accepted and the count below no longer holds. At 500 ms
	// this failed when a dial took about 100 ms (a loaded machine under
	// the race detector); 2 s leaves room for seven slow handshakes, and
	// the elapsed check says so if even that is exceeded.
	const perSource, helloTimeout = 4, 2 * time.Second
	srv, metrics := guardedServer(t, oapgate.Config{ConnsPerSourceMax: perSource, ConnsMax: 8, HelloTimeout: helloTimeout})
	var idle []*quic.Conn
	refused := 0
	start := time.Now()
	for i := 0; i < perSource+3; i++ {
		conn, err := dialFrom(t, "127.0.0.2", srv.Addr().String(), oapgate.ALPN)
		if err != nil {
			refused++
			continue
		}
		idle = append(idle, conn)
	}
	if len(idle) > perSource || refused < 3 {
		t.Fatalf("%d idle connections from one source accepted, %d refused; want at most %d (the dials took %v, HelloTimeout %v)",
			len(idle), refused, perSource, time.Since(start).Round(time.Millisecond), helloTimeout)
	}
	legitimateRequest(t, srv)
	deadline := time.Now().Add(readyWait)
	for metrics.get(quicnet.MetricHandshakeFails, oapgate.FailHelloTimeout) < float64(len(idle)) || metrics.get(quicnet.MetricHandshakeFails, quicnet.FailPerSource) < float64(refused) {
		if time.Now().After(deadline) {
			t.Fatalf("hello_timeout %v (want %d), per_source %v (want %d)", metrics.get(quicnet.MetricHandshakeFails, oapgate.FailHelloTimeout),
				len(idle), metrics.get(quicnet.MetricHandshakeFails, quicnet.FailPerSource), refused)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Once closed, the source may connect again.
	for _, conn := range idle {
		<-conn.Context().Done()
	}
	waitFor(t, "the source's quota to free", func() bool {
		conn, err := dialFrom(t, "127.0.0.2", srv.Addr().String(), oapgate.ALPN)
		if err == nil {
			_ = conn.CloseWithError(0, "")
		}
		return err == nil
	})
	legitimateRequest(t, srv)
	t.Logf("idle: %d accepted then closed after HelloTimeout, %d refused per source", len(idle), refused)
}

// TestWrongALPNIsCounted: a client offering another protocol fails its
// handshake and is counted (wrong_alpn), under the client endpoint's
// name (endpoint "oap").
func TestWrongALPNIsCounted(t *testing.T) {
	srv, metrics := guardedServer(t, oapgate.Config{})
	if conn, err := dialFrom(t, "127.0.0.1", srv.Addr().String(), "h3"); err == nil {
		_ = conn.CloseWithError(0, "")
		t.Fatal("a client offering h3 completed its handshake")
	}
	// Both counters are polled: another goroutine adds them, one after
	// the other.
	waitFor(t, "wrong_alpn counted, under endpoint oap", func() bool {
		return metrics.get(quicnet.MetricHandshakeFails, quicnet.FailWrongALPN) == 1 &&
			metrics.get(quicnet.MetricHandshakeFailsByEndpoint, quicnet.EndpointOAP) == 1
	})
	if got := metrics.get(quicnet.MetricHandshakeFailsByEndpoint, quicnet.EndpointOAP); got != 1 {
		t.Fatalf("transport_handshake_fail_endpoint_total{endpoint=oap} %v, want 1", got)
	}
	legitimateRequest(t, srv)
}

// TestGarbageInitialsCreateBoundedState: a flood of Initial-shaped UDP
// datagrams (valid long header, garbage payload), the shape spoofed
// packets take, leaves at most HandshakesUnvalidatedMax handshakes in
// flight (the rest must answer a Retry first), and a client is served.
func TestGarbageInitialsCreateBoundedState(t *testing.T) {
	srv, metrics := guardedServer(t, oapgate.Config{})
	sent := floodInitials(t, srv.Addr().String(), 2000)
	legitimateRequest(t, srv)
	peak := metrics.peak(quicnet.MetricHandshakesInFlight, "oap")
	if peak < 1 || peak > quicnet.HandshakesUnvalidatedMax+1 {
		t.Fatalf("after %d garbage Initials, up to %v handshakes were in flight (bound %d)", sent, peak, quicnet.HandshakesUnvalidatedMax)
	}
	t.Logf("%d garbage Initials: peak %v handshakes in flight", sent, peak)
}

// floodInitials sends n datagrams shaped as QUIC v1 Initial packets with
// random connection ids and a garbage payload, padded to 1200 bytes.
func floodInitials(t *testing.T, addr string, n int) int {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	packet := make([]byte, 1200)
	for i := 0; i < n; i++ {
		p := packet[:0]
		p = append(p, 0xc3)                     // long header, Initial, 4-byte packet number
		p = binary.BigEndian.AppendUint32(p, 1) // QUIC v1
		p = append(p, 8)                        // DCID length
		dcid := make([]byte, 8)
		_, _ = rand.Read(dcid)
		p = append(p, dcid...)
		p = append(p, 0, 0)                                                // SCID length 0, token length 0
		p = binary.BigEndian.AppendUint16(p, 0x4000|uint16(1200-len(p)-2)) // length (2-byte varint)
		p = p[:1200]
		_, _ = rand.Read(p[len(p)-1100:])
		if _, err := conn.Write(p); err != nil {
			t.Fatal(err)
		}
		if i%100 == 99 {
			time.Sleep(time.Millisecond) // loopback drops what a socket buffer cannot hold
		}
	}
	return n
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(readyWait)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConnsMaxRefusalIsCounted: a connection beyond ConnsMax, when
// each open one has a request in flight (none idle to evict), is closed
// and counted, both in oapgate_conns_refused_total and in
// transport_handshake_fail_total{reason="conns_full"}.
func TestConnsMaxRefusalIsCounted(t *testing.T) {
	srv, metrics, held, _ := holdServer(t, oapgate.Config{ConnsMax: 2})
	for range 2 {
		sendHold(t, dialRaw(t, srv.Addr().String(), true))
	}
	waitFor(t, "the held requests", func() bool { return held.Load() == 2 })
	// A handshake error is the refusal seen early: also counted below.
	if conn, err := dialFrom(t, "127.0.0.2", srv.Addr().String(), oapgate.ALPN); err == nil {
		t.Cleanup(func() { _ = conn.CloseWithError(0, "") })
	}
	waitFor(t, "conns_full counted", func() bool {
		return metrics.get(quicnet.MetricHandshakeFails, quicnet.FailConnsFull) >= 1 && metrics.get(oapgate.MetricConnsRefused, "") >= 1
	})
}

// deafConn drops every datagram it receives, so a handshake dialed over
// it never completes and the server holds it pending. It hides
// *net.UDPConn's other methods, so quic-go uses ReadFrom.
type deafConn struct{ net.PacketConn }

func (c deafConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		if _, addr, err := c.PacketConn.ReadFrom(p); err != nil {
			return 0, addr, err
		}
	}
}

// dialDeaf starts a handshake with addr from source that never completes
// and ends it when the test ends.
func dialDeaf(t *testing.T, source, addr string) {
	t.Helper()
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(source)})
	if err != nil {
		t.Skipf("bind %s: %v", source, err)
	}
	tr := &quic.Transport{Conn: deafConn{udp}}
	raddr, _ := net.ResolveUDPAddr("udp", addr)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = tr.Dial(ctx, raddr, &tls.Config{NextProtos: []string{oapgate.ALPN}, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13},
			&quic.Config{HandshakeIdleTimeout: time.Minute})
	}()
	t.Cleanup(func() { cancel(); <-done; _ = tr.Close(); _ = udp.Close() })
}

// TestPendingHandshakesAreBounded: the client endpoint holds at most
// ConnsMax plus a quarter connections, handshakes included: with five
// handshakes pending (ConnsMax 4), a new attempt is refused before its
// handshake (CONNECTION_REFUSED, handshakes_full), where before only the
// established connections were bounded.
func TestPendingHandshakesAreBounded(t *testing.T) {
	srv, metrics := guardedServer(t, oapgate.Config{ConnsMax: 4, HandshakeTimeout: time.Minute})
	for i := range 5 {
		dialDeaf(t, fmt.Sprintf("127.0.0.%d", 20+i), srv.Addr().String())
	}
	waitFor(t, "five handshakes pending", func() bool {
		return metrics.get(quicnet.MetricHandshakesInFlight, "oap") == 5
	})
	_, err := dialFrom(t, "127.0.0.30", srv.Addr().String(), oapgate.ALPN)
	var refused *quic.TransportError
	if !errors.As(err, &refused) || refused.ErrorCode != quic.ConnectionRefused {
		t.Fatalf("an attempt beyond ConnsMax plus a quarter: %v, want CONNECTION_REFUSED", err)
	}
	waitFor(t, "handshakes_full counted", func() bool {
		return metrics.get(quicnet.MetricHandshakeFails, quicnet.FailHandshakesFull) >= 1
	})
	if got := metrics.get(quicnet.MetricInboundConns, "oap"); got != 5 {
		t.Fatalf("%s %v, want 5", quicnet.MetricInboundConns, got)
	}
}

// TestConnectionsInHelloAreBoundedPerSource: a source holds at most
// HelloPendingPerSourceMax connections that have not finished their
// HELLO (quic-go buffers what they send on streams not yet accepted, up
// to the connection's receive window). When one more arrives the node
// closes the oldest of them (code 4, counted as hello_pending) rather
// than the newest, so silent connections held by someone behind the same
// address do not lock out a client that says HELLO at once: it is served.
func TestConnectionsInHelloAreBoundedPerSource(t *testing.T) {
	srv, metrics := guardedServer(t, oapgate.Config{HelloTimeout: 10 * readyWait})
	addr := srv.Addr().String()
	var silent []*quic.Conn
	for range oapgate.HelloPendingPerSourceMax {
		silent = append(silent, dialRaw(t, addr, false))
		// Each in turn, so the first is the oldest.
		waitFor(t, "the node to take the silent connection", func() bool {
			return oapgate.HelloPendingForTest(srv, netip.MustParseAddr("127.0.0.1")) == len(silent)
		})
	}
	// The same source (127.0.0.1) while the cap's silent connections are
	// held: the client must be served, not closed.
	legitimateRequest(t, srv)
	waitFor(t, "one silent connection closed", func() bool {
		return metrics.get(quicnet.MetricHandshakeFails, oapgate.FailHelloPending) >= 1
	})
	if got := metrics.get(quicnet.MetricHandshakeFails, oapgate.FailHelloPending); got != 1 {
		t.Fatalf("transport_handshake_fail_total{reason=%s} = %v, want 1", oapgate.FailHelloPending, got)
	}
	select {
	case <-silent[0].Context().Done():
	case <-time.After(readyWait):
		t.Fatal("the oldest silent connection is still open")
	}
	var ae *quic.ApplicationError
	if err := context.Cause(silent[0].Context()); !errors.As(err, &ae) || !ae.Remote || ae.ErrorCode != 4 {
		t.Fatalf("the oldest silent connection ended with %v, want the node's close with code 4", err)
	}
	for i, c := range silent[1:] {
		if c.Context().Err() != nil {
			t.Fatalf("silent connection %d closed too, want only the oldest", i+1)
		}
	}
	// Those left can still say HELLO and be served.
	left := silent[1]
	hello := openStream(t, left)
	sendHello(t, hello)
	if _, _, err := oap.ReadFrame(hello, nil); err != nil {
		t.Fatal(err)
	}
	served(t, left)
}
