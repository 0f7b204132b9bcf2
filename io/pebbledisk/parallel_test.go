package pebbledisk

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/io/internal/streamtest"
)

// waitDeadline bounds every wait of these tests (they poll, never sleep
// then assert).
const waitDeadline = 30 * time.Second

func openParallel(t *testing.T, valuesInMemory bool) (*Disk, *recorder) {
	t.Helper()
	d, err := Open(Options{Dir: testDir, FS: vfs.NewMem(), SideValueBytesMin: testSideMin, ValuesInMemory: valuesInMemory})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	r := newRecorder()
	d.SetCompletion(r.complete)
	return d, r
}

// pollUntil polls cond until it holds, failing the test after waitDeadline.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", waitDeadline, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestGetsRunInParallel: ReadsParallelMax gets submitted in a row are
// running at once. Each get's check waits until all of them are in their
// checks, which only happens if they run in parallel; the test then
// fails at the deadline instead of hanging.
func TestGetsRunInParallel(t *testing.T) {
	for _, inMemory := range []bool{false, true} {
		t.Run(fmt.Sprintf("valuesInMemory=%v", inMemory), func(t *testing.T) {
			d, r := openParallel(t, inMemory)
			value := bytes.Repeat([]byte("v"), 3*testSideMin) // a side value
			if res := d.Do(env.DiskOp{Kind: env.DiskPut, Key: []byte("k"), Value: value}); res.Err != nil {
				t.Fatal(res.Err)
			}
			var inCheck atomic.Int32
			all := make(chan struct{})
			check := func(v []byte) error {
				if inCheck.Add(1) == ReadsParallelMax {
					close(all)
				}
				select {
				case <-all:
				case <-time.After(waitDeadline):
					return errors.New("the other gets never ran alongside this one")
				}
				if !bytes.Equal(v, value) {
					return errors.New("wrong value")
				}
				return nil
			}
			for i := range ReadsParallelMax {
				d.Submit(env.OpID(i+1), env.DiskOp{Kind: env.DiskGet, Key: []byte("k"), Tag: uint64(i), Check: check})
			}
			for i, done := range r.wait(ReadsParallelMax) {
				if done.ID != env.OpID(i+1) || done.Result.Err != nil || !done.Result.Checked {
					t.Fatalf("completion %d: id %d, err %v, checked=%v", i, done.ID, done.Result.Err, done.Result.Checked)
				}
			}
		})
	}
}

// TestWriteWaitsForEarlierGets: a get is held before it reads; a put of
// its key submitted after it must not run until the get has read (the get
// sees the old value), and a get after the put sees the new one.
func TestWriteWaitsForEarlierGets(t *testing.T) {
	d, r := openParallel(t, false)
	old, next := bytes.Repeat([]byte("o"), 3*testSideMin), bytes.Repeat([]byte("n"), 3*testSideMin)
	if res := d.Do(env.DiskOp{Kind: env.DiskPut, Key: []byte("k"), Value: old}); res.Err != nil {
		t.Fatal(res.Err)
	}
	gate := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(gate) }) }
	var held atomic.Bool
	readStartHook = func(op *env.DiskOp) {
		if op.Tag == 1 {
			held.Store(true)
			<-gate
		}
	}
	t.Cleanup(func() { release(); readStartHook = nil }) // before Close
	d.Submit(1, env.DiskOp{Kind: env.DiskGet, Key: []byte("k"), Tag: 1})
	d.Submit(2, env.DiskOp{Kind: env.DiskPut, Key: []byte("k"), Value: next, Tag: 2})
	d.Submit(3, env.DiskOp{Kind: env.DiskGet, Key: []byte("k"), Tag: 3})
	pollUntil(t, "the first get never started", held.Load)
	pollUntil(t, "the worker never took the put", func() bool { return len(d.queue) <= 1 })
	// Do runs exclusively: had the worker started the put, Do would run
	// after it and see the new value.
	if res := d.Do(env.DiskOp{Kind: env.DiskGet, Key: []byte("k")}); !bytes.Equal(res.Value, old) {
		t.Fatalf("the put ran while an earlier get had not read (Do saw %d bytes of %q)", len(res.Value), res.Value[:1])
	}
	release()
	done := r.wait(3)
	for i, want := range [][]byte{old, nil, next} {
		if done[i].ID != env.OpID(i+1) || done[i].Result.Err != nil {
			t.Fatalf("completion %d: id %d err %v", i, done[i].ID, done[i].Result.Err)
		}
		if want != nil && !bytes.Equal(done[i].Result.Value, want) {
			t.Fatalf("get %d saw %d bytes starting %q, want %q", i+1, len(done[i].Result.Value), done[i].Result.Value[:1], want[:1])
		}
	}
}

