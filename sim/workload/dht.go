package workload

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/ron-network/ron/core/dht"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/sim"
)

// DHTConfig configures the lookup clients.
type DHTConfig struct {
	Clients       int
	RatePerSecond float64
	Timeout       time.Duration
	Start, Stop   time.Duration
	// K is the nodes' bucket size: a lookup is exact when its result is the
	// K closest live nodes.
	K int
}

// Lookup is one client FindNode lookup. A lookup without a reply by its
// deadline (or whose node crashed) has TimedOut set; one with neither
// flag was still running when the run ended and is not graded.
type Lookup struct {
	Client   int
	Node     int
	Call     time.Duration
	Return   time.Duration
	Answered bool
	TimedOut bool
	// Ran is false when the node refused to start the lookup (not started,
	// empty table, too many lookups): there are no hops to count.
	Ran  bool
	Hops int
	Err  string // "" or the DHT's error
	// Success: the result holds the closest live node; Exact: the result's
	// ids are exactly the K closest live nodes.
	Success, Exact bool
}

// DHT is the lookup workload: each client asks a random up node to find
// the K nodes closest to a random id, and grades the answer against the
// ground truth over every live node at the time of the reply.
type DHT struct {
	cfg     DHTConfig
	w       *sim.World
	rand    *env.Rand
	truth   truth
	lookups []*Lookup
}

// NewDHT prepares cfg.Clients lookup clients on w. Their random choices
// come from the world's "workload/dht" stream, independent of the other
// workloads. Start schedules them.
func NewDHT(w *sim.World, cfg DHTConfig) *DHT {
	if cfg.K <= 0 {
		cfg.K = dht.KDefault
	}
	return &DHT{cfg: cfg, w: w, rand: w.Rand("workload/dht"), truth: newTruth(w)}
}

// Lookups are the recorded lookups, in invocation order.
func (d *DHT) Lookups() []*Lookup { return d.lookups }

// Start schedules every client's first lookup.
func (d *DHT) Start() {
	if d.cfg.Clients == 0 || d.cfg.RatePerSecond <= 0 {
		return
	}
	for c := 0; c < d.cfg.Clients; c++ {
		d.w.At(d.cfg.Start+d.think(), func() { d.issue(c) })
	}
}

func (d *DHT) think() time.Duration {
	mean := float64(d.cfg.Clients) / d.cfg.RatePerSecond
	return time.Duration(d.rand.ExpFloat64() * mean * float64(time.Second))
}

func (d *DHT) issue(client int) {
	if d.w.Now() >= d.cfg.Stop {
		return
	}
	target := pickUp(d.w, d.rand)
	if target < 0 {
		d.w.After(d.think(), func() { d.issue(client) })
		return
	}
	var id proto.NodeID
	d.rand.Fill(id[:])
	op := &Lookup{Client: client, Node: target, Call: d.w.Now()}
	d.lookups = append(d.lookups, op)
	done := false
	finish := func(res *dht.LookupResult) {
		if done {
			return
		}
		done = true
		if res != nil {
			d.grade(op, id, res)
		} else {
			op.TimedOut = true
		}
		d.w.After(d.think(), func() { d.issue(client) })
	}
	d.w.Request(target, "dht", dht.FindNode{Target: id}, func(resp any) {
		res, ok := resp.(dht.LookupResult)
		if !ok {
			res = dht.LookupResult{Err: errors.New("workload: unexpected reply")}
		}
		finish(&res)
	})
	d.w.After(d.cfg.Timeout, func() { finish(nil) })
}

// grade records the reply and compares it with the live nodes now.
func (d *DHT) grade(op *Lookup, target proto.NodeID, res *dht.LookupResult) {
	op.Answered = true
	op.Return = d.w.Now()
	op.Hops = res.Hops
	op.Ran = !errors.Is(res.Err, dht.ErrNotStarted) && !errors.Is(res.Err, dht.ErrOverloaded) && !errors.Is(res.Err, dht.ErrNoContacts)
	if res.Err != nil {
		op.Err = res.Err.Error()
	}
	want := d.truth.closest(target, d.cfg.K, d.w.Up)
	if len(want) == 0 {
		return
	}
	op.Success = slices.Contains(res.Closest, want[0])
	op.Exact = sameSet(res.Closest, want)
}

func sameSet(got, want []proto.NodeID) bool {
	if len(got) != len(want) {
		return false
	}
	for _, id := range want {
		if !slices.Contains(got, id) {
			return false
		}
	}
	return true
}

// pickUp draws an up node, or -1 when every node is down.
func pickUp(w *sim.World, rand *env.Rand) int {
	n := w.Nodes()
	start := rand.Intn(n)
	for k := 0; k < n; k++ {
		if i := (start + k) % n; w.Up(i) {
			return i
		}
	}
	return -1
}

// Dist summarises a sample: nearest-rank percentiles.
type Dist struct {
	Count               int
	Mean, P50, P95, P99 float64
	Max                 float64
}

