package sim

import (
	"math"

	"github.com/ron-network/ron/core/env"
)

// Metrics aggregates the metrics of every node of a world for the run
// report. Counters are summed over nodes; gauges keep each node's last
// value; histograms are merged into log-scale buckets fine enough
// (histSubBuckets per power of two, about 1% relative error) that report
// percentiles do not depend on the SLO bucket layout.
type Metrics struct {
	families map[string]*family
}

type family struct {
	def    env.MetricDef
	series map[string]*series // by label value
}

type series struct {
	counter float64
	byNode  []float64         // counters: each node's share, by node index
	gauges  map[int32]float64 // by node index
	hist    *histogram
}

func newMetrics() *Metrics { return &Metrics{families: map[string]*family{}} }

// metricsSink is one node's view of the world's Metrics.
type metricsSink struct {
	m    *Metrics
	node int32
}

var _ env.Metrics = (*metricsSink)(nil)

func (s *metricsSink) Add(name, label string, delta float64) {
	sr := s.m.series(name, label, env.Counter)
	sr.counter += delta
	if int(s.node) >= len(sr.byNode) {
		sr.byNode = append(sr.byNode, make([]float64, int(s.node)+1-len(sr.byNode))...)
	}
	sr.byNode[s.node] += delta
}

func (s *metricsSink) Set(name, label string, value float64) {
	sr := s.m.series(name, label, env.Gauge)
	if sr.gauges == nil {
		sr.gauges = map[int32]float64{}
	}
	sr.gauges[s.node] = value
}

func (s *metricsSink) Observe(name, label string, value float64) {
	sr := s.m.series(name, label, env.Histogram)
	if sr.hist == nil {
		sr.hist = &histogram{}
	}
	sr.hist.observe(value)
}

// series finds or creates the series; an undeclared name, or a call that
// does not match the declared kind, is a programmer error and panics.
func (m *Metrics) series(name, label string, kind env.MetricKind) *series {
	f, ok := m.families[name]
	if !ok {
		def, declared := env.LookupMetric(name)
		if !declared {
			panic("sim: metric " + name + " is not declared (env.Declare)")
		}
		f = &family{def: def, series: map[string]*series{}}
		m.families[name] = f
	}
	if f.def.Kind != kind {
		panic("sim: metric " + name + " used as the wrong kind")
	}
	if label != "" && f.def.Label == "" {
		panic("sim: metric " + name + " has no label but got " + label)
	}
	s, ok := f.series[label]
	if !ok {
		s = &series{}
		f.series[label] = s
	}
	return s
}

// Names lists every metric observed at least once, sorted.
func (m *Metrics) Names() []string { return env.SortedKeys(m.families) }

// Labels lists the label values observed for name, sorted.
func (m *Metrics) Labels(name string) []string {
	f, ok := m.families[name]
	if !ok {
		return nil
	}
	return env.SortedKeys(f.series)
}

// Def returns the declaration of an observed metric.
func (m *Metrics) Def(name string) (env.MetricDef, bool) {
	f, ok := m.families[name]
	if !ok {
		return env.MetricDef{}, false
	}
	return f.def, true
}

// Counter is the counter's total over all nodes for label.
func (m *Metrics) Counter(name, label string) float64 {
	if s := m.lookup(name, label); s != nil {
		return s.counter
	}
	return 0
}

// CounterTotal is the counter's total over all nodes and labels.
func (m *Metrics) CounterTotal(name string) float64 {
	total := 0.0
	if f, ok := m.families[name]; ok {
		for _, label := range env.SortedKeys(f.series) { // sorted: float sums are order-sensitive
			total += f.series[label].counter
		}
	}
	return total
}

// CounterOn is the counter's total on node (an index) over all labels.
func (m *Metrics) CounterOn(name string, node int) float64 {
	total := 0.0
	if f, ok := m.families[name]; ok {
		for _, label := range env.SortedKeys(f.series) {
			if sr := f.series[label]; node < len(sr.byNode) {
				total += sr.byNode[node]
			}
		}
	}
	return total
}

// GaugeStats summarises one gauge over the nodes that set it.
type GaugeStats struct {
	Nodes         int
	Sum, Min, Max float64
	Mean          float64
	ByNode        map[int]float64 // node index -> last value
}

