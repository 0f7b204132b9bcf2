package pebbledisk

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/pingcap/failpoint"

	"github.com/ron-network/ron/core/env"
)

// syncDisk wraps a Disk for tests that run ops one at a time with Do.
type syncDisk struct {
	t    *testing.T
	disk *Disk
}

func openSync(t *testing.T, fs vfs.FS) *syncDisk {
	t.Helper()
	d, err := Open(Options{Dir: testDir, FS: fs, CacheBytes: 1 << 20, SideValueBytesMin: testSideMin})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return &syncDisk{t: t, disk: d}
}

func (s *syncDisk) ok(op env.DiskOp) env.DiskResult {
	s.t.Helper()
	res := s.disk.Do(op)
	if res.Err != nil {
		s.t.Fatalf("%s %q: %v", op.Kind, op.Key, res.Err)
	}
	return res
}

func (s *syncDisk) put(key, value string) {
	s.t.Helper()
	s.ok(env.DiskOp{Kind: env.DiskPut, Key: []byte(key), Value: []byte(value)})
}

func (s *syncDisk) sync() {
	s.t.Helper()
	s.ok(env.DiskOp{Kind: env.DiskSync})
}

// state reads every pair (the tests' stores fit one scan).
func (s *syncDisk) state() map[string]string {
	s.t.Helper()
	res := s.ok(env.DiskOp{Kind: env.DiskScan, Limit: env.DiskScanLimitMax})
	if res.More {
		s.t.Fatalf("store too large for one scan")
	}
	out := map[string]string{}
	for _, kv := range res.Pairs {
		out[string(kv.Key)] = string(kv.Value)
	}
	return out
}

func (s *syncDisk) wantState(want map[string]string) {
	s.t.Helper()
	got := s.state()
	if fmt.Sprint(got) != fmt.Sprint(want) { // fmt prints maps in key order
		s.t.Fatalf("store holds %v, want %v", got, want)
	}
}

func enableFailpoint(t *testing.T, name, terms string) {
	t.Helper()
	if err := failpoint.Enable(name, terms); err != nil {
		t.Fatalf("enable %s: %v", name, err)
	}
	t.Cleanup(func() { _ = failpoint.Disable(name) })
}

// TestFailpointErrorClasses: each failpoint fails exactly the ops it
// guards, with the error class its value names, and changes nothing.
func TestFailpointErrorClasses(t *testing.T) {
	ops := map[string]env.DiskOp{
		"put":    {Kind: env.DiskPut, Key: []byte("a"), Value: []byte("new")},
		"delete": {Kind: env.DiskDelete, Key: []byte("a")},
		"batch":  {Kind: env.DiskBatch, Batch: []env.DiskWrite{{Key: []byte("a"), Delete: true}, {Key: []byte("b"), Value: []byte("2")}}},
		"sync":   {Kind: env.DiskSync},
		"get":    {Kind: env.DiskGet, Key: []byte("a")},
		"scan":   {Kind: env.DiskScan, Limit: 10},
	}
	guards := map[string][]string{
		FailpointWrite: {"put", "delete", "batch"},
		FailpointSync:  {"sync"},
		FailpointRead:  {"get", "scan"},
	}
	classes := []struct {
		terms string
		want  error
	}{
		{"return(true)", env.ErrDiskIO},
		{`return("full")`, env.ErrDiskFull},
		{`return("corruption")`, env.ErrCorruption},
	}
	for _, name := range env.SortedKeys(guards) {
		for _, class := range classes {
			t.Run(strings.TrimPrefix(name, failpointPrefix)+"/"+class.terms, func(t *testing.T) {
				s := openSync(t, vfs.NewMem())
				s.put("a", "old")
				enableFailpoint(t, name, class.terms)
				full := false // a full disk refuses every write once one met it (full.go)
				for _, opName := range env.SortedKeys(ops) {
					res := s.disk.Do(ops[opName])
					write := opName != "get" && opName != "scan"
					guarded := strings.Contains(strings.Join(guards[name], ","), opName) || full && write
					full = full || write && errors.Is(res.Err, env.ErrDiskFull)
					switch {
					case guarded && !errors.Is(res.Err, class.want):
						t.Fatalf("%s under %s: err %v, want one wrapping %v", opName, class.terms, res.Err, class.want)
					case !guarded && res.Err != nil:
						t.Fatalf("%s is not guarded by %s but failed: %v", opName, name, res.Err)
					}
				}
				if err := failpoint.Disable(name); err != nil {
					t.Fatal(err)
				}
				waitFull(t, s.disk, false)
				if name == FailpointWrite { // no failed write left a trace
					s.wantState(map[string]string{"a": "old"})
				}
				s.put("c", "3") // the store works after the fault
				s.sync()
			})
		}
	}
}

