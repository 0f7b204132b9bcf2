package oapgate_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/ron-network/ron/core/proto/oap"
	"github.com/ron-network/ron/io/oapgate"
)

// startHeader is the header of a START frame declaring length bytes (the
// codec would refuse to encode the lengths these tests need).
func startHeader(length uint32) []byte {
	h := make([]byte, oap.HeaderBytes)
	binary.BigEndian.PutUint32(h[0:], length)
	binary.BigEndian.PutUint16(h[4:], oap.Version)
	binary.BigEndian.PutUint16(h[6:], oap.FlagREQ|oap.FlagSTART)
	binary.BigEndian.PutUint16(h[10:], oap.ProtoClient)
	binary.BigEndian.PutUint64(h[30:], 1)
	return h
}

// slowServer is guardedServer with a StartTimeout and FrameTimeout far
// past every wait of these tests: a START that is not whole stays
// pending throughout.
func slowServer(t *testing.T) (*oapgate.Server, *peakRecorder) {
	return guardedServer(t, oapgate.Config{StartTimeout: 10 * readyWait, FrameTimeout: 10 * readyWait})
}

// TestOversizeStartIsRefusedFromItsHeader: a START declaring more than
// StartFrameBytesMax is frame_oversize as soon as its header arrived, its
// body neither sent nor awaited (with oap.FrameBytesMax as the limit the
// node waited for, and buffered, up to a MiB per stream); one declaring
// exactly the bound is read whole (and its payload, no head, is bad_head).
func TestOversizeStartIsRefusedFromItsHeader(t *testing.T) {
	srv, metrics := slowServer(t)
	conn := dialRaw(t, srv.Addr().String(), true)
	for _, length := range []uint32{oap.FrameBytesMax, oapgate.StartFrameBytesMax + 1} {
		st := openStream(t, conn)
		write(t, st, startHeader(length))
		wantReset(t, st, oap.ReasonFrameOversize)
	}
	if got := metrics.get(oapgate.MetricOAPRejects, string(oap.ReasonFrameOversize)); got != 2 {
		t.Fatalf("oap_rejects_total{reason=frame_oversize} = %v, want 2", got)
	}
	st := openStream(t, conn)
	frame := append(startHeader(oapgate.StartFrameBytesMax), make([]byte, oapgate.StartFrameBytesMax-oap.HeaderBytes)...)
	write(t, st, frame)
	wantReset(t, st, ReasonBadHeadForTest)
	served(t, conn)
}

// served checks that conn still serves a small request (guardedServer
// answers 204).
func served(t *testing.T, conn *quic.Conn) {
	t.Helper()
	st := openStream(t, conn)
	write(t, st, requestFrame(t, oap.FlagREQ|oap.FlagSTART|oap.FlagEND, 9, nil, head(t, "GET", "/healthz")))
	_ = st.Close()
	if a, err := readResponse(t, st); err != nil || a.status != http.StatusNoContent {
		t.Fatalf("the connection no longer serves: %d %v", a.status, err)
	}
}

// pendingStart opens a stream on conn whose START declares the largest
// length and sends all of it but the last byte: it stays pending, charged
// StartChargedBytesMax.
func pendingStart(t *testing.T, conn *quic.Conn) *quic.Stream {
	t.Helper()
	st := openStream(t, conn)
	// The node reads a connection's streams (and a source's connections)
	// in any order, so on a busy machine it may refuse this START before
	// its bytes are all written: the write then fails with the node's
	// busy reset, which the callers judge by the metrics (and wantBusy)
	// as they judge a refusal that comes after the write.
	if _, err := st.Write(append(startHeader(oapgate.StartFrameBytesMax), make([]byte, oapgate.StartFrameBytesMax-oap.HeaderBytes-1)...)); err != nil {
		var se *quic.StreamError
		if !errors.As(err, &se) || !se.Remote || se.ErrorCode != oapgate.StreamCodeBusy {
			t.Fatal(err)
		}
	}
	return st
}

// wantBusy waits until the node resets st with StreamCodeBusy.
func wantBusy(t *testing.T, st *quic.Stream) {
	t.Helper()
	_, err := io.Copy(io.Discard, st)
	var se *quic.StreamError
	if !errors.As(err, &se) || !se.Remote || se.ErrorCode != oapgate.StreamCodeBusy {
		t.Fatalf("stream ended with %v, want a reset with StreamCodeBusy (%d)", err, oapgate.StreamCodeBusy)
	}
}

