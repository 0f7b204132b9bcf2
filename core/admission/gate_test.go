package admission

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
)

// TestReadHeadroomDefaultIsReserved: a zero ReadHeadroom takes the
// default, so with the default cap writes stop at 192 running and reads
// still run up to 256 (the landed gateway left it at 0).
func TestReadHeadroomDefaultIsReserved(t *testing.T) {
	g := NewGate(Config{TenantBurst: 1e6, WritesPerTenantMax: -1}, 0)
	if got := g.Config().ReadHeadroom; got != ReadHeadroomDefault {
		t.Fatalf("ReadHeadroom %d, want %d", got, ReadHeadroomDefault)
	}
	writes := 0
	for g.Admit(0, Request{Tenant: "w", Write: true, Cost: 1}).Outcome == Run {
		writes++
	}
	if writes != InflightMaxDefault-ReadHeadroomDefault {
		t.Fatalf("%d writes ran, want %d", writes, InflightMaxDefault-ReadHeadroomDefault)
	}
	if !g.Saturated() {
		t.Fatal("writes queue but the gate is not saturated")
	}
	for i := 0; i < ReadHeadroomDefault; i++ {
		if d := g.Admit(0, Request{Tenant: "r", Cost: 1}); d.Outcome != Run {
			t.Fatalf("read %d did not run in the headroom: %+v", i, d)
		}
	}
	if d := g.Admit(0, Request{Tenant: "r", Cost: 1}); d.Outcome != Queued {
		t.Fatalf("read beyond the cap: %+v, want queued", d)
	}
	if c := (Config{ReadHeadroom: -1}).WithDefaults().ReadHeadroom; c != 0 {
		t.Fatalf("negative headroom gives %d, want none", c)
	}
}

// TestDRRInterleavesTenants: with one slot, tenant A queues five
// requests before B queues one; B is granted second, not sixth.
func TestDRRInterleavesTenants(t *testing.T) {
	g := NewGate(Config{InflightMax: 1}, 0)
	if g.Admit(0, Request{Tenant: "hog", Cost: 1}).Outcome != Run {
		t.Fatal("first request did not run")
	}
	owner := map[Ticket]string{}
	for i := 0; i < 5; i++ {
		owner[g.Admit(0, Request{Tenant: "A", Cost: 1}).Ticket] = "A"
	}
	owner[g.Admit(0, Request{Tenant: "B", Cost: 1}).Ticket] = "B"
	var order []string
	for len(order) < 6 {
		granted := g.Release("", false)
		if len(granted) != 1 {
			t.Fatalf("release granted %v, want one ticket", granted)
		}
		order = append(order, owner[granted[0]])
	}
	if order[0] != "A" || order[1] != "B" {
		t.Fatalf("grant order %v, want A then B first", order)
	}
}

// TestDRRSharesByCost: a tenant queuing 4-unit writes and one queuing
// 1-unit writes get about equal units, not equal requests.
func TestDRRSharesByCost(t *testing.T) {
	g := NewGate(Config{InflightMax: 1, ReadHeadroom: -1, TenantBurst: 1e6}, 0)
	g.Admit(0, Request{Tenant: "x", Write: true, Cost: 1})
	owner := map[Ticket]string{}
	running := "x" // the tenant of the one running write
	for i := 0; i < 40; i++ {
		owner[g.Admit(0, Request{Tenant: "big", Write: true, Cost: 4}).Ticket] = "big"
		owner[g.Admit(0, Request{Tenant: "small", Write: true, Cost: 1}).Ticket] = "small"
	}
	units := map[string]int{}
	for i := 0; i < 40; i++ {
		for _, tk := range g.Release(running, true) {
			running = owner[tk]
			if owner[tk] == "big" {
				units["big"] += 4
			} else {
				units["small"]++
			}
		}
	}
	if d := units["big"] - units["small"]; d > 4 || d < -4 {
		t.Fatalf("units %v differ by more than one maximal cost", units)
	}
}

