package runner

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/ron-network/ron/sim"
	"github.com/ron-network/ron/sim/scenario"
)

// CheckResult is one check's verdict.
type CheckResult struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Summary is what a run observed of one histogram metric.
type Summary struct {
	Count uint64  `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// FaultReport is one fault action the run applied.
type FaultReport struct {
	AtSeconds float64 `json:"at_seconds"`
	Kind      string  `json:"kind"`
	Detail    string  `json:"detail"`
}

// Draw is one swarm value drawn for this seed.
type Draw struct {
	Field string  `json:"field"`
	Value float64 `json:"value"`
}

// Report is the outcome of one run. Its JSON form is ronsim's --json output;
// the fields named in the foundation issue stay stable, later issues add.
type Report struct {
	Scenario        string             `json:"scenario"`
	File            string             `json:"file"`
	Seed            uint64             `json:"seed"`
	Swarm           []Draw             `json:"swarm,omitempty"`
	Nodes           int                `json:"nodes"`
	TraceHash       string             `json:"trace_hash"`
	SimSeconds      float64            `json:"sim_seconds"`
	WallSeconds     float64            `json:"wall_seconds"`
	Speedup         float64            `json:"speedup"`
	Events          uint64             `json:"events"`
	EventsPerSecond float64            `json:"events_per_second"`
	Faults          []FaultReport      `json:"faults"`
	FaultEffects    []FaultEffect      `json:"fault_effects,omitempty"`
	Checks          []CheckResult      `json:"checks"`
	OK              bool               `json:"ok"`
	SLO             map[string]Summary `json:"slo"`
	Counters        map[string]float64 `json:"counters"`
	SLOTable        []SLORow           `json:"slo_table"` // every seed SLO (specs/slo) judged against the run
	Registry        *RegistryStats     `json:"registry,omitempty"`
	DHT             *DHTStats          `json:"dht,omitempty"`
	Content         *ContentStats      `json:"content,omitempty"`
	Error           string             `json:"error,omitempty"`
	Replay          string             `json:"replay"`
	VizPath         string             `json:"viz,omitempty"`
	VizError        string             `json:"viz_error,omitempty"`

	// Digests are the per-event digests when Options.RecordDigests is set.
	Digests []sim.EventDigest `json:"-"`
	// Recorded replays the faults this run injected, without randomness.
	Recorded *scenario.Scenario `json:"-"`
}

// RegistryStats are the registry workload's figures.
type RegistryStats struct {
	Ops             int     `json:"ops"`
	OpsOK           int     `json:"ops_ok"`
	OpsUnknown      int     `json:"ops_unknown"`
	OpsPerSimSecond float64 `json:"ops_per_sim_second"`
	CommitLatency   Summary `json:"commit_latency_seconds"`
	LincheckSeconds float64 `json:"lincheck_seconds"`
	// LincheckCPUSeconds is the process's CPU time during the check.
	LincheckCPUSeconds float64 `json:"lincheck_cpu_seconds"`
	LincheckVerdict    string  `json:"lincheck_verdict"`
	NamesChecked       int     `json:"names_checked"`
	LeaderChanges      float64 `json:"leader_changes"`
	AppliedIndexMax    uint64  `json:"applied_index_max"`
	ReplicasAgreeing   int     `json:"replicas_agreeing"`
}

// ReplayCommand is the exact command that replays a run.
func ReplayCommand(file string, seed uint64, swarm bool) string {
	cmd := fmt.Sprintf("go run ./cmd/ronsim run %s --seed %d", file, seed)
	if swarm {
		cmd += " --swarm"
	}
	return cmd
}

// WriteText prints the human report.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "\nscenario   %s\n", r.Scenario)
	fmt.Fprintf(w, "seed       %d\n", r.Seed)
	fmt.Fprintf(w, "trace hash %s\n", r.TraceHash)
	fmt.Fprintf(w, "simulated  %.1fs in %.3fs wall (%.0fx real time)\n", r.SimSeconds, r.WallSeconds, r.Speedup)
	fmt.Fprintf(w, "events     %d (%.0f events/s)\n", r.Events, r.EventsPerSecond)
	fmt.Fprintf(w, "faults     %d injected\n", len(r.Faults))
	for _, f := range r.Faults {
		fmt.Fprintf(w, "  %8.3fs  %-10s %s\n", f.AtSeconds, f.Kind, f.Detail)
	}
	r.writeFaultEffects(w)
	if r.Registry != nil {
		g := r.Registry
		fmt.Fprintf(w, "registry   %d ops (%d ok, %d unknown outcome), %.1f ops/sim-s, commit p50 %s p99 %s, lincheck %s in %.3fs over %d names\n",
			g.Ops, g.OpsOK, g.OpsUnknown, g.OpsPerSimSecond, seconds(g.CommitLatency.P50), seconds(g.CommitLatency.P99),
			g.LincheckVerdict, g.LincheckSeconds, g.NamesChecked)
		fmt.Fprintf(w, "           leader changes seen by replicas %.0f (%.1f/min)\n", g.LeaderChanges, g.LeaderChanges*60/max(r.SimSeconds, 1))
	}
	if r.DHT != nil {
		r.DHT.writeText(w)
	}
	if r.Content != nil {
		r.Content.writeText(w)
	}
	if len(r.SLO) > 0 {
		fmt.Fprintln(w, "metrics    (count, mean, p50, p95, p99, max)")
		for _, name := range sortedNames(r.SLO) {
			s := r.SLO[name]
			fmt.Fprintf(w, "  %-36s %7d %9s %9s %9s %9s %9s\n", name, s.Count, fmtValue(name, s.Mean),
				fmtValue(name, s.P50), fmtValue(name, s.P95), fmtValue(name, s.P99), fmtValue(name, s.Max))
		}
	}
	if len(r.Counters) > 0 {
		fmt.Fprintln(w, "counters")
		for _, name := range sortedNames(r.Counters) {
			fmt.Fprintf(w, "  %-52s %g\n", name, r.Counters[name])
		}
	}
	r.writeSLOTable(w)
	fmt.Fprintln(w, "checks")
	for _, c := range r.Checks {
		verdict := "PASS"
		if !c.OK {
			verdict = "FAIL"
		}
		fmt.Fprintf(w, "  %s %-14s %s\n", verdict, c.Name, c.Detail)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "error      %s\n", r.Error)
	}
	if r.VizPath != "" {
		fmt.Fprintf(w, "viz        %s\n", r.VizPath)
	}
	if r.OK {
		fmt.Fprintln(w, "result     PASS")
		return
	}
	fmt.Fprintln(w, "result     FAIL")
	fmt.Fprintf(w, "replay     %s\n", r.Replay)
}

// writeSLOTable prints every seed SLO: budget, observed, verdict and why.
func (r *Report) writeSLOTable(w io.Writer) {
	if len(r.SLOTable) == 0 {
		return
	}
	fmt.Fprintln(w, "slo        (seed SLOs, specs/slo: budget, observed, verdict)")
	counts := map[string]int{}
	for _, row := range r.SLOTable {
		observed := "-"
		if row.Observed != nil {
			observed = fmtObjective(row, *row.Observed)
		}
		counts[row.Verdict]++
		line := fmt.Sprintf("  %-28s %-27s %9s  %s", row.Name, row.budgetText(), observed, row.Verdict)
		if row.Why != "" {
			line += ": " + row.Why
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "  %d pass, %d fail, %d not checked, %d not measured\n", counts[VerdictPass], counts[VerdictFail],
		counts[VerdictNotChecked], counts[VerdictNotMeasured])
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func fmtValue(name string, v float64) string {
	if strings.HasSuffix(name, "_seconds") {
		return seconds(v)
	}
	return fmt.Sprintf("%.3g", v)
}

func seconds(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 1e-3:
		return fmt.Sprintf("%.0fµs", v*1e6)
	case v < 1:
		return fmt.Sprintf("%.2fms", v*1e3)
	}
	return fmt.Sprintf("%.2fs", v)
}

// writeFaultEffects lists what each fault window did (see effects.go).
func (r *Report) writeFaultEffects(w io.Writer) {
	if len(r.FaultEffects) == 0 {
		return
	}
	fmt.Fprintln(w, "effects    (what each fault window did; * = had to show an effect)")
	for _, e := range r.FaultEffects {
		mark := " "
		if e.Required {
			mark = "*"
			if !e.Bit {
				mark = "!"
			}
		}
		fmt.Fprintf(w, "  %s %7.3fs..%7.3fs  %-9s %-24s %s\n", mark, e.StartSeconds, e.EndSeconds, e.Kind, e.Target, e.Effect)
	}
}
