//go:build unix

package check

import "syscall"

// processCPU is the CPU time (user+sys) this process has used, or 0 where
// the system cannot say. The checker's wall time swings with the machine's
// load; its CPU time (the process runs one check at a time) does not.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
