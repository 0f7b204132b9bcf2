package runner

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/ron-network/ron/core/overlay"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/sim"
	"github.com/ron-network/ron/sim/check"
	"github.com/ron-network/ron/sim/scenario"
	"github.com/ron-network/ron/sim/workload"
	"github.com/ron-network/ron/specs/namespec"
)

// ConvergeStep is how far the world runs at a time while the runner waits
// for replicas to agree after the scenario's duration.
const ConvergeStep = 100 * time.Millisecond

// checks runs the scenario's checks (and the ones every registry workload
// gets) and returns their verdicts in a stable order.
func (r *run) checks(rep *Report) []CheckResult {
	var out []CheckResult
	add := func(c check.Result) { out = append(out, CheckResult{Name: c.Name, OK: c.OK, Detail: c.Detail}) }
	skip := func(name string) bool { return r.opts.OnlyCheck != "" && name != r.opts.OnlyCheck }
	for _, c := range r.scn.Checks {
		if skip(c.Name) {
			continue
		}
		switch c.Name {
		case scenario.CheckSessions:
			add(r.checkSessions(c.Within))
		case scenario.CheckLinearizable:
			add(r.checkLinearizable(rep))
		case scenario.CheckLiveness:
			add(r.checkLiveness(c.Within))
		case scenario.CheckDurability:
			if r.content != nil {
				add(r.checkContentDurability(rep.Content))
			}
			if r.registry != nil || r.content == nil {
				add(r.checkDurability())
			}
		case scenario.CheckIntegrity:
			add(r.checkIntegrity())
		case scenario.CheckConvergence:
			add(r.checkConvergence(c.Within, rep.Content))
		case scenario.CheckSLO:
			add(r.checkSLO(c.SLO))
		case scenario.CheckLookups:
			add(r.checkLookups(c.Lookups, rep))
		case scenario.CheckRevocation:
			add(r.checkRevocation(c.Within))
		case scenario.CheckRegistryLatency:
			add(r.checkRegistryLatency(c.Registry))
		case scenario.CheckAuditRetention:
			add(r.checkAuditRetention()) // audit.go
		case scenario.CheckFairness, scenario.CheckReadAvailability, scenario.CheckReadiness, scenario.CheckRefusals:
			add(r.checkEdge(c.Name)) // edge_run.go
		default:
			// sim/scenario accepted a check name the runner does not
			// implement: a bug, reported as a failed check, never a pass.
			add(check.Result{Name: c.Name, Detail: "runner: no implementation for check " + c.Name})
		}
	}
	if r.registry != nil && !skip("stale_reads") {
		add(check.StaleReads(r.registry.History()))
	}
	if r.content != nil && len(r.content.Pinned()) > 0 && !skip("pins") {
		add(r.checkPins())
	}
	if r.adversary != nil {
		for _, c := range r.checkLiars() {
			if !skip(c.Name) {
				add(c)
			}
		}
	}
	if c, ok := r.syncedResult(); ok && !skip("synced_writes") {
		add(c)
	}
	if effects := r.effects(); len(effects) > 0 && !skip("faults_bit") {
		rep.FaultEffects = effects
		add(checkFaultsBit(effects))
	}
	if r.registry != nil && !skip("availability") {
		add(check.Availability(r.registry.History(), r.faults.lastEnd, func(op *workload.Op) bool {
			return r.replicaFailed(op.Node)
		}))
	}
	return out
}

// quiesce runs the world past its duration, in steps, until done holds or
// within has passed; it reports how long it ran.
func (r *run) quiesce(within time.Duration, done func() bool) (time.Duration, bool) {
	start := r.w.Now()
	for {
		if done() {
			return r.w.Now() - start, true
		}
		if r.w.Now()-start >= within {
			return r.w.Now() - start, false
		}
		if err := r.w.RunUntil(r.w.Now() + ConvergeStep); err != nil {
			return r.w.Now() - start, false
		}
	}
}