// TestParallelGetsOrderedRun: a long run of gets (checked, of small and
// side values) between puts, deletes and syncs, submitted without
// waiting: completions come in submission order and every get sees the
// latest write before it. Run it with -race.
func TestParallelGetsOrderedRun(t *testing.T) {
	for _, inMemory := range []bool{false, true} {
		t.Run(fmt.Sprintf("valuesInMemory=%v", inMemory), func(t *testing.T) {
			d, r := openParallel(t, inMemory)
			latest := map[string][]byte{}
			var ops []env.DiskOp
			var wants [][]byte
			for i := 0; i < 2000; i++ {
				key := fmt.Sprintf("k%d", i%7)
				var op env.DiskOp
				switch {
				case i%11 == 0:
					op = env.DiskOp{Kind: env.DiskDelete, Key: []byte(key)}
					delete(latest, key)
				case i%23 == 0:
					op = env.DiskOp{Kind: env.DiskSync}
				case i%5 == 0:
					v := bytes.Repeat(fmt.Appendf(nil, "%d,", i), 1+(i%3)*testSideMin/4)
					op = env.DiskOp{Kind: env.DiskPut, Key: []byte(key), Value: v}
					latest[key] = v
				default:
					op = env.DiskOp{Kind: env.DiskGet, Key: []byte(key)}
					if want, ok := latest[key]; ok {
						op.Check = func(got []byte) error {
							if !bytes.Equal(got, want) {
								return errors.New("not the latest write")
							}
							return nil
						}
					}
				}
				op.Tag = uint64(i)
				ops = append(ops, op)
				wants = append(wants, latest[key])
			}
			for i := range ops {
				d.Submit(env.OpID(i+1), ops[i])
			}
			done := r.wait(len(ops))
			for i, c := range done {
				if c.ID != env.OpID(i+1) || c.Op.Tag != uint64(i) {
					t.Fatalf("completion %d is id %d tag %d", i, c.ID, c.Op.Tag)
				}
				if c.Result.Err != nil {
					t.Fatalf("op %d (%s): %v", i, c.Op.Kind, c.Result.Err)
				}
				if c.Op.Kind == env.DiskGet && (c.Result.Found != (wants[i] != nil) || !bytes.Equal(c.Result.Value, wants[i]) || c.Result.Checked != (wants[i] != nil)) {
					t.Fatalf("get %d: found=%v checked=%v %d bytes, want %d bytes", i, c.Result.Found, c.Result.Checked, len(c.Result.Value), len(wants[i]))
				}
			}
		})
	}
}

