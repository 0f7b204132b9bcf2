package pebbledisk

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
)

// walFiles returns the WAL files of the store in dir.
func walFiles(t *testing.T, dir string) []string {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("no WAL file in %s (%v)", dir, err)
	}
	return logs
}

// TestWALSizeExtendedByPreallocation: on the real file system the WAL
// file's size covers its preallocated space (so a sync of an append does
// not grow it), the bytes past the last record are zeros, and a copy of
// the live store taken after a sync (what a crash leaves: the WAL with
// its zero tail, never closed) opens with every synced write, pebble's
// replay stopping at the zeros as at the end of a file.
func TestWALSizeExtendedByPreallocation(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the extended preallocation is Linux's fallocate")
	}
	root := t.TempDir()
	dir := filepath.Join(root, "store")
	d, err := Open(Options{Dir: dir, CacheBytes: 1 << 20, ReserveBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	want := map[string]string{}
	written := 0
	for i := range 200 {
		k, v := fmt.Sprintf("k%03d", i), fmt.Sprintf("value %d %s", i, bytes.Repeat([]byte("v"), i))
		want[k] = v
		written += len(k) + len(v)
		if res := d.Do(env.DiskOp{Kind: env.DiskPut, Key: []byte(k), Value: []byte(v)}); res.Err != nil {
			t.Fatal(res.Err)
		}
		if i%10 == 9 {
			if res := d.Do(env.DiskOp{Kind: env.DiskSync}); res.Err != nil {
				t.Fatal(res.Err)
			}
		}
	}
	var size int64
	for _, l := range walFiles(t, dir) {
		info, err := os.Stat(l)
		if err != nil {
			t.Fatal(err)
		}
		size += info.Size()
	}
	if size < 1<<20 {
		t.Fatalf("WAL files of %d bytes after %d bytes written: the preallocation did not extend them", size, written)
	}
	if ends := walWrittenBytes(dir); ends >= size || ends < int64(written) {
		t.Fatalf("WAL data ends at %d of %d bytes (%d written): want records, then a zero tail", ends, size, written)
	}
	wantCrashCopy(t, dir, filepath.Join(root, "crash"), want)

	// Past a memtable's worth of writes pebble rotates the WAL: the old
	// log is closed (its EOF trailer synced) before the new one is
	// created, so a copy taken now may hold two logs with zero tails,
	// both replayed when the old memtable's flush has not finished.
	value := bytes.Repeat([]byte("w"), 32<<10) // inline: below the side-file threshold
	for i := range 200 {
		k := fmt.Sprintf("r%03d", i)
		want[k] = string(value)
		if res := d.Do(env.DiskOp{Kind: env.DiskPut, Key: []byte(k), Value: value}); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	if res := d.Do(env.DiskOp{Kind: env.DiskSync}); res.Err != nil {
		t.Fatal(res.Err)
	}
	wantCrashCopy(t, dir, filepath.Join(root, "crash2"), want)
}

// wantCrashCopy copies the live store in dir to crash, opens the copy
// and checks that it holds exactly want. A copy that met a file pebble
// removed meanwhile (an obsolete log or table) is taken again.
func wantCrashCopy(t *testing.T, dir, crash string, want map[string]string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for attempt := 0; ; attempt++ {
		into := fmt.Sprintf("%s-%d", crash, attempt)
		err := os.CopyFS(into, os.DirFS(dir))
		if err == nil {
			crash = into
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
	logs, _ := filepath.Glob(filepath.Join(crash, "*.log"))
	t.Logf("%s: %d WAL files", filepath.Base(crash), len(logs))
	got := readDirStore(t, crash)
	if len(got) != len(want) {
		t.Fatalf("the crash copy holds %d pairs, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("the crash copy holds %q=%.20q, want %.20q", k, got[k], v)
		}
	}
}
