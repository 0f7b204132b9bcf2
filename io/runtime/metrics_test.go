package runtime_test

import (
	"log/slog"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/io/runtime"
)

var _ = env.Declare(
	env.MetricDef{Name: "runtimetest_ops_total", Kind: env.Counter, Help: "test", Label: "op"},
	env.MetricDef{Name: "runtimetest_depth", Kind: env.Gauge, Help: "test"},
	env.MetricDef{Name: "runtimetest_latency_seconds", Kind: env.Histogram, Help: "test", Buckets: []float64{0.1, 1}},
)

func TestPromMetricsFollowCatalog(t *testing.T) {
	m := runtime.NewPromMetrics(slog.New(slog.DiscardHandler))
	m.Add("runtimetest_ops_total", "put", 2)
	m.Add("runtimetest_ops_total", "get", 1)
	m.Add("runtimetest_ops_total", "put", -5) // ignored: counters never go down
	m.Set("runtimetest_depth", "", 7)
	m.Observe("runtimetest_latency_seconds", "", 0.5)
	m.Add("never_declared_total", "", 1) // dropped and counted, not a panic

	byName := gatherByName(t, m)
	for _, def := range env.Catalog() {
		if def.Label == "" && byName[def.Name] == nil {
			t.Fatalf("unlabelled metric %s is not exported before its first observation", def.Name)
		}
	}
	ops := byName["runtimetest_ops_total"]
	if ops.GetType() != dto.MetricType_COUNTER || len(ops.Metric) != 2 {
		t.Fatalf("ops: %v", ops)
	}
	for _, metric := range ops.Metric {
		label := metric.Label[0]
		want := map[string]float64{"put": 2, "get": 1}[label.GetValue()]
		if label.GetName() != "op" || metric.Counter.GetValue() != want {
			t.Fatalf("ops{%s=%s} = %v, want %v", label.GetName(), label.GetValue(), metric.Counter.GetValue(), want)
		}
	}
	if d := byName["runtimetest_depth"]; d.GetType() != dto.MetricType_GAUGE || d.Metric[0].Gauge.GetValue() != 7 {
		t.Fatalf("depth: %v", d)
	}
	h := byName["runtimetest_latency_seconds"].Metric[0].Histogram
	if len(h.Bucket) != 2 || h.GetSampleCount() != 1 || h.Bucket[0].GetCumulativeCount() != 0 || h.Bucket[1].GetCumulativeCount() != 1 {
		t.Fatalf("histogram: %v", h)
	}
	if u := byName[runtime.MetricUndeclared]; u.Metric[0].Counter.GetValue() != 1 {
		t.Fatalf("undeclared: %v", u)
	}
	// The Go collector: ronsim real's soak reads go_goroutines.
	if g := byName["go_goroutines"]; g == nil || g.Metric[0].Gauge.GetValue() < 1 {
		t.Fatalf("go_goroutines: %v", g)
	}
}

// Every label value a package declares up front is exported at zero before
// its first increment, so Prometheus' increase() sees the first event; the
// node's restart series is one of them.
func TestPromMetricsExportKnownLabelValuesAtZero(t *testing.T) {
	m := runtime.NewPromMetrics(slog.New(slog.DiscardHandler))
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]float64{}
	for _, f := range families {
		for _, metric := range f.GetMetric() {
			for _, l := range metric.GetLabel() {
				series[f.GetName()+"{"+l.GetValue()+"}"] = metric.GetCounter().GetValue()
			}
		}
	}
	checked := 0
	for _, def := range env.Catalog() {
		for _, value := range def.LabelValues {
			v, ok := series[def.Name+"{"+value+"}"]
			if !ok || v != 0 {
				t.Fatalf("%s{%s=%q} before any increment: %v (exported %v), want 0", def.Name, def.Label, value, v, ok)
			}
			checked++
		}
	}
	if _, ok := series[env.MetricServiceRestarts+"{"+env.RestartedNode+"}"]; !ok || checked == 0 {
		t.Fatalf("service_restarts_total{service=%q} is not exported at zero (%d known series)", env.RestartedNode, checked)
	}
}

// A series resolved once (env.SeriesOf, the gateway's per-request
// metrics) counts in the same collectors as calls by name, and a misuse
// (an undeclared name, a kind's wrong operation) is counted as undeclared
// like the calls by name.
func TestPromMetricsSeriesAreTheNamedSeries(t *testing.T) {
	m := runtime.NewPromMetrics(slog.New(slog.DiscardHandler))
	put := env.SeriesOf(m, "runtimetest_ops_total", "put")
	put.Add(2)
	put.Add(-5) // ignored: counters never go down
	m.Add("runtimetest_ops_total", "put", 1)
	env.SeriesOf(m, "runtimetest_depth", "").Set(7)
	env.SeriesOf(m, "runtimetest_latency_seconds", "").Observe(0.5)
	env.SeriesOf(m, "never_declared_total", "").Add(1)
	env.SeriesOf(m, "runtimetest_latency_seconds", "").Add(1) // a histogram has no Add
	env.SeriesOf(m, "runtimetest_ops_total", "put").Observe(1)

	byName := gatherByName(t, m)
	if ops := byName["runtimetest_ops_total"]; len(ops.GetMetric()) != 1 || ops.Metric[0].Counter.GetValue() != 3 {
		t.Fatalf("ops: %v", ops)
	}
	if d := byName["runtimetest_depth"]; d.Metric[0].Gauge.GetValue() != 7 {
		t.Fatalf("depth: %v", d)
	}
	if h := byName["runtimetest_latency_seconds"].Metric[0].Histogram; h.GetSampleCount() != 1 {
		t.Fatalf("histogram: %v", h)
	}
	if u := byName[runtime.MetricUndeclared]; u.Metric[0].Counter.GetValue() != 3 {
		t.Fatalf("undeclared: %v", u)
	}
}

// gatherByName gathers m's registry into its families by name.
func gatherByName(t *testing.T, m *runtime.PromMetrics) map[string]*dto.MetricFamily {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range families {
		byName[f.GetName()] = f
	}
	return byName
}
