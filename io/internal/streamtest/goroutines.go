package streamtest

import (
	"runtime"
	"strings"
)

// GoroutineID is the calling goroutine's number, from its stack header
// ("goroutine N [running]:"). Numbers are never reused within a process,
// so a test can note the goroutines that did some work and later ask
// whether they are gone (Alive), without counting other tests'
// goroutines.
func GoroutineID() string {
	buf := make([]byte, 64)
	fields := strings.Fields(string(buf[:runtime.Stack(buf, false)]))
	if len(fields) < 2 {
		return ""
	}
	return fields[1]
}

// Alive returns those of ids (goroutine numbers, GoroutineID) still
// running or parked, from a dump of every goroutine's stack header, read
// whole (a cut-off dump would miss some).
func Alive(ids map[string]bool) []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var found []string
	for line := range strings.SplitSeq(string(buf), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "goroutine" && ids[f[1]] {
			found = append(found, f[1])
		}
	}
	return found
}
