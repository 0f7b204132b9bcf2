package gateway

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ron-network/ron/core/admission"
	"github.com/ron-network/ron/core/env"
)

// Admission defaults (omnigate, ARCHITECTURE 5.7): core/admission's.
const (
	TenantRateDefault    = admission.TenantRateDefault
	TenantBurstDefault   = admission.TenantBurstDefault
	TenantsMaxDefault    = admission.TenantsMaxDefault
	InflightMaxDefault   = admission.InflightMaxDefault
	ReadHeadroomDefault  = admission.ReadHeadroomDefault
	QueueDepthMaxDefault = admission.QueueDepthMaxDefault
	QueueWaitMaxDefault  = admission.QueueWaitMaxDefault
	CostBytesUnit        = admission.CostBytesUnit
	AnonymousRateDefault = admission.AnonymousRateDefault
)

// AdmissionConfig configures omnigate (core/admission.Config; zero values
// take the defaults, a zero ReadHeadroom included).
type AdmissionConfig = admission.Config

// SessionsConfig bounds the upload sessions of PUT /o (per tenant,
// globally, idle TTL); zero values take core/admission's defaults.
type SessionsConfig = admission.SessionsConfig

// Shed reasons of omnigate_shed_total (core/admission.ShedReasons).
const (
	ShedOverQuota       = admission.ShedOverQuota
	ShedOverload        = admission.ShedOverload
	ShedQueueTimeout    = admission.ShedQueueTimeout
	ShedBodyTooLarge    = admission.ShedBodyTooLarge
	ShedSourceOverQuota = admission.ShedSourceOverQuota
	ShedTokenDenied     = admission.ShedTokenDenied
	ShedPolicyDenied    = admission.ShedPolicyDenied
	ShedSessionsTenant  = admission.ShedSessionsTenant
	ShedSessionsFull    = admission.ShedSessionsFull
	// ShedSessionsReserved: a tenant holding an upload asked for another
	// while only the sessions kept for tenants holding none were free.
	ShedSessionsReserved = admission.ShedSessionsReserved
	// ShedSessionExpired counts uploads stopped because the edge's
	// session table expired their slot (no body byte for SessionTTL).
	ShedSessionExpired = admission.ShedSessionExpired
	// ShedTenantWrites: a tenant already queues QueuedWritesPerTenantMax
	// writes.
	ShedTenantWrites = admission.ShedTenantWrites
)

// edgeState is the gateway's shell around core/admission's machines: one
// mutex over the gate, the source failure budgets and the session table,
// and the waiting that the pure gate leaves to its caller (a channel per
// queued ticket, a timer per wait), and the stopping the pure table
// leaves to it (a stop func per open session, called when Expire drops
// the session, so the upload ends now rather than at its next read; the
// sweep expires sessions when nothing else does). Time given to the machines is the
// monotonic time since the gateway started (Clock's, so tests can move
// it).
type edgeState struct {
	clock    func() time.Time
	origin   time.Time
	mu       sync.Mutex
	gate     *admission.Gate
	sources  *admission.Sources
	sessions *admission.Sessions
	waiting  map[admission.Ticket]chan struct{}
	stops    map[admission.SessionID]func() // one per open session

	// The sweep (sweep): sweepEvery is its period; sweeping says its
	// goroutine runs (under mu); quit, closed once by close, stops it, and
	// sweeps counts it for close to wait on.
	sweepEvery time.Duration
	sweeping   bool
	closed     bool
	quit       chan struct{}
	sweeps     sync.WaitGroup
}

// SessionSweepEveryMax bounds the period of the sweep that expires idle
// upload sessions when nothing else happens (a quarter of SessionTTL, at
// most this): an expired session releases its slot and its upload is
// stopped at most SessionTTL plus one period after its last body byte.
const SessionSweepEveryMax = time.Second