// checkSessions: once faults are over, every up node has an Active session
// with every other up node.
func (r *run) checkSessions(within time.Duration) check.Result {
	if within == 0 {
		within = scenario.LivenessWithinDefault
	}
	var missing []string
	allActive := func() bool {
		missing = missing[:0]
		for i := 0; i < r.w.Nodes(); i++ {
			o := r.cluster.overlayOf(i)
			if o == nil {
				continue
			}
			for j := 0; j < r.w.Nodes(); j++ {
				if j != i && r.w.Up(j) && o.State(r.w.NodeID(j)) != overlay.StateActive {
					missing = append(missing, fmt.Sprintf("n%d->n%d %s", i+1, j+1, o.State(r.w.NodeID(j))))
				}
			}
		}
		return len(missing) == 0
	}
	waited, ok := r.quiesce(within, allActive)
	reconnects := r.w.Metrics().CounterTotal(overlay.MetricReconnects)
	if !ok {
		return check.Result{Name: "sessions", Detail: fmt.Sprintf("%d sessions not active %v after the end: %s", len(missing), within, strings.Join(first(missing, 5), ", "))}
	}
	return check.Result{Name: "sessions", OK: true, Detail: fmt.Sprintf("every session between up nodes active (%.0f reconnects, settled %v after the end)", reconnects, waited)}
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("... %d more", len(s)-n))
	}
	return s
}

func (r *run) checkLinearizable(rep *Report) check.Result {
	if r.registry == nil {
		return check.Result{Name: "linearizable", Detail: "no registry workload to check"}
	}
	lin, err := check.Linearizable(r.registry.History(), check.LinTimeoutDefault)
	if err != nil {
		return check.Result{Name: "linearizable", Detail: err.Error()}
	}
	stats := r.registryStats()
	stats.LincheckSeconds = lin.Duration.Seconds()
	stats.LincheckCPUSeconds = lin.CPUSeconds
	stats.LincheckVerdict = string(lin.Result)
	stats.NamesChecked = lin.Names
	rep.Registry = stats
	path := r.opts.VizPath
	if path == "" && lin.Result != porcupine.Ok {
		dir := r.opts.AutoVizDir
		if dir == "" {
			dir = "out"
		}
		path = filepath.Join(dir, fmt.Sprintf("%s-seed%d.html", strings.TrimSuffix(filepath.Base(r.scn.Source), ".yaml"), r.opts.Seed))
	}
	if path != "" {
		err := os.MkdirAll(filepath.Dir(path), 0o755)
		if err == nil {
			err = lin.WriteViz(path, r.annotations())
		}
		if err != nil {
			rep.VizError = fmt.Sprintf("writing the visualisation %s: %v", path, err)
		} else {
			rep.VizPath = path
		}
	}
	return lin.Verdict()
}

// annotations mark every fault on the visualisation as the window it was
// in force (a crash until its restart), not as the instant it began.
func (r *run) annotations() []check.Annotation {
	var out []check.Annotation
	for _, w := range r.windows() {
		out = append(out, check.Annotation{Start: int64(w.fault.At), End: int64(w.end(r.scn.Duration)),
			Description: string(w.action.Kind) + " " + describeFault(w.action)})
	}
	return out
}

func (r *run) registryStats() *RegistryStats {
	h := r.registry.History()
	st := &RegistryStats{Ops: len(h.Ops)}
	for _, op := range h.Ops {
		if op.Unknown() {
			st.OpsUnknown++
		} else if ok, _ := op.Output["ok"].(bool); ok || (op.Output["found"] != nil && op.Output["error"] == nil) {
			st.OpsOK++ // a resolve that failed is not ok, whatever it found
		}
	}
	if d := r.scn.Duration.Seconds(); d > 0 {
		st.OpsPerSimSecond = float64(st.Ops) / d
	}
	s := r.w.Metrics().Summary(registry.MetricCommitLatency)
	st.CommitLatency = Summary{Count: s.Count, Mean: s.Mean, P50: s.P50, P95: s.P95, P99: s.P99, Max: s.Max}
	st.LeaderChanges = r.w.Metrics().CounterTotal(registry.MetricLeaderChanges)
	return st
}

