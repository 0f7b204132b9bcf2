package storage

import (
	"slices"
	"testing"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// The red team's flood: one member pushed ~4,200 16-byte chunks (at
// offset 0, keyed by their own address) it never committed. The staged
// table (StagedChunksMax) was shared by every sender with no per-sender
// bound, so the flood filled it and every other member's push was
// refused "busy" until StagedTTL pruned it: one member blocked all
// writes. A sender over its share (StagedSenderChunksMax chunks,
// StagedSenderBytesMax bytes) is now refused as sender_share once the
// table's free room is down to StagedReserveChunks, and the other
// senders still stage in that reserve.

var (
	flooder = proto.NodeID{0xf1}
	honest  = proto.NodeID{0xf2}
)

func withPeers(cfg Config, peers ...proto.NodeID) Config {
	cfg.Members = append(slices.Clone(cfg.Members), peers...)
	return cfg
}

// flood sends n distinct 16-byte chunks from flooder to h, stepping the
// cluster so their writes complete, and returns the replies by status.
func flood(c *cluster, h *hnode, seed uint64, n int) map[status]int {
	got := map[status]int{}
	c.c.Sent = func(src int, dst proto.NodeID, frame []byte) {
		if _, r, err := decodeFrame(frame); err == nil && dst == flooder && r.kind == kindReply {
			got[r.status]++
		}
	}
	for i := range n {
		b := randomData(seed<<32|uint64(i), 16)
		c.handle(h, env.Message{From: flooder, Frame: encodeFrame(uint64(i+1), &message{kind: kindStoreChunk, addr: proto.AddrOf(b), data: b})})
		if i%128 == 127 {
			c.step()
		}
	}
	c.step()
	c.c.Sent = nil
	return got
}

func TestStagedShareBoundsOneSender(t *testing.T) {
	c := newCluster(t, 1, 61, withPeers(smallChunks, flooder, honest))
	h := c.nodes[0]
	got := flood(c, h, 61, StagedChunksMax+100)
	room := StagedChunksMax - StagedReserveChunks // the flooder's, alone
	if got[statusOK] != room || got[statusBusy] != StagedChunksMax+100-room {
		t.Fatalf("flood replies %v, want %d OK and the rest busy", got, room)
	}
	if n := c.metric(0, MetricRejects, ReasonSenderShare); n != float64(StagedChunksMax+100-room) {
		t.Fatalf("sender_share rejects %v, want %d", n, StagedChunksMax+100-room)
	}
	if n := len(h.st.index.staged); n != room {
		t.Fatalf("%d chunks staged, want the table less the reserve %d", n, room)
	}
	// Another member's push still stages.
	var reply status = 255
	c.c.Sent = func(src int, dst proto.NodeID, frame []byte) {
		if _, r, err := decodeFrame(frame); err == nil && dst == honest && r.kind == kindReply {
			reply = r.status
		}
	}
	b := randomData(62, 3000)
	c.handle(h, env.Message{From: honest, Frame: encodeFrame(1, &message{kind: kindStoreChunk, addr: proto.AddrOf(b), data: b})})
	c.step()
	if reply != statusOK {
		t.Fatalf("another member's push answered %d during the flood, want statusOK", reply)
	}
	if st, ok := h.st.index.staged[proto.AddrOf(b)]; !ok || st.from != honest {
		t.Fatalf("another member's chunk not staged under it (%v, %v)", ok, st.from)
	}
	// Pruned after StagedTTL, the flooder's share is free again.
	c.c.RunFor(StagedTTLDefault + 2*RepairIntervalDefault)
	if n := len(h.st.index.shares); n != 0 {
		t.Fatalf("%d senders still hold a share after StagedTTL", n)
	}
	if got := flood(c, h, 63, 1); got[statusOK] != 1 {
		t.Fatalf("flooder refused after its chunks were pruned: %v", got)
	}
}

// A flood on two of three placement nodes no longer fails an honest put.
func TestStagedFloodLeavesPutsAlone(t *testing.T) {
	c := newCluster(t, 3, 64, withPeers(smallChunks, flooder))
	for i := 1; i <= 2; i++ {
		flood(c, c.nodes[i], uint64(64+i), StagedChunksMax)
	}
	data := randomData(66, 20*ChunkBytesMin)
	if r := c.put(0, data, false); r.Err != nil || r.Replicas < 2 {
		t.Fatalf("put during the flood: %v (%d replicas)", r.Err, r.Replicas)
	}
}

// The byte share: a sender's staged bytes and writes in flight stay
// within StagedSenderBytesMax, and a chunk it restages is not counted
// twice.
func TestStagedShareBytes(t *testing.T) {
	x := newIndex()
	n := 0
	for ; x.stagedShareRoom(flooder, proto.Addr{0xb0, byte(n >> 8), byte(n)}, ChunkBytesMax); n++ {
		x.stage(proto.Addr{0xb0, byte(n >> 8), byte(n)}, stagedChunk{size: ChunkBytesMax, from: flooder})
	}
	if want := StagedSenderBytesMax / ChunkBytesMax; n != want {
		t.Fatalf("%d chunks of %d bytes admitted, want %d", n, ChunkBytesMax, want)
	}
	if !x.stagedShareRoom(flooder, proto.Addr{0xb0, 0, 0}, ChunkBytesMax) {
		t.Fatal("restaging a chunk the sender staged counted it twice")
	}
	if !x.stagedShareRoom(honest, proto.Addr{0xb1}, ChunkBytesMax) {
		t.Fatal("another sender refused")
	}
	x.storingFor(proto.Addr{0xb2}, honest, ChunkBytesMax)
	x.stored(proto.Addr{0xb2}, honest, ChunkBytesMax)
	for i := range n {
		x.unstage(proto.Addr{0xb0, byte(i >> 8), byte(i)})
	}
	if len(x.shares) != 0 || len(x.storing) != 0 {
		t.Fatalf("shares %v left after every chunk was unstaged", x.shares)
	}
}

// The red team's read flood: one member asked for a large chunk 400,000
// times, and every read held the chunk's bytes until answered (bounded
// only by DiskJobsMax), driving the holder's memory from 114 MB to
// 877 MB. One sender's reads in flight are now bounded
// (FetchReadsPerSenderMax); beyond, it is answered busy as fetch_share,
// while another sender's fetch is still read.
func TestFetchReadsBoundedPerSender(t *testing.T) {
	c := newCluster(t, 1, 67, withPeers(smallChunks, flooder, honest))
	h := c.nodes[0]
	b := randomData(68, ChunkBytesMin) // staged by a push: held, at offset 0
	ch := proto.AddrOf(b)
	c.handle(h, env.Message{From: honest, Frame: encodeFrame(1, &message{kind: kindStoreChunk, addr: ch, data: b})})
	c.step()
	if !h.st.index.hasChunk(ch) {
		t.Fatal("chunk not staged")
	}
	got := map[proto.NodeID]map[status]int{flooder: {}, honest: {}}
	c.c.Sent = func(src int, dst proto.NodeID, frame []byte) {
		if _, r, err := decodeFrame(frame); err == nil && got[dst] != nil && r.kind == kindReply {
			got[dst][r.status]++
		}
	}
	n := FetchReadsPerSenderMax + 50
	for i := range n { // all before any read completes
		c.handle(h, env.Message{From: flooder, Frame: encodeFrame(uint64(i+1), &message{kind: kindFetchChunk, addr: ch})})
	}
	c.handle(h, env.Message{From: honest, Frame: encodeFrame(2, &message{kind: kindFetchChunk, addr: ch})})
	c.step()
	if got[flooder][statusOK] != FetchReadsPerSenderMax || got[flooder][statusBusy] != 50 {
		t.Fatalf("flooder's fetches answered %v, want %d OK and 50 busy", got[flooder], FetchReadsPerSenderMax)
	}
	if got[honest][statusOK] != 1 {
		t.Fatalf("another member's fetch answered %v, want OK", got[honest])
	}
	if n := c.metric(0, MetricRejects, ReasonFetchShare); n != 50 {
		t.Fatalf("fetch_share rejects %v, want 50", n)
	}
	if len(h.st.fetchReads) != 0 {
		t.Fatalf("reads in flight left counted: %v", h.st.fetchReads)
	}
}

// An RPC resends a FetchChunk (same corr id) up to RPCAttemptsMax times
// when the holder's disk is slow: the resends of a request being read
// are not counted against the sender's reads, so an honest node at its
// bound is not refused as fetch_share, and each request gets one reply.
func TestFetchResendsNotCounted(t *testing.T) {
	c := newCluster(t, 1, 69, withPeers(smallChunks, honest))
	h := c.nodes[0]
	b := randomData(70, ChunkBytesMin)
	ch := proto.AddrOf(b)
	c.handle(h, env.Message{From: honest, Frame: encodeFrame(1, &message{kind: kindStoreChunk, addr: ch, data: b})})
	c.step()
	got := map[status]int{}
	c.c.Sent = func(src int, dst proto.NodeID, frame []byte) {
		if _, r, err := decodeFrame(frame); err == nil && dst == honest && r.kind == kindReply {
			got[r.status]++
		}
	}
	for range RPCAttemptsMax { // all before any read completes
		for i := range FetchReadsPerSenderMax {
			c.handle(h, env.Message{From: honest, Frame: encodeFrame(uint64(i+10), &message{kind: kindFetchChunk, addr: ch})})
		}
	}
	c.step()
	if got[statusOK] != FetchReadsPerSenderMax || len(got) != 1 {
		t.Fatalf("fetches answered %v, want %d OK only", got, FetchReadsPerSenderMax)
	}
	if n := c.metric(0, MetricRejects, ReasonFetchShare); n != 0 {
		t.Fatalf("fetch_share rejects %v, want 0", n)
	}
	if len(h.st.fetchReads) != 0 || len(h.st.fetching) != 0 {
		t.Fatalf("reads in flight left counted: %v %v", h.st.fetchReads, h.st.fetching)
	}
}
