//go:build linux

package pebbledisk

import (
	"os"
	"syscall"
)

// directFile is a segment opened with O_DIRECT.
type directFile struct{ f *os.File }

// createDirect creates (or truncates) name for direct writes.
func createDirect(name string) (segmentFile, error) {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_DIRECT|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	return directFile{f: f}, nil
}

func (d directFile) Write(p []byte) (int, error) { return d.f.Write(p) }

// SyncData is fdatasync: O_DIRECT bypasses the page cache, not the
// device's write cache nor the file's size in its inode, so the sync
// stays what makes the values durable.
func (d directFile) SyncData() error {
	rc, err := d.f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: d.f.Name(), Err: serr}
	}
	return nil
}

func (d directFile) Close() error { return d.f.Close() }
