package runner

import (
	"slices"
	"time"

	"github.com/ron-network/ron/sim"
	"github.com/ron-network/ron/sim/check"
)

// noQuorumSpans replays the faults applied so far and returns the spans
// of the workload window [from, to) in which no majority of the registry
// replicas was up, unpaused and connected, so no leader could be elected
// or commit: the registry_latency check does not count them as failover
// time. Only crashes, pauses, the symmetric cuts (partition, isolate) and
// replicas that failed themselves are modelled; a one-way cut or a bridge
// is taken as leaving the quorum intact, so time under them still counts
// (the check stays strict there).
//
// A replica that failed itself (registry doc.go, "Failure states": a disk
// error, or corruption it detected, as at a restart's scan of a damaged
// disk) neither votes nor steps raft from the moment it fails until its
// node is crashed (a restart runs a new replica from durable state, which
// recovers or fails again on its own), so it is down for quorum purposes
// over that span. The moments come from the replica itself
// (registry.Config.Failed, recorded in virtual time by the cluster), not
// from the disk fault schedule: a corrupt read the replica never made, or
// one that hit an object rather than its raft state, fails nothing.
func noQuorumSpans(faults []sim.FaultRecord, failures []replicaFailure, replicas int, from, to time.Duration) []check.Span {
	if replicas == 0 {
		return nil
	}
	return spansWhere(faults, failures, from, to, func(t time.Duration) bool {
		return !slices.Contains(quorumSide(faults, failures, replicas, replicas, t), true)
	})
}

// replicaFailure is a registry replica moving to the failed state: node
// Node, at virtual time At.
type replicaFailure struct {
	Node int
	At   time.Duration
}

// failedAt reports whether replica i is failed at t: it failed at or
// before t, and its node has not crashed since (a crash ends the failed
// replica; the restart runs a new one).
func failedAt(faults []sim.FaultRecord, failures []replicaFailure, i int, t time.Duration) bool {
	for _, fl := range failures {
		if fl.Node != i || fl.At > t {
			continue
		}
		ended := false
		for _, f := range faults {
			if f.At > t {
				break
			}
			if f.Kind == sim.FaultCrash && f.Node == i && f.At >= fl.At {
				ended = true
				break
			}
		}
		if !ended {
			return true
		}
	}
	return false
}

// apartSpans returns, for each of nodes nodes, the spans of [from, to) in
// which it was down, paused or cut off (by the same modelled faults as
// noQuorumSpans) from every majority of the registry replicas: a write
// it took then could not commit until the fault ended, whatever the
// registry does. Every node is apart inside the no-quorum spans. Unlike
// noQuorumSpans it errs the other way on the cuts it does not model: the
// nodes on either side of a one-way cut or a bridge (but the bridge
// itself) are apart until the heal, since a follower that cannot reach
// its leader one way strands its writes until then whatever it retries.
func apartSpans(faults []sim.FaultRecord, failures []replicaFailure, replicas, nodes int, from, to time.Duration) [][]check.Span {
	if replicas == 0 {
		return nil
	}
	apart := make([][]check.Span, nodes)
	for i := range apart {
		apart[i] = spansWhere(faults, failures, from, to, func(t time.Duration) bool {
			return !quorumSide(faults, failures, replicas, nodes, t)[i] || halfCut(faults, nodes, t)[i]
		})
	}
	return apart
}

// spansWhere returns the spans of [from, to) in which cond holds, cond
// being evaluated where the fault log can change it (a fault, the end of
// a pause, a replica's failure) and taken as constant until the next such
// point.
func spansWhere(faults []sim.FaultRecord, failures []replicaFailure, from, to time.Duration, cond func(time.Duration) bool) []check.Span {
	points := []time.Duration{from}
	for _, fl := range failures {
		points = append(points, fl.At)
	}
	for _, f := range faults {
		points = append(points, f.At)
		if f.Kind == sim.FaultPause {
			points = append(points, f.At+f.Duration)
		}
	}
	slices.Sort(points)
	points = slices.Compact(points)
	var spans []check.Span
	for k, t := range points {
		if t < from || t >= to {
			continue
		}
		end := to
		if k+1 < len(points) {
			end = min(points[k+1], to)
		}
		if !cond(t) {
			continue
		}
		if n := len(spans); n > 0 && spans[n-1].To == t {
			spans[n-1].To = end
		} else {
			spans = append(spans, check.Span{From: t, To: end})
		}
	}
	return spans
}

// halfCut reports, for each of nodes nodes, whether at t it is on either
// side of a one-way cut or of a bridge (not the bridge node) not healed
// since.
func halfCut(faults []sim.FaultRecord, nodes int, t time.Duration) []bool {
	cut := make([]bool, nodes)
	for _, f := range faults {
		if f.At > t {
			break
		}
		switch f.Kind {
		case sim.FaultHeal:
			clear(cut)
		case sim.FaultCutOneWay, sim.FaultBridge:
			for _, g := range f.Groups {
				for _, i := range g {
					if i >= 0 && i < nodes && (f.Kind != sim.FaultBridge || i != f.Node) {
						cut[i] = true
					}
				}
			}
		}
	}
	return cut
}

// quorumSide reports, for each of nodes nodes (the first replicas of them
// the replicas), whether with the faults applied up to and at t it is up,
// unpaused and on the same side of every symmetric cut as a majority of
// the replicas that are up, unpaused and not failed. All false: no quorum.
// A failed replica's node is on no side: its registry answers nothing.
func quorumSide(faults []sim.FaultRecord, failures []replicaFailure, replicas, nodes int, t time.Duration) []bool {
	down := make([]bool, nodes)
	var cuts [][]int32 // per cut, each node's group
	for _, f := range faults {
		if f.At > t {
			break
		}
		switch f.Kind {
		case sim.FaultCrash, sim.FaultRestart:
			if f.Node < nodes {
				down[f.Node] = f.Kind == sim.FaultCrash
			}
		case sim.FaultHeal:
			cuts = nil
		case sim.FaultIsolate:
			group := make([]int32, nodes)
			if f.Node < nodes {
				group[f.Node] = 1
			}
			cuts = append(cuts, group)
		case sim.FaultPartition:
			group := make([]int32, nodes)
			for g, members := range f.Groups {
				for _, i := range members {
					if i < nodes {
						group[i] = int32(g + 1)
					}
				}
			}
			cuts = append(cuts, group)
		}
	}
	paused := func(i int) bool {
		for _, f := range faults {
			if f.At > t {
				break
			}
			if f.Kind == sim.FaultPause && f.Node == i && t < f.At+f.Duration {
				return true
			}
		}
		return false
	}
	for i := range min(replicas, nodes) {
		if failedAt(faults, failures, i, t) {
			down[i] = true
		}
	}
	// Nodes on the same side of every cut share a side key.
	keys := make([]string, nodes)
	sides := map[string]int{}
	for i := range nodes {
		if down[i] || paused(i) {
			continue
		}
		key := make([]byte, 0, 4*len(cuts))
		for _, group := range cuts {
			g := group[i]
			key = append(key, byte(g), byte(g>>8), byte(g>>16), byte(g>>24))
		}
		keys[i] = string(key)
		if i < replicas {
			sides[keys[i]]++
		}
	}
	with := make([]bool, nodes)
	for i := range nodes {
		with[i] = !down[i] && !paused(i) && sides[keys[i]] >= replicas/2+1
	}
	return with
}
