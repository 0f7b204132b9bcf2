package pebbledisk

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/pingcap/failpoint"
	"pgregory.net/rapid"

	"github.com/ron-network/ron/core/env"
)

// segmentFiles lists the segment files of the store in fs.
func segmentFiles(t failer, fs vfs.FS) []string {
	t.Helper()
	dir := path.Join(testDir, SideDirName)
	subs, err := fs.List(dir)
	if err != nil {
		t.Fatalf("listing %s: %v", dir, err)
	}
	var out []string
	for _, sub := range subs {
		names, err := fs.List(path.Join(dir, sub))
		if err != nil {
			t.Fatalf("listing %s: %v", sub, err)
		}
		for _, n := range names {
			if strings.HasSuffix(n, ".seg") {
				out = append(out, n)
			}
		}
	}
	slices.Sort(out)
	return out
}

// liveSegments names the segments d counts as live.
func liveSegments(d *Disk) []string {
	var out []string
	for id, n := range d.side.live {
		if n > 0 {
			out = append(out, fmt.Sprintf("%016x.seg", id))
		}
	}
	slices.Sort(out)
	return out
}

// checkSideInvariants: the live counts and bytes equal a recount of the
// pointers, and after a sync the files on disk are the live segments plus
// those released since (compaction after the sync releases some, which go
// at the next one): no garbage older than that, nothing live missing.
func checkSideInvariants(t failer, d *Disk, fs vfs.FS, synced bool) {
	t.Helper()
	d.execMu.Lock()
	recount := &sideStore{live: map[uint64]int{}, liveBytes: map[uint64]int64{}}
	err := recount.countPointers(d.db)
	live, liveBytes := maps.Clone(d.side.live), maps.Clone(d.side.liveBytes)
	var sizeSum, liveSum int64
	for _, n := range d.side.size {
		sizeSum += n
	}
	for _, n := range liveBytes {
		liveSum += n
	}
	sizeTotal, liveTotal := d.side.sizeTotal.Load(), d.side.liveTotal.Load()
	var pending []string
	for _, id := range d.side.pending {
		pending = append(pending, fmt.Sprintf("%016x.seg", id))
	}
	d.execMu.Unlock()
	if err != nil {
		t.Fatalf("recount: %v", err)
	}
	if !maps.Equal(recount.live, live) {
		t.Fatalf("live pointer counts %v, a recount finds %v", live, recount.live)
	}
	if !maps.Equal(recount.liveBytes, liveBytes) {
		t.Fatalf("live bytes %v, a recount finds %v", liveBytes, recount.liveBytes)
	}
	if sizeTotal != sizeSum || liveTotal != liveSum {
		t.Fatalf("totals of the garbage gauge: size %d, live %d; the segments sum to %d and %d", sizeTotal, liveTotal, sizeSum, liveSum)
	}
	if !synced {
		return
	}
	want := liveSegments(d)
	var held []string
	if d.side.mem != nil {
		for id := range d.side.mem {
			held = append(held, fmt.Sprintf("%016x.seg", id))
		}
		slices.Sort(held)
	} else {
		held = segmentFiles(t, fs)
	}
	for _, name := range want {
		if !slices.Contains(held, name) {
			t.Fatalf("live segment %s is missing (held: %v)", name, held)
		}
	}
	for _, name := range held {
		active := d.side.active != nil && name == fmt.Sprintf("%016x.seg", d.side.active.id)
		if !slices.Contains(want, name) && !slices.Contains(pending, name) && !active {
			t.Fatalf("after a sync segment %s is held with no live pointer and not pending (live %v)", name, want)
		}
	}
}

// withCompaction makes every garbage count for compaction during a test.
func withCompaction(t *testing.T, garbageMin, bytesMax int64) {
	oldMin, oldMax := compactGarbageMin, compactBytesMax
	compactGarbageMin, compactBytesMax = garbageMin, bytesMax
	t.Cleanup(func() { compactGarbageMin, compactBytesMax = oldMin, oldMax })
}

// sideValue is a value of size bytes naming serial.
func sideValue(serial, size int) []byte {
	v := bytes.Repeat([]byte{byte('a' + serial%26)}, size)
	copy(v, fmt.Sprintf("v%d:", serial))
	return v
}

