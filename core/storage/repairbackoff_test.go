package storage

import (
	"math/bits"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// TestRepairLiarBackedOff: a placement node answers every audit's Check
// "not held" and then either acknowledges every push (and keeps nothing
// new: it already holds the object) or refuses it (a full disk). Over
// ten simulated minutes the two other placement nodes push it the
// object a logarithmic number of times (each pair backs off, 5 s
// doubling up to 10 min), not at every audit (before: about once a
// second from each, 1200 pushes). Meanwhile an honest placement node of
// another object that loses its copy, twice, is repaired within seconds
// each time: the backoff is per (object, node) and only for a node that
// failed a push or lost what it acknowledged.
func TestRepairLiarBackedOff(t *testing.T) {
	for _, tc := range []struct {
		name   string
		refuse bool // refuse the pushes (disk full) rather than acknowledge them
		silent bool // leave every push unanswered (it answers the checks)
	}{{"acks", false, false}, {"refuses", true, false}, {"silent", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 4, 71, Config{ChunkBytes: ChunkBytesMin, RepairInterval: time.Second})
			// x is placed on the liar; y on the three other nodes.
			var x, y []byte
			var liar int
			for seed := uint64(100); x == nil || y == nil; seed++ {
				data := randomData(seed, ChunkBytesMin)
				pl := c.placed(proto.AddrOf(data), 3)
				switch {
				case x == nil:
					x = data
					liar = pl[2]
				case !slices.Contains(pl, liar):
					y = data
				}
			}
			xAddr, yAddr := proto.AddrOf(x), proto.AddrOf(y)
			holders := slices.DeleteFunc(c.placed(xAddr, 3), func(i int) bool { return i == liar })
			if res := c.put(holders[0], x, false); res.Err != nil || res.Replicas < 2 {
				t.Fatalf("put x: %+v", res)
			}
			if res := c.put(holders[0], y, false); res.Err != nil || res.Replicas < 2 {
				t.Fatalf("put y: %+v", res)
			}
			c.advance(5 * time.Second)
			if tc.refuse {
				fault := c.nodes[liar].disk.Fault
				c.nodes[liar].disk.Fault = func(op *env.DiskOp) error {
					if op.Kind == env.DiskPut && strings.HasPrefix(string(op.Key), prefixChunk) {
						return env.ErrDiskFull
					}
					return fault(op)
				}
				if r, ok := c.request(liar, Delete{Addr: xAddr}, time.Minute).(DeleteResult); !ok || r.Err != nil {
					t.Fatalf("delete x on the liar: %+v", r)
				}
			}
			type queued struct {
				frame    []byte
				src, dst int
			}
			var q []queued
			type call struct {
				node int // the caller
				corr uint64
			}
			checks := map[call]bool{}
			stores := map[call]bool{} // StoreChunks to the liar (silent: their replies dropped)
			seen := map[call]bool{}
			pushes := 0 // repair pushes to the liar: Commits acknowledged, or StoreChunks refused
			c.c.Drop = func(src, dst int, frame []byte) bool {
				h, m, err := decodeFrame(frame)
				if err != nil {
					return false
				}
				if dst == liar && m.addr == xAddr && !seen[call{src, h.CorrID}] {
					seen[call{src, h.CorrID}] = true
					switch {
					case m.kind == kindCheck:
						checks[call{src, h.CorrID}] = true
					case m.kind == kindCommit && !tc.refuse && !tc.silent, m.kind == kindStoreChunk && (tc.refuse || tc.silent):
						pushes++
					}
					if m.kind == kindStoreChunk {
						stores[call{src, h.CorrID}] = true
					}
				}
				if tc.silent && src == liar && m.kind == kindReply && stores[call{dst, h.CorrID}] {
					return true // a member that takes the checks and drops every push
				}
				if src == liar && m.kind == kindReply && checks[call{dst, h.CorrID}] && m.status == statusOK {
					delete(checks, call{dst, h.CorrID})
					q = append(q, queued{encodeFrame(h.CorrID, &message{kind: kindReply, addr: m.addr, status: statusNotFound}), src, dst})
					return true
				}
				return false
			}
			defer func() { c.c.Drop = nil }()
			run := func(d time.Duration, done func() bool) bool {
				end := c.c.Now + d
				for c.c.Now < end {
					c.c.RunUntil(end-c.c.Now, func() bool { return len(q) > 0 || done != nil && done() })
					for len(q) > 0 {
						f := q[0]
						q = q[1:]
						c.c.Members[f.dst].Node.Step(env.Message{From: c.nodes[f.src].id, Frame: f.frame})
					}
					if done != nil && done() {
						return true
					}
				}
				return false
			}
			honest := slices.DeleteFunc(c.placed(yAddr, 3), func(i int) bool { return slices.Contains(holders, i) })[0]
			const span = 10 * time.Minute
			start := c.c.Now
			for _, at := range []time.Duration{time.Minute, 5 * time.Minute} {
				run(start+at-c.c.Now, nil)
				if r, ok := c.request(honest, Delete{Addr: yAddr}, time.Minute).(DeleteResult); !ok || r.Err != nil {
					t.Fatalf("delete y on node %d: %+v", honest, r)
				}
				if c.nodes[honest].st.HasLocal(yAddr) {
					t.Fatal("y still held after its delete")
				}
				if !run(5*time.Second, func() bool { return c.durableCopy(honest, yAddr) }) {
					t.Fatalf("node %d lost y at %v and was not repaired within 5 s", honest, at)
				}
			}
			run(start+span-c.c.Now, nil)
			// Per holder: the first push, then one per backoff (5 s
			// doubling): at most 2 + log2(span / 5 s).
			most := len(holders) * (2 + bits.Len(uint(span/repairBackoffMin)))
			if pushes == 0 || pushes > most {
				t.Fatalf("%d repair pushes to the liar in %v, want 1..%d", pushes, span, most)
			}
			t.Logf("%d pushes to the liar in %v (at most %d)", pushes, span, most)
		})
	}
}

