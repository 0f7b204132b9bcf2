package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ron-network/ron/internal/dirtree"
)

// writeRecordJSON writes dir's record as raw JSON, as an older build (no
// store_created) or this one (with it) wrote it.
func writeRecordJSON(t *testing.T, dir string, created bool) {
	t.Helper()
	extra := ""
	if created {
		extra = `, "store_created": true`
	}
	data := fmt.Sprintf(`{"format": %d, "written_by": "rond test", "node_id": "aa"%s}`+"\n", FormatCurrent, extra)
	if err := os.WriteFile(filepath.Join(dir, RecordName), []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestStoreFoundRefusesALostStore: a recorded dir whose record says its
// store was created, with no DIR/pebble, an empty one or one that holds
// no store files, is refused (ErrStoreMissing) by StoreFound and by
// Migrate, naming the store, the record and what to do, and nothing is
// touched (Migrate does not even create its lock file). Without the mark
// (an older build's record, or a crash before the mark) it is a store to
// create, as before. A store that is there is found either way. The old
// StoreFound ignored the mark: a lost store was created anew, empty.
func TestStoreFoundRefusesALostStore(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup func(t *testing.T, store string)
		found string // what the error says is there (%s: the store)
	}{
		{"no pebble/", func(*testing.T, string) {}, "there is no %s"},
		{"empty pebble/", func(t *testing.T, store string) { mkdir(t, store) }, "%s is an empty directory"},
		{"pebble/ with no store files", func(t *testing.T, store string) {
			mkdir(t, store)
			if err := os.WriteFile(filepath.Join(store, "LOCK"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "%s holds no store (found LOCK)"},
	} {
		for _, created := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/created=%v", c.name, created), func(t *testing.T) {
				dir := t.TempDir()
				store := filepath.Join(dir, StoreName)
				c.setup(t, store)
				writeRecordJSON(t, dir, created)
				before := dirtree.Snapshot(t, dir)
				found, err := StoreFound(dir)
				if !created {
					if found || err != nil {
						t.Fatalf("StoreFound without the mark: %v, %v; want false, nil (a store to create)", found, err)
					}
					return
				}
				record := filepath.Join(dir, RecordName)
				wants := []string{"data dir " + dir + " records that its store was created", record, fmt.Sprintf(c.found, store),
					"node aa", "Restore " + store, "a new --data-dir", "remove " + record, "nothing was changed"}
				checkMissing := func(what string, err error) {
					t.Helper()
					if !errors.Is(err, ErrStoreMissing) {
						t.Fatalf("%s: %v; want ErrStoreMissing", what, err)
					}
					for _, w := range wants {
						if !strings.Contains(err.Error(), w) {
							t.Errorf("%s: %q lacks %q", what, err, w)
						}
					}
				}
				if found {
					t.Errorf("StoreFound: found a lost store")
				}
				checkMissing("StoreFound", err)
				_, err = Migrate(dir, FormatCurrent-1, MigrateOptions{Binary: "rond test"})
				checkMissing("Migrate", err)
				if after := dirtree.Snapshot(t, dir); !reflect.DeepEqual(after, before) {
					t.Errorf("the refused dir changed:\n got %q\nwant %q", after, before)
				}
			})
		}
	}
	dir := t.TempDir()
	realStore(t, dir)
	writeRecordJSON(t, dir, true)
	if found, err := StoreFound(dir); !found || err != nil {
		t.Errorf("a marked dir with its store: %v, %v; want found", found, err)
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
}

// TestMarkStoreCreated: an older build's record gains store_created and
// keeps its format and node id; a record that has it is not rewritten; a
// dir without a record gets none.
func TestMarkStoreCreated(t *testing.T) {
	dir := t.TempDir()
	writeRecordJSON(t, dir, false)
	if err := MarkStoreCreated(dir, "rond new"); err != nil {
		t.Fatal(err)
	}
	rec, present, err := Read(dir)
	want := Record{Format: FormatCurrent, WrittenBy: "rond new", NodeID: "aa", StoreCreated: true}
	if err != nil || !present || rec != want {
		t.Fatalf("after the mark: %+v %v %v; want %+v", rec, present, err, want)
	}
	before := dirtree.Snapshot(t, dir)
	if err := MarkStoreCreated(dir, "rond newer"); err != nil {
		t.Fatal(err)
	}
	if after := dirtree.Snapshot(t, dir); !reflect.DeepEqual(after, before) {
		t.Errorf("a second mark rewrote the dir:\n got %q\nwant %q", after, before)
	}
	empty := t.TempDir()
	if err := MarkStoreCreated(empty, "rond new"); err != nil {
		t.Fatal(err)
	}
	if got := dirtree.Snapshot(t, empty); len(got) != 1 {
		t.Errorf("a dir without a record got %q", got)
	}
}

// TestMigrateKeepsStoreCreated: the records a migration writes say the
// store was created exactly when it was: a migration of a dir that holds
// its store sets the mark (a format 0 dir's first record) or keeps it; a
// recorded dir without a store and without the mark (the crash window
// before the store's first Open) stays without it; and a marked dir whose
// store is gone is refused untouched, never migrated into a record that
// forgot the mark.
func TestMigrateKeepsStoreCreated(t *testing.T) {
	dir := t.TempDir()
	realStore(t, dir)
	if _, err := Migrate(dir, 1, MigrateOptions{Binary: "rond test"}); err != nil {
		t.Fatal(err)
	}
	if rec, _, err := Read(dir); err != nil || !rec.StoreCreated {
		t.Errorf("format 0 -> 1 with a store: record %+v %v; want store_created", rec, err)
	}
	marked := t.TempDir()
	writeRecordJSON(t, marked, true)
	realStore(t, marked)
	unmarked := t.TempDir()
	writeRecordJSON(t, unmarked, false)
	for _, to := range []uint32{FormatCurrent - 1, FormatCurrent} {
		if _, err := Migrate(marked, to, MigrateOptions{Binary: "rond test"}); err != nil {
			t.Fatal(err)
		}
		if rec, _, err := Read(marked); err != nil || !rec.StoreCreated || rec.Format != to {
			t.Errorf("marked, migrated to %d: record %+v %v; want store_created", to, rec, err)
		}
		if _, err := Migrate(unmarked, to, MigrateOptions{Binary: "rond test"}); err != nil {
			t.Fatal(err)
		}
		if rec, _, err := Read(unmarked); err != nil || rec.StoreCreated || rec.Format != to {
			t.Errorf("unmarked without a store, migrated to %d: record %+v %v; want no store_created", to, rec, err)
		}
	}
	lost := t.TempDir()
	writeRecordJSON(t, lost, true)
	before := dirtree.Snapshot(t, lost)
	if _, err := Migrate(lost, FormatCurrent-1, MigrateOptions{Binary: "rond test"}); !errors.Is(err, ErrStoreMissing) {
		t.Errorf("marked without its store: Migrate %v; want ErrStoreMissing", err)
	}
	if after := dirtree.Snapshot(t, lost); !reflect.DeepEqual(after, before) {
		t.Errorf("the refused dir changed:\n got %q\nwant %q", after, before)
	}
}

// TestLockIsExclusive: a second Lock of a locked dir (here in the same
// process, as flock locks an open file, not a process) is refused with
// ErrInUse naming the lock file and the pid and host its holder wrote; so is a Migrate,
// even of a recorded dir without a store (which has no store lock), and
// it writes nothing. Released, the lock is taken again.
func TestLockIsExclusive(t *testing.T) {
	dir := t.TempDir()
	writeRecordJSON(t, dir, false)
	unlock, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	before := dirtree.Snapshot(t, dir)
	host, _ := os.Hostname()
	want := fmt.Sprintf("%s is locked by another rond (a running node or rond migrate; the lock file was last written by pid %d on %s)", filepath.Join(dir, LockName), os.Getpid(), host)
	if _, err := Lock(dir); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), want) {
		t.Errorf("second Lock: %v; want ErrInUse, %q", err, want)
	}
	if _, err := Migrate(dir, FormatCurrent-1, MigrateOptions{Binary: "rond test"}); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), want) {
		t.Errorf("Migrate under the lock: %v; want ErrInUse, %q", err, want)
	}
	if after := dirtree.Snapshot(t, dir); !reflect.DeepEqual(after, before) {
		t.Errorf("the locked dir changed:\n got %q\nwant %q", after, before)
	}
	unlock()
	if _, err := Migrate(dir, FormatCurrent-1, MigrateOptions{Binary: "rond test"}); err != nil {
		t.Errorf("Migrate after the unlock: %v", err)
	}
	unlock, err = Lock(dir)
	if err != nil {
		t.Fatalf("Lock after Migrate released it: %v", err)
	}
	unlock()
}