// TestSideModel runs random writes (large values through segments, small
// ones inline, values starting with the side marker, batches that write a
// key twice, deletes), syncs and reopens against a model: every read
// matches, the pointer counts match a recount, and after each sync no
// segment without a live pointer is left on disk.
func TestSideModel(t *testing.T) {
	withCompaction(t, 1, 20_000)
	t.Run("Files", func(t *testing.T) { sideModel(t, false) })
	t.Run("FilesAligned", func(t *testing.T) {
		withSegmentAlign(t, directAlign)
		sideModel(t, false)
	})
	t.Run("InMemory", func(t *testing.T) { sideModel(t, true) })
}

// withSegmentAlign lays segments out as direct writes do (every value
// padded to align) on a file system that is not the OS's.
func withSegmentAlign(t *testing.T, align int) {
	old := segmentAlignOverride
	segmentAlignOverride = align
	t.Cleanup(func() { segmentAlignOverride = old })
}

// sideModel is TestSideModel with segment files or (inMemory) with the
// values kept in memory, where a reopen starts from an empty store.
func sideModel(t *testing.T, inMemory bool) {
	rapid.Check(t, func(rt *rapid.T) {
		fs := vfs.NewMem()
		open := func() *Disk {
			if inMemory {
				fs = vfs.NewMem()
			}
			d, err := Open(Options{Dir: testDir, FS: fs, CacheBytes: 1 << 20, SideValueBytesMin: testSideMin, ValuesInMemory: inMemory})
			if err != nil {
				rt.Fatalf("open: %v", err)
			}
			return d
		}
		d := open()
		defer func() { _ = d.Close() }()
		model := map[string]string{}
		keys := []string{"a", "b", "c", "d"}
		for serial := range rapid.IntRange(1, 60).Draw(rt, "steps") {
			var op env.DiskOp
			switch rapid.IntRange(0, 9).Draw(rt, "action") {
			case 0:
				op = env.DiskOp{Kind: env.DiskSync}
			case 1:
				if err := d.Close(); err != nil {
					rt.Fatalf("close: %v", err)
				}
				d = open()
				if inMemory {
					clear(model)
				}
				checkSideInvariants(rt, d, fs, true)
				continue
			case 2:
				op = env.DiskOp{Kind: env.DiskDelete, Key: []byte(rapid.SampledFrom(keys).Draw(rt, "key"))}
			default:
				n := rapid.IntRange(1, 4).Draw(rt, "writes")
				for i := range n {
					w := env.DiskWrite{Key: []byte(rapid.SampledFrom(keys).Draw(rt, "key"))}
					switch rapid.IntRange(0, 5).Draw(rt, "value") {
					case 0:
						w.Delete = true
					case 1: // the caller's bytes begin with the marker
						w.Value = append(sideMagic[:], rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(rt, "tail")...)
					case 2:
						w.Value = []byte{}
					case 3:
						w.Value = sideValue(serial*8+i, rapid.IntRange(1, 300).Draw(rt, "small"))
					default:
						w.Value = sideValue(serial*8+i, rapid.IntRange(testSideMin, 9000).Draw(rt, "large"))
					}
					op.Batch = append(op.Batch, w)
				}
				op.Kind = env.DiskBatch
			}
			if res := d.Do(op); res.Err != nil {
				rt.Fatalf("%s: %v", op.Kind, res.Err)
			}
			if op.Kind == env.DiskDelete {
				delete(model, string(op.Key))
			}
			for _, w := range op.Batch {
				if w.Delete {
					delete(model, string(w.Key))
				} else {
					model[string(w.Key)] = string(w.Value)
				}
			}
			for _, k := range keys {
				res := d.Do(env.DiskOp{Kind: env.DiskGet, Key: []byte(k)})
				want, ok := model[k]
				if res.Err != nil || res.Found != ok || string(res.Value) != want {
					rt.Fatalf("get %s: found %v (%d bytes) err %v, want found %v (%d bytes)", k, res.Found, len(res.Value), res.Err, ok, len(want))
				}
			}
			checkSideInvariants(rt, d, fs, op.Kind == env.DiskSync)
		}
		res := d.Do(env.DiskOp{Kind: env.DiskScan, Limit: 10})
		got := map[string]string{}
		for _, kv := range res.Pairs {
			got[string(kv.Key)] = string(kv.Value)
		}
		if res.Err != nil || !maps.Equal(got, model) {
			rt.Fatalf("scan: %d pairs err %v, want %d", len(got), res.Err, len(model))
		}
	})
}

