package datadir

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileAtomicReplacesAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	for _, body := range []string{"first", "second, longer"} {
		if err := WriteFileAtomic(dir, "f.json", []byte(body)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, "f.json"))
		if err != nil || string(got) != body {
			t.Fatalf("read %q, %v; want %q", got, err, body)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("dir holds %d entries, want only f.json", len(entries))
	}
	if err := WriteFileAtomic(filepath.Join(dir, "missing"), "f.json", nil); err == nil {
		t.Fatal("writing into a missing dir succeeded")
	}
}
