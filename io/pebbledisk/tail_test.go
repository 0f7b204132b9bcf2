package pebbledisk

import (
	"bytes"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ron-network/ron/core/env"
)

func init() {
	// Every test of the package, the crash suites among them, reclaims
	// segment tails at Open on its in-memory file systems too.
	segmentTailRewrite = true
}

// withTailRewrite sets segmentTailRewrite for one test.
func withTailRewrite(t *testing.T, on bool) {
	old := segmentTailRewrite
	segmentTailRewrite = on
	t.Cleanup(func() { segmentTailRewrite = old })
}

// metricsRecorder is an env.Metrics keeping the last value of each gauge
// and the sum of each counter.
type metricsRecorder struct {
	mu     sync.Mutex
	values map[string]float64
}

func (m *metricsRecorder) Add(name, _ string, delta float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.values[name] += delta
}

func (m *metricsRecorder) Set(name, _ string, value float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.values[name] = value
}

func (m *metricsRecorder) Observe(string, string, float64) {}

func (m *metricsRecorder) get(name string) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.values[name]
}

// openMetered opens the store in fs reporting to a fresh recorder.
func openMetered(t *testing.T, fsys vfs.FS) (*syncDisk, *metricsRecorder) {
	t.Helper()
	m := &metricsRecorder{values: map[string]float64{}}
	d, err := Open(Options{Dir: testDir, FS: fsys, CacheBytes: 1 << 20, SideValueBytesMin: testSideMin, Metrics: m})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return &syncDisk{t: t, disk: d}, m
}

// checkGarbage: Stats and the gauge both report want bytes of garbage.
func checkGarbage(t *testing.T, s *syncDisk, m *metricsRecorder, want int64, when string) {
	t.Helper()
	if got := s.disk.Stats().SegmentGarbageBytes; got != want {
		t.Fatalf("%s: Stats.SegmentGarbageBytes %d, want %d", when, got, want)
	}
	if got := m.get(MetricSegmentGarbage); got != float64(want) {
		t.Fatalf("%s: %s %v, want %d", when, MetricSegmentGarbage, got, want)
	}
}

// crashMidUpload writes a committed, synced value, then the chunks of an
// upload (one group of large values) and clones fs when the group's
// segment bytes are synced but its pointers are not committed: a crash
// mid-upload. It returns the clone and the chunks' bytes.
func crashMidUpload(t *testing.T, fsys *vfs.MemFS, percent int) (*vfs.MemFS, int64) {
	t.Helper()
	s := openSyncOn(t, fsys)
	s.ok(env.DiskOp{Kind: env.DiskPut, Key: []byte("kept"), Value: sideValue(1, 5000)})
	s.sync()
	var clone *vfs.MemFS
	sideStepHook = func(step string) {
		if step == "synced" && clone == nil {
			clone = fsys.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: percent, RNG: rand.New(rand.NewPCG(uint64(percent), 3))})
		}
	}
	t.Cleanup(func() { sideStepHook = nil })
	var chunks []env.DiskWrite
	var chunkBytes int64
	for i := range 4 {
		v := sideValue(10+i, 6000)
		chunks = append(chunks, env.DiskWrite{Key: []byte(fmt.Sprintf("chunk/%d", i)), Value: v})
		chunkBytes += int64(len(v))
	}
	s.ok(env.DiskOp{Kind: env.DiskBatch, Batch: chunks})
	sideStepHook = nil
	if clone == nil {
		t.Fatal("the upload's segment write never reached its sync")
	}
	return clone, chunkBytes
}

