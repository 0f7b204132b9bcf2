package node_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/envtest"
	"github.com/ron-network/ron/core/node"
)

// publishOn makes s publish events on topic when it handles a request.
func publishOn(topic string, events ...any) func(s *svc, in env.Input) {
	return func(s *svc, in env.Input) {
		if _, ok := in.(env.Request); ok {
			for _, ev := range events {
				s.e.Publish(topic, ev)
			}
		}
	}
}

func TestBusDeliversAfterTheInputToSubscribersOnly(t *testing.T) {
	f := newFixture()
	pub := f.svc("pub")
	pub.onHandle = publishOn("peers", 1, 2)
	x, y, other := f.svc("x"), f.svc("y"), f.svc("other")
	x.topics, y.topics, other.topics = []string{"peers"}, []string{"names", "peers"}, []string{"names"}
	n := node.New(f.base, node.Config{}, subSvc{x}, pub, subSvc{y}, subSvc{other})
	n.Step(env.Request{ID: 1, Service: "pub"})
	want := []string{"pub:request 1", "x:bus peers 1", "x:bus peers 2", "y:bus peers 1", "y:bus peers 2"}
	if !slices.Equal(f.log, want) {
		t.Fatalf("log %q, want %q", f.log, want)
	}
	if len(f.base.Events) != 0 {
		t.Fatalf("bus events leaked to the base env: %v", f.base.Events)
	}
}

func TestBusEventsPublishedDuringStartWaitForEveryStart(t *testing.T) {
	f := newFixture()
	a, b := f.svc("a"), f.svc("b")
	a.onHandle = func(s *svc, in env.Input) {
		if _, ok := in.(env.Start); ok {
			s.e.Publish("ready", "a")
		}
	}
	b.topics = []string{"ready"}
	n := node.New(f.base, node.Config{}, a, subSvc{b})
	n.Step(env.Start{})
	if want := []string{"a:start", "b:start", "b:bus ready a"}; !slices.Equal(f.log, want) {
		t.Fatalf("log %q, want %q", f.log, want)
	}
}

func TestBusEventInputReachesSubscribers(t *testing.T) {
	f := newFixture()
	a, b := f.svc("a"), f.svc("b")
	a.topics = []string{"t"}
	n := node.New(f.base, node.Config{}, subSvc{a}, b)
	n.Step(env.BusEvent{Topic: "t", Event: "x"})
	n.Step(env.BusEvent{Topic: "unsubscribed", Event: "y"})
	if want := []string{"a:bus t x"}; !slices.Equal(f.log, want) {
		t.Fatalf("log %q, want %q", f.log, want)
	}
}

func TestBusQueueBoundedPerSubscriber(t *testing.T) {
	f := newFixture()
	const extra = 5
	events := make([]any, node.BusQueueDepthMax+extra)
	for i := range events {
		events[i] = i
	}
	pub := f.svc("pub")
	pub.onHandle = publishOn("t", events...)
	slow, fast := f.svc("slow"), f.svc("fast")
	slow.topics, fast.topics = []string{"t"}, []string{"t"}
	n := node.New(f.base, node.Config{}, pub, subSvc{slow}, subSvc{fast})
	n.Step(env.Request{ID: 1, Service: "pub"})
	for _, s := range []*svc{slow, fast} {
		if len(s.inputs) != node.BusQueueDepthMax {
			t.Fatalf("%s got %d events, want %d", s.name, len(s.inputs), node.BusQueueDepthMax)
		}
		// The oldest events are kept; the overflow is what was shed.
		if last := s.inputs[len(s.inputs)-1].(env.BusEvent).Event; last != node.BusQueueDepthMax-1 {
			t.Fatalf("%s's last event is %v", s.name, last)
		}
		if got := f.base.Recorder.Values[envtest.Key(env.MetricBusDropped, s.name)]; got != extra {
			t.Fatalf("bus_dropped_total{%s} = %v, want %d", s.name, got, extra)
		}
	}
	// The queues drained: the next step delivers again.
	n.Step(env.Request{ID: 2, Service: "pub"})
	if len(slow.inputs) != 2*node.BusQueueDepthMax {
		t.Fatalf("after a second step slow has %d events", len(slow.inputs))
	}
}

// A service that answers every "ping" with another "ping" would loop
// forever; the node delivers BusRoundsMax rounds per step and keeps the
// rest for the next step.
func TestBusCascadesLimitedToBusRoundsMax(t *testing.T) {
	f := newFixture()
	echo, other := f.svc("echo"), f.svc("other")
	echo.topics = []string{"ping"}
	echo.onHandle = func(s *svc, in env.Input) {
		switch in := in.(type) {
		case env.Request:
			s.e.Publish("ping", 0)
		case env.BusEvent:
			s.e.Publish("ping", in.Event.(int)+1)
		}
	}
	n := node.New(f.base, node.Config{}, subSvc{echo}, other)
	n.Step(env.Request{ID: 1, Service: "echo"})
	pings := func() []int {
		var out []int
		for _, in := range echo.inputs {
			if ev, ok := in.(env.BusEvent); ok {
				out = append(out, ev.Event.(int))
			}
		}
		return out
	}
	if got := pings(); len(got) != node.BusRoundsMax || got[len(got)-1] != node.BusRoundsMax-1 {
		t.Fatalf("first step delivered pings %v, want 0..%d", got, node.BusRoundsMax-1)
	}
	// The event published in the last round waits; an unrelated input
	// lets it (and its next BusRoundsMax-1 successors) through.
	n.Step(env.Request{ID: 2, Service: "other"})
	got := pings()
	if len(got) != 2*node.BusRoundsMax {
		t.Fatalf("after two steps %d pings, want %d", len(got), 2*node.BusRoundsMax)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("pings %v out of order", got)
		}
	}
	if !strings.HasPrefix(f.log[len(f.log)-node.BusRoundsMax-1], "other:request 2") {
		t.Fatalf("the leftover event ran before the input: %q", f.log)
	}
}

