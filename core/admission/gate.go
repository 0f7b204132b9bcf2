package admission

import (
	"fmt"
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

// tenantQueue is one tenant's waiters: its reads and its writes in two
// FIFOs (tickets grow, so the older head is the one with the smaller
// ticket). A read passes its tenant's queued writes that cannot run now
// (held back by the tenant's WritesPerTenantMax or waiting for a write
// slot): reads are not bounded per tenant, and a read does not take the
// slot such a write waits for. Otherwise the older head goes first.
type tenantQueue struct {
	reads   []waiter
	writes  []waiter
	deficit int
}

func (q *tenantQueue) len() int { return len(q.reads) + len(q.writes) }

// older is the older of the two heads (q is not empty).
func (q *tenantQueue) older() waiter {
	if len(q.writes) == 0 || (len(q.reads) > 0 && q.reads[0].ticket < q.writes[0].ticket) {
		return q.reads[0]
	}
	return q.writes[0]
}

// pop removes w, one of the two heads.
func (q *tenantQueue) pop(w waiter) {
	if w.write {
		q.writes = q.writes[1:]
	} else {
		q.reads = q.reads[1:]
	}
}

// remove removes the waiter of ticket t, reporting whether it was queued.
func (q *tenantQueue) remove(t Ticket) bool {
	for _, l := range []*[]waiter{&q.reads, &q.writes} {
		for i, w := range *l {
			if w.ticket == t {
				*l = append((*l)[:i], (*l)[i+1:]...)
				return true
			}
		}
	}
	return false
}

// Gate is omnigate's admission: a token bucket per tenant and one for
// anonymous reads, a global in-flight cap with ReadHeadroom slots reserved
// for reads, and per-tenant queues (a FIFO of reads and one of writes)
// served by deficit round robin. It is work conserving: after every call
// no queued request could take a free slot, so a request runs at once
// whenever a slot of its class is free for its tenant.
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
	// tenant: nothing queued could take that slot (checkInvariants), so it
	// passes only requests that wait for something else (queued writes
	// wait for a write slot, which a read in the headroom does not take
	// from them, or for their own tenant's writes to end).
	if g.canRunFor(r.Tenant, r.Write) {
		g.start(r.Tenant, r.Write)
		return Decision{Outcome: Run}
	}
	if q := g.queues[r.Tenant]; r.Write && q != nil && len(q.writes) >= g.cfg.QueuedWritesPerTenantMax {
		// A tenant's queued writes must not fill the queue every tenant
		// shares (doc.go, "Write slots per tenant"). A plain bound, not
		// only while the tenant runs its WritesPerTenantMax: writes queued
		// while its own reads filled the write slots are held back by its
		// bound once one of them runs, and were not counted before.
		return Decision{Outcome: Shed, Refusal: Refusal{Kind: KindOverQuota, Reason: ShedTenantWrites, RetryAfter: time.Second,
			Detail: fmt.Sprintf("tenant %s runs %d writes and queues %d more, its limits", r.Tenant, g.writers[r.Tenant], len(q.writes))}}
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
// Should removing a waiter leave a request that may run now at the head
// of its tenant's queue, Cancel grants the free slots as Release does and
// returns the tickets granted, in grant order, which the caller must
// start as it starts Release's: nobody else would start them until some
// request ends, and meanwhile the gate would report Saturated on an idle
// node. (With a FIFO per class a removal exposes only a head of the same
// tenant and class as the one removed, which could not run either, so
// this grants nothing today; the first version of the per-tenant bound
// kept one FIFO, and a read behind a cancelled write was left queued.)
func (g *Gate) Cancel(tenant string, t Ticket) (granted []Ticket, ok bool) {
	defer g.checkInvariants()
	q := g.queues[tenant]
	if q == nil {
		return nil, false
	}
	if !q.remove(t) {
		return nil, false
	}
	g.queued--
	if q.len() == 0 {
		g.dropTenant(tenant)
	}
	if g.headRunnable() {
		granted = g.dispatch()
	}
	return granted, true
}

// Queued is the number of waiting requests; Running of running ones.
func (g *Gate) Queued() int  { return g.queued }
func (g *Gate) Running() int { return g.running }

// Saturated reports whether a write of a tenant running none would queue
// now, that is whether every write slot is taken. Writes queued only
// because their tenants run WritesPerTenantMax do not saturate the gate:
// another tenant's write still runs at once, so the node stays ready (a
// tenant at its bound must not take the node out of a load balancer).
func (g *Gate) Saturated() bool { return !g.canRun(true) }

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

// headRunnable reports whether some queued tenant has a head that could
// take a slot now. It visits at most the tenants with waiters (at most
// QueueDepthMax).
func (g *Gate) headRunnable() bool {
	for _, t := range g.ring {
		if _, ok := g.head(t, g.queues[t]); ok {
			return true
		}
	}
	return false
}

// head is the waiter of tenant's non-empty queue q to serve next, and
// whether a slot of its class is free for it: the older of the two FIFO
// heads when it may run, else the other head when it may (a read passing
// writes that cannot run), else the older head, not runnable.
func (g *Gate) head(tenant string, q *tenantQueue) (waiter, bool) {
	w := q.older()
	if g.canRunFor(tenant, w.write) {
		return w, true
	}
	if w.write && len(q.reads) > 0 && g.canRun(false) {
		return q.reads[0], true
	}
	return w, false
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
	if w.write {
		q.writes = append(q.writes, w)
	} else {
		q.reads = append(q.reads, w)
	}
	g.queued++
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
// each visit adds quantum to the tenant's deficit, and its head waiters
// (head: a read may pass its tenant's writes that cannot run) run while
// their cost fits the deficit and a slot of their class is free. A head
// that waits only for deficit is progress (its deficit grows and costs
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
		for q.len() > 0 {
			w, ok := g.head(tenant, q)
			if !ok || w.cost > q.deficit {
				break
			}
			q.pop(w)
			q.deficit -= w.cost
			g.queued--
			g.start(tenant, w.write)
			granted = append(granted, w.ticket)
		}
		if q.len() == 0 {
			g.dropTenant(tenant) // the cursor now names the next tenant
			blocked = 0
			continue
		}
		if head, ok := g.head(tenant, q); !ok {
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
	queued := 0
	for _, t := range g.ring {
		q := g.queues[t]
		if q == nil || q.len() == 0 {
			panic("admission: ring names tenant " + t + " without waiters")
		}
		queued += q.len()
		for i, w := range q.reads {
			if w.write || (i > 0 && w.ticket <= q.reads[i-1].ticket) {
				panic("admission: tenant " + t + "'s reads FIFO is out of order")
			}
		}
		for i, w := range q.writes {
			if !w.write || (i > 0 && w.ticket <= q.writes[i-1].ticket) {
				panic("admission: tenant " + t + "'s writes FIFO is out of order")
			}
		}
	}
	if queued != g.queued || len(g.ring) != len(g.queues) || g.queued > g.cfg.QueueDepthMax {
		panic("admission: counters disagree with the queues")
	}
	if g.headRunnable() {
		panic("admission: a queued request could run but was not granted")
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
