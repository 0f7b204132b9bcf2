package admission

import (
	"time"

	"github.com/ron-network/ron/core/env"
)

// Request is one request asking the gate for a slot.
type Request struct {
	Tenant string
	// Anonymous: no verified token; the request takes its token from the
	// anonymous bucket and queues as Tenant.
	Anonymous bool
	Write     bool
	Cost      int // Cost(body bytes); at least 1
}

// Ticket names a queued request until it is granted or cancelled.
type Ticket uint64

// Outcome is what Admit decided.
type Outcome uint8

const (
	Run    Outcome = iota + 1 // a slot is taken: call Release when the request ends
	Queued                    // wait for Release to grant Ticket, or Cancel it
	Shed                      // refused: Refusal says why
)

// Decision is Admit's answer.
type Decision struct {
	Outcome Outcome
	Ticket  Ticket
	Refusal Refusal
}

type waiter struct {
	ticket Ticket
	write  bool
	cost   int
}

type tenantQueue struct {
	waiters []waiter
	deficit int
}

// Gate is omnigate's admission: a token bucket per tenant and one for
// anonymous reads, a global in-flight cap with ReadHeadroom slots reserved
// for reads, and per-tenant FIFO queues served by deficit round robin.
//
// Writes are shed before reads in two ways: a write may only run while
// fewer than InflightMax-ReadHeadroom requests run, so the headroom always
// admits reads; and Ready turns false as soon as writes would queue.
// No tenant runs more than WritesPerTenantMax writes at once: its further
// writes queue while other tenants' writes take the free write slots
// (doc.go, "Write slots per tenant").
type Gate struct {
	cfg       Config
	buckets   buckets
	anonymous bucket
	queues    map[string]*tenantQueue
	ring      []string // tenants with waiters, in DRR order
	cursor    int
	queued    int
	running   int
	writes    int // writes among running
	// queuedReads counts the reads among queued.
	queuedReads int
	// writers counts the running writes of each tenant that runs one
	// (no zero entries): at most WritesPerTenantMax each, summing to
	// writes, so the map holds at most InflightMax-ReadHeadroom entries.
	writers map[string]int
	next    Ticket
}

// NewGate returns a gate for cfg (defaults filled) whose buckets start
// full at now.
func NewGate(cfg Config, now env.Time) *Gate {
	cfg = cfg.WithDefaults()
	return &Gate{cfg: cfg, buckets: newBuckets(cfg.TenantRate, cfg.TenantBurst, cfg.TenantsMax),
		anonymous: bucket{tokens: cfg.AnonymousBurst, last: now}, queues: map[string]*tenantQueue{},
		writers: map[string]int{}}
}

// Config is the gate's configuration, defaults filled.
func (g *Gate) Config() Config { return g.cfg }

// Admit decides one request: Run (a slot is taken now), Queued (wait for
// the ticket) or Shed. Run and every granted ticket must be followed by
// exactly one Release with the same tenant and write class.
func (g *Gate) Admit(now env.Time, r Request) Decision {
	defer g.checkInvariants()
	if wait, ok := g.takeToken(now, r); !ok {
		detail := "tenant " + r.Tenant
		if r.Anonymous {
			detail = "anonymous reads"
		}
		return Decision{Outcome: Shed, Refusal: Refusal{Kind: KindOverQuota, Reason: ShedOverQuota, Detail: detail, RetryAfter: wait}}
	}
	// A request runs at once when a slot of its class is free for its
	// tenant and nothing queued could take it: a read passes queued writes
	// (they wait for a write slot, which a read in the headroom does not
	// take from them), and a write passes the queued writes of tenants at
	// WritesPerTenantMax (they wait for their own writes to end, not for
	// this slot).
	if g.canRunFor(r.Tenant, r.Write) && g.mayPass(r) {
		g.start(r.Tenant, r.Write)
		return Decision{Outcome: Run}
	}
	if g.queued >= g.cfg.QueueDepthMax {
		return Decision{Outcome: Shed, Refusal: Refusal{Kind: KindOverloaded, Reason: ShedOverload,
			Detail: "the request queue is full", RetryAfter: time.Second}}
	}
	g.next++
	g.enqueue(r.Tenant, waiter{ticket: g.next, write: r.Write, cost: max(1, min(r.Cost, CostMax))})
	return Decision{Outcome: Queued, Ticket: g.next}
}

// QueueTimeout is the refusal of a ticket cancelled after QueueWaitMax.
func QueueTimeout() Refusal {
	return Refusal{Kind: KindOverloaded, Reason: ShedQueueTimeout, Detail: "no capacity within the queue wait limit", RetryAfter: time.Second}
}

