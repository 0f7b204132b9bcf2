//go:build linux

package pebbledisk

import "syscall"

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
