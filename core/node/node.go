package node

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"time"

	"github.com/ron-network/ron/core/env"
)

// Limits.
const (
	// ServicesMax bounds the services of one node (the tag stamp is 8 bits).
	ServicesMax = 255
	// TagBits is how many low bits of a timer or disk tag a service may use.
	TagBits = 56
	// TagMax is the largest tag a service may pass to SetTimer or Submit.
	TagMax = 1<<TagBits - 1
	// BusQueueDepthMax bounds the events queued for one subscriber per step.
	BusQueueDepthMax = 1024
	// BusRoundsMax bounds how many rounds of events published by bus
	// handlers one step drains; further events wait for the next step.
	BusRoundsMax = 8
)

// MetricOAPRejects counts frames dropped before reaching a service.
const MetricOAPRejects = "oap_rejects_total"

var _ = env.Declare(env.MetricDef{Name: MetricOAPRejects, Kind: env.Counter,
	Help: "OAP/1 frames rejected, by reason.", Label: "reason"})

// appProtoOffset is the offset of app_proto_id in the OAP/1 header
// (len u32 | ver u16 | flags u16 | code u16 | app_proto_id u16 ...).
const (
	appProtoOffset = 10
	headerBytes    = 38
)

// Service is one state machine of a node.
type Service interface {
	// Name is the service's stable name ("overlay", "registry", ...).
	Name() string
	// Protocols lists the OAP/1 app_proto_ids whose frames it receives.
	Protocols() []uint16
	// Init hands the service its env once, before the first input.
	Init(e env.Env)
	// Handle runs one input to completion.
	Handle(in env.Input)
}

// Subscriber is implemented by services that receive bus events.
type Subscriber interface {
	Topics() []string
}

// InvariantChecker is implemented by services that can verify their own
// invariants; the node calls it after every step when Config.Invariants is
// set (always in the simulator).
type InvariantChecker interface {
	CheckInvariants()
}

// Config configures a node.
type Config struct {
	// Invariants runs every service's CheckInvariants after each step.
	Invariants bool
}

// Node is one node's set of services behind one event loop.
type Node struct {
	base     env.Env
	cfg      Config
	services []Service
	envs     []*serviceEnv
	byName   map[string]int
	byProto  map[uint16]int
	topics   map[string][]int // topic -> subscriber indexes, registration order
	busQueue [][]env.BusEvent // per service, pending events
	stepping bool
}

// New composes services on base. Service names and protocols must be
// unique; a duplicate is a programmer error.
func New(base env.Env, cfg Config, services ...Service) *Node {
	if len(services) > ServicesMax {
		panic("node: too many services")
	}
	n := &Node{
		base:     base,
		cfg:      cfg,
		services: services,
		byName:   map[string]int{},
		byProto:  map[uint16]int{},
		topics:   map[string][]int{},
		busQueue: make([][]env.BusEvent, len(services)),
	}
	for i, s := range services {
		if _, dup := n.byName[s.Name()]; dup {
			panic("node: duplicate service " + s.Name())
		}
		n.byName[s.Name()] = i
		for _, p := range s.Protocols() {
			if _, dup := n.byProto[p]; dup {
				panic(fmt.Sprintf("node: protocol %d registered twice", p))
			}
			n.byProto[p] = i
		}
		if sub, ok := s.(Subscriber); ok {
			for _, t := range sub.Topics() {
				n.topics[t] = append(n.topics[t], i)
			}
		}
		se := &serviceEnv{Env: base, node: n, index: uint64(i)}
		n.envs = append(n.envs, se)
	}
	for i, s := range services {
		s.Init(n.envs[i])
	}
	return n
}

// Service returns the service named name, or nil.
func (n *Node) Service(name string) Service {
	if i, ok := n.byName[name]; ok {
		return n.services[i]
	}
	return nil
}

