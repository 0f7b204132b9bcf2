package runner

import (
	"fmt"
	"io"
	"time"

	"github.com/ron-network/ron/core/admission"
	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/dht"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/overlay"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/sim"
	"github.com/ron-network/ron/sim/check"
	"github.com/ron-network/ron/sim/scenario"
	"github.com/ron-network/ron/sim/simdisk"
	"github.com/ron-network/ron/sim/workload"
)

// Options control one run.
type Options struct {
	Seed uint64
	// Swarm draws the scenario's swarm ranges from the seed (explore does).
	Swarm bool
	// Trace receives every processed event as JSON lines.
	Trace io.Writer
	// History receives the client history as JSON lines.
	History io.Writer
	// VizPath is where to write porcupine's visualisation ("" = only on a
	// linearizability failure, into AutoVizDir).
	VizPath string
	// AutoVizDir is the directory for the visualisation written on a failed
	// linearizability check ("" = "out").
	AutoVizDir string
	// RecordDigests keeps per-event digests in the report (determinism).
	RecordDigests bool
	// RegistryBug selects a deliberately wrong registry (canary builds only;
	// normal builds ignore it, see core/registry).
	RegistryBug registry.Bug
	// StorageBug selects a deliberately wrong storage machine (canary builds
	// only; normal builds ignore it, see core/storage).
	StorageBug StorageBug
	// SimBug selects a deliberately wrong simulator (canary builds only;
	// normal builds ignore it, see sim/bugs.go).
	SimBug sim.Bug
	// CoreBugs selects deliberately wrong DHT, overlay and admission
	// machines (canary builds only; normal builds ignore them).
	CoreBugs CoreBugs
	// OnlyCheck, when set, runs that check alone (a node panic is still
	// reported): shrink candidates need one verdict, and the others (a
	// failing linearizability search above all) can cost far more.
	OnlyCheck string
	// RepairOff and RepublishOff run every node with the flag repair or
	// republish off (storage.Config.RepairOff, dht.Config.RepublishOff), as
	// rond's kill switch would: the checks must pass all the same.
	RepairOff, RepublishOff bool
}

// CoreBugs are the canary switches of the core machines other than the
// registry and storage (which have their own Options fields).
type CoreBugs struct {
	DHT       dht.Bug
	Overlay   overlay.Bug
	Admission admission.Bug
}

// run is the state of one run.
type run struct {
	scn      *scenario.Scenario
	opts     Options
	w        *sim.World
	cluster  *cluster
	registry *workload.Registry
	faults   *faultState
	synced   check.SyncedWrites // fed at every restart (synced.go)
	// wiped marks the registry replicas a wipe fault erased that have not
	// been seen confirmed since, with the time of the latest wipe
	// (synced.go).
	wiped []check.Wipe
	// content is the content workload (nil without one).
	content *workload.Content
	// lookups is the DHT lookup workload (nil without one); heapBefore and
	// heapAtWarm measure the memory of its nodes.
	lookups                *workload.DHT
	heapBefore, heapAtWarm uint64
	// tokens is the capability-check workload (nil without one).
	tokens *workload.Tokens
	// edge is the nodes' client entry and edgeClients its clients (nil
	// without workload.edge; edge_run.go).
	edge        *simEdge
	edgeClients *workload.EdgeClients
	// adversary is the storage liars (nil without any; adversary.go).
	adversary *adversary
	// audit is the audit section's appends (nil without them; audit.go).
	audit *auditAppends
}

// Run executes s under opts. The error is for setup problems only; failed
// checks and node panics are in the report (Report.OK false).
func Run(s *scenario.Scenario, opts Options) (*Report, error) {
	s, draws := drawSwarm(s, opts.Seed, opts.Swarm)
	r := &run{scn: s, opts: opts}
	if r.scn.Workload != nil && r.scn.Workload.Mix.Lookup > 0 {
		r.heapBefore = heapInUse()
	}
	r.cluster = newCluster(s, opts)
	if err := r.cluster.checkOff(); err != nil {
		return nil, err
	}
	r.w = sim.New(sim.Config{
		Seed:          opts.Seed,
		Nodes:         s.Nodes.Count,
		NewNode:       r.cluster.newNode,
		Network:       networkConfig(s.Network),
		Disk:          diskFaults(s.Disk, false),
		Trace:         opts.Trace,
		RecordDigests: opts.RecordDigests,
		Invariants:    true,
		Bug:           opts.SimBug,
	})
	defer r.w.Close()
	r.cluster.bind(r.w)
	r.startAdversary()
	r.faults = newFaultState(r)
	r.wiped = make([]check.Wipe, r.scn.Nodes.RegistryReplicas)
	r.faults.schedule()
	if r.cluster.runsEdge() {
		r.startEdge(s.Workload)
	}
	if wl := s.Workload; wl != nil && wl.Mix.UsesRegistry() && s.Nodes.RegistryReplicas > 0 {
		cfg := registryWorkload(wl)
		cfg.Signatures = r.cluster.signatures
		cfg.Path = r.edgePath(EdgeRegistryTenant, auth.OpRead, auth.OpName)
		r.registry = workload.NewRegistry(r.w, cfg)
		r.registry.Start()
	}
	if wl := s.Workload; wl != nil && wl.Mix.Lookup > 0 {
		r.startLookups(wl)
	}
	if wl := s.Workload; wl != nil && wl.Mix.UsesContent() {
		r.startContent(wl)
	}
	if r.cluster.runsTokens() {
		if err := r.startTokens(s.Workload); err != nil {
			return nil, err
		}
	}
	r.startAudit(s.Audit)

	start := time.Now()
	runErr := r.w.RunUntil(s.Duration)
	wall := time.Since(start)
	events := r.w.Events()

	rep := &Report{}
	if r.lookups != nil {
		rep.DHT = r.dhtStats()
	}
	if r.content != nil {
		rep.Content = &ContentStats{} // the checks add their figures
	}
	if runErr != nil {
		rep.Error = runErr.Error()
		// A lost acknowledged write seen at a restart explains the panic
		// that followed (raft's "tocommit out of range"): report it first.
		if c, ok := r.syncedResult(); ok && !c.OK {
			rep.Checks = append(rep.Checks, CheckResult{Name: c.Name, Detail: c.Detail})
		}
		rep.Checks = append(rep.Checks, CheckResult{Name: "no_panic", Detail: runErr.Error()})
	} else {
		rep.Checks = r.checks(rep)
	}
	if r.registry != nil {
		if rep.Registry == nil {
			rep.Registry = r.registryStats()
		}
		r.agreement(rep.Registry)
	}
	// Events counts the checks' settling too, as the trace does; the speed
	// figures use the events of the scenario's duration.
	r.fill(rep, draws, wall, events)
	rep.Events = r.w.Events()
	if r.content != nil {
		r.contentStats(rep.Content)
	}
	rep.OK = runErr == nil
	for _, c := range rep.Checks {
		rep.OK = rep.OK && c.OK
	}
	if opts.History != nil && r.registry != nil {
		if err := r.registry.History().WriteJSONLines(opts.History); err != nil {
			return nil, fmt.Errorf("writing history: %w", err)
		}
	}
	if opts.History != nil && r.content != nil {
		if err := r.content.History().WriteJSONLines(opts.History); err != nil {
			return nil, fmt.Errorf("writing history: %w", err)
		}
	}
	return rep, nil
}

