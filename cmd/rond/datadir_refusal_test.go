package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/internal/dirtree"
	"github.com/ron-network/ron/io/datadir"
	"github.com/ron-network/ron/io/pebbledisk"
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
	before := dirtree.Snapshot(t, dir)
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
	if after := dirtree.Snapshot(t, dir); !reflect.DeepEqual(after, before) {
		t.Fatalf("the refused dir changed:\n got %q\nwant %q", after, before)
	}
}

// TestLostManifestMarkerIsRefusedUntouched is the reviewer's repro: a
// format 3 data dir whose store holds its values in tables (*.sst) and
// segments (values/*/*.seg) loses pebble's zero-length manifest marker
// (a backup or sync tool skipped it). rond refuses to start (exit 2)
// naming the marker, the files it found and the backup, and rond migrate
// refuses too (as a foreign store, pointing at the backup); both leave every file byte for byte. The old build opened
// it as a new store: pebble deleted the tables, the orphan sweep every
// segment, and the node came up healthy with no data.
func TestLostManifestMarkerIsRefusedUntouched(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, goldenDir(datadir.FormatCurrent), dir)
	store := filepath.Join(dir, datadir.StoreName)
	// An Open flushes the golden WAL into tables.
	d, err := pebbledisk.Open(pebbledisk.Options{Dir: store, MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	markers, _ := filepath.Glob(filepath.Join(store, "marker.manifest.*"))
	ssts, _ := filepath.Glob(filepath.Join(store, "*.sst"))
	segs, _ := filepath.Glob(filepath.Join(store, pebbledisk.SideDirName, "*", "*.seg"))
	if len(markers) != 1 || len(ssts) == 0 || len(segs) == 0 {
		t.Fatalf("setup: markers %q, tables %q, segments %q", markers, ssts, segs)
	}
	if err := os.Remove(markers[0]); err != nil {
		t.Fatal(err)
	}
	before := dirtree.Snapshot(t, dir)
	wants := []string{store + " has lost its manifest marker (marker.manifest.*)", filepath.Base(ssts[0]), filepath.Base(segs[0]), "restore it from backup", "nothing was changed"}
	errOut, code := refusedStart(t, "--data-dir", dir, "--http-addr", "127.0.0.1:0", "--quic-addr", "127.0.0.1:0")
	if code != 2 {
		t.Errorf("start: exit %d, stderr %q; want exit 2", code, errOut)
	}
	containsAll(t, "start", errOut, wants)
	out, errOut, code := runRond("migrate", "--data-dir", dir, "--to", "2")
	if code != 1 || strings.Contains(out, "ran:") {
		t.Errorf("migrate: exit %d, stdout %q, stderr %q; want exit 1 and nothing run", code, out, errOut)
	}
	containsAll(t, "migrate", errOut, []string{store + " has no pebble manifest marker (marker.manifest.*)", "not a RON store", filepath.Base(ssts[0]), "restore it from backup"})
	if after := dirtree.Snapshot(t, dir); !reflect.DeepEqual(after, before) {
		t.Fatalf("the refused dir changed:\n got %v\nwant %v", keysOf(after), keysOf(before))
	}
}

// TestRecordedDirWithoutStoreStarts: a format 3 dir whose record has no
// store_created (an older build's record, or a crash between the store's
// first Open and the mark) and whose store is not there yet, or is an
// empty pebble/ (a crash between the record and the store's first Open),
// starts and creates the store, as before the mark. An older build's
// record with its store there starts too. Each gains store_created at
// that start, keeping its format and node id, so that losing the store
// later is refused (TestLostStoreIsRefusedUntouched).
func TestRecordedDirWithoutStoreStarts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	for _, c := range []struct {
		name              string
		removed, emptyDir bool
	}{{"no store", true, false}, {"empty pebble/", true, true}, {"store there", false, false}} {
		dir := t.TempDir()
		copyDir(t, goldenDir(datadir.FormatCurrent), dir)
		old, _, err := datadir.Read(dir)
		if err != nil || strings.Contains(recordText(t, dir), "store_created") {
			t.Fatalf("%s: the golden record is not an older build's: %s %v", c.name, recordText(t, dir), err)
		}
		store := filepath.Join(dir, datadir.StoreName)
		if c.removed {
			if err := os.RemoveAll(store); err != nil {
				t.Fatal(err)
			}
		}
		if c.emptyDir {
			if err := os.Mkdir(store, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		n := startRond(t, "--data-dir", dir, "--quic-addr", "127.0.0.1:0")
		_ = n.cmd.Process.Kill()
		_ = n.cmd.Wait()
		if markers, _ := filepath.Glob(filepath.Join(store, "marker.manifest.*")); len(markers) != 1 {
			t.Errorf("%s: after a start, manifest markers %q, want one", c.name, markers)
		}
		rec, _, err := datadir.Read(dir)
		if text := recordText(t, dir); err != nil || !strings.Contains(text, storeCreatedMark) ||
			rec.Format != old.Format || rec.NodeID != old.NodeID {
			t.Errorf("%s: after a start the record is %s (%v); want %s, format %d, node %s", c.name, text, err, storeCreatedMark, old.Format, old.NodeID)
		}
	}
}

// refusedStart runs the rond binary with args, expecting a refusal: it
// returns stderr and the exit code once the process exits, and fails the
// test at once if rond prints its banner (it started) or has not exited
// by refusedDeadline. The old builds started on what the callers refuse,
// and an in-process run would have served until the test timed out.
func refusedStart(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(buildRond(t), args...)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	printed := make(chan struct{})
	go func() {
		if n, _ := stdout.Read(make([]byte, 1)); n > 0 {
			close(printed)
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("rond %v: %v", args, err)
		}
		return errOut.String(), cmd.ProcessState.ExitCode()
	case <-printed:
		_ = cmd.Process.Kill()
		t.Logf("rond %v, killed: %v", args, <-exited)
		t.Fatalf("rond %v started instead of refusing; stderr %s", args, errOut.String())
	case <-time.After(refusedDeadline):
		_ = cmd.Process.Kill()
		t.Logf("rond %v, killed: %v", args, <-exited)
		t.Fatalf("rond %v neither refused nor started in %v; stderr %s", args, refusedDeadline, errOut.String())
	}
	return "", 0
}

// refusedDeadline bounds refusedStart's wait for the process to exit.
const refusedDeadline = 60 * time.Second

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
	before := dirtree.Snapshot(t, dir)
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
	if after := dirtree.Snapshot(t, dir); !reflect.DeepEqual(after, before) {
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

func keysOf(m map[string]string) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
