package storage

import (
	"fmt"
	"slices"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// Hand-offs (package doc, "Hand-offs"): after an acknowledged put, the
// coordinator keeps pushing the object, from its own local copy, to the
// placement nodes that did not acknowledge it, with backoff and within
// the bounds below.
const (
	// HandoffsMax bounds the hand-offs (object, placement node) waiting;
	// one more is dropped and counted (storage_handoffs_dropped_total,
	// reason "full").
	HandoffsMax = 1024
	// HandoffsInflightMax bounds the hand-offs checking or pushing at once,
	// at most one per node.
	HandoffsInflightMax = 4
	// HandoffAttemptsMax bounds the checks (each followed by a push when
	// the node says it lacks the object) one hand-off makes.
	HandoffAttemptsMax = 10
	// HandoffAgeMax bounds how long a hand-off lives.
	HandoffAgeMax = 10 * time.Minute
	// handoffBackoffMin is the wait before the first attempt (after the
	// put finished) and after the first failed one; each further failure
	// doubles it, up to handoffBackoffMax (jittered by 20%).
	handoffBackoffMin = time.Second
	handoffBackoffMax = time.Minute
)

// Reasons of storage_handoffs_dropped_total.
const (
	HandoffFull    = "full"    // the table was full
	HandoffExpired = "expired" // HandoffAttemptsMax or HandoffAgeMax passed
	HandoffGone    = "gone"    // this node holds no copy to push from (deleted, collected, not written)
	HandoffMoved   = "moved"   // the node is no longer a placement node of the object
)

// handoff is one placement node an acknowledged put did not reach, to
// which this node (its coordinator) keeps pushing the object.
type handoff struct {
	addr     proto.Addr
	target   proto.NodeID
	added    env.Time
	due      env.Time // next attempt
	attempts int
	busy     bool // a check or push is outstanding
}

// handoffNode is the state of the nodes hand-offs go to: whether one
// attempt to it is outstanding, and, after attempts it failed (did not
// answer, or refused the push: attemptNodeFailed), when the next may
// start (every hand-off to it waits).
type handoffNode struct {
	id    proto.NodeID
	busy  bool
	until env.Time // no attempt to this node before
	fails int      // attempts it failed since the last that ended with it holding the object
}

// handoffTable is the pending hand-offs in the order they were added. In
// memory only: a restart forgets them (the repair audits remain).
type handoffTable struct {
	list     []*handoff
	nodes    []*handoffNode // of the targets in list, or with an attempt outstanding
	inflight int            // attempts outstanding, of entries in list or dropped meanwhile
	timer    env.TimerID
	armed    bool
	at       env.Time // when the armed timer fires
	seq      uint64   // the armed timer's tag value
	running  bool     // onHandoffTimer is starting attempts: it arms the timer at its end
}

// handOff records a hand-off for every placement node other than this
// one that did not acknowledge p, an acknowledged put that is finishing.
// It runs before the put releases its session chunks: when this node
// holds no copy (not placed and not pinned), it writes one, unpinned,
// from the put's bytes or its session's chunks, to push from; the repair
// loop collects it once every placement node holds the object (the GC
// pass). Without a copy nothing is recorded.
func (s *Storage) handOff(p *putOp) {
	if p.deleted {
		// The client deleted it meanwhile: no copy, no hand-off. Another
		// removal (a GC pass, a failed finishWrite) does not stop it.
		return
	}
	now := s.env.Now()
	added := 0
	for _, t := range p.targets {
		if t == s.self || slices.Contains(p.holders, t) {
			continue
		}
		if s.findHandoff(p.addr, t) >= 0 {
			continue // one entry per object and node
		}
		if len(s.handoffs.list) >= HandoffsMax {
			s.handoffDropped(HandoffFull)
			continue
		}
		s.handoffs.list = append(s.handoffs.list, &handoff{addr: p.addr, target: t, added: now, due: now.Add(s.jitter(handoffBackoffMin))})
		added++
	}
	if added == 0 {
		return
	}
	if s.index.objects[p.addr] == nil && !s.keepCopy(p) {
		s.dropHandoffs(p.addr, HandoffGone)
	}
	s.setHandoffGauge()
	s.armHandoffs()
}

// keepCopy writes p's object on this node, unpinned, so that its
// hand-offs have a copy to push from. False when the write could not be
// queued.
func (s *Storage) keepCopy(p *putOp) bool {
	chunks := make([][]byte, len(p.man.Chunks))
	for i, c := range p.man.Chunks {
		if s.index.hasChunk(c.Addr) {
			continue // held here (a session's chunk, or another object's)
		}
		if p.data == nil {
			return false // not reachable: a session's put holds its chunks
		}
		chunks[i] = p.man.chunkData(p.data, i)
	}
	return s.writeObject(p.addr, &object{manifest: p.man}, chunks, nil, func(error) {})
}

// hasHandoff reports whether h is still in the table.
func (s *Storage) hasHandoff(h *handoff) bool { return slices.Contains(s.handoffs.list, h) }

func (s *Storage) findHandoff(addr proto.Addr, target proto.NodeID) int {
	return slices.IndexFunc(s.handoffs.list, func(h *handoff) bool { return h.addr == addr && h.target == target })
}

// armHandoffs sets the hand-off timer for the earliest attempt due, when
// one may start (an attempt that ends arms it again).
func (s *Storage) armHandoffs() {
	hs := &s.handoffs
	if hs.running {
		return
	}
	found := false
	var next env.Time
	consider := func(t env.Time) {
		if !found || t.Before(next) {
			next, found = t, true
		}
	}
	for _, h := range hs.list {
		if h.busy {
			continue
		}
		consider(h.added.Add(HandoffAgeMax)) // expires
		if hs.inflight < HandoffsInflightMax {
			if at, ok := s.handoffDue(h); ok {
				consider(at)
			}
		}
	}
	if hs.armed && (!found || next != hs.at) {
		s.env.CancelTimer(hs.timer)
		hs.armed = false
	}
	if !found || hs.armed {
		return
	}
	hs.seq = (hs.seq + 1) & tagValueMask
	hs.timer = s.env.SetTimer(max(next.Sub(s.env.Now()), 0), tagHandoff<<tagKindShift|hs.seq)
	hs.armed, hs.at = true, next
}

// handoffDue is when h's next attempt may start: its own due time, or
// later while its node is backed off; false while an attempt to its node
// is outstanding.
func (s *Storage) handoffDue(h *handoff) (env.Time, bool) {
	n := s.handoffNode(h.target)
	if n == nil {
		return h.due, true
	}
	if n.busy {
		return 0, false
	}
	if h.due.Before(n.until) {
		return n.until, true
	}
	return h.due, true
}

// handoffNode is target's state, nil when it has none.
func (s *Storage) handoffNode(target proto.NodeID) *handoffNode {
	for _, n := range s.handoffs.nodes {
		if n.id == target {
			return n
		}
	}
	return nil
}

// onHandoffTimer drops the hand-offs past HandoffAgeMax, then starts the
// attempts due, earliest due first (ties in the table's order), at most
// one per node.
func (s *Storage) onHandoffTimer(seq uint64) {
	hs := &s.handoffs
	if !hs.armed || seq != hs.seq {
		return // cancelled, or from before a restart
	}
	hs.armed, hs.running = false, true
	now := s.env.Now()
	for _, h := range slices.Clone(hs.list) {
		if !h.busy && now.Sub(h.added) >= HandoffAgeMax {
			s.removeHandoff(h)
			s.handoffDropped(HandoffExpired)
		}
	}
	for hs.inflight < HandoffsInflightMax {
		var pick *handoff
		var pickAt env.Time
		for _, h := range hs.list {
			if h.busy {
				continue
			}
			at, ok := s.handoffDue(h)
			if ok && !now.Before(at) && (pick == nil || at.Before(pickAt)) {
				pick, pickAt = h, at
			}
		}
		if pick == nil {
			break
		}
		s.attemptHandoff(pick)
	}
	hs.running = false
	s.armHandoffs()
}

// attemptHandoff asks the node whether it holds the object and pushes it
// from the local copy when it says it does not. A node no longer among
// the object's placement nodes (the DHT's view changed) is not pushed
// to: the copies' audits serve the new placement.
func (s *Storage) attemptHandoff(h *handoff) {
	if !slices.Contains(s.placement(h.addr), h.target) {
		s.removeHandoff(h)
		s.handoffDropped(HandoffMoved)
		return
	}
	if s.index.committed(h.addr) == nil {
		if s.index.objects[h.addr] == nil {
			s.dropHandoffs(h.addr, HandoffGone)
			return
		}
		s.retryHandoff(h) // its local write is in flight
		return
	}
	n := s.handoffNode(h.target)
	if n == nil {
		n = &handoffNode{id: h.target}
		s.handoffs.nodes = append(s.handoffs.nodes, n)
	}
	h.busy, n.busy = true, true
	h.attempts++
	s.handoffs.inflight++
	sent := s.call(h.target, &message{kind: kindCheck, addr: h.addr}, func(reply *message, err error) {
		switch {
		case err == nil && reply.status == statusOK:
			s.handoffDone(h, attemptHeld)
		case err == nil && reply.status == statusNotFound:
			s.pushHandoff(h)
		default:
			s.handoffDone(h, attemptNodeFailed) // no answer, or busy
		}
	})
	if !sent {
		s.handoffDone(h, attemptLocal) // not sent: no answer to wait for, not the node's fault
	}
}

// pushHandoff pushes the local copy (its chunks read and verified) to
// the hand-off's node.
func (s *Storage) pushHandoff(h *handoff) {
	o := s.index.committed(h.addr)
	if o == nil || !s.hasHandoff(h) {
		s.handoffDone(h, attemptLocal)
		return
	}
	var pu *push
	pu = newPush(h.target, h.addr, &o.manifest, AppendManifest(nil, &o.manifest), nil, func(ok bool) {
		switch {
		case ok:
			s.handoffDone(h, attemptHeld)
		case pu.refused:
			s.handoffDone(h, attemptNodeFailed) // it answered the check, then refused or dropped the push
		default:
			s.handoffDone(h, attemptLocal) // the local copy failed a read, or an RPC was not sent
		}
	})
	s.pump(pu)
}

// attemptOutcome is how a hand-off attempt ended.
type attemptOutcome int

const (
	// attemptHeld: the node holds the object (it said so to the check,
	// or acknowledged the push).
	attemptHeld attemptOutcome = iota
	// attemptNodeFailed: the node failed the attempt: it did not answer
	// the check, answered it busy, or said it lacks the object and then
	// did not acknowledge the push (refused a chunk or the commit, or
	// left one unanswered: a full disk, a liar, a node cut off meanwhile).
	attemptNodeFailed
	// attemptLocal: the attempt failed here (an RPC not sent, the local
	// copy gone or failing its read): nothing is learnt of the node.
	attemptLocal
)

// handoffDone ends an attempt: the node holds the object, or the
// hand-off waits for its next attempt or expires. An attempt the node
// failed (attemptNodeFailed) backs the node off as a whole: every
// hand-off to it waits, 1 s doubling (per such attempt in a row) up to
// 1 min (jittered), before the next attempt to it, so that a node that
// is dead, refuses every push or drops it does not take an attempt slot
// (and a push's disk reads and bytes) again and again, one hand-off
// after the other. Only an attempt that ends with the node holding the
// object resets that count; one that failed here leaves it as it was.
func (s *Storage) handoffDone(h *handoff, outcome attemptOutcome) {
	h.busy = false
	s.handoffs.inflight--
	if n := s.handoffNode(h.target); n != nil {
		n.busy = false
		switch outcome {
		case attemptHeld:
			n.fails = 0
		case attemptNodeFailed:
			n.until = s.env.Now().Add(s.jitter(min(handoffBackoffMin<<min(n.fails, 6), handoffBackoffMax)))
			n.fails++
		}
		s.pruneHandoffNode(h.target)
	}
	if s.hasHandoff(h) { // not dropped meanwhile
		if outcome == attemptHeld {
			s.handoffHeld(h.addr, h.target)
		} else {
			s.retryHandoff(h)
		}
	}
	s.armHandoffs()
}

// retryHandoff schedules h's next attempt, or drops it once its attempts
// or its age are spent.
func (s *Storage) retryHandoff(h *handoff) {
	now := s.env.Now()
	if h.attempts >= HandoffAttemptsMax || now.Sub(h.added) >= HandoffAgeMax {
		s.removeHandoff(h)
		s.handoffDropped(HandoffExpired)
		return
	}
	wait := min(handoffBackoffMin<<min(max(h.attempts-1, 0), 6), handoffBackoffMax)
	h.due = now.Add(s.jitter(wait))
	s.armHandoffs()
}

// handoffHeld ends the hand-off of addr to target, if any: the node
// holds the object (its push was acknowledged, or it said so to a check
// of the hand-off or of an audit).
func (s *Storage) handoffHeld(addr proto.Addr, target proto.NodeID) {
	i := s.findHandoff(addr, target)
	if i < 0 {
		return
	}
	s.removeHandoff(s.handoffs.list[i])
	s.stats.HandoffsDelivered++
	s.env.Metrics().Add(MetricHandoffsDelivered, "", 1)
}

// dropHandoffs drops every hand-off of addr, counted under reason.
func (s *Storage) dropHandoffs(addr proto.Addr, reason string) {
	for _, h := range slices.Clone(s.handoffs.list) {
		if h.addr == addr {
			s.removeHandoff(h)
			s.handoffDropped(reason)
		}
	}
}

func (s *Storage) removeHandoff(h *handoff) {
	s.handoffs.list = slices.DeleteFunc(s.handoffs.list, func(x *handoff) bool { return x == h })
	s.pruneHandoffNode(h.target)
	s.setHandoffGauge()
	s.armHandoffs()
}

// pruneHandoffNode forgets target's state once it has no hand-off and no
// attempt outstanding, so that the node states stay bounded by the
// table's.
func (s *Storage) pruneHandoffNode(target proto.NodeID) {
	hs := &s.handoffs
	if slices.ContainsFunc(hs.list, func(h *handoff) bool { return h.target == target }) {
		return
	}
	hs.nodes = slices.DeleteFunc(hs.nodes, func(n *handoffNode) bool { return n.id == target && !n.busy })
}

func (s *Storage) handoffDropped(reason string) {
	s.stats.HandoffsDropped++
	s.env.Metrics().Add(MetricHandoffsDropped, reason, 1)
}

func (s *Storage) setHandoffGauge() {
	s.env.Metrics().Set(MetricHandoffsPending, "", float64(len(s.handoffs.list)))
}

// PendingHandoffs describes every hand-off, oldest first: object, node,
// attempts, and whether one is outstanding or how soon the next is due. For
// people, like PendingPuts.
func (s *Storage) PendingHandoffs() []string {
	out := make([]string, 0, len(s.handoffs.list))
	for _, h := range s.handoffs.list {
		state := fmt.Sprintf("next attempt in %v", h.due.Sub(s.env.Now()))
		if h.busy {
			state = "attempt outstanding"
		}
		out = append(out, fmt.Sprintf("hand-off of %s to %s: %d attempts, %s", h.addr.Short(), h.target.Short(), h.attempts, state))
	}
	return out
}

// checkHandoffs verifies the table's bounds: at most HandoffsMax entries,
// never to this node, and the attempts outstanding within
// HandoffsInflightMax; deep also checks one entry per object and node
// (quadratic).
func (s *Storage) checkHandoffs(deep bool) {
	hs := &s.handoffs
	if len(hs.list) > HandoffsMax || hs.inflight < 0 || hs.inflight > HandoffsInflightMax {
		panic(fmt.Sprintf("storage: hand-off table over its bounds: %d entries, %d in flight", len(hs.list), hs.inflight))
	}
	busy := 0
	for i, h := range hs.list {
		if h.target == s.self || h.attempts > HandoffAttemptsMax {
			panic("storage: hand-off to this node or over its attempts: " + h.addr.Short())
		}
		if h.busy {
			busy++
		}
		if !deep {
			continue
		}
		for _, o := range hs.list[:i] {
			if o.addr == h.addr && o.target == h.target {
				panic("storage: two hand-offs of one object to one node: " + h.addr.Short())
			}
		}
	}
	if busy > hs.inflight {
		panic("storage: more busy hand-offs than attempts outstanding")
	}
	busyNodes := 0
	for i, n := range hs.nodes {
		if n.busy {
			busyNodes++
		}
		for _, o := range hs.nodes[:i] {
			if deep && o.id == n.id {
				panic("storage: two hand-off node states of one node")
			}
		}
	}
	if busyNodes != hs.inflight || len(hs.nodes) > len(hs.list)+HandoffsInflightMax {
		panic(fmt.Sprintf("storage: hand-off node states: %d busy, %d attempts outstanding, %d states", busyNodes, hs.inflight, len(hs.nodes)))
	}
}
