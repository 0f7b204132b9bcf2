package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ron-network/ron/internal/dirtree"
	"github.com/ron-network/ron/io/datadir"
)

// storeCreatedMark is how the record says its store was created.
const storeCreatedMark = `"store_created": true`

// recordText is the data dir's FORMAT record as written.
func recordText(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, datadir.RecordName))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// stopRond stops a started rond with SIGTERM and waits for it.
func stopRond(t *testing.T, n *started) {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- n.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Logf("rond after SIGTERM: %v", err)
		}
	case <-time.After(exitDeadline):
		_ = n.cmd.Process.Kill()
		t.Fatal("rond did not exit after SIGTERM")
	}
}

// TestLostStoreIsRefusedUntouched: rond starts on a new data dir and is
// stopped; then its pebble/ is removed (an operator's rm), or left an
// empty directory (a volume that did not mount). The restart is refused
// (exit 2) naming the store, the record and what to do, and so is rond
// migrate; neither changes anything in the dir. The old build started
// the node empty under its old id: a registry replica that forgot its
// votes, a storage node that dropped its replicas. The advice is real:
// removing what it names starts the node over under the same id.
func TestLostStoreIsRefusedUntouched(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	first := t.TempDir()
	n := startRond(t, "--data-dir", first, "--quic-addr", "127.0.0.1:0")
	stopRond(t, n)
	if rec := recordText(t, first); !strings.Contains(rec, storeCreatedMark) {
		t.Errorf("after the first start the record lacks %s: %s", storeCreatedMark, rec)
	}
	for _, emptyDir := range []bool{false, true} {
		t.Run(fmt.Sprintf("emptyDir=%v", emptyDir), func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, first, dir)
			store := filepath.Join(dir, datadir.StoreName)
			if err := os.RemoveAll(store); err != nil {
				t.Fatal(err)
			}
			found := "there is no " + store
			if emptyDir {
				if err := os.Mkdir(store, 0o700); err != nil {
					t.Fatal(err)
				}
				found = store + " is an empty directory"
			}
			before := dirtree.Snapshot(t, dir)
			record := filepath.Join(dir, datadir.RecordName)
			wants := []string{"data dir " + dir + " records that its store was created", record, found,
				"node " + n.id, "Restore " + store, "a new --data-dir", "remove " + record, "nothing was changed"}
			errOut, code := refusedStart(t, "--data-dir", dir, "--http-addr", "127.0.0.1:0", "--quic-addr", "127.0.0.1:0")
			if code != 2 || strings.Count(errOut, "\n") != 1 {
				t.Errorf("start: exit %d, stderr %q; want exit 2 and one line", code, errOut)
			}
			containsAll(t, "start", errOut, wants)
			for _, args := range [][]string{
				{"migrate", "--data-dir", dir, "--to", "2", "--dry-run"},
				{"migrate", "--data-dir", dir, "--to", "2"},
			} {
				out, errOut, code := runRond(args...)
				if code != 1 || strings.Contains(out, "ran:") || strings.Contains(out, "would run:") {
					t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 and nothing run", args, code, out, errOut)
				}
				containsAll(t, strings.Join(args, " "), errOut, wants)
			}
			if after := dirtree.Snapshot(t, dir); !reflect.DeepEqual(after, before) {
				t.Fatalf("the refused dir changed:\n got %v\nwant %v", keysOf(after), keysOf(before))
			}
			// Starting over on purpose, as the error says.
			if err := os.Remove(record); err != nil {
				t.Fatal(err)
			}
			if err := os.RemoveAll(store); err != nil {
				t.Fatal(err)
			}
			again := startRond(t, "--data-dir", dir, "--quic-addr", "127.0.0.1:0")
			if again.id != n.id {
				t.Errorf("started over as %s, want the same id %s", again.id, n.id)
			}
		})
	}
}

