package sim

import (
	"math"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// NetworkConfig is the model of every link. Zero means a perfect network
// with zero latency.
type NetworkConfig struct {
	// LatencyP50 and LatencyP99 fit a lognormal one-way latency: the median
	// is P50 and the 99th percentile is P99. P99 <= P50 gives a constant P50.
	LatencyP50, LatencyP99 time.Duration
	// Loss, Duplicate and Reorder are probabilities per message. A duplicate
	// travels with its own latency draw. Reorder adds an extra delay drawn
	// uniformly up to ReorderDelayFactor*P99.
	Loss, Duplicate, Reorder float64
	// BandwidthBytesPerSecond caps each node's uplink (0 = unlimited): a
	// frame occupies the sender's link for len/bandwidth, FIFO per sender,
	// before its latency starts.
	BandwidthBytesPerSecond int64
}

// ReorderDelayFactor scales P99 to the largest extra delay of a reordered
// message.
const ReorderDelayFactor = 4

// z99 is the 99th percentile of the standard normal distribution.
const z99 = 2.3263478740408408

// latencyModel is a NetworkConfig with the lognormal parameters precomputed.
type latencyModel struct {
	cfg   NetworkConfig
	mu    float64 // ln of the median, in nanoseconds
	sigma float64 // 0 means constant latency
	// spare holds the second normal variate of the last polar draw.
	spare    float64
	hasSpare bool
}

func newLatencyModel(c NetworkConfig) latencyModel {
	m := latencyModel{cfg: c}
	if c.LatencyP50 > 0 {
		m.mu = math.Log(float64(c.LatencyP50))
		if c.LatencyP99 > c.LatencyP50 {
			m.sigma = math.Log(float64(c.LatencyP99)/float64(c.LatencyP50)) / z99
		}
	}
	return m
}

// draw returns one latency sample.
func (m *latencyModel) draw(r *env.Rand) time.Duration {
	if m.cfg.LatencyP50 <= 0 {
		return 0
	}
	if m.sigma == 0 {
		return m.cfg.LatencyP50
	}
	return time.Duration(math.Exp(m.mu + m.sigma*m.normal(r)))
}

// normal draws a standard normal variate with the Marsaglia polar method,
// keeping the second variate for the next call.
func (m *latencyModel) normal(r *env.Rand) float64 {
	if m.hasSpare {
		m.hasSpare = false
		return m.spare
	}
	for {
		u := 2*r.Float64() - 1
		v := 2*r.Float64() - 1
		s := u*u + v*v
		if s > 0 && s < 1 {
			f := math.Sqrt(-2 * math.Log(s) / s)
			m.spare, m.hasSpare = v*f, true
			return u * f
		}
	}
}

// NetStats counts what the network did with the frames handed to Send.
type NetStats struct {
	Sent        uint64 // frames handed to Send by live nodes
	Delivered   uint64 // frames delivered to a node (duplicates included)
	Lost        uint64 // dropped by the Loss probability
	Cut         uint64 // dropped by a partition, at send or at delivery
	Duplicated  uint64 // extra copies made by the Duplicate probability
	Reordered   uint64 // frames given the extra reorder delay
	DroppedDown uint64 // target crashed (at send or before delivery)
	Unknown     uint64 // target NodeID is not a node of the world
}

// cutRule is one network fault. A partition rule assigns every node a
// group (nodes in different groups cannot talk); a one-way rule drops
// frames from a node in from to a node in to.
type cutRule struct {
	group    []int32 // partition: group of each node
	from, to []bool  // one-way: membership of each node
}

func (c *cutRule) blocks(from, to int32) bool {
	if c.group != nil {
		return c.group[from] != c.group[to]
	}
	return c.from[from] && c.to[to]
}

// blocked reports whether any active rule drops frames from -> to.
func (w *World) blocked(from, to int32) bool {
	for i := range w.cuts {
		if w.cuts[i].blocks(from, to) {
			return true
		}
	}
	return false
}

// send is the network model behind env.Send of node from.
func (w *World) send(from int32, to proto.NodeID, frame []byte) {
	if w.rewrite != nil {
		frame = w.rewrite(int(from), to, frame)
	}
	target, ok := w.index[to]
	if !ok {
		w.net.Unknown++
		return
	}
	w.net.Sent++
	if len(w.cuts) > 0 && w.blocked(from, target) {
		w.net.Cut++
		return
	}
	if w.nodes[target].node == nil {
		w.net.DroppedDown++
		return
	}
	r := w.netRand
	cfg := &w.latency.cfg
	if cfg.Loss > 0 && r.Bool(cfg.Loss) && !w.has(BugNoLoss) {
		w.net.Lost++
		return
	}
	depart := w.departure(from, len(frame))
	w.scheduleMessage(from, target, frame, depart+w.transit(r))
	if cfg.Duplicate > 0 && r.Bool(cfg.Duplicate) && !w.has(BugNoDuplicate) {
		w.net.Duplicated++
		dup := append([]byte(nil), frame...) // the receiver owns each copy
		w.scheduleMessage(from, target, dup, depart+w.transit(r))
	}
}

// transit draws one copy's time on the wire, reorder delay included.
func (w *World) transit(r *env.Rand) time.Duration {
	d := w.latency.draw(r)
	cfg := &w.latency.cfg
	if cfg.Reorder > 0 && r.Bool(cfg.Reorder) && !w.has(BugNoReorder) {
		w.net.Reordered++
		span := ReorderDelayFactor * max(cfg.LatencyP99, cfg.LatencyP50)
		if span > 0 {
			d += time.Duration(r.Uint64n(uint64(span) + 1))
		}
	}
	return d
}

// departure is when a frame of size bytes leaves the sender's uplink: the
// link serialises frames one after another at the configured bandwidth.
func (w *World) departure(from int32, size int) time.Duration {
	bw := w.latency.cfg.BandwidthBytesPerSecond
	if bw <= 0 {
		return w.now
	}
	n := &w.nodes[from]
	start := max(n.uplinkFree, w.now)
	serialise := time.Duration((int64(size)*int64(time.Second) + bw - 1) / bw)
	n.uplinkFree = start + serialise
	return n.uplinkFree
}

func (w *World) scheduleMessage(from, to int32, frame []byte, at time.Duration) {
	slot := w.q.alloc()
	ev := &w.q.slab[slot]
	ev.kind = KindMessage
	ev.node = to
	ev.from = from
	ev.inc = w.nodes[to].inc
	ev.frame = frame
	w.q.push(at, slot)
}

// Partition splits the nodes into groups that cannot talk to each other;
// nodes not listed form one more group. It adds to any cuts already active.
func (w *World) Partition(groups ...[]int) {
	group := make([]int32, len(w.nodes))
	for g, members := range groups {
		for _, i := range members {
			group[w.checkIndex(i)] = int32(g + 1)
		}
	}
	if !w.has(BugSplitLeaks) {
		w.cuts = append(w.cuts, cutRule{group: group})
	}
	w.recordFault(FaultRecord{Kind: FaultPartition, Node: -1, Groups: copyGroups(groups)})
}

// CutOneWay drops frames from every node of from to every node of to; the
// reverse direction still flows.
func (w *World) CutOneWay(from, to []int) {
	if !w.has(BugOneWayLeaks) {
		w.cuts = append(w.cuts, cutRule{from: w.members(from), to: w.members(to)})
	}
	w.recordFault(FaultRecord{Kind: FaultCutOneWay, Node: -1, Groups: copyGroups([][]int{from, to})})
}

// Isolate cuts node i off from every other node, both ways.
func (w *World) Isolate(i int) {
	group := make([]int32, len(w.nodes))
	group[w.checkIndex(i)] = 1
	if !w.has(BugIsolateLeaks) {
		w.cuts = append(w.cuts, cutRule{group: group})
	}
	w.recordFault(FaultRecord{Kind: FaultIsolate, Node: i})
}

// Bridge cuts left from right (both ways) while both still talk to via,
// and to nodes in neither list: the "majority split through one node".
func (w *World) Bridge(left, right []int, via int) {
	w.checkIndex(via)
	l, r := w.members(left), w.members(right)
	if l[via] || r[via] {
		panic("sim: Bridge: the via node is on one side")
	}
	if !w.has(BugBridgeLeaks) {
		w.cuts = append(w.cuts, cutRule{from: l, to: r}, cutRule{from: r, to: l})
	}
	w.recordFault(FaultRecord{Kind: FaultBridge, Node: via, Groups: copyGroups([][]int{left, right})})
}

// Heal removes every cut.
func (w *World) Heal() {
	w.cuts = nil
	w.recordFault(FaultRecord{Kind: FaultHeal, Node: -1})
}

// SetNetwork replaces the link model for frames sent from now on.
func (w *World) SetNetwork(c NetworkConfig) {
	checkNetwork(c)
	w.latency = newLatencyModel(c)
	w.recordFault(FaultRecord{Kind: FaultNetwork, Node: -1, Network: c})
}

// Network returns the current link model.
func (w *World) Network() NetworkConfig { return w.latency.cfg }

// NetStats returns the network's counters so far.
func (w *World) NetStats() NetStats { return w.net }

func checkNetwork(c NetworkConfig) {
	for _, p := range []float64{c.Loss, c.Duplicate, c.Reorder} {
		if p < 0 || p > 1 || math.IsNaN(p) {
			panic("sim: network probability outside [0, 1]")
		}
	}
	if c.LatencyP50 < 0 || c.LatencyP99 < 0 || c.BandwidthBytesPerSecond < 0 {
		panic("sim: negative network latency or bandwidth")
	}
}

func (w *World) members(list []int) []bool {
	set := make([]bool, len(w.nodes))
	for _, i := range list {
		set[w.checkIndex(i)] = true
	}
	return set
}

func (w *World) checkIndex(i int) int {
	if i < 0 || i >= len(w.nodes) {
		panic("sim: node index out of range")
	}
	return i
}

func copyGroups(groups [][]int) [][]int {
	out := make([][]int, len(groups))
	for i, g := range groups {
		out[i] = append([]int(nil), g...)
	}
	return out
}

// SetRewrite installs fn over every frame a node sends, before the
// network model sees it: fn gets the sender's index, the destination and
// the frame, and returns the frame to send (the same one, or a new one:
// it must not modify its input, which the sender may still own). The simulator's
// adversaries (a lying storage node) use it; nil removes it. A world
// without a rewrite draws nothing and sends what the nodes sent.
func (w *World) SetRewrite(fn func(from int, to proto.NodeID, frame []byte) []byte) { w.rewrite = fn }
