package runner

import (
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/sim/check"
	"github.com/ron-network/ron/sim/scenario"
)

// atRestart feeds the synced_writes check just before node i restarts: it
// decodes every registry replica's durable disk (what a crash now would
// leave) and checks each acknowledged write against them. It only reads,
// so the run's trace is unchanged.
func (r *run) atRestart(i int) {
	if r.registry == nil || r.scn.Nodes.RegistryReplicas == 0 || r.opts.OnlyCheck != "" && r.opts.OnlyCheck != "synced_writes" {
		return
	}
	durable := make([]registry.Durable, r.scn.Nodes.RegistryReplicas)
	for j := range durable {
		durable[j] = registry.ReadDurable(r.w.Disk(j).DurableSnapshot())
	}
	for j := range r.wiped {
		if r.wiped[j].Wiped {
			// Wiped on purpose: amnesic until it runs confirmed again. A
			// replica still reading its disk (just restarted) or failed
			// has not confirmed yet, whatever Unconfirmed says.
			reg := r.cluster.registryOf(j)
			r.wiped[j].Wiped = reg == nil || reg.Recovering() || reg.Failed() || reg.Unconfirmed()
		}
	}
	r.synced.AtRestartAmnesic(r.w.Now(), i, r.registry.History(), durable, r.wiped)
}

// syncedResult is the synced_writes verdict, or false when the run had no
// registry workload or no restart (nothing to report).
func (r *run) syncedResult() (check.Result, bool) {
	if r.registry == nil || r.synced.Restarts() == 0 {
		return check.Result{}, false
	}
	return r.synced.Result(), true
}

// checkRegistryLatency judges the commit p99 and the longest failover
// against the scenario's registry_latency budgets, over the workload's
// window.
func (r *run) checkRegistryLatency(b scenario.RegistryLatency) check.Result {
	if r.registry == nil {
		return check.Result{Name: scenario.CheckRegistryLatency, Detail: "no registry workload to check"}
	}
	s := r.w.Metrics().Summary(registry.MetricCommitLatency)
	wl := r.scn.Workload
	noQuorum := noQuorumSpans(r.w.Faults(), r.cluster.failures, r.scn.Nodes.RegistryReplicas, wl.Start, wl.Stop)
	apart := apartSpans(r.w.Faults(), r.cluster.failures, r.scn.Nodes.RegistryReplicas, r.scn.Nodes.Count, wl.Start, wl.Stop)
	return check.RegistryLatency(r.registry.History(), wl.Start, wl.Stop, noQuorum, apart, wl.Timeout, s.P99, uint64(s.Count), b.CommitP99, b.Election, b.Unanswered)
}
