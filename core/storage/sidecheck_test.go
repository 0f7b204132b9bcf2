package storage

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/ron-network/ron/core/proto"
)

// TestRangeChecksFetchedSize: a range that stops before the last chunk,
// read from a fetched manifest lying about the last chunk's size (and so
// its Size) by either sign, is answered with the object's Size: the last
// chunk's size is checked beside the range's reads (sideCheck), the lie
// dropped and the honest candidate's manifest serves the range; with
// every candidate lying the get fails with ErrBadManifest. No node counts
// corruption or marks damage. The old code answered the lie's Size.
func TestRangeChecksFetchedSize(t *testing.T) {
	const cb = 64 << 10
	for _, delta := range []int{-1000, -1, 1, 1000} {
		for _, liars := range []int{1, 2, 3} {
			t.Run(fmt.Sprintf("delta=%d/liars=%d", delta, liars), func(t *testing.T) {
				c, data, res := stored3Chunks(t, 81)
				n := uint64(len(data))
				placed := c.placed(res.Addr, 3)
				honest := c.nodes[placed[0]].st.index.committed(res.Addr).manifest
				lie := lastSizeLie(t, honest, res.Addr, delta)
				reader := c.notPlaced(res.Addr, 3)[0]
				// Within chunk 0, across chunks 0 and 1, chunk 1 to its end.
				for _, r := range [][2]uint64{{10, 100}, {cb - 10, 20}, {cb, cb}} {
					caught := c.metric(reader, MetricRejects, ReasonMalformed)
					got, _ := c.getWithLiars(reader, placed[:liars], lie, Get{Addr: res.Addr, Offset: r[0], Length: r[1]})
					if liars == 3 {
						if !errors.Is(got.Err, ErrBadManifest) {
							t.Fatalf("get %v with every candidate lying: %v (size %d); want ErrBadManifest", r, got.Err, got.Size)
						}
						continue
					}
					if got.Err != nil || !bytes.Equal(got.Data, data[r[0]:r[0]+r[1]]) || got.Size != n {
						t.Fatalf("get %v: %v, %d bytes, size %d; want the object's %d bytes, size %d (the lie's %d)", r, got.Err, len(got.Data), got.Size, r[1], n, lie.Size)
					}
					if c.metric(reader, MetricRejects, ReasonMalformed) == caught {
						t.Fatalf("get %v: the lie was not caught: the test did not exercise the drop", r)
					}
				}
				for i := range c.nodes {
					c.noDamage(i)
				}
			})
		}
	}
}

// TestSideCheckKeepsDeadline: a first candidate that serves the object's
// manifest and then keeps quiet about the chunks costs a range read one
// silence (a call's attempts), with the last chunk's check (uncached) run beside the
// range's reads, not after them: a get whose deadline leaves room for one
// timeout and not two is served. The reverted sequential check (the last
// chunk first, then the range) paid the silent candidate twice and
// passed this deadline.
func TestSideCheckKeepsDeadline(t *testing.T) {
	const cb = 64 << 10
	c, data, res := stored3Chunks(t, 83)
	n := uint64(len(data))
	placed := c.placed(res.Addr, 3)
	honest := c.nodes[placed[0]].st.index.committed(res.Addr).manifest
	reader := c.notPlaced(res.Addr, 3)[0]
	st := c.nodes[reader].st
	// A silent peer costs a call RPCAttemptsMax attempts, backing off
	// (1+2+4+8 RPC timeouts, each jittered by at most 20%): the deadline
	// leaves room for one silence (at most 18 timeouts), not two (at
	// least 24).
	silent := 15 * st.cfg.RPCTimeout
	st.cfg.GetTimeout = silent * 3 / 2
	last := honest.Chunks[len(honest.Chunks)-1].Addr
	for k, r := range [][2]uint64{{10, 100}, {cb - 10, 20}} {
		start := c.c.Now
		reply, fetches := c.requestWithLiars(reader, placed[:1], honest, res.Addr, Get{Addr: res.Addr, Offset: r[0], Length: r[1]}, silentChunks)
		took := c.c.Now - start
		got, ok := reply.(GetResult)
		if !ok || got.Err != nil || !bytes.Equal(got.Data, data[r[0]:r[0]+r[1]]) || got.Size != n {
			t.Fatalf("get %v with a silent first candidate: %v, %d bytes, size %d, after %v (deadline %v)", r, got.Err, len(got.Data), got.Size, took, st.cfg.GetTimeout)
		}
		// The first get checked the last chunk (asking the silent
		// candidate, then an honest one); the second used its verdict.
		// (Sent counts every attempt of a call.)
		if (k == 0) != (fetches[last] > 0) {
			t.Fatalf("get %v: %d FetchChunk frames for the last chunk; want some on the first get, none on the second", r, fetches[last])
		}
		if took < silent*4/5 {
			t.Fatalf("get %v took %v: the silent candidate was not waited for (the test did not exercise it)", r, took)
		}
	}
	for i := range c.nodes {
		c.noDamage(i)
	}
}

