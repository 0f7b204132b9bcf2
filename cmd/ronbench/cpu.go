package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// cpuTimes is a process's user and system CPU time.
type cpuTimes struct{ user, sys time.Duration }

func (c cpuTimes) sub(o cpuTimes) cpuTimes { return cpuTimes{c.user - o.user, c.sys - o.sys} }

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// processCPU reads the CPU time of the rond child from /proc/<pid>/stat
// (fields 14 and 15, utime and stime); false for the in-process node
// (pid 0) or where /proc is missing.
func processCPU(pid int) (cpuTimes, bool) {
	if pid == 0 {
		return cpuTimes{}, false
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return cpuTimes{}, false
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	_, rest, ok := strings.Cut(string(raw), ") ")
	if !ok {
		return cpuTimes{}, false
	}
	f := strings.Fields(rest) // f[0] is field 3
	if len(f) < 13 {
		return cpuTimes{}, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return cpuTimes{}, false
	}
	tick := time.Second / clockTicks
	return cpuTimes{user: time.Duration(utime) * tick, sys: time.Duration(stime) * tick}, true
}

// cpuReport prints the rond child's CPU time over a phase, and per GiB
// moved.
func cpuReport(w io.Writer, op string, r result, c cpuTimes) {
	gib := float64(r.bytes) / (1 << 30)
	fmt.Fprintf(w, "rond CPU during %s %s: user %.2f s, sys %.2f s; %.2f CPU s per GiB; %.1f MiB/s\n",
		op, sizeName(r.size), c.user.Seconds(), c.sys.Seconds(), (c.user+c.sys).Seconds()/gib,
		float64(r.bytes)/(1<<20)/r.wall.Seconds())
}