// NewDist summarises xs (it sorts xs in place).
func NewDist(xs []float64) Dist {
	if len(xs) == 0 {
		return Dist{}
	}
	sort.Float64s(xs)
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	rank := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(xs)))) - 1
		return xs[min(max(i, 0), len(xs)-1)]
	}
	return Dist{Count: len(xs), Mean: sum / float64(len(xs)), P50: rank(0.5), P95: rank(0.95), P99: rank(0.99), Max: xs[len(xs)-1]}
}

// DHTStats are the lookup workload's figures. The ratios are over every
// lookup that ended (a lookup without a reply by its deadline is a
// failure; one still running at the end of the run is not counted), hops
// over the lookups that ran, latency over the lookups that got a reply.
type DHTStats struct {
	Lookups, Answered    int
	Success, Exact       int
	SuccessRatio         float64
	ExactRatio           float64
	Hops, LatencySeconds Dist
	Errors               map[string]int // DHT error text -> count
	Unanswered, NotRun   int
	// Running counts the lookups still running when the run ended; they
	// are not in Lookups.
	Running int
}

// Stats summarises the lookups recorded so far.
func (d *DHT) Stats() DHTStats {
	st := DHTStats{Errors: map[string]int{}}
	var hops, latency []float64
	for _, op := range d.lookups {
		if !op.Answered && !op.TimedOut {
			st.Running++
			continue
		}
		st.Lookups++
		if !op.Answered {
			st.Unanswered++
			continue
		}
		st.Answered++
		latency = append(latency, (op.Return - op.Call).Seconds())
		if op.Ran {
			hops = append(hops, float64(op.Hops))
		} else {
			st.NotRun++
		}
		if op.Err != "" {
			st.Errors[op.Err]++
		}
		if op.Success {
			st.Success++
		}
		if op.Exact {
			st.Exact++
		}
	}
	if st.Lookups > 0 {
		st.SuccessRatio = float64(st.Success) / float64(st.Lookups)
		st.ExactRatio = float64(st.Exact) / float64(st.Lookups)
	}
	st.Hops = NewDist(hops)
	st.LatencySeconds = NewDist(latency)
	return st
}

// truth finds the K closest live nodes to an id. ids is sorted, so the ids
// sharing a prefix of p bits with the target form one contiguous range,
// and every id inside that range is closer (XOR) than every id outside it.
// closest narrows to the longest prefix whose range still holds K live
// ids and sorts only that range: O(256 log n + range) per lookup instead
// of a scan over every node.
type truth struct {
	ids   []proto.NodeID
	index []int32 // node index of ids[i]
}

func newTruth(w *sim.World) truth {
	ids := make([]proto.NodeID, w.Nodes())
	for i := range ids {
		ids[i] = w.NodeID(i)
	}
	return newTruthOf(ids)
}

// newTruthOf indexes ids; node i is ids[i].
func newTruthOf(ids []proto.NodeID) truth {
	t := truth{ids: make([]proto.NodeID, len(ids)), index: make([]int32, len(ids))}
	for i := range t.index {
		t.index[i] = int32(i)
	}
	sort.Slice(t.index, func(a, b int) bool {
		return bytes.Compare(ids[t.index[a]][:], ids[t.index[b]][:]) < 0
	})
	for i, idx := range t.index {
		t.ids[i] = ids[idx]
	}
	return t
}

// span returns the range [lo, hi) of ids sharing the first p bits of target.
func (t *truth) span(target proto.NodeID, p int) (int, int) {
	low, high := target, target
	for bit := p; bit < 8*proto.IDBytes; bit++ {
		mask := byte(0x80 >> (bit % 8))
		low[bit/8] &^= mask
		high[bit/8] |= mask
	}
	lo := sort.Search(len(t.ids), func(i int) bool { return bytes.Compare(t.ids[i][:], low[:]) >= 0 })
	hi := sort.Search(len(t.ids), func(i int) bool { return bytes.Compare(t.ids[i][:], high[:]) > 0 })
	return lo, hi
}

// closest returns up to k live ids nearest to target, nearest first.
func (t *truth) closest(target proto.NodeID, k int, up func(int) bool) []proto.NodeID {
	live := func(lo, hi int) []proto.NodeID {
		var out []proto.NodeID
		for i := lo; i < hi; i++ {
			if up(int(t.index[i])) {
				out = append(out, t.ids[i])
			}
		}
		return out
	}
	p := 0
	for p < 8*proto.IDBytes {
		lo, hi := t.span(target, p+1)
		if hi-lo < k {
			break
		}
		p++
	}
	var in []proto.NodeID
	for ; p >= 0; p-- {
		lo, hi := t.span(target, p)
		if in = live(lo, hi); len(in) >= k || p == 0 {
			break
		}
	}
	slices.SortFunc(in, func(a, b proto.NodeID) int { return xorCompare(&a, &b, &target) })
	return in[:min(k, len(in))]
}

// xorCompare orders a and b by XOR distance to target.
func xorCompare(a, b, target *proto.NodeID) int {
	for i := range a {
		da, db := a[i]^target[i], b[i]^target[i]
		if da != db {
			if da < db {
				return -1
			}
			return 1
		}
	}
	return 0
}
