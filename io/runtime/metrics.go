package runtime

import (
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ron-network/ron/core/env"
)

// Runtime-level metrics (the node-level ones, service_restarts_total,
// node_ready_state and node_startup_seconds, are declared in core/env).
const (
	// MetricInboxDropped counts inputs shed because a bounded inbox was
	// full, by kind (message, peer_share, request).
	MetricInboxDropped = "runtime_inbox_dropped_total"
	// MetricUndeclared counts observations of metric names that no package
	// declared; they are dropped (a programmer error, but not one worth
	// killing a production node for).
	MetricUndeclared = "runtime_undeclared_metric_total"
)

// Values of runtime_inbox_dropped_total's label.
const (
	InboxMessage   = "message"    // a peer's frame, the inbox being full
	InboxPeerShare = "peer_share" // a peer's frame, that peer holding its share of the inbox
	InboxRequest   = "request"    // a client call (gateway, OAP/1)
)

var _ = env.Declare(
	env.MetricDef{Name: MetricInboxDropped, Kind: env.Counter, Help: "Inputs shed because the node's inbox was full.", Label: "kind",
		LabelValues: []string{InboxMessage, InboxPeerShare, InboxRequest}},
	env.MetricDef{Name: MetricUndeclared, Kind: env.Counter, Help: "Observations of undeclared metric names (dropped)."},
)

// PromMetrics is an env.Metrics backed by a Prometheus registry holding
// every metric of env.Catalog() with its declared kind, label and buckets.
// It is safe for concurrent use: the maps are written only by
// NewPromMetrics, and the Prometheus collectors synchronise themselves.
// Metrics declared after NewPromMetrics runs are not exported; every
// package declares its metrics in package-level initialisers, which run
// before main.
type PromMetrics struct {
	registry   *prometheus.Registry
	counters   map[string]*prometheus.CounterVec
	gauges     map[string]*prometheus.GaugeVec
	histograms map[string]*prometheus.HistogramVec
	labelled   map[string]bool
	log        *slog.Logger
	warned     sync.Map // name -> struct{}: undeclared names already logged
	// series memoises the collector of each (name, label) once resolved,
	// so a hot path (the gateway's per-request counters and latencies)
	// pays one lookup instead of two map reads, a label slice and the
	// vector's hashing and lock. No series is ever deleted from a vector.
	series sync.Map // seriesKey -> *series
}

type seriesKey struct{ name, label string }

// series is one resolved collector: the field of the metric's kind.
type series struct {
	counter prometheus.Counter
	gauge   prometheus.Gauge
	hist    prometheus.Observer
}

// Add increments a counter (or adds to a gauge); see PromMetrics.Add.
func (s *series) Add(delta float64) bool {
	switch {
	case s.counter != nil:
		if delta >= 0 { // a counter never goes down; a negative delta is a caller bug
			s.counter.Add(delta)
		}
	case s.gauge != nil:
		s.gauge.Add(delta)
	default:
		return false // a histogram: Add is not its operation
	}
	return true
}

// Set sets a gauge; it reports false for another kind.
func (s *series) Set(value float64) bool {
	if s.gauge == nil {
		return false
	}
	s.gauge.Set(value)
	return true
}

// Observe records a histogram observation; it reports false for another kind.
func (s *series) Observe(value float64) bool {
	if s.hist == nil {
		return false
	}
	s.hist.Observe(value)
	return true
}

// Series resolves (name, label) once (env.SeriesResolver): the gateway's
// per-request counters and latencies then pay no lookup per call. A
// misuse (an undeclared name, the wrong kind's operation) is reported as
// PromMetrics' own calls report it.
func (m *PromMetrics) Series(name, label string) env.Series {
	return resolvedSeries{m: m, s: m.lookup(name, label), name: name}
}

// resolvedSeries is an env.Series of PromMetrics.
type resolvedSeries struct {
	m    *PromMetrics
	s    *series // nil: name is undeclared
	name string
}

func (r resolvedSeries) Add(delta float64) {
	if r.s == nil || !r.s.Add(delta) {
		r.m.undeclared(r.name)
	}
}

func (r resolvedSeries) Set(value float64) {
	if r.s == nil || !r.s.Set(value) {
		r.m.undeclared(r.name)
	}
}

func (r resolvedSeries) Observe(value float64) {
	if r.s == nil || !r.s.Observe(value) {
		r.m.undeclared(r.name)
	}
}

