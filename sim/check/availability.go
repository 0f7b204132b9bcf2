package check

import (
	"fmt"
	"strings"
	"time"

	"github.com/ron-network/ron/sim/workload"
)

// AvailabilityShareMin is the share of every registry operation kind that
// must succeed once the faults have healed. An operation succeeds when it
// gets a definite answer that is the protocol's own (a value, or a refusal
// such as taken or stale_seq); an unknown outcome or an unavailable or
// failed answer counts against it. It is not 1: the first operations after
// a heal may still meet an election in progress.
const AvailabilityShareMin = 0.9

// refusals are the registry's definite answers that are not unavailability:
// the operation ran and the state said no.
var refusals = map[string]bool{
	"taken": true, "not_found": true, "not_owner": true, "stale_seq": true,
	"bad_signature": true, "invalid_name": true, "too_large": true,
}

// Succeeded reports whether op got a definite answer that is not an
// availability failure.
func Succeeded(op *workload.Op) bool {
	if op.Unknown() {
		return false
	}
	code, _ := op.Output["error"].(string)
	return code == "" || refusals[code]
}

// Availability checks that of the operations invoked at or after healed,
// at least AvailabilityShareMin of every kind succeeded. excluded ops (the
// runner's: those sent to a replica that detected corruption and must
// refuse to serve) count neither way. With no operation after healed there
// is nothing to judge, and the check says so without passing.
func Availability(h *workload.History, healed time.Duration, excluded func(*workload.Op) bool) Result {
	kinds := []string{workload.OpClaim, workload.OpSet, workload.OpResolve, workload.OpStaleResolve}
	total, good := map[string]int{}, map[string]int{}
	for _, op := range h.Ops {
		if time.Duration(op.Call) < healed || excluded(op) {
			continue
		}
		total[op.Kind]++
		if Succeeded(op) {
			good[op.Kind]++
		}
	}
	var parts, short []string
	all := 0
	for _, k := range kinds {
		if total[k] == 0 {
			continue
		}
		all += total[k]
		share := float64(good[k]) / float64(total[k])
		parts = append(parts, fmt.Sprintf("%s %d/%d (%.1f%%)", k, good[k], total[k], 100*share))
		if share < AvailabilityShareMin {
			short = append(short, k)
		}
	}
	if all == 0 {
		return Result{Name: "availability", Detail: fmt.Sprintf("no operation was invoked after the faults healed at %v: the workload must run past the last fault", healed)}
	}
	detail := fmt.Sprintf("after the faults healed at %v: %s", healed, strings.Join(parts, ", "))
	if len(short) > 0 {
		return Result{Name: "availability", Detail: fmt.Sprintf("%s; below %.0f%%: %s", detail, 100*AvailabilityShareMin, strings.Join(short, ", "))}
	}
	return Result{Name: "availability", OK: true, Detail: detail}
}
