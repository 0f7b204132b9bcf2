package pebbledisk

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/pingcap/failpoint"

	"github.com/ron-network/ron/core/env"
)

func waitFull(t *testing.T, d *Disk, want bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if full, _ := d.Full(); full == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Full() never became %v", want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func wantFullErr(t *testing.T, res env.DiskResult) {
	t.Helper()
	if !errors.Is(res.Err, env.ErrDiskFull) {
		t.Fatalf("write on a full disk: %v, want env.ErrDiskFull", res.Err)
	}
}

// TestFullDiskRefusesWritesKeepsReadsAndRecovers: once a write meets a
// full disk (the failpoint returns ENOSPC), writes fail fast with
// env.ErrDiskFull, Full says so, reads still work, and once space is
// back Full clears by itself and writes succeed, without reopening.
func TestFullDiskRefusesWritesKeepsReadsAndRecovers(t *testing.T) {
	s := openSync(t, vfs.NewMem())
	s.put("a", "stored before")
	s.sync()
	enableFailpoint(t, FailpointWrite, `return("full")`)
	first := s.disk.Do(env.DiskOp{Kind: env.DiskPut, Key: []byte("b"), Value: []byte("x")})
	wantFullErr(t, first)
	if !errors.Is(first.Err, syscall.ENOSPC) {
		t.Fatalf("the first full write hides its ENOSPC: %v", first.Err)
	}
	full, reason := s.disk.Full()
	if !full || !strings.Contains(reason, "disk full") || !s.disk.Stats().Full {
		t.Fatalf("after ENOSPC: Full() = %v %q", full, reason)
	}
	res := s.disk.Do(env.DiskOp{Kind: env.DiskSync})
	if !errors.Is(res.Err, ErrFull) {
		t.Fatalf("sync on a full disk: %v, want ErrFull (refused before pebble)", res.Err)
	}
	if got := s.ok(env.DiskOp{Kind: env.DiskGet, Key: []byte("a")}); string(got.Value) != "stored before" {
		t.Fatalf("read on a full disk: %q", got.Value)
	}
	if err := disableFailpoint(FailpointWrite); err != nil {
		t.Fatal(err)
	}
	waitFull(t, s.disk, false)
	s.put("b", "after")
	s.sync()
	s.wantState(map[string]string{"a": "stored before", "b": "after"})
}