// TestPendingStartsAreBoundedPerConnection: one connection's STARTs that
// are not whole hold at most StartPendingConnBytesMax (16 of the largest);
// the one past it is refused and counted, and a small START on the same
// connection is still served.
func TestPendingStartsAreBoundedPerConnection(t *testing.T) {
	srv, metrics := slowServer(t)
	conn := dialRaw(t, srv.Addr().String(), true)
	fit := oapgate.StartPendingConnBytesMax / oapgate.StartChargedBytesMax
	streams := make([]*quic.Stream, fit+1)
	for i := range streams {
		streams[i] = pendingStart(t, conn)
	}
	waitFor(t, "the START past the connection's bound refused", func() bool {
		return metrics.get(oapgate.MetricStreamsRefused, oapgate.RefusedStartConn) >= 1
	})
	served(t, conn)
	if got := metrics.get(oapgate.MetricStreamsRefused, oapgate.RefusedStartConn); got != 1 {
		t.Fatalf("oapgate_streams_refused_total{reason=%s} = %v, want 1", oapgate.RefusedStartConn, got)
	}
	// The refused one is reset with StreamCodeBusy; which of the streams
	// it is depends on the order the node read them in.
	for _, st := range streams {
		st.CancelWrite(0) // the others end: the node sees them truncated
	}
}

// TestPendingStartsAreBoundedPerSource: connections from one source hold
// at most StartPendingSourceBytesMax of pending STARTs between them; past
// it a further START is refused, while another source is served.
func TestPendingStartsAreBoundedPerSource(t *testing.T) {
	srv, metrics := slowServer(t)
	perConn := oapgate.StartPendingConnBytesMax / oapgate.StartChargedBytesMax
	fit := oapgate.StartPendingSourceBytesMax / oapgate.StartChargedBytesMax
	n := 0
	for n < fit {
		conn := dialRaw(t, srv.Addr().String(), true)
		for i := 0; i < perConn && n < fit; i++ {
			pendingStart(t, conn)
			n++
		}
	}
	conn := dialRaw(t, srv.Addr().String(), true)
	pendingStart(t, conn) // may be the one refused: the node reads streams in any order
	waitFor(t, "the START past the source's bound refused", func() bool {
		return metrics.get(oapgate.MetricStreamsRefused, oapgate.RefusedStartSource) >= 1
	})
	st := pendingStart(t, conn)
	wantBusy(t, st) // the source is still at its bound
	if got := metrics.get(oapgate.MetricStreamsRefused, oapgate.RefusedStartConn); got != 0 {
		t.Fatalf("oapgate_streams_refused_total{reason=%s} = %v, want 0", oapgate.RefusedStartConn, got)
	}
	served(t, helloFrom(t, "127.0.0.2", srv.Addr().String()))
}

// helloFrom dials addr from source and completes the HELLO exchange.
func helloFrom(t *testing.T, source, addr string) *quic.Conn {
	t.Helper()
	conn, err := dialFrom(t, source, addr, oapgate.ALPN)
	if err != nil {
		t.Fatal(err)
	}
	hello := openStream(t, conn)
	sendHello(t, hello)
	if _, _, err := oap.ReadFrame(hello, nil); err != nil {
		t.Fatal(err)
	}
	_ = hello.SetDeadline(time.Now().Add(readyWait))
	return conn
}

// TestHeadersAloneDoNotLockOutOtherSources replays the lock-out: 16
// sources, 4 connections each, sending only START headers whose declared
// lengths fill each connection's bound (so the node's, with the bytes
// charged from the header), never a payload byte. A small request from a
// 17th source is still served: a START is charged only what it buffers
// past StartFreeBytes, not what it declares. (Before, every later START
// was refused start_pending_node while the headers were pending.)
func TestHeadersAloneDoNotLockOutOtherSources(t *testing.T) {
	srv, metrics := slowServer(t)
	addr := srv.Addr().String()
	per := oapgate.StartPendingConnBytesMax / oapgate.StartFrameBytesMax
	rest := oapgate.StartPendingConnBytesMax - per*oapgate.StartFrameBytesMax
	sizes := make([]uint32, 0, per+1)
	for range per {
		sizes = append(sizes, oapgate.StartFrameBytesMax)
	}
	sizes = append(sizes, uint32(rest))
	headers := 0
	for i := 10; i < 26; i++ {
		for range oapgate.StartPendingSourceBytesMax / oapgate.StartPendingConnBytesMax {
			conn := helloFrom(t, fmt.Sprintf("127.0.0.%d", i), addr)
			for _, n := range sizes {
				write(t, openStream(t, conn), startHeader(n))
				headers++
			}
		}
	}
	// The node has read every header once its goroutines are all
	// blocked on the payloads; poll on something that shows it: a START
	// from a 17th source is served while they are pending.
	other := helloFrom(t, "127.0.0.26", addr)
	served(t, other)
	for _, reason := range []string{oapgate.RefusedStartConn, oapgate.RefusedStartSource, oapgate.RefusedStartNode} {
		if got := metrics.get(oapgate.MetricStreamsRefused, reason); got != 0 {
			t.Fatalf("%d headers alone: oapgate_streams_refused_total{reason=%s} = %v, want 0", headers, reason, got)
		}
	}
}

