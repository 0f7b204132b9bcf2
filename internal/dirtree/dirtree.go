// Package dirtree snapshots a directory tree for the tests that check a
// refused open, start or migration left a data dir exactly as it was.
//
// It is test support only: tests of io/ and cmd/ import it; nothing under
// core/ may (it reads files).
package dirtree

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Snapshot maps every path under dir, relative to dir, to its bytes ("/"
// for a directory), so a directory added or removed shows too.
func Snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	return walk(t, dir, true)
}

// Files maps every file under dir, relative to dir, to its bytes;
// directories are left out.
func Files(t testing.TB, dir string) map[string]string {
	t.Helper()
	return walk(t, dir, false)
}

func walk(t testing.TB, dir string, dirs bool) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if dirs {
				files[rel] = "/"
			}
			return nil
		}
		data, err := os.ReadFile(path) // #nosec G304 G122 -- a path under the test's own temp dir, no symlinks
		files[rel] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