// TestSideCrashAtEachStep crashes the file system at each step of a large
// write (segment written, segment synced, pointer committed) and after the
// following sync, keeping none, half or all of the unsynced data: the
// store reopens, the key holds its old value or (once committed) the new
// one with its exact bytes, never a missing or damaged one, and no
// segment without a pointer is left behind. Then the same for a delete.
func TestSideCrashAtEachStep(t *testing.T) {
	t.Run("Unaligned", sideCrashAtEachStep)
	t.Run("Aligned", func(t *testing.T) {
		withSegmentAlign(t, directAlign)
		sideCrashAtEachStep(t)
	})
}

func sideCrashAtEachStep(t *testing.T) {
	oldValue, newValue := sideValue(1, 5000), sideValue(2, 7000)
	for _, step := range []string{"written", "synced", "committed", "after-sync"} {
		for _, percent := range []int{0, 50, 100} {
			t.Run(fmt.Sprintf("%s/%d", step, percent), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(percent), 7))
				fs := vfs.NewCrashableMem()
				s := openSyncOn(t, fs)
				s.ok(env.DiskOp{Kind: env.DiskBatch, Batch: []env.DiskWrite{
					{Key: []byte("k"), Value: oldValue}, {Key: []byte("other"), Value: sideValue(3, 3000)}}})
				s.sync()
				var clone *vfs.MemFS
				crash := func() *vfs.MemFS {
					return fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: percent, RNG: rng})
				}
				sideStepHook = func(got string) {
					if got == step {
						clone = crash()
					}
				}
				t.Cleanup(func() { sideStepHook = nil })
				s.ok(env.DiskOp{Kind: env.DiskBatch, Batch: []env.DiskWrite{
					{Key: []byte("k"), Value: newValue}, {Key: []byte("small"), Value: []byte("s")}}})
				sideStepHook = nil
				if step == "after-sync" {
					s.sync()
					clone = crash()
				}
				if clone == nil {
					t.Fatalf("step %s never reached", step)
				}
				r := openSyncOn(t, clone)
				got := r.state()
				switch {
				case got["k"] == string(oldValue) && (step == "written" || step == "synced" || step == "committed"):
				case got["k"] == string(newValue) && (step == "committed" || step == "after-sync"):
				default:
					t.Fatalf("after a crash at %s the key holds %d bytes %.8q", step, len(got["k"]), got["k"])
				}
				if _, ok := got["small"]; ok != (got["k"] == string(newValue)) {
					t.Fatalf("the batch was split by the crash: %v", describeState(got))
				}
				checkSideInvariants(t, r.disk, clone, true)

				// A delete of the key, crashed before and after its sync.
				r.ok(env.DiskOp{Kind: env.DiskDelete, Key: []byte("k")})
				before := clone.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: percent, RNG: rng})
				r.sync()
				after := clone.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: percent, RNG: rng})
				b := openSyncOn(t, before).state()
				if v, ok := b["k"]; ok && v != got["k"] {
					t.Fatalf("a crash before the delete's sync left a damaged value (%d bytes)", len(v))
				}
				a := openSyncOn(t, after)
				if _, ok := a.state()["k"]; ok {
					t.Fatalf("the key survived its synced delete")
				}
				checkSideInvariants(t, a.disk, after, true)
			})
		}
	}
}

func openSyncOn(t *testing.T, fs vfs.FS) *syncDisk {
	t.Helper()
	d, err := Open(Options{Dir: testDir, FS: fs, CacheBytes: 1 << 20, SideValueBytesMin: testSideMin})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return &syncDisk{t: t, disk: d}
}

