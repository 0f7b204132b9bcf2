package storage

import (
	"errors"
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto"
)

// TestOnlyCopyDamagedUnmarkedNotNotFound: the only copy of a chunk fails
// its check while DamagedChunksMax chunks are already marked (so it is
// not marked), and no other source has it: the get fails as corruption
// (retryable), not ErrNotFound: this node holds the object, its copy
// failed. The old code asked damagedAt, which the unmarked chunk misses.
func TestOnlyCopyDamagedUnmarkedNotNotFound(t *testing.T) {
	cfg := Config{ChunkBytes: ChunkBytesMin, RepairInterval: time.Hour, RepairOff: true}
	c := newCluster(t, 5, 4, cfg)
	data := randomData(11, 4*ChunkBytesMin)
	addr := onlyCopy(t, c, data)
	victim, chunk, _ := c.rotChunk(addr, data, 2, 100, 0x40)
	st := c.nodes[victim].st
	for i := 0; len(st.damaged) < DamagedChunksMax; i++ {
		st.damaged[proto.AddrOf([]byte{byte(i), byte(i >> 8), 0xfe})] = damage{}
	}
	got := c.get(victim, addr, 0, 0)
	if _, ok := st.damaged[chunk]; ok {
		t.Fatal("the chunk was marked although the damaged set is full")
	}
	if got.Err == nil || errors.Is(got.Err, ErrNotFound) || !errors.Is(got.Err, ErrCorruption) {
		t.Fatalf("get of the only copy, unmarked damage: %v; want ErrCorruption, not ErrNotFound", got.Err)
	}
}

// TestSideCheckLastChunkNotFound: a range short of the last chunk, read
// from a fetched (verified) manifest, whose last chunk every holder says
// it does not hold, fails as unavailable, never ErrNotFound: the
// manifest proves the object exists (as checkEnd answers).
func TestSideCheckLastChunkNotFound(t *testing.T) {
	c, _, res := stored3Chunks(t, 89)
	placed := c.placed(res.Addr, 3)
	honest := c.nodes[placed[0]].st.index.committed(res.Addr).manifest
	last := honest.Chunks[len(honest.Chunks)-1].Addr
	reader := c.notPlaced(res.Addr, 3)[0]
	var rw rewrites
	c.c.Drop = func(src, dst int, frame []byte) bool {
		h, m, err := decodeFrame(frame)
		if dst != reader || err != nil || m.kind != kindReply || m.addr != last {
			return false
		}
		rw.add(src, h.CorrID, &message{kind: kindReply, addr: last, status: statusNotFound})
		return true
	}
	c.applyNet()
	reply := c.requestRewritten(reader, Get{Addr: res.Addr, Offset: 10, Length: 100}, &rw)
	c.c.Drop = nil
	c.c.RunFor(0)
	got, ok := reply.(GetResult)
	if !ok || got.Err == nil {
		t.Fatalf("range with the last chunk found nowhere: %v, %d bytes; want an error", got.Err, len(got.Data))
	}
	if errors.Is(got.Err, ErrNotFound) || !errors.Is(got.Err, ErrUnavailable) {
		t.Fatalf("range with the last chunk found nowhere: %v; want ErrUnavailable, not ErrNotFound", got.Err)
	}
}
