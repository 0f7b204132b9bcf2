package pebbledisk

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
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
	wantCrashCopy(t, d, dir, filepath.Join(root, "crash"), want)

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
	wantCrashCopy(t, d, dir, filepath.Join(root, "crash2"), want)
}

// wantCrashCopy copies the live store in dir to crash, opens the copy
// and checks that it holds exactly want. The copy must be one image of
// the store, as a crash leaves it: os.CopyFS reads file after file while
// pebble's flushes, compactions and file deletions go on, so a table
// could be copied half-written, or created after the listing while the
// MANIFEST copied later names it. So each attempt waits until pebble has
// no flush or compaction running, lists every file with its size and
// modification time, copies, and lists again: a copy that met a removed
// file or during which any file changed (the MANIFEST included) is taken
// again. An unchanged MANIFEST names only files that were complete, and
// so already listed with their final size, before the first listing.
func wantCrashCopy(t *testing.T, d *Disk, dir, crash string, want map[string]string) {
	t.Helper()
	const attempts = 20
	for attempt := 0; ; attempt++ {
		if attempt == attempts {
			t.Fatalf("no consistent copy of the store in %d attempts", attempts)
		}
		waitPebbleIdle(t, d)
		before := listFiles(t, dir)
		into := fmt.Sprintf("%s-%d", crash, attempt)
		err := os.CopyFS(into, os.DirFS(dir))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		if after := listFiles(t, dir); err == nil && maps.Equal(before, after) {
			crash = into
			break
		}
		if err == nil {
			err = errors.New("files changed during the copy")
		}
		t.Logf("copy %d of the store was not one image (%v); again", attempt, err)
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

// fileState is what listFiles compares of a file.
type fileState struct {
	size  int64
	mtime time.Time
}

// listFiles returns every file under dir with its size and modification
// time.
func listFiles(t *testing.T, dir string) map[string]fileState {
	t.Helper()
	out := map[string]fileState{}
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed while listed: the copy is taken again if it mattered
		}
		if err != nil || e.IsDir() {
			return err
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		out[path] = fileState{size: info.Size(), mtime: info.ModTime()}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitPebbleIdle waits until pebble runs no flush and no compaction.
func waitPebbleIdle(t *testing.T, d *Disk) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		m := d.db.Metrics()
		if m.Flush.NumInProgress == 0 && m.Compact.NumInProgress == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble still flushing (%d) or compacting (%d) after 30 s", m.Flush.NumInProgress, m.Compact.NumInProgress)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
