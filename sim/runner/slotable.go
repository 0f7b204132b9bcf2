package runner

import (
	"fmt"
	"strings"

	"github.com/ron-network/ron/sim"
	"github.com/ron-network/ron/sim/check"
	"github.com/ron-network/ron/specs/slo"
)

// Verdicts of an SLO row.
const (
	VerdictPass        = "pass"
	VerdictFail        = "fail"
	VerdictNotChecked  = "not checked" // observed, but the run's conditions make the figure meaningless
	VerdictNotMeasured = "not measured"
)

// SLORow is one seed SLO as a run saw it: the budget, the figure the run
// observed (nil when it observed none) and the verdict, with why when the
// verdict is not a plain pass or fail.
type SLORow struct {
	Name     string   `json:"name"`
	Metric   string   `json:"metric,omitempty"`
	Stat     string   `json:"stat"`
	Budget   float64  `json:"budget"`
	AtLeast  bool     `json:"at_least,omitempty"`
	Observed *float64 `json:"observed"`
	Verdict  string   `json:"verdict"`
	Why      string   `json:"why,omitempty"`
	Source   string   `json:"source"`
	Alert    string   `json:"alert,omitempty"`
}

// sloTable judges every objective of slo.Seed against the run.
func (r *run) sloTable() []SLORow {
	rows := make([]SLORow, 0, len(slo.Seed))
	faults := r.faultsSeen()
	for _, o := range slo.Seed {
		rows = append(rows, r.judge(o, faults))
	}
	return rows
}

// judge is one objective's row; faults describes the run's faults.
func (r *run) judge(o slo.Objective, faults string) SLORow {
	row := SLORow{Name: o.Name, Metric: o.Metric, Stat: o.Stat, Budget: o.Bound, AtLeast: o.AtLeast, Source: o.Source, Alert: o.Alert}
	switch o.Where {
	case slo.Unmeasured:
		row.Verdict, row.Why = VerdictNotMeasured, "no metric yet: "+o.Why
		return row
	case slo.Production:
		row.Verdict, row.Why = VerdictNotMeasured, "production only: "+o.Why
		return row
	}
	v, ok := observe(r.w.Metrics(), o, r.scn.Duration.Seconds(), r.w.Nodes())
	if !ok {
		row.Verdict, row.Why = VerdictNotMeasured, "this run observed no "+o.Metric
		return row
	}
	row.Observed = &v
	if why := r.meaningless(o.Where, faults); why != "" {
		row.Verdict, row.Why = VerdictNotChecked, why+" ("+o.Why+")"
		return row
	}
	row.Verdict = VerdictFail
	if o.AtLeast && v >= o.Bound || !o.AtLeast && v <= o.Bound {
		row.Verdict = VerdictPass
	}
	return row
}

// checkSeedSLOs is a bare `slo` check: every seed SLO the run measured
// under conditions that make it meaningful is within its budget. A run
// that judged none fails: the check would prove nothing.
func (r *run) checkSeedSLOs() check.Result {
	var judged []string
	for _, row := range r.sloTable() {
		switch row.Verdict {
		case VerdictFail:
			return check.Result{Name: "slo", Detail: fmt.Sprintf("%s: %s = %s breaks the budget %s (%s)", row.Name, row.Stat,
				fmtObjective(row, *row.Observed), row.budgetText(), row.Source)}
		case VerdictPass:
			judged = append(judged, row.Name)
		}
	}
	if len(judged) == 0 {
		return check.Result{Name: "slo", Detail: "no seed SLO was measured under conditions that make it meaningful"}
	}
	return check.Result{Name: "slo", OK: true, Detail: fmt.Sprintf("%d seed SLOs within budget: %s", len(judged), strings.Join(judged, ", "))}
}

// meaningless says why the run's conditions make an objective measured
// Where meaningless ("" when they do not).
func (r *run) meaningless(where slo.Where, faults string) string {
	var why []string
	if (where == slo.FaultFree || where == slo.Calm) && faults != "" {
		why = append(why, "the run has faults: "+faults)
	}
	if p99 := r.scn.Network.Latency.P99; where == slo.Calm && p99 > slo.CalmNetworkP99 {
		why = append(why, fmt.Sprintf("network one-way p99 %v > %v", p99, slo.CalmNetworkP99))
	}
	return strings.Join(why, "; ")
}

// faultsSeen describes the faults of the run ("" for none): injected
// fault actions, disk fault probabilities and a lossy network.
func (r *run) faultsSeen() string {
	var out []string
	if n := len(r.w.Faults()); n > 0 {
		out = append(out, fmt.Sprintf("%d fault actions", n))
	}
	if d := r.scn.Disk; d.ReadError+d.WriteError+d.CorruptRead+d.CorruptWrite+d.TornWrite > 0 {
		out = append(out, "disk faults")
	}
	if n := r.scn.Network; n.Loss+n.Duplicate+n.Reorder > 0 {
		out = append(out, "lossy network")
	}
	return strings.Join(out, ", ")
}

// observe computes o's statistic over the run's metrics; false when the
// run observed nothing of o.Metric.
func observe(m *sim.Metrics, o slo.Objective, seconds float64, nodes int) (float64, bool) {
	if _, ok := m.Def(o.Metric); !ok && !(counterStat(o.Stat) && serviceReported(m, o.Metric)) {
		return 0, false
	}
	switch {
	case slo.HistogramStat(o.Stat):
		s := m.Summary(o.Metric)
		return stat(s, o.Stat), s.Count > 0
	case o.Stat == slo.StatTotal:
		return m.CounterTotal(o.Metric), true
	case o.Stat == slo.StatPerPeerSecond:
		peers := float64(nodes * (nodes - 1))
		if peers == 0 || seconds == 0 {
			return 0, false
		}
		return m.CounterTotal(o.Metric) / seconds / peers, true
	case o.Stat == slo.StatGaugeMax:
		var g sim.GaugeStats
		for _, label := range m.Labels(o.Metric) {
			if s := m.Gauge(o.Metric, label); s.Nodes > 0 && (g.Nodes == 0 || s.Max > g.Max) {
				g = s
			}
		}
		return g.Max, g.Nodes > 0
	}
	return 0, false
}

func counterStat(stat string) bool { return stat == slo.StatTotal || stat == slo.StatPerPeerSecond }

// serviceReported reports whether the run observed any metric of the
// service metric belongs to (its name up to the first underscore): the
// simulator creates a counter with its first increment, so a counter the
// service never incremented is 0, not unobserved.
func serviceReported(m *sim.Metrics, metric string) bool {
	service, _, _ := strings.Cut(metric, "_")
	for _, name := range m.Names() {
		if strings.HasPrefix(name, service+"_") {
			return true
		}
	}
	return false
}

// budgetText is "p95 <= 75.00ms" for a row.
func (row SLORow) budgetText() string {
	op := "<="
	if row.AtLeast {
		op = ">="
	}
	return fmt.Sprintf("%s %s %s", row.Stat, op, fmtObjective(row, row.Budget))
}

// fmtObjective formats a value of row's statistic.
func fmtObjective(row SLORow, v float64) string {
	switch row.Stat {
	case slo.StatTotal:
		return fmt.Sprintf("%g", v)
	case slo.StatPerPeerSecond:
		return fmt.Sprintf("%.3g/s", v)
	case slo.StatRatio:
		return fmt.Sprintf("%g%%", v*100)
	}
	if row.Metric == "" || strings.HasSuffix(row.Metric, "_seconds") {
		return seconds(v)
	}
	return fmt.Sprintf("%.3g", v)
}
