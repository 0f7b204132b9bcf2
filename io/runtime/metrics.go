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
	// full, by kind (message, request).
	MetricInboxDropped = "runtime_inbox_dropped_total"
	// MetricUndeclared counts observations of metric names that no package
	// declared; they are dropped (a programmer error, but not one worth
	// killing a production node for).
	MetricUndeclared = "runtime_undeclared_metric_total"
)

// Values of runtime_inbox_dropped_total's label.
const (
	InboxMessage = "message" // a peer's frame
	InboxRequest = "request" // a client call (gateway, OAP/1)
)

var _ = env.Declare(
	env.MetricDef{Name: MetricInboxDropped, Kind: env.Counter, Help: "Inputs shed because the node's inbox was full.", Label: "kind",
		LabelValues: []string{InboxMessage, InboxRequest}},
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
	// series caches each (name, label) series the vectors handed out, so
	// an observation is a map read instead of WithLabelValues's label
	// hashing and lookup (a few per registry op on the node loop). A
	// series, once made, lives as long as its vector, as before.
	seriesMu sync.RWMutex
	series   map[string]map[string]series
}

// series is one cached child of a vector: the one of its kind is set.
type series struct {
	counter prometheus.Counter
	gauge   prometheus.Gauge
	obs     prometheus.Observer
}

// child returns the cached series of name and label, making it from
// name's vector on the first use; label is dropped for an unlabelled
// metric, as labelValues does. ok is false for an undeclared name.
func (m *PromMetrics) child(name, label string) (s series, ok bool) {
	labelled := m.labelled[name]
	if !labelled {
		label = ""
	}
	m.seriesMu.RLock()
	s, ok = m.series[name][label]
	m.seriesMu.RUnlock()
	if ok {
		return s, true
	}
	lv := labelValues(label, labelled)
	if v, found := m.counters[name]; found {
		s.counter = v.WithLabelValues(lv...)
	} else if v, found := m.gauges[name]; found {
		s.gauge = v.WithLabelValues(lv...)
	} else if v, found := m.histograms[name]; found {
		s.obs = v.WithLabelValues(lv...)
	} else {
		return series{}, false
	}
	m.seriesMu.Lock()
	defer m.seriesMu.Unlock()
	if m.series[name] == nil {
		m.series[name] = map[string]series{}
	}
	m.series[name][label] = s
	return s, true
}

var _ env.Metrics = (*PromMetrics)(nil)

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
		series:     map[string]map[string]series{},
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
	s, ok := m.child(name, label)
	switch {
	case !ok:
		m.undeclared(name)
	case s.counter != nil:
		if delta < 0 {
			return // a counter never goes down; a negative delta is a caller bug
		}
		s.counter.Add(delta)
	case s.gauge != nil:
		s.gauge.Add(delta)
	default:
		m.undeclared(name) // a histogram: not a counter or gauge
	}
}

// Set sets a gauge.
func (m *PromMetrics) Set(name, label string, value float64) {
	if s, ok := m.child(name, label); ok && s.gauge != nil {
		s.gauge.Set(value)
		return
	}
	m.undeclared(name)
}

// Observe records a histogram observation.
func (m *PromMetrics) Observe(name, label string, value float64) {
	if s, ok := m.child(name, label); ok && s.obs != nil {
		s.obs.Observe(value)
		return
	}
	m.undeclared(name)
}

func (m *PromMetrics) undeclared(name string) {
	if v, ok := m.counters[MetricUndeclared]; ok {
		v.WithLabelValues().Inc()
	}
	if _, seen := m.warned.LoadOrStore(name, struct{}{}); !seen {
		m.log.Warn("runtime: metric observed but never declared", "metric", name)
	}
}
