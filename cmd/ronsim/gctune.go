package main

import "github.com/ron-network/ron/io/runtime"

// gcHeadroomBytes is the allocation the simulator makes between garbage
// collections (runtime.TuneGC). It allocates much and keeps little: a
// registry seed keeps a live heap of a few MiB but allocates about 200 MB
// per simulated minute, so at Go's default GOGC=100 the collector runs
// every few MiB and takes 10-15% of a run's CPU (BENCHMARKS.md,
// "Simulator speed (issue 14.5)").
const gcHeadroomBytes = 256 << 20

// tuneGC starts the tuning for this process; a second call does nothing.
func tuneGC() { runtime.TuneGC(gcHeadroomBytes) }
