package real

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/sim/check"
	"github.com/ron-network/ron/sim/runner"
	"github.com/ron-network/ron/sim/scenario"
	"github.com/ron-network/ron/sim/workload"
	"github.com/ron-network/ron/specs/namespec"
)

// FinalReadTimeout bounds one stale read of the checks.
const FinalReadTimeout = 5 * time.Second

// DurabilityConvergeWithin is how long durability waits for the replicas
// to agree when no liveness check did: a real replica that restarted
// late can take seconds to catch up, and reading it behind would blame
// durability for what is only lag.
const DurabilityConvergeWithin = 30 * time.Second

// checks runs the scenario's checks on the recorded history with
// sim/check, the code `ronsim run` uses, in the scenario's order, and
// stale_reads last as the simulator does.
func (r *run) checks(rep *runner.Report) []runner.CheckResult {
	var out []runner.CheckResult
	add := func(c check.Result) {
		out = append(out, runner.CheckResult{Name: c.Name, OK: c.OK, Detail: c.Detail})
	}
	for _, c := range r.scn.Checks {
		switch c.Name {
		case scenario.CheckLinearizable:
			add(r.checkLinearizable(rep))
		case scenario.CheckLiveness:
			add(r.checkLiveness(c.Within))
		case scenario.CheckDurability:
			if r.content != nil {
				add(r.checkContentDurability())
			}
			if r.registryRuns() {
				add(r.checkDurability())
			}
		case scenario.CheckIntegrity:
			add(r.checkIntegrity())
		default: // Validate refused these; never a silent pass
			add(check.Result{Name: c.Name, Detail: "real: no implementation for check " + c.Name})
		}
	}
	if r.registryRuns() {
		add(check.StaleReads(r.history))
	}
	return out
}

// registryRuns reports whether the scenario drives the registry.
func (r *run) registryRuns() bool {
	return r.scn.Workload.Mix.UsesRegistry() && r.scn.Nodes.RegistryReplicas > 0
}

func (r *run) checkLinearizable(rep *runner.Report) check.Result {
	lin, err := check.Linearizable(r.history, check.LinTimeoutDefault)
	if err != nil {
		return check.Result{Name: "linearizable", Detail: err.Error()}
	}
	if rep.Registry != nil {
		rep.Registry.LincheckSeconds = lin.Duration.Seconds()
		rep.Registry.LincheckVerdict = string(lin.Result)
		rep.Registry.NamesChecked = lin.Names
	}
	path := r.opts.VizPath
	if path == "" && lin.Result != porcupine.Ok {
		path = filepath.Join(r.workDir, "viz.html")
	}
	if path != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
			if err := lin.WriteViz(path, r.annotations()); err == nil {
				rep.VizPath = path
			}
		}
	}
	return lin.Verdict()
}

func (r *run) annotations() []check.Annotation {
	var out []check.Annotation
	for _, f := range r.faults {
		out = append(out, check.Annotation{Start: int64(f.at), End: int64(f.at), Description: f.kind + " " + f.detail})
	}
	return out
}