// agreement fills the registry figures the liveness check reports in its
// text: the highest applied index of any replica, and how many healthy
// replicas share the most common (applied index, state hash). It reads the
// replicas as they are after the checks.
func (r *run) agreement(st *RegistryStats) {
	type state struct {
		applied uint64
		hash    [32]byte
	}
	counts := map[state]int{}
	for i := 0; i < r.scn.Nodes.RegistryReplicas; i++ {
		if reg := r.cluster.registryOf(i); reg != nil {
			st.AppliedIndexMax = max(st.AppliedIndexMax, reg.AppliedIndex())
		}
	}
	for _, i := range r.healthyReplicas() {
		reg := r.cluster.registryOf(i)
		k := state{reg.AppliedIndex(), reg.StateHash()}
		counts[k]++
		st.ReplicasAgreeing = max(st.ReplicasAgreeing, counts[k])
	}
}

// healthyReplicas are the up, non-failed registry replicas.
func (r *run) healthyReplicas() []int {
	var out []int
	for i := 0; i < r.scn.Nodes.RegistryReplicas; i++ {
		if reg := r.cluster.registryOf(i); reg != nil && !reg.Failed() {
			out = append(out, i)
		}
	}
	return out
}

// replicaFailed reports whether node i is a registry replica in the failed
// state (it detected a disk error or corruption and stopped serving).
func (r *run) replicaFailed(i int) bool {
	reg := r.cluster.registryOf(i)
	return r.cluster.isReplica(i) && reg != nil && reg.Failed()
}

// checkLiveness: every operation invoked after the last fault healed gets
// a definite answer within the bound, and the healthy replicas reach the
// same applied index and state hash within the bound after the run.
func (r *run) checkLiveness(within time.Duration) check.Result {
	if r.registry == nil {
		return check.Result{Name: "liveness", Detail: "no registry workload to check"}
	}
	healed := r.faults.lastEnd
	late := 0
	var slowest time.Duration
	for i, op := range r.registry.History().Ops {
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
		code, _ := op.Output["error"].(string)
		if code == "failed" && r.replicaFailed(op.Node) {
			// A replica that detected corruption must refuse to serve: its
			// "failed" is the right, definite answer (a no-op). Liveness is
			// owed by the healthy majority, which the other ops reach.
			continue
		}
		if code == "unavailable" || code == "failed" {
			return check.Result{Name: "liveness", Detail: fmt.Sprintf("op %d (%s %s at %v) failed with %s after the faults healed", i, op.Kind, op.Name, time.Duration(op.Call), code)}
		}
	}
	if late == 0 {
		return check.Result{Name: "liveness", Detail: fmt.Sprintf("no operation was invoked after the faults healed at %v: the workload must run past the last fault", healed)}
	}
	var detail string
	agree := func() bool {
		replicas := r.healthyReplicas()
		if len(replicas) == 0 {
			detail = "no healthy replica"
			return false
		}
		first := r.cluster.registryOf(replicas[0])
		firstHash := first.StateHash()
		for _, i := range replicas {
			// A replica that restarted on an empty disk (a wipe) must
			// confirm and vote again, not only apply (registry doc.go,
			// "Amnesia"). Only a wipe leaves one unconfirmed this late.
			if r.cluster.registryOf(i).Unconfirmed() {
				detail = fmt.Sprintf("n%d is still unconfirmed (it restarted with no raft state)", i+1)
				return false
			}
		}
		for _, i := range replicas[1:] {
			reg := r.cluster.registryOf(i)
			if hash := reg.StateHash(); reg.AppliedIndex() != first.AppliedIndex() || hash != firstHash {
				detail = fmt.Sprintf("n%d applied %d state %s, n%d applied %d state %s", replicas[0]+1, first.AppliedIndex(),
					hex.EncodeToString(firstHash[:4]), i+1, reg.AppliedIndex(), hex.EncodeToString(hash[:4]))
				return false
			}
		}
		detail = fmt.Sprintf("%d healthy replicas agree at applied index %d", len(replicas), first.AppliedIndex())
		if v := first.ClusterVersion(); v != registry.VersionBase {
			detail += fmt.Sprintf(", cluster version %d", v)
		}
		return true
	}
	waited, ok := r.quiesce(within, agree)
	if !ok {
		return check.Result{Name: "liveness", Detail: fmt.Sprintf("replicas disagree %v after the end: %s", within, detail)}
	}
	return check.Result{Name: "liveness", OK: true, Detail: fmt.Sprintf("%d ops after the faults healed at %v all definite (slowest %v); %s (%v after the end)",
		late, healed, slowest.Round(time.Millisecond), detail, waited)}
}