// TestFailpointWriteKeepsStoreConsistent: I/O errors on a random subset of
// writes; the store then holds exactly the writes that succeeded, also
// after a crash that follows a sync. (A full disk refuses every write
// once one met it: TestFullDiskRefusesWritesKeepsReadsAndRecovers.)
func TestFailpointWriteKeepsStoreConsistent(t *testing.T) {
	mem := vfs.NewCrashableMem()
	s := openSync(t, mem)
	enableFailpoint(t, FailpointWrite, `50%return(true)`)
	want := map[string]string{}
	failures := 0
	for i := range 200 {
		key, value := fmt.Sprintf("k%02d", i%37), fmt.Sprintf("v%d", i)
		res := s.disk.Do(env.DiskOp{Kind: env.DiskPut, Key: []byte(key), Value: []byte(value)})
		switch {
		case res.Err == nil:
			want[key] = value
		case errors.Is(res.Err, env.ErrDiskIO):
			failures++
		default:
			t.Fatalf("put %d: unexpected error %v", i, res.Err)
		}
	}
	if failures == 0 || failures == 200 {
		t.Fatalf("50%% failpoint failed %d of 200 writes", failures)
	}
	s.wantState(want)
	s.sync()
	_ = s.disk.Close()
	s = openSync(t, mem.CrashClone(vfs.CrashCloneCfg{}))
	s.wantState(want)
}

// TestFailpointSleepOnlyDelays: a sleep term delays the op, which still
// succeeds.
func TestFailpointSleepOnlyDelays(t *testing.T) {
	s := openSync(t, vfs.NewMem())
	enableFailpoint(t, FailpointWrite, "sleep(1)")
	enableFailpoint(t, FailpointRead, "sleep(1)")
	s.put("a", "1")
	if res := s.ok(env.DiskOp{Kind: env.DiskGet, Key: []byte("a")}); string(res.Value) != "1" {
		t.Fatalf("get after delayed put = %q", res.Value)
	}
}

// toggleFS wraps fs with an errorfs injector that fails the file
// operations match selects while the returned toggle is on.
func toggleFS(fs vfs.FS, match func(errorfs.Op) bool) (vfs.FS, *errorfs.Toggle) {
	toggle := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if match(op) {
			return errorfs.ErrInjected
		}
		return nil
	})}
	return errorfs.Wrap(fs, toggle), toggle
}

// TestErrorFSReadError: a failing table read reaches the caller as
// env.ErrDiskIO with the cause; once the device recovers, reads work and
// nothing was lost.
func TestErrorFSReadError(t *testing.T) {
	mem := vfs.NewMem()
	want := map[string]string{}
	s := openSync(t, mem)
	for i := range 50 {
		key := fmt.Sprintf("k%02d", i)
		want[key] = strings.Repeat(key, 100)
		s.put(key, want[key])
	}
	s.sync()
	_ = s.disk.Close() // reopening flushes the WAL into a table
	fs, toggle := toggleFS(mem, func(op errorfs.Op) bool {
		return op.Kind.ReadOrWrite() == errorfs.OpIsRead && strings.HasSuffix(op.Path, ".sst")
	})
	s = openSync(t, fs)
	toggle.On()
	for _, op := range []env.DiskOp{
		{Kind: env.DiskGet, Key: []byte("k07")},
		{Kind: env.DiskScan, Prefix: []byte("k1"), Limit: 5},
	} {
		res := s.disk.Do(op)
		if !errors.Is(res.Err, env.ErrDiskIO) || !errors.Is(res.Err, errorfs.ErrInjected) {
			t.Fatalf("%s with failing table reads: err %v, want env.ErrDiskIO wrapping the injected error", op.Kind, res.Err)
		}
	}
	toggle.Off()
	s.wantState(want)
	s.put("after", "x")
	s.sync()
}

// TestErrorFSWALError: a failing WAL sync is fatal to pebble's commit
// pipeline. The op fails with env.ErrDiskIO, every later op fails the
// same way without touching pebble, and reopening the synced state after
// a crash recovers every synced write and a prefix of the rest.
func TestErrorFSWALError(t *testing.T) {
	mem := vfs.NewCrashableMem()
	fs, toggle := toggleFS(mem, func(op errorfs.Op) bool {
		return strings.HasSuffix(op.Path, ".log") && op.Kind.ReadOrWrite() == errorfs.OpIsWrite
	})
	s := openSync(t, fs)
	s.put("a", "1")
	s.sync()
	s.put("b", "2") // unsynced, may survive
	toggle.On()
	res := s.disk.Do(env.DiskOp{Kind: env.DiskSync})
	if !errors.Is(res.Err, env.ErrDiskIO) {
		t.Fatalf("sync with a failing WAL: err %v, want env.ErrDiskIO", res.Err)
	}
	// The device stays broken. A failed store must not call into pebble again:
	// the get below would otherwise be served from the memtable and succeed.
	if !s.disk.Stats().Failed {
		t.Fatalf("Stats.Failed not set after a fatal WAL error")
	}
	if res := s.disk.Do(env.DiskOp{Kind: env.DiskGet, Key: []byte("a")}); !errors.Is(res.Err, env.ErrDiskIO) {
		t.Fatalf("get on a failed store: err %v, want env.ErrDiskIO", res.Err)
	}
	if err := s.disk.Close(); err == nil {
		t.Fatalf("Close of a failed store returned nil")
	}
	s = openSync(t, mem.CrashClone(vfs.CrashCloneCfg{}))
	got := s.state()
	if got["a"] != "1" || len(got) > 2 || (len(got) == 2 && got["b"] != "2") {
		t.Fatalf("after a fatal WAL error and a crash the store holds %v, want a=1 and maybe b=2", got)
	}
	s.put("c", "3")
	s.sync()
}
