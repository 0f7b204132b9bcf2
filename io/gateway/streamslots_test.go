package gateway_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/ron-network/ron/core/edgecache"
	"github.com/ron-network/ron/io/gateway"
)

// TestStreamedResponsesBounded: sources that each stay within
// RequestsPerSource but together open idle streamed GETs (clients that
// never read) hold at most StreamedResponsesMax (by default half of the
// in-flight cap) admission slots; a streamed GET past it is refused at
// once, 503 OVERLOADED with Retry-After and reason stream_slots (counted
// in omnigate_shed_total), and a small read from anyone else is served
// at once. Before, four sources of 2 idle streams held all 8 slots of
// the cap and the fifth stream was served (and every read after it
// queued until refused 503).
//
// The same holds for any body of more than BufferedReadBytesMax, however
// it is written: an object the edge cache can hold (up to
// edgecache.EntryBytesMax, 4 MiB) is read in one call and written in one
// Write, whole or as a range, cache hit or not, and its idle client holds
// its slot just as long. Before, those took no streamed-response slot:
// all 8 were served and held the whole cap.
func TestStreamedResponsesBounded(t *testing.T) {
	for _, tc := range []struct {
		name   string
		object int
		edge   int64
		extra  string
	}{
		{"streamed", 8 << 20, 0, ""}, // far more than the socket buffers hold
		// The largest object the edge cache holds: about twice what the
		// socket buffers take (tcp_wmem's 4 MiB ceiling counts the
		// kernel's overhead too), so an idle client's response stays open.
		{"edge_whole", edgecache.EntryBytesMax, 64 << 20, ""},
		{"edge_range", edgecache.EntryBytesMax, 64 << 20, "Range: bytes=1-\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testStreamedResponsesBounded(t, tc.object, tc.edge, tc.extra)
		})
	}
}

func testStreamedResponsesBounded(t *testing.T, object int, edgeBytes int64, extra string) {
	g, store, prom, addr := newSourceFixture(t, object, gateway.Config{
		Admission:         gateway.AdmissionConfig{InflightMax: 8},
		RequestsPerSource: 2,
		EdgeCacheBytes:    edgeBytes,
	})
	get := func(local, extra string) (net.Conn, *http.Response, gateway.Envelope) {
		t.Helper()
		c := dialFrom(t, addr, local)
		_ = c.(*net.TCPConn).SetReadBuffer(4 << 10)
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := fmt.Fprintf(c, "GET /o/%s HTTP/1.1\r\nHost: x\r\n%s\r\n", store.addr, extra); err != nil {
			t.Fatal(err)
		}
		r, err := http.ReadResponse(bufio.NewReaderSize(c, 4<<10), nil)
		if err != nil {
			t.Fatalf("GET from %s: %v", local, err)
		}
		var env gateway.Envelope
		if r.StatusCode >= 300 {
			if err := json.NewDecoder(r.Body).Decode(&env); err != nil {
				t.Fatalf("GET from %s: %d with no envelope: %v", local, r.StatusCode, err)
			}
		}
		return c, r, env
	}
	if edgeBytes > 0 {
		// Fill the edge cache first (the later GETs are hits), then wait
		// for the reader's slot to go.
		// A reader with the default socket buffers (a 4 KiB one crawls).
		c := dialFrom(t, addr, "127.0.0.30")
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := fmt.Fprintf(c, "GET /o/%s HTTP/1.1\r\nHost: x\r\n\r\n", store.addr); err != nil {
			t.Fatal(err)
		}
		r, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || r.StatusCode != http.StatusOK {
			t.Fatalf("warming GET: %v %v", r, err)
		}
		if n, err := io.Copy(io.Discard, r.Body); err != nil || n != int64(object) {
			t.Fatalf("warming GET: %d bytes, %v", n, err)
		}
		c.Close()
		waitInflight(t, g, "127.0.0.30")
	}
	served, refused := 0, 0
	for k := range 4 {
		local := fmt.Sprintf("127.0.0.%d", 10+k)
		for range 2 {
			_, r, env := get(local, extra)
			switch {
			case r.StatusCode == http.StatusOK || r.StatusCode == http.StatusPartialContent:
				served++
			case r.StatusCode == http.StatusServiceUnavailable && env.Reason == gateway.ShedStreamSlots &&
				env.Code == gateway.CodeOverloaded && env.Retryable && r.Header.Get("Retry-After") != "":
				refused++
			default:
				t.Fatalf("streamed GET from %s: %d %+v, want 200 or 503 %s", local, r.StatusCode, env, gateway.ShedStreamSlots)
			}
		}
	}
	if served != 4 || refused != 4 {
		t.Fatalf("%d idle streams served and %d refused, want 4 and 4 (half of an in-flight cap of 8)", served, refused)
	}
	if got := gatherValue(t, prom.Registry(), gateway.MetricShed, gateway.ShedStreamSlots); got != 4 {
		t.Fatalf("%s sheds %v, want 4", gateway.ShedStreamSlots, got)
	}
	if got := gatherValue(t, prom.Registry(), gateway.MetricStreamedResponses, ""); got != 4 {
		t.Fatalf("%s %v, want 4", gateway.MetricStreamedResponses, got)
	}
	// A small read from another address is served while the streams hold
	// their slots.
	start := time.Now()
	c, r, env := get("127.0.0.20", "Range: bytes=0-1023\r\n")
	if r.StatusCode != http.StatusPartialContent {
		t.Fatalf("a small read while idle streams hold half the cap: %d %+v, want 206", r.StatusCode, env)
	}
	c.Close()
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the small read took %v", d)
	}
}
