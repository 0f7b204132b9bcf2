//go:build !unix

package check

// processCPU is 0 where getrusage is not available (see cputime_unix.go).
func processCPU() float64 { return 0 }
