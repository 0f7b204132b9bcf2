package storage

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// noRepair runs no repair audit within any test's horizon: what reaches a
// placement node the put missed came from the coordinator's hand-off.
var noRepair = Config{ChunkBytes: ChunkBytesMin, RepairInterval: 1000 * time.Hour}

// handoffSetup picks, for data's object in c, a coordinator (a placement
// node when placed, else one that is not) and the placement node to cut
// off (another one), and cuts it.
func handoffSetup(c *cluster, data []byte, placed bool) (coord, cut int) {
	addr := proto.AddrOf(data)
	pl := c.placed(addr, 3)
	coord = c.notPlaced(addr, 3)[0]
	if placed {
		coord = pl[0]
	}
	cut = pl[1]
	c.cut[c.nodes[cut].id] = true
	return coord, cut
}

// countChecks counts the distinct Check requests from one node to
// another (an RPC resends its frame under one corr id), on top of the
// cluster's cut.
func countChecks(c *cluster, from, to int) *int {
	n := 0
	seen := map[uint64]bool{}
	c.c.Drop = func(src, dst int, frame []byte) bool {
		if src == from && dst == to {
			if h, m, err := decodeFrame(frame); err == nil && m.kind == kindCheck && !seen[h.CorrID] {
				seen[h.CorrID] = true
				n++
			}
		}
		return c.cut[c.nodes[src].id] || c.cut[c.nodes[dst].id]
	}
	return &n
}

// TestHandoffDeliversAfterPartition: a put acknowledged by W = 2 while a
// placement node is cut off leaves that node without a copy; once it can
// be reached again, the coordinator's hand-off pushes the object to it,
// with no repair audit running anywhere. The coordinator is a placement
// node (it pushes from its replica), or is not (it keeps a copy of the
// put's bytes, or of a streamed upload's chunks, to push from).
func TestHandoffDeliversAfterPartition(t *testing.T) {
	for _, tc := range []struct {
		name           string
		placed, stream bool
	}{{"coordinator placed", true, false}, {"coordinator not placed", false, false}, {"stream, coordinator not placed", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 5, 31, noRepair)
			data := randomData(32, 5*ChunkBytesMin+77)
			addr := proto.AddrOf(data)
			coord, cut := handoffSetup(c, data, tc.placed)
			var res PutResult
			if tc.stream {
				ss := c.begin(coord, false)
				c.stream(coord, ss, data, ChunkBytesMin)
				res = c.commit(coord, ss, addr, uint64(len(data)))
			} else {
				res = c.put(coord, data, false)
			}
			if res.Err != nil || res.Replicas != 2 {
				t.Fatalf("put: %+v, want acknowledged by 2", res)
			}
			c.advance(10 * time.Second) // the put's push gives up; the hand-off retries in vain
			if c.nodes[cut].st.HasLocal(addr) {
				t.Fatal("the cut-off node holds the object")
			}
			delete(c.cut, c.nodes[cut].id)
			if !c.c.RunUntil(2*time.Minute, func() bool { return c.durableCopy(cut, addr) }) {
				t.Fatalf("the hand-off did not deliver the object to n%d; pending: %v", cut, c.nodes[coord].st.PendingHandoffs())
			}
			c.step()
			if got := c.metric(coord, MetricHandoffsDelivered, ""); got != 1 {
				t.Fatalf("%s = %v, want 1", MetricHandoffsDelivered, got)
			}
			if got := c.metric(coord, MetricHandoffsPending, ""); got != 0 {
				t.Fatalf("%s = %v after delivery", MetricHandoffsPending, got)
			}
			for i := range c.nodes {
				if got := c.metric(i, MetricRepairs, ""); got != 0 {
					t.Fatalf("n%d counted %v repairs: an audit ran", i, got)
				}
			}
			if got := c.get(cut, addr, 0, 0); got.Err != nil || !bytes.Equal(got.Data, data) {
				t.Fatalf("get from the node handed the object: %v", got.Err)
			}
		})
	}
}