func registryWorkload(wl *scenario.Workload) workload.RegistryConfig {
	return workload.RegistryConfig{
		Clients: wl.Clients, RatePerSecond: wl.RatePerSecond, Timeout: wl.Timeout,
		Start: wl.Start, Stop: wl.Stop, Names: wl.Names, Adversarial: wl.Adversarial,
		Claim: wl.Mix.Claim, Set: wl.Mix.Set, Resolve: wl.Mix.Resolve, StaleResolve: wl.Mix.StaleResolve,
	}
}

func networkConfig(n scenario.Network) sim.NetworkConfig {
	return sim.NetworkConfig{
		LatencyP50: n.Latency.P50, LatencyP99: n.Latency.P99,
		Loss: n.Loss, Duplicate: n.Duplicate, Reorder: n.Reorder,
		BandwidthBytesPerSecond: n.BandwidthBytesPerSecond,
	}
}

func diskFaults(d scenario.Disk, full bool) simdisk.Faults {
	return simdisk.Faults{
		Latency: d.Latency, LatencyJitter: d.LatencyJitter,
		ReadErrorProb: d.ReadError, WriteErrorProb: d.WriteError,
		CorruptReadProb: d.CorruptRead, CorruptWriteProb: d.CorruptWrite,
		TornWriteProb: d.TornWrite, UnsyncedSurviveProb: d.UnsyncedSurvive,
		Full: full,
	}
}

// fill adds the figures every run has. The speed figures are those of the
// scenario's duration (wall, events); the trace hash and digests cover
// everything, including the settling the checks ran after the end.
func (r *run) fill(rep *Report, draws []scenario.Draw, wall time.Duration, events uint64) {
	rep.Scenario = r.scn.Name
	rep.File = r.scn.Source
	rep.Seed = r.opts.Seed
	rep.Nodes = r.scn.Nodes.Count
	rep.TraceHash = r.w.TraceHash()
	// r.scn is the drawn scenario (no swarm section left): the draws tell
	// whether the replay needs --swarm.
	rep.Replay = ReplayCommand(r.scn.Source, r.opts.Seed, r.opts.Swarm && len(draws) > 0)
	rep.Digests = r.w.Digests()
	for _, d := range draws {
		rep.Swarm = append(rep.Swarm, Draw{Field: d.Field, Value: d.Value})
	}
	rep.SimSeconds = r.scn.Duration.Seconds()
	rep.WallSeconds = wall.Seconds()
	if rep.WallSeconds > 0 {
		rep.Speedup = rep.SimSeconds / rep.WallSeconds
		rep.EventsPerSecond = float64(events) / rep.WallSeconds
	}
	for _, f := range r.w.Faults() {
		rep.Faults = append(rep.Faults, FaultReport{AtSeconds: f.At.Seconds(), Kind: string(f.Kind), Detail: describeFault(f)})
	}
	rep.SLO, rep.Counters = metricFigures(r.w.Metrics())
	rep.SLOTable = r.sloTable()
	rep.Recorded = r.record()
}

// metricFigures summarises every histogram and counter the run observed.
func metricFigures(m *sim.Metrics) (map[string]Summary, map[string]float64) {
	slo := map[string]Summary{}
	counters := map[string]float64{}
	for _, name := range m.Names() {
		def, ok := m.Def(name)
		if !ok {
			continue
		}
		switch def.Kind {
		case env.Histogram:
			s := m.Summary(name)
			slo[name] = Summary{Count: s.Count, Mean: s.Mean, P50: s.P50, P95: s.P95, P99: s.P99, Max: s.Max}
		case env.Counter:
			for _, label := range m.Labels(name) {
				key := name
				if label != "" {
					key = fmt.Sprintf("%s{%s=%q}", name, def.Label, label)
				}
				if v := m.Counter(name, label); v != 0 {
					counters[key] = v
				}
			}
		}
	}
	return slo, counters
}