// TestStartWithoutHeaderTimesOut: a stream that sends part of a START
// header and nothing more is cancelled after StartTimeout, not held for
// FrameTimeout (its goroutine and stream state stayed 30 s).
func TestStartWithoutHeaderTimesOut(t *testing.T) {
	srv, _ := guardedServer(t, oapgate.Config{StartTimeout: 300 * time.Millisecond, FrameTimeout: 10 * readyWait})
	conn := dialRaw(t, srv.Addr().String(), true)
	for _, sent := range [][]byte{startHeader(100)[:1], startHeader(oapgate.StartFrameBytesMax)} {
		st := openStream(t, conn)
		write(t, st, sent)
		_ = st.SetReadDeadline(time.Now().Add(readyWait))
		_, err := io.Copy(io.Discard, st)
		var se *quic.StreamError
		if !errors.As(err, &se) || !se.Remote || se.ErrorCode != oapgate.StreamCodeCancelled {
			t.Fatalf("a START stopped after %d bytes ended with %v, want a reset with StreamCodeCancelled (%d) after StartTimeout", len(sent), err, oapgate.StreamCodeCancelled)
		}
	}
	served(t, conn)
}

// TestShutdownCutsPendingStarts: Shutdown does not wait for requests whose
// START has not arrived (it waited their FrameTimeout, and a SIGTERM
// after an attack logged the drain cut short): it returns at once, with
// no error, and the streams are cancelled.
func TestShutdownCutsPendingStarts(t *testing.T) {
	srv, metrics := slowServer(t)
	conn := dialRaw(t, srv.Addr().String(), true)
	fit := oapgate.StartPendingConnBytesMax / oapgate.StartChargedBytesMax
	streams := make([]*quic.Stream, fit+1)
	for i := range streams {
		streams[i] = pendingStart(t, conn)
	}
	// One refused: the node has read the others' headers, their STARTs
	// are pending.
	waitFor(t, "the START past the connection's bound refused", func() bool {
		return metrics.get(oapgate.MetricStreamsRefused, oapgate.RefusedStartConn) >= 1
	})
	// Well under IdleTimeout (30 s), which would end the streams too.
	ctx, cancel := context.WithTimeout(context.Background(), readyWait/3)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with STARTs pending: %v, want them cut and no error", err)
	}
}

// TestClientSeesBusy: a request the node refuses because its source's
// pending STARTs are at their bound fails, at the client, with an error
// errors.Is finds oapgate.ErrBusy in (nothing was served: the caller may
// retry), while a small request from the same client, within
// StartFreeBytes, is served.
func TestClientSeesBusy(t *testing.T) {
	srv, metrics := slowServer(t)
	addr := srv.Addr().String()
	source := netip.MustParseAddr("127.0.0.1")
	perConn := oapgate.StartPendingConnBytesMax / oapgate.StartChargedBytesMax
	full := oapgate.StartPendingSourceBytesMax / oapgate.StartChargedBytesMax
	var conn *quic.Conn
	for i := range full {
		if i%perConn == 0 {
			conn = dialRaw(t, addr, true)
		}
		pendingStart(t, conn)
	}
	// One more, charged all but a KiB of what the source has left.
	last := oapgate.StartPendingSourceBytesMax - full*oapgate.StartChargedBytesMax - 1<<10
	st := openStream(t, conn)
	write(t, st, append(startHeader(uint32(last+oapgate.StartFreeBytes)), make([]byte, last+oapgate.StartFreeBytes-oap.HeaderBytes-1)...))
	want := full*oapgate.StartChargedBytesMax + last
	waitFor(t, "the source's STARTs charged", func() bool {
		_, got := oapgate.StartsChargedForTest(srv, source)
		return got == want
	})

	client, err := oapgate.NewClient(addr, oapgate.ClientConfig{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), readyWait)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "oap://node/healthz", nil)
	req.Header.Set("X-Pad-A", strings.Repeat("a", 8000))
	req.Header.Set("X-Pad-B", strings.Repeat("b", 8000))
	_, err = client.RoundTrip(req)
	var re *oapgate.RemoteError
	if !errors.Is(err, oapgate.ErrBusy) || !errors.As(err, &re) || !re.Busy() {
		t.Fatalf("a 16 KiB head with the source at its bound: %v, want oapgate.ErrBusy", err)
	}
	if got := metrics.get(oapgate.MetricStreamsRefused, oapgate.RefusedStartSource); got != 1 {
		t.Fatalf("oapgate_streams_refused_total{reason=%s} = %v, want 1", oapgate.RefusedStartSource, got)
	}
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, "oap://node/healthz", nil)
	resp, err := client.RoundTrip(req)
	if err != nil {
		t.Fatalf("a small request with the source at its bound: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("a small request with the source at its bound: status %d", resp.StatusCode)
	}
}

