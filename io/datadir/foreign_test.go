package datadir

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ron-network/ron/internal/dirtree"
)

// foreignDirs are data dirs whose DIR/pebble is not a store rond wrote,
// each with the words its error must hold. The first is the red team's
// repro: a pebble/ with files named as pebble names them, but no manifest
// marker, which the old Format took for format 0 and whose files a
// migration then deleted.
func foreignDirs(t *testing.T) map[string]struct {
	dir  string
	want []string
} {
	t.Helper()
	mk := func(files map[string]string) string {
		dir := t.TempDir()
		for name, content := range files {
			path := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	empty := t.TempDir()
	if err := os.Mkdir(filepath.Join(empty, StoreName), 0o700); err != nil {
		t.Fatal(err)
	}
	return map[string]struct {
		dir  string
		want []string
	}{
		"pebble names, no marker": {mk(map[string]string{"pebble/MANIFEST-000001": "data", "pebble/000002.log": "data2"}),
			[]string{"no pebble manifest marker", "MANIFEST-000001", "000002.log"}},
		"empty directory": {empty, []string{"no pebble manifest marker", "an empty directory"}},
		"a file":          {mk(map[string]string{"pebble": "not a dir"}), []string{"is a file"}},
		"marker names a missing manifest": {mk(map[string]string{"pebble/marker.manifest.000001.MANIFEST-000009": "", "pebble/OPTIONS-000003": "x"}),
			[]string{"MANIFEST-000009", "cannot be read"}},
	}
}

// TestForeignStoreIsRefusedUntouched: a DIR/pebble that is not a store is
// refused by Format, Check and Migrate (up to the current format, and from
// a recorded format 1 dir) with ErrForeignStore naming the path and what
// was found, and every file of the dir stays byte for byte, with no record
// and no lock file added.
func TestForeignStoreIsRefusedUntouched(t *testing.T) {
	for name, c := range foreignDirs(t) {
		before := dirtree.Snapshot(t, c.dir)
		store := filepath.Join(c.dir, StoreName)
		_, _, err := Format(c.dir)
		checkForeign(t, name+": Format", err, append(c.want, store))
		_, _, err = Check(c.dir, "rond test")
		checkForeign(t, name+": Check", err, append(c.want, store))
		_, err = Migrate(c.dir, FormatCurrent, MigrateOptions{Binary: "rond test", NodeID: "aa"})
		checkForeign(t, name+": Migrate", err, append(c.want, store))
		if after := dirtree.Snapshot(t, c.dir); !reflect.DeepEqual(after, before) {
			t.Errorf("%s: the refused dir changed:\n got %v\nwant %v", name, after, before)
		}
	}
}

func TestForeignStoreOfARecordedDirIsNotMigrated(t *testing.T) {
	for name, c := range foreignDirs(t) {
		if err := Write(c.dir, Record{Format: 1, WrittenBy: "rond test"}, nil); err != nil {
			t.Fatal(err)
		}
		before := dirtree.Snapshot(t, c.dir)
		_, err := Migrate(c.dir, FormatCurrent, MigrateOptions{Binary: "rond test"})
		checkForeign(t, name+": Migrate from 1", err, append(c.want, filepath.Join(c.dir, StoreName)))
		if after := dirtree.Snapshot(t, c.dir); !reflect.DeepEqual(after, before) {
			t.Errorf("%s: the refused dir changed:\n got %v\nwant %v", name, after, before)
		}
	}
}

// TestMigrationWithoutAStoreCreatesNone: a recorded dir without a store
// (stamped, stopped before its store was created) migrates by its record
// alone; no migration creates a store.
func TestMigrationWithoutAStoreCreatesNone(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, Record{Format: 1, WrittenBy: "rond test"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Migrate(dir, FormatCurrent, MigrateOptions{Binary: "rond test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, StoreName)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a migration created a store: %v", err)
	}
	if f, _, err := Format(dir); err != nil || f != FormatCurrent {
		t.Fatalf("format %d %v, want %d", f, err, FormatCurrent)
	}
}

func checkForeign(t *testing.T, what string, err error, want []string) {
	t.Helper()
	if !errors.Is(err, ErrForeignStore) {
		t.Errorf("%s: %v, want ErrForeignStore", what, err)
		return
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: error lacks %q: %v", what, w, err)
		}
	}
}