// TestRepairBackoffTableBounded: the table holds at most
// RepairBackoffsMax pairs; a new one evicts first a pair never backed
// off (an acknowledged push not yet confirmed), else the one whose
// backoff ends first, so a backed-off liar is the last forgotten.
func TestRepairBackoffTableBounded(t *testing.T) {
	c := newCluster(t, 1, 5, noRepair)
	s := c.nodes[0].st
	var target proto.NodeID
	target[0] = 9
	addr := func(i int) proto.Addr {
		var a proto.Addr
		a[0], a[1], a[2] = byte(i>>16), byte(i>>8), byte(i)
		return a
	}
	now := s.env.Now()
	for i := range RepairBackoffsMax {
		p := s.repairRemember(addr(i), target)
		p.fails, p.until = 1, now.Add(time.Duration(RepairBackoffsMax-i)*time.Second)
	}
	s.repairPair(addr(100), target).fails = 0 // acknowledged, never backed off
	p := s.repairRemember(addr(RepairBackoffsMax), target)
	p.fails, p.until = 1, now.Add(time.Hour)
	if len(s.repairPairs) != RepairBackoffsMax || s.repairPair(addr(100), target) != nil {
		t.Fatalf("%d pairs; the pair never backed off kept: %v", len(s.repairPairs), s.repairPair(addr(100), target) != nil)
	}
	last := RepairBackoffsMax - 1 // its backoff ends first
	s.repairRemember(addr(RepairBackoffsMax+1), target)
	if len(s.repairPairs) != RepairBackoffsMax || s.repairPair(addr(last), target) != nil || s.repairPair(addr(0), target) == nil {
		t.Fatalf("%d pairs; the earliest backoff evicted: %v", len(s.repairPairs), s.repairPair(addr(last), target) == nil)
	}
}

