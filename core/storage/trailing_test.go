package storage

import (
	"bytes"
	"slices"
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
	if got, want := c.metric(0, MetricTrailingLetGo, ""), float64(n-TrailingPutsMax); got != want {
		t.Fatalf("%s = %v, want %v", MetricTrailingLetGo, got, want)
	}
	if got := c.metric(0, MetricRejects, "trailing"); got != 0 {
		t.Fatalf(`%s{reason="trailing"} = %v: puts answered as stored counted as rejects`, MetricRejects, got)
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

// TestTrailingPushesLeaveRPCRoom: with three of five placement nodes cut
// off (R 5, W 2), every put is acknowledged by this node and the one
// other live member, and then trails with a full push window open to
// each cut node (24 requests, retried for about 3.75 s). Before,
// TrailingPutsMax (64) such puts could hold 1536 requests: the RPC table
// (RPCsInflightMax, 1024) filled after about 42 and the next put's push
// to the live member was refused for lack of room (overload), so it
// failed. Now the trailing puts' requests stay within TrailingRPCsMax
// (the oldest let go, handing off): every put is acknowledged, nothing is
// refused, and a get that needs a peer still proceeds.
func TestTrailingPushesLeaveRPCRoom(t *testing.T) {
	cfg := noRepair
	cfg.Replicas = 5
	c := newCluster(t, 5, 62, cfg)
	for _, i := range []int{2, 3, 4} {
		c.cut[c.nodes[i].id] = true
	}
	const n = TrailingPutsMax + 10
	var addrs []proto.Addr
	var datas [][]byte
	st := c.nodes[0].st
	for i := range n {
		data := randomData(uint64(2000+i), 9*ChunkBytesMin+i)
		res := c.put(0, data, false)
		if res.Err != nil || res.Replicas != 2 {
			t.Fatalf("put %d of %d with 3 of 5 cut off (%d requests outstanding, %d of trailing puts): %+v, want acknowledged by 2",
				i+1, n, len(st.rpcs), trailingRequests(st), res)
		}
		addrs, datas = append(addrs, res.Addr), append(datas, data)
	}
	if got := c.metric(0, MetricRejects, ReasonOverload); got != 0 {
		t.Fatalf("%s{%s} = %v, want 0", MetricRejects, ReasonOverload, got)
	}
	if trailingRequests(st) > TrailingRPCsMax || len(st.rpcs) > TrailingRPCsMax+InflightPutsMax*4*PushWindowMax {
		t.Fatalf("%d requests outstanding, %d of them the trailing puts' (max %d)", len(st.rpcs), trailingRequests(st), TrailingRPCsMax)
	}
	// More were let go than TrailingPutsMax alone explains: the requests
	// bounded them.
	if got := c.metric(0, MetricTrailingLetGo, ""); got <= float64(n-TrailingPutsMax) {
		t.Fatalf("%s = %v, want more than %d", MetricTrailingLetGo, got, n-TrailingPutsMax)
	}
	// A get that needs peers: node 0 drops its own copy of an early
	// object whose first candidate (after node 0) is node 1, so its get
	// fetches it from node 1 while the trailing puts' pushes hold their
	// requests (a cut candidate first would take its retries, 3.75 s).
	k := slices.IndexFunc(addrs[:TrailingPutsMax], func(a proto.Addr) bool {
		order := slices.DeleteFunc(c.placed(a, 5), func(i int) bool { return i == 0 })
		return order[0] == 1
	})
	if k < 0 {
		t.Fatal("no object has node 1 as its first candidate")
	}
	if r, ok := c.request(0, Delete{Addr: addrs[k]}, time.Minute).(DeleteResult); !ok || r.Err != nil {
		t.Fatalf("delete on n0: %+v", r)
	}
	if len(st.trailing) == 0 || trailingRequests(st) == 0 {
		t.Fatalf("no put trails any more (%d, %d requests): the get would not compete with them", len(st.trailing), trailingRequests(st))
	}
	if got := c.get(0, addrs[k], 0, 0); got.Err != nil || !bytes.Equal(got.Data, datas[k]) {
		t.Fatalf("get on n0 from n1: %v", got.Err)
	}
	if got := c.metric(0, MetricRejects, ReasonOverload); got != 0 {
		t.Fatalf("%s{%s} = %v after the get, want 0", MetricRejects, ReasonOverload, got)
	}
}

// trailingRequests counts the requests the trailing puts' pushes have
// outstanding, from the pushes themselves.
func trailingRequests(st *Storage) int {
	n := 0
	for _, p := range st.trailing {
		for _, pu := range p.pushes {
			n += len(pu.calls)
		}
	}
	return n
}
