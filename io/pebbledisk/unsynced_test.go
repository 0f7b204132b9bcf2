package pebbledisk

import (
	"bufio"
	"bytes"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"pgregory.net/rapid"

	"github.com/ron-network/ron/core/env"
)

// TestPowerLossRandomSequences: random writes and syncs, then crashes
// played as power losses (the clone keeps every unsynced byte, as a
// SIGKILL keeps the page cache; LoseUnsynced drops what was never
// synced). The store must come back holding exactly the synced state:
// the values are too small to fill a memtable, so pebble syncs nothing
// by itself, and every unsynced op is lost. A second crash changes
// nothing.
func TestPowerLossRandomSequences(t *testing.T) {
	enableFailpoint(t, FailpointUnsynced, `return("keep")`)
	lostOps := 0
	rapid.Check(t, func(rt *rapid.T) {
		h := newHarness(rt, 0, rapid.Uint64().Draw(rt, "seed"))
		h.lose = true
		defer h.close()
		durable, current := map[string]string{}, map[string]string{}
		unsynced := 0
		crash := func() {
			time.Sleep(2 * time.Millisecond) // let pebble's flusher write its block (see crashAndCheck)
			h.Crash()
			if got := h.readAll(rt); !maps.Equal(got, durable) {
				rt.Fatalf("after a power loss with %d unsynced ops the store holds %s, want the synced %s",
					unsynced, describeState(got), describeState(durable))
			}
			lostOps += unsynced
			current, unsynced = maps.Clone(durable), 0
		}
		for serial := range rapid.IntRange(1, 40).Draw(rt, "steps") {
			switch rapid.IntRange(0, 9).Draw(rt, "action") {
			case 0:
				h.do(rt, env.DiskOp{Kind: env.DiskSync})
				durable, unsynced = maps.Clone(current), 0
			case 1:
				crash()
			default:
				op := drawCrashOp(rt, serial)
				h.do(rt, diskOpOf(op))
				applyCrashOp(current, op)
				unsynced++
			}
		}
		crash()
		crash()
	})
	if lostOps == 0 {
		t.Fatal("no crash had an unsynced op to lose")
	}
}

// childEnv names the store dir of TestUnsyncedChild, the process
// TestUnsyncedLostAfterSIGKILL kills.
const childEnv = "PEBBLEDISK_UNSYNCED_CHILD_DIR"

// The values the child writes: synced, then acknowledged without a sync.
// Pebble writes a NoSync record to the WAL file only once its 32 KiB
// block is full (until then it is in the process's memory, which any
// kill loses), so the unsynced value is followed by filler that fills
// the blocks holding it (two values under SideValueBytesDefault, so they
// stay in the WAL). The side values are large enough for segment files
// (through the journal's FS like pebble's files): the synced one must
// survive the power loss, the unsynced one (its bytes synced in the
// segment, its pointer only in the unsynced WAL) must not.
var (
	syncedValue       = "synced-value-0123456789"
	unsyncedValue     = "unsynced-value-" + strings.Repeat("u", 40<<10)
	fillerValue       = strings.Repeat("f", 60<<10)
	sideSyncedValue   = "side-synced-" + strings.Repeat("s", 100<<10)
	sideUnsyncedValue = "side-unsynced-" + strings.Repeat("l", 80<<10)
)

// walBlocksFlushed is the WAL size by which the unsynced value's record
// is whole in the file: it ends in the second 32 KiB block.
const walBlocksFlushed = 3 * 32 << 10

