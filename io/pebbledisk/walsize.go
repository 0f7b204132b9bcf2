package pebbledisk

import (
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// walSizedFS is the file system pebble gets (openDB): it passes every
// call through, except that the write-ahead log files (*.log) it creates
// or reuses preallocate their space with the file's size extended over
// it (extendPreallocate) instead of pebble's fallocate with
// FALLOC_FL_KEEP_SIZE. An fdatasync of an append that grows the file
// must also write the inode, for its new size: on this machine's ext4
// that cost each WAL sync a second synchronous write, about 55 us of its
// 180-200 us and a third of its CPU (BENCHMARKS.md, "Name sets: the disk
// side").
// Appends inside the extended size leave the size as it is, as etcd's
// WAL does with its preallocated segments. The tail beyond the last
// record reads as zeros, which pebble's WAL reader takes for the end of
// the log exactly as it takes the end of the file: replay reads ahead
// for a later chunk (none) and stops at the last whole record (see
// "WAL preallocation" in doc.go).
type walSizedFS struct{ vfs.FS }

func isWAL(name string) bool { return strings.HasSuffix(name, ".log") }

// Create implements vfs.FS.
func (fs walSizedFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	if err != nil || !isWAL(name) {
		return f, err
	}
	return walFile{f}, nil
}

// ReuseForWrite implements vfs.FS (pebble recycles WAL files this way).
func (fs walSizedFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, category)
	if err != nil || !isWAL(newname) {
		return f, err
	}
	return walFile{f}, nil
}

// walFile is a WAL file whose preallocation extends its size.
type walFile struct{ vfs.File }

// Preallocate implements vfs.File: the space, and the file's size over
// it, where the platform can (a file with a descriptor on Linux, whose
// file system supports fallocate's mode 0); otherwise the file's own
// preallocation (pebble's: the space only, FALLOC_FL_KEEP_SIZE).
func (f walFile) Preallocate(offset, length int64) error {
	if fd := f.Fd(); fd != vfs.InvalidFd {
		if ok, err := extendPreallocate(fd, offset, length); ok {
			return err
		}
	}
	return f.File.Preallocate(offset, length)
}
