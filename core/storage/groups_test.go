package storage

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto"
)

var groupChunks = Config{ChunkBytes: 64 << 10, RepairInterval: 200 * time.Millisecond}

// rotAt flips bit mask of byte at of chunk i (groupChunks) of data, the
// object addr, on node n's disk, and returns the chunk's disk key.
func (c *cluster) rotAt(n int, data []byte, i, at int, mask byte) string {
	_, man := Split(data, groupChunks.ChunkBytes)
	key := string(diskKey(prefixChunk, man.Chunks[i].Addr))
	bad := bytes.Clone(c.nodes[n].disk.State()[key])
	bad[at] ^= mask
	c.nodes[n].disk.Plant(key, bad)
	return key
}

// TestRangeChecksOnlyTouchedGroups: once a whole read has cached a
// chunk's group CVs, a range within the chunk reads and checks the groups
// it touches alone, so damage in another group is not met (and not counted),
// while damage in a touched group is caught, counted, never served, and
// healed from a replica, as a whole chunk's is. It fails on a build that
// checks whole chunks (the first range would count the damage and read
// whole chunks) and on one that skips the group check (the last would
// serve the flipped byte).
func TestRangeChecksOnlyTouchedGroups(t *testing.T) {
	for _, diskChecks := range []bool{true, false} {
		t.Run(fmt.Sprintf("diskChecks=%v", diskChecks), func(t *testing.T) {
			c := newCluster(t, 5, 4, groupChunks)
			for _, n := range c.nodes {
				n.disk.IgnoreChecks = !diskChecks
			}
			const cb = 64 << 10
			data := randomData(21, 4*cb+5000)
			res := c.put(0, data, false)
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			c.advance(time.Second)
			v := c.placed(res.Addr, 3)[0]
			if got := c.get(v, res.Addr, 0, 0); got.Err != nil || !bytes.Equal(got.Data, data) {
				t.Fatalf("whole get: %v", got.Err)
			}
			if n := c.nodes[v].st.groups.len(); n != 4 {
				t.Fatalf("%d chunks' group CVs cached after a whole get, want 4 (the last has one group)", n)
			}
			c.rotAt(v, data, 2, 100, 0x40) // group 0 of chunk 2
			d := c.nodes[v].disk
			read := d.chunkBytesRead
			lo := uint64(2*cb + 2*GroupBytes + 5)
			got := c.get(v, res.Addr, lo, 100)
			if got.Err != nil || !bytes.Equal(got.Data, data[lo:lo+100]) {
				t.Fatalf("range in group 2 of chunk 2: err %v", got.Err)
			}
			if n := d.chunkBytesRead - read; n != GroupBytes {
				t.Fatalf("a range in one group of a cached chunk read %d chunk bytes, want %d", n, GroupBytes)
			}
			// Over groups 1..3 of chunk 2 and groups 0..1 of chunk 3.
			read = d.chunkBytesRead
			lo = uint64(2*cb + GroupBytes + 7)
			got = c.get(v, res.Addr, lo, 4*GroupBytes)
			if got.Err != nil || !bytes.Equal(got.Data, data[lo:lo+4*GroupBytes]) {
				t.Fatalf("range over chunks 2 and 3: err %v", got.Err)
			}
			if n := d.chunkBytesRead - read; n != 5*GroupBytes {
				t.Fatalf("a range over 5 groups of cached chunks read %d chunk bytes, want %d", n, 5*GroupBytes)
			}
			if n := c.metric(v, MetricCorruption, ""); n != 0 {
				t.Fatalf("a range away from the damaged group counted %v corruptions", n)
			}
			// A range over chunks 1 and 2 that touches the damaged group.
			lo = uint64(cb + cb - 300)
			got = c.get(v, res.Addr, lo, 1000)
			if got.Err != nil || !bytes.Equal(got.Data, data[lo:lo+1000]) {
				t.Fatalf("range over the damaged group: err %v, equal %v", got.Err, bytes.Equal(got.Data, data[lo:lo+1000]))
			}
			if n := c.metric(v, MetricCorruption, ""); n != 1 {
				t.Fatalf("damaged group counted %v times, want 1", n)
			}
			_, man := Split(data, groupChunks.ChunkBytes)
			if _, ok := c.nodes[v].st.damaged[man.Chunks[2].Addr]; !ok && c.metric(v, MetricRepairs, "") < 1 {
				t.Fatal("damaged chunk neither marked damaged nor healed")
			}
		})
	}
}

// TestGroupCacheBound: the cache keeps at most its byte bound, evicting
// the least recently used chunk first, and a get refreshes an entry.
func TestGroupCacheBound(t *testing.T) {
	cvs := make([]proto.CV, 16)
	per := entryBytes(cvs)
	c := newGroupCache(3 * per)
	key := func(i int) proto.Addr { return proto.Addr{byte(i)} }
	for i := range 3 {
		c.put(key(i), 0, 16*GroupBytes, cvs)
	}
	got := func(k proto.Addr, off uint64) []proto.CV { cvs, _ := c.get(k, off); return cvs }
	got(key(0), 0) // 1 is now the least recent
	c.put(key(3), 0, 16*GroupBytes, cvs)
	if c.len() != 3 || c.bytes != 3*per {
		t.Fatalf("%d entries, %d bytes; want 3, %d", c.len(), c.bytes, 3*per)
	}
	if got(key(1), 0) != nil || got(key(0), 0) == nil || got(key(3), 0) == nil {
		t.Fatal("evicted the wrong entry")
	}
	if got(key(0), 1) != nil {
		t.Fatal("an entry found at another offset")
	}
	for i := range 1000 {
		c.put(key(i%200), uint64(i), 16*GroupBytes, cvs)
		if c.bytes > 3*per || c.len() > 3 {
			t.Fatalf("%d entries, %d bytes over the bound %d", c.len(), c.bytes, 3*per)
		}
	}
	c.put(key(9), 9, 1<<20*GroupBytes, make([]proto.CV, 1<<20)) // larger than the bound: not kept
	if got(key(9), 9) != nil || c.bytes > 3*per {
		t.Fatal("kept an entry larger than the bound")
	}
}

// TestSessionPutCachesGroups: an upload session hashes each chunk as its
// groups and caches their CVs, so the first range get on the node that
// took the upload already reads only the groups it touches (fails on a
// build that caches only from whole reads: it reads the whole chunk).
func TestSessionPutCachesGroups(t *testing.T) {
	c := newCluster(t, 5, 6, groupChunks)
	const cb = 64 << 10
	data := randomData(23, 3*cb+100)
	addr, _ := Split(data, cb)
	v := c.placed(addr, 3)[0]
	s := c.begin(v, false)
	c.stream(v, s, data, cb)
	if r := c.commit(v, s, addr, uint64(len(data))); r.Err != nil {
		t.Fatal(r.Err)
	}
	c.advance(time.Second)
	d := c.nodes[v].disk
	read := d.chunkBytesRead
	lo := uint64(cb + 3*GroupBytes + 10)
	got := c.get(v, addr, lo, 200)
	if got.Err != nil || !bytes.Equal(got.Data, data[lo:lo+200]) {
		t.Fatalf("range after a session put: %v", got.Err)
	}
	if n := d.chunkBytesRead - read; n != GroupBytes {
		t.Fatalf("the first range after a session put read %d chunk bytes, want %d", n, GroupBytes)
	}
}
