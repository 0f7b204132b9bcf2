package sim

import (
	"encoding/binary"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// probe is a tiny test service: it records every input it sees and runs
// optional hooks, so each test scripts the behaviour it needs.
type probe struct {
	e   env.Env
	idx int
	h   *harness // the harness that built it (its world is set after New)

	starts   int
	messages []received
	timers   []firedTimer
	disks    []env.DiskDone
	requests []env.Request

	onInput   func(p *probe, in env.Input) // before the kind's own hook
	onStart   func(p *probe)
	onMessage func(p *probe, m env.Message)
	onTimer   func(p *probe, t env.TimerFired)
	onDisk    func(p *probe, d env.DiskDone)
	onRequest func(p *probe, r env.Request)
}

type received struct {
	from   proto.NodeID
	corrID uint64
	sentAt env.Time // the sender's clock, carried in the payload
	at     env.Time // the receiver's clock at delivery
	frame  []byte
}

type firedTimer struct {
	tag uint64
	at  env.Time
}

func (p *probe) Name() string        { return "probe" }
func (p *probe) Protocols() []uint16 { return []uint16{oap.ProtoOverlay} }
func (p *probe) Init(e env.Env)      { p.e = e }

func (p *probe) Handle(in env.Input) {
	if p.onInput != nil {
		p.onInput(p, in)
	}
	switch in := in.(type) {
	case env.Start:
		p.starts++
		if p.onStart != nil {
			p.onStart(p)
		}
	case env.Message:
		f, err := oap.Decode(in.Frame)
		if err != nil {
			panic(err)
		}
		var sentAt env.Time
		if len(f.Payload) >= 8 {
			sentAt = env.Time(binary.BigEndian.Uint64(f.Payload))
		}
		p.messages = append(p.messages, received{from: in.From, corrID: f.CorrID, sentAt: sentAt, at: p.e.Now(), frame: in.Frame})
		if p.onMessage != nil {
			p.onMessage(p, in)
		}
	case env.TimerFired:
		p.timers = append(p.timers, firedTimer{tag: in.Tag, at: p.e.Now()})
		if p.onTimer != nil {
			p.onTimer(p, in)
		}
	case env.DiskDone:
		p.disks = append(p.disks, in)
		if p.onDisk != nil {
			p.onDisk(p, in)
		}
	case env.Request:
		p.requests = append(p.requests, in)
		if p.onRequest != nil {
			p.onRequest(p, in)
		}
	}
}

// ping builds an overlay frame carrying corrID and the sender's clock,
// padded with pad bytes.
func ping(corrID uint64, now env.Time, pad int) []byte {
	payload := make([]byte, 8+pad)
	binary.BigEndian.PutUint64(payload, uint64(now))
	return oap.MustEncode(&oap.Frame{Header: oap.Header{Flags: oap.FlagREQ, AppProto: oap.ProtoOverlay, CorrID: corrID}, Payload: payload})
}

// world is the world p runs in.
func (p *probe) world() *World { return p.h.w }

// send sends a ping from p to node index to.
func (p *probe) send(to int, corrID uint64) {
	p.e.Send(p.world().NodeID(to), ping(corrID, p.e.Now(), 0))
}

// harness owns a world whose nodes each run one probe; probes[i] is the
// probe of node i's current incarnation, and setup (if set) configures
// each new probe (at start and at every restart).
type harness struct {
	t      testingT
	w      *World
	probes []*probe
	setup  func(p *probe)
}

// testingT is what the harness needs of *testing.T, *testing.B and
// *rapid.T.
type testingT interface {
	Helper()
	Fatalf(format string, args ...any)
}

func newHarness(t testingT, cfg Config, setup func(p *probe)) *harness {
	t.Helper()
	h := &harness{t: t, probes: make([]*probe, cfg.Nodes), setup: setup}
	cfg.NewNode = func(idx int, e env.Env) *node.Node {
		p := &probe{idx: idx, h: h}
		if h.setup != nil {
			h.setup(p)
		}
		h.probes[idx] = p
		return node.New(e, node.Config{Invariants: true}, p)
	}
	h.w = New(cfg)
	h.w.Start() // builds the nodes, so tests can reach probes before running
	if c, ok := t.(interface{ Cleanup(func()) }); ok {
		c.Cleanup(h.w.Close)
	}
	return h
}

func (h *harness) run(t time.Duration) {
	h.t.Helper()
	if err := h.w.RunUntil(t); err != nil {
		h.t.Fatalf("RunUntil(%v): %v", t, err)
	}
}

// from returns the index of the sender of m.
func (h *harness) from(m received) int {
	i, ok := h.w.Index(m.from)
	if !ok {
		h.t.Fatalf("message from unknown node %s", m.from.Short())
	}
	return i
}

// newEmptyNode is a NewNode for worlds that need no services.
func newEmptyNode(_ int, e env.Env) *node.Node { return node.New(e, node.Config{}) }
