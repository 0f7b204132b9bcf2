package main

import (
	"testing"
	"time"
)

type flipReady struct{ calls, readyAfter int }

func (f *flipReady) Ready() bool {
	f.calls++
	return f.readyAfter >= 0 && f.calls > f.readyAfter
}

// The banner waits for readiness, but only up to its bound: a node that
// needs its peers must still print it.
func TestWaitReadyIsBounded(t *testing.T) {
	becomes := &flipReady{readyAfter: 3}
	if !waitReady(becomes.Ready, time.Minute) {
		t.Fatal("a node that becomes ready was reported not ready")
	}
	if becomes.calls != 4 {
		t.Fatalf("polled %d times, want 4 (ready on the fourth)", becomes.calls)
	}
	// 300 ms, not 30: waitReady polls every 10 ms, and a loaded machine
	// oversleeps one of those by 30 ms, which left a single poll.
	never := &flipReady{readyAfter: -1}
	if waitReady(never.Ready, 300*time.Millisecond) {
		t.Fatal("a node that never becomes ready was reported ready")
	}
	if never.calls < 2 {
		t.Fatalf("polled %d times before giving up; the wait must poll", never.calls)
	}
}
