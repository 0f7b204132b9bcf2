package runner

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
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
	// liarsOnly are the gets (history indexes) sent while no honest up
	// placement node of their object held it: the liars held the only
	// copies, so they decided the get's outcome.
	liarsOnly map[int]bool
}

// noteGet is the content workload's OnIssue: it notes the gets sent
// while only liars held the object (liar_gets judges the others): no
// honest node held it, neither the node the get goes through (up, as it
// takes the get) nor any other that is up, placement node or not (a
// coordinator's pinned copy, reachable through the DHT's providers), as
// when a put was acknowledged by two liars and its honest replica had not
// committed yet. It only reads the nodes' state: no event, no draw.
func (a *adversary) noteGet(r *run) func(int, *workload.Op, proto.Addr) {
	a.liarsOnly = map[int]bool{}
	return func(i int, op *workload.Op, addr proto.Addr) {
		if op.Kind != workload.OpGet && op.Kind != workload.OpRangeGet || a.liar[op.Node] {
			return
		}
		for j := range r.w.Nodes() {
			if s := r.cluster.storageOf(j); !a.liar[j] && (j == op.Node || r.w.Up(j)) && s != nil && s.HasLocal(addr) {
				return
			}
		}
		a.liarsOnly[i] = true
	}
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
	scenario.LieGarbagePush:      storage.LieGarbagePush,
	scenario.LieLyingCommit:      storage.LieLyingCommit,
	scenario.LieFalseHeld:        storage.LieFalseHeld,
}

// checkAsked identifies a Check request a node sent a liar, for the
// liar's reply to it (false_held): the asker's index, the liar's, and
// the request's correlation id.
type checkAsked struct {
	asker, liar int
	corr        uint64
}

// startAdversary installs the liars' rewrite (before any node sends).
func (r *run) startAdversary() {
	a := r.scn.Adversary
	if a == nil {
		return
	}
	n := r.w.Nodes()
	r.adversary = &adversary{liar: make([]bool, n), garbage: make([]int, n), lies: map[storage.LieKinds]int{}}
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
	// Replies carry no request kind: with false_held, remember the Checks
	// sent to liars (any other request with the same corr id from the same
	// asker, as after the asker's restart, clears the entry).
	var checks map[checkAsked]bool
	if kinds&storage.LieFalseHeld != 0 {
		checks = map[checkAsked]bool{}
	}
	r.w.SetRewrite(func(from int, to proto.NodeID, frame []byte) []byte {
		i, known := r.w.Index(to)
		if !adv.liar[from] {
			if checks != nil && known && adv.liar[i] {
				if corr, ok := storageCorr(frame, oap.FlagREQ); ok {
					k := checkAsked{from, i, corr}
					if _, check := storage.LieCheckAsked(frame); check {
						checks[k] = true
					} else {
						delete(checks, k)
					}
				}
			}
			return frame
		}
		answersCheck := false
		if checks != nil && known {
			if corr, ok := storageCorr(frame, oap.FlagRESP); ok {
				k := checkAsked{i, from, corr}
				answersCheck = checks[k]
				delete(checks, k)
			}
		}
		out, lie := storage.LieFrame(frame, answersCheck, rand, kinds, a.Rate)
		if lie != 0 {
			adv.lies[lie]++
			if known && lie == storage.LieGarbageChunks {
				adv.garbage[i]++
			}
		}
		return out
	})
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
		out = append(out, check.LiarWrites(r.heldManifests(skip)))
	}
	return out
}

// heldManifests lists, for every honest up node whose disk corrupts
// nothing (skip), the manifests it holds of objects the workload put,
// beside each object's own, with the chunk bytes on its disk.
func (r *run) heldManifests(skip []bool) []check.HeldManifest {
	var held []check.HeldManifest
	type object struct {
		data []byte
		man  storage.Manifest
	}
	objects := map[proto.Addr]object{}
	for i := range r.w.Nodes() {
		s := r.cluster.storageOf(i)
		if r.lies(i) || skip[i] || !r.w.Up(i) || s == nil {
			continue
		}
		disk := r.w.Disk(i).Snapshot()
		for _, addr := range s.LocalObjects() {
			o, ok := r.content.Object(addr)
			got, holds := s.LocalManifest(addr)
			if !ok || !holds {
				continue
			}
			obj, seen := objects[addr]
			if !seen {
				obj.data = o.Bytes()
				_, obj.man = storage.Split(obj.data, storage.ChunkBytesDefault)
				objects[addr] = obj
			}
			stored := make([][]byte, len(got.Chunks))
			for k, c := range got.Chunks {
				stored[k] = disk[string(storage.DiskKey(storage.DiskPrefixChunk, c.Addr))]
			}
			held = append(held, check.HeldManifest{Node: i, Addr: addr, Got: got, Want: obj.man, Data: obj.data, Stored: stored})
		}
	}
	return held
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

// storageCorr is the correlation id of a storage frame carrying flag
// (oap.FlagREQ or oap.FlagRESP).
func storageCorr(frame []byte, flag uint16) (uint64, bool) {
	f, err := oap.Decode(frame)
	if err != nil || f.AppProto != oap.ProtoStorage || f.Flags&flag == 0 {
		return 0, false
	}
	return f.CorrID, true
}
