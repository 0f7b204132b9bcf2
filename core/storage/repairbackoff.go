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
// acknowledges a push and then says it lacks the object again, or
// refuses the push, is pushed that object again only after a backoff,
// not at every audit.
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
)

// Reasons of storage_repair_backoffs_total.
const (
	RepairBackoffLost    = "lost"    // the node acknowledged a push, then said it lacks the object
	RepairBackoffRefused = "refused" // the node said it lacks the object, then failed the push
)

// repairPair is what the repair audits remember of one object's pushes
// to one placement node.
type repairPair struct {
	addr   proto.Addr
	target proto.NodeID
	acked  bool     // a push was acknowledged and no check said "held" since
	until  env.Time // no push of the object to the node before
	fails  int      // backoffs since the node last said it holds the object
}

// repairMayPush reports whether an audit that found target lacking addr
// may push it there now. A node that acknowledged the last push and
// lacks the object again (discarded it, or lost it since) is backed off
// first.
func (s *Storage) repairMayPush(addr proto.Addr, target proto.NodeID) bool {
	p := s.repairPair(addr, target)
	if p == nil {
		return true
	}
	if p.acked {
		p.acked = false
		s.repairBackOff(p, RepairBackoffLost)
		return false
	}
	return !s.env.Now().Before(p.until)
}

// repairPushed records how a repair push of addr to target ended: ok
// (acknowledged, to be confirmed by a later check), refused (the node
// failed it: it is backed off), or neither (failed here: nothing learnt).
func (s *Storage) repairPushed(addr proto.Addr, target proto.NodeID, ok, refused bool) {
	switch {
	case ok:
		s.repairRemember(addr, target).acked = true
	case refused:
		p := s.repairRemember(addr, target)
		p.acked = false
		s.repairBackOff(p, RepairBackoffRefused)
	}
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
// evicts first the oldest entry never backed off (an acknowledged push
// not yet confirmed), else the one whose backoff ends first (ties: the
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
