package gateway_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/internal/streamtest"
	ronruntime "github.com/ron-network/ron/io/runtime"
)

// TestRequestsPerSourceCap: an address holding RequestsPerSource streamed
// GETs whose client never reads (the red team's idle streams, which
// before the cap took every admission slot) gets its next request
// refused before admission, 429 with Retry-After and reason
// source_inflight, while another address is served; once the held
// streams end (the client closes them) the address's count is back to 0
// and it is served again. Before the cap the fifth request was served.
func TestRequestsPerSourceCap(t *testing.T) {
	const perSource = 4
	const object = 32 << 20 // far more than the socket buffers hold
	g, store, prom, addr := newSourceFixture(t, object, gateway.Config{RequestsPerSource: perSource})
	dial := func(local string) net.Conn { t.Helper(); return dialFrom(t, addr, local) }
	// ask sends method /o/{addr} on a new connection from local and
	// returns the response, with the envelope of an answer other than
	// 200 (a 200's body is left unread: the connection closes at the end).
	ask := func(method, local string) (*http.Response, gateway.Envelope) {
		t.Helper()
		c := dial(local)
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := fmt.Fprintf(c, "%s /o/%s HTTP/1.1\r\nHost: x\r\n\r\n", method, store.addr); err != nil {
			t.Fatal(err)
		}
		r, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
		if err != nil {
			t.Fatalf("%s from %s: %v", method, local, err)
		}
		var env gateway.Envelope
		if r.StatusCode != http.StatusOK {
			if err := json.NewDecoder(r.Body).Decode(&env); err != nil {
				t.Fatalf("%s from %s: %d with no envelope: %v", method, local, r.StatusCode, err)
			}
		}
		return r, env
	}

	// The held streams: each response's headers arrived (its handler is
	// streaming, so its slot is taken), then the client reads no more.
	held := make([]net.Conn, perSource)
	for i := range held {
		c := dial("127.0.0.1")
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4 << 10)
		}
		if _, err := fmt.Fprintf(c, "GET /o/%s HTTP/1.1\r\nHost: x\r\n\r\n", store.addr); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		r, err := http.ReadResponse(bufio.NewReaderSize(c, 4<<10), nil)
		if err != nil || r.StatusCode != http.StatusOK {
			t.Fatalf("held stream %d: %v %v", i, r, err)
		}
		held[i] = c
	}

	r, env := ask(http.MethodGet, "127.0.0.1")
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || env.Reason != gateway.ShedSourceInflight || !env.Retryable {
		t.Fatalf("request %d of a source allowed %d: %d, Retry-After %q, %+v; want 429 source_inflight with Retry-After",
			perSource+1, perSource, r.StatusCode, r.Header.Get("Retry-After"), env)
	}
	if got := gatherValue(t, prom.Registry(), gateway.MetricShed, gateway.ShedSourceInflight); got != 1 {
		t.Fatalf("source_inflight sheds %v, want 1", got)
	}
	if r, _ := ask(http.MethodHead, "127.0.0.2"); r.StatusCode != http.StatusOK {
		t.Fatalf("another source while 127.0.0.1 is at its cap: %d, want 200", r.StatusCode)
	}

	if got := g.SourceInflight("127.0.0.1"); got != perSource {
		t.Fatalf("127.0.0.1 has %d requests in flight, want %d", got, perSource)
	}
	for _, c := range held {
		c.Close()
	}
	waitInflight(t, g, "127.0.0.1")
	if r, _ := ask(http.MethodHead, "127.0.0.1"); r.StatusCode != http.StatusOK {
		t.Fatalf("127.0.0.1 after its streams ended: %d, want 200", r.StatusCode)
	}
	if got := g.SourceInflight("127.0.0.2"); got != 0 {
		t.Fatalf("127.0.0.2 has %d requests in flight after its HEAD, want 0", got)
	}
}

// newSourceFixture is a gateway over a fakeStore of one object of
// objectBytes, with cfg's limits, served the way rond serves it
// (NewServer on Gateway.Listener); it returns the listener's address.
func newSourceFixture(t *testing.T, objectBytes int, cfg gateway.Config) (*gateway.Gateway, *fakeStore, *ronruntime.PromMetrics, string) {
	t.Helper()
	data := streamtest.Bytes(9, 0, int64(objectBytes))
	store := newFakeStore(proto.AddrOf(data), data)
	log := slog.New(slog.DiscardHandler)
	prom := ronruntime.NewPromMetrics(log)
	cfg.Backend, cfg.Metrics, cfg.Gatherer, cfg.Logger = store, prom, prom.Registry(), log
	g := gateway.New(cfg)
	srv := httptest.NewUnstartedServer(g)
	srv.Config = gateway.NewServer(g, nil)
	srv.Listener = g.Listener(srv.Listener)
	srv.Start()
	t.Cleanup(srv.Close)
	return g, store, prom, srv.Listener.Addr().String()
}

// dialFrom connects to addr from the loopback address local (Linux
// routes all of 127/8 to lo, so 127.0.0.2 is a second source).
func dialFrom(t *testing.T, addr, local string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 30 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", local, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitInflight polls until source ip has no request in flight.
func waitInflight(t *testing.T, g *gateway.Gateway, ip string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for g.SourceInflight(ip) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s still has %d requests in flight", ip, g.SourceInflight(ip))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRequestsPerSourceReleased: a source's slot is given back however
// its request ends: a streamed response aborted mid-body by a failed
// chunk read (the handler panics with http.ErrAbortHandler), and one cut
// off because its client stopped reading (write_stall) while the client
// keeps its socket open. A leak would leave the count above 0.
func TestRequestsPerSourceReleased(t *testing.T) {
	const perSource = 4
	const object = 32 << 20
	t.Run("aborted", func(t *testing.T) {
		g, store, _, addr := newSourceFixture(t, object, gateway.Config{RequestsPerSource: perSource})
		store.failAt = 8 // past the first window: after the headers
		for i := range perSource {
			c := dialFrom(t, addr, "127.0.0.1")
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			if _, err := fmt.Fprintf(c, "GET /o/%s HTTP/1.1\r\nHost: x\r\n\r\n", store.addr); err != nil {
				t.Fatal(err)
			}
			r, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil || r.StatusCode != http.StatusOK {
				t.Fatalf("GET %d: %v %v", i, r, err)
			}
			if n, err := io.Copy(io.Discard, r.Body); err == nil || n >= object {
				t.Fatalf("GET %d: %d bytes, %v; want a body cut short", i, n, err)
			}
		}
		waitInflight(t, g, "127.0.0.1")
	})
	t.Run("write_stall", func(t *testing.T) {
		g, store, prom, addr := newSourceFixture(t, object, gateway.Config{RequestsPerSource: perSource,
			Conns: gateway.ConnLimits{WriteStallTimeout: 200 * time.Millisecond}})
		for range perSource {
			c := dialFrom(t, addr, "127.0.0.1")
			_ = c.(*net.TCPConn).SetReadBuffer(4 << 10)
			if _, err := fmt.Fprintf(c, "GET /o/%s HTTP/1.1\r\nHost: x\r\n\r\n", store.addr); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(30 * time.Second)
		for gatherValue(t, prom.Registry(), gateway.MetricShed, gateway.ShedWriteStall) < perSource {
			if time.Now().After(deadline) {
				t.Fatal("timed out waiting for the stalled responses to be cut off")
			}
			time.Sleep(5 * time.Millisecond)
		}
		waitInflight(t, g, "127.0.0.1")
	})
}