// TestHandoffCopyCollected: a coordinator that is not a placement node
// keeps a copy for its hand-off, which the repair loop collects once
// every placement node holds the object.
func TestHandoffCopyCollected(t *testing.T) {
	c := newCluster(t, 5, 33, smallChunks)
	data := randomData(34, 3*ChunkBytesMin+1)
	addr := proto.AddrOf(data)
	coord, cut := handoffSetup(c, data, false)
	if res := c.put(coord, data, false); res.Err != nil {
		t.Fatal(res.Err)
	}
	c.advance(6 * time.Second)
	if !c.nodes[coord].st.HasLocal(addr) || !c.durableCopy(coord, addr) {
		t.Fatal("the coordinator kept no copy for its hand-off")
	}
	delete(c.cut, c.nodes[cut].id)
	done := func() bool { return c.durableCopy(cut, addr) && !c.nodes[coord].st.HasLocal(addr) }
	if !c.c.RunUntil(time.Minute, done) {
		t.Fatalf("cut node holds it %v, coordinator still holds it %v", c.durableCopy(cut, addr), c.nodes[coord].st.HasLocal(addr))
	}
}

// TestHandoffExpires: a placement node that stays unreachable gets
// HandoffAttemptsMax checks from the coordinator, then the hand-off is
// dropped (counted as expired) and nothing more is sent to it.
func TestHandoffExpires(t *testing.T) {
	c := newCluster(t, 5, 35, noRepair)
	data := randomData(36, 2*ChunkBytesMin)
	coord, cut := handoffSetup(c, data, true)
	checks := countChecks(c, coord, cut)
	defer func() { c.c.Drop = nil }()
	if res := c.put(coord, data, false); res.Err != nil {
		t.Fatal(res.Err)
	}
	c.advance(HandoffAgeMax)
	if got := c.metric(coord, MetricHandoffsDropped, HandoffExpired); got != 1 {
		t.Fatalf("expired hand-offs %v, want 1; pending: %v", got, c.nodes[coord].st.PendingHandoffs())
	}
	if *checks != HandoffAttemptsMax {
		t.Fatalf("%d checks sent to the cut-off node, want %d", *checks, HandoffAttemptsMax)
	}
	if got := c.metric(coord, MetricHandoffsPending, ""); got != 0 || len(c.nodes[coord].st.PendingHandoffs()) != 0 {
		t.Fatalf("%s = %v after the hand-off expired", MetricHandoffsPending, got)
	}
	c.advance(HandoffAgeMax)
	if *checks != HandoffAttemptsMax {
		t.Fatalf("%d checks after expiry, want %d", *checks, HandoffAttemptsMax)
	}
}

// TestHandoffDroppedOnDelete: deleting the coordinator's copy drops its
// hand-offs (nothing to push from), counted as gone.
func TestHandoffDroppedOnDelete(t *testing.T) {
	c := newCluster(t, 5, 37, noRepair)
	data := randomData(38, 2*ChunkBytesMin+3)
	addr := proto.AddrOf(data)
	coord, cut := handoffSetup(c, data, false)
	checks := countChecks(c, coord, cut)
	defer func() { c.c.Drop = nil }()
	if res := c.put(coord, data, false); res.Err != nil {
		t.Fatal(res.Err)
	}
	c.advance(5 * time.Second)
	if len(c.nodes[coord].st.PendingHandoffs()) != 1 {
		t.Fatalf("pending hand-offs: %v, want one", c.nodes[coord].st.PendingHandoffs())
	}
	del, _ := c.request(coord, Delete{Addr: addr}, time.Second).(DeleteResult)
	if del.Err != nil {
		t.Fatalf("delete: %v", del.Err)
	}
	if got := c.metric(coord, MetricHandoffsDropped, HandoffGone); got != 1 {
		t.Fatalf("hand-offs dropped as gone: %v, want 1", got)
	}
	if len(c.nodes[coord].st.PendingHandoffs()) != 0 {
		t.Fatalf("pending after delete: %v", c.nodes[coord].st.PendingHandoffs())
	}
	sent := *checks
	delete(c.cut, c.nodes[cut].id)
	c.advance(time.Minute)
	if *checks != sent || c.nodes[cut].st.HasLocal(addr) {
		t.Fatalf("after the delete: %d more checks, cut node holds it %v", *checks-sent, c.nodes[cut].st.HasLocal(addr))
	}
}

