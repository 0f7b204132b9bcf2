package gateway_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/io/gateway"
)

// netHTTPError is one of net/http's own protocol error responses, byte
// for byte as it writes them (server.go, "errorHeaders").
const netHTTPError = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nGOTCHA"

// spliceObject is prefix bytes of 'Z' then netHTTPError repeated to at
// least n bytes: content that looks like a protocol error at every
// alignment a response can put it at.
func spliceObject(prefix, n int) []byte {
	b := bytes.Repeat([]byte{'Z'}, prefix)
	for len(b) < n {
		b = append(b, netHTTPError...)
	}
	return b
}

// TestContentLikeProtocolErrorsIsServedIntact: stored bytes that look
// like net/http's protocol error responses leave exactly as stored, for a
// whole GET, a HEAD and ranges starting at every offset of the pattern (so
// the pattern straddles net/http's 4 KiB connection buffer at every
// alignment), buffered and streamed. The envelope connection rewrote any
// write that matched, and net/http writes large bodies straight to the
// connection, so such a download came back as an error envelope.
func TestContentLikeProtocolErrorsIsServedIntact(t *testing.T) {
	f := newServerFixture(t, gateway.BodyLimits{})
	// A cut response would leave the client waiting for the rest.
	client := &http.Client{Timeout: 10 * time.Second}
	get := func(method, path, rng string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, f.srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		r, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s %s: %v", method, path, rng, err)
		}
		defer r.Body.Close()
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Fatalf("%s %s %s: reading %d bytes of the body: %v (ends %q)", method, path, rng, len(body), err, tail(body))
		}
		return r, body
	}
	for _, data := range [][]byte{
		spliceObject(86, 300_000),                       // one buffered read (the red team's evil2.bin)
		spliceObject(0, gateway.BufferedReadBytesMax+1), // streamed
	} {
		addr := f.put(data)
		path := "/o/" + addr
		if r, body := get("GET", path, ""); r.StatusCode != 200 || !bytes.Equal(body, data) {
			t.Fatalf("GET of %d bytes: %d, %d bytes differing from the stored ones (ends %q)", len(data), r.StatusCode, len(body), tail(body))
		}
		if r, body := get("HEAD", path, ""); r.StatusCode != 200 || r.ContentLength != int64(len(data)) || len(body) != 0 {
			t.Fatalf("HEAD of %d bytes: %d, Content-Length %d, %d body bytes", len(data), r.StatusCode, r.ContentLength, len(body))
		}
		for s := range len(netHTTPError) + 90 {
			for _, end := range []int{len(data) - 1, s + 5000, s + 70_000} {
				rng := fmt.Sprintf("bytes=%d-%d", s, end)
				r, body := get("GET", path, rng)
				if r.StatusCode != 206 || !bytes.Equal(body, data[s:end+1]) {
					t.Fatalf("GET %s of %d bytes: %d, %d bytes differing from the stored ones (ends %q)", rng, len(data), r.StatusCode, len(body), tail(body))
				}
			}
		}
	}
}

func tail(b []byte) []byte { return b[max(0, len(b)-80):] }

// TestProtocolErrorAfterLargeBodyIsEnvelope: a malformed second request
// on a keep-alive connection, after a response with a large body, is
// still answered with the envelope (the connection went back to idle, so
// net/http's next error is its own again).
func TestProtocolErrorAfterLargeBodyIsEnvelope(t *testing.T) {
	f := newServerFixture(t, gateway.BodyLimits{})
	data := spliceObject(86, 300_000)
	addr := f.put(data)
	for _, c := range []struct {
		name, request string
		status        int
		code          string
	}{
		{"missing Host", "GET /healthz HTTP/1.1\r\n\r\n", 400, gateway.CodeBadRequest},
		{"bad Content-Length", "PUT /o HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n", 400, gateway.CodeBadRequest},
		{"header too large", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 40<<10) + "\r\n\r\n", 431, gateway.CodeTooLarge},
	} {
		conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second)) // a cut response would leave the reader waiting
		br := bufio.NewReader(conn)
		// Two good requests first: a large body, then a small one.
		for _, rng := range []string{"", "Range: bytes=100-200\r\n"} {
			if _, err := io.WriteString(conn, "GET /o/"+addr+" HTTP/1.1\r\nHost: x\r\n"+rng+"\r\n"); err != nil {
				t.Fatal(err)
			}
			r, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("%s: reading the object: %v", c.name, err)
			}
			body, err := io.ReadAll(r.Body)
			_ = r.Body.Close()
			want := data
			if rng != "" {
				want = data[100:201]
			}
			if err != nil || !bytes.Equal(body, want) {
				t.Fatalf("%s: GET %q: %d bytes, %v", c.name, rng, len(body), err)
			}
		}
		go func() { _, _ = io.WriteString(conn, c.request) }()
		r, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: reading the error: %v", c.name, err)
		}
		body, _ := io.ReadAll(r.Body)
		_ = r.Body.Close()
		_ = conn.Close()
		wantEnvelope(t, c.name+" after a large body", r, body, c.status, c.code)
		if n, _ := strconv.Atoi(r.Header.Get("Content-Length")); n != len(body) {
			t.Fatalf("%s: Content-Length %d, body %d bytes", c.name, n, len(body))
		}
	}
}

// TestOnlyTheFirstWriteIsLookedAt: on an envelope connection nobody told
// of a response (a handler that does not call the gateway, unencrypted
// HTTP/2, whose requests never call responding), the first write
// settles it: a later write that looks like net/http's error text is
// content and leaves as written.
func TestOnlyTheFirstWriteIsLookedAt(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	eln := gateway.EnvelopeListener(ln)
	defer eln.Close()
	settings := []byte{0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100} // an HTTP/2 SETTINGS frame
	go func() {
		c, err := eln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write(settings)
		_, _ = c.Write([]byte(netHTTPError))
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(conn)
	if want := append(settings, netHTTPError...); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %q (%v), want %q", got, err, want)
	}
}
