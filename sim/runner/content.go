package runner

import (
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/stack"
	"github.com/ron-network/ron/core/storage"
	"github.com/ron-network/ron/sim"
	"github.com/ron-network/ron/sim/check"
	"github.com/ron-network/ron/sim/scenario"
	"github.com/ron-network/ron/sim/workload"
)

// StorageBug selects a deliberately wrong storage machine (Options.StorageBug).
// Only builds with the canary tag honour it; see core/storage/bugs_canary.go.
type StorageBug uint8

const (
	StorageBugNone StorageBug = iota
	// StorageBugServeUnverified serves chunks without checking their address.
	StorageBugServeUnverified
	// StorageBugAckBeforeSync counts a replica before its writes are synced.
	StorageBugAckBeforeSync
	// StorageBugIgnorePins garbage-collects pinned copies.
	StorageBugIgnorePins
	// StorageBugRepinLost stores a pinned put of an object this node once
	// unpinned (deleted) without its pin.
	StorageBugRepinLost
)

// String names the bug as the canary tests print it.
func (b StorageBug) String() string {
	switch b {
	case StorageBugServeUnverified:
		return "serve_unverified"
	case StorageBugAckBeforeSync:
		return "ack_before_sync"
	case StorageBugIgnorePins:
		return "ignore_pins"
	case StorageBugRepinLost:
		return "repin_lost"
	}
	return "none"
}

// Replication of the content plane (ARCHITECTURE 5.4).
const (
	StorageReplicas    = 3
	StorageWriteQuorum = 2
	// FinalReadRoundsMax bounds the rounds of whole reads the durability
	// check makes; an object read in no round is lost (or unreachable,
	// which after the faults healed is as bad).
	FinalReadRoundsMax = 3
	// FinalReadsInflightMax bounds the final reads in flight at once, well
	// under what the nodes accept together (storage.InflightGetsMax each).
	FinalReadsInflightMax = 32
	// FinalReadWait is how long one batch of final reads may take.
	FinalReadWait = 2 * storage.GetTimeoutDefault
)

// ContentStats are the content workload's figures (Report.Content).
type ContentStats struct {
	Puts         int    `json:"puts"`
	Gets         int    `json:"gets"`
	RangeGets    int    `json:"range_gets"`
	OpsOK        int    `json:"ops_ok"`
	OpsUnknown   int    `json:"ops_unknown"`
	Objects      int    `json:"objects"`
	Acknowledged int    `json:"acknowledged"`
	BytesPut     uint64 `json:"bytes_put"`
	BytesRead    uint64 `json:"bytes_read"`
	// ConvergedSeconds is how long after the end every acknowledged object
	// was back at its replicas (-1: not within the bound; 0: not checked).
	ConvergedSeconds float64 `json:"converged_seconds"`
	FinalReads       int     `json:"final_reads"`
	Corruptions      float64 `json:"corruptions_detected"`
	Repairs          float64 `json:"repairs"`
	// CorruptGets are the gets answered ErrCorruption (502): a node holds
	// the object but its copy of a chunk failed and no source served it.
	CorruptGets int `json:"corrupt_gets"`
	// Heals are the damaged chunks rewritten with verified bytes, by
	// source (storage_heals_total: replica, push, put, session); Rereads
	// the re-reads of a damaged chunk no source served, by result
	// (storage_rereads_total: verified, failed).
	Heals   map[string]float64 `json:"heals,omitempty"`
	Rereads map[string]float64 `json:"rereads,omitempty"`
	// Session puts (mix session_put; counted in Puts too): how many were
	// sent, acknowledged, and abandoned by the client midway; how many
	// sessions the nodes collected after their TTL (storage Stats of the
	// nodes up at the end: a restart forgets the count) and how many
	// were still open at the end.
	SessionPuts       int    `json:"session_puts,omitempty"`
	SessionPutsOK     int    `json:"session_puts_ok,omitempty"`
	SessionsAbandoned int    `json:"sessions_abandoned,omitempty"`
	SessionsExpired   uint64 `json:"sessions_expired,omitempty"`
	SessionsOpen      int    `json:"sessions_open,omitempty"`
	// OrphanChunks counts the chunks on the disks of the up nodes at the
	// end that no local manifest lists (counted only for runs with
	// session puts, on nodes with no session open, nothing staged and no
	// put in flight): staged chunks an ended session should have deleted.
	OrphanChunks int `json:"orphan_chunks,omitempty"`
}