// TestSideFullDisk: ENOSPC while writing a segment fails the write with
// env.ErrDiskFull and sets the full state (refusing writes, keeping reads)
// like a full WAL would; nothing half-written is left, and once space is
// back writes work.
func TestSideFullDisk(t *testing.T) {
	mem := vfs.NewMem()
	enospc := fmt.Errorf("injected: %w", syscall.ENOSPC)
	toggle := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if strings.HasSuffix(op.Path, ".seg") && op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
			return enospc
		}
		return nil
	})}
	s := openSyncOn(t, errorfs.Wrap(mem, toggle))
	s.put("a", string(sideValue(1, 4000)))
	s.sync()
	toggle.On()
	res := s.disk.Do(env.DiskOp{Kind: env.DiskPut, Key: []byte("b"), Value: sideValue(2, 4000)})
	if !errors.Is(res.Err, env.ErrDiskFull) {
		t.Fatalf("segment write on a full disk: %v, want env.ErrDiskFull", res.Err)
	}
	if full, _ := s.disk.Full(); !full {
		t.Fatalf("Full() is false after a segment met ENOSPC")
	}
	wantFullErr(t, s.disk.Do(env.DiskOp{Kind: env.DiskPut, Key: []byte("c"), Value: []byte("x")}))
	if got := s.ok(env.DiskOp{Kind: env.DiskGet, Key: []byte("a")}); !bytes.Equal(got.Value, sideValue(1, 4000)) {
		t.Fatalf("read on a full disk: %d bytes", len(got.Value))
	}
	toggle.Off()
	waitFull(t, s.disk, false)
	s.put("b", string(sideValue(2, 4000)))
	s.sync()
	s.wantState(map[string]string{"a": string(sideValue(1, 4000)), "b": string(sideValue(2, 4000))})
	checkSideInvariants(t, s.disk, mem, true)
}

// TestSideCorruptSegment: a segment whose bytes changed, or that is
// gone, reads as env.ErrCorruption, never as the wrong value.
func TestSideCorruptSegment(t *testing.T) {
	mem := vfs.NewMem()
	s, seg := openTwoValues(t, mem)
	damageFirstValue(t, mem, seg)
	wantCorrupt := func(k string) {
		t.Helper()
		if res := s.disk.Do(env.DiskOp{Kind: env.DiskGet, Key: []byte(k)}); !errors.Is(res.Err, env.ErrCorruption) || errors.Is(res.Err, env.ErrDiskIO) {
			t.Fatalf("get %s of a damaged segment: %v, want env.ErrCorruption only", k, res.Err)
		}
	}
	wantCorrupt("a")
	if res := s.ok(env.DiskOp{Kind: env.DiskGet, Key: []byte("b")}); !bytes.Equal(res.Value, sideValue(2, 4000)) {
		t.Fatalf("b, beside the damaged bytes: %d bytes", len(res.Value))
	}
	if err := mem.Remove(seg); err != nil {
		t.Fatal(err)
	}
	// The open read handle still reads the removed file's (checked)
	// bytes; the store opened again finds the segment missing.
	if err := s.disk.Close(); err != nil {
		t.Fatal(err)
	}
	s = openSyncOn(t, mem)
	wantCorrupt("b")
	if res := s.disk.Do(env.DiskOp{Kind: env.DiskScan, Limit: 10}); !errors.Is(res.Err, env.ErrCorruption) {
		t.Fatalf("scan over a damaged segment: %v, want env.ErrCorruption", res.Err)
	}
	if res := s.disk.Do(env.DiskOp{Kind: env.DiskScan, Limit: 10, KeysOnly: true}); res.Err != nil || len(res.Pairs) != 2 {
		t.Fatalf("keys-only scan: %d pairs, %v", len(res.Pairs), res.Err)
	}
}

// killChildEnv names the store directory and step of the kill -9 child.
const killChildEnv = "RON_PEBBLEDISK_KILL_CHILD"

