package pebbledisk

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/internal/dirtree"
)

// TestOpenRefusesAStoreThatLostItsMarker is the reviewer's scenario at
// this layer: a store whose values sit in tables and segments loses its
// zero-length manifest marker (a backup tool skipped it). Open without
// MustExist refuses it with ErrStoreLost naming what it holds, and every
// file stays byte for byte. The old Open created a new store there:
// pebble deleted the tables, the orphan sweep every segment, and the
// store read empty.
func TestOpenRefusesAStoreThatLostItsMarker(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pebble")
	big := bytes.Repeat([]byte("v"), SideValueBytesDefault*2)
	d, err := Open(Options{Dir: dir, BufferedSegments: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []env.DiskOp{
		{Kind: env.DiskPut, Key: []byte("big"), Value: big},
		{Kind: env.DiskPut, Key: []byte("small"), Value: []byte("s")},
		{Kind: env.DiskSync},
	} {
		if res := d.Do(op); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	// A reopen flushes the WAL into tables (openSide).
	if d, err = Open(Options{Dir: dir, BufferedSegments: true}); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	markers, _ := filepath.Glob(filepath.Join(dir, "marker.manifest.*"))
	ssts, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	segs, _ := filepath.Glob(filepath.Join(dir, SideDirName, "*", "*.seg"))
	if len(markers) != 1 || len(ssts) == 0 || len(segs) == 0 {
		t.Fatalf("setup: markers %q, tables %q, segments %q", markers, ssts, segs)
	}
	if err := os.Remove(markers[0]); err != nil {
		t.Fatal(err)
	}
	before := dirtree.Files(t, dir)
	_, err = Open(Options{Dir: dir, BufferedSegments: true})
	if !errors.Is(err, ErrStoreLost) || !strings.Contains(err.Error(), filepath.Base(ssts[0])) ||
		!strings.Contains(err.Error(), filepath.Base(segs[0])) {
		t.Errorf("Open: %v, want ErrStoreLost naming %s and %s", err, filepath.Base(ssts[0]), filepath.Base(segs[0]))
	}
	if after := dirtree.Files(t, dir); !reflect.DeepEqual(after, before) {
		t.Fatalf("the refused Open changed the store: %d files before, %d after", len(before), len(after))
	}
}

// TestOpenCreatesOverAFirstOpenCutShort: a dir without a marker that
// holds none of a store's files (what a crash in the first Open leaves,
// or an empty dir) is a new store, not a lost one.
func TestOpenCreatesOverAFirstOpenCutShort(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pebble")
	if err := os.MkdirAll(filepath.Join(dir, SideDirName), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "LOCK"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestOpenOverAFirstManifestAlone: a crash in pebble's first Open between
// syncing MANIFEST-000001 and writing the marker leaves that manifest
// alone (no WAL, no table); the store holds nothing yet, so Open starts
// it again rather than refusing it as a store that lost its marker.
func TestOpenOverAFirstManifestAlone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pebble")
	db, err := pebble.Open(dir, &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range names {
		if e.Name() != "LOCK" && e.Name() != "MANIFEST-000001" {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	if files, err := StoreFiles(vfs.Default, dir, 1); err != nil || len(files) != 0 {
		t.Fatalf("StoreFiles of a first manifest alone: %v, %v; want none", files, err)
	}
	d, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("Open over a first manifest alone: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestStoreFilesUnlistableSegmentDir: a segment subdirectory that cannot
// be listed (here a dangling link) is an error, not a directory without
// segments: a store that lost its marker and keeps its data in segments
// there would otherwise be taken for a new one, and a later start would
// sweep the segments as orphans.
func TestStoreFilesUnlistableSegmentDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pebble")
	if err := os.MkdirAll(filepath.Join(dir, SideDirName), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "gone"), filepath.Join(dir, SideDirName, "00000000")); err != nil {
		t.Fatal(err)
	}
	if files, err := StoreFiles(vfs.Default, dir, 8); err == nil {
		t.Fatalf("StoreFiles with an unlistable segment dir: %v, no error", files)
	}
	before := namesIn(t, dir)
	if _, err := Open(Options{Dir: dir}); err == nil {
		t.Fatal("Open over an unlistable segment dir without a marker succeeded")
	}
	if after := namesIn(t, dir); !reflect.DeepEqual(after, before) {
		t.Fatalf("Open changed the dir: %v -> %v", before, after)
	}
}

// namesIn lists the names in dir.
func namesIn(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
