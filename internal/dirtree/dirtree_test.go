package dirtree

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestSnapshotAndFiles: Snapshot keeps directories as "/", Files leaves
// them out, and both key by the path relative to dir.
func TestSnapshotAndFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a", "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join("a", "f")
	want := map[string]string{".": "/", "a": "/", filepath.Join("a", "b"): "/", f: "x"}
	if got := Snapshot(t, dir); !reflect.DeepEqual(got, want) {
		t.Errorf("Snapshot %q, want %q", got, want)
	}
	if got := Files(t, dir); !reflect.DeepEqual(got, map[string]string{f: "x"}) {
		t.Errorf("Files %q, want only %s", got, f)
	}
}