// TestSegmentGarbageAfterCrashMidUpload: a crash after an upload's chunk
// bytes reached the segment (synced) but before their pointers
// committed leaves them in the tail of a segment another value keeps.
// Where tails cannot be cut (as on a file system without truncate), the
// reopened store reports exactly those bytes as garbage (Stats and
// storage_segment_garbage_bytes), and they go, and the gauge with them,
// once compaction moved the kept value and a sync unlinked the segment.
func TestSegmentGarbageAfterCrashMidUpload(t *testing.T) {
	withTailRewrite(t, false)
	withCompaction(t, 1<<40, 1<<30) // none until the test lowers it
	clone, chunkBytes := crashMidUpload(t, vfs.NewCrashableMem(), 100)
	r, m := openMetered(t, clone)
	r.wantState(map[string]string{"kept": string(sideValue(1, 5000))})
	checkGarbage(t, r, m, chunkBytes, "after the crash")
	if got := r.disk.Stats().SegmentTailReclaimedBytes; got != 0 {
		t.Fatalf("reclaimed %d bytes of tail with reclaiming off", got)
	}

	withCompaction(t, 1, 1<<30)
	r.put("small", "s") // a write, so the sync is not skipped
	r.sync()            // compaction moves "kept" into a new segment
	if r.disk.side.compactions != 1 {
		t.Fatalf("compaction rounds %d, want 1", r.disk.side.compactions)
	}
	r.put("small", "t")
	r.sync() // the old segment, tail and all, is unlinked
	checkGarbage(t, r, m, 0, "after compaction")
	r.wantState(map[string]string{"kept": string(sideValue(1, 5000)), "small": "t"})
	checkSideInvariants(t, r.disk, clone, true)
}

// TestSegmentTailReclaimedAtOpen: the same crash mid-upload, with tails
// reclaimed at Open: the chunks' bytes are cut off the segment
// (storage_segment_tail_reclaimed_bytes_total), nothing is left as
// garbage, the kept value reads back, and so it does after a crash at
// any point after that Open (the cut survives a power loss or not, and
// neither loses a byte a pointer names). Values deleted at the end of a
// segment (an orphan sweep's deletes of an upload's committed chunks)
// count as garbage until the next Open cuts them off too.
func TestSegmentTailReclaimedAtOpen(t *testing.T) {
	withTailRewrite(t, true)
	withCompaction(t, 1<<40, 1<<30)
	for _, percent := range []int{0, 50, 100} {
		t.Run(fmt.Sprint(percent), func(t *testing.T) {
			clone, chunkBytes := crashMidUpload(t, vfs.NewCrashableMem(), percent)
			r, m := openMetered(t, clone)
			kept := map[string]string{"kept": string(sideValue(1, 5000))}
			r.wantState(kept)
			checkGarbage(t, r, m, 0, "after the crash and the cut")
			if got := r.disk.Stats().SegmentTailReclaimedBytes; got != chunkBytes {
				t.Fatalf("reclaimed %d bytes, want the upload's %d", got, chunkBytes)
			}
			if got := m.get(MetricSegmentTailReclaimed); got != float64(chunkBytes) {
				t.Fatalf("%s %v, want %d", MetricSegmentTailReclaimed, got, chunkBytes)
			}
			checkSideInvariants(t, r.disk, clone, true)
			again := clone.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: percent, RNG: rand.New(rand.NewPCG(9, 9))})
			openSyncOn(t, again).wantState(kept)

			// An upload's chunks committed after a value that stays,
			// then deleted (the orphan sweep after a restart): their
			// bytes are garbage at the end of the segment until the
			// next Open cuts them off.
			kept["kept2"] = string(sideValue(2, 5000))
			r.put("kept2", kept["kept2"])
			var deletes []env.DiskWrite
			var chunkBytes2 int64
			for i := range 3 {
				v := sideValue(20+i, 7000)
				key := []byte(fmt.Sprintf("chunk/%d", i))
				r.ok(env.DiskOp{Kind: env.DiskPut, Key: key, Value: v})
				deletes = append(deletes, env.DiskWrite{Key: key, Delete: true})
				chunkBytes2 += int64(len(v))
			}
			r.sync()
			checkGarbage(t, r, m, 0, "after the chunks' writes")
			r.ok(env.DiskOp{Kind: env.DiskBatch, Batch: deletes})
			r.sync()
			checkGarbage(t, r, m, chunkBytes2, "after the chunks' deletes")
			_ = r.disk.Close()
			r2, m2 := openMetered(t, clone)
			r2.wantState(kept)
			checkGarbage(t, r2, m2, 0, "after reopening")
			if got := m2.get(MetricSegmentTailReclaimed); got != float64(chunkBytes2) {
				t.Fatalf("the second Open reclaimed %v bytes, want the deleted chunks' %d", got, chunkBytes2)
			}
			checkSideInvariants(t, r2.disk, clone, true)
		})
	}
}