// storageOf returns node i's storage service, or nil (down, or none).
func (c *cluster) storageOf(i int) *storage.Storage { return stack.StorageOf(c.w.Node(i)) }

// startContent starts the content workload. When the mix also holds
// registry or lookup operations, the content clients get their share of
// the rate.
func (r *run) startContent(wl *scenario.Workload) {
	mix := wl.Mix.Normalized()
	cfg := workload.ContentConfig{
		Clients: wl.Clients, RatePerSecond: wl.RatePerSecond * mix.Content(),
		Timeout: wl.Timeout, Start: wl.Start, Stop: wl.Stop,
		Put: mix.Put, Get: mix.Get, RangeGet: mix.RangeGet, SessionPut: mix.SessionPut,
		Path:    r.edgePath(EdgeContentTenant, auth.OpRead, auth.OpWrite, auth.OpDelete),
		Objects: scenario.ObjectsMax, SizeMinBytes: 1 << 10, SizeMaxBytes: 1 << 20,
		Pins: wl.Pins, Unpins: wl.Unpins,
	}
	if mix.SessionPut > 0 {
		cfg.SessionAbandon = workload.SessionAbandonDefault
	}
	if o := wl.Objects; o != nil {
		cfg.Objects, cfg.SizeMinBytes, cfg.SizeMaxBytes = o.Count, o.SizeMinBytes, o.SizeMaxBytes
	}
	if r.adversary != nil {
		cfg.OnIssue = r.adversary.noteGet(r)
	}
	r.content = workload.NewContent(r.w, cfg)
	r.content.Start()
}

// checkIntegrity: every successful put and read saw the right bytes.
func (r *run) checkIntegrity() check.Result {
	if r.content == nil {
		return check.Result{Name: "integrity", Detail: "no content workload to check"}
	}
	return check.Integrity(r.content.History(), r.content.Object)
}

// checkConvergence: within the bound after the run, every acknowledged
// object is held by every up node of its placement (all R of them when
// every node is up), but those the workload's unpins may have deleted
// everywhere (durableRequired).
func (r *run) checkConvergence(within time.Duration, stats *ContentStats) check.Result {
	if r.content == nil {
		return check.Result{Name: "convergence", Detail: "no content workload to check"}
	}
	acked := r.durableRequired(r.content.Acknowledged())
	var missing string
	converged := func() bool {
		missing = r.underReplicated(acked)
		return missing == ""
	}
	waited, ok := r.quiesce(within, converged)
	if !ok {
		stats.ConvergedSeconds = -1
		return check.Result{Name: "convergence", Detail: fmt.Sprintf("%v after the end: %s", within, missing)}
	}
	stats.ConvergedSeconds = waited.Seconds()
	return check.Result{Name: "convergence", OK: true, Detail: fmt.Sprintf("%d acknowledged objects at their %d replicas %v after the end",
		len(acked), StorageReplicas, waited)}
}

// underReplicated describes the first acknowledged object an up placement
// node does not hold, or returns "".
func (r *run) underReplicated(acked []workload.ContentObject) string {
	for _, o := range acked {
		for _, id := range check.Placement(r.cluster.ids, o.Addr, StorageReplicas) {
			i, _ := r.w.Index(id)
			if !r.w.Up(i) {
				continue
			}
			if s := r.cluster.storageOf(i); s == nil || !s.HasLocal(o.Addr) {
				return fmt.Sprintf("n%d, a placement node of acknowledged object %s (%d bytes), does not hold it", i+1, o.Addr, o.Size)
			}
		}
	}
	return ""
}

// checkContentDurability reads every acknowledged object back, whole, from
// a random up node, in bounded batches; objects whose read failed are
// retried (from another node) for up to FinalReadRoundsMax rounds.
func (r *run) checkContentDurability(stats *ContentStats) check.Result {
	if r.content == nil {
		return check.Result{Name: "durability", Detail: "no content workload to check"}
	}
	acked := r.ackedHonestly()
	reads := map[proto.Addr]check.FinalRead{}
	pending := acked
	for round := 0; round < FinalReadRoundsMax && len(pending) > 0; round++ {
		for start := 0; start < len(pending); start += FinalReadsInflightMax {
			r.finalReads(pending[start:min(start+FinalReadsInflightMax, len(pending))], reads)
		}
		stats.FinalReads += len(pending)
		var failed []workload.ContentObject
		for _, o := range pending {
			if rd := reads[o.Addr]; !rd.Answer || rd.Err != "" {
				failed = append(failed, o)
			}
		}
		pending = failed
	}
	required := r.durableRequired(acked)
	res := check.ContentDurability(required, reads)
	if excused := len(acked) - len(required); excused > 0 && res.OK {
		res.Detail += fmt.Sprintf("; %d more acknowledged objects not required: unpins may have deleted them from %d of their placement nodes after every acknowledged put", excused, StorageWriteQuorum)
	}
	return res
}

