package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ron-network/ron/io/pebbledisk"
)

// ErrForeignStore: DIR/pebble is there but is not a store rond wrote. The
// directory is refused untouched: opening it would make pebble create a
// store over it and delete its files as obsolete (a MANIFEST-* or *.log
// that no manifest marker names), and a migration would then report
// success over an empty store.
var ErrForeignStore = errors.New("datadir: not a RON store")

// foundNamesMax bounds the entries a foreign-store error lists.
const foundNamesMax = 8

// ErrStoreLost: a recorded dir's DIR/pebble holds a store's files but
// lost its manifest marker (a zero-length file a backup or sync tool may
// skip). Opening it would make pebble create a new store over it and the
// side files' sweep delete every segment. Restore it from a backup.
var ErrStoreLost = pebbledisk.ErrStoreLost

// storeExists reports whether dir holds a store (DIR/pebble): false when
// there is none; ErrForeignStore when there is something else there.
//
// A store is recognised the way pebble recognises an existing database
// (pebble.Peek, which only reads): a manifest marker
// (marker.manifest.N.MANIFEST-M) naming a manifest that exists. Every
// store rond ever wrote has one (the format 0 golden dir of cmd/rond holds
// marker.manifest.000001.MANIFEST-000001, MANIFEST-000001, OPTIONS-000003
// and the WAL 000002.log). A directory without it is refused rather than
// taken for format 0: by presence alone, any pebble/ directory was.
//
// A recorded dir is read with StoreFound, which tells a store that lost
// its marker from a first Open cut short; the migrations keep to
// storeExists, which refuses both (a migration has no store to create).
//
// Only a missing marker or manifest makes a store foreign. A store that
// cannot be read (EACCES, EIO) is refused as unreadable: advice to move
// it aside would be wrong for a store that is there.
func storeExists(dir string) (bool, error) {
	found, err := peekStore(vfs.Default, dir)
	if errors.Is(err, errNoMarker) {
		store := filepath.Join(dir, StoreName)
		advice := "move it aside or point --data-dir elsewhere"
		if files, _ := pebbledisk.StoreFiles(vfs.Default, store, 1); len(files) > 0 {
			advice = "if it is a store that lost its marker (a backup or sync tool may skip that zero-length file), restore it from backup; otherwise " + advice
		}
		return false, fmt.Errorf("%w: %s has no pebble manifest marker (marker.manifest.*), found %s; %s (nothing was changed)",
			ErrForeignStore, store, foundNames(store), advice)
	}
	return found, err
}

// errNoMarker: DIR/pebble is a directory without a manifest marker.
var errNoMarker = errors.New("datadir: no manifest marker")

// peekStore is storeExists on fsys, with errNoMarker for a DIR/pebble
// without a manifest marker, for the caller to say what that means.
func peekStore(fsys vfs.FS, dir string) (bool, error) {
	store := filepath.Join(dir, StoreName)
	info, err := fsys.Stat(store)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("datadir: cannot read store %s: %w", store, err)
	}
	if !info.IsDir() {
		return false, fmt.Errorf("%w: %s is a file, not a store directory; move it aside (nothing was changed)", ErrForeignStore, store)
	}
	desc, err := pebble.Peek(store, fsys)
	if err != nil {
		return false, fmt.Errorf("datadir: cannot read store %s: %w (nothing was changed)", store, err)
	}
	if !desc.Exists {
		return false, errNoMarker
	}
	if _, err := fsys.Stat(desc.ManifestFilename); errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("%w: %s: its manifest marker names %s, which cannot be read (missing); move it aside (nothing was changed)",
			ErrForeignStore, store, filepath.Base(desc.ManifestFilename))
	} else if err != nil {
		return false, fmt.Errorf("datadir: cannot read store %s: its manifest %s: %w (nothing was changed)",
			store, filepath.Base(desc.ManifestFilename), err)
	}
	return true, nil
}

// StoreFound reports whether the recorded dir (one with a FORMAT record)
// holds its store, so that the caller opens it with
// pebbledisk.Options.MustExist and pebble never creates a store over it.
// False means no DIR/pebble, or one a crash left in the store's first
// Open before it held any of a store's files (pebbledisk.StoreFiles), for
// Open to create; but when the record says the store was created
// (Record.StoreCreated), either is a lost store: ErrStoreMissing, saying
// what to do. A DIR/pebble without a marker that holds a store's files
// lost its marker: ErrStoreLost, naming them. Nothing is touched.
func StoreFound(dir string) (bool, error) {
	rec, _, err := Read(dir)
	if err != nil {
		return false, err
	}
	return storeFound(vfs.Default, dir, rec)
}

func storeFound(fsys vfs.FS, dir string, rec Record) (bool, error) {
	found, err := peekStore(fsys, dir)
	if err != nil && !errors.Is(err, errNoMarker) {
		return false, err
	}
	if found {
		return true, nil
	}
	if err != nil { // errNoMarker
		store := filepath.Join(dir, StoreName)
		files, err := pebbledisk.StoreFiles(fsys, store, foundNamesMax)
		if err != nil {
			return false, fmt.Errorf("datadir: cannot read store %s: %w (nothing was changed)", store, err)
		}
		if len(files) > 0 {
			return false, fmt.Errorf("%w: %s has lost its manifest marker (marker.manifest.*) but holds store files: %s; restore it from backup (nothing was changed)",
				ErrStoreLost, store, strings.Join(files, ", "))
		}
	}
	if rec.StoreCreated {
		return false, storeMissing(fsys, dir, rec)
	}
	return false, nil
}

// foundNames lists (sorted, at most foundNamesMax) what store holds, for
// an error that says what was found instead of a store.
func foundNames(store string) string {
	entries, err := os.ReadDir(store)
	if err != nil {
		return fmt.Sprintf("(unreadable: %v)", err)
	}
	if len(entries) == 0 {
		return "nothing (an empty directory)"
	}
	var names []string
	for i, e := range entries {
		if i == foundNamesMax {
			names = append(names, fmt.Sprintf("and %d more", len(entries)-i))
			break
		}
		names = append(names, e.Name())
	}
	return strings.Join(names, ", ")
}
