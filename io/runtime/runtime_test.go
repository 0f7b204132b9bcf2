package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	dto "github.com/prometheus/client_model/go"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/io/pebbledisk"
	"github.com/ron-network/ron/io/runtime"
)

// probe is a test service exercising every effect: it answers "echo:X"
// at once, "disk:K=V" after writing and reading back K, "after:D" after a
// timer of D, "cancel" after arming and cancelling a timer and then arming
// a short one, and panics on "boom".
type probe struct {
	env     env.Env
	starts  *atomic.Int32
	waiting map[uint64]env.RequestID
	tags    uint64
	fired   []uint64
}

func (p *probe) Name() string        { return "probe" }
func (p *probe) Protocols() []uint16 { return nil }
func (p *probe) Init(e env.Env)      { p.env = e; p.waiting = map[uint64]env.RequestID{} }

func (p *probe) Handle(in env.Input) {
	switch in := in.(type) {
	case env.Start:
		p.starts.Add(1)
	case env.Request:
		p.onRequest(in)
	case env.TimerFired:
		p.fired = append(p.fired, in.Tag)
		if id, ok := p.waiting[in.Tag]; ok {
			delete(p.waiting, in.Tag)
			p.env.Reply(id, fmt.Sprintf("fired %v", p.fired))
		}
	case env.DiskDone:
		id := p.waiting[in.Op.Tag]
		delete(p.waiting, in.Op.Tag)
		switch {
		case in.Result.Err != nil:
			p.env.Reply(id, in.Result.Err)
		case in.Op.Kind == env.DiskPut:
			p.tags++
			p.waiting[p.tags] = id
			p.env.Submit(env.DiskOp{Kind: env.DiskGet, Key: in.Op.Key, Tag: p.tags})
		default:
			p.env.Reply(id, string(in.Result.Value))
		}
	}
}

func (p *probe) onRequest(in env.Request) {
	cmd, arg, _ := strings.Cut(in.Body.(string), ":")
	p.tags++
	switch cmd {
	case "echo":
		p.env.Reply(in.ID, arg)
	case "disk":
		k, v, _ := strings.Cut(arg, "=")
		p.waiting[p.tags] = in.ID
		p.env.Submit(env.DiskOp{Kind: env.DiskPut, Key: []byte(k), Value: []byte(v), Tag: p.tags})
	case "after":
		d, _ := time.ParseDuration(arg)
		p.waiting[p.tags] = in.ID
		p.env.SetTimer(d, p.tags)
	case "cancel":
		id := p.env.SetTimer(time.Millisecond, 1000+p.tags)
		p.env.CancelTimer(id)
		p.tags++
		p.waiting[p.tags] = in.ID
		p.env.SetTimer(20*time.Millisecond, p.tags)
	case "boom":
		panic("probe: boom")
	default:
		p.env.Reply(in.ID, errors.New("probe: unknown command"))
	}
}

type fixture struct {
	rt     *runtime.Runtime
	disk   *pebbledisk.Disk
	starts *atomic.Int32
	builds *atomic.Int32
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	disk, err := pebbledisk.Open(pebbledisk.Options{Dir: "db", FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{disk: disk, starts: new(atomic.Int32), builds: new(atomic.Int32)}
	rt, err := runtime.New(runtime.Config{
		Self: proto.NodeID{1},
		NewNode: func(e env.Env) *node.Node {
			f.builds.Add(1)
			return node.New(e, node.Config{Invariants: true}, &probe{starts: f.starts})
		},
		Disk:              disk,
		RestartBackoffMin: time.Millisecond,
		RestartBackoffMax: 5 * time.Millisecond,
		Seed:              7,
		Logger:            slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.rt = rt
	rt.Start(nil)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = rt.Close(ctx)
		_ = disk.Close()
	})
	waitReady(t, rt)
	return f
}

func waitReady(t *testing.T, rt *runtime.Runtime) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // as every other wait: a loaded race run is slow to start
	for !rt.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("runtime never became ready")
		}
		time.Sleep(time.Millisecond)
	}
}

func call(t *testing.T, rt *runtime.Runtime, body string) (any, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return rt.Call(ctx, "probe", body)
}

func TestCallRoundTrips(t *testing.T) {
	f := newFixture(t)
	cases := []struct{ body, want string }{
		{"echo:hello", "hello"},
		{"disk:k1=v1", "v1"},
		{"after:5ms", "fired ["},
		{"cancel", "fired ["},
	}
	for _, c := range cases {
		got, err := call(t, f.rt, c.body)
		if err != nil {
			t.Fatalf("%s: %v", c.body, err)
		}
		if s, _ := got.(string); !strings.HasPrefix(s, c.want) {
			t.Fatalf("%s: got %v, want prefix %q", c.body, got, c.want)
		}
	}
	// The cancelled timer (tag >= 1000) must never have fired.
	got, _ := call(t, f.rt, "after:30ms")
	if strings.Contains(got.(string), "100") {
		t.Fatalf("a cancelled timer fired: %v", got)
	}
}

