package check

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/ron-network/ron/core/admission"
	"github.com/ron-network/ron/sim/workload"
)

// Edge check bounds (the figures each check states).
const (
	// FairnessQuantum is core/admission's DRR quantum: the deficit a
	// tenant earns per round. Two tenants continuously backlogged with
	// requests of one class are granted units that differ by at most
	// FairnessQuantum plus the largest cost granted (the DRR bound).
	FairnessQuantum = 1
	// ReadAvailabilityMin is the fraction of reads that must be served in
	// the seconds in which writes were shed.
	ReadAvailabilityMin = 0.99
	// ReadWindow is the width of the windows read availability looks at.
	ReadWindow = time.Second
	// ReadsSeenMin is how many reads the windows with shed writes must
	// hold for read availability to be judged at all.
	ReadsSeenMin = 50
)

// EdgeEventKind is what happened in a node's admission queue.
type EdgeEventKind uint8

const (
	EdgeEnqueue    EdgeEventKind = iota + 1 // a request queued for a slot
	EdgeGrant                               // the queue's head of Tenant was granted a slot
	EdgeCancel                              // a queued request gave up (queue timeout)
	EdgeWriteStart                          // a write of Tenant took a slot (at once or granted)
	EdgeWriteEnd                            // a running write of Tenant released its slot
)

// EdgeEvent is one change of a node's admission queue, in order.
type EdgeEvent struct {
	Node   int
	At     time.Duration
	Kind   EdgeEventKind
	Tenant string
	Write  bool
	Cost   int
}

// ReadySample is a node's edge readiness at one moment.
type ReadySample struct {
	Node      int
	At        time.Duration
	Ready     bool
	Reason    string
	Saturated bool // writes would queue
	Exhausted bool // every upload session is open
}

// pairState is the DRR comparison of two tenants since both became
// backlogged with requests of one class.
type pairState struct {
	active bool
	units  [2]int
}

// CheckFairness replays each node's queue events: whenever two tenants
// are both backlogged and every request they have queued is of one class
// (all reads or all writes: a write waits for a write slot a read does not
// need, so mixed classes are not comparable), the units granted to each
// from that moment on differ by at most FairnessQuantum plus the largest
// cost granted. A tenant running writesPerTenantMax writes is not
// backlogged for a write slot (the gate holds its writes back until one of
// its own ends: core/admission's per-tenant write bound), so a pair with
// such a tenant queuing writes is compared afresh once it drops below.
// A run in which no two tenants were ever backlogged together fails: the
// check would have seen nothing.
//
// What it does not see: a request left queued while a slot it could take
// is free (a tenant at its bound, or one queuing both classes, is left
// out of the comparison, and a read stuck behind its tenant's held-back
// writes went unnoticed here). That is core/admission's work-conservation
// invariant, checked after every gate call of every simulated node (a
// violation panics, failing the run), not a property of this replay.
func CheckFairness(events []EdgeEvent, writesPerTenantMax int) Result {
	res := Result{Name: "fairness"}
	byNode := map[int][]EdgeEvent{}
	for _, e := range events {
		byNode[e.Node] = append(byNode[e.Node], e)
	}
	nodes := make([]int, 0, len(byNode))
	for n := range byNode {
		nodes = append(nodes, n)
	}
	sort.Ints(nodes)
	compared, worst, costMax, grants := 0, 0, 1, 0
	for _, n := range nodes {
		c, w, m, g, why := fairnessOfNode(byNode[n], writesPerTenantMax)
		compared, worst, costMax, grants = compared+c, max(worst, w), max(costMax, m), grants+g
		if why != "" {
			res.Detail = fmt.Sprintf("n%d: %s", n+1, why)
			return res
		}
	}
	if compared == 0 {
		res.Detail = fmt.Sprintf("no two tenants were ever backlogged together (%d queue grants): nothing hit a limit", grants)
		return res
	}
	res.OK = true
	res.Detail = fmt.Sprintf("%d queue grants, %d grants compared between backlogged tenants; largest gap %d units (bound quantum %d + largest cost %d)",
		grants, compared, worst, FairnessQuantum, costMax)
	return res
}

