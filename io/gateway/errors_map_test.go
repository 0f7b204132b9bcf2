package gateway

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/core/storage"
)

// A storage error reaches the client with the status that says whose
// fault it is: a manifest whose size claims its verified chunks refute
// is the data's (502), like corruption, not the client's (400) nor an
// unexplained 500.
func TestMapErrorBlamesTheRightParty(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("%w: b3:1234: chunk of 40000 bytes, claimed 40001", storage.ErrBadManifest), http.StatusBadGateway},
		{storage.ErrCorruption, http.StatusBadGateway},
		{fmt.Errorf("%w: chunk size", storage.ErrBadRequest), http.StatusBadRequest},
		{storage.ErrNotFound, http.StatusNotFound},
	} {
		if got := mapError(c.err, false); got.status != c.want {
			t.Errorf("%v: status %d, want %d", c.err, got.status, c.want)
		}
	}
}

// A pinned put refused because the node keeps the object pinned for a
// newer build is a 409 the client must not retry (it was a retryable
// 504 UNKNOWN_OUTCOME or 503), with a message naming what clears it,
// even when the put's error also carries an unknown outcome or an
// unavailable replica.
func TestMapErrorKeptByNewerBuild(t *testing.T) {
	kept := fmt.Errorf("the pinned copy on this node was not written: %w", fmt.Errorf("%w (b3:1234)", storage.ErrKeptByNewerBuild))
	for _, err := range []error{
		kept,
		fmt.Errorf("%w; this node's write: %w", storage.ErrUnknownOutcome, kept),
		fmt.Errorf("%w; this node's write: %w", storage.ErrUnavailable, kept),
	} {
		got := mapError(err, true)
		if got.status != http.StatusConflict || got.code != CodeKeptByNewerBuild || got.retryable || got.retryAfter != 0 {
			t.Errorf("%v: %d %s retryable %v; want 409 %s, not retryable", err, got.status, got.code, got.retryable, CodeKeptByNewerBuild)
		}
		if !strings.Contains(got.message, "restart") || !strings.Contains(got.message, "Delete") {
			t.Errorf("the message does not say what clears the refusal: %q", got.message)
		}
	}
}

// A registry op refused because the replicas' membership does not list
// this node is a 503 naming the membership, not retryable (it repeats
// until the cluster's configuration changes): it was a 500 INTERNAL.
func TestMapErrorNotMember(t *testing.T) {
	err := fmt.Errorf("names: claim x: %w", registry.ErrNotMember)
	got := mapError(err, true)
	if got.status != http.StatusServiceUnavailable || got.code != CodeUnavailable || got.retryable || got.retryAfter != 0 {
		t.Errorf("%v: %d %s retryable %v; want 503 %s, not retryable", err, got.status, got.code, got.retryable, CodeUnavailable)
	}
	if !strings.Contains(got.message, "not a member") {
		t.Errorf("the message does not say why: %q", got.message)
	}
}

// An object put whose commit has an unknown outcome (a quorum not
// reached in time) is a 504 the client may send again: the put is
// content-addressed, so a repeat stores nothing twice. It said
// retryable false, like a name write's. A kept-by-newer-build refusal
// inside the same error stays a 409 not to retry.
func TestPutUnknownOutcomeIsRetryable(t *testing.T) {
	err := fmt.Errorf("storage: put: %w: 1 of 3 replicas stored it, quorum 2", storage.ErrUnknownOutcome)
	if e := retryablePut(mapError(err, true)); e.status != http.StatusGatewayTimeout || e.code != CodeUnknownOutcome || !e.retryable {
		t.Errorf("put unknown outcome: %d %s retryable %v, want 504 %s retryable", e.status, e.code, e.retryable, CodeUnknownOutcome)
	}
	if e := mapError(err, true); e.retryable {
		t.Errorf("mapError itself made every unknown outcome retryable (a name write's must not be)")
	}
	kept := fmt.Errorf("%w; this node's write: %w", storage.ErrUnknownOutcome, fmt.Errorf("%w (b3:1234)", storage.ErrKeptByNewerBuild))
	if e := retryablePut(mapError(kept, true)); e.code != CodeKeptByNewerBuild || e.retryable {
		t.Errorf("kept by a newer build: %s retryable %v, want %s not retryable", e.code, e.retryable, CodeKeptByNewerBuild)
	}
}

// The registry ends every op it had sent with ErrUnknownOutcome at its
// OpTimeout, a resolve as well as a write. A read changed nothing, so on
// a node cut off from the registry quorum GET /names/{name} is 503
// UNAVAILABLE, retryable, with Retry-After (it was a 504 UNKNOWN_OUTCOME
// with retryable false, which clients obeying retryable never retried);
// a write's stays an unknown outcome, not retryable.
func TestMapErrorTimedOutReadIsUnavailable(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("resolve %q: %w", "site", registry.ErrUnknownOutcome),
		fmt.Errorf("get b3:1234: %w", storage.ErrUnknownOutcome),
	} {
		got := mapError(err, false)
		if got.status != http.StatusServiceUnavailable || got.code != CodeUnavailable || !got.retryable || got.retryAfter <= 0 {
			t.Errorf("read %v: %d %s retryable %v retryAfter %v, want 503 %s retryable with Retry-After",
				err, got.status, got.code, got.retryable, got.retryAfter, CodeUnavailable)
		}
		rec := httptest.NewRecorder()
		writeError(rec, "c1", got)
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" ||
			!strings.Contains(rec.Body.String(), `"retryable":true`) {
			t.Errorf("read %v: answered %d Retry-After %q %s", err, rec.Code, rec.Header().Get("Retry-After"), rec.Body.String())
		}
		w := mapError(err, true)
		if w.status != http.StatusGatewayTimeout || w.code != CodeUnknownOutcome || w.retryable {
			t.Errorf("write %v: %d %s retryable %v, want 504 %s not retryable", err, w.status, w.code, w.retryable, CodeUnknownOutcome)
		}
	}
}
