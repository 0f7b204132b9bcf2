//go:build race

package streamtest

// raceEnabled: the race detector is on. Under it sync.Pool drops a share
// of what is put back (to expose misuse) and instrumented code allocates
// more, so streaming leaves far more short-lived garbage; with the default
// GC pacing (GOGC 100) HeapInuse then counts that garbage and a 64 MiB
// bound on a 128 MiB stream fails although nothing is buffered whole.
// HeapPeak collects eagerly instead (GC percent raceGCPercent), so the
// same bound still measures what is live.
const raceEnabled = true