func newEdgeState(cfg AdmissionConfig, sessions SessionsConfig, clock func() time.Time) *edgeState {
	origin := clock()
	t := admission.NewSessions(sessions)
	return &edgeState{clock: clock, origin: origin, gate: admission.NewGate(cfg, 0), sources: admission.NewSources(cfg),
		sessions: t, waiting: map[admission.Ticket]chan struct{}{},
		stops:      map[admission.SessionID]func(){},
		sweepEvery: max(min(t.Config().SessionTTL/4, SessionSweepEveryMax), time.Millisecond), quit: make(chan struct{})}
}

// now is the machines' time. The caller holds mu.
func (a *edgeState) now() env.Time { return env.Time(a.clock().Sub(a.origin)) }

// slot is an admitted request's place in the gate; release it exactly
// once, when the request finishes. A value, not a closure: admitting
// allocates nothing. The zero slot (what a refusal returns) holds no place
// and must not be released.
type slot struct {
	a      *edgeState
	tenant string
	write  bool
}

// release frees the slot and wakes the requests it lets run.
func (s slot) release() {
	s.a.mu.Lock()
	defer s.a.mu.Unlock()
	s.a.wake(s.a.gate.Release(s.tenant, s.write))
}

// wake tells the waiters of granted tickets (from Release or Cancel) that
// they run. The caller holds mu.
func (a *edgeState) wake(granted []admission.Ticket) {
	for _, t := range granted {
		close(a.waiting[t])
		delete(a.waiting, t)
	}
}

// admit waits for a slot for one request of tenant; an anonymous request
// (no verified token) takes its token from the anonymous bucket. It
// returns the slot to release when the request finishes, or the refusal
// and its shed reason.
func (a *edgeState) admit(ctx context.Context, tenant string, anonymous, write bool, bodyBytes int64) (slot, *apiError, string) {
	a.mu.Lock()
	d := a.gate.Admit(a.now(), admission.Request{Tenant: tenant, Anonymous: anonymous, Write: write, Cost: admission.Cost(bodyBytes)})
	switch d.Outcome {
	case admission.Run:
		a.mu.Unlock()
		return slot{a, tenant, write}, nil, ""
	case admission.Shed:
		a.mu.Unlock()
		return slot{}, refusalError(d.Refusal), d.Refusal.Reason
	}
	ready := make(chan struct{})
	a.waiting[d.Ticket] = ready
	wait := a.gate.Config().QueueWaitMax
	a.mu.Unlock()

	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ready:
		return slot{a, tenant, write}, nil, ""
	case <-timer.C:
	case <-ctx.Done():
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	granted, queued := a.gate.Cancel(tenant, d.Ticket)
	if !queued { // granted while we were giving up: take it
		return slot{a, tenant, write}, nil, ""
	}
	a.wake(granted) // leaving the queue may let a request queued behind us run
	delete(a.waiting, d.Ticket)
	r := admission.QueueTimeout()
	return slot{}, refusalError(r), r.Reason
}

// failed charges a failed token attempt to source; it returns the
// refusal to answer instead when the source's budget is spent.
func (a *edgeState) failed(source string) (admission.Refusal, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sources.Fail(a.now(), source)
}

// openSession takes an upload session for tenant (expiring idle ones
// first), starting the sweep if it does not run; closeSession ends it. stop is called, at most once and from
// another request's goroutine, if the table expires the session: it must
// make the upload give up promptly and must not block.
func (a *edgeState) openSession(tenant string, stop func()) (admission.SessionID, admission.Refusal) {
	a.mu.Lock()
	stops := a.expire()
	id, refusal := a.sessions.Open(a.now(), tenant)
	if !refusal.Refused() {
		a.stops[id] = stop
		if !a.sweeping && !a.closed {
			a.sweeping = true
			a.sweeps.Add(1)
			go a.sweep()
		}
	}
	a.mu.Unlock()
	runStops(stops)
	return id, refusal
}

// expire drops the sessions idle for SessionTTL and returns the stop
// funcs of their uploads, in the table's (sorted) order, for the caller
// to run once it released mu. The caller holds mu.
func (a *edgeState) expire() []func() {
	var stops []func()
	for _, id := range a.sessions.Expire(a.now()) {
		if stop := a.stops[id]; stop != nil {
			stops = append(stops, stop)
		}
		delete(a.stops, id)
	}
	return stops
}

