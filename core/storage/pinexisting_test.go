package storage

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// A pinned put of an object already held unpinned whose pin write fails
// must not leave the object pinned in memory: the retry (the disk still
// failing) was acknowledged with no durable pin record (pinExisting set
// o.pinned before the write and never cleared it).
func TestPinExistingFailedWriteUnpins(t *testing.T) {
	c := newCluster(t, 5, 41, noRepair)
	data, addr, coord := heldUnpinned(t, c, 42)
	d := c.nodes[coord].disk
	watched := d.Fault
	failing := true
	d.Fault = func(op *env.DiskOp) error {
		if failing && op.Kind == env.DiskPut && strings.HasPrefix(string(op.Key), prefixPin) {
			return fmt.Errorf("test: injected: %w", env.ErrDiskIO)
		}
		return watched(op)
	}
	res := c.put(coord, data, true)
	t.Logf("first pinned put: %v", res.Err)
	c.advance(time.Second)
	res = c.put(coord, data, true) // still failing disk
	t.Logf("second pinned put (pin write still failing): err=%v", res.Err)
	_, ok := d.Durable()[string(diskKey(prefixPin, addr))]
	if res.Err == nil && !ok {
		t.Fatalf("pinned put acknowledged with no durable pin record (in memory pinned=%v)", pinnedHere(c.nodes[coord].st, addr))
	}
}

// Two pinned puts of a held unpinned object at the same instant, every pin
// write failing: the second waits for the first's pin write and gets its
// failure (it was acknowledged at once, before the write failed).
func TestPinExistingConcurrentFailure(t *testing.T) {
	c := newClusterDisk(t, 5, 41, noRepair, 50*time.Millisecond)
	data, _, coord := heldUnpinned(t, c, 43)
	d := c.nodes[coord].disk
	watched := d.Fault
	d.Fault = func(op *env.DiskOp) error {
		if op.Kind == env.DiskPut && strings.HasPrefix(string(op.Key), prefixPin) {
			return fmt.Errorf("test: injected: %w", env.ErrDiskIO)
		}
		return watched(op)
	}
	r1 := c.c.Request(coord, ServiceName, Put{Data: data, Pin: true})
	r2 := c.c.Request(coord, ServiceName, Put{Data: data, Pin: true})
	a2, _ := c.c.Await(coord, r2, time.Minute)
	a1, _ := c.c.Await(coord, r1, time.Minute)
	t.Logf("first: %v; second: %v", a1.(PutResult).Err, a2.(PutResult).Err)
	if a2.(PutResult).Err == nil {
		t.Fatalf("second pinned put acknowledged though every pin write failed")
	}
}

// Without any fault: the second of two concurrent pinned puts of a held
// unpinned object is answered only once the pin record is durable (it was
// acknowledged before).
func TestPinExistingWaitsForDurable(t *testing.T) {
	c := newClusterDisk(t, 5, 41, noRepair, 50*time.Millisecond)
	data, addr, coord := heldUnpinned(t, c, 44)
	d := c.nodes[coord].disk
	c.c.Request(coord, ServiceName, Put{Data: data, Pin: true})
	r2 := c.c.Request(coord, ServiceName, Put{Data: data, Pin: true})
	a2, _ := c.c.Await(coord, r2, time.Minute)
	_, durable := d.Durable()[string(diskKey(prefixPin, addr))]
	t.Logf("second: %v; pin record durable at its ack: %v", a2.(PutResult).Err, durable)
	if a2.(PutResult).Err == nil && !durable {
		t.Fatal("pinned put acknowledged before the pin record is durable")
	}
}

// The pinned puts waiting for one pin write in flight are bounded: beyond
// waitersMax more are refused (every one is answered), and the pin record
// is durable once the first is acknowledged.
func TestPinExistingWaitersBounded(t *testing.T) {
	c := newClusterDisk(t, 5, 41, noRepair, 50*time.Millisecond)
	data, addr, coord := heldUnpinned(t, c, 45)
	var reqs []env.RequestID
	for range waitersMax + 3 {
		reqs = append(reqs, c.c.Request(coord, ServiceName, Put{Data: data, Pin: true}))
	}
	acked, refused := 0, 0
	for _, r := range reqs {
		a, ok := c.c.Await(coord, r, time.Minute)
		if !ok {
			t.Fatal("a pinned put was never answered")
		}
		if a.(PutResult).Err == nil {
			acked++
			if _, durable := c.nodes[coord].disk.Durable()[string(diskKey(prefixPin, addr))]; !durable {
				t.Fatal("pinned put acknowledged before the pin record is durable")
			}
		} else {
			refused++
		}
	}
	t.Logf("acknowledged %d, refused %d", acked, refused)
	if acked < waitersMax || refused < 1 {
		t.Fatalf("acknowledged %d, refused %d: want the waiters up to waitersMax acknowledged, the rest refused", acked, refused)
	}
}

// heldUnpinned puts an object of seed's bytes, unpinned, through its
// first placement node (its coordinator here) and lets it settle.
func heldUnpinned(t *testing.T, c *cluster, seed uint64) (data []byte, addr proto.Addr, coord int) {
	t.Helper()
	data = randomData(seed, 2*ChunkBytesMin+7)
	addr = proto.AddrOf(data)
	coord = c.placed(addr, 3)[0]
	if res := c.put(coord, data, false); res.Err != nil {
		t.Fatal(res.Err)
	}
	c.advance(time.Second)
	return data, addr, coord
}
