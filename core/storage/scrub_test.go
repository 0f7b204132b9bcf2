package storage

import (
	"bytes"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
)

// scrubChunks is smallChunks with a scrub pass every second.
var scrubChunks = Config{ChunkBytes: ChunkBytesMin, RepairInterval: 200 * time.Millisecond, ScrubPassInterval: time.Second}

// TestScrubFindsRot: a chunk that rots on a placement node nobody reads
// is found by the scrub (counted as corruption, marked damaged) within a
// bounded time, then healed by the repair loop from a replica. The old
// code read nothing until a client or a peer asked for the chunk.
func TestScrubFindsRot(t *testing.T) {
	c := newCluster(t, 5, 91, scrubChunks)
	data := randomData(92, 4*ChunkBytesMin)
	res := c.put(0, data, false)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	c.advance(time.Second)
	const i = 2
	victim, chunk, key := c.rotChunk(res.Addr, data, i, 100, 0x40)
	off := uint64(i * ChunkBytesMin)
	if !c.c.RunUntil(10*time.Second, func() bool { return c.metric(victim, MetricCorruption, "") > 0 }) {
		t.Fatal("the rotten chunk was not found within 10 s")
	}
	if m := c.metric(victim, MetricCorruption, ""); m != 1 {
		t.Fatalf("%v corruptions counted; want the rotten chunk once", m)
	}
	d := c.nodes[victim].disk
	if !c.c.RunUntil(10*time.Second, func() bool { return chunkMatches(chunk, off, d.State()[key]) }) {
		t.Fatal("the rotten chunk was not healed within 10 s")
	}
	c.advance(time.Second)
	if len(c.nodes[victim].st.damaged) != 0 || c.metric(victim, MetricRepairs, "") < 1 {
		t.Fatalf("after the heal: %d chunks marked damaged, %v repairs", len(c.nodes[victim].st.damaged), c.metric(victim, MetricRepairs, ""))
	}
	for n := range c.nodes {
		if n != victim {
			c.noDamage(n)
		}
	}
}

// TestScrubProvesOwnLie: a manifest of this node's own that lies (its
// last chunk's size, or chunks moved: as an earlier build committed a
// lying peer's commit, planted on disk and recovered) gets the lie
// verdict from the scrub alone, with no client read; no corruption is
// counted and the manifest stays held. A range within it that stops
// before the last chunk then answers the object's Size, not the claim
// (a size lie). The old code kept answering the claim until a get read the last chunk.
func TestScrubProvesOwnLie(t *testing.T) {
	for _, kind := range []string{"last-1000", "last+1", "moved"} {
		t.Run(kind, func(t *testing.T) {
			c, data, res := stored3Chunks(t, 93)
			n := uint64(len(data))
			v := c.placed(res.Addr, 3)[0]
			honest := c.nodes[v].st.index.committed(res.Addr).manifest
			var lie Manifest
			switch kind {
			case "last-1000":
				lie = lastSizeLie(t, honest, res.Addr, -1000)
			case "last+1":
				lie = lastSizeLie(t, honest, res.Addr, 1)
			default:
				lie = movedChunks(t, honest, res.Addr)
			}
			c.crash(v)
			c.nodes[v].disk.Plant(string(diskKey(prefixManifest, res.Addr)), env.Seal(AppendManifest(nil, &lie)))
			c.start(v)
			c.step()
			st := c.nodes[v].st
			if !c.c.RunUntil(time.Minute, st.Ready) {
				t.Fatal("recovery did not finish")
			}
			o := st.index.committed(res.Addr)
			if o == nil || o.lies || o.proven || o.manifest.Size != lie.Size {
				t.Fatal("the recovered manifest is not the lie, unjudged")
			}
			if !c.c.RunUntil(10*time.Second, func() bool { return o.lies }) {
				t.Fatal("the scrub did not prove the lie within 10 s")
			}
			if m := c.metric(v, MetricScrubLies, ""); m != 1 {
				t.Fatalf("%v scrub lies counted; want 1", m)
			}
			c.noDamage(v)
			if st.index.committed(res.Addr) != o {
				t.Fatal("the lying manifest is no longer held")
			}
			if kind == "moved" {
				// Its listings still locate the moved chunks at the lie's
				// offsets (doc.go, Known gaps): gets refuse the honest
				// offsets until the lie is dropped, as before the scrub.
				return
			}
			got := c.get(v, res.Addr, 0, 100)
			if got.Err != nil || !bytes.Equal(got.Data, data[:100]) || got.Size != n {
				t.Fatalf("range get: %v, %d bytes, Size %d; want the object's Size %d", got.Err, len(got.Data), got.Size, n)
			}
		})
	}
}

