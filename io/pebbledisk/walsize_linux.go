//go:build linux

package pebbledisk

import (
	"runtime"
	"syscall"
	"time"
)

// fallocate is syscall.Fallocate; a variable so that tests can play a
// file system without it.
var fallocate = syscall.Fallocate

// extendPreallocate allocates [offset, offset+length) of the file fd and
// extends its size over it (fallocate without FALLOC_FL_KEEP_SIZE); the
// new bytes read as zeros. ok is false where it does not apply: a file
// system that does not support fallocate's mode 0 (EOPNOTSUPP) or a
// kernel without fallocate (ENOSYS); the caller then falls back to the
// file's own preallocation.
func extendPreallocate(fd uintptr, offset, length int64) (ok bool, err error) {
	for {
		err = fallocate(int(fd), 0, offset, length)
		if err != syscall.EINTR {
			return extendApplies(err), err
		}
	}
}

// extendApplies reports whether fallocate's answer err (mode 0) is the
// preallocation's outcome, rather than the file system's or kernel's
// lack of it.
func extendApplies(err error) bool {
	return err != syscall.EOPNOTSUPP && err != syscall.ENOSYS
}

// rawSyncLimit: a WAL sync goes through RawSyscall only while the
// file's previous sync took less than this (see "WAL syncs" in doc.go).
const rawSyncLimit = 2 * time.Millisecond

// The calls syncData makes, variables so that tests can play a disk that
// turns slow or a process with one P: fdatasync without the runtime's
// syscall state, the same through it, the clock that times them and the
// number of Ps.
var (
	procs        = func() int { return runtime.GOMAXPROCS(0) }
	rawFdatasync = func(fd uintptr) syscall.Errno {
		_, _, errno := syscall.RawSyscall(syscall.SYS_FDATASYNC, fd, 0, 0)
		return errno
	}
	blockingFdatasync = func(fd uintptr) syscall.Errno {
		_, _, errno := syscall.Syscall(syscall.SYS_FDATASYNC, fd, 0, 0)
		return errno
	}
	syncClock = time.Now
)

// syncData is fdatasync(fd). fast says the file's previous sync took
// less than rawSyncLimit: then, if the process has at least two Ps (one
// is left for every other goroutine), the call is made with RawSyscall,
// which keeps the calling thread's P and skips the runtime's syscall
// state (no hand-off of the P by sysmon, no wake-up of a second thread
// when the call returns); otherwise through syscall.Syscall like any
// blocking call. wasFast reports whether this sync took less than
// rawSyncLimit; ok is always true here (the platform has fdatasync).
func syncData(fd uintptr, fast bool) (ok, wasFast bool, err error) {
	sync := blockingFdatasync
	if fast && procs() >= 2 {
		sync = rawFdatasync
	}
	start := syncClock()
	errno := sync(fd)
	for errno == syscall.EINTR {
		errno = sync(fd)
	}
	wasFast = syncClock().Sub(start) < rawSyncLimit
	if errno != 0 {
		return true, wasFast, errno
	}
	return true, wasFast, nil
}
