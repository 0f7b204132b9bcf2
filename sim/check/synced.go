package check

import (
	"encoding/hex"
	"fmt"
	"time"

	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/sim/workload"
)

// SyncedWrites is the durability check the runner feeds at every restart:
// each registry write acknowledged by then (a claim or set answered ok)
// must be on the durable disk of a majority of the replicas, in the
// snapshot state or in a log entry. It fires at the restart that follows
// the loss, before the lost entries can make raft panic on a commit index
// past the recovered log ("tocommit out of range") or a linearizability
// search find a later read without them, and it names the write.
type SyncedWrites struct {
	restarts int
	checked  int // write checks made, summed over restarts
	skipped  int // replica disks with unreadable pairs (given the benefit of the doubt)
	wiped    int // wiped replica disks, not yet confirmed (likewise, for writes invoked before the wipe)
	failure  string
}

// AtRestart checks every write of h acknowledged at or before now against
// durable, one decoded disk per registry replica (registry.ReadDurable).
// node is the restarting node (0-based), for the verdict. Only the first
// failure is kept.
func (s *SyncedWrites) AtRestart(now time.Duration, node int, h *workload.History, durable []registry.Durable) {
	s.AtRestartAmnesic(now, node, h, durable, nil)
}

// Wipe is what the runner knows of one replica's wipes (the `wipe`
// fault): Wiped while its disk has been erased on purpose and the replica
// not seen confirmed again since (core/registry doc.go, "Amnesia"); At is
// when the latest wipe erased it.
type Wipe struct {
	Wiped bool
	At    time.Duration
}

// AtRestartAmnesic is AtRestart where wipes[j] tells whether replica j's
// disk was wiped on purpose and the replica is not yet confirmed again.
// What a wipe erased is the fault's doing, not an acknowledgement before a
// sync, so a wiped disk is counted as holding a write invoked at or before
// the wipe (it may have held it then; a write still in flight at the wipe
// is acknowledged after it). A write invoked after the wipe gets no such
// benefit: the wipe cannot explain its loss, and only what the disk holds
// now counts. Either way the disk counts at most once.
func (s *SyncedWrites) AtRestartAmnesic(now time.Duration, node int, h *workload.History, durable []registry.Durable, wipes []Wipe) {
	s.restarts++
	if s.failure != "" || len(durable) == 0 {
		return
	}
	need := len(durable)/2 + 1
	unknown := 0
	wiped := func(j int) bool { return j < len(wipes) && wipes[j].Wiped }
	for j, d := range durable {
		switch {
		case d.Unreadable > 0:
			unknown++
			s.skipped++
		case wiped(j):
			s.wiped++
		}
	}
	idx := make([]durableIndex, len(durable))
	for j := range durable {
		idx[j] = indexDurable(&durable[j])
	}
	for i, op := range h.Ops {
		if op.Unknown() || time.Duration(*op.Return) > now || (op.Kind != workload.OpClaim && op.Kind != workload.OpSet) {
			continue
		}
		if ok, _ := op.Output["ok"].(bool); !ok {
			continue
		}
		s.checked++
		have := unknown
		var holders []int
		erased := 0
		for j := range durable {
			switch {
			case durable[j].Unreadable > 0:
				// counted in unknown
			case idx[j].holds(op):
				have++
				holders = append(holders, j+1)
			case wiped(j) && time.Duration(op.Call) <= wipes[j].At:
				have++
				erased++
			}
		}
		if have < need {
			s.failure = fmt.Sprintf("at the restart of n%d (%v): op %d (%s %s %s by client %d, acknowledged at %v) is durable on %d of %d replicas %v, fewer than a majority (%d)",
				node+1, now, i, op.Kind, op.Name, describeInput(op), op.Client, time.Duration(*op.Return), have, len(durable), holders, need)
			if erased > 0 {
				s.failure += fmt.Sprintf(" (counting %d wiped disks as holding it)", erased)
			}
			return
		}
	}
}

// Restarts is how many restarts were checked.
func (s *SyncedWrites) Restarts() int { return s.restarts }

// Failed reports whether a restart found a lost acknowledged write.
func (s *SyncedWrites) Failed() bool { return s.failure != "" }

// Result is the check's verdict; a run without a restart has nothing to
// judge and passes, saying so.
func (s *SyncedWrites) Result() Result {
	const name = "synced_writes"
	if s.failure != "" {
		return Result{Name: name, Detail: s.failure}
	}
	if s.restarts == 0 {
		return Result{Name: name, OK: true, Detail: "no restart to check at"}
	}
	detail := fmt.Sprintf("at %d restarts, every acknowledged write (%d checks) was durable on a majority of replicas", s.restarts, s.checked)
	if s.skipped > 0 {
		detail += fmt.Sprintf(" (%d replica disks with unreadable pairs counted as holding every write)", s.skipped)
	}
	if s.wiped > 0 {
		detail += fmt.Sprintf(" (%d wiped replica disks, not yet confirmed, counted as holding every write invoked before the wipe)", s.wiped)
	}
	return Result{Name: name, OK: true, Detail: detail}
}

func describeInput(op *workload.Op) string {
	owner, _ := op.Input["owner"].(string)
	if len(owner) > 8 {
		owner = owner[:8]
	}
	if op.Kind == workload.OpSet {
		return fmt.Sprintf("seq %v owner %s", op.Input["seq"], owner)
	}
	return "owner " + owner
}

// durableIndex answers "does this disk hold the write" in O(1).
type durableIndex struct {
	names  map[string]registry.Record
	claims map[[2]string]bool         // name, owner hex
	sets   map[string]map[uint64]bool // name -> seqs with an entry
}

func indexDurable(d *registry.Durable) durableIndex {
	x := durableIndex{names: d.Names, claims: map[[2]string]bool{}, sets: map[string]map[uint64]bool{}}
	for _, w := range d.Writes {
		if !w.Set {
			x.claims[[2]string{w.Name, hex.EncodeToString(w.Owner)}] = true
			continue
		}
		if x.sets[w.Name] == nil {
			x.sets[w.Name] = map[uint64]bool{}
		}
		x.sets[w.Name][w.Seq] = true
	}
	return x
}

// holds: a claim is held when the snapshot names the owner or a claim
// entry does; a set of seq s when the snapshot is at seq >= s (seqs only
// grow and owners never change) or an entry sets seq s.
func (x *durableIndex) holds(op *workload.Op) bool {
	owner, _ := op.Input["owner"].(string)
	rec, inSnap := x.names[op.Name]
	if op.Kind == workload.OpClaim {
		return (inSnap && hex.EncodeToString(rec.Owner) == owner) || x.claims[[2]string{op.Name, owner}]
	}
	seq, _ := op.Input["seq"].(uint64)
	return (inSnap && rec.Seq >= seq) || x.sets[op.Name][seq]
}
