package runner

import (
	"time"

	"github.com/ron-network/ron/core/admission"
	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/policy"
	"github.com/ron-network/ron/sim"
	"github.com/ron-network/ron/sim/check"
	"github.com/ron-network/ron/sim/scenario"
	"github.com/ron-network/ron/sim/workload"
)

// Edge simulation constants.
const (
	// EdgePublicTenant is the tenant anonymous requests queue as (the
	// gateway's PublicTenant).
	EdgePublicTenant = "public"
	// ReadySampleInterval is how often the readiness check samples every
	// node's edge.
	ReadySampleInterval = 100 * time.Millisecond
	// EdgeEventsMax bounds the queue events kept for the fairness check;
	// beyond it the check judges the prefix.
	EdgeEventsMax = 1 << 22
)

// simEdge is the simulated clients' entry to every node: core/admission's
// machines (the gate, the source failure budgets, the session table, the
// token check, the policy decision), exactly as io/gateway calls them for
// an HTTP or OAP/1 request in rond. It lives beside each node as the
// gateway lives in rond's process: a node's crash loses its edge state
// (the next request after a restart builds a fresh one) and every request
// it had admitted goes unanswered.
//
// Time: the machines run on virtual time (rond: the monotonic clock);
// tokens are checked against the node's own clock (rond: the wall clock),
// so clock faults move expiry exactly as they do in rond. The revocation
// view is the node's registry.
type simEdge struct {
	w        *sim.World
	c        *cluster
	limits   admission.Config
	sessions admission.SessionsConfig
	bundle   *policy.Bundle
	nodes    []*nodeEdge

	// observations for the checks
	events            []check.EdgeEvent
	samples           []check.ReadySample
	capacity          int
	refusedWhileReady int
	// workloadRefusals are the refusals the registry and content clients
	// received (workload.EdgePath.Refusals).
	workloadRefusals []admission.Refusal
}

// nodeEdge is one node's edge state for one incarnation of the node.
type nodeEdge struct {
	incarnation *node.Node
	gate        *admission.Gate
	sources     *admission.Sources
	sessions    *admission.Sessions
	waiting     map[admission.Ticket]*edgeWaiter
}

type edgeWaiter struct {
	call   workload.EdgeCall
	tenant string
	answer func(workload.EdgeAnswer)
}

var _ workload.Edge = (*simEdge)(nil)

// newSimEdge builds the edge of the scenario's limits (zero: defaults)
// with the default policy.
func newSimEdge(w *sim.World, c *cluster, l scenario.EdgeLimits) *simEdge {
	bundle, err := policy.Parse([]byte(admission.DefaultPolicy))
	if err != nil {
		panic("runner: the default policy does not parse: " + err.Error())
	}
	limits := admission.Config{InflightMax: l.InflightMax, ReadHeadroom: l.ReadHeadroom, QueueDepthMax: l.QueueDepthMax,
		QueueWaitMax: l.QueueWaitMax, TenantRate: l.TenantRate, TenantBurst: float64(l.TenantBurst), WritesPerTenantMax: l.WritesPerTenantMax,
		QueuedWritesPerTenantMax: l.QueuedWritesPerTenantMax, Bug: c.opts.CoreBugs.Admission}
	sessions := admission.SessionsConfig{SessionsMax: l.SessionsMax, SessionsPerTenantMax: l.SessionsPerTenantMax,
		SessionsReserved: l.SessionsReserved, SessionTTL: l.SessionTTL}
	return &simEdge{w: w, c: c, limits: limits.WithDefaults(), sessions: sessions.WithDefaults(), bundle: bundle,
		nodes: make([]*nodeEdge, w.Nodes())}
}

// of returns node i's edge, fresh when the node restarted since.
func (e *simEdge) of(i int) *nodeEdge {
	n := e.w.Node(i)
	if ne := e.nodes[i]; ne != nil && ne.incarnation == n {
		return ne
	}
	ne := &nodeEdge{incarnation: n, gate: admission.NewGate(e.limits, e.now()), sources: admission.NewSources(e.limits),
		sessions: admission.NewSessions(e.sessions), waiting: map[admission.Ticket]*edgeWaiter{}}
	e.nodes[i] = ne
	return ne
}

func (e *simEdge) now() env.Time { return env.Time(e.w.Now()) }

// current reports whether ne is still node i's live edge.
func (e *simEdge) current(i int, ne *nodeEdge) bool {
	return e.w.Up(i) && e.nodes[i] == ne && ne.incarnation == e.w.Node(i)
}