// Release ends a running request of tenant and class write and returns
// the tickets granted by it, in grant order: each now runs (and is
// released in turn).
func (g *Gate) Release(tenant string, write bool) []Ticket {
	defer g.checkInvariants()
	if g.running == 0 || (write && g.writers[tenant] == 0) {
		panic("admission: Release without a running request of its tenant and class")
	}
	g.running--
	if write {
		g.writes--
		if g.writers[tenant]--; g.writers[tenant] == 0 {
			delete(g.writers, tenant)
		}
	}
	return g.dispatch()
}

// Cancel removes a queued ticket (its wait ended: timeout or the client
// went away). It reports false when the ticket is not queued, that is
// when it was granted already: the caller then runs it (or releases it).
//
// Removing a waiter can leave a request that may run now at the head of
// its tenant's queue (a read queued behind a write its tenant's
// WritesPerTenantMax held back): Cancel then grants the free slots as
// Release does and returns the tickets granted, in grant order, which
// the caller must start as it starts Release's. Nobody else would start
// them until some request ends, and meanwhile every newcomer queues
// behind them and the gate reports Saturated on an idle node.
func (g *Gate) Cancel(tenant string, t Ticket) (granted []Ticket, ok bool) {
	defer g.checkInvariants()
	q := g.queues[tenant]
	if q == nil {
		return nil, false
	}
	for i, w := range q.waiters {
		if w.ticket == t {
			q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
			g.dequeued(w)
			if len(q.waiters) == 0 {
				g.dropTenant(tenant)
			}
			if g.headRunnable() {
				granted = g.dispatch()
			}
			return granted, true
		}
	}
	return nil, false
}

// Queued is the number of waiting requests; Running of running ones.
func (g *Gate) Queued() int  { return g.queued }
func (g *Gate) Running() int { return g.running }

// Saturated reports whether a write of a tenant running none would queue
// now. Writes queued only because their tenants run WritesPerTenantMax do
// not saturate the gate: another tenant's write still runs at once, so
// the node stays ready (a tenant at its bound must not take the node out
// of a load balancer).
func (g *Gate) Saturated() bool { return !g.canRun(true) || g.headRunnable() }

// takeToken takes one token from the tenant's bucket or the anonymous one.
func (g *Gate) takeToken(now env.Time, r Request) (time.Duration, bool) {
	if r.Anonymous {
		return g.anonymous.take(now, g.cfg.AnonymousRate, g.cfg.AnonymousBurst)
	}
	return g.buckets.take(now, r.Tenant)
}

func (g *Gate) canRun(write bool) bool {
	if write && !g.cfg.Bug.SharedHeadroom {
		return g.running < g.cfg.InflightMax-g.cfg.ReadHeadroom
	}
	return g.running < g.cfg.InflightMax
}

// canRunFor reports whether a request of tenant and class write may take
// a slot now: one of its class is free and, for a write, the tenant runs
// fewer than WritesPerTenantMax writes.
func (g *Gate) canRunFor(tenant string, write bool) bool {
	return g.canRun(write) && (!write || g.writers[tenant] < g.cfg.WritesPerTenantMax)
}

// mayPass reports whether r may run before the queued requests: nothing
// is queued; or r is a read and no read is queued; or r's tenant has
// nothing queued and no queued tenant's head could run now (each waits
// for a slot of its class or for its own writes to end), so r takes a
// slot no waiter could have taken. The last case matters once a tenant at
// WritesPerTenantMax queues: its writes, and a read behind them, must not
// make every other tenant's request queue until some slot is released.
// The loop visits at most the tenants with waiters (at most
// QueueDepthMax), as checkInvariants does.
func (g *Gate) mayPass(r Request) bool {
	if g.queued == 0 || (!r.Write && g.queuedReads == 0) {
		return true
	}
	return g.queues[r.Tenant] == nil && !g.headRunnable()
}

// headRunnable reports whether some queued tenant's head could take a
// slot now (one of its class is free and, for a write, its tenant is
// below WritesPerTenantMax).
func (g *Gate) headRunnable() bool {
	for _, t := range g.ring {
		if g.canRunFor(t, g.queues[t].waiters[0].write) {
			return true
		}
	}
	return false
}

func (g *Gate) start(tenant string, write bool) {
	g.running++
	if write {
		g.writes++
		g.writers[tenant]++
	}
}

func (g *Gate) enqueue(tenant string, w waiter) {
	q := g.queues[tenant]
	if q == nil {
		q = &tenantQueue{}
		g.queues[tenant] = q
		g.ring = append(g.ring, tenant)
	}
	q.waiters = append(q.waiters, w)
	g.queued++
	if !w.write {
		g.queuedReads++
	}
}