// Gauge summarises the last value each node set for name and label.
func (m *Metrics) Gauge(name, label string) GaugeStats {
	s := m.lookup(name, label)
	if s == nil || len(s.gauges) == 0 {
		return GaugeStats{}
	}
	g := GaugeStats{Min: math.Inf(1), Max: math.Inf(-1), ByNode: make(map[int]float64, len(s.gauges))}
	for _, i := range env.SortedKeys(s.gauges) {
		v := s.gauges[i]
		g.Nodes++
		g.Sum += v
		g.Min = min(g.Min, v)
		g.Max = max(g.Max, v)
		g.ByNode[int(i)] = v
	}
	g.Mean = g.Sum / float64(g.Nodes)
	return g
}

// Summary merges every label of histogram name.
type Summary struct {
	Count                    uint64
	Mean, P50, P95, P99, Max float64
}

// Summary returns the merged distribution of histogram name over all labels
// and nodes; the zero Summary if nothing was observed.
func (m *Metrics) Summary(name string) Summary {
	f, ok := m.families[name]
	if !ok {
		return Summary{}
	}
	var merged histogram
	for _, label := range env.SortedKeys(f.series) {
		if h := f.series[label].hist; h != nil {
			merged.merge(h)
		}
	}
	return merged.summary()
}

// LabelSummary is Summary for one label value.
func (m *Metrics) LabelSummary(name, label string) Summary {
	if s := m.lookup(name, label); s != nil && s.hist != nil {
		return s.hist.summary()
	}
	return Summary{}
}

func (m *Metrics) lookup(name, label string) *series {
	if f, ok := m.families[name]; ok {
		return f.series[label]
	}
	return nil
}

// Histogram layout: a value v > 0 falls in bucket (e, k) where
// v = f * 2^e with f in [0.5, 1) and k = floor((2f - 1) * histSubBuckets).
const (
	histSubBuckets = 64
	histExpMin     = -40 // 2^-40 ~ 1e-12
	histExpMax     = 40  // 2^40 ~ 1e12
	histBuckets    = (histExpMax - histExpMin) * histSubBuckets
)

// histogram is a bounded log-linear histogram: exact count, sum and max,
// percentiles to within 1/histSubBuckets relative error. Values <= 0 and
// below the range count in zero; values above the range in the last bucket.
type histogram struct {
	count   uint64
	sum     float64
	max     float64
	zero    uint64
	buckets []uint64 // allocated on first positive observation
}

func (h *histogram) observe(v float64) {
	if math.IsNaN(v) {
		return
	}
	if h.count == 0 || v > h.max {
		h.max = v
	}
	h.count++
	h.sum += v
	i, ok := histIndex(v)
	if !ok {
		h.zero++
		return
	}
	if h.buckets == nil {
		h.buckets = make([]uint64, histBuckets)
	}
	h.buckets[i]++
}

func histIndex(v float64) (int, bool) {
	if v <= 0 {
		return 0, false
	}
	f, e := math.Frexp(v)
	if e < histExpMin {
		return 0, false
	}
	if e >= histExpMax {
		return histBuckets - 1, true
	}
	k := int((2*f - 1) * histSubBuckets)
	return (e-histExpMin)*histSubBuckets + k, true
}

// histUpper is the upper bound of bucket i.
func histUpper(i int) float64 {
	e := i/histSubBuckets + histExpMin
	k := i % histSubBuckets
	return math.Ldexp(0.5*(1+float64(k+1)/histSubBuckets), e)
}

func (h *histogram) merge(o *histogram) {
	if o.count == 0 {
		return
	}
	if h.count == 0 || o.max > h.max {
		h.max = o.max
	}
	h.count += o.count
	h.sum += o.sum
	h.zero += o.zero
	if o.buckets != nil {
		if h.buckets == nil {
			h.buckets = make([]uint64, histBuckets)
		}
		for i, c := range o.buckets {
			h.buckets[i] += c
		}
	}
}

func (h *histogram) summary() Summary {
	if h.count == 0 {
		return Summary{}
	}
	return Summary{
		Count: h.count,
		Mean:  h.sum / float64(h.count),
		P50:   h.quantile(0.50),
		P95:   h.quantile(0.95),
		P99:   h.quantile(0.99),
		Max:   h.max,
	}
}

// quantile returns the upper bound of the bucket holding the q-th value
// (nearest rank), capped at the exact maximum.
func (h *histogram) quantile(q float64) float64 {
	rank := uint64(math.Ceil(q * float64(h.count)))
	rank = max(rank, 1)
	seen := h.zero
	if seen >= rank {
		return min(0, h.max)
	}
	for i, c := range h.buckets {
		seen += c
		if seen >= rank {
			return min(histUpper(i), h.max)
		}
	}
	return h.max
}
