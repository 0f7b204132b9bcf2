package pebbledisk

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ron-network/ron/core/env"
)

// recorder collects completions; it never blocks the worker unless gated.
type recorder struct {
	mu   sync.Mutex
	cond *sync.Cond
	done []env.DiskDone
	gate chan struct{} // when set, the first completion waits for it to close
}

func newRecorder() *recorder {
	r := &recorder{}
	r.cond = sync.NewCond(&r.mu)
	return r
}

func (r *recorder) complete(done env.DiskDone) {
	if r.gate != nil {
		<-r.gate
	}
	r.mu.Lock()
	r.done = append(r.done, done)
	r.mu.Unlock()
	r.cond.Broadcast()
}

func (r *recorder) wait(n int) []env.DiskDone {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.done) < n {
		r.cond.Wait()
	}
	return r.done
}

// asyncOp is op number i of a run that interleaves puts and gets of the
// same keys, so each get's expected answer follows from the order.
func asyncOp(i int) env.DiskOp {
	key := fmt.Appendf(nil, "k%03d", i%97)
	if i%2 == 0 {
		return env.DiskOp{Kind: env.DiskPut, Tag: uint64(i), Key: key, Value: fmt.Appendf(nil, "v%d", i)}
	}
	return env.DiskOp{Kind: env.DiskGet, Tag: uint64(i), Key: key}
}

// checkAsyncRun checks that done holds the n ops of asyncOp in order, with
// ids 1..n, and that every get saw the latest put before it.
func checkAsyncRun(t *testing.T, done []env.DiskDone, n int) {
	t.Helper()
	if len(done) != n {
		t.Fatalf("%d completions for %d ops", len(done), n)
	}
	latest := map[string]string{}
	for i, d := range done {
		want := asyncOp(i)
		if d.ID != env.OpID(i+1) || d.Op.Tag != want.Tag || d.Op.Kind != want.Kind {
			t.Fatalf("completion %d is id %d tag %d %s, want id %d tag %d %s", i, d.ID, d.Op.Tag, d.Op.Kind, i+1, want.Tag, want.Kind)
		}
		if d.Result.Err != nil {
			t.Fatalf("op %d: %v", i, d.Result.Err)
		}
		value, present := latest[string(want.Key)]
		if want.Kind == env.DiskGet && (d.Result.Found != present || string(d.Result.Value) != value) {
			t.Fatalf("get %d of %s: found=%v %q, want found=%v %q", i, want.Key, d.Result.Found, d.Result.Value, present, value)
		}
		if want.Kind == env.DiskPut {
			latest[string(want.Key)] = string(want.Value)
		}
	}
}

