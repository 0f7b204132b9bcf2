package datadir

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ron-network/ron/internal/dirtree"
	"github.com/ron-network/ron/io/pebbledisk"
)

// realStore creates an empty store in dir/pebble.
func realStore(t *testing.T, dir string) string {
	t.Helper()
	store := filepath.Join(dir, StoreName)
	d, err := pebbledisk.Open(pebbledisk.Options{Dir: store})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return store
}

// checkUnreadable: err says the store cannot be read, and neither calls
// it foreign nor advises moving it aside.
func checkUnreadable(t *testing.T, what string, err error, store string) {
	t.Helper()
	if err == nil || errors.Is(err, ErrForeignStore) || strings.Contains(err.Error(), "move it aside") ||
		!strings.Contains(err.Error(), "cannot read store "+store) {
		t.Errorf("%s: %v; want 'cannot read store %s', not ErrForeignStore", what, err, store)
	}
}

// TestUnreadableStoreIsNotForeign: a store pebble.Peek cannot read is
// refused as unreadable, not as foreign with advice to move it aside
// (which could get a genuine store moved or deleted). The error here is
// a format-version marker whose value does not parse, so that the test
// bites as root too (chmod 000 would not); the old storeExists called
// that store foreign.
func TestUnreadableStoreIsNotForeign(t *testing.T) {
	dir := t.TempDir()
	store := realStore(t, dir)
	if err := os.WriteFile(filepath.Join(store, "marker.format-version.000099.garbage"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	before := dirtree.Snapshot(t, dir)
	_, _, err := Format(dir)
	checkUnreadable(t, "Format", err, store)
	_, err = Migrate(dir, FormatCurrent, MigrateOptions{Binary: "rond test"})
	checkUnreadable(t, "Migrate", err, store)
	if err := Write(dir, Record{Format: FormatCurrent, WrittenBy: "rond test"}, nil); err != nil {
		t.Fatal(err)
	}
	_, err = StoreFound(dir)
	checkUnreadable(t, "StoreFound", err, store)
	_, err = Migrate(dir, 1, MigrateOptions{Binary: "rond test"})
	checkUnreadable(t, "Migrate of a recorded dir", err, store)
	delete(before, RecordName)
	after := dirtree.Snapshot(t, dir)
	delete(after, RecordName)
	if !reflect.DeepEqual(after, before) {
		t.Errorf("the refused dir changed:\n got %v\nwant %v", after, before)
	}
}

// eioFS fails every listing of dir with EIO, as a failing disk would.
type eioFS struct {
	vfs.FS
	dir string
}

func (f eioFS) List(dir string) ([]string, error) {
	if dir == f.dir {
		return nil, &os.PathError{Op: "readdirent", Path: dir, Err: syscall.EIO}
	}
	return f.FS.List(dir)
}

// TestStoreThatFailsToListIsNotForeign: an I/O error reading the store
// (EIO on its listing) is reported as such, wrapped, not as foreign.
func TestStoreThatFailsToListIsNotForeign(t *testing.T) {
	dir := t.TempDir()
	store := realStore(t, dir)
	fsys := eioFS{FS: vfs.Default, dir: store}
	for what, check := range map[string]func() error{
		"peekStore":  func() error { _, err := peekStore(fsys, dir); return err },
		"storeFound": func() error { _, err := storeFound(fsys, dir, Record{}); return err },
	} {
		err := check()
		checkUnreadable(t, what, err, store)
		if !errors.Is(err, syscall.EIO) {
			t.Errorf("%s: %v, want EIO wrapped", what, err)
		}
	}
}

// TestStoreFoundOfARecordedDir: for a recorded dir, a store is found; no
// pebble/, an empty one or one a first Open left without store files is
// no store (Open creates it); one that lost its marker but holds store
// files is ErrStoreLost naming them, with every file left as it was.
func TestStoreFoundOfARecordedDir(t *testing.T) {
	dir := t.TempDir()
	store := realStore(t, dir)
	if found, err := StoreFound(dir); !found || err != nil {
		t.Fatalf("a store: %v %v", found, err)
	}
	markers, _ := filepath.Glob(filepath.Join(store, "marker.manifest.*"))
	for _, m := range markers {
		if err := os.Remove(m); err != nil {
			t.Fatal(err)
		}
	}
	before := dirtree.Snapshot(t, dir)
	found, err := StoreFound(dir)
	if found || !errors.Is(err, ErrStoreLost) || !strings.Contains(err.Error(), "MANIFEST-") ||
		!strings.Contains(err.Error(), "restore it from backup") {
		t.Errorf("lost marker: %v %v, want ErrStoreLost naming the manifest", found, err)
	}
	if after := dirtree.Snapshot(t, dir); !reflect.DeepEqual(after, before) {
		t.Errorf("StoreFound changed the dir")
	}
	for name, files := range map[string][]string{"no pebble/": nil, "empty pebble/": {}, "first Open cut short": {"LOCK", "MANIFEST-000001"}} {
		dir := t.TempDir()
		if files != nil {
			if err := os.Mkdir(filepath.Join(dir, StoreName), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(dir, StoreName, f), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if found, err := StoreFound(dir); found || err != nil {
			t.Errorf("%s: %v %v, want no store", name, found, err)
		}
	}
}
