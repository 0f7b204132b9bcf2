package check

import (
	"math"
	"slices"

	"github.com/anishathalye/porcupine"

	"github.com/ron-network/ron/specs/namespec"
)

// Porcupine's search grows with the operations that may linearize at many
// points, above all those whose outcome the client never learned: they
// stay pending to the end of the history, so every later operation of the
// name is concurrent with them. reduce shrinks each name's history before
// the search to one that is linearizable exactly when the original is,
// using what namespec says about names: a Set takes effect only at seq =
// current seq + 1, so the effective Sets of a name are totally ordered by
// their sequence numbers, and each carries a target no other Set of the
// name carries (the workload draws 32 random bytes per Set; reduce checks
// the uniqueness rather than assuming it). The rules, each an equivalence:
//
//  1. An operation known to have had no effect (rejected, unavailable, a
//     failed read) and a Resolve whose reply never came linearize
//     anywhere in their interval without changing the state or
//     constraining anything: dropped.
//  2. A Set of unknown outcome whose (unique) target some Resolve returned
//     took effect, and before that Resolve returned: it becomes a Set that
//     returned OK at the earliest such Resolve's return.
//  3. A Set U of unknown outcome (seq s, target T) that no Resolve saw can
//     be assumed to have had no effect unless something else could need
//     it: its effect is visible only to Resolves in the window until the
//     next effective Set (they would have returned T), to a Set with seq
//     s that was answered stale_seq, and to the Set with seq s+1 that
//     ends the window (an OK one, or one of unknown outcome that is kept).
//     With none of those, any linearization in which U took effect stays
//     one when U takes none, so U is dropped. Sets are visited in
//     descending seq so that a kept Set at s+1 is known when s is decided.
//
// Claims of unknown outcome are kept: a claim's effect (the owner) is seen
// by every later Set and Resolve.
//
// The verdict is the same with or without the reduction (tests compare
// both on generated histories); the visualisation of a failing history
// shows the reduced one, which is what was checked.
type linReduction struct {
	// Dropped counts rule 1 drops, Unseen rule 3 drops and Decided rule 2
	// rewrites.
	Dropped, Unseen, Decided int
	// Pending counts operations of unknown outcome left to the search.
	Pending int
	// Width is the most operations of one name open at one instant after
	// the reduction (an unknown outcome is open to the end). A set of
	// operations porcupine has linearized holds every op that returned
	// before the earliest call still open, so beyond that prefix it is a
	// subset of at most Width ops: the search of a name meets at most
	// about (ops of the name) x 2^Width linearized sets, and Width is the
	// figure that bounds the checker's work.
	Width int
}

// reduce applies the rules above to ops (all names) and returns the ops
// left, in their original order.
func reduce(ops []porcupine.Operation) ([]porcupine.Operation, linReduction) {
	var red linReduction
	byName := map[string][]int{}
	keep := make([]bool, len(ops))
	for i, op := range ops {
		in := op.Input.(linInput)
		if o, known := op.Output.(linOutput); known && o.noop {
			red.Dropped++
			continue
		}
		if op.Output == nil && in.op.Kind == namespec.Resolve {
			red.Dropped++
			continue
		}
		keep[i] = true
		byName[in.name] = append(byName[in.name], i)
	}
	for _, idx := range byName {
		reduceName(ops, idx, keep, &red)
		red.Width = max(red.Width, width(ops, idx, keep))
	}
	out := make([]porcupine.Operation, 0, len(ops))
	for i, op := range ops {
		if keep[i] {
			out = append(out, op)
			if op.Output == nil {
				red.Pending++
			}
		}
	}
	return out, red
}

// reduceName applies rules 2 and 3 to one name's ops (indices into ops).
func reduceName(ops []porcupine.Operation, idx []int, keep []bool, red *linReduction) {
	setsWithTarget := map[string]int{}
	seenAt := map[string]int64{} // target -> earliest return of a Resolve that returned it
	staleAt := map[uint64]bool{} // seqs of Sets answered stale_seq
	okAt := map[uint64]bool{}    // seqs of Sets answered OK
	var unknown []int
	for _, i := range idx {
		in := ops[i].Input.(linInput)
		switch in.op.Kind {
		case namespec.Set:
			setsWithTarget[in.op.Target]++
			if ops[i].Output == nil {
				unknown = append(unknown, i)
				continue
			}
			switch ops[i].Output.(linOutput).out.Outcome {
			case namespec.OK:
				okAt[in.op.Seq] = true
			case namespec.StaleSeq:
				staleAt[in.op.Seq] = true
			}
		case namespec.Resolve:
			o := ops[i].Output.(linOutput).out
			if o.Found {
				if r, seen := seenAt[o.Target]; !seen || ops[i].Return < r {
					seenAt[o.Target] = ops[i].Return
				}
			}
		}
	}
	// Rule 2 first: a Set it decides is an OK Set at its seq for rule 3.
	var undecided []int
	for _, i := range unknown {
		in := ops[i].Input.(linInput)
		r, seen := seenAt[in.op.Target]
		switch {
		case !seen:
			undecided = append(undecided, i)
		case in.op.Target != "" && setsWithTarget[in.op.Target] == 1 && r > ops[i].Call:
			ops[i].Output = linOutput{out: namespec.Output{Outcome: namespec.OK}}
			ops[i].Return = r
			okAt[in.op.Seq] = true
			red.Decided++
		}
		// Seen but not decidable (a shared target, or seen before it was
		// called): left pending, and never dropped.
	}
	slices.SortStableFunc(undecided, func(a, b int) int {
		sa, sb := ops[a].Input.(linInput).op.Seq, ops[b].Input.(linInput).op.Seq
		switch {
		case sa > sb:
			return -1
		case sa < sb:
			return 1
		}
		return 0
	})
	keptAt := map[uint64]bool{} // seqs of undecided Sets kept
	for _, i := range undecided {
		s := ops[i].Input.(linInput).op.Seq
		if s == math.MaxUint64 || staleAt[s] || okAt[s+1] || keptAt[s+1] {
			keptAt[s] = true
			continue
		}
		keep[i] = false
		red.Unseen++
	}
}

// width is the most of the kept ops among idx open at one instant.
func width(ops []porcupine.Operation, idx []int, keep []bool) int {
	type edge struct {
		at    int64
		delta int
	}
	var edges []edge
	for _, i := range idx {
		if keep[i] {
			edges = append(edges, edge{ops[i].Call, 1}, edge{ops[i].Return, -1})
		}
	}
	// Returns before calls at the same instant: porcupine orders them so.
	slices.SortFunc(edges, func(a, b edge) int {
		switch {
		case a.at != b.at:
			if a.at < b.at {
				return -1
			}
			return 1
		}
		return a.delta - b.delta
	})
	open, most := 0, 0
	for _, e := range edges {
		open += e.delta
		most = max(most, open)
	}
	return most
}
