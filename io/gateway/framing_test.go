package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/io/gateway"
)

// pipelined sends request bytes on a fresh connection, then reads the
// responses until the server closes it (or 30 s pass: a test error).
func (f *fixture) pipelined(request string) []*http.Response {
	f.t.Helper()
	return f.pipelinedWithin(request, 30*time.Second)
}

// pipelinedWithin is pipelined with the time the server has to close the
// connection.
func (f *fixture) pipelinedWithin(request string, within time.Duration) []*http.Response {
	f.t.Helper()
	conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
	if err != nil {
		f.t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(within))
	go func() { _, _ = io.WriteString(conn, request) }()
	br := bufio.NewReader(conn)
	var out []*http.Response
	for {
		r, err := http.ReadResponse(br, nil)
		if err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return out
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				f.t.Errorf("%.60q: connection still open after %d responses", request, len(out))
				return out
			}
			return out // reset: closed too
		}
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
		out = append(out, r)
	}
}

// TestChunkedRequestClosesConnection: a request carrying both
// Content-Length and Transfer-Encoding: chunked (the request-smuggling
// shape, RFC 9112 6.3) is answered with Connection: close and the
// request pipelined behind it on the same connection is never served.
// net/http drops the Content-Length before a handler sees the request,
// so every chunked request closes its connection; a Content-Length
// request keeps it (the pipelined request is served).
func TestChunkedRequestClosesConnection(t *testing.T) {
	f := newServerFixture(t, gateway.BodyLimits{})
	next := "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
	cases := []struct {
		name, line, framing, body string
		status, responses         int
	}{
		{"Content-Length and chunked", "PUT /o", "Content-Length: 40\r\nTransfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n", 201, 1},
		{"chunked", "PUT /o", "Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n", 201, 1},
		// A body the handler never reads: drained, then the connection closes.
		{"unread, Content-Length and chunked", "GET /healthz", "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n", 200, 1},
		{"Content-Length", "PUT /o", "Content-Length: 5\r\n", "hello", 201, 2},
	}
	for _, c := range cases {
		req := fmt.Sprintf("%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n%s\r\n%s", c.line, f.root, c.framing, c.body)
		if c.responses == 2 {
			next = strings.Replace(next, "\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1) // so the server closes after it
		}
		got := f.pipelined(req + next)
		if len(got) != c.responses {
			t.Fatalf("%s: %d responses on the connection, want %d", c.name, len(got), c.responses)
		}
		if got[0].StatusCode != c.status {
			t.Fatalf("%s: answered %d, want %d", c.name, got[0].StatusCode, c.status)
		}
		if c.responses == 1 && !got[0].Close {
			t.Fatalf("%s: response without Connection: close (%v)", c.name, got[0].Header)
		}
	}
}

// TestChunkedRefusalClosesConnection: a chunked body (with the smuggling
// shape's Content-Length beside it) closes its connection whatever
// answers it: preflight's 400 (a path with an empty segment) and 405
// (CONNECT), which answer before any route, and a refusal of a body with
// more than the drain's 256 KiB left in one chunk, whose end net/http
// would otherwise find in its own drain and keep the connection. The
// request smuggled in the body is never answered (it asks to close the
// connection after it, so a server that serves it is seen at once).
func TestChunkedRefusalClosesConnection(t *testing.T) {
	f := newServerFixture(t, gateway.BodyLimits{})
	smuggled := "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	big := strings.Repeat("a", 300<<10)
	cases := []struct {
		name, line, body string
		status           int
	}{
		{"preflight 400", "POST /o//x", "0\r\n\r\n" + smuggled, http.StatusBadRequest},
		{"preflight 405", "CONNECT /x", "0\r\n\r\n" + smuggled, http.StatusMethodNotAllowed},
		{"300 KiB chunk", "POST /readyz", fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(big), big) + smuggled, http.StatusMethodNotAllowed},
	}
	for _, c := range cases {
		req := fmt.Sprintf("%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n%s",
			c.line, f.root, c.body)
		got := f.pipelined(req)
		if len(got) != 1 {
			codes := []int{}
			for _, r := range got {
				codes = append(codes, r.StatusCode)
			}
			t.Errorf("%s: responses %v, want one %d (the smuggled request answered)", c.name, codes, c.status)
			continue
		}
		if got[0].StatusCode != c.status || !got[0].Close {
			t.Errorf("%s: %d close=%v, want %d with Connection: close", c.name, got[0].StatusCode, got[0].Close, c.status)
		}
	}
}

