//go:build linux

package pebbledisk

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ron-network/ron/core/env"
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
		err := (&walFile{File: own}).Preallocate(0, 1<<20)
		switch {
		case tc.fallback && (err != nil || own.calls != 1):
			t.Errorf("fallocate %v: Preallocate returned %v after %d calls of the file's own, want nil after 1", tc.errno, err, own.calls)
		case !tc.fallback && (err != tc.errno || own.calls != 0):
			t.Errorf("fallocate %v: Preallocate returned %v after %d calls of the file's own, want %v after 0", tc.errno, err, own.calls, tc.errno)
		}
	}
}

// TestWALSyncRawOnlyWhileFast: a WAL file's SyncData is an fdatasync of
// its descriptor; it skips the runtime's syscall state (RawSyscall) only
// while the file's previous sync took less than rawSyncLimit. The first
// sync, and every sync after a slow one, go through syscall.Syscall, so
// a disk that turns slow holds a P (and a stop-the-world) through one
// raw sync at most, and a disk that is fast again gets raw syncs back. A
// process with one P never syncs raw (the sync would stop every other
// goroutine).
func TestWALSyncRawOnlyWhileFast(t *testing.T) {
	f, err := vfs.Default.Create(filepath.Join(t.TempDir(), "000001.log"), vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	defer func(raw, blocking func(uintptr) syscall.Errno, clock func() time.Time, p func() int) {
		rawFdatasync, blockingFdatasync, syncClock, procs = raw, blocking, clock, p
	}(rawFdatasync, blockingFdatasync, syncClock, procs)
	nprocs := 2
	procs = func() int { return nprocs }
	now := time.Unix(0, 0)
	syncClock = func() time.Time { return now }
	var took time.Duration // how long the next sync takes
	var calls []string
	play := func(kind string) func(uintptr) syscall.Errno {
		return func(fd uintptr) syscall.Errno {
			if fd != f.Fd() {
				t.Errorf("%s fdatasync of fd %d, want the file's %d", kind, fd, f.Fd())
			}
			calls = append(calls, kind)
			now = now.Add(took)
			return 0
		}
	}
	rawFdatasync, blockingFdatasync = play("raw"), play("blocking")
	w := &walFile{File: f, rawSync: true}
	for i, step := range []struct {
		took time.Duration
		want string
	}{
		{100 * time.Microsecond, "blocking"}, // the first: nothing measured yet
		{100 * time.Microsecond, "raw"},
		{50 * time.Millisecond, "raw"},      // turns slow: this one is raw...
		{50 * time.Millisecond, "blocking"}, // ...the next ones are not
		{200 * time.Microsecond, "blocking"},
		{200 * time.Microsecond, "raw"}, // fast again
	} {
		took, calls = step.took, nil
		if err := w.SyncData(); err != nil {
			t.Fatalf("sync %d: %v", i, err)
		}
		if len(calls) != 1 || calls[0] != step.want {
			t.Fatalf("sync %d made %v, want one %s fdatasync", i, calls, step.want)
		}
	}
	nprocs, took, calls = 1, 0, nil
	if err := w.SyncData(); err != nil || len(calls) != 1 || calls[0] != "blocking" {
		t.Fatalf("one P after a fast sync: SyncData made %v (err %v), want one blocking fdatasync", calls, err)
	}
	blockingFdatasync = func(uintptr) syscall.Errno { return syscall.EIO }
	w.fast.Store(false)
	if err := w.SyncData(); err != syscall.EIO {
		t.Fatalf("a failed fdatasync: SyncData returned %v, want EIO", err)
	}
}

// TestStoreWALSyncsThroughSyncData: a store on the operating system's
// file system makes its WAL syncs through walFile.SyncData (syncData's
// calls), so pebble's syncingFile does reach it; a store over another
// file system (here the one of the unsynced-writes journal's kind: any
// wrapper) does not.
func TestStoreWALSyncsThroughSyncData(t *testing.T) {
	defer func(raw, blocking func(uintptr) syscall.Errno) {
		rawFdatasync, blockingFdatasync = raw, blocking
	}(rawFdatasync, blockingFdatasync)
	var calls int
	count := func(sync func(uintptr) syscall.Errno) func(uintptr) syscall.Errno {
		return func(fd uintptr) syscall.Errno { calls++; return sync(fd) }
	}
	rawFdatasync, blockingFdatasync = count(rawFdatasync), count(blockingFdatasync)
	for _, tc := range []struct {
		name string
		fs   vfs.FS
		want bool
	}{
		{"vfs.Default", vfs.Default, true},
		{"a wrapper", struct{ vfs.FS }{vfs.Default}, false},
	} {
		d, err := Open(Options{Dir: filepath.Join(t.TempDir(), "store"), FS: tc.fs, CacheBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		calls = 0
		for i := range 3 {
			if r := d.Do(env.DiskOp{Kind: env.DiskPut, Key: []byte{byte(i)}, Value: []byte("v")}); r.Err != nil {
				t.Fatal(r.Err)
			}
			if r := d.Do(env.DiskOp{Kind: env.DiskSync}); r.Err != nil {
				t.Fatal(r.Err)
			}
		}
		got := calls
		_ = d.Close()
		if tc.want && got < 3 || !tc.want && got != 0 {
			t.Errorf("%s: %d fdatasyncs through syncData for 3 synced writes, want %v", tc.name, got, map[bool]string{true: "at least 3", false: "none"}[tc.want])
		}
	}
}
