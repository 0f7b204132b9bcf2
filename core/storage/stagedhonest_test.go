package storage

import (
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// The per-sender share broke honest writes: a push stages every chunk of
// an object on the target until its commit, all counted against the
// pushing node, so one streamed object of more than StagedSenderChunksMax
// chunks, or a few large puts at once from one node, were refused busy
// on every replica. The share now applies only under pressure (the
// table's free room below StagedReserveChunks; doc.go, "Staged shares").

// A lone stream of more than a sender's share, and at least the old
// ceiling (4096 chunks: 1 GiB at ChunkBytesDefault), is stored at R.
func TestStagedLoneStreamOverShare(t *testing.T) {
	c := newCluster(t, 3, 71, smallChunks)
	n := max(StagedSenderChunksMax+100, 4096)
	data := randomData(71, n*ChunkBytesMin)
	addr, _ := Split(data, ChunkBytesMin)
	s := c.begin(0, false)
	c.stream(0, s, data, ChunkBytesMin)
	if res := c.commit(0, s, addr, uint64(len(data))); res.Err != nil || res.Replicas < 2 {
		t.Fatalf("commit of %d chunks: %+v", n, res)
	}
	c.awaitDurable(addr)
	if r := c.metric(1, MetricRejects, ReasonSenderShare) + c.metric(2, MetricRejects, ReasonSenderShare); r != 0 {
		t.Fatalf("%v sender_share rejects", r)
	}
}

// Five puts of 256 chunks at once from one node (more than a quarter of
// the old table between them) all succeed.
func TestStagedConcurrentPutsOneSender(t *testing.T) {
	c := newCluster(t, 3, 72, smallChunks)
	var ids []env.RequestID
	for i := range 5 {
		data := randomData(720+uint64(i), 256*ChunkBytesMin)
		ids = append(ids, c.c.Request(0, ServiceName, Put{Data: data}))
	}
	for i, id := range ids {
		resp, _ := c.c.Await(0, id, time.Minute)
		r, ok := resp.(PutResult)
		if !ok || r.Err != nil || r.Replicas < 2 {
			t.Fatalf("put %d: %+v", i, resp)
		}
		c.awaitDurable(r.Addr)
	}
}

// awaitDurable waits (a minute of env time at most) for every node to
// hold addr durably.
func (c *cluster) awaitDurable(addr proto.Addr) {
	c.t.Helper()
	all := func() bool {
		for i := range c.nodes {
			if !c.durableCopy(i, addr) {
				return false
			}
		}
		return true
	}
	if !c.c.RunUntil(time.Minute, all) {
		c.t.Fatalf("%v not durable on every node", addr)
	}
}