// TestRepairBusyNotDoubled: a placement node that lost an object
// answers every push of it busy (load shed: here its HeldBytesMax) for
// two minutes, then takes pushes again. It is repaired within seconds of
// being well: busy answers back the pushes off 5 s doubling only to
// 30 s (before: 5 s doubling to 10 min, so two busy minutes put the next
// push up to 160 s past them).
func TestRepairBusyNotDoubled(t *testing.T) {
	c := newCluster(t, 4, 73, Config{ChunkBytes: ChunkBytesMin, RepairInterval: time.Second})
	data := randomData(300, ChunkBytesMin)
	addr := proto.AddrOf(data)
	pl := c.placed(addr, 3)
	target := pl[2]
	if res := c.put(pl[0], data, false); res.Err != nil || res.Replicas < 2 {
		t.Fatalf("put: %+v", res)
	}
	c.advance(5 * time.Second)
	st := c.nodes[target].st
	st.cfg.HeldBytesMax = 1 // every chunk pushed is shed (statusBusy)
	if r, ok := c.request(target, Delete{Addr: addr}, time.Minute).(DeleteResult); !ok || r.Err != nil {
		t.Fatalf("delete on node %d: %+v", target, r)
	}
	busy := 0
	c.c.Drop = func(src, dst int, frame []byte) bool {
		if _, m, err := decodeFrame(frame); err == nil && src == target && m.kind == kindReply && m.status == statusBusy && m.addr == addr {
			busy++
		}
		return false
	}
	defer func() { c.c.Drop = nil }()
	c.advance(2 * time.Minute)
	if busy == 0 || c.durableCopy(target, addr) {
		t.Fatalf("%d busy answers in two minutes; held: %v", busy, c.durableCopy(target, addr))
	}
	st.cfg.HeldBytesMax = 0
	well := c.c.Now
	if !c.c.RunUntil(repairBackoffBusyMax+5*time.Second, func() bool { return c.durableCopy(target, addr) }) {
		t.Fatalf("node %d not repaired within %v of taking pushes again (%d busy answers before)", target, repairBackoffBusyMax+5*time.Second, busy)
	}
	t.Logf("repaired %v after being well (%d busy answers before)", c.c.Now-well, busy)
}

// TestRepairLostTwiceRepairedPromptly: the one other placement node of
// an object (R = 2) loses it three times in quick succession, each just
// after its repair, before any audit confirmed the repair. Its holder
// audits hundreds of objects, so its cursor comes back to this one only
// every ~25 s. Each time the node is pushed the object within 10 s of
// the first audit that finds it lacking: the second loss at once (the
// first of an acknowledged push is not backed off), the third after the
// 5 s backoff (its audit is revisited when the backoff ends). Before,
// the second loss was backed off and the skipped push waited for the
// cursor's next round.
func TestRepairLostTwiceRepairedPromptly(t *testing.T) {
	c := newCluster(t, 3, 79, Config{ChunkBytes: ChunkBytesMin, RepairInterval: time.Second, Replicas: 2, WriteQuorum: 2})
	var x []byte
	for seed := uint64(1000); x == nil; seed++ {
		if d := randomData(seed, ChunkBytesMin); c.placed(proto.AddrOf(d), 2)[0] == 0 {
			x = d
		}
	}
	addr := proto.AddrOf(x)
	target := c.placed(addr, 2)[1]
	if res := c.put(0, x, false); res.Err != nil || res.Replicas < 2 {
		t.Fatalf("put x: %+v", res)
	}
	for i := range 300 {
		if res := c.put(0, randomData(uint64(5000+i), ChunkBytesMin), false); res.Err != nil {
			t.Fatalf("put %d: %+v", i, res)
		}
	}
	if n := len(c.nodes[0].st.index.objects); n < 160 {
		t.Fatalf("node 0 holds %d objects, want at least 160 (a long cursor round)", n)
	}
	var checked time.Duration // when node 0 first checked x on target since the loss; 0: not yet
	c.c.Drop = func(src, dst int, frame []byte) bool {
		if _, m, err := decodeFrame(frame); err == nil && src == 0 && dst == target && m.kind == kindCheck && m.addr == addr && checked == 0 {
			checked = c.c.Now
		}
		return false
	}
	defer func() { c.c.Drop = nil }()
	for loss := 1; loss <= 3; loss++ {
		if r, ok := c.request(target, Delete{Addr: addr}, time.Minute).(DeleteResult); !ok || r.Err != nil {
			t.Fatalf("loss %d: delete on node %d: %+v", loss, target, r)
		}
		checked = 0
		repaired := func() bool { return c.durableCopy(target, addr) }
		c.c.RunUntil(2*time.Minute, func() bool { return repaired() || checked != 0 && c.c.Now > checked+10*time.Second })
		if !repaired() {
			t.Fatalf("loss %d: node %d not repaired within 10 s of the audit that found it lacking (checked at %v, now %v)", loss, target, checked, c.c.Now)
		}
		t.Logf("loss %d: repaired %v after the audit's check", loss, c.c.Now-checked)
	}
}
