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