// Submit runs c through node c.Node's edge: the token, the policy, the
// gate, the session (uploads), then the node's service.
func (e *simEdge) Submit(c workload.EdgeCall, answer func(workload.EdgeAnswer)) {
	if !e.w.Up(c.Node) {
		return // nothing answers for a node that is down
	}
	ne := e.of(c.Node)
	tenant, authenticated, refusal := e.identify(ne, c)
	if !refusal.Refused() {
		refusal = admission.Decide(e.bundle, policy.Request{Tenant: tenant, Op: c.Op, Resource: c.Resource,
			Bytes: uint64(max(c.Bytes, 0)), Authenticated: authenticated})
	}
	if refusal.Refused() {
		e.refuse(c.Node, ne, refusal, answer)
		return
	}
	anonymous := !authenticated
	if anonymous {
		tenant = EdgePublicTenant
	}
	d := ne.gate.Admit(e.now(), admission.Request{Tenant: tenant, Anonymous: anonymous, Write: c.Write, Cost: admission.Cost(c.Bytes)})
	switch d.Outcome {
	case admission.Shed:
		e.refuse(c.Node, ne, d.Refusal, answer)
	case admission.Run:
		e.proceed(ne, &edgeWaiter{call: c, tenant: tenant, answer: answer})
	case admission.Queued:
		ne.waiting[d.Ticket] = &edgeWaiter{call: c, tenant: tenant, answer: answer}
		e.event(c.Node, check.EdgeEnqueue, tenant, c.Write, admission.Cost(c.Bytes))
		e.w.After(e.limits.QueueWaitMax, func() { e.giveUp(c.Node, ne, d.Ticket) })
	}
}

// identify checks the call's token: fully (admission.CheckToken) when the
// call needs one, charging a failure to the client's source; a read's
// token counts only when valid now, else the read is anonymous.
func (e *simEdge) identify(ne *nodeEdge, c workload.EdgeCall) (string, bool, admission.Refusal) {
	needs := c.Write || c.Authenticated
	if c.Token == "" {
		if needs {
			return "", false, admission.Refusal{Kind: admission.KindUnauthorized, Reason: admission.ShedTokenDenied, Detail: "missing_token"}
		}
		return "", false, admission.Refusal{}
	}
	verifier := e.verifier(c.Node)
	clock := e.w.NodeClock(c.Node)
	if !needs {
		v := verifier.Verify(c.Token, auth.Request{Op: auth.OpRead, Resource: c.Resource, Tenant: c.Tenant, Now: clock})
		if !v.Allowed() {
			return "", false, admission.Refusal{}
		}
		return v.Token.Tenant, true, admission.Refusal{}
	}
	resource := c.Resource
	if resource == "" {
		resource = admission.ResourceUnknown
	}
	v, refusal := admission.CheckToken(verifier, c.Token, admission.TokenCheck{Op: c.Op, Resource: resource, Bytes: c.Bytes}, clock)
	if refusal.Refused() {
		if over, spent := ne.sources.Fail(e.now(), c.Source); spent {
			return "", false, over
		}
		return "", false, refusal
	}
	return v.Token.Tenant, true, admission.Refusal{}
}

// verifier checks tokens with the cluster key against node i's revocation
// view (its registry; none when the node runs no registry).
func (e *simEdge) verifier(i int) *auth.Verifier {
	var revoked auth.RevocationSet
	if reg := e.c.registryOf(i); reg != nil {
		revoked = reg
	}
	return auth.NewVerifier(e.c.tokens, revoked)
}

// proceed runs an admitted call: an upload takes a session and holds it,
// with its slot, while the body arrives; then the node's service answers.
func (e *simEdge) proceed(ne *nodeEdge, wt *edgeWaiter) {
	c := wt.call
	if c.Write {
		e.event(c.Node, check.EdgeWriteStart, wt.tenant, true, admission.Cost(c.Bytes))
	}
	var session admission.SessionID
	if c.Write && c.Bytes > 0 {
		ne.sessions.Expire(e.now())
		id, refusal := ne.sessions.Open(e.now(), wt.tenant)
		if refusal.Refused() {
			e.release(c.Node, ne, wt.tenant, c.Write)
			e.refuse(c.Node, ne, refusal, wt.answer)
			return
		}
		session = id
	}
	send := func() {
		if !e.current(c.Node, ne) {
			return // the node crashed while the body arrived
		}
		if session != 0 && !ne.sessions.Touch(e.now(), session) {
			// the table expired the slot (and may have given it away):
			// rond's gateway stops such an upload, 503 session_expired
			e.release(c.Node, ne, wt.tenant, c.Write)
			e.refuse(c.Node, ne, admission.SessionExpired(ne.sessions.Config().SessionTTL), wt.answer)
			return
		}
		e.w.Request(c.Node, c.Service, c.Body, func(resp any) {
			if !e.current(c.Node, ne) {
				return
			}
			if session != 0 {
				ne.sessions.Close(session)
			}
			e.release(c.Node, ne, wt.tenant, c.Write)
			wt.answer(workload.EdgeAnswer{Resp: resp})
		})
	}
	if c.Upload > 0 {
		e.keepTouched(c.Node, ne, session, c.Upload)
		e.w.After(c.Upload, send)
		return
	}
	send()
}

