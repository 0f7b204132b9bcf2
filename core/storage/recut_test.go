package storage

import (
	"bytes"
	"testing"
	"time"
)

// TestGetReadsAnotherHoldersCut: two holders of one object may cut it
// into different chunks (a session's chunks are its pieces, a put's are
// ChunkBytes), so a chunk of one holder's manifest is keyed where no
// other holder has it, and when that holder's copy rots no source serves
// the chunk under its key. A get through that manifest failed with
// ErrCorruption although the other placement nodes hold the object
// whole (ronsim content_sessions.yaml, seed 18 --swarm with the random
// stream perturbed: the durability check's final reads, via the victim
// and via a node that fetched the victim's manifest, all failed). The
// get now drops that manifest and reads the next holder's cut.
func TestGetReadsAnotherHoldersCut(t *testing.T) {
	cfg := noRepair
	cfg.RepairInterval = 5 * time.Second // the tick prunes the staged chunks
	c := newCluster(t, 4, 7, cfg)
	data := randomData(21, 4*ChunkBytesMin)
	addr, split := Split(data, ChunkBytesMin)
	placed := c.placed(addr, 3)
	victim, via := placed[0], placed[1]

	// The put reaches the two other placement nodes (W=2), cut in
	// ChunkBytes; the victim, cut off, then commits it from a session
	// streamed in pieces of two chunks.
	c.cut[c.nodes[victim].id] = true
	if r := c.put(via, data, false); r.Err != nil {
		t.Fatalf("put: %v", r.Err)
	}
	c.cut[c.nodes[victim].id] = false
	s := c.begin(victim, false)
	c.stream(victim, s, data, 2*ChunkBytesMin)
	if r := c.commit(victim, s, addr, uint64(len(data))); r.Err != nil {
		t.Fatalf("commit: %v", r.Err)
	}
	own := c.nodes[victim].st.index.committed(addr)
	if own == nil || len(own.manifest.Chunks) != 2 {
		t.Fatalf("the victim's manifest: %+v, want the session's two chunks", own)
	}
	for _, i := range placed[1:] {
		if o := c.nodes[i].st.index.committed(addr); o == nil || len(o.manifest.Chunks) != len(split.Chunks) {
			t.Fatalf("node %d's manifest: %+v, want the put's %d chunks", i, o, len(split.Chunks))
		}
	}

	// The commit's pushes staged the session's chunks on the other
	// holders; once StagedTTL pruned them, no other node has the
	// victim's first chunk under its key.
	c.advance(2 * StagedTTLDefault)
	for _, i := range placed[1:] {
		if c.nodes[i].st.index.hasChunk(own.manifest.Chunks[0].Addr) {
			t.Fatalf("node %d still holds the session's chunk %s", i, own.manifest.Chunks[0].Addr.Short())
		}
	}
	// The victim's first chunk rots.
	key := string(diskKey(prefixChunk, own.manifest.Chunks[0].Addr))
	bad := bytes.Clone(c.nodes[victim].disk.State()[key])
	bad[100] ^= 0x40
	c.nodes[victim].disk.Plant(key, bad)

	// Through the victim's own manifest, then through a node outside the
	// placement that asks the victim (the nearest placement node) first.
	for _, reader := range []int{victim, c.notPlaced(addr, 3)[0]} {
		got := c.get(reader, addr, 0, 0)
		if got.Err != nil || !bytes.Equal(got.Data, data) {
			t.Fatalf("get via node %d (victim %d): err %v, %d bytes; want the object, read through the other holders' cut", reader, victim, got.Err, len(got.Data))
		}
		part := c.get(reader, addr, uint64(ChunkBytesMin), uint64(ChunkBytesMin))
		if part.Err != nil || !bytes.Equal(part.Data, data[ChunkBytesMin:2*ChunkBytesMin]) {
			t.Fatalf("range get via node %d: err %v, %d bytes", reader, part.Err, len(part.Data))
		}
	}
}
