// Package slo holds RON's service-level objectives: every SLO the seed
// names, each as a budget with its source, where it can be measured, which
// conditions of a run make it meaningful, and the Prometheus alert that
// watches it in production (deploy/prometheus/alerts.yml).
//
// The simulator reports every objective of Seed for every run (a table of
// budget, observed figure and verdict; sim/runner); a bare `slo` check in a
// scenario fails the run when an objective the run makes meaningful is
// over budget. An objective the simulator cannot measure says why rather
// than being left out, so the table always names all of them.
package slo

import "time"

// Where says where an objective can be measured and under which
// conditions of a run its figure means something.
type Where uint8

const (
	// Anywhere: meaningful in every run that observes the metric.
	Anywhere Where = iota + 1
	// FaultFree: meaningful only in a run without faults (no fault action,
	// no disk fault probability, no loss, duplication or reordering):
	// faults make the figure miss by design (elections, retries, forced
	// reconnects), so a figure under faults is shown but not judged.
	FaultFree
	// Calm: fault-free, and the network's one-way p99 latency is at most
	// CalmNetworkP99: a budget for sequential round trips cannot be met
	// over a slower network, whatever the code does.
	Calm
	// Production: only rond measures it; the simulator has no such
	// component, or its clock stands still within a step.
	Production
	// Unmeasured: no metric measures it yet, in rond or in the simulator.
	Unmeasured
)

// CalmNetworkP99 is the one-way p99 latency up to which a Calm objective
// is judged: a DHT lookup is up to LookupHopsMax (6) sequential round
// trips, and 6 x 2 x 20 ms = 240 ms fits the 250 ms p95 budget.
const CalmNetworkP99 = 20 * time.Millisecond

// Stats an objective bounds besides the histogram ones (mean, p50, p95,
// p99, max).
const (
	// StatTotal is a counter summed over nodes and labels.
	StatTotal = "total"
	// StatPerPeerSecond is a counter divided by the run's simulated seconds
	// and by its peer sessions (nodes x (nodes - 1)).
	StatPerPeerSecond = "per_peer_second"
	// StatGaugeMax is the largest last value of a gauge over the nodes.
	StatGaugeMax = "gauge_max"
	// StatRatio is a ratio of counters or a ratio gauge (production only).
	StatRatio = "ratio"
)

// Objective is one SLO as a budget: Stat of Metric stays at most Bound
// (at least Bound when AtLeast is set).
type Objective struct {
	// Name is stable: reports and --json key on it.
	Name    string
	Metric  string
	Stat    string
	Bound   float64
	AtLeast bool
	// Source cites where the figure comes from.
	Source string
	Where  Where
	// Why explains Where: what makes the figure meaningful, or why it
	// cannot be measured in the simulator (or at all).
	Why string
	// Alert is the Prometheus alert watching it; "" when none can (Why
	// says so).
	Alert string
}

// seed is where the figures come from: the seed's SLO document, per
// service (ARCHITECTURE sections 5 and 8 repeat some of them).
const seed = "seed SLO"