func TestBucketRefillsAndCancel(t *testing.T) {
	g := NewGate(Config{TenantRate: 2, TenantBurst: 1, InflightMax: 1}, 0)
	if g.Admit(0, Request{Tenant: "t", Cost: 1}).Outcome != Run {
		t.Fatal("first request did not run")
	}
	d := g.Admit(0, Request{Tenant: "t", Cost: 1})
	if d.Outcome != Shed || d.Refusal.Reason != ShedOverQuota || d.Refusal.RetryAfter <= 0 || d.Refusal.RetryAfter > time.Second/2 {
		t.Fatalf("empty bucket: %+v", d)
	}
	half := env.Time(time.Second / 2)
	d = g.Admit(half, Request{Tenant: "t", Cost: 1})
	if d.Outcome != Queued {
		t.Fatalf("after refill with the slot taken: %+v, want queued", d)
	}
	if _, ok := g.Cancel("t", d.Ticket); !ok || g.Queued() != 0 {
		t.Fatal("cancel of a queued ticket failed")
	}
	if _, ok := g.Cancel("t", d.Ticket); ok {
		t.Fatal("a cancelled ticket was cancelled twice")
	}
	if granted := g.Release("t", false); len(granted) != 0 || g.Running() != 0 {
		t.Fatalf("release after cancel granted %v, running %d", granted, g.Running())
	}
}

func TestQueueFullIsOverload(t *testing.T) {
	g := NewGate(Config{InflightMax: 1, QueueDepthMax: 1}, 0)
	g.Admit(0, Request{Tenant: "t", Cost: 1})
	g.Admit(0, Request{Tenant: "t", Cost: 1})
	if d := g.Admit(0, Request{Tenant: "u", Cost: 1}); d.Outcome != Shed || d.Refusal.Kind != KindOverloaded || d.Refusal.Reason != ShedOverload {
		t.Fatalf("full queue: %+v", d)
	}
}

// TestSourcesChargeFailures: failures spend the source's budget, not
// anyone else's, and refill.
func TestSourcesChargeFailures(t *testing.T) {
	s := NewSources(Config{SourceFailureRate: 1, SourceFailureBurst: 2})
	for i := 0; i < 2; i++ {
		if _, over := s.Fail(0, "10.0.0.1"); over {
			t.Fatalf("failure %d refused within the burst", i)
		}
	}
	r, over := s.Fail(0, "10.0.0.1")
	if !over || r.Reason != ShedSourceOverQuota || r.Kind != KindOverQuota {
		t.Fatalf("spent budget: %+v %v", r, over)
	}
	if _, over := s.Fail(0, "10.0.0.2"); over {
		t.Fatal("another source was charged")
	}
	if _, over := s.Fail(env.Time(time.Second), "10.0.0.1"); over {
		t.Fatal("the budget did not refill")
	}
}

// TestDRRRotatesBlockedWriters: with the write slots full and read slots
// free, each write slot that frees goes to the next backlogged tenant in
// turn, not to the one granted last (the loop circles through tenants
// whose writes are blocked; the landed gateway's cursor came back to the
// tenant it had just granted).
func TestDRRRotatesBlockedWriters(t *testing.T) {
	g := NewGate(Config{InflightMax: 4, ReadHeadroom: 2, TenantBurst: 1e6, WritesPerTenantMax: -1}, 0)
	for i := 0; i < 2; i++ {
		if g.Admit(0, Request{Tenant: "x", Write: true, Cost: 1}).Outcome != Run {
			t.Fatal("write slot not taken")
		}
	}
	owner := map[Ticket]string{}
	for i := 0; i < 3; i++ {
		for _, tenant := range []string{"A", "B", "C"} {
			owner[g.Admit(0, Request{Tenant: tenant, Write: true, Cost: 1}).Ticket] = tenant
		}
	}
	var order []string
	running := []string{"x", "x"} // tenants of the running writes, oldest first
	for len(order) < 9 {
		granted := g.Release(running[0], true)
		running = running[1:]
		if len(granted) != 1 {
			t.Fatalf("release granted %v, want one", granted)
		}
		order = append(order, owner[granted[0]])
		running = append(running, owner[granted[0]])
	}
	for i := 3; i < len(order); i++ {
		if order[i] == order[i-1] {
			t.Fatalf("grant order %v: a tenant was granted twice in a row while others waited", order)
		}
	}
}

