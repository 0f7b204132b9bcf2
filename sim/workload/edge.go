package workload

import (
	"fmt"
	"time"

	"github.com/ron-network/ron/core/admission"
	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/storage"
	"github.com/ron-network/ron/sim"
)

// EdgeCall is one client request as it reaches a node's edge: who sends
// it (tenant, token, source address), what it is (the op the token must
// allow, the resource when the client names it, the declared body size),
// how long its body takes to arrive (a slow uploader holds its session
// and its slot that long), and the service request that follows
// admission.
type EdgeCall struct {
	Node   int
	Tenant string
	Token  string // "" when the client presents none
	Source string
	Write  bool
	// Authenticated: the request needs a verified token (every write
	// does; a token probe does too).
	Authenticated bool
	Op            auth.Op
	Resource      string
	Bytes         int64
	Upload        time.Duration
	Service       string
	Body          any
}

// EdgeAnswer is the edge's answer: a typed refusal, or the node's reply.
type EdgeAnswer struct {
	Refusal admission.Refusal
	Resp    any
}

// Edge is the nodes' client entry (sim/runner runs core/admission's
// machines behind it). Submit answers at most once: never when the node is
// down or crashes first, as a real node's gateway would not.
type Edge interface {
	Submit(c EdgeCall, answer func(EdgeAnswer))
}

// EdgeGroup is a group of clients of one tenant (scenario
// workload.edge.tenants).
type EdgeGroup struct {
	Tenant        string
	Clients       int
	RatePerSecond float64
	Writes        float64
	SizeBytes     int
	// UploadBytesPerSecond is each client's upload rate (0: the body
	// arrives at once).
	UploadBytesPerSecond int64
	// Token is the token the clients present ("" none).
	Token string
}

// EdgeClients workload constants.
const (
	// EdgeObjectsPerGroup bounds the distinct objects a group uploads (a
	// write re-puts one of them): memory stays bounded at any rate.
	EdgeObjectsPerGroup = 8
	// EdgeRecordsMax bounds the recorded requests; beyond it clients stop.
	EdgeRecordsMax = 1 << 21
)

// EdgeRecord is one request of an edge client. Return is -1 when no
// answer came within the timeout.
type EdgeRecord struct {
	Group  int
	Tenant string
	Node   int
	Write  bool
	Call   time.Duration
	Return time.Duration
	// Refusal is the edge's refusal (Kind 0 when the node was reached).
	Refusal admission.Refusal
}

// Served reports whether the request passed the edge and the node answered.
func (r *EdgeRecord) Served() bool { return r.Return >= 0 && !r.Refusal.Refused() }

// EdgeConfig configures the edge clients.
type EdgeConfig struct {
	Groups      []EdgeGroup
	Start, Stop time.Duration
	Timeout     time.Duration
}

// EdgeClients are closed-loop clients, grouped by tenant, that enter
// random up nodes through the edge: writes upload one of the group's
// objects to storage, reads get one of every group's objects. Choices come
// from the "workload/edge" stream.
type EdgeClients struct {
	cfg     EdgeConfig
	w       *sim.World
	edge    Edge
	rand    *env.Rand
	objects [][]ContentObject
	records []EdgeRecord
}

// NewEdgeClients derives each group's objects from the stream.
func NewEdgeClients(w *sim.World, edge Edge, cfg EdgeConfig) *EdgeClients {
	e := &EdgeClients{cfg: cfg, w: w, edge: edge, rand: w.Rand("workload/edge")}
	for _, g := range cfg.Groups {
		var objs []ContentObject
		for k := 0; k < EdgeObjectsPerGroup; k++ {
			objs = append(objs, NewContentObject(e.rand.Uint64(), max(1, g.SizeBytes)))
		}
		e.objects = append(e.objects, objs)
	}
	return e
}

// Records are the requests made, in call order.
func (e *EdgeClients) Records() []EdgeRecord { return e.records }

// Start schedules every client's first request.
func (e *EdgeClients) Start() {
	for gi, g := range e.cfg.Groups {
		for c := 0; c < g.Clients; c++ {
			e.w.At(e.cfg.Start+e.think(gi), func() { e.issue(gi, c) })
		}
	}
}

func (e *EdgeClients) think(gi int) time.Duration {
	g := e.cfg.Groups[gi]
	mean := float64(g.Clients) / g.RatePerSecond
	return time.Duration(e.rand.ExpFloat64() * mean * float64(time.Second))
}

func (e *EdgeClients) pickNode() int {
	n := e.w.Nodes()
	start := e.rand.Intn(n)
	for k := 0; k < n; k++ {
		if i := (start + k) % n; e.w.Up(i) {
			return i
		}
	}
	return -1
}

func (e *EdgeClients) issue(gi, client int) {
	if e.w.Now() >= e.cfg.Stop || len(e.records) >= EdgeRecordsMax {
		return
	}
	target := e.pickNode()
	if target < 0 {
		e.w.After(e.think(gi), func() { e.issue(gi, client) })
		return
	}
	call := e.build(gi, client, target)
	e.records = append(e.records, EdgeRecord{Group: gi, Tenant: e.cfg.Groups[gi].Tenant, Node: target, Write: call.Write,
		Call: e.w.Now(), Return: -1})
	index := len(e.records) - 1
	done := false
	next := func() {
		if !done {
			done = true
			e.w.After(e.think(gi), func() { e.issue(gi, client) })
		}
	}
	e.edge.Submit(call, func(a EdgeAnswer) {
		r := &e.records[index]
		if done { // the client gave up; a refusal still counts as seen
			r.Refusal = a.Refusal
			return
		}
		r.Return, r.Refusal = e.w.Now(), a.Refusal
		next()
	})
	e.w.After(e.cfg.Timeout+call.Upload, next)
}

// build draws the group's next request.
func (e *EdgeClients) build(gi, client, target int) EdgeCall {
	g := e.cfg.Groups[gi]
	c := EdgeCall{Node: target, Tenant: g.Tenant, Token: g.Token, Source: fmt.Sprintf("%s/%d", g.Tenant, client),
		Service: "storage"}
	if e.rand.Float64() < g.Writes {
		o := e.objects[gi][e.rand.Intn(len(e.objects[gi]))]
		c.Write, c.Authenticated, c.Op, c.Resource, c.Bytes = true, true, auth.OpWrite, o.Addr.String(), int64(o.Size)
		if g.UploadBytesPerSecond > 0 {
			c.Upload = time.Duration(float64(o.Size) / float64(g.UploadBytesPerSecond) * float64(time.Second))
		}
		c.Body = storage.Put{Data: o.Bytes()}
		return c
	}
	group := e.rand.Intn(len(e.objects))
	o := e.objects[group][e.rand.Intn(len(e.objects[group]))]
	c.Op, c.Resource = auth.OpRead, o.Addr.String()
	c.Body = storage.Get{Addr: o.Addr}
	return c
}
