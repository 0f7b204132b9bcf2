package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ron-network/ron/io/datadir"
)

// TestForeignPebbleDirIsRefusedUntouched is the red team's repro: a data
// dir whose pebble/ holds files pebble would name (MANIFEST-000001,
// 000002.log) but no store. rond refuses to start on it without pointing
// at rond migrate, and rond migrate (dry run or not) exits 1 naming the
// path and what it found; both leave every file byte for byte. The old
// build told the user to migrate, and the migration deleted both files
// and exited 0.
func TestForeignPebbleDirIsRefusedUntouched(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, datadir.StoreName)
	if err := os.Mkdir(store, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"MANIFEST-000001": "data\n", "000002.log": "data2\n"} {
		if err := os.WriteFile(filepath.Join(store, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	before := treeOf(t, dir)
	wants := []string{store + " has no pebble manifest marker", "not a RON store", "MANIFEST-000001", "000002.log"}
	_, errOut, code := runRond("--data-dir", dir, "--http-addr", "127.0.0.1:0", "--quic-addr", "127.0.0.1:0")
	if code != 2 || strings.Contains(errOut, "rond migrate") {
		t.Errorf("start: exit %d, stderr %q; want exit 2 and no pointer to rond migrate", code, errOut)
	}
	containsAll(t, "start", errOut, wants)
	for _, args := range [][]string{
		{"migrate", "--data-dir", dir, "--to", "3", "--dry-run"},
		{"migrate", "--data-dir", dir, "--to", "3"},
	} {
		out, errOut, code := runRond(args...)
		if code != 1 || strings.Contains(out, "ran:") || strings.Contains(out, "would run:") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 and nothing run", args, code, out, errOut)
		}
		containsAll(t, strings.Join(args, " "), errOut, wants)
	}
	if after := treeOf(t, dir); !reflect.DeepEqual(after, before) {
		t.Fatalf("the refused dir changed:\n got %q\nwant %q", after, before)
	}
}

// TestMissingNodeKeyOnAStampedDirWritesNothing: a format 3 dir whose
// record names its node, with node.key removed, is refused in one line
// naming the missing file and the node, and no key is written (the old
// build wrote a new one, then refused it as another node's, on every
// start). With --node-key naming a missing file, the same.
func TestMissingNodeKeyOnAStampedDirWritesNothing(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, goldenDir(datadir.FormatCurrent), dir)
	rec, _, err := datadir.Read(dir)
	if err != nil || rec.NodeID == "" {
		t.Fatalf("golden record %+v %v", rec, err)
	}
	if err := os.Remove(filepath.Join(dir, "node.key")); err != nil {
		t.Fatal(err)
	}
	before := treeOf(t, dir)
	out, errOut, code := runRond("--data-dir", dir, "--http-addr", "127.0.0.1:0", "--quic-addr", "127.0.0.1:0")
	if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 {
		t.Errorf("start: exit %d, stdout %q, stderr %q; want exit 2 and one line", code, out, errOut)
	}
	containsAll(t, "start", errOut, []string{"node.key is missing from " + dir, "belongs to node " + rec.NodeID, "restore it"})
	elsewhere := filepath.Join(t.TempDir(), "key")
	_, errOut, code = runRond("--data-dir", dir, "--node-key", elsewhere, "--http-addr", "127.0.0.1:0", "--quic-addr", "127.0.0.1:0")
	if code != 2 {
		t.Errorf("start with --node-key: exit %d, stderr %q", code, errOut)
	}
	containsAll(t, "start with --node-key", errOut, []string{elsewhere + " is missing", "belongs to node " + rec.NodeID})
	if _, err := os.Stat(elsewhere); err == nil {
		t.Errorf("a refused start wrote %s", elsewhere)
	}
	if after := treeOf(t, dir); !reflect.DeepEqual(after, before) {
		t.Fatalf("the refused start changed the dir:\n got %v\nwant %v", keysOf(after), keysOf(before))
	}
}

func containsAll(t *testing.T, what, s string, wants []string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("%s: stderr lacks %q: %s", what, w, s)
		}
	}
}

// treeOf maps every path under dir to its bytes ("/" for a directory).
func treeOf(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			files[rel] = "/"
			return nil
		}
		data, err := os.ReadFile(path)
		files[rel] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func keysOf(m map[string]string) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
