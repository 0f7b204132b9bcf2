package node_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/envtest"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// svc is a scripted service: it appends what it sees to a log shared by
// every service of the node, so tests can assert on delivery order.
type svc struct {
	name     string
	protos   []uint16
	topics   []string
	e        env.Env
	log      *[]string
	inputs   []env.Input
	onHandle func(s *svc, in env.Input)
	checks   int
}

func (s *svc) Name() string        { return s.name }
func (s *svc) Protocols() []uint16 { return s.protos }
func (s *svc) Init(e env.Env)      { s.e = e }
func (s *svc) Handle(in env.Input) {
	s.inputs = append(s.inputs, in)
	*s.log = append(*s.log, s.name+":"+describe(in))
	if s.onHandle != nil {
		s.onHandle(s, in)
	}
}

// subSvc is a svc that subscribes to bus topics.
type subSvc struct{ *svc }

func (s subSvc) Topics() []string { return s.topics }

// checkedSvc is a svc with a CheckInvariants hook.
type checkedSvc struct{ *svc }

func (s checkedSvc) CheckInvariants() {
	s.checks++
	*s.log = append(*s.log, s.name+":invariants")
}

func describe(in env.Input) string {
	switch in := in.(type) {
	case env.Start:
		return "start"
	case env.Message:
		return "message"
	case env.TimerFired:
		return fmt.Sprintf("timer %d", in.Tag)
	case env.DiskDone:
		return fmt.Sprintf("disk %d", in.Op.Tag)
	case env.Request:
		return fmt.Sprintf("request %d", in.ID)
	case env.BusEvent:
		return fmt.Sprintf("bus %s %v", in.Topic, in.Event)
	}
	return fmt.Sprintf("%T", in)
}

type fixture struct {
	base *envtest.Env
	log  []string
}

func newFixture() *fixture {
	return &fixture{base: envtest.New(proto.NodeID{1}, 1)}
}

func (f *fixture) svc(name string, protos ...uint16) *svc {
	return &svc{name: name, protos: protos, log: &f.log}
}

func frame(app uint16) []byte {
	return oap.MustEncode(&oap.Frame{Header: oap.Header{AppProto: app, CorrID: 9}, Payload: []byte("payload")})
}

func TestStartReachesEveryServiceInOrder(t *testing.T) {
	f := newFixture()
	a, b, c := f.svc("a"), f.svc("b"), f.svc("c")
	n := node.New(f.base, node.Config{}, b, a, c)
	n.Step(env.Start{})
	if want := []string{"b:start", "a:start", "c:start"}; !slices.Equal(f.log, want) {
		t.Fatalf("log %q, want %q", f.log, want)
	}
	if n.Service("a") != node.Service(a) || n.Service("nope") != nil {
		t.Fatal("Service lookup")
	}
}

func TestMessageRoutedByAppProto(t *testing.T) {
	f := newFixture()
	ov, dht := f.svc("overlay", oap.ProtoOverlay), f.svc("dht", oap.ProtoDHT, oap.ProtoStorage)
	n := node.New(f.base, node.Config{}, ov, dht)
	for _, c := range []struct {
		app  uint16
		want *svc
	}{{oap.ProtoDHT, dht}, {oap.ProtoOverlay, ov}, {oap.ProtoStorage, dht}} {
		before := len(c.want.inputs)
		fr := frame(c.app)
		n.Step(env.Message{From: proto.NodeID{2}, Frame: fr})
		if len(c.want.inputs) != before+1 {
			t.Fatalf("app %d: %s did not get the frame (log %q)", c.app, c.want.name, f.log)
		}
		got := c.want.inputs[before].(env.Message)
		if got.From != (proto.NodeID{2}) || &got.Frame[0] != &fr[0] {
			t.Fatalf("app %d: message changed on the way", c.app)
		}
	}
	if len(f.log) != 3 {
		t.Fatalf("log %q: a frame reached two services", f.log)
	}
}

