package real

import (
	"math"
	"testing"
)

func TestParseMetricsAndQuantiles(t *testing.T) {
	text := `# HELP registry_commit_latency_seconds Registry write latency.
# TYPE registry_commit_latency_seconds histogram
registry_commit_latency_seconds_bucket{le="0.001"} 0
registry_commit_latency_seconds_bucket{le="0.01"} 50
registry_commit_latency_seconds_bucket{le="0.1"} 90
registry_commit_latency_seconds_bucket{le="1"} 100
registry_commit_latency_seconds_bucket{le="+Inf"} 100
registry_commit_latency_seconds_sum 4.5
registry_commit_latency_seconds_count 100
registry_leader_changes_total 3
registry_leader_changes_total_other 99
`
	s := parseMetrics([]byte(text))
	if s.count != 100 || s.sum != 4.5 || s.leaderChanges != 3 || len(s.buckets) != 5 {
		t.Fatalf("parsed %+v", s)
	}
	for _, c := range []struct{ q, want float64 }{{0.5, 0.01}, {0.25, 0.001 + 0.009*25/50}, {0.9, 0.1}, {0.95, 0.1 + 0.9*5/10}} {
		if got := s.quantile(c.q); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("q%.2f = %g, want %g", c.q, got, c.want)
		}
	}
	var total scraped
	total.add(s)
	total.add(s)
	if total.count != 200 || total.buckets[0.01] != 100 || total.leaderChanges != 6 {
		t.Fatalf("sum of two scrapes: %+v", total)
	}
	if q := total.quantile(0.5); math.Abs(q-0.01) > 1e-9 {
		t.Fatalf("median of the sum %g", q)
	}
}
