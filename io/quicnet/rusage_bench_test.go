//go:build unix

package quicnet

import "syscall"

type rusage struct {
	switches int64 // voluntary and involuntary context switches
	cpu      int64 // user and system time, ns
}

func rusageNow() rusage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return rusage{}
	}
	return rusage{
		switches: int64(ru.Nvcsw + ru.Nivcsw),
		cpu:      ru.Utime.Nano() + ru.Stime.Nano(),
	}
}