func TestReentrantStepPanics(t *testing.T) {
	f := newFixture()
	a := f.svc("a")
	var n *node.Node
	reenter := true
	a.onHandle = func(s *svc, in env.Input) {
		if reenter {
			n.Step(env.Start{})
		}
	}
	n = node.New(f.base, node.Config{}, a)
	func() {
		defer func() {
			r := recover()
			if r == nil || !strings.Contains(r.(string), "re-entered") {
				t.Fatalf("re-entrant Step: recovered %v", r)
			}
		}()
		n.Step(env.Request{ID: 1, Service: "a"})
	}()
	// The panic unwound the outer Step: the node accepts the next input.
	reenter = false
	n.Step(env.Request{ID: 2, Service: "a"})
	if len(a.inputs) != 2 {
		t.Fatalf("a got %d inputs", len(a.inputs))
	}
}

func TestInvariantsCheckedAfterEveryStepWhenConfigured(t *testing.T) {
	for _, on := range []bool{true, false} {
		f := newFixture()
		a, b, plain := f.svc("a"), f.svc("b"), f.svc("plain")
		a.onHandle = publishOn("t", "e")
		b.topics = []string{"t"}
		n := node.New(f.base, node.Config{Invariants: on}, checkedSvc{a}, subSvc{b}, plain)
		n.Step(env.Start{})
		n.Step(env.Request{ID: 1, Service: "a"})
		if on {
			// After the input and after the bus drained.
			want := []string{"a:request 1", "b:bus t e", "a:invariants"}
			if tail := f.log[len(f.log)-3:]; !slices.Equal(tail, want) {
				t.Fatalf("log %q: invariants did not run last", f.log)
			}
		}
		n.Step(env.Message{Frame: nil})
		want := 0
		if on {
			want = 3
		}
		if a.checks != want {
			t.Fatalf("Invariants %v: CheckInvariants ran %d times over 3 steps, want %d", on, a.checks, want)
		}
	}
}

func TestNewRejectsDuplicates(t *testing.T) {
	f := newFixture()
	mustPanic(t, "two services named a", func() { node.New(f.base, node.Config{}, f.svc("a"), f.svc("a")) })
	mustPanic(t, "one protocol twice", func() { node.New(f.base, node.Config{}, f.svc("a", 1), f.svc("b", 2, 1)) })
}

// tickingEnv is a base env whose clock moves by tick at every reading, as
// a production clock does between two readings.
type tickingEnv struct {
	*envtest.Env
	tick time.Duration
}

func (e *tickingEnv) Now() env.Time {
	e.Clock += env.Time(e.tick)
	return e.Clock
}

// Every publish observes bus_publish_latency_seconds from the env's clock,
// once, whatever the number of subscribers; every subscriber's drop series
// exists at zero from the start (an alert on increase() sees the first
// drop), and only subscribers get one.
func TestBusPublishLatencyObservedAndDropSeriesAtZero(t *testing.T) {
	f := newFixture()
	base := &tickingEnv{Env: f.base, tick: 3 * time.Microsecond}
	pub := f.svc("pub")
	pub.onHandle = publishOn("t", 1, 2, 3)
	x, y := f.svc("x"), f.svc("y")
	x.topics, y.topics = []string{"t"}, []string{"t"}
	n := node.New(base, node.Config{}, pub, subSvc{x}, subSvc{y})
	for _, name := range []string{"x", "y"} {
		if v, ok := f.base.Recorder.Values[envtest.Key(env.MetricBusDropped, name)]; !ok || v != 0 {
			t.Fatalf("bus_dropped_total{%s} before any drop: %v (present %v), want 0", name, v, ok)
		}
	}
	if _, ok := f.base.Recorder.Values[envtest.Key(env.MetricBusDropped, "pub")]; ok {
		t.Fatal("a service that subscribes to nothing has a drop series")
	}
	n.Step(env.Request{ID: 1, Service: "pub"})
	got := f.base.Recorder.Observations[env.MetricBusPublish]
	if len(got) != 3 {
		t.Fatalf("%d bus_publish_latency_seconds observations for 3 publishes, want 3", len(got))
	}
	for _, v := range got {
		if v != (3 * time.Microsecond).Seconds() {
			t.Fatalf("publish latency %v, want one clock tick (3µs)", got)
		}
	}
}