func (g *Gate) dequeued(w waiter) {
	g.queued--
	if !w.write {
		g.queuedReads--
	}
}

func (g *Gate) dropTenant(tenant string) {
	delete(g.queues, tenant)
	for i, t := range g.ring {
		if t == tenant {
			g.ring = append(g.ring[:i], g.ring[i+1:]...)
			if g.cursor > i {
				g.cursor--
			}
			break
		}
	}
	if g.cursor >= len(g.ring) {
		g.cursor = 0
	}
}

// dispatch grants free slots to queued waiters by deficit round robin:
// each visit adds quantum to the tenant's deficit, and its head waiters run
// while their cost fits the deficit and a slot of their class is free. A
// head that waits only for deficit is progress (its deficit grows and costs
// are bounded by CostMax); the loop stops when every tenant's head waits
// for a slot of its class, or no slot is left.
//
// The loop can also end on a full circle of blocked tenants while read
// slots are free (writes wait for a write slot). The circle then starts at
// the cursor; when its first tenant is one that was just granted, the
// cursor moves past it, or that tenant would be visited first again and
// win every write slot that frees (the starvation the fairness check of
// sim/check catches).
func (g *Gate) dispatch() []Ticket {
	var granted []Ticket
	blocked := 0
	firstGranted := false // the first tenant of the blocked circle was granted on its visit
	for g.queued > 0 && g.canRun(false) && blocked < len(g.ring) {
		tenant := g.ring[g.cursor]
		q := g.queues[tenant]
		q.deficit += quantum
		before := len(granted)
		for len(q.waiters) > 0 && q.waiters[0].cost <= q.deficit && g.canRunFor(tenant, q.waiters[0].write) {
			w := q.waiters[0]
			q.waiters = q.waiters[1:]
			q.deficit -= w.cost
			g.dequeued(w)
			g.start(tenant, w.write)
			granted = append(granted, w.ticket)
		}
		if len(q.waiters) == 0 {
			g.dropTenant(tenant) // the cursor now names the next tenant
			blocked = 0
			continue
		}
		if head := q.waiters[0]; !g.canRunFor(tenant, head.write) {
			if blocked == 0 {
				firstGranted = len(granted) > before
			}
			blocked++
			q.deficit = min(q.deficit, head.cost) // no banking while blocked
		} else {
			blocked = 0
		}
		g.cursor = (g.cursor + 1) % len(g.ring)
	}
	if blocked > 0 && blocked >= len(g.ring) && firstGranted && !g.cfg.Bug.StickyCursor {
		g.cursor = (g.cursor + 1) % len(g.ring)
	}
	return granted
}

// checkInvariants: the counters agree with the queues, every tenant in the
// ring has waiters, the classes respect the caps, and the gate is work
// conserving: no queued tenant's head could take a free slot (else it
// waits for a Release that may never come while newcomers queue behind
// it).
func (g *Gate) checkInvariants() {
	if g.headRunnable() {
		panic("admission: a queued request could run but was not granted")
	}
	queued, reads := 0, 0
	for _, t := range g.ring {
		q := g.queues[t]
		if q == nil || len(q.waiters) == 0 {
			panic("admission: ring names tenant " + t + " without waiters")
		}
		queued += len(q.waiters)
		for _, w := range q.waiters {
			if !w.write {
				reads++
			}
		}
	}
	if queued != g.queued || reads != g.queuedReads || len(g.ring) != len(g.queues) || g.queued > g.cfg.QueueDepthMax {
		panic("admission: counters disagree with the queues")
	}
	if g.running < 0 || g.running > g.cfg.InflightMax || g.writes < 0 || g.writes > g.running ||
		(g.writes > g.cfg.InflightMax-g.cfg.ReadHeadroom && !g.cfg.Bug.SharedHeadroom) {
		panic("admission: running requests exceed their caps")
	}
	g.checkWriters()
	if len(g.ring) > 0 && g.cursor >= len(g.ring) {
		panic("admission: cursor out of range")
	}
	if len(g.buckets.m) > g.cfg.TenantsMax {
		panic("admission: more buckets than TenantsMax")
	}
}

// checkWriters: the per-tenant running writes sum to writes, none is
// zero and none exceeds WritesPerTenantMax.
func (g *Gate) checkWriters() {
	sum := 0
	// map order ok: a sum and a bound check, the same in any order
	for _, n := range g.writers {
		if n <= 0 || n > g.cfg.WritesPerTenantMax {
			panic("admission: a tenant's running writes exceed WritesPerTenantMax")
		}
		sum += n
	}
	if sum != g.writes {
		panic("admission: per-tenant running writes disagree with writes")
	}
}
