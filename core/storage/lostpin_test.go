package storage

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// TestDeleteOfLostPinWhoseRestoreWriteFails: a client's Delete of a lost
// pin that arrives while the restore's write of the object is in flight
// waits for that write (object.deletes); the write fails (the disk
// refuses the manifest), and the Delete must still remove the pin record
// and succeed. It answered "not found (its write failed)" before, and
// left the record, so the next restore brought the deleted object back
// pinned.
func TestDeleteOfLostPinWhoseRestoreWriteFails(t *testing.T) {
	c := newClusterDisk(t, 5, 23, smallChunks, time.Millisecond)
	data := randomData(33, 4*ChunkBytesMin+11)
	addr, holder := pinnedStray(t, c, data)
	h := c.nodes[holder]
	manKey := string(diskKey(prefixManifest, addr))
	pinKey := diskKey(prefixPin, addr)
	h.disk.Corrupt(manKey)
	c.restartReady(holder)
	if n := c.metric(holder, MetricPinsLost, ""); n != 1 {
		t.Fatalf("lost pins gauge %v, want 1", n)
	}
	// The restore's write of the manifest fails, once.
	fail := true
	h.disk.Fault = func(op *env.DiskOp) error {
		if fail && op.Kind == env.DiskPut && string(op.Key) == manKey {
			fail = false
			return fmt.Errorf("injected: %w", env.ErrDiskIO)
		}
		return nil
	}
	// Run until the restore's write is in flight (polled, bounded).
	for steps := 0; ; steps++ {
		if o := h.st.index.objects[addr]; o != nil && !o.committed {
			break
		}
		if steps > 100000 {
			t.Fatal("the restore's write never was in flight")
		}
		c.c.RunFor(100 * time.Microsecond)
	}
	del, ok := c.request(holder, Delete{Addr: addr}, time.Second).(DeleteResult)
	if !ok || del.Err != nil {
		t.Fatalf("Delete of the lost pin: %v (answered %v)", del.Err, ok)
	}
	if fail {
		t.Fatal("the restore's write did not fail")
	}
	if _, rec := h.disk.Durable()[string(pinKey)]; rec {
		t.Fatal("the Delete left the pin record on disk")
	}
	if n := c.metric(holder, MetricPinsLost, ""); n != 0 {
		t.Fatalf("lost pins gauge %v after the Delete, want 0", n)
	}
	c.advance(3 * time.Second) // ticks: nothing is restored
	if o := h.st.index.committed(addr); o != nil && o.pinned {
		t.Fatal("the deleted lost pin came back pinned")
	}
}

// TestRecoveryKeepsPinOfNewerManifest: a pinned object whose manifest a
// newer build wrote (kept on disk, not indexed) is not a lost pin: its
// pin is not listed, and no restore overwrites the newer manifest with
// this build's (a downgrade must not delete what an upgrade wrote). It
// was listed lost, and the first tick's restore overwrote it.
func TestRecoveryKeepsPinOfNewerManifest(t *testing.T) {
	c := newCluster(t, 5, 23, smallChunks)
	data := randomData(33, 4*ChunkBytesMin+11)
	holder, key, newer := newerPinnedStray(t, c, data)
	addr, h := proto.AddrOf(data), c.nodes[holder]
	if n := c.metric(holder, MetricPinsLost, ""); n != 0 {
		t.Fatalf("lost pins gauge %v, want 0", n)
	}
	c.advance(2 * time.Second) // ticks, which would restore a lost pin
	if v, _ := h.disk.Get(key); !bytes.Equal(v, newer) {
		t.Fatalf("the newer build's manifest was overwritten (held here %v)", h.st.HasLocal(addr))
	}
	if _, rec := h.disk.Durable()[string(diskKey(prefixPin, addr))]; !rec {
		t.Fatal("the pin record was deleted")
	}
}

// TestRecoveryRereadCorruptReadEnds: the second read of a manifest the
// scan found corrupt is answered env.ErrCorruption by the disk itself
// (every time, up to 50 reads): that is the second corrupt read, so the manifest is
// dropped (counted twice), the pin is listed lost and recovery ends. The
// read was retried forever before, and recovery never finished.
func TestRecoveryRereadCorruptReadEnds(t *testing.T) {
	c := newCluster(t, 5, 24, smallChunks)
	data := randomData(34, 3*ChunkBytesMin+5)
	addr, holder := pinnedStray(t, c, data)
	h := c.nodes[holder]
	key := string(diskKey(prefixManifest, addr))
	h.disk.Corrupt(key)
	gets := 0
	h.disk.Fault = func(op *env.DiskOp) error {
		if op.Kind == env.DiskGet && string(op.Key) == key {
			// Bounded, so that a build that retries fails the test
			// below rather than hanging it.
			if gets++; gets <= 50 {
				return fmt.Errorf("injected: %w", env.ErrCorruption)
			}
		}
		return nil
	}
	c.restart(holder)
	if !c.c.RunUntil(10*time.Second, h.st.Ready) {
		t.Fatalf("recovery did not finish (%d reads of the manifest)", gets)
	}
	if gets != 1 {
		t.Fatalf("%d second reads of the manifest, want 1", gets)
	}
	if n := c.metric(holder, MetricCorruption, ""); n != 2 {
		t.Fatalf("corruption counted %v times, want 2", n)
	}
	c.settle() // the drop's batch
	if _, ok := h.disk.Get(key); ok {
		t.Fatal("the corrupt manifest was kept")
	}
	if n := c.metric(holder, MetricPinsLost, ""); n != 1 {
		t.Fatalf("lost pins gauge %v, want 1", n)
	}
}

// TestLostPinRestoreBacksOff: a lost pin whose holders are all gone is
// retried with a doubling backoff, not at every tick: over 20 s of
// 200 ms ticks the holder sends a few frames (it sent about 300 before,
// a get's frames each tick). The pin stays listed, and is restored once
// a holder serves the object again.
func TestLostPinRestoreBacksOff(t *testing.T) {
	c := newCluster(t, 5, 23, smallChunks)
	data := randomData(33, 4*ChunkBytesMin+11)
	addr, holder := pinnedStray(t, c, data)
	h := c.nodes[holder]
	for i := range c.nodes {
		if i != holder {
			c.request(i, Delete{Addr: addr}, time.Second) // not found where no copy was

		}
	}
	h.disk.Corrupt(string(diskKey(prefixManifest, addr)))
	c.restartReady(holder)
	for i := range c.nodes {
		if c.nodes[i].st.HasLocal(addr) {
			t.Fatalf("node %d still holds the object", i)
		}
	}
	c.advance(2 * time.Second)
	m := c.c.Members[holder]
	sent := m.Sent
	c.advance(20 * time.Second)
	if n := m.Sent - sent; n > 30 {
		t.Fatalf("the holder sent %d frames in 20 s for a lost pin no one holds, want at most 30", n)
	}
	if n := c.metric(holder, MetricPinsLost, ""); n != 1 {
		t.Fatalf("lost pins gauge %v, want 1", n)
	}
	// A holder again: a backoff (at most LostPinRetryMax) later, the pin
	// is restored.
	other := (holder + 1) % len(c.nodes)
	if r := c.put(other, data, false); r.Err != nil {
		t.Fatal(r.Err)
	}
	c.advance(11 * time.Minute) // more than LostPinRetryMax
	if o := h.st.index.committed(addr); o == nil || !o.pinned {
		t.Fatal("the lost pin was not restored once a holder served it")
	}
}