// fairnessOfNode replays one node's events.
func fairnessOfNode(events []EdgeEvent, writesPerTenantMax int) (compared, worst, costMax, grants int, why string) {
	queues := map[string][]EdgeEvent{}
	writing := map[string]int{} // running writes per tenant
	pairs := map[[2]string]*pairState{}
	var pairKeys [][2]string // creation order: deterministic, unlike the map's
	uniform := func(t string) (write bool, ok bool) {
		q := queues[t]
		if len(q) == 0 {
			return false, false
		}
		for _, e := range q[1:] {
			if e.Write != q[0].Write {
				return false, false
			}
		}
		if q[0].Write && writesPerTenantMax > 0 && writing[t] >= writesPerTenantMax {
			return false, false // held back by its own writes, not waiting for a slot
		}
		return q[0].Write, true
	}
	refresh := func() {
		tenants := make([]string, 0, len(queues))
		for t, q := range queues {
			if len(q) > 0 {
				tenants = append(tenants, t)
			}
		}
		slices.Sort(tenants)
		for _, key := range pairKeys {
			p := pairs[key]
			wa, oka := uniform(key[0])
			wb, okb := uniform(key[1])
			if !oka || !okb || wa != wb {
				p.active = false
			}
		}
		for i, a := range tenants {
			for _, b := range tenants[i+1:] {
				wa, oka := uniform(a)
				wb, okb := uniform(b)
				p := pairs[[2]string{a, b}]
				if p == nil {
					p = &pairState{}
					pairs[[2]string{a, b}] = p
					pairKeys = append(pairKeys, [2]string{a, b})
				}
				if oka && okb && wa == wb && !p.active {
					*p = pairState{active: true}
				}
			}
		}
	}
	for _, e := range events {
		switch e.Kind {
		case EdgeEnqueue:
			queues[e.Tenant] = append(queues[e.Tenant], e)
		case EdgeCancel:
			q := queues[e.Tenant]
			// a cancelled request of this class: drop the oldest of it
			// (which one does not change the class mix)
			for i := range q {
				if q[i].Write == e.Write {
					queues[e.Tenant] = append(q[:i:i], q[i+1:]...)
					break
				}
			}
		case EdgeWriteStart:
			writing[e.Tenant]++
		case EdgeWriteEnd:
			writing[e.Tenant]--
		case EdgeGrant:
			grants++
			costMax = max(costMax, e.Cost)
			for _, key := range pairKeys {
				p := pairs[key]
				if !p.active || (key[0] != e.Tenant && key[1] != e.Tenant) {
					continue
				}
				side := 0
				if key[1] == e.Tenant {
					side = 1
				}
				p.units[side] += e.Cost
				compared++
				gap := p.units[0] - p.units[1]
				if gap < 0 {
					gap = -gap
				}
				worst = max(worst, gap)
				if gap > FairnessQuantum+costMax {
					return compared, worst, costMax, grants, fmt.Sprintf("at %v tenants %s and %s, both backlogged, were granted %d and %d units: gap %d beyond the DRR bound %d",
						e.At, key[0], key[1], p.units[0], p.units[1], gap, FairnessQuantum+costMax)
				}
			}
			// the granted request is the oldest of its class: the gate
			// queues a tenant's reads and writes in two FIFOs, and a
			// read passes the tenant's writes that cannot run
			q := queues[e.Tenant]
			for i := range q {
				if q[i].Write == e.Write {
					queues[e.Tenant] = append(q[:i:i], q[i+1:]...)
					break
				}
			}
		}
		refresh()
	}
	return compared, worst, costMax, grants, ""
}

// writeShed reports whether a refusal sheds a write for lack of capacity.
func writeShed(r admission.Refusal) bool {
	switch r.Reason {
	case admission.ShedOverload, admission.ShedQueueTimeout, admission.ShedSessionsFull, admission.ShedSessionsTenant, admission.ShedSessionsReserved,
		admission.ShedTenantWrites:
		return true
	}
	return false
}

// ownRefusal reports whether a refusal is the client's own doing (its
// tenant's or source's budget, its token, the policy), not the node's
// capacity.
func ownRefusal(r admission.Refusal) bool {
	switch r.Reason {
	case admission.ShedOverQuota, admission.ShedSourceOverQuota, admission.ShedTokenDenied, admission.ShedPolicyDenied:
		return true
	}
	return false
}

