package check

import (
	"fmt"
	"sort"

	"github.com/ron-network/ron/sim/workload"
	"github.com/ron-network/ron/specs/namespec"
)

// writeKey identifies a state a name can only reach through one write: the
// registry's sets are compare-and-set on seq, so (name, seq) names at most
// one successful set, and seq 0 names the claim.
type writeKey struct {
	name string
	seq  uint64
}

type writeValue struct {
	owner, target string
}

// possibleStates indexes every state a name may have been in: the claims
// and sets that succeeded or whose outcome is unknown. A forged set
// (workload.ForgedWrongKey, ForgedSignature) is never a possible state,
// whatever it was answered: its signature is not the owner's.
func possibleStates(h *workload.History) map[writeKey][]writeValue {
	states := map[writeKey][]writeValue{}
	for _, op := range h.Ops {
		if op.Input["forged"] != nil {
			continue
		}
		if !op.Unknown() {
			if ok, _ := op.Output["ok"].(bool); !ok {
				continue
			}
		}
		switch op.Kind {
		case workload.OpClaim:
			k := writeKey{op.Name, 0}
			states[k] = append(states[k], writeValue{owner: str(op.Input["owner"])})
		case workload.OpSet:
			seq, _ := op.Input["seq"].(uint64)
			k := writeKey{op.Name, seq}
			states[k] = append(states[k], writeValue{owner: str(op.Input["owner"]), target: str(op.Input["target"])})
		}
	}
	return states
}

func explained(states map[writeKey][]writeValue, name string, owner, target string, seq uint64) bool {
	for _, v := range states[writeKey{name, seq}] {
		if v.owner == owner && v.target == target {
			return true
		}
	}
	return false
}

// StaleReads checks that every stale resolve returned a state the name
// really had at some point: stale reads may be old, never invented.
func StaleReads(h *workload.History) Result {
	states := possibleStates(h)
	reads := 0
	for i, op := range h.Ops {
		if op.Kind != workload.OpStaleResolve || op.Unknown() {
			continue
		}
		reads++
		if found, _ := op.Output["found"].(bool); !found {
			continue
		}
		seq, _ := op.Output["seq"].(uint64)
		owner, target := str(op.Output["owner"]), str(op.Output["target"])
		if !explained(states, op.Name, owner, target, seq) {
			return Result{Name: "stale_reads", Detail: fmt.Sprintf("op %d (client %d, node n%d): stale_resolve(%s) returned seq %d target %s owner %s, a state no write produced",
				i, op.Client, op.Node+1, op.Name, seq, short(target), short(owner))}
		}
	}
	return Result{Name: "stale_reads", OK: true, Detail: fmt.Sprintf("%d stale reads, each a state that existed", reads)}
}

// Durability checks a replica's final state of every name against the
// history: every acknowledged claim is still claimed, every acknowledged
// set is at or below the final seq, and the final state was produced by a
// write in the history.
func Durability(h *workload.History, final map[string]namespec.State, replica string) Result {
	states := possibleStates(h)
	acked := 0
	for i, op := range h.Ops {
		if op.Unknown() {
			continue
		}
		if ok, _ := op.Output["ok"].(bool); !ok {
			continue
		}
		fs := final[op.Name]
		switch op.Kind {
		case workload.OpClaim:
			acked++
			if !fs.Claimed {
				return Result{Name: "durability", Detail: fmt.Sprintf("op %d: claim(%s) was acknowledged but %s ends with the name unclaimed", i, op.Name, replica)}
			}
		case workload.OpSet:
			acked++
			seq, _ := op.Input["seq"].(uint64)
			if fs.Seq < seq {
				return Result{Name: "durability", Detail: fmt.Sprintf("op %d: set(%s, seq %d) was acknowledged but %s ends at seq %d", i, op.Name, seq, replica, fs.Seq)}
			}
		}
	}
	for _, name := range sortedStateNames(final) {
		fs := final[name]
		if fs.Claimed && !explained(states, name, fs.Owner, fs.Target, fs.Seq) {
			return Result{Name: "durability", Detail: fmt.Sprintf("%s ends with %s at seq %d target %s, which no write in the history produced", replica, name, fs.Seq, short(fs.Target))}
		}
	}
	return Result{Name: "durability", OK: true, Detail: fmt.Sprintf("%d acknowledged writes intact on %s", acked, replica)}
}

func sortedStateNames(m map[string]namespec.State) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