// TestStreamsWaitingForStartAreBoundedPerSource: streams that send a byte
// of their START and no more are held by at most StartStreamsPerSourceMax
// per source (each a goroutine); the ones past it are reset with
// StreamCodeBusy at once and counted, and another source is served.
func TestStreamsWaitingForStartAreBoundedPerSource(t *testing.T) {
	srv, metrics := slowServer(t)
	addr := srv.Addr().String()
	const perConn = oapgate.StreamsPerConnMax
	conns := oapgate.StartStreamsPerSourceMax/perConn + 1
	for range conns {
		conn := dialRaw(t, addr, true)
		for range perConn {
			write(t, openStream(t, conn), startHeader(100)[:1])
		}
	}
	want := float64(conns*perConn - oapgate.StartStreamsPerSourceMax)
	waitFor(t, "the streams past the source's bound refused", func() bool {
		return metrics.get(oapgate.MetricStreamsRefused, oapgate.RefusedStartStreams) >= want
	})
	if got := metrics.get(oapgate.MetricStreamsRefused, oapgate.RefusedStartStreams); got != want {
		t.Fatalf("oapgate_streams_refused_total{reason=%s} = %v, want %v", oapgate.RefusedStartStreams, got, want)
	}
	served(t, helloFrom(t, "127.0.0.2", addr))
}

// TestClosedConnectionsGiveBackTheirShare: a source that filled its
// share of pending STARTs and closed its connections is charged nothing
// once the node has seen them go, and new connections from it can hold
// the whole share again (no charge, and no stream counted as waiting,
// leaks with a connection that ended mid-START).
func TestClosedConnectionsGiveBackTheirShare(t *testing.T) {
	srv, metrics := slowServer(t)
	addr := srv.Addr().String()
	source := netip.MustParseAddr("127.0.0.3")
	perConn := oapgate.StartPendingConnBytesMax / oapgate.StartChargedBytesMax
	full := oapgate.StartPendingSourceBytesMax / oapgate.StartChargedBytesMax
	fill := func() []*quic.Conn {
		var conns []*quic.Conn
		for i := range full {
			if i%perConn == 0 {
				conns = append(conns, helloFrom(t, source.String(), addr))
			}
			pendingStart(t, conns[len(conns)-1])
		}
		waitFor(t, "the source's share charged", func() bool {
			_, got := oapgate.StartsChargedForTest(srv, source)
			return got == full*oapgate.StartChargedBytesMax
		})
		return conns
	}
	for round := range 2 {
		for _, conn := range fill() {
			_ = conn.CloseWithError(0, "done")
		}
		waitFor(t, fmt.Sprintf("round %d: the closed connections' charge given back", round), func() bool {
			total, got := oapgate.StartsChargedForTest(srv, source)
			return total == 0 && got == 0
		})
	}
	for _, reason := range []string{oapgate.RefusedStartConn, oapgate.RefusedStartSource, oapgate.RefusedStartNode, oapgate.RefusedStartStreams} {
		if got := metrics.get(oapgate.MetricStreamsRefused, reason); got != 0 {
			t.Fatalf("oapgate_streams_refused_total{reason=%s} = %v, want 0", reason, got)
		}
	}
}