// TestUnsyncedChild is the child process of TestUnsyncedLostAfterSIGKILL
// (it skips unless run as one): it opens a real store with the journal on,
// writes "a" and the side value "s" and syncs, writes the side value "l",
// "b" and fillers "c" and "d" without a sync,
// waits until b's record is in the WAL file (in the page cache, not on
// disk), says READY and waits to be killed.
func TestUnsyncedChild(t *testing.T) {
	dir := os.Getenv(childEnv)
	if dir == "" {
		t.Skip("the child of TestUnsyncedLostAfterSIGKILL")
	}
	enableFailpoint(t, FailpointUnsynced, `return("keep")`)
	d, err := Open(Options{Dir: dir, CacheBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []env.DiskOp{
		{Kind: env.DiskPut, Key: []byte("a"), Value: []byte(syncedValue)},
		{Kind: env.DiskPut, Key: []byte("s"), Value: []byte(sideSyncedValue)},
		{Kind: env.DiskSync},
		{Kind: env.DiskPut, Key: []byte("l"), Value: []byte(sideUnsyncedValue)},
		{Kind: env.DiskPut, Key: []byte("b"), Value: []byte(unsyncedValue)},
		{Kind: env.DiskPut, Key: []byte("c"), Value: []byte(fillerValue)},
		{Kind: env.DiskPut, Key: []byte("d"), Value: []byte(fillerValue)},
	} {
		if res := d.Do(op); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for walWrittenBytes(dir) < walBlocksFlushed {
		if time.Now().After(deadline) {
			t.Fatal("b never reached the WAL file")
		}
		time.Sleep(5 * time.Millisecond)
	}
	os.Stdout.WriteString("READY\n")
	select {} // killed here
}

// walWrittenBytes is how far the WAL files of the store in dir hold
// data: for each, the end of its last non-zero byte (the files' sizes
// cover their preallocated zero tails, see walSizedFS).
func walWrittenBytes(dir string) int64 {
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	var n int64
	for _, l := range logs {
		if data, err := os.ReadFile(l); err == nil {
			n += int64(len(bytes.TrimRight(data, "\x00")))
		}
	}
	return n
}

// TestUnsyncedLostAfterSIGKILL: a real process writes a synced and an
// unsynced value, each small (in the WAL) and large (in a segment file),
// to a store on the real file system with the journal on and is
// SIGKILLed. A copy of its dir, opened as it is, still holds the
// unsynced value (the page cache survives a SIGKILL, which is why the
// journal exists); after LoseUnsynced for the dead pid, the store holds
// the synced value and not the unsynced one.
func TestUnsyncedLostAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	root := t.TempDir()
	dir := filepath.Join(root, "store")
	cmd := exec.Command(os.Args[0], "-test.run=^TestUnsyncedChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			_ = cmd.Wait()
		}
	}()
	ready := make(chan string, 1)
	go func() {
		var lines strings.Builder
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines.WriteString(sc.Text() + "\n")
			if sc.Text() == "READY" {
				ready <- ""
				_, _ = io.Copy(io.Discard, out)
				return
			}
		}
		ready <- lines.String()
	}()
	select {
	case failed := <-ready:
		if failed != "" {
			t.Fatalf("child ended before READY:\n%s%s", failed, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("child not READY within 60 s:\n%s", stderr.String())
	}
	pid := cmd.Process.Pid
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed = true

	// The control: the dir as the SIGKILL left it keeps the unsynced write.
	control := filepath.Join(root, "control")
	if err := os.CopyFS(control, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	journal, err := os.ReadFile(dir + UnsyncedJournalSuffix)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(control+UnsyncedJournalSuffix, journal, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := readDirStore(t, control); got["b"] != unsyncedValue || got["a"] != syncedValue || got["s"] != sideSyncedValue || got["l"] != sideUnsyncedValue {
		t.Fatalf("without the power loss the killed store holds %s, want a, b, s and l: the SIGKILL alone lost some", describeState(got))
	}

	report, err := LoseUnsynced(vfs.Default, dir+UnsyncedJournalSuffix, pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("power loss played: %s", report)
	// The cut holds record b (the WAL record of unsyncedValue), and may
	// hold l's pointer record and the fillers' records, but not the WAL's
	// zero tail (megabytes, never written).
	if min, max := int64(len(unsyncedValue)), int64(len(unsyncedValue)+2*len(fillerValue)+16<<10); report.TruncatedBytes < min || report.TruncatedBytes > max {
		t.Fatalf("truncated %d bytes, want record b's %d and at most %d: %s", report.TruncatedBytes, min, max, report)
	}
	got := readDirStore(t, dir)
	if got["a"] != syncedValue || got["s"] != sideSyncedValue {
		t.Fatalf("a synced write (a, or s in a segment) is gone after the power loss: %s", describeState(got))
	}
	for _, k := range []string{"b", "l"} {
		if _, ok := got[k]; ok {
			t.Fatalf("the unsynced write %s survived the power loss: %s", k, describeState(got))
		}
	}
	if _, err := os.Stat(dir + UnsyncedJournalSuffix); !os.IsNotExist(err) {
		t.Fatalf("the journal is still there after the power loss (%v): a second play would undo more", err)
	}
	// The journal of another process is refused, never applied.
	if _, err := LoseUnsynced(vfs.Default, control+UnsyncedJournalSuffix, pid+1); err == nil || !strings.Contains(err.Error(), "written by pid "+strconv.Itoa(pid)) {
		t.Fatalf("LoseUnsynced with the wrong pid: %v, want a refusal naming pid %d", err, pid)
	}
}

// readDirStore opens the store in dir (journal off), reads every pair and
// closes it.
func readDirStore(t *testing.T, dir string) map[string]string {
	t.Helper()
	d, err := Open(Options{Dir: dir, CacheBytes: 1 << 20})
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	defer d.Close()
	res := d.Do(env.DiskOp{Kind: env.DiskScan, Limit: env.DiskScanLimitMax})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	out := map[string]string{}
	for _, kv := range res.Pairs {
		out[string(kv.Key)] = string(kv.Value)
	}
	return out
}

// TestUnsyncedModeRefusesBadValues: a value of the failpoint that is
// neither keep nor lose:PID fails Open, naming the failpoint; lose:PID
// without a journal fails Open too (the power loss could not be played),
// and a closed store leaves no journal behind.
func TestUnsyncedModeRefusesBadValues(t *testing.T) {
	for _, v := range []string{`return("drop")`, `return("lose:x")`, `return("lose:0")`} {
		enableFailpoint(t, FailpointUnsynced, v)
		if _, err := Open(Options{Dir: testDir, FS: vfs.NewMem()}); err == nil || !strings.Contains(err.Error(), FailpointUnsynced) {
			t.Fatalf("%s: Open error %v, want one naming %s", v, err, FailpointUnsynced)
		}
	}
	enableFailpoint(t, FailpointUnsynced, `return("lose:12345")`)
	if _, err := Open(Options{Dir: testDir, FS: vfs.NewMem()}); err == nil || !strings.Contains(err.Error(), "pid 12345") {
		t.Fatalf("lose without a journal: Open error %v, want one naming the pid", err)
	}
	enableFailpoint(t, FailpointUnsynced, `return("keep")`)
	fs := vfs.NewMem()
	d, err := Open(Options{Dir: testDir, FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Stat(testDir + UnsyncedJournalSuffix); err != nil {
		t.Fatalf("no journal while the store is open: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Stat(testDir + UnsyncedJournalSuffix); err == nil {
		t.Fatal("the journal outlived Close")
	}
}

// TestPowerLossAcrossFlushes writes values large enough to fill
// memtables, so pebble flushes them into new tables and blob files,
// rotates and recycles its WAL and edits its manifest (files created,
// renamed and synced with their directories), with power losses between:
// each time the store opens, holds every synced write and a prefix of
// the unsynced ones (pebble syncs a flushed memtable itself), and a
// second crash changes nothing.
func TestPowerLossAcrossFlushes(t *testing.T) {
	enableFailpoint(t, FailpointUnsynced, `return("keep")`)
	rapid.Check(t, func(rt *rapid.T) {
		h := newHarness(rt, 0, rapid.Uint64().Draw(rt, "seed"))
		h.lose = true
		defer h.close()
		durable, current := map[string]string{}, map[string]string{}
		var unsynced [][]crashWrite
		for serial := range rapid.IntRange(10, 30).Draw(rt, "steps") {
			switch rapid.IntRange(0, 7).Draw(rt, "action") {
			case 0:
				h.do(rt, env.DiskOp{Kind: env.DiskSync})
				durable, unsynced = maps.Clone(current), nil
			case 1:
				observed := h.crashAndCheck(rt, durable, unsynced)
				durable, current, unsynced = observed, maps.Clone(observed), nil
			default:
				op := []crashWrite{{key: rapid.SampledFrom(crashKeys).Draw(rt, "key"),
					value: crashValue(serial, rapid.IntRange(256<<10, 1<<20).Draw(rt, "size"))}}
				h.do(rt, diskOpOf(op))
				applyCrashOp(current, op)
				unsynced = append(unsynced, op)
			}
		}
		h.crashAndCheck(rt, durable, unsynced)
	})
}

// TestJournalRules plays power losses on a plain file system, one rule
// at a time: an unsynced tail is cut, a file whose directory was never
// synced is removed, a rename not followed by a directory sync is
// undone, a reused file keeps only what its new handle synced, and a
// removal stays done.
func TestJournalRules(t *testing.T) {
	mem := vfs.NewMem()
	if err := mem.MkdirAll("d", 0o755); err != nil {
		t.Fatal(err)
	}
	u, err := newUnsyncedFS(mem, "j", 42)
	if err != nil {
		t.Fatal(err)
	}
	write := func(f vfs.File, s string, sync bool) {
		t.Helper()
		if _, err := f.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
		if sync {
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	create := func(name string) vfs.File {
		t.Helper()
		f, err := u.Create(name, vfs.WriteCategoryUnspecified)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	dirSync := func() {
		t.Helper()
		d, err := u.OpenDir("d")
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Sync(); err != nil {
			t.Fatal(err)
		}
		_ = d.Close()
	}
	tail := create("d/tail") // synced, then an unsynced tail
	write(tail, "kept", true)
	old := create("d/old") // reused below for a new file
	write(old, "old-content", true)
	gone := create("d/gone") // removed below
	old2 := create("d/old2") // reused and written, never synced again
	write(old2, "old2-content", true)
	dirSync() // tail, old, gone and old2 are durable entries
	write(tail, "+unsynced", false)
	if err := u.Remove("d/gone"); err != nil {
		t.Fatal(err)
	}
	reused, err := u.ReuseForWrite("d/old", "d/new", vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	reused2, err := u.ReuseForWrite("d/old2", "d/new2", vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	dirSync() // the reuses' renames are durable
	write(reused2, "X-unsynced", false)
	write(reused, "NEW", true)
	write(reused, "-unsynced", false)
	orphan := create("d/orphan") // synced, but its directory never is after
	write(orphan, "orphan", true)
	if err := u.Rename("d/tail", "d/tail2"); err != nil { // never dir-synced: undone
		t.Fatal(err)
	}
	over := create("d/over") // renamed over the durable d/new2 below
	write(over, "over", true)
	if err := u.Rename("d/over", "d/new2"); err != nil { // kept: undone, neither file would be left
		t.Fatal(err)
	}
	for _, f := range []vfs.File{tail, old, gone, old2, reused, reused2, orphan, over} {
		_ = f.Close()
	}
	report, err := LoseUnsynced(mem, "j", 42)
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		f, err := mem.Open(name)
		if err != nil {
			return "<absent>"
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		return string(b)
	}
	for name, want := range map[string]string{
		"d/tail":   "kept",
		"d/tail2":  "<absent>",
		"d/orphan": "<absent>",
		"d/old":    "<absent>",
		"d/new":    "NEW",
		"d/new2":   "over",
		"d/over":   "<absent>",
		"d/gone":   "<absent>",
		"j":        "<absent>",
	} {
		if got := read(name); got != want {
			t.Errorf("%s holds %q after the power loss, want %q (%s)", name, got, want, report)
		}
	}
	if report.RenamesUndone != 1 || report.Truncated != 2 || report.Removed != 1 {
		t.Errorf("report %s, want 1 rename undone, 2 files truncated, 1 removed", report)
	}
}