// segmentBytesOnDisk sums the sizes of the segment files under dir.
func segmentBytesOnDisk(t *testing.T, dir string) int64 {
	t.Helper()
	var total int64
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || filepath.Ext(p) != ".seg" {
			return err
		}
		info, err := e.Info()
		total += info.Size()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}

// killableFS models kill -9 on a file system that keeps a dead process's
// writes: once dead is set, the syncs of the files (and directories) it
// opened for writing whose names frozen accepts do nothing, so their
// bytes stay readable, and a later Open reads them, but a power loss
// (CrashClone) drops them. vfs.NewCrashableMem's own CrashClone cannot
// play this: the clone it gives marks every byte it keeps as synced.
type killableFS struct {
	vfs.FS
	dead   *atomic.Bool
	frozen func(name string) bool // nil: every file
}

// killableFile is a file of a killableFS.
type killableFile struct {
	vfs.File
	inert bool // syncs do nothing once the process is dead
	dead  *atomic.Bool
}

func (fsys killableFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	inert := fsys.frozen == nil || fsys.frozen(name)
	return killableFile{File: f, inert: inert, dead: fsys.dead}, nil
}

func (fsys killableFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fsys.FS.Create(name, c)
	return fsys.wrap(name, f, err)
}

func (fsys killableFS) ReuseForWrite(old, name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fsys.FS.ReuseForWrite(old, name, c)
	return fsys.wrap(name, f, err)
}

func (fsys killableFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fsys.FS.OpenReadWrite(name, c, opts...)
	return fsys.wrap(name, f, err)
}

func (fsys killableFS) OpenDir(name string) (vfs.File, error) {
	f, err := fsys.FS.OpenDir(name)
	return fsys.wrap(name, f, err)
}

func (f killableFile) skip() bool { return f.inert && f.dead.Load() }

func (f killableFile) Sync() error {
	if f.skip() {
		return nil
	}
	return f.File.Sync()
}

func (f killableFile) SyncData() error {
	if f.skip() {
		return nil
	}
	return f.File.SyncData()
}

func (f killableFile) SyncTo(length int64) (bool, error) {
	if f.skip() {
		return true, nil
	}
	return f.File.SyncTo(length)
}

// notSegment: the file is pebble's, not a segment (or its directory).
func notSegment(name string) bool { return !strings.Contains(name, "/"+SideDirName) }

// killCutPowerLoss plays the crash the tail cut must survive: a, then q
// (values in the same segment, q at its end), synced; an unsynced delete
// of q; kill -9 (no sync reaches the device from then on); an Open that
// replays the delete and cuts q's bytes off the segment; a power loss.
// During that Open the syncs of the files frozenAtCut accepts do nothing
// as well (nil: none). It returns what is wrong with the store reopened
// after the power loss ("" if nothing): q must be absent, and a must read
// back whole, not as a pointer into the bytes the cut removed.
func killCutPowerLoss(t *testing.T, frozenAtCut func(string) bool) string {
	t.Helper()
	withCompaction(t, 1<<40, 1<<30)
	mem := vfs.NewCrashableMem()
	var dead atomic.Bool
	s := openSyncOn(t, killableFS{FS: mem, dead: &dead})
	a, q := sideValue(1, 5000), sideValue(2, 6000)
	s.ok(env.DiskOp{Kind: env.DiskPut, Key: []byte("a"), Value: a})
	s.ok(env.DiskOp{Kind: env.DiskPut, Key: []byte("q"), Value: q})
	s.sync()
	dead.Store(true)
	s.ok(env.DiskOp{Kind: env.DiskDelete, Key: []byte("q")})
	_ = s.disk.Close() // the process dies: nothing it syncs is durable

	var cutDead atomic.Bool
	cutDead.Store(frozenAtCut != nil)
	fsys := vfs.FS(mem)
	if frozenAtCut != nil {
		fsys = killableFS{FS: mem, dead: &cutDead, frozen: frozenAtCut}
	}
	r := openSyncOn(t, fsys)
	r.wantState(map[string]string{"a": string(a)})
	if got := r.disk.Stats().SegmentTailReclaimedBytes; got != int64(len(q)) {
		t.Fatalf("Open cut %d bytes, want q's %d (the test needs q's bytes cut)", got, len(q))
	}
	_ = r.disk.Close()

	lost := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0, RNG: rand.New(rand.NewPCG(1, 1))})
	d, err := Open(Options{Dir: testDir, FS: lost, CacheBytes: 1 << 20, SideValueBytesMin: testSideMin})
	if err != nil {
		return fmt.Sprintf("open after the power loss: %v", err)
	}
	defer d.Close()
	res := d.Do(env.DiskOp{Kind: env.DiskScan, Limit: env.DiskScanLimitMax})
	if res.Err != nil {
		return fmt.Sprintf("scan after the power loss: %v", res.Err)
	}
	got := map[string]string{}
	for _, kv := range res.Pairs {
		got[string(kv.Key)] = string(kv.Value)
	}
	if want := map[string]string{"a": string(a)}; fmt.Sprint(got) != fmt.Sprint(want) {
		return fmt.Sprintf("after the power loss the store holds %d keys %v, want only a whole", len(got), keysOf(got))
	}
	return ""
}

