package oapgate

import (
	"errors"
	"strings"
	"testing"

	"github.com/quic-go/quic-go"
)

// A request that raced the node's idle close (the connection closed with
// code 6, which the node does only to a connection with no request
// stream, so the request was never served) is reported as ErrBusy, safe
// to send again, and says why; one cut by an eviction at ConnsMax (code
// 5) is not, as a response may have been written whole but not yet
// acknowledged. A stream reset busy says it may have been either bound or
// a closing connection, not only the START frames pending.
func TestRemoteErrorIdleCloseIsBusy(t *testing.T) {
	idle := remoteError(&quic.ApplicationError{Remote: true, ErrorCode: codeIdle, ErrorMessage: "idle: no request for 2m0s"})
	var re *RemoteError
	if !errors.Is(idle, ErrBusy) || !errors.As(idle, &re) || !re.Busy() {
		t.Fatalf("a request on a connection closed as idle: %v, want ErrBusy", idle)
	}
	if msg := idle.Error(); !strings.Contains(msg, "idle") || strings.Contains(msg, "START") {
		t.Fatalf("idle close message %q: want the idle close named, not START frames", msg)
	}
	if evicted := remoteError(&quic.ApplicationError{Remote: true, ErrorCode: codeEvicted}); errors.Is(evicted, ErrBusy) {
		t.Fatalf("a request on an evicted connection: %v, want not ErrBusy", evicted)
	}
	busy := remoteError(&quic.StreamError{Remote: true, ErrorCode: StreamCodeBusy})
	if !errors.Is(busy, ErrBusy) || !strings.Contains(busy.Error(), "closed") {
		t.Fatalf("a stream reset busy: %v, want ErrBusy naming the closing connection too", busy)
	}
	if strings.Contains(ErrBusy.Error(), "START") {
		t.Fatalf("ErrBusy %q names only the START frames pending", ErrBusy)
	}
}
