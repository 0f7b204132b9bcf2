package check

import (
	"fmt"
	"math"
	"slices"

	"github.com/ron-network/ron/sim/workload"
)

// LiarCorruption checks that storage liars made no honest node count
// corruption (and so mark a chunk damaged and heal it), source by source:
// from[i][j] is the corruption node i counted against node j (the peer
// whose bytes failed, or i itself for its disk), and its sum is node i's
// storage_corruption_total (counted[i]). An honest node may count none
// against an honest peer (an honest node serves only bytes it verified),
// none against its own disk unless that disk was set to corrupt
// (skip[i]), and against the liars no more than the chunk replies with
// garbage bytes they sent it (garbage[i]: each may be counted once by
// the node that asked, as it must be; one lost on the way is not).
// liar[i] marks the liars, whose own counts are not judged.
func LiarCorruption(counted []float64, from [][]int, garbage []int, liar, skip []bool) Result {
	judged := 0
	for i := range counted {
		if liar[i] {
			continue
		}
		judged++
		fromLiars, total := 0, 0
		for j, k := range from[i] {
			total += k
			switch {
			case liar[j]:
				fromLiars += k
			case k == 0 || j == i && skip[i]:
			case j == i:
				return Result{Name: "liar_corruption", Detail: fmt.Sprintf(
					"honest n%d counted %d corruptions of its own disk, which corrupts nothing: a liar made it count (and heal) healthy chunks", i+1, k)}
			default:
				return Result{Name: "liar_corruption", Detail: fmt.Sprintf(
					"honest n%d counted %d corruptions of chunks honest n%d served", i+1, k, j+1)}
			}
		}
		if float64(total) != counted[i] {
			return Result{Name: "liar_corruption", Detail: fmt.Sprintf(
				"n%d counted %.0f corruptions but named the source of %d", i+1, counted[i], total)}
		}
		if fromLiars > garbage[i] {
			return Result{Name: "liar_corruption", Detail: fmt.Sprintf(
				"honest n%d counted %d corruptions of chunks the liars served but they sent it %d garbage chunks", i+1, fromLiars, garbage[i])}
		}
	}
	return Result{Name: "liar_corruption", OK: true, Detail: fmt.Sprintf(
		"%d honest nodes counted no corruption against an honest source (a peer, or their own disks) nor beyond the garbage chunks the liars sent them", judged)}
}

// LiarGets checks that every get or range_get through an honest node
// (liar marks the liars) succeeded or found nothing (not yet replicated)
// when every node was reachable: a liar costs a get one candidate, not
// the get, so it may not make one fail as corrupt, as a bad manifest or
// as unavailable, nor hang until the client gives up (an unknown
// outcome). Gets that overlap a fault window (faults: [start, end)
// pairs, widened by the caller) are not judged: an honest replica may
// have been cut off, and then a liar's copy may be all the get can find.
// Nor are the gets sent while only liars held the object (liarsOnly, by
// history index: no honest placement node held it at the call), whose
// outcome the liars decide.
// A run that leaves no get to judge fails: the check would prove nothing.
func LiarGets(h *workload.History, liar []bool, faults [][2]int64, liarsOnly map[int]bool) Result {
	judged, unheld := 0, 0
	for i, op := range h.Ops {
		if op.Kind != workload.OpGet && op.Kind != workload.OpRangeGet || liar[op.Node] {
			continue
		}
		if liarsOnly[i] {
			unheld++
			continue
		}
		end := int64(math.MaxInt64) // an unknown outcome lasts to the end
		if !op.Unknown() {
			end = *op.Return
		}
		if slices.ContainsFunc(faults, func(w [2]int64) bool { return op.Call < w[1] && end > w[0] }) {
			continue
		}
		judged++
		what := fmt.Sprintf("op %d (%s of %v by client %d via honest n%d at %dns, no fault active)", i, op.Kind, op.Input["addr"], op.Client, op.Node+1, op.Call)
		if op.Unknown() {
			return Result{Name: "liar_gets", Detail: what + " never answered"}
		}
		if ok, _ := op.Output["ok"].(bool); ok {
			continue
		}
		if code := str(op.Output["error"]); code != "not_found" {
			return Result{Name: "liar_gets", Detail: what + " failed: " + code}
		}
	}
	if judged == 0 {
		return Result{Name: "liar_gets", Detail: "no get through an honest node fell outside the fault windows: nothing judged"}
	}
	return Result{Name: "liar_gets", OK: true, Detail: fmt.Sprintf(
		"%d gets through honest nodes outside fault windows: each served or found nothing (none corrupt, bad, unavailable or unanswered); %d sent while only liars held the object not judged", judged, unheld)}
}