// CheckReadAvailability: in every ReadWindow in which at least one write
// was shed for capacity, the reads issued (except those refused for the
// client's own budget or token) were served (passed the edge and the node
// answered) at ReadAvailabilityMin or better, counted over all such
// windows. Fails when no write was shed or too few reads were seen.
func CheckReadAvailability(records []workload.EdgeRecord) Result {
	res := Result{Name: "read_availability"}
	shedWindows := map[int64]bool{}
	sheds := 0
	for i := range records {
		r := &records[i]
		if r.Write && writeShed(r.Refusal) {
			shedWindows[int64(r.Call/ReadWindow)] = true
			sheds++
		}
	}
	if sheds == 0 {
		res.Detail = "no write was shed: nothing hit a limit"
		return res
	}
	reads, served := 0, 0
	for i := range records {
		r := &records[i]
		if r.Write || !shedWindows[int64(r.Call/ReadWindow)] || ownRefusal(r.Refusal) {
			continue
		}
		reads++
		if r.Served() {
			served++
		}
	}
	if reads < ReadsSeenMin {
		res.Detail = fmt.Sprintf("%d writes shed in %d windows but only %d reads issued in them (want %d)", sheds, len(shedWindows), reads, ReadsSeenMin)
		return res
	}
	share := float64(served) / float64(reads)
	res.Detail = fmt.Sprintf("%d writes shed in %d one-second windows; %d of %d reads in them served (%.4f, bound %.2f)",
		sheds, len(shedWindows), served, reads, share, ReadAvailabilityMin)
	res.OK = share >= ReadAvailabilityMin
	return res
}

// Readiness is what the readiness check judges.
type Readiness struct {
	Samples []ReadySample
	// RefusedWhileReady counts capacity refusals (overload, queue timeout,
	// sessions full) answered while the edge reported itself ready.
	RefusedWhileReady int
	// Capacity counts those refusals in all.
	Capacity int
	// EndReady[i] is node i's readiness after the load stopped and
	// drained (true for a node that is down).
	EndReady []bool
}

// CheckReadiness: readiness tells the truth in both directions. Every
// sample that saw the gate saturated or the session table full says "not
// ready" with that reason, and every other sample says ready; no capacity
// refusal was answered while ready; every node is ready again once the
// load drained. A run whose nodes never became unready fails: nothing hit a
// limit.
func CheckReadiness(in Readiness) Result {
	res := Result{Name: "readiness"}
	unready := 0
	for _, s := range in.Samples {
		want := !(s.Saturated || s.Exhausted)
		if s.Ready != want {
			res.Detail = fmt.Sprintf("n%d at %v: ready=%v (%q) with saturated=%v sessions exhausted=%v", s.Node+1, s.At, s.Ready, s.Reason, s.Saturated, s.Exhausted)
			return res
		}
		if !s.Ready {
			unready++
			if (s.Saturated && s.Reason != admission.NotReadySaturated) || (!s.Saturated && s.Reason != admission.NotReadySessions) {
				res.Detail = fmt.Sprintf("n%d at %v: not ready with reason %q", s.Node+1, s.At, s.Reason)
				return res
			}
		}
	}
	if in.RefusedWhileReady > 0 {
		res.Detail = fmt.Sprintf("%d of %d capacity refusals were answered while the node reported ready", in.RefusedWhileReady, in.Capacity)
		return res
	}
	for i, ok := range in.EndReady {
		if !ok {
			res.Detail = fmt.Sprintf("n%d is still not ready after the load drained", i+1)
			return res
		}
	}
	if unready == 0 {
		res.Detail = fmt.Sprintf("no node was ever unready in %d samples: nothing hit a limit", len(in.Samples))
		return res
	}
	res.OK = true
	res.Detail = fmt.Sprintf("%d of %d samples not ready (saturated or sessions exhausted, with the reason); %d capacity refusals, none while ready; every node ready after the load",
		unready, len(in.Samples), in.Capacity)
	return res
}

// CheckRefusals: every refusal a client received is typed (a Kind and a
// reason of admission.ShedReasons), and the refusals by reason equal
// omnigate_shed_total{reason} summed over the nodes. Fails when nothing was
// refused.
func CheckRefusals(seen []admission.Refusal, counted map[string]float64) Result {
	res := Result{Name: "refusals"}
	if len(seen) == 0 {
		res.Detail = "no request was refused: nothing hit a limit"
		return res
	}
	byReason := map[string]float64{}
	for _, r := range seen {
		if r.Kind == 0 || !slices.Contains(admission.ShedReasons, r.Reason) {
			res.Detail = fmt.Sprintf("untyped refusal %+v", r)
			return res
		}
		byReason[r.Reason]++
	}
	var parts []string
	for _, reason := range admission.ShedReasons {
		if byReason[reason] != counted[reason] {
			res.Detail = fmt.Sprintf("%v refusals %q answered but omnigate_shed_total counts %v", byReason[reason], reason, counted[reason])
			return res
		}
		if byReason[reason] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%v", reason, byReason[reason]))
		}
	}
	res.OK = true
	res.Detail = fmt.Sprintf("%d refusals, every one typed and counted: %v", len(seen), parts)
	return res
}
