package check

import (
	"fmt"
	"slices"
	"time"

	"github.com/ron-network/ron/sim/workload"
)

// fromLog are the answers to a claim or set that only the applied log can
// give: the write committed, or the state refused it (taken, not_found,
// not_owner, stale_seq). bad_signature, invalid_name and too_large are
// refused at ingress and prove no leader.
var fromLog = map[string]bool{"": true, "taken": true, "not_found": true, "not_owner": true, "stale_seq": true}

// Span is a half-open stretch [From, To) of simulated time.
type Span struct{ From, To time.Duration }

// WriteGap returns the longest failover of a registry run: the longest
// span within [from, to] in which no claim or set was answered from the
// log, counting from from to the first such answer (the first election)
// and from the last one to to (a failover that never ended), and when
// that span began. Time inside noQuorum (sorted, disjoint spans in which
// faults left no majority of replicas up and connected) is not counted:
// no election can end there, so it says nothing about failover speed.
func WriteGap(h *workload.History, from, to time.Duration, noQuorum []Span) (gap, at time.Duration) {
	var returns []time.Duration
	for _, op := range h.Ops {
		if op.Unknown() || (op.Kind != workload.OpClaim && op.Kind != workload.OpSet) {
			continue
		}
		if code, _ := op.Output["error"].(string); !fromLog[code] {
			continue
		}
		if t := time.Duration(*op.Return); t >= from && t <= to {
			returns = append(returns, t)
		}
	}
	slices.Sort(returns)
	prev := from
	for _, t := range append(returns, to) {
		if d := t - prev - overlap(noQuorum, prev, t); d > gap {
			gap, at = d, prev
		}
		prev = t
	}
	return gap, at
}

// overlap is how much of [a, b) the sorted, disjoint spans cover.
func overlap(spans []Span, a, b time.Duration) time.Duration {
	var d time.Duration
	for _, s := range spans {
		if lo, hi := max(s.From, a), min(s.To, b); hi > lo {
			d += hi - lo
		}
	}
	return d
}

// RegistryLatency judges a registry run against its latency budgets: the
// commit p99 (seconds, of commits observations; no commit is a failure:
// nothing was measured) at most commitMax, and the longest failover
// (WriteGap over the workload's [from, to], time without a quorum not
// counted) at most electionMax.
func RegistryLatency(h *workload.History, from, to time.Duration, noQuorum []Span, commitP99 float64, commits uint64, commitMax, electionMax time.Duration) Result {
	const name = "registry_latency"
	if commits == 0 {
		return Result{Name: name, Detail: "no commit was observed (registry_commit_latency_seconds is empty)"}
	}
	p99 := time.Duration(commitP99 * float64(time.Second))
	gap, at := WriteGap(h, from, to, noQuorum)
	figures := fmt.Sprintf("commit p99 %v (budget %v, %d commits); longest failover %v from %v (bound %v)",
		p99.Round(time.Microsecond), commitMax, commits, gap.Round(time.Millisecond), at.Round(time.Millisecond), electionMax)
	if len(noQuorum) > 0 {
		var lost time.Duration
		for _, s := range noQuorum {
			lost += s.To - s.From
		}
		figures += fmt.Sprintf("; %v without a quorum of replicas not counted", lost.Round(time.Millisecond))
	}
	switch {
	case p99 > commitMax:
		return Result{Name: name, Detail: "commit p99 over budget: " + figures}
	case gap > electionMax:
		return Result{Name: name, Detail: "no write answered from the log for longer than the election bound: " + figures}
	}
	return Result{Name: name, OK: true, Detail: figures}
}
