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

// Stranded counts the claims and sets invoked in [from, to) on a node
// that could reach a quorum from the call until window later (the
// client's timeout; apart[i]: the sorted, disjoint spans in which node i
// was down, paused or cut off from every majority of the replicas,
// including every span without a quorum; a node past its end is never
// apart) and, of them, those the registry never answered: ended with an
// unknown outcome or unavailable, as a write ends at its deadline
// (OpTimeout) when no leader took it. A healthy registry strands few of
// them: those an election caught (a leader crashed or cut off) and those
// that no retry could save in time. Retries that stop working
// strand many more, while the commit p99, which times only the answered
// writes, stays under any budget of OpTimeout or more.
func Stranded(h *workload.History, from, to time.Duration, apart [][]Span, window time.Duration) (stranded, writes int) {
	for _, op := range h.Ops {
		if op.Kind != workload.OpClaim && op.Kind != workload.OpSet {
			continue
		}
		t := time.Duration(op.Call)
		if t < from || t >= to || op.Node >= 0 && op.Node < len(apart) && touches(apart[op.Node], t, t+window) {
			continue
		}
		writes++
		if code, _ := op.Output["error"].(string); op.Unknown() || code == "unavailable" {
			stranded++
		}
	}
	return stranded, writes
}

// touches reports whether one of the spans has a moment in [a, b].
func touches(spans []Span, a, b time.Duration) bool {
	for _, s := range spans {
		if s.From <= b && s.To > a {
			return true
		}
	}
	return false
}

// RegistryLatency judges a registry run against its latency budgets: the
// commit p99 (seconds, of commits observations; no commit is a failure:
// nothing was measured) at most commitMax, the longest failover
// (WriteGap over the workload's [from, to], time without a quorum not
// counted) at most electionMax, and the share of the writes invoked on a
// node that could reach a quorum that ended unanswered (Stranded, apart
// per node, window the client's timeout) at most strandedMax. The
// commit p99 times only answered writes, and a write is answered within
// OpTimeout or not at all, so a budget of OpTimeout or more cannot fail:
// the stranded share is what still sees a registry that stops retrying.
func RegistryLatency(h *workload.History, from, to time.Duration, noQuorum []Span, apart [][]Span, window time.Duration, commitP99 float64, commits uint64, commitMax, electionMax time.Duration, strandedMax float64) Result {
	const name = "registry_latency"
	if commits == 0 {
		return Result{Name: name, Detail: "no commit was observed (registry_commit_latency_seconds is empty)"}
	}
	p99 := time.Duration(commitP99 * float64(time.Second))
	gap, at := WriteGap(h, from, to, noQuorum)
	stranded, writes := Stranded(h, from, to, apart, window)
	share := 0.0
	if writes > 0 {
		share = float64(stranded) / float64(writes)
	}
	figures := fmt.Sprintf("commit p99 %v (budget %v, %d commits); longest failover %v from %v (bound %v); %d of %d writes with a quorum in reach unanswered (%.2f%%, bound %.2f%%)",
		p99.Round(time.Microsecond), commitMax, commits, gap.Round(time.Millisecond), at.Round(time.Millisecond), electionMax,
		stranded, writes, 100*share, 100*strandedMax)
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
	case share > strandedMax:
		return Result{Name: name, Detail: "too many writes unanswered while a quorum was up: " + figures}
	}
	return Result{Name: name, OK: true, Detail: figures}
}