// TestReserveRefusesWritesBeforePebbleMeetsENOSPC: with less free space
// than the reserve, writes are refused before pebble sees them; freeing
// space clears the state.
func TestReserveRefusesWritesBeforePebbleMeetsENOSPC(t *testing.T) {
	fs := vfs.NewMem()
	fs.TestingSetDiskUsage(vfs.DiskUsage{AvailBytes: 1 << 20, TotalBytes: 1 << 30, UsedBytes: 1<<30 - 1<<20})
	d, err := Open(Options{Dir: testDir, FS: fs, CacheBytes: 1 << 20, ReserveBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	wantFullErr(t, d.Do(env.DiskOp{Kind: env.DiskPut, Key: []byte("k"), Value: []byte("v")}))
	if full, reason := d.Full(); !full || !strings.Contains(reason, "reserve") {
		t.Fatalf("Full() = %v %q", full, reason)
	}
	fs.TestingSetDiskUsage(vfs.DiskUsage{AvailBytes: 512 << 20, TotalBytes: 1 << 30, UsedBytes: 512 << 20})
	waitFull(t, d, false)
	if res := d.Do(env.DiskOp{Kind: env.DiskPut, Key: []byte("k"), Value: []byte("v")}); res.Err != nil {
		t.Fatal(res.Err)
	}
}

// TestPebbleLogIsRateLimited: a storm of one error line is cut to
// logLinesPerInterval lines per interval.
func TestPebbleLogIsRateLimited(t *testing.T) {
	var buf bytes.Buffer
	l := pebbleLogger{log: slog.New(slog.NewTextHandler(&buf, nil)), limit: &logLimiter{}}
	for i := 0; i < 500; i++ {
		l.Errorf("background error: %v", errors.New("no space left on device"))
	}
	l.Infof("another message")
	if lines := strings.Count(buf.String(), "\n"); lines != logLinesPerInterval+1 {
		t.Fatalf("%d lines logged for 500 errors and one info, want %d:\n%s", lines, logLinesPerInterval+1, buf.String())
	}
}

func disableFailpoint(name string) error { return failpoint.Disable(name) }

// usageFS counts the free-space probes and answers each with the next of
// avail (the last one repeated). It answers the Disk's probes only
// (probeWith): pebble calls GetDiskUsage from its own goroutines too
// (after a flush or compaction, in its deletion pacer), and on a loaded
// machine one of those calls took an answer meant for the Disk, or
// counted as one of its probes.
type usageFS struct {
	vfs.FS
	probes atomic.Int64
	avail  []uint64
}

func (fs *usageFS) GetDiskUsage(path string) (vfs.DiskUsage, error) {
	n := fs.probes.Add(1) - 1
	a := fs.avail[min(n, int64(len(fs.avail)-1))]
	return vfs.DiskUsage{AvailBytes: a, TotalBytes: 1 << 40, UsedBytes: 1<<40 - a}, nil
}

// openProbedBy opens a Disk with the reserve on an in-memory file system,
// whose free-space probes (the Disk's own, not pebble's) fs answers.
func openProbedBy(t *testing.T, reserve int64, fs *usageFS) *Disk {
	t.Helper()
	d, err := Open(Options{Dir: testDir, FS: fs.FS, CacheBytes: 1 << 20, ReserveBytes: reserve})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	d.fullness.mu.Lock() // free runs under it
	d.fullness.fs = fs
	d.fullness.mu.Unlock()
	return d
}

// TestGroupProbesFreeSpaceOnce: a group of writes and syncs (a registry
// Ready's batch and sync, an audit record's put and sync) probes the free
// space once, before its first write; a sync after writes that could have
// crossed the reserve probes again, and is refused when they did.
func TestGroupProbesFreeSpaceOnce(t *testing.T) {
	const reserve = 8 << 20
	open := func(avail ...uint64) (*Disk, *usageFS) {
		fs := &usageFS{FS: vfs.NewMem(), avail: avail}
		return openProbedBy(t, reserve, fs), fs
	}
	group := []env.DiskOp{
		{Kind: env.DiskBatch, Batch: []env.DiskWrite{{Key: []byte("raft/e/1"), Value: []byte("entry")}, {Key: []byte("raft/hs"), Value: []byte("hs")}}},
		{Kind: env.DiskSync},
		{Kind: env.DiskPut, Key: []byte("audit/1"), Value: []byte("record")},
		{Kind: env.DiskSync},
	}
	d, fs := open(1 << 30)
	for i, res := range d.doGroup(group) {
		if res.Err != nil {
			t.Fatalf("op %d: %v", i, res.Err)
		}
	}
	if fs.probes.Load() != 1 {
		t.Fatalf("a group of 2 writes and 2 syncs probed the free space %d times, want 1", fs.probes.Load())
	}

	// Room for the write, but twice its bytes would cross the reserve: the
	// sync probes again and finds the reserve gone.
	big := bytes.Repeat([]byte("v"), 600<<10)
	d, fs = open(reserve+1<<20, reserve-1)
	results := d.doGroup([]env.DiskOp{{Kind: env.DiskPut, Key: []byte("big"), Value: big}, {Kind: env.DiskSync}})
	if results[0].Err != nil {
		t.Fatalf("the write with room for it: %v", results[0].Err)
	}
	if !errors.Is(results[1].Err, ErrFull) || fs.probes.Load() != 2 {
		t.Fatalf("the sync after a write that crossed the reserve: %v after %d probes, want ErrFull after 2", results[1].Err, fs.probes.Load())
	}
}

// TestDoBetweenGroupWritesAndSyncKeepsTheSyncProbe: a Do run by another
// goroutine between a group's writes (startGroup) and its sync
// (syncGroup) probes the free space for itself; its probe and its few
// bytes written must not stand for the group's, whose sync must still
// probe after writes that could have crossed the reserve. (With one
// probe shared by the Disk, the Do replaced the group's and the sync
// skipped its probe on the Do's count of bytes.)
func TestDoBetweenGroupWritesAndSyncKeepsTheSyncProbe(t *testing.T) {
	const reserve = 8 << 20
	// The group's probe: room for its write, not twice over. The Do's
	// probe: room for the Do's write, not for the flush of the group's.
	// Then the reserve is gone.
	fs := &usageFS{FS: vfs.NewMem(), avail: []uint64{reserve + 1<<20, reserve + 700<<10, reserve - 1}}
	d := openProbedBy(t, reserve, fs)
	big := bytes.Repeat([]byte("v"), 600<<10)
	results, syncs, space := d.startGroup([]env.DiskOp{{Kind: env.DiskPut, Key: []byte("big"), Value: big}, {Kind: env.DiskSync}})
	if results[0].Err != nil {
		t.Fatalf("the group's write: %v", results[0].Err)
	}
	if res := d.Do(env.DiskOp{Kind: env.DiskPut, Key: []byte("k"), Value: []byte("v")}); res.Err != nil {
		t.Fatalf("the Do between: %v", res.Err)
	}
	d.syncGroup(syncs, results, space)
	if !errors.Is(results[1].Err, ErrFull) || fs.probes.Load() != 3 {
		t.Fatalf("the group's sync after a Do: %v after %d probes, want ErrFull after 3", results[1].Err, fs.probes.Load())
	}
}
