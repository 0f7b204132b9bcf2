package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

// The simulator allocates much and keeps little: a registry seed keeps a
// live heap of a few MiB but allocates about 200 MB per simulated minute,
// so at Go's default GOGC=100 the collector runs every few MiB and takes
// 10-15% of a run's CPU (BENCHMARKS.md, "Simulator speed (issue 14.5)").
// A fixed high GOGC would multiply the peak heap of the large DHT
// scenarios (GiBs live) by the same factor, so tuneGC sets GOGC after
// every collection from the heap that survived it: enough headroom for
// gcHeadroomBytes of allocation between collections, between GOGC=100 and
// gcPercentMax. An explicit GOGC in the environment disables the tuning.
const (
	gcHeadroomBytes = 256 << 20
	gcPercentMax    = 1600
	gcPercentMin    = 100
)

// tuneGC starts the tuning for this process (see above); a second call
// does nothing.
func tuneGC() {
	if gcTuning || os.Getenv("GOGC") != "" {
		return
	}
	gcTuning = true
	debug.SetGCPercent(gcPercentMax) // a fresh process: next to nothing live yet
	armGCTuner()
}

var gcTuning bool

// gcSentinel is garbage from the moment it is made; its finalizer runs
// after the next collection, retunes, and arms a new one.
type gcSentinel struct{ _ [16]byte }

func armGCTuner() {
	runtime.SetFinalizer(&gcSentinel{}, func(*gcSentinel) {
		debug.SetGCPercent(gcPercentFor(liveHeapBytes()))
		armGCTuner()
	})
}

// gcPercentFor is the GOGC that lets gcHeadroomBytes be allocated on top
// of a live heap of live bytes, clamped to [gcPercentMin, gcPercentMax].
func gcPercentFor(live uint64) int {
	if live == 0 {
		return gcPercentMax
	}
	pct := gcHeadroomBytes * 100 / live
	return int(max(gcPercentMin, min(gcPercentMax, pct)))
}

func liveHeapBytes() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
