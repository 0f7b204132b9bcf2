package registry

import (
	"time"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/ron-network/ron/core/env"
)

// TenantRatesMax bounds the tenants whose write rate a leader tracks
// (doc.go, "Tenant write rate"). A new tenant past it first drops every
// tenant whose bucket has refilled (dropping one loses nothing: a new one
// starts full), and, if none has, the one whose bucket is fullest (ties
// broken by digest), which can only favour that tenant.
const TenantRatesMax = 4096

// TenantWriteRateMax bounds Config.TenantWriteRate for its callers'
// checks: a write a microsecond, more than a registry commits.
const TenantWriteRateMax = 1e6

// reasonTenantRate labels registry_rejects_total for a write refused by
// the leader's per-tenant write rate.
const reasonTenantRate = "tenant_rate"

// tenantRates is a leader's per-tenant token buckets over name writes,
// kept as each tenant's "theoretical arrival time" (GCRA): a bucket with
// burst B and one token every interval is the time due at which it is
// full again. A write at now is admitted when due-now <= (B-1)*interval,
// and moves due to max(due, now)+interval. Integer time only: every
// leader of the same inputs decides alike (nothing here is replicated, but
// the simulator replays it).
type tenantRates struct {
	interval time.Duration // one token; 0: off
	slack    time.Duration // (burst-1) * interval
	due      map[[TenantDigestBytes]byte]env.Time
}

func newTenantRates(rate float64, burst int) tenantRates {
	if !(rate > 0) { // NaN too
		return tenantRates{}
	}
	interval := max(time.Duration(float64(time.Second)/rate), 1)
	return tenantRates{interval: interval, slack: time.Duration(max(burst, 1)-1) * interval,
		due: map[[TenantDigestBytes]byte]env.Time{}}
}

// on reports whether a rate is set.
func (t *tenantRates) on() bool { return t.interval > 0 }

// reset forgets every bucket (a leader change: doc.go).
func (t *tenantRates) reset() {
	if t.on() {
		clear(t.due)
	}
}

// take admits one write of tenant at now, or refuses it.
func (t *tenantRates) take(now env.Time, tenant [TenantDigestBytes]byte) bool {
	due, ok := t.due[tenant]
	if !ok {
		t.makeRoom(now)
	}
	due = max(due, now)
	if due.Sub(now) > t.slack {
		return false
	}
	t.due[tenant] = due.Add(t.interval)
	return true
}

// makeRoom drops buckets when the table is full (TenantRatesMax).
func (t *tenantRates) makeRoom(now env.Time) {
	if len(t.due) < TenantRatesMax {
		return
	}
	// The fallback's choice below is a minimum with ties broken by
	// digest, so it does not depend on map order either.
	// map order ok: deleting every full bucket is order-independent.
	for k, due := range t.due {
		if due <= now {
			delete(t.due, k)
		}
	}
	if len(t.due) < TenantRatesMax {
		return
	}
	var victim [TenantDigestBytes]byte
	var victimDue env.Time
	found := false
	// map order ok: the choice is a minimum with ties broken by digest.
	for k, due := range t.due {
		if !found || due < victimDue || (due == victimDue && string(k[:]) < string(victim[:])) {
			victim, victimDue, found = k, due, true
		}
	}
	delete(t.due, victim)
}

// writeTenant is the tenant a leader charges for write o: a Claim's own
// tenant, a Set's name's creating tenant in the applied state. ok is
// false when no rate applies: no rate set, not the leader, below
// VersionQuota (no tenant reaches the leader), or no tenant.
func (r *Registry) writeTenant(o *op) (d [TenantDigestBytes]byte, ok bool) {
	if !r.rates.on() || !r.leading || r.m == nil || r.m.clusterVersion < VersionQuota {
		return d, false
	}
	switch o.kind {
	case opClaim:
		d = o.tenant
	case opSet:
		if rec := r.m.names[o.name]; rec != nil {
			d = rec.tenant
		}
	}
	return d, d != [TenantDigestBytes]byte{}
}

// overRate charges o's tenant one write and reports whether the tenant
// was over its rate (counted in registry_rejects_total{tenant_rate}).
func (r *Registry) overRate(o *op) bool {
	d, ok := r.writeTenant(o)
	if !ok || r.rates.take(r.env.Now(), d) {
		return false
	}
	r.env.Metrics().Add(MetricRejects, reasonTenantRate, 1)
	return true
}

// filterProposals drops, from a proposal raft forwarded to this leader
// (a follower's proposal made without a known leader, or a non-replica's
// forward the follower proposed), the entries whose tenant is over its
// rate. Such a write gets no answer here: its origin retries it, and its
// next attempt that reaches this leader directly is answered. It reports
// whether any entry is left.
func (r *Registry) filterProposals(m *pb.Message) bool {
	if m.GetType() != pb.MsgProp || !r.rates.on() || !r.leading {
		return true
	}
	kept := m.Entries[:0]
	for _, e := range m.Entries {
		if e.GetType() == pb.EntryNormal && len(e.GetData()) > 0 {
			if de, err := decodeEntry(e.GetData()); err == nil && de.op.kind.isWrite() && r.overRate(&de.op) {
				continue
			}
		}
		kept = append(kept, e)
	}
	m.Entries = kept
	return len(kept) > 0
}
