package pebbledisk

import (
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestMustExistNeverCreatesAStore: with MustExist, Open and the
// conversions refuse a dir that holds files but no store, and every file
// in it stays as it was; without it, pebble creates a store there and
// deletes those files as obsolete (what a migration did to a foreign
// DIR/pebble).
func TestMustExistNeverCreatesAStore(t *testing.T) {
	foreign := map[string]string{"MANIFEST-000001": "data\n", "000002.log": "data2\n"}
	fs := vfs.NewMem()
	if err := fs.MkdirAll(testDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range foreign {
		writeMemFile(t, fs, fs.PathJoin(testDir, name), content)
	}
	if _, err := Open(Options{Dir: testDir, FS: fs, MustExist: true}); !errors.Is(err, pebble.ErrDBDoesNotExist) {
		t.Fatalf("Open with MustExist: %v, want ErrDBDoesNotExist", err)
	}
	for what, convert := range map[string]func() error{
		"ConvertToSide":    func() error { return ConvertToSide(testDir, fs, nil, nil) },
		"ConvertToInline":  func() error { return ConvertToInline(testDir, fs, nil, nil) },
		"CheckConvertible": func() error { return CheckConvertible(testDir, fs, nil) },
	} {
		if err := convert(); !errors.Is(err, pebble.ErrDBDoesNotExist) {
			t.Errorf("%s: %v, want ErrDBDoesNotExist", what, err)
		}
	}
	for name, content := range foreign {
		if got := readMemFile(t, fs, fs.PathJoin(testDir, name)); got != content {
			t.Errorf("%s holds %q after the refusals, want %q", name, got, content)
		}
	}
}

func writeMemFile(t *testing.T, fs vfs.FS, path, content string) {
	t.Helper()
	f, err := fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func readMemFile(t *testing.T, fs vfs.FS, path string) string {
	t.Helper()
	f, err := fs.Open(path)
	if err != nil {
		return "(missing: " + err.Error() + ")"
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, st.Size())
	if _, err := f.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	return string(buf)
}