// checkLiveness: every operation invoked after the last fault healed got
// a definite answer within the bound, and the up replicas hold the same
// state of every name within the bound after the run (rond exposes no
// applied index, so agreement is read name by name).
//
// The faults heal when the last fault action returned, not when the
// schedule said: a slow action (an upgrade's stop and migrate, a pause
// waiting for every thread to stop) delays the ones after it, and an
// operation sent while a cut the schedule had healed was still in force
// says nothing of liveness. That excuse is capped: a heal step that
// returned more than `within` after its scheduled time fails the check
// (a restart or migrate grown slow would otherwise widen the window
// unseen), and the detail names the largest lateness. A crash heals when its restart returned (the
// process started); clients send to the restarted node as soon as it
// answers /readyz, before it has caught up with the leader. An operation the client timed out on has no
// definite outcome and fails the check at once, so on real processes the
// scenario's workload timeout (3 s in partition.yaml), not `within`, is
// the bound for operations sent to a node that has just restarted. We
// keep it: on the loaded 2-core machine most restarted replicas answered
// their first operations within 0.4 s, and the stalls beyond 3 s were a
// bug the check found (io/quicnet wrote the frames queued for the dead
// process to the restarted one first, hundreds of stale raft messages;
// fixed), not a timing it should allow for (BENCHMARKS.md, "Cross-check,
// refreshed").
func (r *run) checkLiveness(within time.Duration) check.Result {
	if within == 0 {
		within = scenario.LivenessWithinDefault
	}
	healed, healLate := r.timeline.healed()
	if healLate > within {
		// The window this check excuses ends when the heals returned: a
		// heal that ran later than the bound (a restart or a migrate
		// grown slow) would widen it unseen.
		return check.Result{Name: "liveness", Detail: fmt.Sprintf("a fault healed %v after its scheduled time, more than %v: the excused window would grow unseen (faults healed at %v)",
			healLate.Round(time.Millisecond), within, healed.Round(time.Millisecond))}
	}
	late := 0
	var slowest time.Duration
	for i, op := range r.history.Ops {
		if time.Duration(op.Call) < healed {
			continue
		}
		late++
		if op.Unknown() {
			return check.Result{Name: "liveness", Detail: fmt.Sprintf("op %d (%s %s by client %d via n%d at %v, after the faults healed at %v) has no definite outcome",
				i, op.Kind, op.Name, op.Client, op.Node+1, time.Duration(op.Call), healed)}
		}
		took := time.Duration(*op.Return - op.Call)
		slowest = max(slowest, took)
		if took > within {
			return check.Result{Name: "liveness", Detail: fmt.Sprintf("op %d (%s %s at %v) took %v, more than %v after the faults healed", i, op.Kind, op.Name, time.Duration(op.Call), took, within)}
		}
		if code, _ := op.Output["error"].(string); code == "unavailable" || code == "failed" {
			return check.Result{Name: "liveness", Detail: fmt.Sprintf("op %d (%s %s via n%d at %v) failed with %s after the faults healed at %v",
				i, op.Kind, op.Name, op.Node+1, time.Duration(op.Call), code, healed)}
		}
	}
	if late == 0 {
		return check.Result{Name: "liveness", Detail: fmt.Sprintf("no operation was invoked after the faults healed at %v: the workload must run past the last fault", healed)}
	}
	agreed, detail, waited := r.converge(within)
	if !agreed {
		return check.Result{Name: "liveness", Detail: fmt.Sprintf("replicas disagree %v after the end: %s", within, detail)}
	}
	return check.Result{Name: "liveness", OK: true, Detail: fmt.Sprintf("%d ops after the faults healed at %v (heals at most %v late) all definite (slowest %v); %s (%v after the end)",
		late, healed.Round(time.Millisecond), healLate.Round(time.Millisecond), slowest.Round(time.Millisecond), detail, waited.Round(time.Millisecond))}
}

// clusterVersions names the registry cluster version the replicas report
// (registry_cluster_version) when any is above the base: ", cluster
// version 2", or each node's when they differ. "" at the base version or
// when no node reports one (an old build).
func (r *run) clusterVersions(states []replicaState) string {
	seen := map[float64][]string{}
	for _, st := range states {
		n := r.c.nodes[st.node]
		if v := n.scrape().clusterVersion; v > 0 {
			seen[v] = append(seen[v], n.name)
		}
	}
	if len(seen) == 0 || (len(seen) == 1 && seen[registry.VersionBase] != nil) {
		return ""
	}
	if len(seen) == 1 {
		for v := range seen {
			return fmt.Sprintf(", cluster version %v", v)
		}
	}
	var parts []string
	for _, v := range slices.Sorted(maps.Keys(seen)) {
		parts = append(parts, fmt.Sprintf("%v on %s", v, strings.Join(seen[v], " ")))
	}
	return ", cluster versions " + strings.Join(parts, ", ")
}

