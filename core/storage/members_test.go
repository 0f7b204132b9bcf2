package storage

import (
	"maps"
	"testing"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// askAs hands node to the request m (corr) from the node id from, which
// need not be a member of the cluster, runs the cluster until nothing is
// due and returns to's reply to from.
func (c *cluster) askAs(from proto.NodeID, to int, corr uint64, m *message) message {
	c.t.Helper()
	var reply *message
	prev := c.c.Sent
	c.c.Sent = func(src int, dst proto.NodeID, frame []byte) {
		if src != to || dst != from {
			return
		}
		if h, r, err := decodeFrame(frame); err == nil && h.CorrID == corr && r.kind == kindReply {
			reply = &r
		}
	}
	defer func() { c.c.Sent = prev }()
	c.c.Members[to].Node.Step(env.Message{From: from, Frame: encodeFrame(corr, m)})
	c.step()
	if reply == nil {
		c.t.Fatalf("node %d did not answer a request of kind %d from %s", to, m.kind, from.Short())
	}
	return *reply
}

// TestNonMemberRefused: with Config.Members set, a node outside it can
// neither push a chunk, commit an object, check one nor read a manifest
// or a chunk: each request is answered statusBad, counted as
// storage_rejects_total{reason="not_member"}, and the node's disk is
// untouched. The same pushes and commit from a member store the object,
// and the member reads it back. The old code served every sender.
func TestNonMemberRefused(t *testing.T) {
	c := newCluster(t, 3, 71, smallChunks)
	held := randomData(72, 3*ChunkBytesMin+100)
	res := c.put(0, held, false)
	if res.Err != nil {
		t.Fatalf("put: %v", res.Err)
	}
	holder := c.placed(res.Addr, 1)[0]

	stranger := proto.NodeID{0x5e, 0x1f}
	data := randomData(73, 2*ChunkBytesMin+10)
	addr, man := Split(data, ChunkBytesMin)
	before := maps.Clone(c.nodes[holder].disk.State())
	var corr uint64 = 0x5000
	ask := func(from proto.NodeID, m *message) message {
		corr++
		return c.askAs(from, holder, corr, m)
	}
	heldMan := c.nodes[holder].st.index.committed(res.Addr).manifest
	requests := []*message{
		{kind: kindStoreChunk, addr: man.Chunks[0].Addr, offset: 0, data: data[:ChunkBytesMin]},
		{kind: kindCommit, addr: addr, data: AppendManifest(nil, &man)},
		{kind: kindCheck, addr: res.Addr},
		{kind: kindFetchManifest, addr: res.Addr},
		{kind: kindFetchChunk, addr: heldMan.Chunks[0].Addr, offset: 0},
	}
	for _, m := range requests {
		r := ask(stranger, m)
		if r.status != statusBad || len(r.data) != 0 {
			t.Fatalf("non-member's request of kind %d: status %d with %d bytes, want statusBad and none", m.kind, r.status, len(r.data))
		}
	}
	if n := c.metric(holder, MetricRejects, ReasonNotMember); n != float64(len(requests)) {
		t.Fatalf("not_member rejects = %v, want %d", n, len(requests))
	}
	if after := c.nodes[holder].disk.State(); !maps.EqualFunc(before, after, func(a, b []byte) bool { return string(a) == string(b) }) {
		t.Fatal("a non-member's requests changed the disk")
	}
	if c.nodes[holder].st.HasLocal(addr) {
		t.Fatal("a non-member's commit holds an object")
	}

	// A member: the same requests are served.
	member := c.nodes[(holder+1)%3].id
	for i, ch := range man.Chunks {
		off := man.chunkOffset(i)
		if r := ask(member, &message{kind: kindStoreChunk, addr: ch.Addr, offset: off, data: data[off : off+uint64(ch.Size)]}); r.status != statusOK {
			t.Fatalf("member's push of chunk %d: status %d", i, r.status)
		}
	}
	if r := ask(member, &message{kind: kindCommit, addr: addr, data: AppendManifest(nil, &man)}); r.status != statusOK {
		t.Fatalf("member's commit: status %d", r.status)
	}
	if !c.nodes[holder].st.HasLocal(addr) {
		t.Fatal("a member's commit holds no object")
	}
	if r := ask(member, &message{kind: kindFetchManifest, addr: res.Addr}); r.status != statusOK || len(r.data) == 0 {
		t.Fatalf("member's manifest fetch: status %d with %d bytes", r.status, len(r.data))
	}
	if r := ask(member, &message{kind: kindFetchChunk, addr: heldMan.Chunks[0].Addr, offset: 0}); r.status != statusOK || len(r.data) == 0 {
		t.Fatalf("member's chunk fetch: status %d with %d bytes", r.status, len(r.data))
	}
	if n := c.metric(holder, MetricRejects, ReasonNotMember); n != float64(len(requests)) {
		t.Fatalf("not_member rejects = %v after the member's requests, want %d", n, len(requests))
	}
}

// TestHeldBytesMaxRefusesPushes: with Config.HeldBytesMax set, a
// member's StoreChunk that would take the bytes held past it is answered
// statusBusy, counted as storage_rejects_total{reason="full"}, and writes
// nothing; pushes within it are stored. The old code took every push.
func TestHeldBytesMaxRefusesPushes(t *testing.T) {
	cfg := smallChunks
	cfg.HeldBytesMax = 3 * ChunkBytesMin
	c := newCluster(t, 2, 74, cfg)
	data := randomData(75, 5*ChunkBytesMin)
	_, man := Split(data, ChunkBytesMin)
	var corr uint64 = 0x6000
	stored, refused := 0, 0
	for i, ch := range man.Chunks {
		off := man.chunkOffset(i)
		before := c.nodes[0].disk.chunkPuts
		corr++
		r := c.askAs(c.nodes[1].id, 0, corr, &message{kind: kindStoreChunk, addr: ch.Addr, offset: off, data: data[off : off+uint64(ch.Size)]})
		switch {
		case r.status == statusOK:
			stored++
		case r.status == statusBusy && c.nodes[0].disk.chunkPuts == before:
			refused++
		default:
			t.Fatalf("push of chunk %d: status %d (chunk writes %d -> %d)", i, r.status, before, c.nodes[0].disk.chunkPuts)
		}
	}
	if stored != 3 || refused != 2 {
		t.Fatalf("%d pushes stored, %d refused; want 3 and 2 (HeldBytesMax is 3 chunks)", stored, refused)
	}
	if n := c.metric(0, MetricRejects, ReasonFull); n != 2 {
		t.Fatalf("full rejects = %v, want 2", n)
	}
}
