package gateway

import (
	"context"
	"fmt"
	"net/http"
	"testing"
)

// A write cut off by its cancelled request context (the client went, or
// net/http gave up the connection after an expired session's stop) may
// have been applied: 504 UNKNOWN_OUTCOME, not 500 INTERNAL. A cancelled
// read stays what it was.
func TestMapErrorCancelledWriteIsUnknownOutcome(t *testing.T) {
	err := fmt.Errorf("runtime: call storage: %w", context.Canceled)
	if e := mapError(err, true); e.status != http.StatusGatewayTimeout || e.code != CodeUnknownOutcome {
		t.Fatalf("cancelled write: %d %s, want 504 %s", e.status, e.code, CodeUnknownOutcome)
	}
}

// The Session's body is finished once: the first call decides, a later
// one (putObject's deferred finish(false)) changes nothing, reports
// whether a stop came first, and a stop after either is a no-op.
func TestSessionBodyFinishIsIdempotent(t *testing.T) {
	b := &sessionBody{}
	if b.finish(true) {
		t.Fatal("finish reports a stop that never ran")
	}
	if b.finish(false) {
		t.Fatal("a second finish reports a stop that never ran")
	}
	b.stop()
	if b.stopped.Load() {
		t.Fatal("a stop after finish stopped the body")
	}
	s := &sessionBody{}
	s.stop()
	for i := range 2 { // the first finish and a repeat alike
		if !s.finish(false) {
			t.Fatalf("finish %d after a stop does not report it", i+1)
		}
	}
}