// lookup resolves (name, label) to its series, nil when name is
// undeclared. An unlabelled metric ignores label.
func (m *PromMetrics) lookup(name, label string) *series {
	labelled := m.labelled[name]
	if !labelled {
		label = "" // one series, whatever label the caller passed
	}
	k := seriesKey{name, label}
	if s, ok := m.series.Load(k); ok {
		return s.(*series)
	}
	values := labelValues(label, labelled)
	s := &series{}
	if v, ok := m.counters[name]; ok {
		s.counter = v.WithLabelValues(values...)
	} else if v, ok := m.gauges[name]; ok {
		s.gauge = v.WithLabelValues(values...)
	} else if v, ok := m.histograms[name]; ok {
		s.hist = v.WithLabelValues(values...)
	} else {
		return nil
	}
	actual, _ := m.series.LoadOrStore(k, s)
	return actual.(*series)
}

var (
	_ env.Metrics        = (*PromMetrics)(nil)
	_ env.SeriesResolver = (*PromMetrics)(nil)
)

// NewPromMetrics registers the whole catalog with a fresh registry. log
// (nil: slog.Default) receives one warning per undeclared name.
func NewPromMetrics(log *slog.Logger) *PromMetrics {
	if log == nil {
		log = slog.Default()
	}
	m := &PromMetrics{
		registry:   prometheus.NewRegistry(),
		counters:   map[string]*prometheus.CounterVec{},
		gauges:     map[string]*prometheus.GaugeVec{},
		histograms: map[string]*prometheus.HistogramVec{},
		labelled:   map[string]bool{},
		log:        log,
	}
	for _, def := range env.Catalog() {
		m.register(def)
	}
	// The Go runtime's own figures (go_goroutines, go_memstats_*, GC
	// pauses): a soak (`ronsim real --duration`) judges goroutine leaks
	// by go_goroutines, and an operator wants them next to the node's.
	m.registry.MustRegister(collectors.NewGoCollector())
	return m
}

func (m *PromMetrics) register(def env.MetricDef) {
	var labels []string
	if def.Label != "" {
		labels = []string{def.Label}
		m.labelled[def.Name] = true
	}
	help := def.Help
	if help == "" {
		help = def.Name
	}
	switch def.Kind {
	case env.Counter:
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: def.Name, Help: help}, labels)
		m.registry.MustRegister(v)
		m.counters[def.Name] = v
		if labels == nil {
			v.WithLabelValues() // export unlabelled metrics at zero from the start
		}
		for _, value := range def.LabelValues {
			v.WithLabelValues(value) // and every known series (env.MetricDef.LabelValues)
		}
	case env.Gauge:
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: def.Name, Help: help}, labels)
		m.registry.MustRegister(v)
		m.gauges[def.Name] = v
		if labels == nil {
			v.WithLabelValues()
		}
	case env.Histogram:
		buckets := def.Buckets
		if len(buckets) == 0 {
			buckets = env.LatencyBuckets
		}
		v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: def.Name, Help: help, Buckets: buckets}, labels)
		m.registry.MustRegister(v)
		m.histograms[def.Name] = v
		if labels == nil {
			v.WithLabelValues()
		}
	default:
		panic("runtime: metric " + def.Name + " has an unknown kind")
	}
}

// Registry is the Prometheus registry to serve on /metrics.
func (m *PromMetrics) Registry() *prometheus.Registry { return m.registry }

func labelValues(label string, vecLabelled bool) []string {
	if !vecLabelled {
		return nil
	}
	return []string{label}
}

// Add increments a counter (or adds to a gauge).
func (m *PromMetrics) Add(name, label string, delta float64) {
	if s := m.lookup(name, label); s == nil || !s.Add(delta) {
		m.undeclared(name)
	}
}

// Set sets a gauge.
func (m *PromMetrics) Set(name, label string, value float64) {
	if s := m.lookup(name, label); s == nil || !s.Set(value) {
		m.undeclared(name)
	}
}

// Observe records a histogram observation.
func (m *PromMetrics) Observe(name, label string, value float64) {
	if s := m.lookup(name, label); s == nil || !s.Observe(value) {
		m.undeclared(name)
	}
}

func (m *PromMetrics) undeclared(name string) {
	if v, ok := m.counters[MetricUndeclared]; ok {
		v.WithLabelValues().Inc()
	}
	if _, seen := m.warned.LoadOrStore(name, struct{}{}); !seen {
		m.log.Warn("runtime: metric observed but never declared", "metric", name)
	}
}
