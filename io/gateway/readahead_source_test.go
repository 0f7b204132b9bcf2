package gateway_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/ron-network/ron/io/gateway"
)

// TestReadAheadSourceShareGrowsWithRequestsPerSource: a reverse proxy is
// one source for all its clients, and doc.go tells such setups to raise
// RequestsPerSource; the share grows with it (budget x RequestsPerSource
// / InflightMax), so at the in-flight cap one source may hold the whole
// budget. Before, the share stayed a quarter and the fifth idle stream
// of 16 chunks' budget was refused 429 read_ahead_source.
func TestReadAheadSourceShareGrowsWithRequestsPerSource(t *testing.T) {
	const object = 8 << 20
	const budget = 16 * gateway.StreamChunkBytes
	g, store, _, addr := newSourceFixture(t, object, gateway.Config{RequestsPerSource: gateway.InflightMaxDefault, ReadAheadBytesMax: budget})
	if got := g.SourceReadAheadMax(); got != budget {
		t.Fatalf("share %d with RequestsPerSource at the in-flight cap, want the whole budget %d", got, budget)
	}
	// Idle streams from one source until it holds the whole budget (16
	// first chunks, fewer if windows widened first): every GET is served.
	held := int64(0)
	for i := 0; i < 16 && held < budget; i++ {
		c := dialFrom(t, addr, "127.0.0.1")
		defer c.Close()
		_ = c.(*net.TCPConn).SetReadBuffer(4 << 10)
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := fmt.Fprintf(c, "GET /o/%s HTTP/1.1\r\nHost: x\r\n\r\n", store.addr); err != nil {
			t.Fatal(err)
		}
		r, err := http.ReadResponse(bufio.NewReaderSize(c, 4<<10), nil)
		if err != nil {
			t.Fatalf("GET %d: %v", i+1, err)
		}
		if r.StatusCode != http.StatusOK {
			t.Fatalf("GET %d from one source holding %d of a budget of %d: %d, want 200", i+1, g.SourceReadAhead("127.0.0.1"), budget, r.StatusCode)
		}
		held = g.SourceReadAhead("127.0.0.1")
	}
	if held != budget {
		t.Fatalf("one source holds %d bytes of read-ahead after 16 idle streams, want the whole budget %d", held, budget)
	}
}

// TestReadAheadSourceShare: on a small read-ahead budget (16 chunks, as
// a micronode's small --memory-max gives), one source holding idle
// streamed GETs (the client reads nothing past the headers) gets its
// share, a quarter of the budget, and no more: its next GET is refused at
// once, 429 with Retry-After and reason read_ahead_source, counted in
// omnigate_shed_total, while another source is served; once its streams
// end, its share is free again. Before the share, 127.0.0.1 took the
// budget until a GET waited ReadAheadWaitMax and was refused 503
// read_ahead_budget, for everyone, and the test fails on the first
// refusal's status.
func TestReadAheadSourceShare(t *testing.T) {
	const object = 8 << 20 // far more than the socket buffers hold
	const budget = 16 * gateway.StreamChunkBytes
	g, store, prom, addr := newSourceFixture(t, object, gateway.Config{RequestsPerSource: 64, ReadAheadBytesMax: budget})
	share := g.SourceReadAheadMax()
	if share != budget/4 {
		t.Fatalf("share %d with RequestsPerSource 64 of InflightMax 256, want a quarter of %d", share, budget)
	}
	path := "/o/" + store.addr.String()
	// get sends a GET on a new connection from local and returns the
	// connection and the response (its body unread), with the envelope
	// of an answer other than 200.
	get := func(local string) (net.Conn, *http.Response, gateway.Envelope) {
		t.Helper()
		c := dialFrom(t, addr, local)
		_ = c.(*net.TCPConn).SetReadBuffer(4 << 10)
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
			t.Fatal(err)
		}
		r, err := http.ReadResponse(bufio.NewReaderSize(c, 4<<10), nil)
		if err != nil {
			t.Fatalf("GET from %s: %v", local, err)
		}
		var env gateway.Envelope
		if r.StatusCode != http.StatusOK {
			if err := json.NewDecoder(r.Body).Decode(&env); err != nil {
				t.Fatalf("GET from %s: %d with no envelope: %v", local, r.StatusCode, err)
			}
		}
		return c, r, env
	}
	// hold opens idle streams from local until one is refused, which
	// must be the source's 429; it returns the streams held.
	hold := func(local string) []net.Conn {
		t.Helper()
		var held []net.Conn
		for range 16 {
			c, r, env := get(local)
			if got := g.SourceReadAhead(local); got > share {
				t.Fatalf("%s holds %d bytes of read-ahead, more than its share %d", local, got, share)
			}
			if r.StatusCode == http.StatusOK {
				held = append(held, c)
				continue
			}
			if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || env.Reason != gateway.ShedReadAheadSource || !env.Retryable {
				t.Fatalf("GET %d of %s: %d, Retry-After %q, %+v; want 429 %s with Retry-After",
					len(held)+1, local, r.StatusCode, r.Header.Get("Retry-After"), env, gateway.ShedReadAheadSource)
			}
			c.Close()
			if len(held) == 0 {
				t.Fatalf("%s refused its first GET", local)
			}
			return held
		}
		t.Fatalf("%s held 16 idle streams of a budget of 16 chunks: no share", local)
		return nil
	}
	first := hold("127.0.0.1")
	if got := gatherValue(t, prom.Registry(), gateway.MetricShed, gateway.ShedReadAheadSource); got != 1 {
		t.Fatalf("%s sheds %v, want 1", gateway.ShedReadAheadSource, got)
	}
	if _, r, env := get("127.0.0.2"); r.StatusCode != http.StatusOK {
		t.Fatalf("another source while 127.0.0.1 holds its share: %d %+v, want 200", r.StatusCode, env)
	}
	for _, c := range first {
		c.Close()
	}
	deadline := time.Now().Add(30 * time.Second)
	for g.SourceReadAhead("127.0.0.1") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("127.0.0.1 still holds %d bytes of read-ahead after its streams ended", g.SourceReadAhead("127.0.0.1"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, r, env := get("127.0.0.1"); r.StatusCode != http.StatusOK {
		t.Fatalf("127.0.0.1 after its streams ended: %d %+v, want 200", r.StatusCode, env)
	}
}
