//go:build unix

package scenario

import (
	"os"
	"syscall"
)

// openNonblock opens path without blocking on a FIFO (the technique of
// io/regfile, which sim/ may not import: DESIGN.md, lint_test.go).
func openNonblock(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0) // #nosec G304 -- the caller names the scenario file
}

func clearNonblock(f *os.File) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var setErr error
	if err := raw.Control(func(fd uintptr) { setErr = syscall.SetNonblock(int(fd), false) }); err != nil {
		return err
	}
	return setErr
}
