package gateway

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
)

// errorShaped is net/http's own protocol error response, as a body's
// bytes may also be.
const errorShaped = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nGOTCHA"

// TestIdleRearmsOnlyAfterAResponse: connState re-arms the envelope check
// at an idle only after an HTTP/1 response the gateway began
// (responding). net/http's HTTP/2 server also reports a connection idle
// when its last stream closes, with the tail of that stream's last frame
// possibly still buffered: the next write is then body bytes and must
// leave as written (it was rewritten into an envelope before). After an
// HTTP/1 response, net/http's next protocol error is still an envelope.
func TestIdleRearmsOnlyAfterAResponse(t *testing.T) {
	write := func(t *testing.T, steps func(ec *envelopeConn)) []byte {
		t.Helper()
		a, b := net.Pipe()
		ec := newEnvelopeConn(a, nil)
		got := make(chan []byte, 1)
		go func() { all, _ := io.ReadAll(b); got <- all }()
		connState(ec, http.StateNew)
		steps(ec)
		_ = a.Close()
		return <-got
	}
	settings := []byte{0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100}

	// HTTP/2: the server's SETTINGS, a stream's frames, the last stream
	// closes (idle), then the buffered tail of its body is flushed.
	got := write(t, func(ec *envelopeConn) {
		_, _ = ec.Write(settings)
		connState(ec, http.StateActive)
		connState(ec, http.StateIdle)
		_, _ = ec.Write([]byte(errorShaped))
	})
	if want := append(append([]byte{}, settings...), errorShaped...); !bytes.Equal(got, want) {
		t.Fatalf("HTTP/2 after an idle: wrote %q, want the bytes as written", got)
	}

	// HTTP/1: a handler's response (responding), idle, then net/http's
	// error for a malformed next request: an envelope.
	got = write(t, func(ec *envelopeConn) {
		r := (&http.Request{ProtoMajor: 1}).WithContext(withConn(context.Background(), ec))
		responding(r)
		_, _ = ec.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nDate: x\r\n\r\n"))
		connState(ec, http.StateIdle)
		connState(ec, http.StateActive)
		_, _ = ec.Write([]byte(errorShaped))
	})
	if !bytes.Contains(got, []byte(`"code":"BAD_REQUEST"`)) || bytes.Contains(got, []byte("text/plain")) {
		t.Fatalf("HTTP/1 error after a response: wrote %q, want the JSON envelope", got)
	}
}