// TestSideCheckCachedIsFree: the last chunk's check beside a range read
// from a fetched manifest costs one fetch of it while its verdict is not
// cached and none once it is; on a holder, whose own manifest is read, a
// range costs its chunks' disk reads alone (no check of the last chunk).
func TestSideCheckCachedIsFree(t *testing.T) {
	const cb = 64 << 10
	c, data, res := stored3Chunks(t, 85)
	n := uint64(len(data))
	placed := c.placed(res.Addr, 3)
	honest := c.nodes[placed[0]].st.index.committed(res.Addr).manifest
	last := honest.Chunks[len(honest.Chunks)-1].Addr
	reader := c.notPlaced(res.Addr, 3)[0]
	for k, r := range [][2]uint64{{10, 100}, {cb, cb}, {cb - 10, 20}} {
		got, fetches := c.getWithLiars(reader, nil, Manifest{}, Get{Addr: res.Addr, Offset: r[0], Length: r[1]})
		if got.Err != nil || !bytes.Equal(got.Data, data[r[0]:r[0]+r[1]]) || got.Size != n {
			t.Fatalf("get %v on a reader: %v, %d bytes, size %d", r, got.Err, len(got.Data), got.Size)
		}
		if want := max(1-k, 0); fetches[last] != want {
			t.Fatalf("get %v on a reader: %d fetches of the last chunk; want %d (once, then its cached verdict)", r, fetches[last], want)
		}
		total := 0
		for _, f := range fetches {
			total += f
		}
		if chunks := int((r[0]+r[1]-1)/cb-r[0]/cb) + 1; total != chunks+max(1-k, 0) {
			t.Fatalf("get %v on a reader: %d chunk fetches; want the range's %d and the check's %d", r, total, chunks, max(1-k, 0))
		}
	}
	holder := placed[0]
	c.nodes[holder].st.groups = newGroupCache(GroupCacheBytesMax) // uncached
	d := c.nodes[holder].disk
	before := d.gets
	if got := c.get(holder, res.Addr, 10, 100); got.Err != nil || got.Size != n {
		t.Fatalf("range on the holder: %v, size %d", got.Err, got.Size)
	}
	if reads := d.gets - before; reads != 1 {
		t.Fatalf("range of one chunk on the holder: %d disk reads; want 1", reads)
	}
}

