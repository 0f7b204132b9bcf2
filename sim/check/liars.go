package check

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ron-network/ron/sim/workload"
)

// LiarCorruption checks that storage liars made no honest node count
// corruption (and so mark a chunk damaged and heal it): an honest node's
// storage_corruption_total (counted[i]) may not exceed the chunk replies
// with garbage bytes the liars sent it (garbage[i]: each may be counted
// once by the node that asked, as it must be). Nodes whose disks were
// set to corrupt (skip[i]) are not judged; liar[i] marks the liars.
func LiarCorruption(counted []float64, garbage []int, liar, skip []bool) Result {
	judged := 0
	for i := range counted {
		if liar[i] || skip[i] {
			continue
		}
		judged++
		if counted[i] > float64(garbage[i]) {
			return Result{Name: "liar_corruption", Detail: fmt.Sprintf(
				"honest n%d counted %.0f corruptions but the liars sent it %d garbage chunks and its disk corrupts nothing: a liar made it count (and heal) healthy chunks",
				i+1, counted[i], garbage[i])}
		}
	}
	return Result{Name: "liar_corruption", OK: true, Detail: fmt.Sprintf(
		"%d honest nodes counted no corruption beyond the garbage chunks the liars sent them", judged)}
}

// LiarGets checks that no get or range_get through an honest node (liar
// marks the liars) failed with an error a lie could cause, when every
// node was reachable: a get of an acknowledged object may be unavailable
// (a crash) or not found (not yet replicated), but not corrupt or a bad
// manifest, since a liar costs a get one candidate, not the get. Gets
// that overlap a fault window (faults: [start, end) pairs, widened by
// the caller) are not judged: an honest replica may have been cut off,
// and then a liar's copy may be all the get can find.
func LiarGets(h *workload.History, liar []bool, faults [][2]int64) Result {
	judged := 0
	for i, op := range h.Ops {
		if op.Kind != workload.OpGet && op.Kind != workload.OpRangeGet || op.Unknown() || liar[op.Node] {
			continue
		}
		if slices.ContainsFunc(faults, func(w [2]int64) bool { return op.Call < w[1] && *op.Return > w[0] }) {
			continue
		}
		judged++
		if ok, _ := op.Output["ok"].(bool); ok {
			continue
		}
		code := str(op.Output["error"])
		if code == "unavailable" || code == "not_found" || strings.Contains(code, "unavailable") {
			continue
		}
		return Result{Name: "liar_gets", Detail: fmt.Sprintf("op %d (%s of %v by client %d via honest n%d at %dns, no fault active) failed: %s",
			i, op.Kind, op.Input["addr"], op.Client, op.Node+1, op.Call, code)}
	}
	return Result{Name: "liar_gets", OK: true, Detail: fmt.Sprintf(
		"%d gets through honest nodes outside fault windows: none failed as corrupt or as a bad manifest", judged)}
}
