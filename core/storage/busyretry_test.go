package storage

import (
	"bytes"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// TestGatewayGetsPacedToHolders: a node that holds nothing of two
// multi-chunk objects serves 32 concurrent gets of them (a heavy
// gateway). Every get succeeds, no holder answers busy, and this node
// never has more than ServesPerPeerMax fetches in flight to one holder
// (counted on the wire: FetchChunk requests sent, their replies not yet
// back). The old code sent each get's whole window at once: some 128
// fetches to the objects' first holders, all past ServesPerPeerMax
// answered busy, taken as silence, and with every holder busy the gets
// failed ErrUnavailable.
func TestGatewayGetsPacedToHolders(t *testing.T) {
	const cb = 64 << 10
	c := newClusterDisk(t, 6, 81, groupChunks, 2*time.Millisecond)
	var addrs []proto.Addr
	var datas [][]byte
	for k := range 2 {
		data := randomData(uint64(810+k), 8*cb+1000)
		res := c.put(0, data, false)
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		addrs, datas = append(addrs, res.Addr), append(datas, data)
	}
	c.advance(time.Second)
	gw := -1
	for i := range c.nodes {
		if !c.nodes[i].st.HasLocal(addrs[0]) && !c.nodes[i].st.HasLocal(addrs[1]) {
			gw = i
			break
		}
	}
	if gw < 0 {
		t.Fatal("no node holds neither object")
	}
	gwID := c.nodes[gw].id
	inflight := map[proto.NodeID]map[uint64]bool{}
	most := 0
	prev := c.c.Sent
	c.c.Sent = func(src int, dst proto.NodeID, frame []byte) {
		h, m, err := decodeFrame(frame)
		if err != nil {
			return
		}
		switch {
		case src == gw && m.kind == kindFetchChunk:
			if inflight[dst] == nil {
				inflight[dst] = map[uint64]bool{}
			}
			inflight[dst][h.CorrID] = true
			most = max(most, len(inflight[dst]))
		case dst == gwID && m.kind == kindReply:
			delete(inflight[c.nodes[src].id], h.CorrID)
		}
	}
	defer func() { c.c.Sent = prev }()
	busy := 0.0
	for i := range c.nodes {
		busy += c.metric(i, MetricRejects, ReasonPeerBusy)
	}
	const gets = 32
	ids := make([]env.RequestID, gets)
	for k := range ids {
		ids[k] = c.c.Request(gw, ServiceName, Get{Addr: addrs[k%2]})
	}
	for k, id := range ids {
		resp, ok := c.c.Await(gw, id, time.Minute)
		r, isGet := resp.(GetResult)
		if !ok || !isGet {
			t.Fatalf("get %d: no GetResult", k)
		}
		if r.Err != nil {
			t.Fatalf("get %d of %d concurrent on a non-holder: %v", k, gets, r.Err)
		}
		if got := r.Data; !bytes.Equal(got, datas[k%2]) {
			t.Fatalf("get %d: wrong bytes", k)
		}
	}
	if most > ServesPerPeerMax {
		t.Fatalf("%d fetches in flight to one holder; want at most ServesPerPeerMax %d", most, ServesPerPeerMax)
	}
	if most < ServesPerPeerMax {
		t.Fatalf("at most %d fetches in flight to one holder: the load did not reach the bound (%d), the test proves nothing", most, ServesPerPeerMax)
	}
	got := -busy
	for i := range c.nodes {
		got += c.metric(i, MetricRejects, ReasonPeerBusy)
	}
	if got != 0 {
		t.Fatalf("holders answered %v fetches busy (%s{reason=%q}); want none", got, MetricRejects, ReasonPeerBusy)
	}
	if n, w := len(c.nodes[gw].st.fetching), len(c.nodes[gw].st.fetchWait); n != 0 || w != 0 {
		t.Fatalf("after the gets: fetches in flight to %d holders, waiting for %d", n, w)
	}
}

// TestFetchAsksBusyHoldersAgain: every holder of an object is busy with
// this node's reads (ServesPerPeerMax of them in flight on each, as a
// node of an older build, or a request resent after a timeout, can
// leave them), so each answers the get's fetches busy. The get waits and
// asks again, and succeeds once those reads complete. The old code took
// busy as silence and failed the get ErrUnavailable at once.
func TestFetchAsksBusyHoldersAgain(t *testing.T) {
	const cb = 64 << 10
	c := newClusterDisk(t, 5, 91, groupChunks, 30*time.Millisecond)
	data := randomData(910, 3*cb+500)
	res := c.put(0, data, false)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	c.advance(time.Second)
	gw := c.notPlaced(res.Addr, 3)[0]
	ch := c.nodes[c.placed(res.Addr, 3)[0]].st.index.committed(res.Addr).manifest.Chunks[0]
	busy := 0.0
	for _, h := range c.placed(res.Addr, 3) {
		busy += c.metric(h, MetricRejects, ReasonPeerBusy)
		for i := range uint64(ServesPerPeerMax) {
			// Handed to the holder directly: its reads stay in flight
			// for the disk's 30 ms; their replies are no call's here.
			c.c.Members[h].Node.Step(env.Message{From: c.nodes[gw].id, Frame: encodeFrame(0x7b00+i, &message{kind: kindFetchChunk, addr: ch.Addr, offset: 0})})
		}
		if n := c.nodes[h].st.serving[c.nodes[gw].id]; n != ServesPerPeerMax {
			t.Fatalf("holder %d: %d serves in flight for the gateway; want %d", h, n, ServesPerPeerMax)
		}
	}
	r := c.get(gw, res.Addr, 0, 0)
	if r.Err != nil {
		t.Fatalf("get with every holder busy for a while: %v", r.Err)
	}
	if got := r.Data; !bytes.Equal(got, data) {
		t.Fatal("wrong bytes")
	}
	got := -busy
	for _, h := range c.placed(res.Addr, 3) {
		got += c.metric(h, MetricRejects, ReasonPeerBusy)
	}
	if got == 0 {
		t.Fatal("no holder answered busy: the test proves nothing")
	}
}

// TestPacedFetchesPassASilentHolder: the gateway's 32 concurrent gets
// find the objects' first holder down. Its fetches in flight there time
// out after their attempts, and the fetches waiting for that holder's
// slots are then taken as unanswered too, at once, and ask the next
// holder: every get succeeds within its deadline, as with the old code
// (which sent every fetch at once). Were they sent in turns of
// ServesPerPeerMax, each turn waiting out the attempts' backoff (some
// 3.75 s), the gets would pass their 10 s deadline.
func TestPacedFetchesPassASilentHolder(t *testing.T) {
	const cb = 64 << 10
	c := newClusterDisk(t, 6, 83, groupChunks, 2*time.Millisecond)
	data := randomData(830, 3*cb+1000) // 4 chunks: one get window
	res := c.put(0, data, false)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	c.advance(time.Second)
	gw := c.notPlaced(res.Addr, 3)[0]
	for _, h := range c.placed(res.Addr, 3) {
		// Cut the first placement node that is not the put's
		// coordinator: the gets ask it first.
		if h != 0 {
			c.cut[c.nodes[h].id] = true
			break
		}
	}
	const gets = 32
	ids := make([]env.RequestID, gets)
	for k := range ids {
		ids[k] = c.c.Request(gw, ServiceName, Get{Addr: res.Addr})
	}
	for k, id := range ids {
		resp, ok := c.c.Await(gw, id, time.Minute)
		r, isGet := resp.(GetResult)
		if !ok || !isGet {
			t.Fatalf("get %d: no GetResult", k)
		}
		if r.Err != nil || !bytes.Equal(r.Data, data) {
			t.Fatalf("get %d of %d concurrent, one holder down: err %v, %d bytes", k, gets, r.Err, len(r.Data))
		}
	}
}