// TestSideKill9 runs a child process on a real directory that stores a
// 256 KiB value and syncs, then writes another and is killed with SIGKILL
// at a side-file step (FailpointSideKill) or after the sync. The store
// reopens with the synced value intact, the second one absent (killed
// before its pointer committed), intact, or (killed after the sync)
// present, and no orphan segment left. Both ways of writing segments run
// it: through the page cache (rond's default) and with O_DIRECT where the
// file system takes it.
func TestSideKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	first, second := sideValue(1, 256<<10), sideValue(2, 256<<10)
	for _, c := range []struct {
		step     string
		buffered bool
	}{
		{"written", true}, {"synced", true}, {"committed", true}, {"after-sync", true},
		{"written", false}, {"synced", false}, {"committed", false}, {"after-sync", false},
	} {
		step := c.step
		mode := map[bool]string{true: "buffered", false: "direct"}[c.buffered]
		t.Run(mode+"/"+step, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestSideKillChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), killChildEnv+"="+dir+"|"+step+"|"+mode)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child did not die of SIGKILL: %v\n%s", err, out)
			}
			d, err := Open(Options{Dir: dir, BufferedSegments: c.buffered})
			if err != nil {
				t.Fatalf("reopen after kill -9: %v", err)
			}
			defer func() { _ = d.Close() }()
			// The child opened the store the same way: where the file
			// system takes O_DIRECT, the direct cases cover that path.
			if want := !c.buffered && probeDirect(path.Join(dir, SideDirName)); d.side.direct != want {
				t.Fatalf("segments written directly: %v, want %v", d.side.direct, want)
			}
			get := func(k string) env.DiskResult {
				res := d.Do(env.DiskOp{Kind: env.DiskGet, Key: []byte(k)})
				if res.Err != nil {
					t.Fatalf("get %s after kill -9: %v", k, res.Err)
				}
				return res
			}
			if res := get("first"); !bytes.Equal(res.Value, first) {
				t.Fatalf("the synced value reads %d bytes after kill -9", len(res.Value))
			}
			res := get("second")
			switch {
			case res.Found && !bytes.Equal(res.Value, second):
				t.Fatalf("the unsynced value is damaged: %d bytes", len(res.Value))
			case res.Found && (step == "written" || step == "synced"):
				t.Fatalf("a value killed before its pointer committed is present")
			case !res.Found && step == "after-sync":
				t.Fatalf("a synced value is missing after kill -9")
			}
			// Open cut off the bytes of a value whose pointer the kill
			// lost: the segment files hold the values found, no more.
			want := int64(len(first))
			if res.Found {
				want += int64(len(second))
			}
			if got := segmentBytesOnDisk(t, path.Join(dir, SideDirName)); got != want {
				t.Fatalf("segment files hold %d bytes after kill -9, the values found %d", got, want)
			}
			if st := d.Stats(); st.SegmentGarbageBytes != 0 || st.SegmentTailReclaimedBytes != int64(len(first)+len(second))-want {
				t.Fatalf("after kill -9 at %s: garbage %d bytes, reclaimed %d", step, st.SegmentGarbageBytes, st.SegmentTailReclaimedBytes)
			}
			if res := d.Do(env.DiskOp{Kind: env.DiskSync}); res.Err != nil {
				t.Fatal(res.Err)
			}
			live := liveSegments(d)
			got := listSegments(t, path.Join(dir, SideDirName))
			if !slices.Equal(got, live) {
				t.Fatalf("segments on disk %v, live %v", got, live)
			}
		})
	}
}

