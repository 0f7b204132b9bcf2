//go:build linux

package pebbledisk

import (
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// preallocFile records the calls of the file's own Preallocate.
type preallocFile struct {
	vfs.File
	calls int
}

func (f *preallocFile) Preallocate(offset, length int64) error {
	f.calls++
	return nil
}

// TestWALPreallocateFallsBack: where fallocate's mode 0 is not
// supported (EOPNOTSUPP: a file system without it; ENOSYS: a kernel
// without fallocate) the WAL file falls back to its own preallocation;
// any other error of fallocate is the preallocation's and is returned.
func TestWALPreallocateFallsBack(t *testing.T) {
	f, err := vfs.Default.Create(filepath.Join(t.TempDir(), "000001.log"), vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	defer func() { fallocate = syscall.Fallocate }()
	for _, tc := range []struct {
		errno    syscall.Errno
		fallback bool
	}{
		{syscall.EOPNOTSUPP, true},
		{syscall.ENOSYS, true},
		{syscall.ENOSPC, false},
		{syscall.EIO, false},
	} {
		fallocate = func(int, uint32, int64, int64) error { return tc.errno }
		own := &preallocFile{File: f}
		err := walFile{own}.Preallocate(0, 1<<20)
		switch {
		case tc.fallback && (err != nil || own.calls != 1):
			t.Errorf("fallocate %v: Preallocate returned %v after %d calls of the file's own, want nil after 1", tc.errno, err, own.calls)
		case !tc.fallback && (err != tc.errno || own.calls != 0):
			t.Errorf("fallocate %v: Preallocate returned %v after %d calls of the file's own, want %v after 0", tc.errno, err, own.calls, tc.errno)
		}
	}
}
