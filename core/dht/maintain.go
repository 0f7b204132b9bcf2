package dht

import (
	"fmt"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// providing is the set of addresses this node announces, with the time each
// is due for republishing. queue holds them in due order (append-only with
// lazy deletion: an entry whose due time no longer matches due[addr] is
// stale and skipped), so a tick never sorts or scans the whole set.
type providing struct {
	due   map[proto.Addr]env.Time
	queue []providingEntry
}

type providingEntry struct {
	addr proto.Addr
	due  env.Time
}

func newProviding() providing { return providing{due: map[proto.Addr]env.Time{}} }

// add schedules addr for republishing at due; false when the set is full.
func (p *providing) add(addr proto.Addr, due env.Time) bool {
	if _, ok := p.due[addr]; !ok && len(p.due) >= ProvidingMax {
		return false
	}
	p.due[addr] = due
	p.queue = append(p.queue, providingEntry{addr: addr, due: due})
	p.compact()
	return true
}

// compact drops stale queue entries once they outnumber live ones, so the
// queue stays within twice the set's bound.
func (p *providing) compact() {
	if len(p.queue) <= 2*len(p.due)+16 {
		return
	}
	live := p.queue[:0]
	for _, e := range p.queue {
		if p.due[e.addr] == e.due {
			live = append(live, e)
		}
	}
	clear(p.queue[len(live):])
	p.queue = live
}

// popDue returns the next address due at now, if any.
func (p *providing) popDue(now env.Time) (proto.Addr, bool) {
	for len(p.queue) > 0 {
		e := p.queue[0]
		if p.due[e.addr] != e.due {
			p.queue = p.queue[1:] // stale
			continue
		}
		if now.Before(e.due) {
			return proto.Addr{}, false
		}
		p.queue = p.queue[1:]
		return e.addr, true
	}
	return proto.Addr{}, false
}

func (p *providing) check() {
	if len(p.due) > ProvidingMax || len(p.queue) > 2*ProvidingMax+16 {
		panic(fmt.Sprintf("dht: providing %d addresses in a queue of %d", len(p.due), len(p.queue)))
	}
}

// armTick schedules the next maintenance tick with 10% seeded jitter, so
// that nodes started together do not tick together.
func (d *DHT) armTick() {
	d.tick = d.env.SetTimer(d.env.Rand().Jitter(d.cfg.maintenanceInterval(), 0.1), tagTick<<tagKindShift)
}

// maintain runs the periodic duties: drop expired records, rejoin when the
// table emptied, refresh stale buckets, republish due records, and export
// the gauges.
func (d *DHT) maintain() {
	now := d.env.Now()
	d.store.expire(now)
	if d.table.size == 0 {
		d.bootstrap()
	}
	d.refreshStale(now)
	if !d.cfg.RepublishOff {
		d.republish(now)
	}
	d.env.Metrics().Set(MetricProviderRecords, "", float64(d.store.len()))
	d.env.Metrics().Set(MetricBucketFillRatio, "", d.table.fillRatio())
	d.armTick()
}

// refreshStale looks up a random id in each bucket no lookup aimed at for
// RefreshInterval, at most RefreshPerTickMax per tick and only while at
// most half the lookup slots are busy (client lookups keep the rest).
func (d *DHT) refreshStale(now env.Time) {
	started := 0
	for b := 0; b < len(d.table.buckets) && started < RefreshPerTickMax; b++ {
		if len(d.lookups) >= LookupsInflightMax/2 {
			return
		}
		bk := &d.table.buckets[b]
		if bk.refreshed == 0 { // new bucket: its first refresh is due one interval on
			bk.refreshed = now
		}
		if now.Sub(bk.refreshed) < d.cfg.RefreshInterval {
			continue
		}
		d.startLookup(&lookup{purpose: purposeRefresh, target: d.table.randomIDInBucket(b, d.env.Rand())})
		started++
	}
}

// refreshEmpty runs once after the bootstrap self-lookup: every empty
// bucket shallower than the deepest one gets a lookup, so that each
// distance band has a contact if the network has one.
func (d *DHT) refreshEmpty() {
	for b := 0; b < len(d.table.buckets); b++ {
		if len(d.lookups) >= LookupsInflightMax/2 {
			return
		}
		if len(d.table.buckets[b].entries) == 0 {
			d.startLookup(&lookup{purpose: purposeRefresh, target: d.table.randomIDInBucket(b, d.env.Rand())})
		}
	}
}

// republish re-provides every address whose republish time came, while at
// most half the lookup slots are busy; the rest waits for the next tick.
func (d *DHT) republish(now env.Time) {
	for len(d.lookups) < LookupsInflightMax/2 {
		addr, ok := d.provs.popDue(now)
		if !ok {
			return
		}
		d.provs.add(addr, now.Add(d.cfg.RepublishInterval))
		d.provide(addr, nil)
	}
}