// TestHandoffTableFull: with HandoffsMax hand-offs waiting, a put that
// misses a placement node records none (counted as full) and, when the
// coordinator is not placed, keeps no copy; the table stays at its
// bound. A client making many puts while nodes are cut off cannot grow
// it further.
func TestHandoffTableFull(t *testing.T) {
	c := newCluster(t, 5, 39, noRepair)
	data := randomData(40, ChunkBytesMin+9)
	addr := proto.AddrOf(data)
	coord, cut := handoffSetup(c, data, false)
	st := c.nodes[coord].st
	rand := env.NewRand(41)
	now := st.env.Now()
	later := now.Add(time.Hour) // never due within the test
	for range HandoffsMax {
		var a proto.Addr
		rand.Fill(a[:])
		st.handoffs.list = append(st.handoffs.list, &handoff{addr: a, target: c.nodes[cut].id, added: now, due: later})
	}
	if res := c.put(coord, data, false); res.Err != nil {
		t.Fatal(res.Err)
	}
	c.advance(5 * time.Second)
	if got := c.metric(coord, MetricHandoffsDropped, HandoffFull); got != 1 {
		t.Fatalf("hand-offs dropped as full: %v, want 1", got)
	}
	if len(st.handoffs.list) != HandoffsMax || st.findHandoff(addr, c.nodes[cut].id) >= 0 {
		t.Fatalf("table holds %d entries (the put's: %v)", len(st.handoffs.list), st.findHandoff(addr, c.nodes[cut].id) >= 0)
	}
	if st.HasLocal(addr) {
		t.Fatal("the coordinator kept a copy for a hand-off it did not record")
	}
	delete(c.cut, c.nodes[cut].id)
	c.advance(30 * time.Second)
	if c.nodes[cut].st.HasLocal(addr) {
		t.Fatal("an unrecorded hand-off delivered")
	}
}

// TestHandoffLostOnRestart: the table is memory only; a restart of the
// coordinator forgets it, and the copy it kept stays on disk for the
// repair audits.
func TestHandoffLostOnRestart(t *testing.T) {
	c := newCluster(t, 5, 42, noRepair)
	data := randomData(43, 2*ChunkBytesMin)
	addr := proto.AddrOf(data)
	coord, _ := handoffSetup(c, data, false)
	if res := c.put(coord, data, false); res.Err != nil {
		t.Fatal(res.Err)
	}
	c.advance(5 * time.Second)
	if len(c.nodes[coord].st.PendingHandoffs()) != 1 {
		t.Fatalf("pending hand-offs: %v, want one", c.nodes[coord].st.PendingHandoffs())
	}
	c.crash(coord)
	c.start(coord)
	c.step()
	if len(c.nodes[coord].st.PendingHandoffs()) != 0 || !c.nodes[coord].st.HasLocal(addr) {
		t.Fatalf("after a restart: hand-offs %v, copy held %v", c.nodes[coord].st.PendingHandoffs(), c.nodes[coord].st.HasLocal(addr))
	}
}

// TestHandoffDroppedWhenMoved: a node that is no longer among the
// object's placement nodes when an attempt starts (the membership, or
// the DHT's view, changed) gets no more checks or pushes; the hand-off is
// dropped as moved.
func TestHandoffDroppedWhenMoved(t *testing.T) {
	c := newCluster(t, 5, 44, noRepair)
	data := randomData(45, 2*ChunkBytesMin+1)
	coord, cut := handoffSetup(c, data, true)
	checks := countChecks(c, coord, cut)
	defer func() { c.c.Drop = nil }()
	if res := c.put(coord, data, false); res.Err != nil {
		t.Fatal(res.Err)
	}
	c.advance(5 * time.Second)
	st := c.nodes[coord].st
	if len(st.PendingHandoffs()) != 1 {
		t.Fatalf("pending hand-offs: %v, want one", st.PendingHandoffs())
	}
	st.cfg.Members = slices.DeleteFunc(slices.Clone(st.cfg.Members), func(id proto.NodeID) bool { return id == c.nodes[cut].id })
	c.c.RunUntil(time.Minute, func() bool { return len(st.PendingHandoffs()) == 0 })
	sent := *checks
	if got := c.metric(coord, MetricHandoffsDropped, HandoffMoved); got != 1 {
		t.Fatalf("hand-offs dropped as moved: %v, want 1 (pending %v)", got, st.PendingHandoffs())
	}
	delete(c.cut, c.nodes[cut].id)
	c.advance(time.Minute)
	if *checks != sent {
		t.Fatalf("%d checks after the node left the placement", *checks-sent)
	}
}