// durableRequired is the objects of acked the durability check judges:
// those workload.DurabilityRequired requires, given their acknowledged
// puts and the unpins sent. With no unpins that is all of them.
func (r *run) durableRequired(acked []workload.ContentObject) []workload.ContentObject {
	unpins := r.content.Unpins()
	if len(unpins) == 0 {
		return acked
	}
	puts := map[string][]time.Duration{}
	for _, op := range r.content.History().Ops {
		if ok, _ := op.Output["ok"].(bool); op.Kind == workload.OpPut && ok {
			addr, _ := op.Output["addr"].(string)
			puts[addr] = append(puts[addr], time.Duration(op.Call))
		}
	}
	var required []workload.ContentObject
	for _, o := range acked {
		var placed func(int) bool
		if r.cluster.staticPlacement() {
			nodes := check.Placement(r.cluster.ids, o.Addr, StorageReplicas)
			placed = func(i int) bool { return slices.Contains(nodes, r.w.NodeID(i)) }
		}
		if workload.DurabilityRequired(o.Addr, puts[o.Addr.String()], unpins, placed, StorageWriteQuorum) {
			required = append(required, o)
		}
	}
	return required
}

// ackedHonestly is the acknowledged objects whose durability a run can
// promise: all of them, but with storage liars (scenario adversary:)
// only those some put through an honest node acknowledged. A put through
// a liar is the liar's claim: its pushes to the honest replicas may all
// be garbage, so the object may live only on liars.
func (r *run) ackedHonestly() []workload.ContentObject {
	acked := r.content.Acknowledged()
	if r.adversary == nil {
		return acked
	}
	honest := map[string]bool{}
	for _, op := range r.content.History().Ops {
		if ok, _ := op.Output["ok"].(bool); op.Kind == workload.OpPut && ok && !r.lies(op.Node) {
			addr, _ := op.Output["addr"].(string)
			honest[addr] = true
		}
	}
	return slices.DeleteFunc(acked, func(o workload.ContentObject) bool { return !honest[o.Addr.String()] })
}

// finalReads reads batch whole from random up nodes and waits for the
// answers (at most FinalReadWait).
func (r *run) finalReads(batch []workload.ContentObject, reads map[proto.Addr]check.FinalRead) {
	rand := r.w.Rand("checks")
	answered := 0
	for _, o := range batch {
		i := rand.Intn(r.w.Nodes())
		for k := 0; k < r.w.Nodes() && (!r.w.Up(i) || r.lies(i)); k++ {
			i = (i + 1) % r.w.Nodes() // a liar's own reads are not judged
		}
		reads[o.Addr] = check.FinalRead{Object: o, Node: i}
		r.w.Request(i, "storage", storage.Get{Addr: o.Addr}, func(resp any) {
			answered++
			rd := reads[o.Addr]
			rd.Answer = true
			switch res := resp.(type) {
			case storage.GetResult:
				if res.Err != nil {
					rd.Err = workload.ContentErrorCode(res.Err)
				}
				rd.Addr, rd.Length = proto.AddrOf(res.Data), len(res.Data)
			default:
				rd.Err = fmt.Sprintf("unexpected reply %T", resp)
			}
			reads[o.Addr] = rd
		})
	}
	r.quiesce(FinalReadWait, func() bool { return answered == len(batch) })
}