// TestAsyncCompletionsInOrder submits more ops than the queue holds while
// the worker is held up in the first completion: Submit must block (not
// drop), and once the worker runs every op completes in order.
func TestAsyncCompletionsInOrder(t *testing.T) {
	d, err := Open(Options{Dir: testDir, FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r := newRecorder()
	r.gate = make(chan struct{})
	d.SetCompletion(r.complete)
	const n = 3 * QueueDepthMax
	submitted := make(chan struct{})
	go func() {
		defer close(submitted)
		for i := range n {
			d.Submit(env.OpID(i+1), asyncOp(i))
		}
	}()
	for d.Stats().QueueFullWaits == 0 { // the submitter reaches a full queue
		runtime.Gosched()
	}
	close(r.gate)
	<-submitted
	checkAsyncRun(t, r.wait(n), n)
}

// TestCloseCompletesQueuedOps: Close returns after every queued op has
// completed; afterwards Do fails with ErrClosed and Submit panics.
func TestCloseCompletesQueuedOps(t *testing.T) {
	d, err := Open(Options{Dir: testDir, FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	r := newRecorder()
	d.SetCompletion(r.complete)
	const n = 500
	for i := range n {
		d.Submit(env.OpID(i+1), asyncOp(i))
	}
	if err := d.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	checkAsyncRun(t, done, n)
	res := d.Do(env.DiskOp{Kind: env.DiskGet, Key: []byte("k")})
	if !errors.Is(res.Err, ErrClosed) || !errors.Is(res.Err, env.ErrDiskIO) {
		t.Fatalf("Do after Close: err %v, want ErrClosed and env.ErrDiskIO", res.Err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatalf("Submit after Close did not panic")
		}
	}()
	d.Submit(n+1, env.DiskOp{Kind: env.DiskSync})
}

// TestReopenKeepsState: a clean Close and Open keep every write,
// synced or not (Close does not lose what pebble has logged).
func TestReopenKeepsState(t *testing.T) {
	fs := vfs.NewMem()
	s := openSync(t, fs)
	s.put("a", "1")
	s.sync()
	s.put("b", "2")
	if err := s.disk.Close(); err != nil {
		t.Fatal(err)
	}
	s = openSync(t, fs)
	s.wantState(map[string]string{"a": "1", "b": "2"})
}

// TestQueuedSyncsShareOne: writes and syncs queued behind a held worker
// run as one group. Every completion still arrives in submission order,
// every write a sync followed is durable across a crash, and the group's
// syncs are one WAL sync: a single injected sync failure fails both.
func TestQueuedSyncsShareOne(t *testing.T) {
	fs := vfs.NewCrashableMem()
	d, err := Open(Options{Dir: testDir, FS: fs, CacheBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r := newRecorder()
	r.gate = make(chan struct{})
	d.SetCompletion(r.complete)
	ops := []env.DiskOp{
		{Kind: env.DiskGet, Key: []byte("a")}, // its completion holds the worker
		{Kind: env.DiskPut, Key: []byte("a"), Value: []byte("1")},
		{Kind: env.DiskSync},
		{Kind: env.DiskBatch, Batch: []env.DiskWrite{{Key: []byte("b"), Value: []byte("2")}, {Key: []byte("c"), Value: []byte("3")}}},
		{Kind: env.DiskSync},
		{Kind: env.DiskGet, Key: []byte("c")},
	}
	for i, op := range ops {
		op.Tag = uint64(i)
		d.Submit(env.OpID(i+1), op)
	}
	close(r.gate)
	done := r.wait(len(ops))
	for i, c := range done {
		if c.ID != env.OpID(i+1) || c.Result.Err != nil {
			t.Fatalf("completion %d: id %d, err %v", i, c.ID, c.Result.Err)
		}
	}
	if got := done[5].Result; !got.Found || string(got.Value) != "3" {
		t.Fatalf("get after the group: found=%v %q, want 3", got.Found, got.Value)
	}
	clone := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	c, err := Open(Options{Dir: testDir, FS: clone, CacheBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"a": "1", "b": "2", "c": "3"} {
		if got := c.Do(env.DiskOp{Kind: env.DiskGet, Key: []byte(key)}); !got.Found || string(got.Value) != want {
			t.Fatalf("after the crash %s: found=%v %q, want %s", key, got.Found, got.Value, want)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	// One injected failure, two syncs in the group: both fail.
	enableFailpoint(t, FailpointSync, "1*return(true)")
	r2 := newRecorder()
	r2.gate = make(chan struct{})
	d.SetCompletion(r2.complete)
	base := env.OpID(len(ops))
	group := []env.DiskOp{
		{Kind: env.DiskGet, Key: []byte("a")},
		{Kind: env.DiskPut, Key: []byte("d"), Value: []byte("4")},
		{Kind: env.DiskSync},
		{Kind: env.DiskPut, Key: []byte("e"), Value: []byte("5")},
		{Kind: env.DiskSync},
	}
	for i, op := range group {
		d.Submit(base+env.OpID(i+1), op)
	}
	close(r2.gate)
	done = r2.wait(len(group))
	if done[2].Result.Err == nil || done[4].Result.Err == nil {
		t.Fatalf("sync results %v and %v: want the one injected failure in both", done[2].Result.Err, done[4].Result.Err)
	}
}