// A pinned put on a coordinator that is not placed; the client deletes
// the object after the acknowledgement, while the put still waits for
// the cut-off placement node. The put's end must not write it back.
func TestHandoffDeleteDuringPutNotResurrected(t *testing.T) {
	c := newCluster(t, 5, 37, noRepair)
	data := randomData(38, 2*ChunkBytesMin+3)
	addr := proto.AddrOf(data)
	coord, _ := handoffSetup(c, data, false)
	if res := c.put(coord, data, true); res.Err != nil || res.Replicas != 2 {
		t.Fatalf("put: %+v", res)
	}
	st := c.nodes[coord].st
	if len(st.puts) != 1 {
		t.Fatalf("put already finished")
	}
	del, _ := c.request(coord, Delete{Addr: addr}, time.Second).(DeleteResult)
	if del.Err != nil || st.HasLocal(addr) {
		t.Fatalf("delete: %v, held %v", del.Err, st.HasLocal(addr))
	}
	c.advance(15 * time.Second)
	if st.HasLocal(addr) {
		t.Fatalf("object deleted by the client is held again on the coordinator (unpinned); hand-offs %v", st.PendingHandoffs())
	}
}

// Hand-offs to one dead node hold every attempt slot for an RPC's whole
// retry chain; a hand-off to a live node queued behind them waits until
// they expire, and entries outlive HandoffAgeMax.
func TestHandoffNoHeadOfLineBlocking(t *testing.T) {
	c := newCluster(t, 5, 51, noRepair)
	coord, dead, live := 0, 1, 2
	var deadObjs []proto.Addr
	var liveObj proto.Addr
	for seed := uint64(1000); len(deadObjs) < 150 || liveObj.IsZero(); seed++ {
		data := randomData(seed, ChunkBytesMin+int(seed%7))
		addr := proto.AddrOf(data)
		pl := c.placed(addr, 3)
		if !slices.Contains(pl, coord) {
			continue
		}
		switch {
		case slices.Contains(pl, dead) && len(deadObjs) < 150:
			deadObjs = append(deadObjs, addr)
		case slices.Contains(pl, live) && !slices.Contains(pl, dead) && liveObj.IsZero():
			liveObj = addr
		default:
			continue
		}
		if res := c.put(coord, data, false); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	c.advance(2 * time.Second)
	st := c.nodes[coord].st
	c.cut[c.nodes[dead].id] = true
	now := st.env.Now()
	for _, a := range deadObjs {
		st.handoffs.list = append(st.handoffs.list, &handoff{addr: a, target: c.nodes[dead].id, added: now, due: now})
	}
	// The live node holds liveObj: its hand-off ends at its first check.
	st.handoffs.list = append(st.handoffs.list, &handoff{addr: liveObj, target: c.nodes[live].id, added: now, due: now})
	st.armHandoffs()
	delivered := func() bool { return st.findHandoff(liveObj, c.nodes[live].id) < 0 }
	if !c.c.RunUntil(time.Minute, delivered) {
		start := st.env.Now()
		c.c.RunUntil(30*time.Minute, delivered)
		t.Errorf("hand-off to a live node not attempted within a minute (%d entries to the dead node ahead of it); delivered %v later (%v), %d pending", len(deadObjs), st.env.Now().Sub(start), delivered(), len(st.handoffs.list))
	}
	c.c.RunUntil(HandoffAgeMax+time.Minute, func() bool { return false })
	old := 0
	for _, h := range st.handoffs.list {
		if st.env.Now().Sub(h.added) > HandoffAgeMax+time.Minute {
			old++
		}
	}
	if old > 0 {
		t.Errorf("%d hand-offs older than HandoffAgeMax+1min still pending", old)
	}
}

// An object removed here while a put of it ran, other than by a client
// Delete (a GC pass, a failed finishWrite), still gets its hand-off: only
// the client's Delete (putOp.deleted) stops it.
func TestHandoffAfterNonDeleteRemovalDuringPut(t *testing.T) {
	c := newCluster(t, 5, 37, noRepair)
	data := randomData(38, 2*ChunkBytesMin+3)
	addr := proto.AddrOf(data)
	pl := c.placed(addr, 3)
	coord := c.notPlaced(addr, 3)[0]
	if res := c.put(coord, data, true); res.Err != nil {
		t.Fatalf("first put: %+v", res)
	}
	c.advance(time.Second)
	missing := pl[1]
	if !c.nodes[missing].st.HasLocal(addr) {
		t.Fatal("placement node missed the first put")
	}
	if del, _ := c.request(missing, Delete{Addr: addr}, time.Second).(DeleteResult); del.Err != nil {
		t.Fatalf("delete on %d: %v", missing, del.Err)
	}
	c.cut[c.nodes[missing].id] = true
	st := c.nodes[coord].st
	if res := c.put(coord, data, true); res.Err != nil || res.Replicas != 2 {
		t.Fatalf("second put: %+v", res)
	}
	if len(st.puts) != 1 || !st.HasLocal(addr) {
		t.Fatalf("put finished %v, held %v", len(st.puts) != 1, st.HasLocal(addr))
	}
	if !st.removeLocal(addr, func(error) {}) { // as a GC pass would
		t.Fatal("removeLocal not queued")
	}
	c.advance(5 * time.Second)
	c.cut[c.nodes[missing].id] = false
	if !c.c.RunUntil(2*time.Minute, func() bool { return c.nodes[missing].st.HasLocal(addr) }) {
		t.Fatalf("the node the put missed never got the object; hand-offs %v", st.PendingHandoffs())
	}
}

// A placement node that answers the hand-off's Check ("not held") and
// then fails every push (its disk is full and refuses the chunks, or it
// drops them unanswered) is backed off as a whole, as a node that does
// not answer: its hand-offs wait for one another, 1 s doubling up to
// 1 min, instead of each retrying at its own pace, so the coordinator
// does not read and send object after object to it. Hand-offs to a
// healthy node are not held up, and once the bad node heals its own are
// delivered.
func TestHandoffRefusedPushBacksNodeOff(t *testing.T) {
	for _, tc := range []struct {
		name string
		drop bool // drop the pushed chunks (no answer) rather than refuse them
	}{{"disk full", false}, {"drops pushes", true}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 5, 53, noRepair)
			// Objects placed on the coordinator and the bad node, and on
			// the coordinator and the healthy node (not the bad one).
			coord, bad, good := handoffTriple(c)
			var badObjs, goodObjs []proto.Addr
			c.cut[c.nodes[bad].id], c.cut[c.nodes[good].id] = true, true
			for seed := uint64(2000); len(badObjs) < 20 || len(goodObjs) < 5; seed++ {
				if seed > 100000 {
					t.Fatal("no such objects")
				}
				data := randomData(seed, ChunkBytesMin+int(seed%5))
				addr := proto.AddrOf(data)
				pl := c.placed(addr, 3)
				switch {
				case !slices.Contains(pl, coord) || slices.Contains(pl, bad) == slices.Contains(pl, good):
					continue
				case slices.Contains(pl, bad) && len(badObjs) < 20:
					badObjs = append(badObjs, addr)
				case slices.Contains(pl, good) && len(goodObjs) < 5:
					goodObjs = append(goodObjs, addr)
				default:
					continue
				}
				if res := c.put(coord, data, false); res.Err != nil || res.Replicas != 2 {
					t.Fatalf("put: %+v", res)
				}
			}
			c.advance(10 * time.Second)
			st := c.nodes[coord].st
			if n := len(st.PendingHandoffs()); n != len(badObjs)+len(goodObjs) {
				t.Fatalf("%d hand-offs pending, want %d", n, len(badObjs)+len(goodObjs))
			}
			// From here on, count the hand-offs' Checks to the bad node and
			// the chunks pushed to it; it answers the Checks, and fails
			// every push.
			checks, pushes := 0, 0 // pushes: chunks pushed
			seen := map[uint64]bool{}
			refuse := true
			c.c.Drop = func(src, dst int, frame []byte) bool {
				if src != coord || dst != bad {
					return false
				}
				h, m, err := decodeFrame(frame)
				if err != nil || seen[h.CorrID] && m.kind != kindStoreChunk {
					return false
				}
				fresh := !seen[h.CorrID]
				seen[h.CorrID] = true
				switch {
				case m.kind == kindCheck:
					checks++
				case m.kind == kindStoreChunk && refuse:
					if fresh {
						pushes++
					}
					return tc.drop
				}
				return false
			}
			defer func() { c.c.Drop = nil }()
			fault := c.nodes[bad].disk.Fault
			c.nodes[bad].disk.Fault = func(op *env.DiskOp) error {
				if refuse && !tc.drop && op.Kind == env.DiskPut && strings.HasPrefix(string(op.Key), prefixChunk) {
					return env.ErrDiskFull
				}
				return fault(op)
			}
			clear(c.cut)
			goodDone := func() bool {
				for _, a := range goodObjs {
					if st.findHandoff(a, c.nodes[good].id) >= 0 {
						return false
					}
				}
				return true
			}
			if !c.c.RunUntil(time.Minute, goodDone) {
				t.Fatalf("hand-offs to the healthy node not delivered within a minute; pending %v", st.PendingHandoffs())
			}
			const window = 3 * time.Minute
			c.c.RunFor(window)
			t.Logf("%d attempts, %d pushes to the bad node in %v", checks, pushes, window)
			if pushes == 0 {
				t.Fatalf("%d checks and no push: the bad node did not answer the checks", checks)
			}
			// Backed off as a whole, the node gets at most one attempt per
			// wait of 1 s, 2 s, 4 s ... 1 min (each at least 80% of it):
			// about nine in three minutes. Each hand-off at its own pace
			// would make ten times as many.
			if checks > 12 {
				t.Errorf("%d attempts (%d pushes) to a node that fails every push in %v, want at most 12: it is not backed off", checks, pushes, window)
			}
			if got := c.metric(coord, MetricHandoffsDelivered, ""); got != float64(len(goodObjs)) {
				t.Fatalf("%s = %v during the refusals, want %d", MetricHandoffsDelivered, got, len(goodObjs))
			}
			refuse = false
			done := func() bool {
				for _, a := range badObjs {
					if !c.nodes[bad].st.HasLocal(a) {
						return false
					}
				}
				return true
			}
			if !c.c.RunUntil(3*time.Minute, done) {
				t.Fatalf("after the bad node healed, its hand-offs were not delivered; pending %v", st.PendingHandoffs())
			}
		})
	}
}

