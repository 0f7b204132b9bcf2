package gateway_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/io/gateway"
)

// rawPut opens a connection to f's server and sends the head of a PUT
// /o declaring size body bytes, without Expect: 100-continue.
func rawPut(t *testing.T, f *fixture, size int64) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	head := fmt.Sprintf("PUT /o HTTP/1.1\r\nHost: node\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", f.root, size)
	if _, err := conn.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	return conn
}

// A PUT declaring a body over the cap, sent without Expect:
// 100-continue by a client that writes its body (in pieces) before it
// reads, gets the 413 and not a reset: the node reads what the client
// sends (up to its drain bound, above this body) before it closes. Before
// the drain the node half-closed with the body unread and closed 500 ms
// later, its kernel reset the connection under the client's write, and a
// client that gives up on a failed write (Go's http.Transport does) never
// read the answer (here try 7 of 20 on an idle machine).
func TestDeclaredTooLargePutReadsRefusal(t *testing.T) {
	const capBytes = 1 << 20
	f := newFixture(t, gateway.AdmissionConfig{}, capBytes)
	piece := make([]byte, 64<<10)
	for try := range 20 {
		conn := rawPut(t, f, 2*capBytes)
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		for sent := 0; sent < 2*capBytes; sent += len(piece) {
			if _, err := conn.Write(piece); err != nil {
				t.Fatalf("try %d: writing the body after %d bytes: %v", try, sent, err)
			}
		}
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			t.Fatalf("try %d: reading the answer: %v", try, err)
		}
		if !strings.HasPrefix(line, "HTTP/1.1 413 ") {
			t.Fatalf("try %d: status line %q, want 413", try, line)
		}
		conn.Close()
	}
}

// The drain after a refusal is bounded: a client that declares a huge
// body and keeps sending it forever is answered 413 and then closed, after
// the node read a bounded part of it.
func TestRefusedDrainIsBounded(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{}, 1<<20)
	conn := rawPut(t, f, 1<<40)
	status := make(chan string, 1)
	go func() {
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			line = "error: " + err.Error()
		}
		status <- line
	}()
	// Generous: the drain stops after at most 2 s (or 4 MiB), and
	// net/http closes 500 ms after that.
	deadline := time.Now().Add(60 * time.Second)
	_ = conn.SetWriteDeadline(deadline)
	piece := make([]byte, 64<<10)
	var sent int64
	var err error
	for err == nil {
		var n int
		n, err = conn.Write(piece)
		sent += int64(n)
	}
	if time.Now().After(deadline) {
		t.Fatalf("the node still read the refused body after %d bytes: %v", sent, err)
	}
	// What the client got out is the drain's bound plus what the two
	// kernels' socket buffers held; 64 MiB is far above both.
	if sent > 64<<20 {
		t.Fatalf("the client sent %d bytes before the node closed", sent)
	}
	if line := <-status; !strings.HasPrefix(line, "HTTP/1.1 413 ") {
		t.Fatalf("status line %q, want 413", line)
	}
	t.Logf("closed after %d bytes sent (%v)", sent, err)
}

// A refusal flushed before the drain of its unread body is complete on
// the wire: it carries Content-Length, so a client that sent part of the
// body and stopped reads the whole envelope while the node still waits
// for the rest (the drain is a minute here). Before, the flushed 413 went
// out chunked and its last chunk only after the drain (2 s by default):
// the client's read of the body timed out here.
func TestRefusalIsCompleteBeforeTheDrain(t *testing.T) {
	gateway.SetRefusedDrainTimeout(t, time.Minute)
	const capBytes = 1 << 20
	f := newFixture(t, gateway.AdmissionConfig{}, capBytes)
	conn := rawPut(t, f, 2*capBytes)
	if _, err := conn.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the refusal's body (Transfer-Encoding %v): %v", resp.TransferEncoding, err)
	}
	if resp.StatusCode != http.StatusRequestEntityTooLarge || resp.Header.Get("Content-Length") == "" ||
		resp.ContentLength != int64(len(body)) || !resp.Close {
		t.Fatalf("status %d, Content-Length %q, %d body bytes, close %v", resp.StatusCode,
			resp.Header.Get("Content-Length"), len(body), resp.Close)
	}
	var env gateway.Envelope
	if err := json.Unmarshal(body, &env); err != nil || env.Code != gateway.CodeTooLarge {
		t.Fatalf("body %q: %v", body, err)
	}
}
