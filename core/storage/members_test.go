package storage

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

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

// TestSetMembers: a SetMembers request replaces a running machine's
// membership. A stranger refused before is served after it is listed;
// a node dropped from the list is refused at once and no longer placed
// on (a put through the cluster leaves it out), while its own copies of
// earlier objects stay where they are. The old code had no SetMembers:
// the membership was fixed at New.
func TestSetMembers(t *testing.T) {
	c := newCluster(t, 4, 76, smallChunks)
	held := randomData(77, 2*ChunkBytesMin+5)
	res := c.put(0, held, false)
	if res.Err != nil {
		t.Fatalf("put: %v", res.Err)
	}
	holder := c.placed(res.Addr, 3)[0]
	var corr uint64 = 0x7000
	fetch := func(from proto.NodeID, to int) message {
		corr++
		return c.askAs(from, to, corr, &message{kind: kindFetchManifest, addr: res.Addr})
	}
	set := func(i int, ids []proto.NodeID) {
		t.Helper()
		if r, ok := c.request(i, SetMembers{Members: ids}, time.Second).(SetMembers); !ok || !slices.Equal(r.Members, ids) {
			t.Fatalf("node %d: SetMembers answered %#v", i, r)
		}
	}
	ids := func(except int) []proto.NodeID {
		var out []proto.NodeID
		for i, n := range c.nodes {
			if i != except {
				out = append(out, n.id)
			}
		}
		return out
	}

	stranger := proto.NodeID{0x5e, 0x2f}
	if r := fetch(stranger, holder); r.status != statusBad {
		t.Fatalf("a stranger's fetch before it is listed: status %d, want statusBad", r.status)
	}
	set(holder, append(ids(-1), stranger))
	if r := fetch(stranger, holder); r.status != statusOK || len(r.data) == 0 {
		t.Fatalf("the stranger's fetch once listed: status %d with %d bytes, want the manifest", r.status, len(r.data))
	}

	// Drop a node the next object would be placed on (neither the node
	// the put goes through nor the holder) from every node's list.
	data := randomData(78, ChunkBytesMin+7)
	addr, _ := Split(data, ChunkBytesMin)
	dropped := -1
	for _, i := range c.placed(addr, 3) {
		if i != 0 && i != holder {
			dropped = i
			break
		}
	}
	heldBefore := c.nodes[dropped].st.HasLocal(res.Addr)
	for i := range c.nodes {
		set(i, ids(dropped))
	}
	if r := fetch(c.nodes[dropped].id, holder); r.status != statusBad {
		t.Fatalf("a dropped member's fetch: status %d, want statusBad", r.status)
	}
	if r := c.put(0, data, false); r.Err != nil || r.Addr != addr {
		t.Fatalf("put after the drop: %v (%s, want %s)", r.Err, r.Addr, addr)
	}
	c.advance(2 * time.Second) // repair rounds: none may restore a copy on the dropped node
	for i := range c.nodes {
		if has := c.nodes[i].st.HasLocal(addr); has != (i != dropped) {
			t.Fatalf("node %d holds the object put after the drop: %v (dropped: node %d)", i, has, dropped)
		}
	}
	if heldBefore && !c.nodes[dropped].st.HasLocal(res.Addr) {
		t.Fatal("the dropped node's copy of an earlier object is gone")
	}
}

// TestSetMembersReplicas: a SetMembers request with Replicas and
// WriteQuorum replaces R and W of a running machine: an object put at
// R=1 has one copy, one put after R=3 is placed on three nodes and held
// by all of them. A W outside 1..R is refused and changes nothing; zero
// keeps the running values. The old code kept R and W as configured
// (a lone node closed by rond's reload kept placing one copy).
func TestSetMembersReplicas(t *testing.T) {
	cfg := smallChunks
	cfg.Replicas, cfg.WriteQuorum = 1, 1
	c := newCluster(t, 4, 79, cfg)
	ids := make([]proto.NodeID, len(c.nodes))
	for i, n := range c.nodes {
		ids[i] = n.id
	}
	one := randomData(80, ChunkBytesMin+3)
	if r := c.put(0, one, false); r.Err != nil {
		t.Fatalf("put at R=1: %v", r.Err)
	}
	holders := func(addr proto.Addr) int {
		n := 0
		for _, h := range c.nodes {
			if h.st.HasLocal(addr) {
				n++
			}
		}
		return n
	}
	addr1, _ := Split(one, ChunkBytesMin)
	if n := holders(addr1); n != 1 {
		t.Fatalf("object put at R=1 held by %d nodes, want 1", n)
	}
	if r, ok := c.request(0, SetMembers{Members: ids, Replicas: 2, WriteQuorum: 3}, time.Second).(error); !ok || !errors.Is(r, ErrBadRequest) {
		t.Fatalf("SetMembers with W > R answered %#v, want ErrBadRequest", r)
	}
	if got := c.nodes[0].st.cfg; got.Replicas != 1 || got.WriteQuorum != 1 {
		t.Fatalf("a refused SetMembers left R=%d W=%d, want 1 and 1", got.Replicas, got.WriteQuorum)
	}
	for i := range c.nodes {
		if r, ok := c.request(i, SetMembers{Members: ids, Replicas: 3, WriteQuorum: 2}, time.Second).(SetMembers); !ok || r.Replicas != 3 {
			t.Fatalf("node %d: SetMembers answered %#v", i, r)
		}
	}
	three := randomData(81, ChunkBytesMin+5)
	r := c.put(0, three, false)
	if r.Err != nil {
		t.Fatalf("put at R=3: %v", r.Err)
	}
	c.advance(2 * time.Second) // the third copy may follow the W=2 acknowledgement
	for _, i := range c.placed(r.Addr, 3) {
		if !c.nodes[i].st.HasLocal(r.Addr) {
			t.Fatalf("node %d, on the R=3 placement, holds no copy (%d holders)", i, holders(r.Addr))
		}
	}
	if r, ok := c.request(1, SetMembers{Members: ids}, time.Second).(SetMembers); !ok || c.nodes[1].st.cfg.Replicas != 3 || c.nodes[1].st.cfg.WriteQuorum != 2 {
		t.Fatalf("SetMembers without R and W answered %#v, left R=%d W=%d, want 3 and 2", r, c.nodes[1].st.cfg.Replicas, c.nodes[1].st.cfg.WriteQuorum)
	}
}