// checkDurability reads every name from every healthy replica (a local,
// stale read once they agree) and checks it against the history.
func (r *run) checkDurability() check.Result {
	if r.registry == nil {
		return check.Result{Name: "durability", Detail: "no registry workload to check"}
	}
	replicas := r.healthyReplicas()
	if len(replicas) == 0 {
		return check.Result{Name: "durability", Detail: "no healthy replica to read"}
	}
	var last check.Result
	for _, i := range replicas {
		final, err := r.finalStates(i)
		if err != nil {
			return check.Result{Name: "durability", Detail: err.Error()}
		}
		last = check.Durability(r.registry.History(), final, fmt.Sprintf("n%d", i+1))
		if !last.OK {
			return last
		}
	}
	last.Detail = fmt.Sprintf("%s (and %d more replicas)", last.Detail, len(replicas)-1)
	return last
}

// finalStates reads every workload name from node i's local state.
func (r *run) finalStates(i int) (map[string]namespec.State, error) {
	final := map[string]namespec.State{}
	var failure error
	names := r.registry.Names()
	answered := 0
	for _, name := range names {
		r.w.Request(i, "registry", registry.StaleResolve{Name: name}, func(resp any) {
			answered++
			res, ok := resp.(registry.Result)
			switch {
			case !ok:
				failure = fmt.Errorf("n%d answered %T to a stale resolve", i+1, resp)
			case res.Err != nil:
				failure = fmt.Errorf("n%d: stale resolve %s: %v", i+1, name, res.Err)
			case res.Record.Found:
				target := ""
				if !res.Record.Target.IsZero() {
					target = res.Record.Target.String()
				}
				final[name] = namespec.State{Claimed: true, Owner: hex.EncodeToString(res.Record.Owner), Target: target, Seq: res.Record.Seq}
			}
		})
	}
	if err := r.w.RunUntil(r.w.Now() + ConvergeStep); err != nil {
		return nil, err
	}
	if failure == nil && answered != len(names) {
		failure = fmt.Errorf("n%d answered %d of %d stale resolves", i+1, answered, len(names))
	}
	return final, failure
}

// checkSLO compares the run's metrics with the scenario's budgets; a bare
// `slo` judges every seed SLO the run makes meaningful (slotable.go).
func (r *run) checkSLO(budgets []scenario.SLOBudget) check.Result {
	if len(budgets) == 0 {
		return r.checkSeedSLOs()
	}
	m := r.w.Metrics()
	var parts []string
	for _, b := range budgets {
		s := m.Summary(b.Metric)
		if s.Count == 0 {
			continue
		}
		v := stat(s, b.Stat)
		if v > b.Max {
			return check.Result{Name: "slo", Detail: fmt.Sprintf("%s %s = %s exceeds the budget %s", b.Metric, b.Stat, fmtValue(b.Metric, v), fmtValue(b.Metric, b.Max))}
		}
		parts = append(parts, fmt.Sprintf("%s %s %s <= %s", b.Metric, b.Stat, fmtValue(b.Metric, v), fmtValue(b.Metric, b.Max)))
	}
	if len(parts) == 0 {
		return check.Result{Name: "slo", Detail: "no budgeted metric was observed"}
	}
	return check.Result{Name: "slo", OK: true, Detail: strings.Join(parts, "; ")}
}

func stat(s sim.Summary, name string) float64 {
	switch name {
	case "mean":
		return s.Mean
	case "p50":
		return s.P50
	case "p95":
		return s.P95
	case "p99":
		return s.P99
	}
	return s.Max
}
