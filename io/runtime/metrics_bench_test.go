package runtime

import (
	"log/slog"
	"testing"
)

// BenchmarkPromMetricsHot: a labelled and an unlabelled counter, as the
// gateway adds on every request (PromMetrics.series).
func BenchmarkPromMetricsHot(b *testing.B) {
	m := NewPromMetrics(slog.New(slog.DiscardHandler))
	b.ReportAllocs()
	for b.Loop() {
		m.Add(MetricInboxDropped, InboxRequest, 1)
		m.Add(MetricUndeclared, "", 1)
	}
}

// BenchmarkPromMetricsSeriesHot is BenchmarkPromMetricsHot's labelled
// counter through a series resolved once (env.SeriesOf).
func BenchmarkPromMetricsSeriesHot(b *testing.B) {
	m := NewPromMetrics(slog.New(slog.DiscardHandler))
	s := m.Series(MetricInboxDropped, InboxRequest)
	b.ReportAllocs()
	for b.Loop() {
		s.Add(1)
	}
}