// listSegments lists the segment files under a real directory.
func listSegments(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	subs, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range subs {
		names, err := os.ReadDir(path.Join(dir, sub.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			out = append(out, n.Name())
		}
	}
	slices.Sort(out)
	return out
}

// TestSideKillChild is the child of TestSideKill9; it does nothing unless
// started by it.
func TestSideKillChild(t *testing.T) {
	spec := os.Getenv(killChildEnv)
	if spec == "" {
		t.Skip("child of TestSideKill9 only")
	}
	dir, rest, _ := strings.Cut(spec, "|")
	step, mode, _ := strings.Cut(rest, "|")
	d, err := Open(Options{Dir: dir, BufferedSegments: mode == "buffered"})
	if err != nil {
		t.Fatal(err)
	}
	do := func(op env.DiskOp) {
		if res := d.Do(op); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	do(env.DiskOp{Kind: env.DiskPut, Key: []byte("first"), Value: sideValue(1, 256<<10)})
	do(env.DiskOp{Kind: env.DiskSync})
	if step != "after-sync" {
		if err := failpoint.Enable(FailpointSideKill, fmt.Sprintf("return(%q)", step)); err != nil {
			t.Fatal(err)
		}
	}
	do(env.DiskOp{Kind: env.DiskBatch, Batch: []env.DiskWrite{
		{Key: []byte("second"), Value: sideValue(2, 256<<10)}, {Key: []byte("small"), Value: []byte("s")}}})
	do(env.DiskOp{Kind: env.DiskSync})
	killSelf()
}

// TestSideGroupedWrites: writes queued together share one segment and
// one fsync, complete in order with their own results (an invalid op in
// the middle fails alone), and a crash after the group's sync keeps
// them all; deleting every value of the segment removes it after a sync.
func TestSideGroupedWrites(t *testing.T) {
	h := newHarness(t, 50, 1)
	defer h.close()
	// Hold the worker so the ops queue up behind the first one.
	h.disk.execMu.Lock()
	const n = 8
	for i := range n {
		h.Submit(env.DiskOp{Kind: env.DiskPut, Key: fmt.Appendf(nil, "k%d", i), Value: sideValue(i, 3000+i)})
		if i == 3 {
			h.Submit(env.DiskOp{Kind: env.DiskPut, Key: nil, Value: []byte("invalid")})
		}
	}
	h.Submit(env.DiskOp{Kind: env.DiskSync})
	h.disk.execMu.Unlock()
	done := h.Drain()
	if len(done) != n+2 {
		t.Fatalf("%d completions, want %d", len(done), n+2)
	}
	for i, d := range done {
		invalid := i == 4
		if invalid != errors.Is(d.Result.Err, env.ErrDiskInvalid) || (!invalid && d.Result.Err != nil) {
			t.Fatalf("completion %d (%s): %v", i, d.Op.Kind, d.Result.Err)
		}
		if i > 0 && d.ID <= done[i-1].ID {
			t.Fatalf("completions out of order: %d after %d", d.ID, done[i-1].ID)
		}
	}
	if files := segmentFiles(t, h.fs); len(files) >= n {
		t.Fatalf("%d segments for %d queued puts: the writes were not grouped", len(files), n)
	}
	h.Crash()
	got := h.readAll(t)
	for i := range n {
		if got[fmt.Sprintf("k%d", i)] != string(sideValue(i, 3000+i)) {
			t.Fatalf("k%d after a crash after the sync: %d bytes", i, len(got[fmt.Sprintf("k%d", i)]))
		}
	}
	for i := range n {
		h.do(t, env.DiskOp{Kind: env.DiskDelete, Key: fmt.Appendf(nil, "k%d", i)})
	}
	h.do(t, env.DiskOp{Kind: env.DiskSync})
	if files := segmentFiles(t, h.fs); len(files) != 0 {
		t.Fatalf("segments %v left after every value was deleted and synced", files)
	}
}

// TestSideCompaction: segments shared by values of which most are deleted
// are compacted after syncs until the bytes held are at most twice the
// live bytes; every value still reads, also after a crash.
func TestSideCompaction(t *testing.T) {
	withCompaction(t, 1, 1<<20)
	old := segmentFileBytesMax
	segmentFileBytesMax = 40_000 // one batch per segment
	t.Cleanup(func() { segmentFileBytesMax = old })
	fs := vfs.NewCrashableMem()
	s := openSyncOn(t, fs)
	want := map[string]string{}
	for b := range 6 {
		var batch []env.DiskWrite
		for i := range 8 {
			k, v := fmt.Sprintf("b%d-%d", b, i), sideValue(b*8+i, 5000)
			batch = append(batch, env.DiskWrite{Key: []byte(k), Value: v})
			want[k] = string(v)
		}
		s.ok(env.DiskOp{Kind: env.DiskBatch, Batch: batch})
	}
	s.sync()
	for b := range 6 {
		for i := 1; i < 8; i++ {
			k := fmt.Sprintf("b%d-%d", b, i)
			s.ok(env.DiskOp{Kind: env.DiskDelete, Key: []byte(k)})
			delete(want, k)
		}
	}
	// Each sync compacts (the segment being appended to waits until a
	// newer one takes its place) and removes what the one before moved.
	for range 4 {
		s.sync()
	}
	if s.disk.side.compactions == 0 {
		t.Fatalf("no compaction ran")
	}
	var held int64
	for _, name := range segmentFiles(t, fs) {
		info, err := fs.Stat(path.Join(testDir, SideDirName, "00000000", name))
		if err != nil {
			t.Fatal(err)
		}
		held += info.Size()
	}
	if live := int64(6 * 5000); held > 2*live {
		t.Fatalf("segments hold %d bytes for %d live", held, live)
	}
	s.wantState(want)
	checkSideInvariants(t, s.disk, fs, true)
	r := openSyncOn(t, fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rand.New(rand.NewPCG(1, 2))}))
	r.wantState(want)
}