// converge polls every up replica's state of every name until they all
// agree or within has passed; the agreed states are kept for durability.
func (r *run) converge(within time.Duration) (bool, string, time.Duration) {
	start := time.Now()
	detail := ""
	for {
		states, err := r.replicaStates()
		switch {
		case err != nil:
			detail = err.Error()
		case len(states) == 0:
			detail = "no up replica"
		default:
			detail = ""
			for i := 1; i < len(states); i++ {
				if !reflect.DeepEqual(states[0].names, states[i].names) {
					detail = fmt.Sprintf("%s and %s hold different states: %s", r.c.nodes[states[0].node].name, r.c.nodes[states[i].node].name,
						firstDifference(states[0].names, states[i].names))
					break
				}
			}
			if detail == "" {
				r.final = states
				return true, fmt.Sprintf("%d up replicas agree on all %d names%s", len(states), len(r.names), r.clusterVersions(states)), time.Since(start)
			}
		}
		if time.Since(start) >= within {
			return false, detail, time.Since(start)
		}
		time.Sleep(PollInterval * 5)
	}
}

func firstDifference(a, b map[string]namespec.State) string {
	for name, s := range a {
		if b[name] != s {
			return fmt.Sprintf("%s seq %d vs %d", name, s.Seq, b[name].Seq)
		}
	}
	for name, s := range b {
		if a[name] != s {
			return fmt.Sprintf("%s seq %d vs %d", name, a[name].Seq, s.Seq)
		}
	}
	return "?"
}

// replicaState is one replica's local view of every workload name.
type replicaState struct {
	node  int
	names map[string]namespec.State
}

func (r *run) replicaStates() ([]replicaState, error) {
	var out []replicaState
	for i := 0; i < r.c.replicas; i++ {
		if !r.c.nodes[i].isUp() {
			continue
		}
		names, err := r.finalStates(i)
		if err != nil {
			return nil, err
		}
		out = append(out, replicaState{node: i, names: names})
	}
	return out, nil
}

// finalStates reads every workload name from node i's applied state.
func (r *run) finalStates(i int) (map[string]namespec.State, error) {
	n := r.c.nodes[i]
	final := map[string]namespec.State{}
	client := &http.Client{}
	for _, name := range r.names {
		ctx, cancel := context.WithTimeout(context.Background(), FinalReadTimeout)
		status, body, err := n.do(ctx, client, http.MethodGet, "/names/"+name+"?stale=1", nil, false)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%s: stale resolve %s: %v", n.name, name, err)
		}
		switch status {
		case http.StatusOK:
			var rec nameRecord
			if err := json.Unmarshal(body, &rec); err != nil {
				return nil, fmt.Errorf("%s: stale resolve %s: %v", n.name, name, err)
			}
			final[name] = namespec.State{Claimed: true, Owner: rec.Owner, Target: rec.Target, Seq: rec.Seq}
		case http.StatusNotFound:
		default:
			return nil, fmt.Errorf("%s: stale resolve %s: %d %s", n.name, name, status, strings.TrimSpace(string(body)))
		}
	}
	return final, nil
}

// checkDurability checks every up replica's final state against the
// history with check.Durability, once the replicas agree (or, if they
// never did, on what each holds at the end).
func (r *run) checkDurability() check.Result {
	states := r.final
	if states == nil {
		if _, _, _ = r.converge(DurabilityConvergeWithin); r.final != nil {
			states = r.final
		} else {
			var err error
			if states, err = r.replicaStates(); err != nil {
				return check.Result{Name: "durability", Detail: err.Error()}
			}
		}
	}
	if len(states) == 0 {
		return check.Result{Name: "durability", Detail: "no up replica to read"}
	}
	var last check.Result
	for _, st := range states {
		last = check.Durability(r.history, st.names, r.c.nodes[st.node].name)
		if !last.OK {
			return last
		}
	}
	last.Detail = fmt.Sprintf("%s (and %d more replicas)", last.Detail, len(states)-1)
	return last
}

// registryStats counts the history's outcomes as runner does.
func registryStats(h *workload.History, seconds float64) *runner.RegistryStats {
	st := &runner.RegistryStats{Ops: len(h.Ops)}
	for _, op := range h.Ops {
		if op.Unknown() {
			st.OpsUnknown++
		} else if ok, _ := op.Output["ok"].(bool); ok || op.Output["found"] != nil {
			st.OpsOK++
		}
	}
	if seconds > 0 {
		st.OpsPerSimSecond = float64(st.Ops) / seconds
	}
	return st
}
