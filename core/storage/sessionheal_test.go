package storage

import (
	"bytes"
	"testing"

	"github.com/ron-network/ron/core/env"
)

// TestSessionHealLeavesTheWriteItsSlot: a PutChunk that would both heal the
// damaged first chunk (healWith's own job) and write a new chunk had only
// one free disk-job slot checked: the write's submitJob was refused and
// onPutChunk panicked (a reviewer's case). The heal now leaves the slot.
func TestSessionHealLeavesTheWriteItsSlot(t *testing.T) {
	c := newCluster(t, 5, 4, noRepair)
	data, _, victim, chunk, _, _ := c.damagedObject(0)
	other := bytes.Clone(data[:2*ChunkBytesMin])
	copy(other[ChunkBytesMin:], randomData(12, ChunkBytesMin)) // chunk 1 is new
	s := c.begin(victim, false)
	if r := c.chunk(victim, s, other[:ChunkBytesMin]); r.Err != nil {
		t.Fatal(r.Err)
	}
	st := c.nodes[victim].st
	for id := uint64(tagValueMask); len(st.jobs) < DiskJobsMax-1; id-- {
		st.jobs[id] = &diskJob{want: 1, done: func([]env.DiskResult) {}}
	}
	if r := c.chunk(victim, s, other[ChunkBytesMin:]); r.Err != nil {
		t.Fatalf("second chunk with one disk job slot free: %v; want its write queued", r.Err)
	}
	if !st.damagedAt(chunk, 0) {
		t.Fatalf("the heal took the write's slot: chunk %s no longer marked", chunk.Short())
	}
}