// keepTouched touches session every half SessionTTL while its body of
// upload arrives: rond's gateway touches the slot whenever body bytes
// arrive, and a simulated body arrives steadily, so a long upload keeps
// its slot as it does in rond. An upload shorter than half the TTL (every
// scenario's so far) schedules nothing.
func (e *simEdge) keepTouched(i int, ne *nodeEdge, session admission.SessionID, upload time.Duration) {
	every := ne.sessions.Config().SessionTTL / 2
	if session == 0 || every <= 0 {
		return
	}
	for at := every; at < upload; at += every {
		e.w.After(at, func() {
			if e.current(i, ne) {
				ne.sessions.Touch(e.now(), session)
			}
		})
	}
}

// release frees a slot and runs the calls it granted.
func (e *simEdge) release(i int, ne *nodeEdge, tenant string, write bool) {
	if write {
		e.event(i, check.EdgeWriteEnd, tenant, true, 0)
	}
	e.grant(i, ne, ne.gate.Release(tenant, write))
}

// grant runs the calls of tickets the gate granted (by Release or Cancel).
func (e *simEdge) grant(i int, ne *nodeEdge, granted []admission.Ticket) {
	for _, t := range granted {
		wt := ne.waiting[t]
		delete(ne.waiting, t)
		e.event(i, check.EdgeGrant, wt.tenant, wt.call.Write, admission.Cost(wt.call.Bytes))
		e.proceed(ne, wt)
	}
}

// giveUp ends a queued call's wait: a queue timeout unless it was granted.
// Leaving the queue may let a call queued behind it run: the gate grants
// it, as rond's gateway does.
func (e *simEdge) giveUp(i int, ne *nodeEdge, t admission.Ticket) {
	wt := ne.waiting[t]
	if wt == nil || !e.current(i, ne) {
		return
	}
	granted, queued := ne.gate.Cancel(wt.tenant, t)
	if !queued {
		return
	}
	delete(ne.waiting, t)
	e.event(i, check.EdgeCancel, wt.tenant, wt.call.Write, admission.Cost(wt.call.Bytes))
	e.grant(i, ne, granted) // before the answer, which may submit a call
	e.refuse(i, ne, admission.QueueTimeout(), wt.answer)
}

// refuse counts and answers a refusal; a capacity refusal also records
// whether the node's readiness told the truth at that moment.
func (e *simEdge) refuse(i int, ne *nodeEdge, r admission.Refusal, answer func(workload.EdgeAnswer)) {
	e.w.NodeMetrics(i).Add(admission.MetricShed, r.Reason, 1)
	switch r.Reason {
	case admission.ShedOverload, admission.ShedQueueTimeout, admission.ShedSessionsFull:
		e.capacity++
		ne.sessions.Expire(e.now())
		// a queue timeout is answered once the wait ran out; the gate may
		// have drained since, so only the refusals decided now are judged
		if ready, _ := admission.Ready(ne.gate, ne.sessions); ready && r.Reason != admission.ShedQueueTimeout {
			e.refusedWhileReady++
		}
	}
	answer(workload.EdgeAnswer{Refusal: r})
}

func (e *simEdge) event(i int, kind check.EdgeEventKind, tenant string, write bool, cost int) {
	if len(e.events) < EdgeEventsMax {
		e.events = append(e.events, check.EdgeEvent{Node: i, At: e.w.Now(), Kind: kind, Tenant: tenant, Write: write, Cost: cost})
	}
}

// sampleReadiness records every up node's edge readiness every
// ReadySampleInterval until stop.
func (e *simEdge) sampleReadiness(start, stop time.Duration) {
	var tick func()
	tick = func() {
		for i := range e.nodes {
			if !e.w.Up(i) {
				continue
			}
			s := e.readiness(i)
			e.samples = append(e.samples, s)
		}
		if e.w.Now()+ReadySampleInterval < stop {
			e.w.After(ReadySampleInterval, tick)
		}
	}
	e.w.At(start, tick)
}

func (e *simEdge) readiness(i int) check.ReadySample {
	ne := e.of(i)
	ne.sessions.Expire(e.now())
	ready, reason := admission.Ready(ne.gate, ne.sessions)
	return check.ReadySample{Node: i, At: e.w.Now(), Ready: ready, Reason: reason,
		Saturated: ne.gate.Saturated(), Exhausted: ne.sessions.Exhausted()}
}