func TestRejectedFramesAreCountedByReason(t *testing.T) {
	f := newFixture()
	ov := f.svc("overlay", oap.ProtoOverlay)
	n := node.New(f.base, node.Config{}, ov)
	full := frame(oap.ProtoOverlay)
	for _, fr := range [][]byte{nil, {0}, full[:oap.HeaderBytes-1]} {
		n.Step(env.Message{Frame: fr})
	}
	for _, app := range []uint16{oap.ProtoRegistry, oap.ProtoDHT, 0xffff} {
		n.Step(env.Message{Frame: frame(app)})
	}
	// Exactly a header and nothing more is long enough to route.
	n.Step(env.Message{Frame: full[:oap.HeaderBytes]})
	if len(ov.inputs) != 1 {
		t.Fatalf("overlay got %d inputs, want only the header-sized frame", len(ov.inputs))
	}
	vals := f.base.Recorder.Values
	if got := vals[envtest.Key(node.MetricOAPRejects, "truncated")]; got != 3 {
		t.Fatalf("truncated rejects %v, want 3", got)
	}
	if got := vals[envtest.Key(node.MetricOAPRejects, "unknown_app")]; got != 3 {
		t.Fatalf("unknown_app rejects %v, want 3", got)
	}
	if def, ok := env.LookupMetric(node.MetricOAPRejects); !ok || def.Kind != env.Counter || def.Label != "reason" {
		t.Fatalf("%s declared as %+v", node.MetricOAPRejects, def)
	}
}

// Each service arms timers with its own tags (including 0 and TagMax); the
// node stamps them on the way out and strips them on the way back, so
// every service gets back exactly the tags it armed.
func TestTimerTagsStampedAndStripped(t *testing.T) {
	f := newFixture()
	services := []*svc{f.svc("a"), f.svc("b"), f.svc("c")}
	tags := []uint64{0, 7, node.TagMax}
	for _, s := range services {
		s.onHandle = func(s *svc, in env.Input) {
			if _, ok := in.(env.Start); ok {
				for _, tag := range tags {
					s.e.SetTimer(time.Second, tag)
				}
			}
		}
	}
	n := node.New(f.base, node.Config{}, services[0], services[1], services[2])
	n.Step(env.Start{})
	fired := f.base.Advance(time.Second)
	if len(fired) != 9 {
		t.Fatalf("%d timers fired, want 9", len(fired))
	}
	stamped := map[uint64]bool{}
	for _, in := range fired {
		stamped[in.(env.TimerFired).Tag] = true
		n.Step(in)
	}
	if len(stamped) != 9 {
		t.Fatalf("stamped tags collide: %d distinct of 9", len(stamped))
	}
	for _, s := range services {
		var got []uint64
		for _, in := range s.inputs[1:] {
			got = append(got, in.(env.TimerFired).Tag)
		}
		if !slices.Equal(got, tags) {
			t.Fatalf("%s got timer tags %v, want %v", s.name, got, tags)
		}
	}
}