// TestGetsReuseReaders: a long run of checked gets runs on at most
// ReadsParallelMax goroutines, not one new goroutine per get, every get
// still checked and in order (a failing check still fails its get), and
// Close ends those goroutines.
func TestGetsReuseReaders(t *testing.T) {
	for _, inMemory := range []bool{false, true} {
		t.Run(fmt.Sprintf("valuesInMemory=%v", inMemory), func(t *testing.T) {
			d, err := Open(Options{Dir: testDir, FS: vfs.NewMem(), SideValueBytesMin: testSideMin, ValuesInMemory: inMemory})
			if err != nil {
				t.Fatal(err)
			}
			r := newRecorder()
			d.SetCompletion(r.complete)
			value := bytes.Repeat([]byte("v"), 3*testSideMin) // a side value
			if res := d.Do(env.DiskOp{Kind: env.DiskPut, Key: []byte("k"), Value: value}); res.Err != nil {
				t.Fatal(res.Err)
			}
			var mu sync.Mutex
			ran := map[string]bool{}
			readStartHook = func(*env.DiskOp) {
				mu.Lock()
				ran[streamtest.GoroutineID()] = true
				mu.Unlock()
			}
			t.Cleanup(func() { readStartHook = nil })
			bad := errors.New("check refused")
			const gets = 200
			for i := range gets {
				check := func(v []byte) error {
					if !bytes.Equal(v, value) {
						return errors.New("wrong value")
					}
					return nil
				}
				if i%10 == 9 {
					check = func([]byte) error { return bad }
				}
				d.Submit(env.OpID(i+1), env.DiskOp{Kind: env.DiskGet, Key: []byte("k"), Check: check})
			}
			for i, done := range r.wait(gets) {
				refused := i%10 == 9
				switch {
				case done.ID != env.OpID(i+1):
					t.Fatalf("completion %d has id %d", i, done.ID)
				case refused && (!errors.Is(done.Result.Err, bad) || done.Result.Checked || done.Result.Value != nil):
					t.Fatalf("get %d: a failing check gave err %v, checked=%v", i+1, done.Result.Err, done.Result.Checked)
				case !refused && (done.Result.Err != nil || !done.Result.Checked):
					t.Fatalf("get %d: err %v, checked=%v", i+1, done.Result.Err, done.Result.Checked)
				}
			}
			mu.Lock()
			n := len(ran)
			mu.Unlock()
			if n > ReadsParallelMax {
				t.Fatalf("%d gets ran on %d goroutines, want at most %d", gets, n, ReadsParallelMax)
			}
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			// Goroutine numbers are never reused: the readers that ran
			// the gets must be gone (counting goroutines by function
			// would also count other tests' stores).
			pollUntil(t, "readers still running after Close", func() bool { return len(streamtest.Alive(ran)) == 0 })
		})
	}
}

// TestReadersCompleteGets: a get's completion is made by a reader
// goroutine (one that ran gets), not handed back to the worker first,
// which cost a wake-up of the worker per get; completions still come in
// submission order, one at a time, and interleaved puts still complete
// after the gets before them.
func TestReadersCompleteGets(t *testing.T) {
	d, err := Open(Options{Dir: testDir, FS: vfs.NewMem(), SideValueBytesMin: testSideMin})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	value := bytes.Repeat([]byte("v"), 3*testSideMin) // a side value
	if res := d.Do(env.DiskOp{Kind: env.DiskPut, Key: []byte("k"), Value: value}); res.Err != nil {
		t.Fatal(res.Err)
	}
	var mu sync.Mutex
	readers := map[string]bool{}
	readStartHook = func(*env.DiskOp) {
		mu.Lock()
		readers[streamtest.GoroutineID()] = true
		mu.Unlock()
	}
	t.Cleanup(func() { readStartHook = nil })
	var inside atomic.Int32
	var overlapped atomic.Bool
	completedBy := map[env.OpID]string{} // written one completion at a time
	r := newRecorder()
	d.SetCompletion(func(done env.DiskDone) {
		if inside.Add(1) != 1 {
			overlapped.Store(true)
		}
		completedBy[done.ID] = streamtest.GoroutineID()
		inside.Add(-1)
		r.complete(done)
	})
	const ops = 400
	for i := range ops {
		op := env.DiskOp{Kind: env.DiskGet, Key: []byte("k")}
		if i%50 == 49 {
			op = env.DiskOp{Kind: env.DiskPut, Key: []byte("other"), Value: []byte("x")}
		}
		d.Submit(env.OpID(i+1), op)
	}
	done := r.wait(ops)
	if overlapped.Load() {
		t.Fatal("two completions ran at once")
	}
	mu.Lock()
	defer mu.Unlock()
	for i, c := range done {
		if c.ID != env.OpID(i+1) || c.Result.Err != nil {
			t.Fatalf("completion %d: id %d, err %v", i, c.ID, c.Result.Err)
		}
		if c.Op.Kind == env.DiskGet && !readers[completedBy[c.ID]] {
			t.Fatalf("get %d was completed by goroutine %s, not by a reader %v", c.ID, completedBy[c.ID], readers)
		}
	}
}
