package pebbledisk

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// ErrStoreLost: the directory holds a store's files (tables, blob files,
// a manifest, a WAL or segments) but no manifest marker names a manifest,
// so pebble would take it for a new store and delete them (see "A store
// that lost its manifest marker" in doc.go). Restore it from a backup.
var ErrStoreLost = errors.New("pebbledisk: store files without a manifest marker")

// StoreFiles lists, sorted and at most limit, the files of dir that hold a
// store's data: pebble's tables (*.sst), blob files (*.blob), manifests
// (MANIFEST-*) and WALs (*.log), and the segments (SideDirName/*/*.seg).
// Pebble's first Open writes its manifest (MANIFEST-000001) and syncs it,
// then the marker, then the WAL, and no segment is written before Open
// returns: so a dir without a marker that holds a table, a blob file, a
// WAL, a segment or a later manifest lost its marker. A first manifest
// alone is what a crash between that sync and the marker leaves; it holds
// nothing yet (every store that opened once has a WAL), and pebble's Open
// over it starts the store again, so it is not counted. A missing dir
// holds none. A segment subdirectory that cannot be listed is an error,
// not a dir without segments: taken for a new store, the marker pebble
// would then write lets a later start sweep those segments as orphans.
func StoreFiles(fsys vfs.FS, dir string, limit int) ([]string, error) {
	// At least two, to tell a first manifest alone from one among more.
	found, err := storeFiles(fsys, dir, max(limit, 2))
	if err != nil {
		return nil, err
	}
	if len(found) == 1 && found[0] == firstManifest {
		return nil, nil
	}
	return found[:min(len(found), limit)], nil
}

// firstManifest is the manifest pebble's first Open of a store writes.
const firstManifest = "MANIFEST-000001"

func storeFiles(fsys vfs.FS, dir string, limit int) ([]string, error) {
	names, err := fsys.List(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pebbledisk: listing %s: %w", dir, err)
	}
	slices.Sort(names)
	var found []string
	for _, name := range names {
		if len(found) == limit {
			return found, nil
		}
		switch {
		case name == SideDirName:
			segs, err := sideSegmentFiles(fsys, path.Join(dir, name), limit-len(found))
			if err != nil {
				return nil, err
			}
			found = append(found, segs...)
		case strings.HasSuffix(name, ".sst"), strings.HasSuffix(name, ".blob"),
			strings.HasSuffix(name, ".log"), strings.HasPrefix(name, "MANIFEST-"):
			found = append(found, name)
		}
	}
	return found, nil
}

// sideSegmentFiles lists, sorted and at most limit, the segment files under
// the side directory dir, as paths relative to the store.
func sideSegmentFiles(fsys vfs.FS, dir string, limit int) ([]string, error) {
	subs, err := fsys.List(dir)
	if err != nil {
		return nil, fmt.Errorf("pebbledisk: listing %s: %w", dir, err)
	}
	slices.Sort(subs)
	var found []string
	for _, sub := range subs {
		names, err := fsys.List(path.Join(dir, sub))
		if err != nil {
			if info, serr := fsys.Stat(path.Join(dir, sub)); serr == nil && !info.IsDir() {
				continue // a file, not a segment subdirectory
			}
			return nil, fmt.Errorf("pebbledisk: listing %s: %w", path.Join(dir, sub), err)
		}
		slices.Sort(names)
		for _, name := range names {
			if len(found) == limit {
				return found, nil
			}
			if strings.HasSuffix(name, ".seg") {
				found = append(found, path.Join(SideDirName, sub, name))
			}
		}
	}
	return found, nil
}

// storeFilesListed bounds the files an ErrStoreLost error names.
const storeFilesListed = 8

// refuseLost refuses, before pebble opens dir, a dir that has no manifest
// marker but holds store files (StoreFiles): pebble would create a new
// store there and delete the tables as obsolete, and openSide would then
// remove every segment as an orphan. A missing or empty dir is a new
// store; so is one a crash left in its first Open before pebble wrote a
// manifest.
func refuseLost(fsys vfs.FS, dir string) error {
	desc, err := pebble.Peek(dir, fsys)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pebbledisk: reading the store %s: %w", dir, err)
	}
	if desc.Exists {
		return nil
	}
	files, err := StoreFiles(fsys, dir, storeFilesListed)
	if err != nil || len(files) == 0 {
		return err
	}
	return fmt.Errorf("%w: %s has no manifest marker (marker.manifest.*) but holds %s; restore it from a backup (nothing was changed)",
		ErrStoreLost, dir, strings.Join(files, ", "))
}