// TestTenantCannotHoldEveryWriteSlot: a tenant that keeps opening slow
// writes (the red-team's slow-body holder) runs at most
// WritesPerTenantMax of them and queues the rest; another tenant's write
// still runs at once, and so does a third's, instead of queueing until
// QueueWaitMax behind a backlog of the holder's writes. The old gate let
// one tenant run all 192 write slots.
func TestTenantCannotHoldEveryWriteSlot(t *testing.T) {
	g := NewGate(Config{TenantBurst: 1e6}, 0)
	capPerTenant := g.Config().WritesPerTenantMax
	writeSlots := InflightMaxDefault - ReadHeadroomDefault
	if capPerTenant != writeSlots/WritesPerTenantShare {
		t.Fatalf("WritesPerTenantMax %d, want a quarter of %d", capPerTenant, writeSlots)
	}
	held, queued := 0, []Ticket{}
	for i := 0; i < writeSlots+10; i++ {
		switch d := g.Admit(0, Request{Tenant: "carol", Write: true, Cost: 1}); d.Outcome {
		case Run:
			held++
		case Queued:
			queued = append(queued, d.Ticket)
		default:
			t.Fatalf("carol's write %d shed: %+v", i, d)
		}
	}
	if held != capPerTenant {
		t.Fatalf("carol runs %d writes, want at most WritesPerTenantMax %d", held, capPerTenant)
	}
	if g.Saturated() {
		t.Fatal("the gate reports saturated while only carol's own bound holds her writes back")
	}
	if d := g.Admit(0, Request{Tenant: "bob", Write: true, Cost: 1}); d.Outcome != Run {
		t.Fatalf("bob's write while carol holds %d and queues %d: %+v, want it to run", held, len(queued), d)
	}
	if d := g.Admit(0, Request{Tenant: "dave", Cost: 1}); d.Outcome != Run {
		t.Fatalf("dave's read: %+v, want it to run", d)
	}
	// One of carol's writes ends: her own queued write takes its place.
	if granted := g.Release("carol", true); len(granted) != 1 || granted[0] != queued[0] {
		t.Fatalf("carol's release granted %v, want her first queued ticket %d", granted, queued[0])
	}
	// Bob's ends: nothing of carol's may take it (she is at her cap).
	if granted := g.Release("bob", true); len(granted) != 0 {
		t.Fatalf("bob's release granted %v to a tenant at its cap", granted)
	}
	if d := g.Admit(0, Request{Tenant: "bob", Write: true, Cost: 1}); d.Outcome != Run {
		t.Fatalf("bob's second write: %+v, want it to run", d)
	}
	if c := (Config{WritesPerTenantMax: -1}).WithDefaults().WritesPerTenantMax; c != writeSlots {
		t.Fatalf("a negative WritesPerTenantMax gives %d, want the write slots %d", c, writeSlots)
	}
	if c := (Config{InflightMax: 4, ReadHeadroom: 2}).WithDefaults().WritesPerTenantMax; c != 1 {
		t.Fatalf("two write slots give WritesPerTenantMax %d, want at least 1", c)
	}
}

// TestReadPassesATenantHeldBackByItsBound: a tenant at its write bound
// with a read queued after its queued writes does not make every other
// tenant's read queue while a slot is free (with the first version of the
// bound, a queued read alone sent them to the queue until a release),
// and its read runs as soon as a slot frees.
func TestReadPassesATenantHeldBackByItsBound(t *testing.T) {
	g := NewGate(Config{InflightMax: 4, ReadHeadroom: 1, WritesPerTenantMax: 1, TenantBurst: 1e6}, 0)
	if g.Admit(0, Request{Tenant: "carol", Write: true, Cost: 1}).Outcome != Run {
		t.Fatal("carol's first write did not run")
	}
	if g.Admit(0, Request{Tenant: "carol", Write: true, Cost: 1}).Outcome != Queued {
		t.Fatal("carol's second write was not held back by her bound")
	}
	for i := 0; i < 3; i++ {
		if g.Admit(0, Request{Tenant: "x", Cost: 1}).Outcome != Run {
			t.Fatalf("read %d did not run", i)
		}
	}
	read := g.Admit(0, Request{Tenant: "carol", Cost: 1})
	if read.Outcome != Queued {
		t.Fatal("carol's read ran with every slot taken")
	}
	if granted := g.Release("x", false); len(granted) != 1 || granted[0] != read.Ticket {
		t.Fatalf("a slot freed and granted %v, want carol's read %d (it passes her writes held back by her bound)", granted, read.Ticket)
	}
	if granted := g.Release("x", false); len(granted) != 0 {
		t.Fatalf("a slot freed and granted %v: carol's queued write is at her bound", granted)
	}
	if d := g.Admit(0, Request{Tenant: "bob", Cost: 1}); d.Outcome != Run {
		t.Fatalf("bob's read with a slot free: %+v, want it to run", d)
	}
	if g.Saturated() != true {
		t.Fatal("every slot is taken but the gate is not saturated")
	}
}