// TestSideReadHandles: gets keep at most segmentReadersMax segments open,
// read the right values across evictions, and an unlinked segment's
// handle is closed with it (the active one is not unlinked).
func TestSideReadHandles(t *testing.T) {
	old := segmentFileBytesMax
	segmentFileBytesMax = 6000 // one value per segment
	t.Cleanup(func() { segmentFileBytesMax = old })
	mem := vfs.NewMem()
	s := openSyncOn(t, mem)
	n := segmentReadersMax + 10
	for i := range n {
		s.put(fmt.Sprintf("k%d", i), string(sideValue(i, 5000)))
	}
	s.sync()
	if got := len(segmentFiles(t, mem)); got != n {
		t.Fatalf("%d segments, want %d", got, n)
	}
	for round := range 2 {
		for i := range n {
			if res := s.ok(env.DiskOp{Kind: env.DiskGet, Key: []byte(fmt.Sprintf("k%d", i))}); !bytes.Equal(res.Value, sideValue(i, 5000)) {
				t.Fatalf("round %d: k%d read %d bytes, not its value", round, i, len(res.Value))
			}
		}
		if open := len(s.disk.side.readers.open); open == 0 || open > segmentReadersMax {
			t.Fatalf("round %d: %d segments open for reading, want 1..%d", round, open, segmentReadersMax)
		}
	}
	for i := range n {
		s.ok(env.DiskOp{Kind: env.DiskDelete, Key: []byte(fmt.Sprintf("k%d", i))})
	}
	s.sync()
	for id := range s.disk.side.readers.open {
		if !s.disk.side.isActive(id) { // the active segment stays
			t.Fatalf("segment %016x unlinked with its read handle open", id)
		}
	}
	checkSideInvariants(t, s.disk, mem, true)
}

// TestSideReadInto: a get with DiskOp.Into reads a segment value into
// that buffer when it fits (the Value shares its array) and into a fresh
// one when not; a value that fails its checksum is an error whatever the
// buffer held before, and no Value.
func TestSideReadInto(t *testing.T) {
	mem := vfs.NewMem()
	s, seg := openTwoValues(t, mem)
	buf := bytes.Repeat([]byte{0xee}, 8000)
	res := s.ok(env.DiskOp{Kind: env.DiskGet, Key: []byte("a"), Into: buf})
	if !bytes.Equal(res.Value, sideValue(1, 4000)) || &res.Value[0] != &buf[0] {
		t.Fatalf("read into a large enough buffer: equal %v, shares it %v", bytes.Equal(res.Value, sideValue(1, 4000)), &res.Value[0] == &buf[0])
	}
	small := make([]byte, 100)
	if res := s.ok(env.DiskOp{Kind: env.DiskGet, Key: []byte("b"), Into: small}); !bytes.Equal(res.Value, sideValue(2, 4000)) || &res.Value[0] == &small[0] {
		t.Fatalf("read with a small buffer: %d bytes", len(res.Value))
	}
	damageFirstValue(t, mem, seg)
	copy(buf, sideValue(1, 4000)) // the buffer holds a's good bytes
	if res := s.disk.Do(env.DiskOp{Kind: env.DiskGet, Key: []byte("a"), Into: buf}); !errors.Is(res.Err, env.ErrCorruption) || res.Value != nil {
		t.Fatalf("damaged value read into a buffer: %v, %d bytes", res.Err, len(res.Value))
	}
}

// openTwoValues opens a store on mem holding a (sideValue 1) and b
// (sideValue 2) of 4000 bytes each, synced, both in one segment, whose
// path it returns.
func openTwoValues(t *testing.T, mem vfs.FS) (*syncDisk, string) {
	t.Helper()
	s := openSyncOn(t, mem)
	s.put("a", string(sideValue(1, 4000)))
	s.put("b", string(sideValue(2, 4000)))
	s.sync()
	files := segmentFiles(t, mem)
	if len(files) != 1 {
		t.Fatalf("segments %v, want 1 (both values appended to it)", files)
	}
	return s, path.Join(testDir, SideDirName, "00000000", files[0])
}