func TestUnknownServiceIsAnError(t *testing.T) {
	f := newFixture(t)
	_, err := f.rt.Call(context.Background(), "nope", "x")
	if err == nil || !strings.Contains(err.Error(), "no service") {
		t.Fatalf("got %v, want node's no-service error", err)
	}
}

func TestPanicRestartsNodeAndCounts(t *testing.T) {
	f := newFixture(t)
	if _, err := call(t, f.rt, "disk:durable=yes"); err != nil {
		t.Fatal(err)
	}
	_, err := call(t, f.rt, "boom")
	if !errors.Is(err, runtime.ErrRestarted) {
		t.Fatalf("panicking call: got %v, want ErrRestarted", err)
	}
	waitReady(t, f.rt)
	if got, err := call(t, f.rt, "echo:again"); err != nil || got != "again" {
		t.Fatalf("after restart: %v %v", got, err)
	}
	if f.builds.Load() != 2 || f.starts.Load() != 2 {
		t.Fatalf("builds %d starts %d, want 2 and 2", f.builds.Load(), f.starts.Load())
	}
	if n := counter(t, f.rt, env.MetricServiceRestarts); n != 1 {
		t.Fatalf("service_restarts_total = %v, want 1", n)
	}
	if g := counter(t, f.rt, env.MetricNodeReady); g != 1 {
		t.Fatalf("node_ready_state = %v, want 1", g)
	}
}

func TestCloseDrainsInflightCalls(t *testing.T) {
	f := newFixture(t)
	type answer struct {
		v   any
		err error
	}
	done := make(chan answer, 1)
	go func() {
		v, err := call(t, f.rt, "after:500ms")
		done <- answer{v, err}
	}()
	waitInFlight(t, f.rt)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.rt.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	a := <-done
	if a.err != nil || !strings.HasPrefix(a.v.(string), "fired") {
		t.Fatalf("in-flight call: %v %v, want its reply", a.v, a.err)
	}
	if _, err := call(t, f.rt, "echo:late"); !errors.Is(err, runtime.ErrClosed) {
		t.Fatalf("call after Close: %v, want ErrClosed", err)
	}
}

func TestCloseGivesUpAtDeadline(t *testing.T) {
	f := newFixture(t)
	go func() { _, _ = call(t, f.rt, "after:10s") }()
	waitInFlight(t, f.rt)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := f.rt.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close: %v, want a deadline error", err)
	}
}

// waitInFlight polls, with a deadline, until rt has a call in flight.
func waitInFlight(t *testing.T, rt *runtime.Runtime) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); rt.InFlight() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the call never became in flight")
		}
	}
}

func counter(t *testing.T, rt *runtime.Runtime, name string) float64 {
	t.Helper()
	families, err := rt.Prom().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		sum := 0.0
		for _, m := range f.GetMetric() {
			sum += value(m)
		}
		return sum
	}
	t.Fatalf("metric %s not exported", name)
	return 0
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

// TestPanickingBuildIsRetriedWithBackoff: NewNode itself panics twice (a
// machine failing to recover from a bad disk state, say); the runtime keeps
// retrying with backoff and becomes ready on the third build.
func TestPanickingBuildIsRetriedWithBackoff(t *testing.T) {
	disk, err := pebbledisk.Open(pebbledisk.Options{Dir: "db", FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	builds := new(atomic.Int32)
	rt, err := runtime.New(runtime.Config{
		Self: proto.NodeID{2},
		NewNode: func(e env.Env) *node.Node {
			if builds.Add(1) <= 2 {
				panic("cannot build")
			}
			return node.New(e, node.Config{}, &probe{starts: new(atomic.Int32)})
		},
		Disk: disk, RestartBackoffMin: time.Millisecond, RestartBackoffMax: 2 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler), Seed: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Call(context.Background(), "probe", "echo:x"); !errors.Is(err, runtime.ErrNotReady) {
		t.Fatalf("call before start: %v, want ErrNotReady", err)
	}
	rt.Start(nil)
	defer rt.Close(context.Background())
	waitReady(t, rt)
	if got, err := call(t, rt, "echo:up"); err != nil || got != "up" {
		t.Fatalf("after two failed builds: %v %v", got, err)
	}
	if builds.Load() != 3 || counter(t, rt, env.MetricServiceRestarts) != 2 {
		t.Fatalf("builds %d restarts %v, want 3 and 2", builds.Load(), counter(t, rt, env.MetricServiceRestarts))
	}
}
