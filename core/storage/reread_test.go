package storage

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto"
)

// onlyCopy puts data on node 0 and deletes it from every other placement
// node, so one node holds the object's only copy; it returns the
// object's address.
func onlyCopy(t *testing.T, c *cluster, data []byte) proto.Addr {
	t.Helper()
	res := c.put(0, data, false)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	c.advance(time.Second)
	for _, i := range c.placed(res.Addr, 3)[1:] {
		if del, _ := c.request(i, Delete{Addr: res.Addr}, time.Second).(DeleteResult); del.Err != nil {
			t.Fatal(del.Err)
		}
	}
	return res.Addr
}

// TestOnlyCopyTransientFaultHeals: the only copy of an object fails its
// check once (a read fault that passes, as the simulator's corrupt_read
// injects): the chunk is counted and marked damaged, and no replica can
// heal it. Once the fault passed, a re-read of the local copy (after a
// heal or a get's fetch found no source, at most once per
// RepairInterval) verifies it and clears the mark without a rewrite, so
// the object is readable again; the damage is counted once. The old
// code never read a marked chunk again: the heal failed forever and
// every get of the object failed until a restart. With repair ticks on
// or off (healDamaged runs either way) and via a get alone (its fetch
// finds no source, and the re-read is due).
func TestOnlyCopyTransientFaultHeals(t *testing.T) {
	for _, viaGet := range []bool{false, true} {
		name := "tick"
		if viaGet {
			name = "get"
		}
		t.Run(name, func(t *testing.T) {
			cfg := Config{ChunkBytes: ChunkBytesMin, RepairInterval: 200 * time.Millisecond, RepairOff: true}
			if viaGet {
				cfg.RepairInterval = time.Hour // no tick within the test
			}
			c := newCluster(t, 5, 4, cfg)
			data := randomData(11, 4*ChunkBytesMin)
			addr := onlyCopy(t, c, data)
			victim, chunk, key := c.rotChunk(addr, data, 2, 100, 0x40)
			good := bytes.Clone(data[2*ChunkBytesMin : 3*ChunkBytesMin])
			got := c.get(victim, addr, 0, 0)
			if got.Err == nil {
				t.Fatal("get over the fault succeeded")
			}
			if errors.Is(got.Err, ErrNotFound) || !errors.Is(got.Err, ErrCorruption) {
				t.Fatalf("get of the only copy over a fault: %v; want ErrCorruption (retryable), not ErrNotFound", got.Err)
			}
			st := c.nodes[victim].st
			if _, ok := st.damaged[chunk]; !ok {
				t.Fatal("the chunk is not marked damaged")
			}
			c.nodes[victim].disk.Plant(key, good) // the fault passed
			writes := c.nodes[victim].disk.chunkPuts
			if viaGet {
				c.advance(2 * time.Second)
				if _, ok := st.damaged[chunk]; !ok {
					t.Fatal("mark cleared without a get or a tick")
				}
				st.cfg.RepairInterval = time.Second // the re-read is due
			} else {
				c.advance(time.Minute)
				if _, ok := st.damaged[chunk]; ok {
					t.Fatal("the ticks did not clear the mark of a copy that verifies")
				}
			}
			got = c.get(victim, addr, 0, 0)
			if got.Err != nil || !bytes.Equal(got.Data, data) {
				t.Fatalf("the only copy verifies on disk but a get fails: %v (damaged marks %d)", got.Err, len(st.damaged))
			}
			if len(st.damaged) != 0 {
				t.Fatalf("%d chunks still marked damaged", len(st.damaged))
			}
			if n := c.nodes[victim].disk.chunkPuts - writes; n != 0 {
				t.Fatalf("the re-read that verified rewrote %d values", n)
			}
			if n := c.metric(victim, MetricCorruption, ""); n != 1 {
				t.Fatalf("corruption counted %v times, want 1", n)
			}
			if n := c.metric(victim, MetricRereads, RereadVerified); n != 1 {
				t.Fatalf("re-reads that verified counted %v times, want 1", n)
			}
			if n := c.metric(victim, MetricHeals, HealReplica); n != 0 {
				t.Fatalf("a re-read that verified counted %v heals, want 0 (nothing was rewritten)", n)
			}
		})
	}
}

// TestVerifiedBytesHealDamagedChunk: bytes verified at a held chunk's
// known offset while it is marked damaged there heal it (healWith)
// before they are acknowledged: a StoreChunk push of the chunk, and a
// client's put of an object listing it (its bytes, which the put split
// and hashed; the keep-copy of hand-offs starts from the same put). The
// old code acknowledged them as for a healthy held chunk and dropped the
// bytes: the copy stayed rotten until a heal from a replica.
func TestVerifiedBytesHealDamagedChunk(t *testing.T) {
	for _, how := range []string{"push", "put"} {
		t.Run(how, func(t *testing.T) {
			c := newCluster(t, 5, 4, noRepair) // no tick heals it
			data, addr, victim, chunk, key, off := c.damagedObject(2)
			peer := c.notPlaced(addr, 3)[0]
			good := data[off : off+ChunkBytesMin]
			st := c.nodes[victim].st
			if _, ok := st.damaged[chunk]; !ok {
				t.Fatal("the chunk is not marked damaged")
			}
			switch how {
			case "push":
				m := &message{kind: kindStoreChunk, addr: chunk, offset: off, data: bytes.Clone(good)}
				if rep := c.exchange(peer, victim, 0xfeed_0002, m); rep.status != statusOK {
					t.Fatalf("StoreChunk of the damaged chunk: status %d, want statusOK", rep.status)
				}
			case "put":
				if res := c.put(victim, data, false); res.Err != nil {
					t.Fatal(res.Err)
				}
			}
			if !bytes.Equal(c.nodes[victim].disk.Durable()[key], good) {
				t.Fatal("the verified bytes were acknowledged, the damaged copy not rewritten")
			}
			if _, ok := st.damaged[chunk]; ok {
				t.Fatal("the chunk is still marked damaged")
			}
			if n := c.metric(victim, MetricRepairs, ""); n != 1 {
				t.Fatalf("repairs counted %v times, want 1", n)
			}
			if n := c.metric(victim, MetricHeals, how); n != 1 {
				t.Fatalf("heals via %s counted %v times, want 1", how, n)
			}
		})
	}
}

// A re-read the disk queue refuses does not restart the damaged chunk's
// wait: the next request may re-read it at once, not a RepairInterval later.
func TestRereadRefusedKeepsDue(t *testing.T) {
	c := newCluster(t, 5, 4, noRepair)
	_, _, victim, chunk, _, off := c.damagedObject(2)
	st := c.nodes[victim].st
	before, ok := st.damaged[chunk]
	if !ok {
		t.Fatal("chunk not marked damaged")
	}
	c.advance(time.Second)
	var fake []uint64
	for id := uint64(tagValueMask) + 1; len(st.jobs) < DiskJobsMax; id++ {
		st.jobs[id] = &diskJob{}
		fake = append(fake, id)
	}
	if st.reread(chunk, off, func([]byte) { t.Error("refused re-read answered") }) {
		t.Fatal("re-read queued on a full disk queue")
	}
	for _, id := range fake {
		delete(st.jobs, id)
	}
	if got := st.damaged[chunk].read; got != before.read {
		t.Fatalf("refused re-read moved the last read from %v to %v", before.read, got)
	}
}