// damageFirstValue overwrites two bytes inside the segment's first value
// (openTwoValues' a).
func damageFirstValue(t *testing.T, mem vfs.FS, seg string) {
	t.Helper()
	f, err := mem.OpenReadWrite(seg, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("XX"), 100); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
}

// TestSidePartRead: a part read of a segment value preads only the part
// and cannot check the whole value's CRC-32C, so damage outside the part
// is not met and the part is returned; damage inside it is returned to
// the op's Check, which fails it (storage's group check: a BLAKE3 CV),
// and the whole read still fails its CRC.
func TestSidePartRead(t *testing.T) {
	mem := vfs.NewMem()
	s, seg := openTwoValues(t, mem)
	damageFirstValue(t, mem, seg)
	want := sideValue(1, 4000)
	res := s.ok(env.DiskOp{Kind: env.DiskGet, Key: []byte("a"), Offset: 2000, Length: 100})
	if !bytes.Equal(res.Value, want[2000:2100]) {
		t.Fatalf("part away from the damage: %q", res.Value)
	}
	check := func(v []byte) error {
		if !bytes.Equal(v, want[:400]) {
			return errors.New("part differs")
		}
		return nil
	}
	res = s.disk.Do(env.DiskOp{Kind: env.DiskGet, Key: []byte("a"), Offset: 0, Length: 400, Check: check})
	if !errors.Is(res.Err, env.ErrCorruption) || res.Value != nil {
		t.Fatalf("part over the damage with a check: %v, %d bytes", res.Err, len(res.Value))
	}
	if res := s.disk.Do(env.DiskOp{Kind: env.DiskGet, Key: []byte("a")}); !errors.Is(res.Err, env.ErrCorruption) {
		t.Fatalf("whole read of the damaged value: %v", res.Err)
	}
}

// TestPartReadInMemory: the micronode's values in memory serve parts.
func TestPartReadInMemory(t *testing.T) {
	d, _ := openParallel(t, true)
	value := sideValue(3, 50<<10)
	if res := d.Do(env.DiskOp{Kind: env.DiskPut, Key: []byte("k"), Value: value}); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := d.Do(env.DiskOp{Kind: env.DiskGet, Key: []byte("k"), Offset: 16 << 10, Length: 20 << 10}); res.Err != nil || !bytes.Equal(res.Value, value[16<<10:36<<10]) {
		t.Fatalf("part of an in-memory value: %v, %d bytes", res.Err, len(res.Value))
	}
	if res := d.Do(env.DiskOp{Kind: env.DiskGet, Key: []byte("k"), Offset: 40 << 10, Length: 20 << 10}); !errors.Is(res.Err, env.ErrDiskInvalid) || !res.Found {
		t.Fatalf("part beyond an in-memory value: %v", res.Err)
	}
}

// TestInMemoryValuesFreedAtDelete: in memory (Options.ValuesInMemory, the
// micronode) a deleted side value's bytes go with the delete, without
// waiting for a sync: no crash can bring its pointer back. Before, they
// stayed (storage_segment_garbage_bytes) until the next sync, which on
// an idle micronode was seconds away, and an aborted upload's staged
// chunks held --memory-max that long. On a disk they still wait (for a
// sync, and the active segment for compaction).
func TestInMemoryValuesFreedAtDelete(t *testing.T) {
	for _, inMemory := range []bool{true, false} {
		t.Run(fmt.Sprintf("valuesInMemory=%v", inMemory), func(t *testing.T) {
			d, err := Open(Options{Dir: testDir, FS: vfs.NewMem(), SideValueBytesMin: testSideMin, ValuesInMemory: inMemory, BufferedSegments: true})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			value := bytes.Repeat([]byte("v"), 3*testSideMin)
			for _, op := range []env.DiskOp{{Kind: env.DiskPut, Key: []byte("k"), Value: value}, {Kind: env.DiskDelete, Key: []byte("k")}} {
				if res := d.Do(op); res.Err != nil {
					t.Fatal(res.Err)
				}
			}
			garbage := d.Stats().SegmentGarbageBytes
			if inMemory && garbage != 0 {
				t.Fatalf("in memory, after the delete: %d bytes of garbage held, want 0", garbage)
			}
			if !inMemory && garbage == 0 {
				t.Fatal("on a disk the deleted value's segment went before a sync")
			}
		})
	}
}