// capReadSetup: 4 slots, headroom 1, WritesPerTenantMax 1. carol runs one
// write and queues a second (held back by her bound), three reads of x
// fill the other slots, carol's read queues (no slot) after her write,
// then x's reads end. It returns carol's queued write and read, and the
// tickets the releases granted.
func capReadSetup(t *testing.T) (g *Gate, write, read Ticket, granted []Ticket) {
	t.Helper()
	g = NewGate(Config{InflightMax: 4, ReadHeadroom: 1, WritesPerTenantMax: 1, TenantBurst: 1e6}, 0)
	if g.Admit(0, Request{Tenant: "carol", Write: true, Cost: 1}).Outcome != Run {
		t.Fatal("carol's first write did not run")
	}
	w := g.Admit(0, Request{Tenant: "carol", Write: true, Cost: 1})
	if w.Outcome != Queued {
		t.Fatalf("carol's second write: %+v, want queued by her bound", w)
	}
	for i := 0; i < 3; i++ {
		if g.Admit(0, Request{Tenant: "x", Cost: 1}).Outcome != Run {
			t.Fatalf("x's read %d did not run", i)
		}
	}
	r := g.Admit(0, Request{Tenant: "carol", Cost: 1})
	if r.Outcome != Queued {
		t.Fatalf("carol's read with every slot taken: %+v, want queued", r)
	}
	for i := 0; i < 3; i++ {
		granted = append(granted, g.Release("x", false)...)
	}
	return g, w.Ticket, r.Ticket, granted
}

// TestCancelLeavesNothingRunnableQueued: carol's write held back by her
// bound is cancelled (its queue wait ran out, or the client went away);
// her read queued after it is not left queued with slots free: a release
// or the cancel granted it (Cancel returns what it grants). Before, the
// read waited behind the write, Cancel granted nothing, the read stayed
// queued with 3 of 4 slots free, every newcomer (bob's write, dave's
// read) queued behind it, and the gate reported Saturated (/readyz not
// ready) until some request ended.
func TestCancelLeavesNothingRunnableQueued(t *testing.T) {
	g, write, read, granted := capReadSetup(t)
	more, ok := g.Cancel("carol", write)
	if !ok {
		t.Fatal("carol's queued write was not cancelled")
	}
	granted = append(granted, more...)
	if len(granted) != 1 || granted[0] != read || g.Queued() != 0 || g.Running() != 2 {
		t.Errorf("granted %v (want carol's read %d once), %d queued, %d of 4 running", granted, read, g.Queued(), g.Running())
	}
	if g.Saturated() {
		t.Errorf("saturated with %d of 4 slots running", g.Running())
	}
	if d := g.Admit(0, Request{Tenant: "bob", Write: true, Cost: 1}); d.Outcome != Run {
		t.Errorf("bob's write with %d of 4 slots running: %+v", g.Running(), d)
	}
	if d := g.Admit(0, Request{Tenant: "dave", Cost: 1}); d.Outcome != Run {
		t.Errorf("dave's read with %d of 4 slots running: %+v", g.Running(), d)
	}
}

