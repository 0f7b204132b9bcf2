// Package envtest is a hand-cranked env.Env for unit tests of a single
// machine: the test owns the clock, sees every frame sent, fires timers and
// completes disk operations when it chooses. The disk is a plain ordered
// in-memory store without faults (the simulator's disk models faults).
//
// Cluster (cluster.go) is the services' shared multi-node fixture: N
// core/node loops over one seeded network (loss, duplication, reordering,
// latency, cuts) and crashable disks (Disk: a crash drops unsynced
// writes), with request/await helpers. Services' tests use it instead of
// keeping their own network harness.
//
// Typical loop:
//
//	e := envtest.New(id, seed)
//	m.Init(e); m.Handle(env.Start{})
//	for _, in := range e.Advance(time.Second) { m.Handle(in) }
//	for _, in := range e.CompleteDisk() { m.Handle(in) }
package envtest

import (
	"bytes"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// Sent is one frame handed to Send.
type Sent struct {
	To    proto.NodeID
	Frame []byte
}

// Reply is one Reply call.
type Reply struct {
	ID   env.RequestID
	Resp any
}

type timer struct {
	id       env.TimerID
	deadline env.Time
	tag      uint64
}

// Env is the fake. Its exported fields may be read and reset by tests.
type Env struct {
	ID       proto.NodeID
	Clock    env.Time
	Sent     []Sent
	Replies  []Reply
	Events   []env.BusEvent
	Recorder *Metrics

	rand      *env.Rand
	timers    map[env.TimerID]timer
	nextTimer env.TimerID
	pending   []env.DiskDone
	nextOp    env.OpID
	store     map[string][]byte
	logger    *slog.Logger
}

// New returns a fake env for node id with randomness seeded by seed, its
// clock at 2026-01-01T00:00:00Z.
func New(id proto.NodeID, seed uint64) *Env {
	return &Env{
		ID:       id,
		Clock:    env.Time(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()),
		Recorder: NewMetrics(),
		rand:     env.NewRand(seed),
		timers:   map[env.TimerID]timer{},
		store:    map[string][]byte{},
		logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func (e *Env) Self() proto.NodeID { return e.ID }
func (e *Env) Now() env.Time      { return e.Clock }
func (e *Env) Rand() *env.Rand    { return e.rand }
func (e *Env) Send(to proto.NodeID, frame []byte) {
	e.Sent = append(e.Sent, Sent{To: to, Frame: frame})
}
func (e *Env) SetTimer(d time.Duration, tag uint64) env.TimerID {
	e.nextTimer++
	if d < 0 {
		d = 0
	}
	e.timers[e.nextTimer] = timer{id: e.nextTimer, deadline: e.Clock.Add(d), tag: tag}
	return e.nextTimer
}
func (e *Env) CancelTimer(id env.TimerID) { delete(e.timers, id) }
func (e *Env) Submit(op env.DiskOp) env.OpID {
	e.nextOp++
	e.pending = append(e.pending, env.DiskDone{ID: e.nextOp, Op: op})
	return e.nextOp
}
func (e *Env) Reply(id env.RequestID, resp any) {
	e.Replies = append(e.Replies, Reply{ID: id, Resp: resp})
}
func (e *Env) Publish(topic string, event any) {
	e.Events = append(e.Events, env.BusEvent{Topic: topic, Event: event})
}
func (e *Env) Metrics() env.Metrics { return e.Recorder }
func (e *Env) Log() *slog.Logger    { return e.logger }

var _ env.Env = (*Env)(nil)

// TakeSent returns and clears the frames sent so far.
func (e *Env) TakeSent() []Sent {
	s := e.Sent
	e.Sent = nil
	return s
}

// Armed reports how many timers are armed.
func (e *Env) Armed() int { return len(e.timers) }

// Advance moves the clock forward by d and returns the timers that became
// due, as inputs, in deadline order (ties by arming order).
func (e *Env) Advance(d time.Duration) []env.Input {
	e.Clock = e.Clock.Add(d)
	var due []timer
	// map order ok: due timers are sorted by deadline and id below
	for _, t := range e.timers {
		if t.deadline <= e.Clock {
			due = append(due, t)
		}
	}
	sort.Slice(due, func(i, j int) bool {
		if due[i].deadline != due[j].deadline {
			return due[i].deadline < due[j].deadline
		}
		return due[i].id < due[j].id
	})
	out := make([]env.Input, 0, len(due))
	for _, t := range due {
		delete(e.timers, t.id)
		out = append(out, env.TimerFired{ID: t.id, Tag: t.tag})
	}
	return out
}

// PendingDisk reports how many disk operations await completion.
func (e *Env) PendingDisk() int { return len(e.pending) }

// CompleteDisk executes every pending disk operation in submission order
// and returns their completions as inputs. Writes are durable at once.
func (e *Env) CompleteDisk() []env.Input {
	ops := e.pending
	e.pending = nil
	out := make([]env.Input, 0, len(ops))
	for _, d := range ops {
		d.Result = env.RunCheck(&d.Op, e.execute(&d.Op))
		out = append(out, d)
	}
	return out
}

// CompleteDiskN is CompleteDisk for the first n pending operations only
// (all of them when fewer are pending); the rest stay pending.
func (e *Env) CompleteDiskN(n int) []env.Input {
	n = min(n, len(e.pending))
	ops := e.pending[:n]
	e.pending = append([]env.DiskDone(nil), e.pending[n:]...)
	out := make([]env.Input, 0, len(ops))
	for _, d := range ops {
		d.Result = env.RunCheck(&d.Op, e.execute(&d.Op))
		out = append(out, d)
	}
	return out
}

// Crash discards the pending disk operations, as a crash before the disk
// ran them would (completed writes are durable here, so a crash after an
// operation is modelled by completing it first), and every armed timer.
// It returns how many operations it discarded.
func (e *Env) Crash() int {
	n := len(e.pending)
	e.pending = nil
	clear(e.timers)
	return n
}

func (e *Env) execute(op *env.DiskOp) env.DiskResult {
	if err := op.Validate(); err != nil {
		return env.DiskResult{Err: err}
	}
	switch op.Kind {
	case env.DiskGet:
		v, ok := e.store[string(op.Key)]
		if !ok {
			return env.DiskResult{}
		}
		part, err := op.Part(v)
		if err != nil {
			return env.DiskResult{Found: true, Err: err}
		}
		return env.DiskResult{Found: true, Value: bytes.Clone(part)}
	case env.DiskPut:
		e.store[string(op.Key)] = bytes.Clone(op.Value)
	case env.DiskDelete:
		delete(e.store, string(op.Key))
	case env.DiskBatch:
		for _, w := range op.Batch {
			if w.Delete {
				delete(e.store, string(w.Key))
			} else {
				e.store[string(w.Key)] = bytes.Clone(w.Value)
			}
		}
	case env.DiskScan:
		return e.scan(op)
	}
	return env.DiskResult{}
}

func (e *Env) scan(op *env.DiskOp) env.DiskResult {
	var keys []string
	// map order ok: matching keys are sorted below
	for k := range e.store {
		if strings.HasPrefix(k, string(op.Prefix)) && k >= string(op.Start) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var res env.DiskResult
	for _, k := range keys {
		if len(res.Pairs) == op.Limit {
			res.More = true
			break
		}
		res.Pairs = append(res.Pairs, env.KV{Key: []byte(k), Value: bytes.Clone(e.store[k])})
	}
	return res
}

// Stored returns the current value of key, for assertions.
func (e *Env) Stored(key string) ([]byte, bool) {
	v, ok := e.store[key]
	return v, ok
}

// Metrics records every observation by name and label.
type Metrics struct {
	Values       map[string]float64   // counters and gauges, key name{label}
	Observations map[string][]float64 // histograms, key name{label}
}

// NewMetrics returns an empty recorder.
func NewMetrics() *Metrics {
	return &Metrics{Values: map[string]float64{}, Observations: map[string][]float64{}}
}

// Key formats the map key of a metric and label.
func Key(name, label string) string {
	if label == "" {
		return name
	}
	return name + "{" + label + "}"
}

func (m *Metrics) Add(name, label string, delta float64) { m.Values[Key(name, label)] += delta }
func (m *Metrics) Set(name, label string, value float64) { m.Values[Key(name, label)] = value }
func (m *Metrics) Observe(name, label string, value float64) {
	k := Key(name, label)
	m.Observations[k] = append(m.Observations[k], value)
}

// Step hands in to service s and then runs its invariant check, as a
// node does once after every step: for tests that drive one service
// without a node.
func Step(s interface{ Handle(env.Input) }, in env.Input) {
	s.Handle(in)
	if c, ok := s.(interface{ CheckInvariants() }); ok {
		c.CheckInvariants()
	}
}
