package storage

import (
	"bytes"
	"testing"
	"time"
)

// A session upload of an object listing a held damaged chunk heals it: the
// session hashed the chunk's bytes at its offset, and the commit succeeds.
func TestSessionPutHealsDamagedChunk(t *testing.T) {
	c := newCluster(t, 5, 4, noRepair)
	data, addr, victim, _, key, off := c.damagedObject(2)
	good := data[off : off+ChunkBytesMin]
	s := c.begin(victim, false)
	c.stream(victim, s, data, ChunkBytesMin)
	r := c.commit(victim, s, addr, uint64(len(data)))
	if r.Err != nil {
		t.Fatalf("commit: %v", r.Err)
	}
	c.advance(time.Second)
	if !bytes.Equal(c.nodes[victim].disk.Durable()[key], good) {
		t.Fatal("session upload with the chunk's verified bytes did not heal the damaged copy")
	}
	if n := c.metric(victim, MetricHeals, HealSession); n != 1 {
		t.Fatalf("heals via session counted %v times, want 1", n)
	}
}

// Two heals of one damaged chunk in flight at once count one repair.
func TestConcurrentHealsCountOnce(t *testing.T) {
	c := newCluster(t, 5, 4, noRepair)
	data, _, victim, _, _, _ := c.damagedObject(2)
	c.c.Request(victim, ServiceName, Put{Data: bytes.Clone(data)})
	c.c.Request(victim, ServiceName, Put{Data: bytes.Clone(data)}) // e.g. a client retry
	c.advance(5 * time.Second)
	if n := c.metric(victim, MetricRepairs, ""); n != 1 {
		t.Fatalf("one damaged chunk healed, repairs counted %v times", n)
	}
	if n := c.metric(victim, MetricHeals, HealPut); n != 1 {
		t.Fatalf("one damaged chunk healed by two puts, heals via put counted %v times", n)
	}
}
