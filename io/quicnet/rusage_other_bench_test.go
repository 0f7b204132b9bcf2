//go:build !unix

package quicnet

// rusage is not read outside unix; BenchmarkRoundTrip reports zeros.
type rusage struct{ switches, cpu int64 }

func rusageNow() rusage { return rusage{} }
