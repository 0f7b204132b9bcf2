package runtime

import (
	"os"
	goruntime "runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// TuneGC makes the collector run once every headroom bytes of
// allocation or so, instead of every time the heap doubles: after every
// collection it sets GOGC from the heap that survived it, so that
// headroom bytes fit between collections, clamped to
// [gcPercentMin, gcPercentMax]. A process that allocates much and keeps
// little pays for a collection every few MiB at Go's default GOGC=100:
// the simulator (a few MiB live, about 200 MB allocated per simulated
// minute) spent 10-15% of its CPU there, and rond's byte path, whose
// live heap is 3-4 MiB while a GET allocates a 256 KiB buffer per chunk
// it reads, collected every 16 chunks (BENCHMARKS.md). A fixed high
// GOGC would multiply a large live heap (a micronode's objects, the
// simulator's large DHT scenarios) by the same factor; with the tuning
// a heap of headroom*100/gcPercentMin bytes or more keeps GOGC=100, and
// the peak heap grows by about headroom. A memory limit
// (debug.SetMemoryLimit) still bounds the heap. An explicit GOGC in the
// environment disables the tuning; a second call does nothing.
func TuneGC(headroom uint64) {
	gcTune.Do(func() {
		if os.Getenv("GOGC") != "" || headroom == 0 {
			return
		}
		gcHeadroom = headroom
		debug.SetGCPercent(gcPercentMax) // a fresh process: next to nothing live yet
		armGCTuner()
	})
}

// GOGC's bounds under TuneGC.
const (
	gcPercentMax = 1600
	gcPercentMin = 100
)

var (
	gcTune     sync.Once
	gcHeadroom uint64
)

// gcSentinel is garbage from the moment it is made; its finalizer runs
// after the next collection, retunes, and arms a new one.
type gcSentinel struct{ _ [16]byte }

func armGCTuner() {
	goruntime.SetFinalizer(&gcSentinel{}, func(*gcSentinel) {
		debug.SetGCPercent(gcPercentFor(liveHeapBytes(), gcHeadroom))
		armGCTuner()
	})
}

// gcPercentFor is the GOGC that lets headroom bytes be allocated on top
// of a live heap of live bytes, clamped to [gcPercentMin, gcPercentMax].
func gcPercentFor(live, headroom uint64) int {
	if live == 0 {
		return gcPercentMax
	}
	pct := headroom * 100 / live
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