func TestDiskTagsStampedAndStripped(t *testing.T) {
	f := newFixture()
	a, b := f.svc("a"), f.svc("b")
	for _, s := range []*svc{a, b} {
		s.onHandle = func(s *svc, in env.Input) {
			if _, ok := in.(env.Start); ok {
				s.e.Submit(env.DiskOp{Kind: env.DiskPut, Tag: 5, Key: []byte(s.name), Value: []byte("v")})
				s.e.Submit(env.DiskOp{Kind: env.DiskGet, Tag: node.TagMax, Key: []byte(s.name)})
			}
		}
	}
	n := node.New(f.base, node.Config{}, a, b)
	n.Step(env.Start{})
	done := f.base.CompleteDisk()
	if len(done) != 4 {
		t.Fatalf("%d completions", len(done))
	}
	if done[0].(env.DiskDone).Op.Tag == done[2].(env.DiskDone).Op.Tag {
		t.Fatal("two services' tag 5 reached the disk unstamped")
	}
	for _, in := range done {
		n.Step(in)
	}
	for _, s := range []*svc{a, b} {
		if len(s.inputs) != 3 {
			t.Fatalf("%s got %d inputs", s.name, len(s.inputs))
		}
		put, get := s.inputs[1].(env.DiskDone), s.inputs[2].(env.DiskDone)
		if put.Op.Tag != 5 || get.Op.Tag != node.TagMax || string(put.Op.Key) != s.name {
			t.Fatalf("%s got tags %d, %d and key %q", s.name, put.Op.Tag, get.Op.Tag, put.Op.Key)
		}
		if !get.Result.Found || string(get.Result.Value) != "v" {
			t.Fatalf("%s read back %+v", s.name, get.Result)
		}
	}
}

func TestTagBeyondTagMaxPanics(t *testing.T) {
	f := newFixture()
	a := f.svc("a")
	node.New(f.base, node.Config{}, a)
	mustPanic(t, "SetTimer with TagMax+1", func() { a.e.SetTimer(time.Second, node.TagMax+1) })
	mustPanic(t, "Submit with TagMax+1", func() { a.e.Submit(env.DiskOp{Kind: env.DiskSync, Tag: node.TagMax + 1}) })
	if f.base.Armed() != 0 || f.base.PendingDisk() != 0 {
		t.Fatal("a refused tag still reached the env")
	}
}

// Property: whatever timers and disk ops services issue, each completion
// returns to the service that issued it with the tag it used.
func TestTagRoutingProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		f := newFixture()
		count := rapid.IntRange(1, 6).Draw(t, "services")
		services := make([]node.Service, count)
		issued := make([][]uint64, count)
		for i := range services {
			services[i] = f.svc(fmt.Sprintf("s%d", i))
		}
		n := node.New(f.base, node.Config{}, services...)
		ops := rapid.SliceOfN(rapid.Uint64Range(0, node.TagMax), 1, 30).Draw(t, "tags")
		for k, tag := range ops {
			i := rapid.IntRange(0, count-1).Draw(t, fmt.Sprintf("owner%d", k))
			s := services[i].(*svc)
			if rapid.Bool().Draw(t, fmt.Sprintf("timer%d", k)) {
				s.e.SetTimer(time.Duration(k)*time.Millisecond, tag)
			} else {
				s.e.Submit(env.DiskOp{Kind: env.DiskSync, Tag: tag})
			}
			issued[i] = append(issued[i], tag)
		}
		for _, in := range append(f.base.Advance(time.Minute), f.base.CompleteDisk()...) {
			n.Step(in)
		}
		for i, s := range services {
			var got []uint64
			for _, in := range s.(*svc).inputs {
				switch in := in.(type) {
				case env.TimerFired:
					got = append(got, in.Tag)
				case env.DiskDone:
					got = append(got, in.Op.Tag)
				}
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(issued[i]))
			if !slices.Equal(got, want) {
				t.Fatalf("service %d got tags %v, issued %v", i, got, want)
			}
		}
	})
}

func TestRequestRoutedByServiceName(t *testing.T) {
	f := newFixture()
	a, b := f.svc("a"), f.svc("b")
	n := node.New(f.base, node.Config{}, a, b)
	n.Step(env.Request{ID: 4, Service: "b", Body: "hi"})
	if len(b.inputs) != 1 || len(a.inputs) != 0 || b.inputs[0].(env.Request).Body != "hi" {
		t.Fatalf("log %q", f.log)
	}
	if len(f.base.Replies) != 0 {
		t.Fatal("the node replied for the service")
	}
	n.Step(env.Request{ID: 5, Service: "missing"})
	if len(f.log) != 1 {
		t.Fatalf("a request for an unknown service reached %q", f.log)
	}
	if len(f.base.Replies) != 1 || f.base.Replies[0].ID != 5 {
		t.Fatalf("replies %+v, want one for request 5", f.base.Replies)
	}
	err, ok := f.base.Replies[0].Resp.(error)
	if !ok || !strings.Contains(err.Error(), `"missing"`) || !strings.HasPrefix(err.Error(), "node: ") {
		t.Fatalf("reply %v, want a node: error naming the service", f.base.Replies[0].Resp)
	}
}