// TestSecondRondOnADataDirIsRefused: while rond runs on a data dir, a
// second rond and rond migrate on it are refused at once, naming the data
// dir's lock file and the holder's pid; the second rond exits 1 (in use,
// a retry passes later), not 2 (a bad setting). The old build had no lock at the
// data dir's level: the second rond read, stamped and wrote the dir's
// files before pebble's own lock stopped it.
func TestSecondRondOnADataDirIsRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	n := startRond(t, "--data-dir", dir, "--quic-addr", "127.0.0.1:0")
	wants := []string{filepath.Join(dir, datadir.LockName) + " is locked by another rond", fmt.Sprintf("pid %d", n.cmd.Process.Pid), "stop it first"}
	errOut, code := refusedStart(t, "--data-dir", dir, "--http-addr", "127.0.0.1:0", "--quic-addr", "127.0.0.1:0")
	if code != 1 {
		t.Errorf("second rond: exit %d, stderr %q; want exit 1 (in use: a retry passes later)", code, errOut)
	}
	containsAll(t, "second rond", errOut, wants)
	out, errOut, code := runRond("migrate", "--data-dir", dir, "--to", "2")
	if code != 1 || strings.Contains(out, "ran:") {
		t.Errorf("migrate: exit %d, stdout %q, stderr %q; want exit 1 and nothing run", code, out, errOut)
	}
	containsAll(t, "migrate", errOut, wants)
	stopRond(t, n)
	// Released with the process: rond starts there again.
	startRond(t, "--data-dir", dir, "--quic-addr", "127.0.0.1:0")
}

// TestMigrateHoldsTheDataDirLock: while a migration holds the data dir's
// lock, rond does not start on a recorded dir without a store (which has
// no store lock to stop it), and neither does another migration; nothing
// is written. Held here by datadir.Lock, as rond migrate takes it.
func TestMigrateHoldsTheDataDirLock(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	copyDir(t, goldenDir(datadir.FormatCurrent), dir)
	if err := os.RemoveAll(filepath.Join(dir, datadir.StoreName)); err != nil {
		t.Fatal(err)
	}
	unlock, err := datadir.Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	before := dirtree.Snapshot(t, dir)
	wants := []string{filepath.Join(dir, datadir.LockName) + " is locked by another rond", fmt.Sprintf("pid %d", os.Getpid())}
	errOut, code := refusedStart(t, "--data-dir", dir, "--http-addr", "127.0.0.1:0", "--quic-addr", "127.0.0.1:0")
	if code != 1 {
		t.Errorf("rond: exit %d, stderr %q; want exit 1", code, errOut)
	}
	containsAll(t, "rond", errOut, wants)
	out, errOut, code := runRond("migrate", "--data-dir", dir, "--to", "2")
	if code != 1 || strings.Contains(out, "ran:") {
		t.Errorf("migrate: exit %d, stdout %q, stderr %q; want exit 1 and nothing run", code, out, errOut)
	}
	containsAll(t, "migrate", errOut, wants)
	if after := dirtree.Snapshot(t, dir); !reflect.DeepEqual(after, before) {
		t.Fatalf("the locked dir changed:\n got %v\nwant %v", keysOf(after), keysOf(before))
	}
}

// TestInUseBeatsAFailedCheck: while a migration holds the data dir's
// lock, a rond whose check of the dir fails (here the dir is format 2,
// as it is before a 2 -> 3 migration commits) says the dir is in use
// (exit 1), not that it must be migrated (exit 2), and changes nothing.
// Held here by datadir.Lock, as rond migrate takes it.
func TestInUseBeatsAFailedCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	copyDir(t, goldenDir(datadir.FormatCurrent-1), dir)
	unlock, err := datadir.Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	before := dirtree.Snapshot(t, dir)
	wants := []string{filepath.Join(dir, datadir.LockName) + " is locked by another rond", fmt.Sprintf("pid %d", os.Getpid())}
	errOut, code := refusedStart(t, "--data-dir", dir, "--http-addr", "127.0.0.1:0", "--quic-addr", "127.0.0.1:0")
	if code != 1 || strings.Contains(errOut, "run rond migrate") {
		t.Errorf("rond: exit %d, stderr %q; want exit 1, in use", code, errOut)
	}
	containsAll(t, "rond", errOut, wants)
	if after := dirtree.Snapshot(t, dir); !reflect.DeepEqual(after, before) {
		t.Fatalf("the locked dir changed:\n got %v\nwant %v", keysOf(after), keysOf(before))
	}
	unlock()
	// Released: the format is what stops it.
	errOut, code = refusedStart(t, "--data-dir", dir, "--http-addr", "127.0.0.1:0", "--quic-addr", "127.0.0.1:0")
	if code != 2 || !strings.Contains(errOut, "run rond migrate") {
		t.Errorf("rond after the release: exit %d, stderr %q; want exit 2 naming rond migrate", code, errOut)
	}
}
