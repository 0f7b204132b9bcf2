package runtime_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/io/runtime"
)

// bubbleDisk completes every op after latency on its own goroutine, so a
// synctest bubble interleaves disk completions with timers and calls on
// its fake clock. Values are kept in memory.
type bubbleDisk struct {
	latency time.Duration
	mu      sync.Mutex
	done    func(env.DiskDone)
	values  map[string][]byte
}

func (d *bubbleDisk) SetCompletion(f func(env.DiskDone)) { d.done = f }

func (d *bubbleDisk) Submit(id env.OpID, op env.DiskOp) {
	go func() {
		time.Sleep(d.latency)
		d.mu.Lock()
		var res env.DiskResult
		switch op.Kind {
		case env.DiskPut:
			d.values[string(op.Key)] = append([]byte(nil), op.Value...)
		case env.DiskGet:
			res.Value = d.values[string(op.Key)]
		}
		d.mu.Unlock()
		d.done(env.DiskDone{ID: id, Op: op, Result: res})
	}()
}

// newBubbleRuntime starts a runtime running the probe service on a
// bubbleDisk; it must be called inside synctest.Test.
func newBubbleRuntime(t *testing.T, inboxDepth int, start bool) *runtime.Runtime {
	t.Helper()
	rt, err := runtime.New(runtime.Config{
		Self: proto.NodeID{1},
		NewNode: func(e env.Env) *node.Node {
			return node.New(e, node.Config{Invariants: true}, &probe{starts: new(atomic.Int32)})
		},
		Disk:       &bubbleDisk{latency: 3 * time.Millisecond, values: map[string][]byte{}},
		InboxDepth: inboxDepth,
		Seed:       7,
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	if start {
		rt.Start(nil)
		synctest.Wait()
		if !rt.Ready() {
			t.Fatal("runtime not ready once every goroutine is idle")
		}
	}
	return rt
}

func closeBubbleRuntime(t *testing.T, rt *runtime.Runtime) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := rt.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// TestSynctestTimersDiskAndCallsInterleave: concurrent calls waiting on
// timers and on disk ops complete at exactly their fake-clock deadlines,
// whatever order the goroutines run in; after Close no goroutine of the
// runtime is left (synctest.Test fails on a leak or a deadlock).
func TestSynctestTimersDiskAndCallsInterleave(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newBubbleRuntime(t, 0, true)
		start := time.Now()
		bodies := []string{"after:30ms", "after:10ms", "disk:k=v", "after:20ms", "echo:x"}
		want := []time.Duration{30 * time.Millisecond, 10 * time.Millisecond, 6 * time.Millisecond, 20 * time.Millisecond, 0}
		took := make([]time.Duration, len(bodies))
		replies := make([]any, len(bodies))
		var wg sync.WaitGroup
		for i, body := range bodies {
			wg.Go(func() {
				res, err := rt.Call(context.Background(), "probe", body)
				if err != nil {
					t.Errorf("%s: %v", body, err)
				}
				took[i], replies[i] = time.Since(start), res
			})
		}
		wg.Wait()
		for i := range bodies {
			if took[i] != want[i] {
				t.Errorf("%s answered after %v, want %v (reply %v)", bodies[i], took[i], want[i], replies[i])
			}
		}
		if replies[2] != "v" || replies[4] != "x" {
			t.Errorf("replies %v", replies)
		}
		closeBubbleRuntime(t, rt)
	})
}

// TestSynctestDeliverNeverBlocks: with the loop not yet draining, Deliver
// fills the bounded inbox and then drops (and counts) instead of blocking
// the caller (quicnet's receive goroutine); once started the loop drains
// the inbox, and Close leaves no goroutine behind.
func TestSynctestDeliverNeverBlocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const depth = 8
		rt := newBubbleRuntime(t, depth, false)
		for i := range 3 * depth {
			rt.Deliver(proto.NodeID{2}, []byte(fmt.Sprint(i))) // returns at once: the test goroutine is the only one
		}
		// One peer holds at most its share of the inbox; the rest is dropped.
		if got, want := counter(t, rt, runtime.MetricInboxDropped), 3*depth-depth/sharePeersMin; got != float64(want) {
			t.Fatalf("dropped %v messages, want %d", got, want)
		}
		rt.Start(nil)
		synctest.Wait()
		if !rt.Ready() {
			t.Fatal("runtime not ready after draining its inbox")
		}
		closeBubbleRuntime(t, rt)
	})
}

// TestSynctestCloseAnswersWaitingCalls: a call parked on a far timer is
// answered with ErrClosed by Close (no caller is left hanging), the
// timers are stopped, and no goroutine leaks.
func TestSynctestCloseAnswersWaitingCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newBubbleRuntime(t, 0, true)
		errs := make(chan error, 1)
		go func() {
			_, err := rt.Call(context.Background(), "probe", "after:1h")
			errs <- err
		}()
		synctest.Wait() // the call is parked on its timer
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = rt.Close(ctx) // the drain gives up after a second of fake time
		if err := <-errs; err == nil {
			t.Fatal("a call parked across Close returned no error")
		}
	})
}