// handoffTriple picks, in c, a coordinator and two other nodes bad and
// good such that objects are placed (of 3) on the coordinator and bad but
// not good, and on the coordinator and good but not bad (the XOR
// placement makes some pairs inseparable).
func handoffTriple(c *cluster) (coord, bad, good int) {
	type triple struct{ coord, bad, good int }
	seen := map[triple]int{}
	for seed := uint64(0); seed < 200; seed++ {
		var a proto.Addr
		env.NewRand(seed).Fill(a[:])
		pl := c.placed(a, 3)
		for _, x := range pl {
			for _, y := range pl {
				for z := range c.nodes {
					if x != y && !slices.Contains(pl, z) {
						seen[triple{x, y, z}] |= 1
						seen[triple{x, z, y}] |= 2
					}
				}
			}
		}
	}
	for x := range c.nodes {
		for y := range c.nodes {
			for z := range c.nodes {
				if seen[triple{x, y, z}] == 3 {
					return x, y, z
				}
			}
		}
	}
	c.t.Fatal("no coordinator, bad and good nodes")
	return 0, 0, 0
}

// A coordinator that is not placed keeps a copy for its hand-off when
// the put ends; a client Delete that arrives while that copy's write is
// in flight takes effect when the write completes: it is answered then
// (success), the copy is removed and the hand-off dropped as gone, so
// nothing is pushed from it. When the write fails, nothing was stored
// here and the Delete answers not found.
func TestHandoffDeleteWhileCopyWritten(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fail    bool // the kept copy's write fails
		wantErr error
	}{{"write completes", false, nil}, {"write fails", true, ErrNotFound}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClusterDisk(t, 5, 37, noRepair, 20*time.Millisecond)
			data := randomData(38, 2*ChunkBytesMin+3)
			addr := proto.AddrOf(data)
			coord, cut := handoffSetup(c, data, false)
			if res := c.put(coord, data, false); res.Err != nil || res.Replicas != 2 {
				t.Fatalf("put: %+v", res)
			}
			st := c.nodes[coord].st
			if !c.c.RunUntil(time.Minute, func() bool { return len(st.PendingHandoffs()) > 0 }) {
				t.Fatal("no hand-off recorded")
			}
			manKey := string(diskKey(prefixManifest, addr))
			if !slices.ContainsFunc(c.c.PendingDisk(coord), func(op env.DiskOp) bool { return string(op.Key) == manKey }) {
				t.Fatal("the kept copy's write is not in flight")
			}
			if tc.fail {
				fault := c.nodes[coord].disk.Fault
				c.nodes[coord].disk.Fault = func(op *env.DiskOp) error {
					if string(op.Key) == manKey {
						return env.ErrDiskIO
					}
					return fault(op)
				}
			}
			del, ok := c.request(coord, Delete{Addr: addr}, time.Second).(DeleteResult)
			if !ok || !errors.Is(del.Err, tc.wantErr) || (tc.wantErr == nil) != (del.Err == nil) {
				t.Fatalf("delete while the kept copy is written: %+v (answered %v), want %v", del, ok, tc.wantErr)
			}
			// A failed write leaves the hand-off nothing to push from: its
			// next attempt drops it.
			c.c.RunUntil(5*time.Second, func() bool { return len(st.PendingHandoffs()) == 0 })
			if st.HasLocal(addr) || c.durableCopy(coord, addr) {
				t.Fatalf("the coordinator holds the copy after the delete")
			}
			if got := c.metric(coord, MetricHandoffsDropped, HandoffGone); got != 1 || len(st.PendingHandoffs()) != 0 {
				t.Fatalf("hand-offs dropped as gone %v, pending %v", got, st.PendingHandoffs())
			}
			delete(c.cut, c.nodes[cut].id)
			c.advance(time.Minute)
			if st.HasLocal(addr) || c.nodes[cut].st.HasLocal(addr) {
				t.Fatalf("after the delete: coordinator holds it %v, the cut node got it %v", st.HasLocal(addr), c.nodes[cut].st.HasLocal(addr))
			}
		})
	}
}

