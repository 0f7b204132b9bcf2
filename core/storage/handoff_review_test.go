package storage

import (
	"slices"
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto"
)

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