// TestRefusalWithUnsentBodyClosesPromptly: a refusal with Connection:
// close of a request whose declared body never comes (a name body over
// the route's cap but within net/http's 256 KiB drain, a write without a
// token) closes the connection within the drain timeout: net/http's own
// drain after the response has no deadline of its own. The 10 s bound
// is on an event that must happen (about 1 s after the response).
func TestRefusalWithUnsentBodyClosesPromptly(t *testing.T) {
	f := newServerFixture(t, gateway.BodyLimits{})
	cases := []struct {
		name, request string
		status        int
	}{
		{"name body over the cap", "PUT /names/foo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + f.root + "\r\nContent-Length: 100000\r\n\r\n",
			http.StatusRequestEntityTooLarge},
		{"write without a token", "PUT /o HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", http.StatusUnauthorized},
	}
	for _, c := range cases {
		got := f.pipelinedWithin(c.request, 10*time.Second)
		if len(got) != 1 || got[0].StatusCode != c.status || !got[0].Close {
			t.Errorf("%s: %d responses, want one %d with Connection: close", c.name, len(got), c.status)
		}
	}
}

// TestExpectContinueRefusedBeforeContinue: a body its client holds back
// until "100 Continue" and that the server refuses without reading gets
// the final refusal first, never an invitation to send it: a declared
// size over the object cap (413, checked before a byte is read), over a
// JSON route's cap, and a handler that refuses before reading (501: no
// admin key). Each refusal closes the connection.
func TestExpectContinueRefusedBeforeContinue(t *testing.T) {
	f := newServerFixtureWith(t, func(c *gateway.Config) { c.ObjectBytesMax = 1 << 20 })
	cases := []struct {
		name, request string
		status        int
	}{
		{"object over the cap", "PUT /o HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000000000\r\n", http.StatusRequestEntityTooLarge},
		{"name body over the cap", "POST /names/expect HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n", http.StatusRequestEntityTooLarge},
		{"refused unread", "POST /tokens/revoke HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n", http.StatusNotImplemented},
	}
	for _, c := range cases {
		req := c.request + "Authorization: Bearer " + f.root + "\r\nExpect: 100-continue\r\n\r\n"
		got := f.pipelined(req) // the body is never sent: the client waits for 100 Continue
		if len(got) != 1 {
			codes := []int{}
			for _, r := range got {
				codes = append(codes, r.StatusCode)
			}
			t.Fatalf("%s: responses %v, want one final %d", c.name, codes, c.status)
		}
		if got[0].StatusCode != c.status || !got[0].Close {
			t.Fatalf("%s: %d close=%v, want %d with Connection: close", c.name, got[0].StatusCode, got[0].Close, c.status)
		}
	}
	// A body within the cap still gets its 100 Continue and is stored.
	conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "PUT /o HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", f.root)
	br := bufio.NewReader(conn)
	r, err := http.ReadResponse(br, nil)
	if err != nil || r.StatusCode != http.StatusContinue {
		t.Fatalf("body within the cap: %v %v, want 100 Continue", r, err)
	}
	_, _ = io.WriteString(conn, "hello")
	if r, err = http.ReadResponse(br, nil); err != nil || r.StatusCode != http.StatusCreated {
		t.Fatalf("body within the cap: %v %v, want 201", r, err)
	}
}
