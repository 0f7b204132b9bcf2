package storage

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// slowScrub reads one 1000-byte object every 2 s: a pass over
// scrubCursorObjects of them outlasts ScrubCursorInterval.
var slowScrub = Config{ChunkBytes: ChunkBytesMin, RepairInterval: 200 * time.Millisecond,
	ScrubBytesPerSecond: 500, ScrubPassInterval: time.Hour}

const scrubCursorObjects = 40

// scrubCursorCluster stores scrubCursorObjects one-chunk objects on
// every node of a 3-node cluster (each is placed on all three).
func scrubCursorCluster(t *testing.T, seed uint64) *cluster {
	t.Helper()
	c := newCluster(t, 3, seed, slowScrub)
	for k := range scrubCursorObjects {
		if res := c.put(0, randomData(seed*1000+uint64(k), 1000), false); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	return c
}

// scrubCursorOnDisk parses node i's cursor record as it is now on disk.
func (c *cluster) scrubCursorOnDisk(i int) (proto.Addr, bool) {
	v, ok := c.nodes[i].disk.Get(keyScrubCursor)
	if !ok {
		return proto.Addr{}, false
	}
	a, why := parseScrubRecord(env.DiskResult{Found: true, Value: v})
	return a, why == ""
}

// restartScrubbing crashes node i, starts it and waits for its recovery
// and for the scrub's first object after it.
func (c *cluster) restartScrubbing(i int) *Storage {
	c.t.Helper()
	c.crash(i)
	c.start(i)
	c.step()
	st := c.nodes[i].st
	if !c.c.RunUntil(time.Minute, st.Ready) {
		c.t.Fatal("recovery did not finish")
	}
	if !c.c.RunUntil(10*time.Second, func() bool { return st.scrub.obj != nil }) {
		c.t.Fatal("the scrub did not start an object after the restart")
	}
	return st
}

// TestScrubResumesAfterRestart: a node restarted partway through a scrub
// pass resumes it after the last object its cursor record names, not
// from the lowest address. The old code kept the cursor in memory only:
// a node restarted more often than a pass takes never scrubbed its
// highest addresses.
func TestScrubResumesAfterRestart(t *testing.T) {
	c := scrubCursorCluster(t, 111)
	const v = 1
	st := c.nodes[v].st
	sorted := st.index.sorted
	var cursor proto.Addr
	if !c.c.RunUntil(3*time.Minute, func() bool {
		a, ok := c.scrubCursorOnDisk(v)
		cursor = a
		return ok && a != (proto.Addr{})
	}) {
		t.Fatal("no scrub cursor record written within 3 min")
	}
	next, _ := st.index.after(cursor)
	if compareAddr(next, cursor) <= 0 || cursor == sorted[0] {
		t.Fatalf("the cursor record names object %s, at an end of the pass: the test proves nothing", cursor.Short())
	}
	// The record has no sync of its own: another job's sync makes it
	// durable (here, the test's).
	c.nodes[v].disk.Execute(&env.DiskOp{Kind: env.DiskSync})
	st = c.restartScrubbing(v)
	if st.scrub.addr != next {
		t.Fatalf("after the restart the scrub started at %s; want %s, the object after the cursor %s (the lowest is %s)",
			st.scrub.addr.Short(), next.Short(), cursor.Short(), sorted[0].Short())
	}
	if r, want := c.metric(v, MetricScrubPassRatio, ""), float64(binary.BigEndian.Uint64(cursor[:8]))/(1<<64); r < want || r >= 1 {
		t.Fatalf("storage_scrub_pass_ratio %v after the restart; want at least the cursor's %v, below 1", r, want)
	}
	// The resumed pass reaches the highest address, then pauses.
	last := sorted[len(sorted)-1]
	if !c.c.RunUntil(3*time.Minute, func() bool { return st.scrub.addr == last }) {
		t.Fatal("the resumed pass did not reach the highest address")
	}
}

// TestScrubCursorRecordUnusable: a corrupt cursor record, one of an
// unknown version, or one of the wrong length does not stop the start:
// the pass starts from the lowest address.
func TestScrubCursorRecordUnusable(t *testing.T) {
	c := scrubCursorCluster(t, 113)
	const v = 2
	sorted := c.nodes[v].st.index.sorted
	mid := sorted[len(sorted)/2]
	good := env.Seal(append([]byte{scrubRecordVersion}, mid[:]...))
	corrupt := append([]byte(nil), good...)
	corrupt[5] ^= 0x10
	for _, tc := range []struct {
		name  string
		value []byte
	}{
		{"corrupt", corrupt},
		{"newer version", env.Seal(append([]byte{scrubRecordVersion + 1}, mid[:]...))},
		{"short", env.Seal([]byte{scrubRecordVersion, 1, 2, 3})},
		{"empty", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.nodes[v].disk.Plant(keyScrubCursor, tc.value)
			st := c.restartScrubbing(v)
			if st.scrub.addr != sorted[0] {
				t.Fatalf("the scrub started at %s; want the lowest address %s", st.scrub.addr.Short(), sorted[0].Short())
			}
		})
	}
	// The same record intact resumes after mid: the cases above were
	// refused for their fault, not for the address.
	c.nodes[v].disk.Plant(keyScrubCursor, good)
	st := c.restartScrubbing(v)
	if want, _ := st.index.after(mid); st.scrub.addr != want {
		t.Fatalf("an intact record: the scrub started at %s; want %s", st.scrub.addr.Short(), want.Short())
	}
}