// Seed is every SLO the seed names, grouped by service.
var Seed = []Objective{
	// Overlay.
	{"overlay_rpc_p95", "overlay_rpc_latency_seconds", "p95", 0.075, false, seed + " overlay: p95 control RPC <= 75 ms", Anywhere,
		"heartbeat RTT of answered pings: faults lose pings rather than slow the ones answered", "RonOverlayRPCLatencyHigh"},
	{"overlay_rpc_p99", "overlay_rpc_latency_seconds", "p99", 0.150, false, seed + " overlay: p99 control RPC <= 150 ms (was 250 ms here; the seed's figure holds: p99 <= 31 ms in every scenario at seed 1)", Anywhere,
		"heartbeat RTT of answered pings: faults lose pings rather than slow the ones answered", "RonOverlayRPCLatencyHigh"},
	{"overlay_reconnect_rate", "overlay_reconnects_total", StatPerPeerSecond, 0.02, false, seed + " overlay: reconnect rate <= 0.02/s per peer", FaultFree,
		"partitions and crashes force reconnects", "RonOverlayReconnectsHigh"},
	{"overlay_queue_depth_p95", "overlay_peer_queue_depth", "p95", 0.5, false, seed + " overlay: queue depth p95 <= 50% of its bound (PeerQueueDepthMax 256)", Production,
		"the simulator keeps a gauge's last value per node, not its distribution over time", "RonOverlayQueueDeep"},
	{"overlay_drops", "overlay_peer_dropped_total", StatTotal, 0, false, seed + " overlay: zero queue drops", FaultFree,
		"a session reset by a partition or crash drops its stale frames by design", "RonOverlayDrops"},

	// DHT.
	{"dht_lookup_p95", "dht_lookup_latency_seconds", "p95", 0.250, false, seed + " DHT: lookup p95 <= 250 ms", Calm,
		"up to 6 sequential round trips: needs a network with one-way p99 <= 20 ms and no crashed contacts to time out on", "RonDHTLookupSlow"},
	{"dht_lookup_p99", "dht_lookup_latency_seconds", "p99", 0.500, false, seed + " DHT: lookup p99 <= 500 ms", Calm,
		"up to 6 sequential round trips: needs a network with one-way p99 <= 20 ms and no crashed contacts to time out on", "RonDHTLookupSlow"},
	{"dht_provider_miss", "", StatRatio, 0.02, false, seed + " DHT: provider miss <= 2%", Unmeasured,
		"nothing counts a provider lookup that finds none while a provider exists; the simulator's lookups grade FindNode, not FindProviders", ""},
	{"dht_hops_mean", "dht_lookup_hops", "mean", 3.5, false, "ARCHITECTURE 5.3: mean hops <= 3.5", Anywhere,
		"hops depend on the routing tables, not on timing", "RonDHTLookupHopsMeanHigh"},
	{"dht_hops_p99", "dht_lookup_hops", "p99", 6, false, "ARCHITECTURE 5.3: p99 hops <= 6", Anywhere,
		"hops depend on the routing tables, not on timing", "RonDHTLookupHopsHigh"},

	// Omnigate (admission) and the HTTP gateway.
	{"omnigate_p95", "omnigate_request_latency_seconds", "p95", 0.060, false, seed + " omnigate: p95 <= 60 ms", Production,
		"the simulator has no HTTP front end", "RonOmnigateLatencyHigh"},
	{"omnigate_queue_wait_p95", "", "p95", 0.020, false, seed + " omnigate: queue wait p95 <= 20 ms", Unmeasured,
		"admission's wait for capacity is not timed into a metric yet (sheds on timeout are counted: omnigate_shed_total)", ""},
	{"omnigate_4xx", "omnigate_requests_total", StatRatio, 0.03, false, seed + " omnigate: 4xx <= 3% of requests", Production,
		"the simulator has no HTTP front end", "RonGateway4xx"},
	{"omnigate_5xx", "omnigate_requests_total", StatRatio, 0.005, false, seed + " omnigate: 5xx <= 0.5% of requests", Production,
		"the simulator has no HTTP front end", "RonGateway5xx"},
	{"gateway_route_p95", "gateway_route_latency_seconds", "p95", 0.080, false, seed + " gateway: p95 <= 80 ms (per route)", Production,
		"the simulator has no HTTP front end", "RonGatewayRouteSlow"},

	// Index (names).
	{"index_resolve_p95", "index_resolve_latency_seconds", "p95", 0.040, false, seed + " index: resolve p95 <= 40 ms", FaultFree,
		"a linearizable resolve waits for a leader: partitions and crashes stall it through an election", "RonResolveLatencyHigh"},
	{"index_resolve_p99", "index_resolve_latency_seconds", "p99", 0.080, false, seed + " index: resolve p99 <= 80 ms", FaultFree,
		"a linearizable resolve waits for a leader: partitions and crashes stall it through an election", "RonResolveLatencyHigh"},
	{"index_stale_providers", "", StatRatio, 0.02, false, seed + " index: stale providers < 2%", Unmeasured,
		"nothing counts provider records served after their node left", ""},

	// Keys and tokens.
	{"auth_sign_p95", "", "p95", 0.005, false, seed + " kms: sign p95 <= 5 ms", Unmeasured,
		"signing (node descriptors, name sets) is not timed into a metric; ronctl signs client-side", ""},
	{"auth_verify_p95", "auth_verify_latency_seconds", "p95", 0.002, false, "ARCHITECTURE 5.6 / " + seed + " auth: verify p95 <= 2 ms", Production,
		"token verification is timed by rond's gateway; the simulator's clock stands still within a step", "RonAuthVerifySlow"},

	// Edge cache.
	{"edge_hit_ratio", "edge_cache_requests_total", StatRatio, 0.80, true, seed + " edge: hit ratio >= 80%", Production,
		"the edge cache sits in rond's gateway; the simulator has no HTTP front end", "RonEdgeHitRatioLow"},
	{"edge_range_p95", "", "p95", 0.050, false, seed + " edge: range p95 <= 50 ms", Unmeasured,
		"ranges share the get_object and serve_name routes of gateway_route_latency_seconds; no metric separates them", ""},

	// Bus.
	{"bus_publish_p95", "bus_publish_latency_seconds", "p95", 0.000020, false, seed + " bus: publish p95 <= 20 µs", Production,
		"the simulator's clock stands still within a step: every simulated publish observes 0", "RonBusPublishSlow"},
	{"bus_lag_p95", "", "p95", 0.005, false, seed + " bus: lag p95 <= 5 ms", Unmeasured,
		"events are delivered within the step that published them (at most BusRoundsMax rounds); no metric times the wait", ""},
	{"bus_drops", "bus_dropped_total", StatTotal, 0, false, seed + " bus: zero drops", Anywhere,
		"a subscriber queue holds BusQueueDepthMax events per step under any fault (a run whose services subscribe to nothing has no drop series)", "RonBusDrops"},

	// Policy, audit, registry, node.
	{"policy_apply_max", "policy_apply_latency_seconds", "max", 2, false, "ARCHITECTURE 5.6 / " + seed + " policy: apply <= 2 s", Production,
		"policy files are read by rond (io/gateway)", "RonPolicyApplySlow"},
	{"audit_append_p95", "audit_append_latency_seconds", "p95", 0.010, false, seed + " audit: append p95 <= 10 ms", Production,
		"audit records are appended by rond's gateway; no simulated workload appends them", "RonAuditAppendSlow"},
	{"registry_snapshot_age", "registry_snapshot_age_seconds", StatGaugeMax, 60, false, "ARCHITECTURE 5.5 / " + seed + " registry: snapshot age <= 60 s", Anywhere,
		"snapshots are taken on the replica's own clock, faults or not", "RonRegistrySnapshotStale"},
	{"node_ready_5s", "node_startup_seconds", StatGaugeMax, 5, false, seed + " kernel: ready within 5 s of start", Production,
		"start-up is rond's (opening pebble, recovering the machines)", "RonNodeSlowStart"},

	// Storage: ARCHITECTURE 5.4 and the seed's storage figures.
	{"storage_put_p95", "storage_put_latency_seconds", "p95", 0.150, false, seed + " storage: p95 PUT of 1 MiB <= 150 ms", Anywhere,
		"a put is acknowledged by W of R replicas, so one crashed replica does not slow it", "RonPutLatencyHigh"},
	{"storage_get_p95", "storage_get_latency_seconds", "p95", 0.080, false, seed + " storage: p95 GET of 1 MiB <= 80 ms", Anywhere,
		"a get falls over to another replica, so one crashed replica does not slow most", "RonGetLatencyHigh"},
	{"storage_replication_lag_p95", "storage_replication_lag_seconds", "p95", 10, false, "not a seed figure (the seed names the metric, not a number): 10 s, this project's choice", Anywhere,
		"repair restores R after crashes within a few repair rounds", "RonReplicationLagHigh"},
}

// HistogramStat reports whether stat is one of a histogram's statistics.
func HistogramStat(stat string) bool {
	switch stat {
	case "mean", "p50", "p95", "p99", "max":
		return true
	}
	return false
}