// Step runs one input to completion, then drains the bus.
func (n *Node) Step(in env.Input) {
	if n.stepping {
		panic("node: Step re-entered; inputs must arrive one at a time")
	}
	n.stepping = true
	defer func() { n.stepping = false }()

	switch in := in.(type) {
	case env.Start:
		for _, s := range n.services {
			s.Handle(in)
		}
	case env.Message:
		n.routeMessage(in)
	case env.TimerFired:
		i, tag := splitTag(in.Tag)
		in.Tag = tag
		n.deliver(i, in)
	case env.DiskDone:
		i, tag := splitTag(in.Op.Tag)
		in.Op.Tag = tag
		n.deliver(i, in)
	case env.Request:
		i, ok := n.byName[in.Service]
		if !ok {
			n.base.Reply(in.ID, fmt.Errorf("node: no service %q", in.Service))
			break
		}
		n.services[i].Handle(in)
	case env.BusEvent:
		n.publish(in.Topic, in.Event)
	default:
		panic(fmt.Sprintf("node: unknown input %T", in))
	}
	n.drainBus()
	if n.cfg.Invariants {
		for _, s := range n.services {
			if c, ok := s.(InvariantChecker); ok {
				c.CheckInvariants()
			}
		}
	}
}

func (n *Node) routeMessage(m env.Message) {
	if len(m.Frame) < headerBytes {
		n.base.Metrics().Add(MetricOAPRejects, "truncated", 1)
		return
	}
	p := binary.BigEndian.Uint16(m.Frame[appProtoOffset:])
	i, ok := n.byProto[p]
	if !ok {
		n.base.Metrics().Add(MetricOAPRejects, "unknown_app", 1)
		return
	}
	n.services[i].Handle(m)
}

func (n *Node) deliver(i int, in env.Input) {
	if i >= len(n.services) {
		panic(fmt.Sprintf("node: input for service index %d of %d", i, len(n.services)))
	}
	n.services[i].Handle(in)
}

func (n *Node) publish(topic string, event any) {
	for _, i := range n.topics[topic] {
		if len(n.busQueue[i]) >= BusQueueDepthMax {
			n.base.Metrics().Add(env.MetricBusDropped, n.services[i].Name(), 1)
			continue
		}
		n.busQueue[i] = append(n.busQueue[i], env.BusEvent{Topic: topic, Event: event})
	}
}

// drainBus delivers queued bus events in service order. Events published
// while draining are delivered in later rounds, up to BusRoundsMax; what is
// left stays queued for the next step.
func (n *Node) drainBus() {
	for round := 0; round < BusRoundsMax; round++ {
		delivered := false
		for i := range n.busQueue {
			queue := n.busQueue[i]
			if len(queue) == 0 {
				continue
			}
			n.busQueue[i] = nil
			for _, ev := range queue {
				n.services[i].Handle(ev)
			}
			delivered = true
		}
		if !delivered {
			return
		}
	}
}

func splitTag(tag uint64) (int, uint64) {
	return int(tag >> TagBits), tag & TagMax
}

// serviceEnv is the env one service sees: the node's env with the
// service's index stamped on timer and disk tags, and Publish routed
// through the node's bus.
type serviceEnv struct {
	env.Env
	node  *Node
	index uint64
}

func (e *serviceEnv) SetTimer(d time.Duration, tag uint64) env.TimerID {
	if tag > TagMax {
		panic("node: timer tag exceeds TagMax")
	}
	return e.Env.SetTimer(d, e.index<<TagBits|tag)
}

func (e *serviceEnv) Submit(op env.DiskOp) env.OpID {
	if op.Tag > TagMax {
		panic("node: disk tag exceeds TagMax")
	}
	op.Tag |= e.index << TagBits
	return e.Env.Submit(op)
}

func (e *serviceEnv) Publish(topic string, event any) {
	e.node.publish(topic, event)
}

func (e *serviceEnv) Log() *slog.Logger {
	return e.Env.Log().With("service", e.node.services[e.index].Name())
}

var _ env.Env = (*serviceEnv)(nil)