// TestCorruptionFromNamesTheSource: each corruption a node counts is
// reported to Config.CorruptionFrom with the node whose bytes failed:
// the peer that served a chunk whose bytes do not verify, or the node
// itself for a chunk rotten on its own disk; nothing is reported for
// healthy reads.
func TestCorruptionFromNamesTheSource(t *testing.T) {
	c, data, res := stored3Chunks(t, 87)
	placed := c.placed(res.Addr, 3)
	reader := c.notPlaced(res.Addr, 3)[0]
	from := map[int]map[proto.NodeID]int{}
	for i := range c.nodes {
		from[i] = map[proto.NodeID]int{}
		c.nodes[i].st.cfg.CorruptionFrom = func(src proto.NodeID) { from[i][src]++ }
	}
	// A peer's garbage: placed[0] answers the reader's FetchChunk of chunk
	// 0 with the bytes one bit off (the reader then asks the next holder).
	_, man := Split(data, groupChunks.ChunkBytes)
	var rw rewrites
	flipped := 0
	c.c.Drop = func(src, dst int, frame []byte) bool {
		h, m, err := decodeFrame(frame)
		if src != placed[0] || dst != reader || err != nil || m.kind != kindReply || m.addr != man.Chunks[0].Addr || m.status != statusOK || flipped > 0 {
			return false
		}
		bad := bytes.Clone(m.data)
		bad[7] ^= 1
		flipped++
		rw.add(src, h.CorrID, &message{kind: kindReply, addr: m.addr, status: statusOK, data: bad})
		return true
	}
	c.applyNet()
	reply := c.requestRewritten(reader, Get{Addr: res.Addr, Offset: 10, Length: 100}, &rw)
	c.c.Drop = nil
	c.c.RunFor(0)
	if got, ok := reply.(GetResult); !ok || got.Err != nil || !bytes.Equal(got.Data, data[10:110]) {
		t.Fatalf("get with one garbage answer: %+v", reply)
	}
	if flipped != 1 || from[reader][c.nodes[placed[0]].id] != 1 || len(from[reader]) != 1 {
		t.Fatalf("garbage from n%d (%d sent): the reader reported %v", placed[0], flipped, from[reader])
	}
	// The holder's own rot: chunk 0 one bit off on its disk.
	holder := placed[1]
	key := string(diskKey(prefixChunk, man.Chunks[0].Addr))
	bad := bytes.Clone(c.nodes[holder].disk.State()[key])
	bad[3] ^= 1
	c.nodes[holder].disk.Plant(key, bad)
	if got := c.get(holder, res.Addr, 0, 0); got.Err != nil || !bytes.Equal(got.Data, data) {
		t.Fatalf("get over the holder's rotten chunk: %v", got.Err)
	}
	if from[holder][c.nodes[holder].id] != 1 || len(from[holder]) != 1 {
		t.Fatalf("rot on n%d's disk: it reported %v", holder, from[holder])
	}
	for i := range c.nodes {
		total := 0
		for _, k := range from[i] {
			total += k
		}
		if m := c.metric(i, MetricCorruption, ""); float64(total) != m {
			t.Fatalf("node %d counted %v corruptions and reported %d", i, m, total)
		}
	}
}

// TestSideCheckUnservedLastChunk: a range short of the last chunk, read
// from a fetched manifest lying about that chunk's size, whose last chunk
// no source serves (every holder answers statusCorrupt for it), fails: its
// Size would be the lie's, unproven. The first version of the check let
// the claim stand and served the range with the lie's Size (found by
// content_liars seed 411, during a partition). Its error reply carries no
// Size (it carried the lie's before a review).
func TestSideCheckUnservedLastChunk(t *testing.T) {
	c, data, res := stored3Chunks(t, 89)
	placed := c.placed(res.Addr, 3)
	honest := c.nodes[placed[0]].st.index.committed(res.Addr).manifest
	lie := lastSizeLie(t, honest, res.Addr, -1)
	last := honest.Chunks[len(honest.Chunks)-1].Addr
	reader := c.notPlaced(res.Addr, 3)[0]
	var rw rewrites
	c.c.Drop = func(src, dst int, frame []byte) bool {
		h, m, err := decodeFrame(frame)
		if dst != reader || err != nil || m.kind != kindReply {
			return false
		}
		switch {
		case m.addr == last:
			rw.add(src, h.CorrID, &message{kind: kindReply, addr: last, status: statusCorrupt})
		case m.addr == res.Addr && m.status == statusOK && src == placed[0]:
			rw.add(src, h.CorrID, &message{kind: kindReply, addr: res.Addr, status: statusOK, data: AppendManifest(nil, &lie)})
		default:
			return false
		}
		return true
	}
	c.applyNet()
	reply := c.requestRewritten(reader, Get{Addr: res.Addr, Offset: 10, Length: 100}, &rw)
	c.c.Drop = nil
	c.c.RunFor(0)
	got, ok := reply.(GetResult)
	if !ok || got.Err == nil {
		t.Fatalf("range with the last chunk unserved: %v, %d bytes, size %d (the lie's %d, the object's %d); want an error", got.Err, len(got.Data), got.Size, lie.Size, len(data))
	}
	if !errors.Is(got.Err, ErrCorruption) {
		t.Fatalf("range with the last chunk unserved: %v; want the last chunk's error (corruption)", got.Err)
	}
	if got.Size != 0 {
		// An error reply carries no Size: this one was the lie's, unproven.
		t.Fatalf("error reply %v carries Size %d (the lie's %d, the object's %d); want none", got.Err, got.Size, lie.Size, len(data))
	}
}
