package runtime

import (
	"testing"
	"time"

	"github.com/pingcap/failpoint"

	"github.com/ron-network/ron/core/env"
)

// TestClockSkewFailpoint drives the hook with explicit true readings: off,
// it hands out the truth; on, it jumps by the offset and runs at 1+drift;
// a new value starts from the current reading; off again, it never steps
// back but stands still until the truth catches up. Timers scale by the
// drift only while it is on.
func TestClockSkewFailpoint(t *testing.T) {
	var s skew
	sec := env.Time(time.Second)
	if got := s.now(10 * sec); got != 10*sec {
		t.Fatalf("off: now(10s) = %v", time.Duration(got))
	}
	if err := failpoint.Enable(FailpointClock, `return("2000000000:1")`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = failpoint.Disable(FailpointClock) })
	if got := s.now(20 * sec); got != 22*sec {
		t.Fatalf("on at 20s: %v, want 22s (offset 2s)", time.Duration(got))
	}
	if got := s.now(21 * sec); got != 24*sec {
		t.Fatalf("1s later: %v, want 24s (drift 1: twice as fast)", time.Duration(got))
	}
	if got := s.timerDelay(time.Second); got != 500*time.Millisecond {
		t.Fatalf("timer of 1s under drift 1 fires after %v, want 500ms", got)
	}
	if err := failpoint.Enable(FailpointClock, `return("0:-0.5")`); err != nil {
		t.Fatal(err)
	}
	if got := s.now(22 * sec); got != 26*sec {
		t.Fatalf("new value at 22s: %v, want 26s (the old window's reading)", time.Duration(got))
	}
	if got := s.now(24 * sec); got != 27*sec {
		t.Fatalf("2s later at half speed: %v, want 27s", time.Duration(got))
	}
	if err := failpoint.Disable(FailpointClock); err != nil {
		t.Fatal(err)
	}
	if got := s.now(25 * sec); got != 27*sec+sec/2 {
		t.Fatalf("off at 25s: %v, want 27.5s (stands still, never back)", time.Duration(got))
	}
	if got := s.now(30 * sec); got != 30*sec {
		t.Fatalf("off at 30s: %v, want the truth again", time.Duration(got))
	}
	if got := s.timerDelay(time.Second); got != time.Second {
		t.Fatalf("timer off: %v", got)
	}
}
