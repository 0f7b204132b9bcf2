package runner

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/storage"
	"github.com/ron-network/ron/sim/check"
	"github.com/ron-network/ron/sim/scenario"
	"github.com/ron-network/ron/sim/workload"
)

// adversary is a run's storage liars (scenario `adversary:`): they run
// the honest state machine and the world rewrites their outgoing storage
// frames through storage.LieFrame, drawing from the "adversary" stream
// (a run without liars draws nothing from it, so its trace is as before).
type adversary struct {
	liar    []bool // by node index
	garbage []int  // garbage chunk replies sent to each node
	lies    map[storage.LieKinds]int
	// liarsOnly marks the gets through honest nodes whose object, when
	// called, neither the node nor an honest placement node held (only
	// liars had acknowledged it yet): liar_gets does not judge them.
	liarsOnly map[*workload.Op]bool
}

// LiarFaultSettle widens each fault window for the liar_gets check: the
// time after a fault for the cut-off replicas to be reachable again and
// repaired.
const LiarFaultSettle = 3 * time.Second

// lieKinds maps the scenario's lie names to storage's bits.
var lieKinds = map[string]storage.LieKinds{
	scenario.LieMovedManifest:    storage.LieMovedManifest,
	scenario.LieSizeManifest:     storage.LieSizeManifest,
	scenario.LieRefuseChunks:     storage.LieRefuseChunks,
	scenario.LieCorruptStatus:    storage.LieCorruptStatus,
	scenario.LieGarbageChunks:    storage.LieGarbageChunks,
	scenario.LieWrongOffsetFetch: storage.LieWrongOffsetFetch,
}

// startAdversary installs the liars' rewrite (before any node sends).
func (r *run) startAdversary() {
	a := r.scn.Adversary
	if a == nil {
		return
	}
	n := r.w.Nodes()
	r.adversary = &adversary{liar: make([]bool, n), garbage: make([]int, n), lies: map[storage.LieKinds]int{}, liarsOnly: map[*workload.Op]bool{}}
	for _, name := range a.StorageLiars {
		if i, ok := scenario.NodeIndex(name); ok && i < n {
			r.adversary.liar[i] = true
		}
	}
	var kinds storage.LieKinds
	for _, l := range a.Lies {
		kinds |= lieKinds[l]
	}
	rand := r.w.Rand("adversary")
	adv := r.adversary
	r.w.SetRewrite(func(from int, to proto.NodeID, frame []byte) []byte {
		if !adv.liar[from] {
			return frame
		}
		out, lie := storage.LieFrame(frame, rand, kinds, a.Rate)
		if lie != 0 {
			adv.lies[lie]++
			if i, ok := r.w.Index(to); ok && lie == storage.LieGarbageChunks {
				adv.garbage[i]++
			}
		}
		return out
	})
}

// noteLiarsOnly is the content workload's Issued hook in a run with
// liars: it marks a get through an honest node whose object neither that
// node nor an honest placement node holds (a put acknowledged by two
// liars, its honest replica not yet committed): the get can find only the
// liars' manifests, and a liar's lie may then cost it the get, which is
// no fault of the honest node. It reads state only: no event, no draw.
func (r *run) noteLiarsOnly(op *workload.Op) {
	if op.Kind != workload.OpGet && op.Kind != workload.OpRangeGet || r.lies(op.Node) {
		return
	}
	s, _ := op.Input["addr"].(string)
	addr, err := proto.ParseAddr(s)
	if err != nil {
		return
	}
	holds := func(i int) bool { st := r.cluster.storageOf(i); return st != nil && st.HasLocal(addr) }
	if holds(op.Node) {
		return
	}
	for _, id := range check.Placement(r.cluster.ids, addr, StorageReplicas) {
		if i, ok := r.w.Index(id); ok && !r.lies(i) && holds(i) {
			return
		}
	}
	r.adversary.liarsOnly[op] = true
}

// checkLiars: honest nodes counted no corruption a liar caused, and no
// get through an honest node failed as corrupt or as a bad manifest.
func (r *run) checkLiars() []check.Result {
	a := r.adversary
	n := r.w.Nodes()
	counted := make([]float64, n)
	skip := make([]bool, n)
	allDisks := corrupts(r.scn.Disk.CorruptRead, r.scn.Disk.CorruptWrite, r.scn.Disk.TornWrite)
	for i := range n {
		counted[i] = r.w.Metrics().CounterOn(storage.MetricCorruption, i)
		skip[i] = allDisks
	}
	for _, f := range r.scn.Faults {
		if d := f.Disk; d != nil && corruptsPtr(d.CorruptRead, d.CorruptWrite, d.TornWrite) {
			if i, ok := scenario.NodeIndex(d.Node); ok && i < n {
				skip[i] = true
			}
		}
	}
	from := make([][]int, n) // from[i][j]: corruption node i counted against node j
	for i := range from {
		from[i] = make([]int, n)
		for j := range n {
			from[i][j] = r.cluster.corruptFrom[[2]int{i, j}]
		}
	}
	c := check.LiarCorruption(counted, from, a.garbage, a.liar, skip)
	c.Detail += " (lies told: " + a.told() + ")"
	out := []check.Result{c}
	if r.content != nil {
		var windows [][2]int64
		for _, f := range r.scn.Faults {
			windows = append(windows, [2]int64{int64(f.At), int64(f.End(r.scn.Duration) + LiarFaultSettle)})
		}
		if r.scn.RandomFaults != nil {
			// Random faults have no windows the check can read.
			windows = append(windows, [2]int64{0, int64(r.scn.Duration) + int64(LiarFaultSettle)})
		}
		out = append(out, check.LiarGets(r.content.History(), a.liar, windows, a.liarsOnly))
	}
	return out
}

func corrupts(ps ...float64) bool {
	return slices.ContainsFunc(ps, func(p float64) bool { return p > 0 })
}

func corruptsPtr(ps ...*float64) bool {
	return slices.ContainsFunc(ps, func(p *float64) bool { return p != nil && *p > 0 })
}

// told lists the lies told, by kind, in the scenario's names.
func (a *adversary) told() string {
	var parts []string
	for _, name := range scenario.LieNames {
		if k := a.lies[lieKinds[name]]; k > 0 {
			parts = append(parts, name+" "+strconv.Itoa(k))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// lies reports whether node i is a storage liar.
func (r *run) lies(i int) bool { return r.adversary != nil && r.adversary.liar[i] }
