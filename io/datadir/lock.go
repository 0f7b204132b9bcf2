package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockName is the data dir's lock file at its root: rond holds it from
// the moment it has checked the dir until it exits, and rond migrate for
// the whole migration, so that two processes never work on one dir. It
// is not pebble's lock (DIR/pebble/LOCK), which pebble takes when the
// store opens and the migrations take after this one; every process
// takes this one first and neither waits for a lock, so they cannot
// deadlock.
const LockName = "LOCK"

// Lock takes dir's lock (DIR/LOCK, flock, exclusive, never waiting) and
// returns its release; the file stays (unlinking a lock file races with
// a process that opened it). A dir locked by another process, or by
// another Lock of this one, is refused with ErrInUse naming the lock
// file and the process id its holder wrote in it. dir is created if need
// be. The lock is released when the process ends, however it ends.
func Lock(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("datadir: %w", err)
	}
	path := filepath.Join(dir, LockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600) // #nosec G304 -- the operator's data dir
	if err != nil {
		return nil, fmt.Errorf("datadir: lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := holderOf(f)
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is locked by another rond (a running node or rond migrate%s): stop it first (nothing was changed)",
				ErrInUse, path, holder)
		}
		return nil, fmt.Errorf("datadir: lock %s: %w", path, err)
	}
	// The holder's pid is for the error above only: the flock is the lock.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { _ = f.Close() }, nil
}

// holderOf reads the pid the lock's holder wrote, as ", pid N", or "".
func holderOf(f *os.File) string {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	pid := strings.TrimSpace(string(buf[:n]))
	if _, err := strconv.Atoi(pid); err != nil {
		return ""
	}
	return ", pid " + pid
}