// TestReadPassesItsOwnTenantsHeldBackWrites: reads are not bounded per
// tenant, so a tenant's read does not wait behind its own writes held
// back by WritesPerTenantMax: its queued read is granted when a slot
// frees, and a new one runs at once. Before, both waited in the
// tenant's one FIFO behind the write until QueueWaitMax (503) with read
// slots free.
func TestReadPassesItsOwnTenantsHeldBackWrites(t *testing.T) {
	g, write, read, granted := capReadSetup(t)
	if len(granted) != 1 || granted[0] != read {
		t.Errorf("x's releases granted %v, want carol's read %d", granted, read)
	}
	if d := g.Admit(0, Request{Tenant: "carol", Cost: 1}); d.Outcome != Run {
		t.Errorf("carol's new read with %d of 4 slots running: %+v", g.Running(), d)
	}
	// Her held-back write still goes first once one of her writes ends.
	if granted := g.Release("carol", true); len(granted) != 1 || granted[0] != write {
		t.Errorf("carol's write ended and granted %v, want her queued write %d", granted, write)
	}
}

// TestHeldBackWritesCannotFillTheQueue: a tenant at WritesPerTenantMax
// queues at most QueuedWritesPerTenantMax writes; its next write is its
// own refusal (429 ShedTenantWrites), and the shared queue keeps room for
// every other tenant once the gate saturates. Before, carol's held-back
// writes filled the whole queue (they do not saturate the gate), and at
// the next real saturation every other tenant was shed 503 at once.
func TestHeldBackWritesCannotFillTheQueue(t *testing.T) {
	g := NewGate(Config{InflightMax: 8, ReadHeadroom: 4, WritesPerTenantMax: 1, QueueDepthMax: 8, TenantBurst: 1e6}, 0)
	if g.Config().QueuedWritesPerTenantMax != 2 {
		t.Fatalf("QueuedWritesPerTenantMax %d, want a quarter of QueueDepthMax 8", g.Config().QueuedWritesPerTenantMax)
	}
	if g.Admit(0, Request{Tenant: "carol", Write: true, Cost: 1}).Outcome != Run {
		t.Fatal("carol's first write did not run")
	}
	for i := 0; i < 2; i++ {
		if d := g.Admit(0, Request{Tenant: "carol", Write: true, Cost: 1}); d.Outcome != Queued {
			t.Fatalf("carol's held-back write %d: %+v, want queued", i, d)
		}
	}
	for i := 0; i < 6; i++ {
		d := g.Admit(0, Request{Tenant: "carol", Write: true, Cost: 1})
		if d.Outcome != Shed || d.Refusal.Kind != KindOverQuota || d.Refusal.Reason != ShedTenantWrites {
			t.Fatalf("carol's write beyond her queued bound: %+v, want 429 %s", d, ShedTenantWrites)
		}
	}
	if g.Saturated() {
		t.Fatal("saturated by carol's own bound")
	}
	// The write slots fill (three tenants), then the reads: the others
	// still find room in the queue.
	for _, tenant := range []string{"a", "b", "c"} {
		if g.Admit(0, Request{Tenant: tenant, Write: true, Cost: 1}).Outcome != Run {
			t.Fatalf("%s's write did not run", tenant)
		}
	}
	for i := 0; i < 4; i++ {
		if g.Admit(0, Request{Tenant: "r", Cost: 1}).Outcome != Run {
			t.Fatalf("read %d did not run", i)
		}
	}
	for i, tenant := range []string{"bob", "dave", "erin", "fred", "gail", "hank"} {
		if d := g.Admit(0, Request{Tenant: tenant, Write: i%2 == 0, Cost: 1}); d.Outcome != Queued {
			t.Fatalf("%s's request at saturation: %+v, want queued (%d of %d queued)", tenant, d, g.Queued(), g.Config().QueueDepthMax)
		}
	}
	// No bound of its own when asked for none.
	if c := (Config{QueuedWritesPerTenantMax: -1}).WithDefaults().QueuedWritesPerTenantMax; c != QueueDepthMaxDefault {
		t.Fatalf("a negative QueuedWritesPerTenantMax gives %d, want QueueDepthMax", c)
	}
}

