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
)

// ErrForeignStore: DIR/pebble is there but is not a store rond wrote. The
// directory is refused untouched: opening it would make pebble create a
// store over it and delete its files as obsolete (a MANIFEST-* or *.log
// that no manifest marker names), and a migration would then report
// success over an empty store.
var ErrForeignStore = errors.New("datadir: not a RON store")

// foundNamesMax bounds the entries a foreign-store error lists.
const foundNamesMax = 8

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
func storeExists(dir string) (bool, error) {
	store := filepath.Join(dir, StoreName)
	info, err := os.Stat(store)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("datadir: %w", err)
	}
	if !info.IsDir() {
		return false, fmt.Errorf("%w: %s is a file, not a store directory; move it aside (nothing was changed)", ErrForeignStore, store)
	}
	desc, err := pebble.Peek(store, vfs.Default)
	if err != nil {
		return false, fmt.Errorf("%w: %s: %v; move it aside (nothing was changed)", ErrForeignStore, store, err)
	}
	if !desc.Exists {
		return false, fmt.Errorf("%w: %s has no pebble manifest marker (marker.manifest.*), found %s; move it aside or point --data-dir elsewhere (nothing was changed)",
			ErrForeignStore, store, foundNames(store))
	}
	if _, err := os.Stat(desc.ManifestFilename); err != nil {
		return false, fmt.Errorf("%w: %s: its manifest marker names %s, which cannot be read (%v); move it aside (nothing was changed)",
			ErrForeignStore, store, filepath.Base(desc.ManifestFilename), err)
	}
	return true, nil
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
