package main

import (
	"strings"
	"testing"
)

// A retryable refusal (a name read on a node cut off from the registry
// quorum: 503 UNAVAILABLE, retryable) says it is temporary; a refusal
// that is not retryable (a name write's 504 UNKNOWN_OUTCOME) does not.
func TestAPIErrorSaysRetryable(t *testing.T) {
	e := newAPIError("GET", "/names/site", 503, []byte(`{"code":"UNAVAILABLE","message":"resolve: registry: unknown outcome","retryable":true,"corr_id":"c1"}`))
	if !e.Retryable || !strings.Contains(e.Error(), "temporary") {
		t.Errorf("retryable 503: %q (Retryable %v), want it said temporary", e.Error(), e.Retryable)
	}
	e = newAPIError("PUT", "/names/site", 504, []byte(`{"code":"UNKNOWN_OUTCOME","message":"set: registry: unknown outcome","retryable":false,"corr_id":"c2"}`))
	if e.Retryable || strings.Contains(e.Error(), "temporary") {
		t.Errorf("504 not retryable: %q, want no temporary", e.Error())
	}
}
