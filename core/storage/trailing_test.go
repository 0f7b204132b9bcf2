package storage

import (
	"bytes"
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto"
)

// TestMemberDownPutsNotBusy: with one of three members cut off, every put
// is acknowledged by the other two at once, but its push to the cut node
// stays open until the RPC's retries are spent. Before, those
// acknowledged puts still counted against InflightPutsMax, so a client's
// 33rd sequential put within a few seconds was refused busy (the red
// team's rond cluster: ~25% of puts refused). Now they trail under their
// own bounds: every put succeeds, at most TrailingPutsMax trail, the ones
// let go beyond it keep no request (nor bytes) outstanding and hand off,
// and the cut node gets every object once it is back.
func TestMemberDownPutsNotBusy(t *testing.T) {
	c := newCluster(t, 3, 61, noRepair)
	cut := 2
	c.cut[c.nodes[cut].id] = true
	const n = InflightPutsMax + TrailingPutsMax + 20
	var addrs []proto.Addr
	var datas [][]byte
	start := c.c.Now
	for i := range n {
		data := randomData(uint64(1000+i), 3*ChunkBytesMin+i)
		res := c.put(0, data, false)
		if res.Err != nil || res.Replicas != 2 {
			t.Fatalf("put %d of %d with n%d cut off: %+v, want acknowledged by 2", i+1, n, cut, res)
		}
		addrs, datas = append(addrs, res.Addr), append(datas, data)
	}
	if el := c.c.Now - start; el >= c.cfg.withDefaults().PutTimeout {
		t.Fatalf("the puts took %v, not within PutTimeout", el)
	}
	st := c.nodes[0].st
	if len(st.trailing) > TrailingPutsMax || st.activePuts() > 0 {
		t.Fatalf("%d puts trail (max %d), %d active", len(st.trailing), TrailingPutsMax, st.activePuts())
	}
	// Each trailing put has one push open, to the cut node, with at most
	// one window of chunk requests; the ones let go have none: every
	// request outstanding to the cut node is one of a trailing put's.
	if got, limit := len(st.rpcs), TrailingPutsMax*PushWindowMax; got > limit {
		t.Fatalf("%d RPCs outstanding, want at most %d", got, limit)
	}
	toCut, ofTrailing := 0, 0
	for _, r := range st.rpcs {
		if r.to == c.nodes[cut].id {
			toCut++
		}
	}
	for _, p := range st.trailing {
		for _, pu := range p.pushes {
			if pu.target == c.nodes[cut].id {
				ofTrailing += len(pu.calls)
			}
		}
	}
	if toCut == 0 || toCut != ofTrailing {
		t.Fatalf("%d requests outstanding to the cut node, %d of them the trailing puts': the puts let go left theirs", toCut, ofTrailing)
	}
	if got, want := c.metric(0, MetricRejects, ReasonTrailing), float64(n-TrailingPutsMax); got != want {
		t.Fatalf("%s{%s} = %v, want %v", MetricRejects, ReasonTrailing, got, want)
	}
	if got := c.metric(0, MetricRejects, ReasonOverload); got != 0 {
		t.Fatalf("%s{%s} = %v, want 0", MetricRejects, ReasonOverload, got)
	}
	delete(c.cut, c.nodes[cut].id)
	if !c.c.RunUntil(5*time.Minute, func() bool {
		state := c.nodes[cut].disk.Durable()
		for _, a := range addrs {
			if !holdsCopy(state, a) {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("the cut node did not get every object; pending hand-offs: %v", st.PendingHandoffs())
	}
	for _, i := range []int{0, len(addrs) - 1} {
		if got := c.get(cut, addrs[i], 0, 0); got.Err != nil || !bytes.Equal(got.Data, datas[i]) {
			t.Fatalf("get %d from n%d: %v", i, cut, got.Err)
		}
	}
}
