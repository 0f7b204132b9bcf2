package gateway

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// Admission defaults (omnigate, DESIGN 5.7).
const (
	TenantRateDefault    = 200.0 // requests per second per tenant
	TenantBurstDefault   = 400.0
	TenantsMaxDefault    = 4096
	InflightMaxDefault   = 256
	ReadHeadroomDefault  = 64
	QueueDepthMaxDefault = 1024
	QueueWaitMaxDefault  = 2 * time.Second
	// CostBytesUnit: a write costs one unit per started MiB of body (plus
	// one), so deficit round robin shares bandwidth, not request counts.
	CostBytesUnit = 1 << 20
	// quantum is the deficit a tenant earns per round.
	quantum = 1

	// AnonymousRateDefault (requests per second) is the rate of the one
	// bucket that every read without a verified token shares: 25 times a
	// tenant's and about a quarter of the small GETs one node serves on 2
	// cores (BENCHMARKS.md), so public reads are not held to one tenant's
	// quota yet cannot take the whole node from the tenants. Its burst
	// defaults to two seconds' worth (at least one request).
	AnonymousRateDefault = 5000.0
)

// AdmissionConfig configures omnigate. Zero values take the defaults.
type AdmissionConfig struct {
	TenantRate    float64       // token bucket refill, requests per second
	TenantBurst   float64       // token bucket size
	TenantsMax    int           // buckets kept; beyond it a full bucket is recycled
	InflightMax   int           // requests running at once
	ReadHeadroom  int           // slots of InflightMax only reads may take
	QueueDepthMax int           // requests waiting for a slot, all tenants
	QueueWaitMax  time.Duration // longest wait for a slot before 503

	// AnonymousRate (requests per second) and AnonymousBurst size the one
	// bucket that every read without a verified token shares, apart from
	// every tenant's (a token's tenant "public" included). Such reads
	// still pass the in-flight cap and its read headroom, and queue, like
	// any other.
	AnonymousRate  float64
	AnonymousBurst float64
}

func (c AdmissionConfig) withDefaults() AdmissionConfig {
	if c.TenantRate <= 0 {
		c.TenantRate = TenantRateDefault
	}
	if c.TenantBurst <= 0 {
		c.TenantBurst = max(TenantBurstDefault, c.TenantRate)
	}
	if c.AnonymousRate <= 0 {
		c.AnonymousRate = AnonymousRateDefault
	}
	if c.AnonymousBurst <= 0 {
		c.AnonymousBurst = max(1, 2*c.AnonymousRate)
	}
	if c.TenantsMax <= 0 {
		c.TenantsMax = TenantsMaxDefault
	}
	if c.InflightMax <= 0 {
		c.InflightMax = InflightMaxDefault
	}
	if c.ReadHeadroom < 0 || c.ReadHeadroom >= c.InflightMax {
		c.ReadHeadroom = min(ReadHeadroomDefault, c.InflightMax/4)
	}
	if c.QueueDepthMax <= 0 {
		c.QueueDepthMax = QueueDepthMaxDefault
	}
	if c.QueueWaitMax <= 0 {
		c.QueueWaitMax = QueueWaitMaxDefault
	}
	return c
}

// Shed reasons of omnigate_shed_total.
const (
	ShedOverQuota    = "over_quota"
	ShedOverload     = "overload"
	ShedQueueTimeout = "queue_timeout"
	ShedBodyTooLarge = "body_too_large"
)

type bucket struct {
	tokens float64
	last   time.Time
}

type waiter struct {
	write   bool
	cost    int
	granted bool
	ready   chan struct{}
}

type tenantQueue struct {
	waiters []*waiter
	deficit int
}

