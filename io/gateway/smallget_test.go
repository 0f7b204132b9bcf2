package gateway

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/ron-network/ron/core/proto"
)

// writeCounter counts the writes of the connections it accepts.
type writeCounter struct {
	net.Listener
	mu     sync.Mutex
	writes int
}

func (l *writeCounter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countedConn{Conn: c, l: l}, nil
}

func (l *writeCounter) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.writes
}

type countedConn struct {
	net.Conn
	l *writeCounter
}

func (c *countedConn) Write(b []byte) (int, error) {
	c.l.mu.Lock()
	c.l.writes++
	c.l.mu.Unlock()
	return c.Conn.Write(b)
}

// A GET of a 4 KiB object leaves in one write (headers and body), not
// two: net/http's 4 KiB connection buffer would split it (envelopeConn.cork).
func TestSmallGetIsOneWrite(t *testing.T) {
	for _, size := range []int{1, 4 << 10, 12 << 10} {
		data := object(size, 5)
		addr := proto.AddrOf(data)
		f := newEdgeFixture(t, 1<<20, data)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		counter := &writeCounter{Listener: ln}
		srv := NewServer(f.g, nil)
		go func() { _ = srv.Serve(f.g.Listener(counter)) }()
		c := &http.Client{Transport: &http.Transport{}}
		for i := range 3 { // a miss, then hits from the edge cache
			before := counter.count()
			resp, err := c.Get("http://" + ln.Addr().String() + "/o/" + addr.String())
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
				t.Fatalf("size %d GET %d: %d, %d bytes, %v", size, i, resp.StatusCode, len(body), err)
			}
			if resp.Header.Get("ETag") != etag(addr) || resp.Header.Get("Content-Length") == "" {
				t.Fatalf("size %d: headers %v", size, resp.Header)
			}
			if n := counter.count() - before; n != 1 {
				t.Errorf("size %d GET %d: %d writes, want 1", size, i, n)
			}
		}
		_ = srv.Close()
	}
}

// The cork's write error reaches the handler's later writes.
func TestCorkKeepsWriteError(t *testing.T) {
	a, b := net.Pipe()
	_ = b.Close()
	c := &envelopeConn{Conn: a}
	c.cork()
	if n, err := c.Write([]byte("hello")); n != 5 || err != nil {
		t.Fatalf("corked write: %d, %v", n, err)
	}
	c.uncork()
	if _, err := c.Write([]byte("x")); err == nil {
		t.Fatal("a write after a failed uncork succeeded")
	}
}

// BenchmarkGetSmallCached is a 4 KiB GET served from the edge cache, the
// handler only (no connection): allocations per request.
func BenchmarkGetSmallCached(b *testing.B) {
	data := object(4<<10, 5)
	addr := proto.AddrOf(data)
	f := newEdgeFixture(&testing.T{}, 1<<20, data)
	path := "/o/" + addr.String()
	f.g.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		f.g.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}
