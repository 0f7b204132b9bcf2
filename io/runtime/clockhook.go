package runtime

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pingcap/failpoint"

	"github.com/ron-network/ron/core/env"
)

// FailpointClock skews the clock the machines see, for fault injection
// (sim/real's clock faults). It is a pingcap/failpoint, evaluated directly
// with failpoint.Eval: it is off unless a test enables it or the process
// runs with GO_FAILPOINTS / GO_FAILPOINTS_HTTP, and no flag or config key
// reaches it. Its value is a string "OFFSET_NS:DRIFT":
//
//	return("2000000000:0.4")   jump 2 s ahead, then run 40% fast
//	return("0:-0.5")           run at half speed
//
// The skew starts when the value is first seen: the clock jumps by the
// offset, then advances at 1+DRIFT times true time, and timers the
// machines set fire after their delay divided by 1+DRIFT (so a fast clock
// makes ticks come sooner, as the simulator's does). Changing the value
// starts a new window from the clock's current reading. Disabling it
// returns the clock to true time without ever stepping back: a clock left
// ahead stands still until true time catches up (the simulator's rule).
const FailpointClock = "github.com/ron-network/ron/io/runtime/clock"

// clockSkew is the state of the clock hook, shared by every runtime of the
// process as the failpoint is.
var clockSkew skew

type skew struct {
	mu     sync.Mutex
	value  string   // the failpoint value in force, "" when off
	drift  float64  // of the window in force
	anchor env.Time // true time when the window started
	base   env.Time // the skewed reading at anchor
	last   env.Time // the latest reading handed out (never decreases)
	// used is set once the failpoint was first seen on; until then now
	// hands out the true reading without taking the lock.
	used atomic.Bool
}

// parseSkew reads "OFFSET_NS:DRIFT".
func parseSkew(v string) (time.Duration, float64, error) {
	offsetText, driftText, ok := strings.Cut(v, ":")
	if !ok {
		return 0, 0, fmt.Errorf("runtime: clock failpoint %q is not OFFSET_NS:DRIFT", v)
	}
	offset, err := strconv.ParseInt(offsetText, 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("runtime: clock failpoint offset: %w", err)
	}
	drift, err := strconv.ParseFloat(driftText, 64)
	if err != nil || drift <= -1 || drift > 10 {
		return 0, 0, fmt.Errorf("runtime: clock failpoint drift %q: want a number in (-1, 10]", driftText)
	}
	return time.Duration(offset), drift, nil
}

// failpointValue is the clock failpoint's value, "" when it is off or
// malformed.
func failpointValue() string {
	v, err := failpoint.Eval(FailpointClock)
	if err != nil {
		return ""
	}
	s, _ := v.(string)
	return s
}

// now maps the true reading to the skewed one.
func (s *skew) now(truth env.Time) env.Time {
	value := failpointValue()
	if value == "" && !s.used.Load() {
		return truth
	}
	s.used.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	if value != s.value {
		s.switchTo(value, truth)
	}
	reading := truth
	if s.value != "" {
		reading = s.base + env.Time(float64(truth-s.anchor)*(1+s.drift))
	}
	s.last = max(s.last, reading)
	return s.last
}

// switchTo starts the window of value at truth.
func (s *skew) switchTo(value string, truth env.Time) {
	current := max(s.last, truth)
	if s.value != "" {
		current = max(s.last, s.base+env.Time(float64(truth-s.anchor)*(1+s.drift)))
	}
	s.value, s.drift, s.last = "", 0, current
	offset, drift, err := parseSkew(value)
	if value == "" || err != nil {
		return
	}
	s.value, s.drift, s.anchor, s.base = value, drift, truth, current+env.Time(offset)
}

// timerDelay scales a timer's delay by the drift in force.
func (s *skew) timerDelay(d time.Duration) time.Duration {
	value := failpointValue()
	if value == "" {
		return d
	}
	_, drift, err := parseSkew(value)
	if err != nil {
		return d
	}
	return time.Duration(float64(d) / (1 + drift))
}