// sweep expires idle sessions every sweepEvery, so that an expired
// session releases its slot and its upload stops within a period even
// when no other upload opens and nobody asks /readyz. It runs only while
// sessions are open (openSession starts it, it returns once the table is
// empty) or until close: an idle gateway keeps no goroutine. The time it
// gives the table is the gateway's clock's, as every caller's.
func (a *edgeState) sweep() {
	defer a.sweeps.Done()
	ticker := time.NewTicker(a.sweepEvery)
	defer ticker.Stop()
	for {
		select {
		case <-a.quit:
			a.mu.Lock()
			a.sweeping = false
			a.mu.Unlock()
			return
		case <-ticker.C:
		}
		a.mu.Lock()
		stops := a.expire()
		done := a.sessions.Len() == 0
		if done {
			a.sweeping = false
		}
		a.mu.Unlock()
		runStops(stops)
		if done {
			return
		}
	}
}

// close stops the sweep and waits for its goroutine to return; no sweep
// starts after it. It is safe to call twice.
func (a *edgeState) close() {
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		close(a.quit)
	}
	a.mu.Unlock()
	a.sweeps.Wait()
}

func runStops(stops []func()) {
	for _, stop := range stops {
		stop()
	}
}

// touchSession records progress on id; false when the table expired it
// (no body byte for SessionTTL), so the upload must stop.
func (a *edgeState) touchSession(id admission.SessionID) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sessions.Touch(a.now(), id)
}

func (a *edgeState) closeSession(id admission.SessionID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sessions.Close(id)
	delete(a.stops, id)
}

// ready is the edge's readiness and, when false, why.
func (a *edgeState) ready() (bool, string) {
	a.mu.Lock()
	stops := a.expire()
	ready, reason := admission.Ready(a.gate, a.sessions)
	a.mu.Unlock()
	runStops(stops)
	return ready, reason
}

func overloaded(msg string) *apiError {
	return &apiError{status: http.StatusServiceUnavailable, code: CodeOverloaded, message: msg, retryable: true, retryAfter: time.Second}
}

// refusalError is the envelope of a core/admission refusal.
func refusalError(r admission.Refusal) *apiError {
	switch r.Kind {
	case admission.KindOverQuota:
		msg := r.Detail + " is over its request quota"
		switch r.Reason {
		case ShedSourceOverQuota:
			msg = r.Detail + " made too many failed token attempts"
		case ShedSessionsTenant, ShedSessionsReserved, ShedTenantWrites:
			msg = r.Detail // which limit: its own, or the sessions kept for tenants holding none
		}
		if r.Detail == "anonymous reads" {
			msg = "anonymous reads are over their shared request quota (a token's tenant has its own)"
		}
		return &apiError{status: http.StatusTooManyRequests, code: CodeOverQuota, message: msg, retryable: true,
			retryAfter: r.RetryAfter, reason: edgeReason(r.Reason)}
	case admission.KindOverloaded:
		return &apiError{status: http.StatusServiceUnavailable, code: CodeOverloaded, message: r.Detail, retryable: true,
			retryAfter: max(r.RetryAfter, time.Second), reason: edgeReason(r.Reason)}
	case admission.KindUnauthorized:
		return &apiError{status: http.StatusUnauthorized, code: CodeUnauthorized, reason: r.Detail, message: "token rejected: " + r.Detail}
	case admission.KindTooLarge:
		return &apiError{status: http.StatusRequestEntityTooLarge, code: CodeTooLarge, message: r.Detail, reason: r.Reason}
	}
	return &apiError{status: http.StatusForbidden, code: CodeForbidden, reason: r.Detail, message: "token does not allow this request: " + r.Detail}
}

// edgeReason is the envelope's reason for a shed: the session and source
// refusals name theirs; the older quota and overload answers keep none, as
// before.
func edgeReason(reason string) string {
	switch reason {
	case ShedSourceOverQuota, ShedSessionsTenant, ShedSessionsFull, ShedSessionsReserved, ShedSessionExpired, ShedTenantWrites:
		return reason
	}
	return ""
}

// source is the client source a failed attempt is charged to: the remote
// host without its port.
func source(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}
