package sim

import "github.com/ron-network/ron/core/env"

// NodeClock reads node i's clock now, as the node's env would (its offset and
// drift applied), without moving the node's own monotonic reading: the
// edge that simulated clients enter through (sim/runner) lives beside the
// node, as rond's gateway lives in the node's process, and reads the same
// clock.
func (w *World) NodeClock(i int) env.Time {
	n := &w.nodes[w.checkIndex(i)]
	return max(clockAt(n, w.now), n.lastReading)
}

// NodeMetrics is a sink that records into the run's metrics as node i:
// the edge's counters (omnigate_shed_total) land with the node's own.
func (w *World) NodeMetrics(i int) env.Metrics {
	return &metricsSink{m: w.metrics, node: int32(w.checkIndex(i))}
}