// The same holds for any local write of the object in flight: a client
// Delete that arrives while a pinned put's own write is in flight on a
// coordinator that is not placed is answered once that write completed
// and the copy is removed (before, it answered not found and the pinned
// copy stayed). The put, which overlapped the Delete, is acknowledged.
func TestDeleteWhilePinnedWriteInFlight(t *testing.T) {
	c := newClusterDisk(t, 5, 39, noRepair, 20*time.Millisecond)
	data := randomData(40, 2*ChunkBytesMin+5)
	addr := proto.AddrOf(data)
	coord := c.notPlaced(addr, 3)[0]
	put := c.c.Request(coord, ServiceName, Put{Data: data, Pin: true})
	manKey := string(diskKey(prefixManifest, addr))
	if !c.c.RunUntil(time.Second, func() bool {
		return slices.ContainsFunc(c.c.PendingDisk(coord), func(op env.DiskOp) bool { return string(op.Key) == manKey })
	}) {
		t.Fatal("the pinned put's local write is not in flight")
	}
	del, ok := c.request(coord, Delete{Addr: addr}, time.Second).(DeleteResult)
	if !ok || del.Err != nil {
		t.Fatalf("delete while the pinned copy is written: %+v (answered %v), want success", del, ok)
	}
	res, _ := c.c.Await(coord, put, time.Minute)
	if pr, ok := res.(PutResult); !ok || pr.Err != nil {
		t.Fatalf("put: %+v", res)
	}
	c.advance(15 * time.Second)
	if c.nodes[coord].st.HasLocal(addr) || c.durableCopy(coord, addr) {
		t.Fatal("the coordinator holds the pinned copy the client deleted")
	}
}
