package env

import "sort"

// MetricKind is the kind of a metric.
type MetricKind uint8

const (
	Counter MetricKind = iota + 1
	Gauge
	Histogram
)

// MetricDef declares one metric: its name (ARCHITECTURE section 8), kind, help,
// the name of its single optional label, the label's values known up
// front, and histogram buckets. Production registers every def with
// Prometheus; the simulator uses the same defs to build its report.
type MetricDef struct {
	Name    string
	Kind    MetricKind
	Help    string
	Label   string    // "" for an unlabelled metric
	Buckets []float64 // Histogram only; upper bounds, ascending

	// LabelValues are values of Label known at declaration. Exporters
	// create each series at zero from the start: a counter series that
	// appears only with its first increment goes from absent to 1, and
	// Prometheus' increase() never sees that first event, so an alert on
	// it cannot fire. Values known only later (a subscriber's name) are
	// created by their owner with Add(name, value, 0).
	LabelValues []string
}

// Metrics is the sink machines report to. label is the value of the def's
// label ("" when it has none). Calls never fail; an undeclared name is a
// programmer error that owners may panic on in tests.
type Metrics interface {
	Add(name, label string, delta float64)
	Set(name, label string, value float64)
	Observe(name, label string, value float64)
}

// Series is one series of a metric, resolved once for a hot path: its
// calls are Metrics' with the name and label fixed.
type Series interface {
	Add(delta float64)
	Set(value float64)
	Observe(value float64)
}

// SeriesResolver is a Metrics that resolves a series ahead of its calls
// (the Prometheus sink: no lookup per call).
type SeriesResolver interface {
	Series(name, label string) Series
}

// SeriesOf is m's series of (name, label): m's own resolved series when
// m resolves them, else one that calls m by name.
func SeriesOf(m Metrics, name, label string) Series {
	if r, ok := m.(SeriesResolver); ok {
		return r.Series(name, label)
	}
	return namedSeries{m: m, name: name, label: label}
}

// namedSeries is a series of a Metrics that does not resolve them.
type namedSeries struct {
	m           Metrics
	name, label string
}

func (s namedSeries) Add(delta float64)     { s.m.Add(s.name, s.label, delta) }
func (s namedSeries) Set(value float64)     { s.m.Set(s.name, s.label, value) }
func (s namedSeries) Observe(value float64) { s.m.Observe(s.name, s.label, value) }

// Latency buckets, in seconds, tuned to the SLOs: sub-millisecond local
// work up to multi-second lookups.
var (
	LatencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10}
	HopBuckets     = []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 10}
	RatioBuckets   = []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1}
	// BusBuckets resolve the bus publish SLO (p95 <= 20µs): a publish is
	// an append per subscriber, far below LatencyBuckets' first bound.
	BusBuckets = []float64{0.000001, 0.000002, 0.000005, 0.00001, 0.00002, 0.00005, 0.0001, 0.001, 0.01}
)

var catalog = map[string]MetricDef{}

// Declare adds defs to the process-wide catalog; services call it from a
// package-level var initialiser. Declaring a name twice with a different
// shape is a programmer error.
func Declare(defs ...MetricDef) []MetricDef {
	for _, d := range defs {
		if old, ok := catalog[d.Name]; ok && (old.Kind != d.Kind || old.Label != d.Label) {
			panic("env: metric " + d.Name + " declared twice with different shapes")
		}
		catalog[d.Name] = d
	}
	return defs
}

// Catalog returns every declared metric, sorted by name.
func Catalog() []MetricDef {
	out := make([]MetricDef, 0, len(catalog))
	// map order ok: sorted by name below
	for _, d := range catalog {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LookupMetric returns the def of name.
func LookupMetric(name string) (MetricDef, bool) {
	d, ok := catalog[name]
	return d, ok
}

// Node-level metrics shared by every runtime.
const (
	MetricServiceRestarts = "service_restarts_total"
	MetricNodeStartup     = "node_startup_seconds"
	MetricNodeReady       = "node_ready_state"
	MetricBusPublish      = "bus_publish_latency_seconds"
	MetricBusDropped      = "bus_dropped_total"
)

// RestartedNode is service_restarts_total's label when a runtime restarts
// the whole node (every machine of it) after a panic.
const RestartedNode = "node"

var _ = Declare(
	MetricDef{Name: MetricServiceRestarts, Kind: Counter, Help: "Machines restarted from durable state after a panic.", Label: "service",
		LabelValues: []string{RestartedNode}},
	MetricDef{Name: MetricNodeStartup, Kind: Gauge, Help: "Seconds the node took to become ready."},
	MetricDef{Name: MetricNodeReady, Kind: Gauge, Help: "1 when the node is ready to serve, else 0."},
	MetricDef{Name: MetricBusPublish, Kind: Histogram, Help: "Bus publish latency.", Buckets: BusBuckets},
	MetricDef{Name: MetricBusDropped, Kind: Counter, Help: "Bus events dropped because a subscriber queue was full.", Label: "subscriber"},
)