// TestGateRandomOpsConserveWork drives a small gate (tenants at their
// write bound, slots in short supply) with random admits, releases and
// cancels, starting every ticket granted by Release or Cancel, and checks
// after each call that no queued request could take a free slot and that
// a request with a free slot of its class runs at once. The first version
// of the per-tenant bound failed both (a read behind a held-back write).
func TestGateRandomOpsConserveWork(t *testing.T) {
	type run struct {
		tenant string
		write  bool
	}
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		g := NewGate(Config{InflightMax: 6, ReadHeadroom: 2, WritesPerTenantMax: 1, QueueDepthMax: 12, TenantBurst: 1e6}, 0)
		var running []run
		queued := map[Ticket]run{}
		var tickets []Ticket // queued, in issue order
		start := func(granted []Ticket) {
			for _, tk := range granted {
				running = append(running, queued[tk])
				delete(queued, tk)
			}
		}
		for step := 0; step < 2000; step++ {
			switch op := rng.IntN(10); {
			case op < 5:
				r := run{tenant: []string{"a", "b", "c"}[rng.IntN(3)], write: rng.IntN(2) == 0}
				free := g.canRunFor(r.tenant, r.write)
				d := g.Admit(0, Request{Tenant: r.tenant, Write: r.write, Cost: 1 + rng.IntN(3)})
				if free && d.Outcome != Run {
					t.Fatalf("seed %d step %d: %+v with a free slot of its class: %+v", seed, step, r, d)
				}
				switch d.Outcome {
				case Run:
					running = append(running, r)
				case Queued:
					queued[d.Ticket] = r
					tickets = append(tickets, d.Ticket)
				}
			case op < 8 && len(running) > 0:
				i := rng.IntN(len(running))
				r := running[i]
				running = append(running[:i], running[i+1:]...)
				start(g.Release(r.tenant, r.write))
			case len(tickets) > 0:
				i := rng.IntN(len(tickets))
				tk := tickets[i]
				tickets = append(tickets[:i], tickets[i+1:]...)
				if r, ok := queued[tk]; ok {
					granted, ok := g.Cancel(r.tenant, tk)
					if !ok {
						t.Fatalf("seed %d step %d: queued ticket %d not cancelled", seed, step, tk)
					}
					delete(queued, tk)
					start(granted)
				}
			}
			if g.headRunnable() {
				t.Fatalf("seed %d step %d: a queued request could run (%d running, %d queued)", seed, step, g.Running(), g.Queued())
			}
			if g.Running() != len(running) || g.Queued() != len(queued) {
				t.Fatalf("seed %d step %d: gate runs %d queues %d, the caller %d and %d", seed, step, g.Running(), g.Queued(), len(running), len(queued))
			}
		}
	}
}

// A tenant's writes queued while its own reads filled the write slots
// count against QueuedWritesPerTenantMax too. The first version checked
// the bound only for a write arriving with its tenant at
// WritesPerTenantMax: these 16 writes all queued, and once the reads
// ended and one ran, 15 sat held back in the shared queue against a
// bound of 4 (a review's scenario).
func TestQueuedWritesBoundedWhateverTheTenantRuns(t *testing.T) {
	g := NewGate(Config{InflightMax: 8, ReadHeadroom: 2, QueueDepthMax: 16, TenantBurst: 1e6}, 0)
	c := g.Config()
	if c.WritesPerTenantMax != 1 || c.QueuedWritesPerTenantMax != 4 {
		t.Fatalf("limits %d/%d, want 1/4", c.WritesPerTenantMax, c.QueuedWritesPerTenantMax)
	}
	for i := 0; i < 6; i++ {
		if g.Admit(0, Request{Tenant: "a", Cost: 1}).Outcome != Run {
			t.Fatalf("a's read %d did not run", i)
		}
	}
	queued, shed := 0, 0
	for i := 0; i < 16; i++ {
		switch d := g.Admit(0, Request{Tenant: "a", Write: true, Cost: 1}); {
		case d.Outcome == Queued:
			queued++
		case d.Outcome == Shed && d.Refusal.Reason == ShedTenantWrites:
			shed++
		default:
			t.Fatalf("a's write %d: %+v", i, d)
		}
	}
	if queued != 4 || shed != 12 {
		t.Fatalf("a's writes with the write slots full: %d queued, %d refused %s; want 4 and 12", queued, shed, ShedTenantWrites)
	}
	for i := 0; i < 6; i++ {
		g.Release("a", false)
	}
	if g.Queued() != 3 {
		t.Fatalf("%d requests queued after a's reads ended, want a's 3 held-back writes", g.Queued())
	}
}