// admission is omnigate: a token bucket per tenant and one shared by
// anonymous reads (429 when empty), a global in-flight cap of which
// ReadHeadroom slots only reads may use, and, when no slot is free,
// per-tenant FIFO queues served by deficit round robin, so one tenant's
// burst cannot starve another's requests (anonymous reads queue as the
// tenant PublicTenant). A full queue or a wait beyond QueueWaitMax is shed
// with 503.
//
// It is guarded by one mutex: the critical sections are a few map and
// slice operations, far cheaper than the requests they admit.
type admission struct {
	cfg     AdmissionConfig
	now     func() time.Time
	mu      sync.Mutex
	buckets map[string]*bucket
	queues  map[string]*tenantQueue
	ring    []string // tenants with waiters, in DRR order
	cursor  int
	queued  int
	running int

	// anonymous is the bucket of requests without a verified token; it is
	// kept out of buckets so that no tenant name can reach it.
	anonymous bucket
}

func newAdmission(cfg AdmissionConfig, now func() time.Time) *admission {
	cfg = cfg.withDefaults()
	return &admission{cfg: cfg, now: now, buckets: map[string]*bucket{}, queues: map[string]*tenantQueue{},
		anonymous: bucket{tokens: cfg.AnonymousBurst, last: now()}}
}

// admit waits for a slot for one request of tenant; an anonymous request
// (no verified token) takes its token from the anonymous bucket, and
// queues as tenant. It returns the release function to call when the
// request finishes, or the shed error and reason.
func (a *admission) admit(ctx context.Context, tenant string, anonymous, write bool, bodyBytes int64) (func(), *apiError, string) {
	a.mu.Lock()
	if wait, ok := a.takeToken(tenant, anonymous); !ok {
		a.mu.Unlock()
		message := "tenant " + tenant + " is over its request quota"
		if anonymous {
			message = "anonymous reads are over their shared request quota (a token's tenant has its own)"
		}
		return nil, &apiError{status: http.StatusTooManyRequests, code: CodeOverQuota,
			message: message, retryable: true, retryAfter: wait}, ShedOverQuota
	}
	if a.queued == 0 && a.canRun(write) {
		a.running++
		a.mu.Unlock()
		return a.releaser(), nil, ""
	}
	if a.queued >= a.cfg.QueueDepthMax {
		a.mu.Unlock()
		return nil, overloaded("the request queue is full"), ShedOverload
	}
	w := &waiter{write: write, cost: 1 + int(max(bodyBytes, 0)/CostBytesUnit), ready: make(chan struct{})}
	a.enqueue(tenant, w)
	a.mu.Unlock()

	timer := time.NewTimer(a.cfg.QueueWaitMax)
	defer timer.Stop()
	select {
	case <-w.ready:
		return a.releaser(), nil, ""
	case <-timer.C:
	case <-ctx.Done():
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if w.granted { // granted while we were giving up: take it
		return a.releaser(), nil, ""
	}
	a.dequeue(tenant, w)
	return nil, overloaded("no capacity within the queue wait limit"), ShedQueueTimeout
}

func overloaded(msg string) *apiError {
	return &apiError{status: http.StatusServiceUnavailable, code: CodeOverloaded, message: msg, retryable: true, retryAfter: time.Second}
}

// takeToken takes one token from tenant's bucket, or from the anonymous
// one; when empty it returns how long until one is available.
func (a *admission) takeToken(tenant string, anonymous bool) (time.Duration, bool) {
	now := a.now()
	if anonymous {
		return a.anonymous.take(now, a.cfg.AnonymousRate, a.cfg.AnonymousBurst)
	}
	b := a.buckets[tenant]
	if b == nil {
		a.recycleBucket()
		b = &bucket{tokens: a.cfg.TenantBurst, last: now}
		a.buckets[tenant] = b
	}
	return b.take(now, a.cfg.TenantRate, a.cfg.TenantBurst)
}

// take refills b at rate up to burst and takes one token; when empty it
// returns how long until one is available.
func (b *bucket) take(now time.Time, rate, burst float64) (time.Duration, bool) {
	b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*rate)
	b.last = now
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) / rate * float64(time.Second)), false
	}
	b.tokens--
	return 0, true
}

