package storage

import (
	"slices"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// Repair backoff (package doc, "Repair backoff"): the repair audits
// remember, per (object, placement node), a push the node acknowledged
// and not yet confirmed, and the pushes it failed, so that a node that
// acknowledges a push and then says it lacks the object again (from the
// second time), or refuses the push, is pushed that object again only
// after a doubling backoff, not at every audit; one that answers a push
// busy, after one that doubles only to 30 s. An audit skipped for a
// backoff is run again when it ends (revisitBackedOff).
const (
	// RepairBackoffsMax bounds the (object, node) pairs remembered; a
	// new one beyond evicts one (repairRemember).
	RepairBackoffsMax = 4096
	// repairBackoffMin is the first backoff of a pair; each further one
	// doubles it, up to repairBackoffMax. Not jittered: each holder's
	// audits already run on its own jittered tick, and a backoff draws
	// nothing from env.Rand, so a run in which no push is put off keeps
	// its schedule.
	repairBackoffMin = 5 * time.Second
	repairBackoffMax = 10 * time.Minute
	// repairBackoffBusyMax caps the backoff of a pair whose pushes were
	// answered busy: it doubles from repairBackoffMin as well, but only
	// to 30 s, so a node that shed load for a while is pushed again
	// within 30 s of its recovery.
	repairBackoffBusyMax = 30 * time.Second
)

// Reasons of storage_repair_backoffs_total.
const (
	RepairBackoffLost    = "lost"    // the node acknowledged a push, then said it lacks the object again
	RepairBackoffRefused = "refused" // the node said it lacks the object, then refused the push
	RepairBackoffBusy    = "busy"    // the node answered a push busy
)

// repairPair is what the repair audits remember of one object's pushes
// to one placement node.
type repairPair struct {
	addr   proto.Addr
	target proto.NodeID
	acked  bool     // a push was acknowledged and no check said "held" since
	lost   bool     // the node lost an acknowledged push once (pushed again at once)
	until  env.Time // no push of the object to the node before
	fails  int      // doubling backoffs since the node last said it holds the object
	busy   int      // busy or unanswered pushes since then (backoff capped at repairBackoffBusyMax)
	// revisit: an audit skipped the push for the backoff; the object
	// is audited again once it ends (revisitBackedOff), not only when
	// the cursor comes round.
	revisit bool
}

// repairMayPush reports whether an audit that found target lacking addr
// may push it there now. A node that acknowledged the last push and
// lacks the object again (discarded it, or lost it since) is pushed
// again at once the first time (an honest node that lost its disk
// twice), and backed off from the second. A skipped push marks the
// pair for a revisit when its backoff ends.
func (s *Storage) repairMayPush(addr proto.Addr, target proto.NodeID) bool {
	p := s.repairPair(addr, target)
	if p == nil {
		return true
	}
	if p.acked {
		p.acked = false
		if !p.lost {
			p.lost = true
			return true
		}
		s.repairBackOff(p, RepairBackoffLost)
	}
	if s.env.Now().Before(p.until) {
		p.revisit = true
		return false
	}
	return true
}

// repairPushed records how a repair push p of addr to target ended:
// acknowledged (to be confirmed by a later check), refused by the node
// or left unanswered (backed off, doubling), answered busy (backed off
// doubling too, but only to repairBackoffBusyMax: load shed says little
// of what the node will do once well), or failed here (nothing learnt).
func (s *Storage) repairPushed(addr proto.Addr, target proto.NodeID, ok bool, p *push) {
	switch {
	case ok:
		s.repairRemember(addr, target).acked = true
	case p.refused && p.transient:
		pr := s.repairRemember(addr, target)
		pr.acked = false
		pr.until = s.env.Now().Add(min(repairBackoffMin<<min(pr.busy, 20), repairBackoffBusyMax))
		pr.busy++
		s.env.Metrics().Add(MetricRepairBackoffs, RepairBackoffBusy, 1)
	case p.refused:
		pr := s.repairRemember(addr, target)
		pr.acked = false
		s.repairBackOff(pr, RepairBackoffRefused)
	}
}

// revisitBackedOff starts, before the cursor's, the audits of objects
// whose push to a node a backoff skipped and whose backoff has ended
// (repairPair.revisit), at most most of them; it returns how many it
// started. The table is walked in its order (no map), so runs stay
// deterministic.
func (s *Storage) revisitBackedOff(most int) int {
	now := s.env.Now()
	var due []proto.Addr
	for _, p := range s.repairPairs {
		if len(due) < most && p.revisit && !now.Before(p.until) && !slices.Contains(due, p.addr) {
			due = append(due, p.addr)
		}
	}
	n := 0
	for _, addr := range due {
		if len(s.audits) >= RepairAuditsMax {
			break
		}
		if _, busy := s.audits[addr]; busy {
			continue // revisited at a later tick, once that audit ended
		}
		for _, p := range s.repairPairs {
			if p.addr == addr {
				p.revisit = false
			}
		}
		if s.index.committed(addr) == nil {
			s.repairForget(addr)
			continue
		}
		n++
		s.startAudit(addr)
	}
	return n
}

// repairConfirmed forgets the pair: the node said it holds the object.
func (s *Storage) repairConfirmed(addr proto.Addr, target proto.NodeID) {
	s.repairPairs = slices.DeleteFunc(s.repairPairs, func(p *repairPair) bool { return p.addr == addr && p.target == target })
}

// repairForget forgets every pair of addr (its local copy is gone).
func (s *Storage) repairForget(addr proto.Addr) {
	s.repairPairs = slices.DeleteFunc(s.repairPairs, func(p *repairPair) bool { return p.addr == addr })
}

func (s *Storage) repairBackOff(p *repairPair, reason string) {
	p.until = s.env.Now().Add(min(repairBackoffMin<<min(p.fails, 20), repairBackoffMax))
	p.fails++
	s.env.Metrics().Add(MetricRepairBackoffs, reason, 1)
}

func (s *Storage) repairPair(addr proto.Addr, target proto.NodeID) *repairPair {
	for _, p := range s.repairPairs {
		if p.addr == addr && p.target == target {
			return p
		}
	}
	return nil
}

// repairRemember is the pair's entry, added when missing. A full table
// evicts first the oldest entry never backed off doubling (an
// acknowledged push not yet confirmed, or one answered busy), else the one whose backoff ends first (ties: the
// oldest), so a node's backoffs are the last forgotten.
func (s *Storage) repairRemember(addr proto.Addr, target proto.NodeID) *repairPair {
	if p := s.repairPair(addr, target); p != nil {
		return p
	}
	if len(s.repairPairs) >= RepairBackoffsMax {
		victim := slices.IndexFunc(s.repairPairs, func(p *repairPair) bool { return p.fails == 0 })
		if victim < 0 {
			victim = 0
			for i, p := range s.repairPairs {
				if p.until.Before(s.repairPairs[victim].until) {
					victim = i
				}
			}
		}
		s.repairPairs = slices.Delete(s.repairPairs, victim, victim+1)
	}
	p := &repairPair{addr: addr, target: target}
	s.repairPairs = append(s.repairPairs, p)
	return p
}
