// Package slo holds RON's service-level budgets: the figures a bare `slo`
// check in a scenario compares a run's metrics against (DESIGN sections 5
// and 8). A budget bounds one statistic of one metric; a metric the run did
// not observe is not checked.
package slo

// Budget bounds Stat (mean, p50, p95, p99 or max) of Metric.
type Budget struct {
	Metric string
	Stat   string
	Max    float64
	// Why cites where the figure comes from.
	Why string
}

// Defaults are the budgets of DESIGN.md, sorted by metric then stat.
var Defaults = []Budget{
	{"auth_verify_latency_seconds", "p95", 0.002, "DESIGN 5.6: p95 verify <= 2 ms"},
	{"dht_lookup_hops", "mean", 3.5, "DESIGN 5.3: mean hops <= 3.5"},
	{"dht_lookup_hops", "p99", 6, "DESIGN 5.3: p99 hops <= 6"},
	{"overlay_rpc_latency_seconds", "p99", 0.25, "heartbeat RTT p99 well under the 1 s heartbeat interval"},
	{"registry_snapshot_age_seconds", "max", 60, "DESIGN 5.5: snapshot age SLO 60 s"},
	{"storage_get_latency_seconds", "p95", 0.080, "seed SLO: p95 GET of 1 MiB <= 80 ms"},
	{"storage_put_latency_seconds", "p95", 0.150, "seed SLO: p95 PUT of 1 MiB <= 150 ms"},
}