// TestScrubProvesHonest: an honest manifest recovered from disk (so not
// proven by this build's commit check) is proven by the scrub, and one
// this build committed is proven from its commit.
func TestScrubProvesHonest(t *testing.T) {
	c, _, res := stored3Chunks(t, 95)
	v := c.placed(res.Addr, 3)[0]
	if o := c.nodes[v].st.index.committed(res.Addr); o == nil || !o.proven {
		t.Fatal("a manifest this build committed is not proven")
	}
	c.crash(v)
	c.start(v)
	c.step()
	st := c.nodes[v].st
	if !c.c.RunUntil(time.Minute, st.Ready) {
		t.Fatal("recovery did not finish")
	}
	o := st.index.committed(res.Addr)
	if o == nil || o.proven {
		t.Fatal("a recovered manifest is proven before any read")
	}
	if !c.c.RunUntil(10*time.Second, func() bool { return o.proven }) {
		t.Fatal("the scrub did not prove the honest manifest within 10 s")
	}
	if o.lies || c.metric(v, MetricScrubLies, "") != 0 {
		t.Fatal("an honest manifest was judged a lie")
	}
	c.noDamage(v)
}

// TestScrubRate: the scrub's reads stay under ScrubBytesPerSecond in
// every simulated second (one chunk of slack: it waits after a read),
// and it does read at about that rate while there is work.
func TestScrubRate(t *testing.T) {
	const rate = 4 * ChunkBytesMin // 4 chunks a second
	cfg := scrubChunks
	cfg.ScrubBytesPerSecond = rate
	cfg.ScrubPassInterval = time.Millisecond
	c := newCluster(t, 3, 97, cfg)
	for k := range 3 {
		if res := c.put(0, randomData(98+uint64(k), 8*ChunkBytesMin), false); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	c.advance(time.Second)
	d := c.nodes[1].disk
	var total int
	for s := range 10 {
		before := d.chunkBytesRead
		c.advance(time.Second)
		got := d.chunkBytesRead - before
		if got > rate+ChunkBytesMin {
			t.Fatalf("second %d: %d chunk bytes read; the rate allows %d (+ one chunk)", s, got, rate)
		}
		total += got
	}
	if total < 10*rate/2 {
		t.Fatalf("%d chunk bytes read in 10 s; want about %d", total, 10*rate)
	}
	if m := c.metric(1, MetricScrubBytes, ""); m < float64(total) {
		t.Fatalf("storage_scrub_bytes_total %v < the %d bytes read", m, total)
	}
}

// TestScrubYieldsTheLastDiskSlot: while every disk job slot but one is
// taken, the scrub reads nothing (the last slot is for client work) and
// a client's read is served; once slots free up, the scrub reads again.
func TestScrubYieldsTheLastDiskSlot(t *testing.T) {
	cfg := scrubChunks
	cfg.ScrubPassInterval = time.Millisecond
	c := newClusterDisk(t, 3, 99, cfg, 5*time.Millisecond)
	data := randomData(100, 8*ChunkBytesMin)
	res := c.put(0, data, false)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	c.advance(time.Second)
	st := c.nodes[1].st
	if !c.c.RunUntil(time.Second, func() bool { return len(st.jobs) == 0 && !st.scrub.busy }) {
		t.Fatal("the disk never idled")
	}
	var fake []uint64
	for k := uint64(0); len(st.jobs) < DiskJobsMax-1; k++ {
		id := tagValueMask - k
		st.jobs[id] = &diskJob{want: 1, done: func([]env.DiskResult) {}}
		fake = append(fake, id)
	}
	before := c.metric(1, MetricScrubBytes, "")
	if c.c.RunUntil(3*time.Second, func() bool { return len(st.jobs) >= DiskJobsMax }) {
		t.Fatal("the scrub took the last disk job slot")
	}
	if m := c.metric(1, MetricScrubBytes, ""); m != before {
		t.Fatalf("the scrub read %v bytes with one disk slot left", m-before)
	}
	got := c.get(1, res.Addr, 0, 100)
	if got.Err != nil || !bytes.Equal(got.Data, data[:100]) {
		t.Fatalf("client read with one disk slot left: %v", got.Err)
	}
	for _, id := range fake {
		delete(st.jobs, id)
	}
	if !c.c.RunUntil(3*time.Second, func() bool { return c.metric(1, MetricScrubBytes, "") > before }) {
		t.Fatal("the scrub did not resume once disk slots were free")
	}
}

// TestScrubLeavesADeletedObject: an object deleted while the scrub reads
// one of its chunks is left: the read's bytes are discarded, nothing is
// counted or marked, and the scrub goes on with the next object.
func TestScrubLeavesADeletedObject(t *testing.T) {
	cfg := scrubChunks
	cfg.ScrubBytesPerSecond = 4 * ChunkBytesMin
	c := newClusterDisk(t, 3, 101, cfg, 5*time.Millisecond)
	for k := range 2 {
		if res := c.put(0, randomData(102+uint64(k), 8*ChunkBytesMin), false); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	st := c.nodes[1].st
	if !c.c.RunUntil(10*time.Second, func() bool { return st.scrub.busy && st.scrub.chunk > 0 }) {
		t.Fatal("the scrub never read past an object's first chunk")
	}
	victim := st.scrub.addr
	if r, ok := c.request(1, Delete{Addr: victim}, time.Second).(DeleteResult); !ok || r.Err != nil {
		t.Fatalf("delete: %v", r.Err)
	}
	objects := c.metric(1, MetricScrubObjects, "")
	if !c.c.RunUntil(10*time.Second, func() bool { return c.metric(1, MetricScrubObjects, "") > objects }) {
		t.Fatal("the scrub did not finish another object after the delete")
	}
	c.noDamage(1)
}
