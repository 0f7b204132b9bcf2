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
// time. Only crashes, pauses and the symmetric cuts (partition, isolate)
// are modelled; a one-way cut or a bridge is taken as leaving the quorum
// intact, so time under them still counts (the check stays strict there).
// A replica that failed itself (corruption detected) is not in the fault
// log and counts as up.
func noQuorumSpans(faults []sim.FaultRecord, replicas int, from, to time.Duration) []check.Span {
	if replicas == 0 {
		return nil
	}
	points := []time.Duration{from}
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
		if hasQuorum(faults, replicas, t) {
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

// hasQuorum reports whether, with the faults applied up to and at t, some
// set of a majority of the replicas is up, unpaused and on the same side
// of every symmetric cut.
func hasQuorum(faults []sim.FaultRecord, replicas int, t time.Duration) bool {
	down := make([]bool, replicas)
	var cuts [][]int32 // per cut, each replica's group
	for _, f := range faults {
		if f.At > t {
			break
		}
		switch f.Kind {
		case sim.FaultCrash, sim.FaultRestart:
			if f.Node < replicas {
				down[f.Node] = f.Kind == sim.FaultCrash
			}
		case sim.FaultHeal:
			cuts = nil
		case sim.FaultIsolate:
			group := make([]int32, replicas)
			if f.Node < replicas {
				group[f.Node] = 1
			}
			cuts = append(cuts, group)
		case sim.FaultPartition:
			group := make([]int32, replicas)
			for g, members := range f.Groups {
				for _, i := range members {
					if i < replicas {
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
	// Replicas on the same side of every cut share a side key.
	sides := map[string]int{}
	for i := range replicas {
		if down[i] || paused(i) {
			continue
		}
		key := make([]byte, 0, 4*len(cuts))
		for _, group := range cuts {
			g := group[i]
			key = append(key, byte(g), byte(g>>8), byte(g>>16), byte(g>>24))
		}
		sides[string(key)]++
		if sides[string(key)] >= replicas/2+1 {
			return true
		}
	}
	return false
}
