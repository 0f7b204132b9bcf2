//go:build linux

package pebbledisk

import "syscall"

// extendPreallocate allocates [offset, offset+length) of the file fd and
// extends its size over it (fallocate without FALLOC_FL_KEEP_SIZE); the
// new bytes read as zeros. ok is false where it does not apply.
func extendPreallocate(fd uintptr, offset, length int64) (ok bool, err error) {
	for {
		err = syscall.Fallocate(int(fd), 0, offset, length)
		if err != syscall.EINTR {
			return true, err
		}
	}
}