func mustPanic(t *testing.T, what string, fn func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Fatalf("%s did not panic", what)
		}
	}()
	fn()
}

// sinkSvc keeps only the last input it saw, so that a test can count the
// node's own allocations.
type sinkSvc struct {
	name   string
	protos []uint16
	last   env.Input
}

func (s *sinkSvc) Name() string        { return s.name }
func (s *sinkSvc) Protocols() []uint16 { return s.protos }
func (s *sinkSvc) Init(env.Env)        {}
func (s *sinkSvc) Handle(in env.Input) { s.last = in }

func TestStepDiskDeliversLikeStep(t *testing.T) {
	for _, viaStepDisk := range []bool{false, true} {
		f := newFixture()
		a, b := f.svc("a"), f.svc("b")
		b.onHandle = func(s *svc, in env.Input) {
			if _, ok := in.(env.Start); ok {
				s.e.Submit(env.DiskOp{Kind: env.DiskPut, Tag: 7, Key: []byte("k"), Value: []byte("v")})
			}
		}
		n := node.New(f.base, node.Config{}, a, b)
		n.Step(env.Start{})
		done := f.base.CompleteDisk()
		if len(done) != 1 {
			t.Fatalf("%d completions", len(done))
		}
		if viaStepDisk {
			n.StepDisk(done[0].(env.DiskDone))
		} else {
			n.Step(done[0])
		}
		if want := []string{"a:start", "b:start", "b:disk 7"}; !slices.Equal(f.log, want) {
			t.Fatalf("StepDisk %v: log %q, want %q", viaStepDisk, f.log, want)
		}
		if got := b.inputs[1].(env.DiskDone); string(got.Op.Key) != "k" {
			t.Fatalf("StepDisk %v: op %+v", viaStepDisk, got.Op)
		}
	}
}

func TestStepDiskRejectsReentry(t *testing.T) {
	f := newFixture()
	a := f.svc("a")
	var n *node.Node
	a.onHandle = func(s *svc, in env.Input) {
		if _, ok := in.(env.Start); ok {
			n.StepDisk(env.DiskDone{})
		}
	}
	n = node.New(f.base, node.Config{}, a)
	mustPanic(t, "StepDisk inside Step", func() { n.Step(env.Start{}) })
}

func TestStepBoxesInputsAtMostOnce(t *testing.T) {
	f := newFixture()
	s := &sinkSvc{name: "sink", protos: []uint16{oap.ProtoDHT}}
	n := node.New(f.base, node.Config{}, s)
	msg := env.Input(env.Message{From: proto.NodeID{2}, Frame: frame(oap.ProtoDHT)})
	if allocs := testing.AllocsPerRun(100, func() { n.Step(msg) }); allocs != 0 {
		t.Fatalf("Step(Message) allocated %.1f times, want 0: the message was boxed again", allocs)
	}
	if s.last == nil {
		t.Fatal("the message did not arrive")
	}
	done := env.DiskDone{Op: env.DiskOp{Kind: env.DiskGet, Tag: 3}}
	if allocs := testing.AllocsPerRun(100, func() { n.StepDisk(done) }); allocs != 1 {
		t.Fatalf("StepDisk allocated %.1f times, want 1 (the box the service gets)", allocs)
	}
	if got := s.last.(env.DiskDone); got.Op.Tag != 3 {
		t.Fatalf("tag %d, want 3", got.Op.Tag)
	}
}