// keysOf lists m's keys and their values' lengths, in key order.
func keysOf(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s(%d bytes)", k, len(v)))
	}
	slices.Sort(out)
	return out
}

// TestTailCutAfterKillThenPowerLoss: kill -9 with a delete of q in the
// WAL's unsynced tail, an Open that replays it and cuts q's bytes, then
// a power loss. The cut is safe only if the delete Open acted on is
// durable before the cut: openSide flushes the replayed state. The crash
// suites cannot play this (a CrashClone keeps bytes as synced).
func TestTailCutAfterKillThenPowerLoss(t *testing.T) {
	withTailRewrite(t, true)
	if msg := killCutPowerLoss(t, nil); msg != "" {
		t.Fatal(msg)
	}
}

// TestTailCutCheckSeesLostDelete shows the test above can fail: with
// pebble's own syncs disabled during the cutting Open (so that the
// replayed delete is not durable, whatever Open flushes), while the cut
// itself is synced, the power loss brings q back, naming bytes the cut
// removed, and killCutPowerLoss reports it.
func TestTailCutCheckSeesLostDelete(t *testing.T) {
	withTailRewrite(t, true)
	if msg := killCutPowerLoss(t, notSegment); msg == "" {
		t.Fatal("a cut whose delete a power loss undid went unnoticed")
	} else {
		t.Log(msg)
	}
}

// renameFailFS fails every rename onto a segment: rewritePrefix, the
// tests' stand-in for the truncate, cannot complete.
type renameFailFS struct{ vfs.FS }

func (fsys renameFailFS) Rename(old, name string) error {
	if strings.HasSuffix(name, ".seg") {
		return fmt.Errorf("rename %s: injected failure", name)
	}
	return fsys.FS.Rename(old, name)
}

// TestTailCutFailureWarns: a cut that fails leaves the tail, logs a
// warning naming the segment and the error, and the tail is counted as
// garbage at the file's real size (the old code said nothing).
func TestTailCutFailureWarns(t *testing.T) {
	withTailRewrite(t, true)
	withCompaction(t, 1<<40, 1<<30)
	clone, chunkBytes := crashMidUpload(t, vfs.NewCrashableMem(), 100)
	var logged bytes.Buffer
	m := &metricsRecorder{values: map[string]float64{}}
	d, err := Open(Options{Dir: testDir, FS: renameFailFS{clone}, CacheBytes: 1 << 20, SideValueBytesMin: testSideMin,
		Metrics: m, Log: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	r := &syncDisk{t: t, disk: d}
	r.wantState(map[string]string{"kept": string(sideValue(1, 5000))})
	checkGarbage(t, r, m, chunkBytes, "after a failed cut")
	if got := d.Stats().SegmentTailReclaimedBytes; got != 0 {
		t.Fatalf("reclaimed %d bytes though the cut failed", got)
	}
	text := logged.String()
	for _, want := range []string{"level=WARN", "0000000000000000.seg", "injected failure"} {
		if !strings.Contains(text, want) {
			t.Fatalf("log does not say %q:\n%s", want, text)
		}
	}
}
