package node

import (
	"encoding/binary"
	"errors"
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

// ErrUnknownRequest is every service's answer to a request whose body it
// does not know (a programmer error in the caller, reported as a value).
// Services wrap it with the body's type: fmt.Errorf("%w: %T", ...).
var ErrUnknownRequest = errors.New("node: unknown request")

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
	// routes maps each app protocol to its service, in registration order.
	// A node has a handful of protocols, so a scan beats hashing the
	// protocol of every delivered frame.
	routes   []route
	topics   map[string][]int // topic -> subscriber indexes, registration order
	busQueue [][]env.BusEvent // per service, pending events
	// checkers are the services that are InvariantCheckers, in service
	// order: found once here rather than by a type assertion per service
	// after every step.
	checkers []InvariantChecker
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
		topics:   map[string][]int{},
		busQueue: make([][]env.BusEvent, len(services)),
	}
	for i, s := range services {
		if _, dup := n.byName[s.Name()]; dup {
			panic("node: duplicate service " + s.Name())
		}
		n.byName[s.Name()] = i
		for _, p := range s.Protocols() {
			if _, dup := n.serviceFor(p); dup {
				panic(fmt.Sprintf("node: protocol %d registered twice", p))
			}
			n.routes = append(n.routes, route{proto: p, service: i})
		}
		if sub, ok := s.(Subscriber); ok {
			for _, t := range sub.Topics() {
				n.topics[t] = append(n.topics[t], i)
			}
			// The subscriber's drop series exists at zero from the start, so
			// that increase() sees its first drop (env.MetricDef.LabelValues).
			base.Metrics().Add(env.MetricBusDropped, s.Name(), 0)
		}
		if c, ok := s.(InvariantChecker); ok {
			n.checkers = append(n.checkers, c)
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

// ServiceNames lists the node's services by name, in composition order
// (a new slice).
func (n *Node) ServiceNames() []string {
	names := make([]string, len(n.services))
	for i, s := range n.services {
		names[i] = s.Name()
	}
	return names
}

// Step runs one input to completion, then drains the bus.
func (n *Node) Step(in env.Input) {
	n.enter()
	defer n.leave()

	switch v := in.(type) {
	case env.Start:
		for _, s := range n.services {
			s.Handle(in)
		}
	case env.Message:
		n.routeMessage(in, v.Frame)
	case env.TimerFired:
		i, tag := splitTag(v.Tag)
		v.Tag = tag
		n.deliver(i, v)
	case env.DiskDone:
		n.deliverDisk(v)
	case env.Request:
		i, ok := n.byName[v.Service]
		if !ok {
			n.base.Reply(v.ID, fmt.Errorf("node: no service %q", v.Service))
			break
		}
		n.services[i].Handle(in)
	case env.BusEvent:
		n.publish(v.Topic, v.Event)
	default:
		panic(fmt.Sprintf("node: unknown input %T", in))
	}
	n.settle()
}

// StepDisk is Step(done) for a caller holding the completion as a value.
// The service must see done with its tag stripped, so Step copies it out
// of the interface and boxes it again; StepDisk boxes it once. The
// simulator delivers every disk completion through it.
func (n *Node) StepDisk(done env.DiskDone) {
	n.enter()
	defer n.leave()
	n.deliverDisk(done)
	n.settle()
}

// enter marks the node as stepping; inputs must not nest.
func (n *Node) enter() {
	if n.stepping {
		panic("node: Step re-entered; inputs must arrive one at a time")
	}
	n.stepping = true
}

// leave ends a step, also one a service panicked out of.
func (n *Node) leave() { n.stepping = false }

// settle finishes a step: it drains the bus, then checks the services'
// invariants when configured to.
func (n *Node) settle() {
	n.drainBus()
	if n.cfg.Invariants {
		for _, c := range n.checkers {
			c.CheckInvariants()
		}
	}
}

// routeMessage hands the message in (with the given frame) to the service
// of the frame's app protocol. It passes in itself on, not a copy: boxing
// the message again would allocate once per delivered frame.
func (n *Node) routeMessage(in env.Input, frame []byte) {
	if len(frame) < headerBytes {
		n.base.Metrics().Add(MetricOAPRejects, "truncated", 1)
		return
	}
	p := binary.BigEndian.Uint16(frame[appProtoOffset:])
	i, ok := n.serviceFor(p)
	if !ok {
		n.base.Metrics().Add(MetricOAPRejects, "unknown_app", 1)
		return
	}
	n.services[i].Handle(in)
}

// route is one entry of Node.routes.
type route struct {
	proto   uint16
	service int
}

// serviceFor returns the index of the service receiving app protocol p.
func (n *Node) serviceFor(p uint16) (int, bool) {
	for _, r := range n.routes {
		if r.proto == p {
			return r.service, true
		}
	}
	return 0, false
}

// deliverDisk strips the service index from done's tag and hands done to
// that service.
func (n *Node) deliverDisk(done env.DiskDone) {
	i, tag := splitTag(done.Op.Tag)
	done.Op.Tag = tag
	n.deliver(i, done)
}

func (n *Node) deliver(i int, in env.Input) {
	if i >= len(n.services) {
		panic(fmt.Sprintf("node: input for service index %d of %d", i, len(n.services)))
	}
	n.services[i].Handle(in)
}

// publish queues event for every subscriber of topic, dropping (and
// counting) it for a subscriber whose queue is full. The time it takes is
// bus_publish_latency_seconds, read from the env's clock: monotonic time
// in production; in the simulator time stands still within a step, so it
// observes 0 there and the publish SLO is a production figure.
func (n *Node) publish(topic string, event any) {
	start := n.base.Now()
	for _, i := range n.topics[topic] {
		if len(n.busQueue[i]) >= BusQueueDepthMax {
			n.base.Metrics().Add(env.MetricBusDropped, n.services[i].Name(), 1)
			continue
		}
		n.busQueue[i] = append(n.busQueue[i], env.BusEvent{Topic: topic, Event: event})
	}
	n.base.Metrics().Observe(env.MetricBusPublish, "", n.base.Now().Sub(start).Seconds())
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