// contentStats fills the content figures from the history and metrics.
func (r *run) contentStats(stats *ContentStats) {
	for _, op := range r.content.History().Ops {
		switch op.Kind {
		case workload.OpPut:
			stats.Puts++
			if op.Input["session"] != nil {
				stats.SessionPuts++
				if op.Output["error"] == workload.SessionAbandoned {
					stats.SessionsAbandoned++
				}
				if ok, _ := op.Output["ok"].(bool); ok {
					stats.SessionPutsOK++
				}
			}
		case workload.OpGet:
			stats.Gets++
		case workload.OpRangeGet:
			stats.RangeGets++
		}
		if op.Unknown() {
			stats.OpsUnknown++
			continue
		}
		if ok, _ := op.Output["ok"].(bool); !ok {
			if op.Output["error"] == "corruption" && op.Kind != workload.OpPut {
				stats.CorruptGets++
			}
			continue
		}
		stats.OpsOK++
		if op.Kind == workload.OpPut {
			size, _ := op.Output["size"].(uint64)
			stats.BytesPut += size
		} else {
			length, _ := op.Output["length"].(int)
			stats.BytesRead += uint64(length)
		}
	}
	stats.Acknowledged = len(r.content.Acknowledged())
	stats.Objects = r.content.Objects()
	stats.Corruptions = r.w.Metrics().CounterTotal(storage.MetricCorruption)
	stats.Repairs = r.w.Metrics().CounterTotal(storage.MetricRepairs)
	stats.Heals = labelTotals(r.w.Metrics(), storage.MetricHeals)
	stats.Rereads = labelTotals(r.w.Metrics(), storage.MetricRereads)
	if stats.SessionPuts > 0 {
		for i := range r.w.Nodes() {
			if s := r.cluster.storageOf(i); s != nil && r.w.Up(i) {
				st := s.Stats()
				stats.SessionsExpired += st.SessionsExpired
				stats.SessionsOpen += st.Sessions
				if st.Sessions == 0 && st.Staged == 0 && st.PutsInflight == 0 && !st.Sweeping {
					stats.OrphanChunks += r.orphanChunks(i, s)
				}
			}
		}
	}
}

// chunkKeyPrefix is core/storage's disk key prefix of chunks (index.go,
// prefixChunk), followed by the chunk key in hex.
const chunkKeyPrefix = "s/c/"

// orphanChunks counts the chunks on node i's disk that no manifest of its
// storage s lists. It reads the disk's state and the index; no event, no
// draw.
func (r *run) orphanChunks(i int, s *storage.Storage) int {
	listed := map[string]bool{}
	for _, addr := range s.LocalObjects() {
		if m, ok := s.LocalManifest(addr); ok {
			for _, c := range m.Chunks {
				listed[hex.EncodeToString(c.Addr[:])] = true
			}
		}
	}
	orphans := 0
	for key := range r.w.Disk(i).Snapshot() { // map order ok: counts only
		if rest, ok := strings.CutPrefix(key, chunkKeyPrefix); ok && !listed[rest] {
			orphans++
		}
	}
	return orphans
}

// labelTotals is counter name's total over all nodes by label (nil when
// it was never observed).
func labelTotals(m *sim.Metrics, name string) map[string]float64 {
	var out map[string]float64
	for _, label := range m.Labels(name) {
		if out == nil {
			out = map[string]float64{}
		}
		out[label] = m.Counter(name, label)
	}
	return out
}

// writeText prints the content line of the human report.
func (s *ContentStats) writeText(w io.Writer) {
	converged := "not checked"
	switch {
	case s.ConvergedSeconds < 0:
		converged = "did not converge"
	case s.ConvergedSeconds > 0 || s.Acknowledged > 0:
		converged = fmt.Sprintf("converged %.1fs after the end", s.ConvergedSeconds)
	}
	fmt.Fprintf(w, "content    %d puts, %d gets, %d range gets (%d ok, %d unknown); %d of %d objects acknowledged, %d bytes put, %d read; %.0f corruptions detected, %.0f repairs; %s\n",
		s.Puts, s.Gets, s.RangeGets, s.OpsOK, s.OpsUnknown, s.Acknowledged, s.Objects, s.BytesPut, s.BytesRead, s.Corruptions, s.Repairs, converged)
	if s.SessionPuts > 0 {
		fmt.Fprintf(w, "           sessions: %d session puts (%d acknowledged, %d abandoned by the client); nodes collected %d idle sessions, %d open at the end, %d orphan chunks\n",
			s.SessionPuts, s.SessionPutsOK, s.SessionsAbandoned, s.SessionsExpired, s.SessionsOpen, s.OrphanChunks)
	}
	if s.CorruptGets > 0 || len(s.Heals) > 0 || len(s.Rereads) > 0 {
		fmt.Fprintf(w, "           damage: %d gets answered corrupt (502), heals %s, re-reads %s\n",
			s.CorruptGets, labelText(s.Heals), labelText(s.Rereads))
	}
}

// labelText prints a by-label count as "a=1 b=2" in label order, or "none".
func labelText(m map[string]float64) string {
	if len(m) == 0 {
		return "none"
	}
	var b strings.Builder
	for _, k := range env.SortedKeys(m) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%g", k, m[k])
	}
	return b.String()
}