// recycleBucket keeps the bucket map within TenantsMax by dropping a bucket
// that has refilled completely (dropping it loses nothing: a new one starts
// full). If none has, the oldest is dropped, which can only favour that
// tenant.
func (a *admission) recycleBucket() {
	if len(a.buckets) < a.cfg.TenantsMax {
		return
	}
	now := a.now()
	var oldest string
	var oldestAt time.Time
	// map order ok: any refilled bucket is as good as another, and the
	// oldest is unique up to ties that do not matter
	for t, b := range a.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*a.cfg.TenantRate >= a.cfg.TenantBurst {
			delete(a.buckets, t)
			return
		}
		if oldest == "" || b.last.Before(oldestAt) {
			oldest, oldestAt = t, b.last
		}
	}
	delete(a.buckets, oldest)
}

func (a *admission) canRun(write bool) bool {
	if write {
		return a.running < a.cfg.InflightMax-a.cfg.ReadHeadroom
	}
	return a.running < a.cfg.InflightMax
}

func (a *admission) enqueue(tenant string, w *waiter) {
	q := a.queues[tenant]
	if q == nil {
		q = &tenantQueue{}
		a.queues[tenant] = q
		a.ring = append(a.ring, tenant)
	}
	q.waiters = append(q.waiters, w)
	a.queued++
}

func (a *admission) dequeue(tenant string, w *waiter) {
	q := a.queues[tenant]
	if q == nil {
		return
	}
	for i, x := range q.waiters {
		if x == w {
			q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
			a.queued--
			break
		}
	}
	if len(q.waiters) == 0 {
		a.dropTenant(tenant)
	}
}

func (a *admission) dropTenant(tenant string) {
	delete(a.queues, tenant)
	for i, t := range a.ring {
		if t == tenant {
			a.ring = append(a.ring[:i], a.ring[i+1:]...)
			if a.cursor > i {
				a.cursor--
			}
			break
		}
	}
	if a.cursor >= len(a.ring) {
		a.cursor = 0
	}
}

func (a *admission) releaser() func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			a.running--
			a.dispatch()
			a.checkInvariants()
			a.mu.Unlock()
		})
	}
}

// dispatch grants free slots to queued waiters by deficit round robin:
// each visit adds quantum to the tenant's deficit, and its head waiters run
// while their cost fits the deficit and a slot of their class is free. A
// head that waits only for deficit is progress (its deficit grows and costs
// are bounded); the loop stops when every tenant's head waits for a slot of
// its class, or no slot is left.
func (a *admission) dispatch() {
	blocked := 0
	for a.queued > 0 && a.canRun(false) && blocked < len(a.ring) {
		tenant := a.ring[a.cursor]
		q := a.queues[tenant]
		q.deficit += quantum
		for len(q.waiters) > 0 && q.waiters[0].cost <= q.deficit && a.canRun(q.waiters[0].write) {
			w := q.waiters[0]
			q.waiters = q.waiters[1:]
			q.deficit -= w.cost
			a.queued--
			a.running++
			w.granted = true
			close(w.ready)
		}
		if len(q.waiters) == 0 {
			a.dropTenant(tenant) // the cursor now names the next tenant
			blocked = 0
			continue
		}
		if head := q.waiters[0]; !a.canRun(head.write) {
			blocked++
			q.deficit = min(q.deficit, head.cost) // no banking while blocked
		} else {
			blocked = 0
		}
		a.cursor = (a.cursor + 1) % len(a.ring)
	}
}

// saturated reports whether writes would queue now (readiness turns false
// so that load balancers steer new work elsewhere).
func (a *admission) saturated() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.queued > 0 || !a.canRun(true)
}

// checkInvariants: the counters agree with the queues, and every tenant in
// the ring has waiters. Cheap (one pass over the tenants with waiters).
// The caller holds mu.
func (a *admission) checkInvariants() {
	queued := 0
	for _, t := range a.ring {
		q := a.queues[t]
		if q == nil || len(q.waiters) == 0 {
			panic("gateway: admission ring names tenant " + t + " without waiters")
		}
		queued += len(q.waiters)
	}
	if queued != a.queued || len(a.ring) != len(a.queues) || a.running < 0 || a.running > a.cfg.InflightMax {
		panic("gateway: admission counters disagree with the queues")
	}
	if len(a.ring) > 0 && a.cursor >= len(a.ring) {
		panic("gateway: admission cursor out of range")
	}
}
