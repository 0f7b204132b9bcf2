package storage

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// pinnedStray puts data pinned on a node that is not among its placement
// nodes and lets the audits run: the placement nodes hold it, the holder
// keeps its pinned copy.
func pinnedStray(t *testing.T, c *cluster, data []byte) (proto.Addr, int) {
	t.Helper()
	addr := proto.AddrOf(data)
	holder := c.notPlaced(addr, 3)[0]
	if res := c.put(holder, data, true); res.Err != nil || !c.nodes[holder].st.HasLocal(addr) {
		t.Fatalf("pinned put: %+v", res)
	}
	c.advance(2 * time.Second)
	if !c.nodes[holder].st.HasLocal(addr) {
		t.Fatal("pinned copy collected")
	}
	return addr, holder
}

// restartReady restarts node i and waits for its recovery.
func (c *cluster) restartReady(i int) {
	c.t.Helper()
	c.restart(i)
	c.settle()
	c.completeUntilReady(i)
}

// cutOthers cuts every node but i off (true) or reconnects them.
func (c *cluster) cutOthers(i int, cut bool) {
	for j, h := range c.nodes {
		if j != i {
			c.cut[h.id] = cut
		}
	}
}

// TestRecoveryRereadsCorruptManifest: a pinned object on a node that is
// not placed, whose manifest is read corrupt once by the recovery scan
// (a transient read fault), is still held, pinned and served from the
// node's own disk after the restart; it was deleted with its pin before.
func TestRecoveryRereadsCorruptManifest(t *testing.T) {
	c := newCluster(t, 5, 21, smallChunks)
	data := randomData(31, 3*ChunkBytesMin+7)
	addr, holder := pinnedStray(t, c, data)
	h := c.nodes[holder]
	key := string(diskKey(prefixManifest, addr))
	// The next manifest scan reads the manifest with one bit flipped: the
	// bit is flipped before the scan and flipped back after it.
	armed, flipped := true, false
	h.disk.Fault = func(op *env.DiskOp) error {
		if armed && op.Kind == env.DiskScan && string(op.Prefix) == prefixManifest {
			armed, flipped = false, true
			h.disk.Corrupt(key)
		}
		return nil
	}
	observe := h.disk.Observe
	h.disk.Observe = func(op *env.DiskOp, res env.DiskResult) {
		observe(op, res)
		if flipped {
			flipped = false
			h.disk.Corrupt(key) // flips the same bit back
		}
	}
	c.restartReady(holder)
	if armed {
		t.Fatal("the fault did not fire")
	}
	if n := c.metric(holder, MetricCorruption, ""); n != 1 {
		t.Fatalf("corruption counted %v times, want 1 (the scan's read)", n)
	}
	o := h.st.index.committed(addr)
	if o == nil || !o.pinned {
		t.Fatalf("after the restart: held %v, pinned %v", o != nil, o != nil && o.pinned)
	}
	c.advance(2 * time.Second) // audits: a pinned copy is never collected
	c.cutOthers(holder, true)
	if got := c.get(holder, addr, 0, 0); got.Err != nil || !bytes.Equal(got.Data, data) {
		t.Fatalf("get from the holder alone: %v", got.Err)
	}
	if n := c.metric(holder, MetricPinsLost, ""); n != 0 {
		t.Fatalf("lost pins gauge %v", n)
	}
}

// TestRecoveryKeepsPinOfRottenManifest: a pinned object whose manifest
// stays corrupt is dropped at recovery (a corrupt manifest is never
// served), but its pin record stays, is counted in storage_pins_lost and
// survives another restart; a put of the object there is pinned again
// (never collected), and a Delete of a lost pin removes its record.
func TestRecoveryKeepsPinOfRottenManifest(t *testing.T) {
	c := newCluster(t, 5, 22, smallChunks)
	data := randomData(32, 2*ChunkBytesMin+3)
	addr, holder := pinnedStray(t, c, data)
	h := c.nodes[holder]
	pinKey := diskKey(prefixPin, addr)
	h.disk.Corrupt(string(diskKey(prefixManifest, addr)))
	c.restartReady(holder)
	if h.st.HasLocal(addr) {
		t.Fatal("a corrupt manifest was indexed")
	}
	if n := c.metric(holder, MetricCorruption, ""); n != 2 {
		t.Fatalf("corruption counted %v times, want 2 (the scan's read and the second read)", n)
	}
	if _, ok := h.disk.Durable()[string(pinKey)]; !ok {
		t.Fatal("the pin record was deleted with its manifest")
	}
	if n := c.metric(holder, MetricPinsLost, ""); n != 1 {
		t.Fatalf("lost pins gauge %v, want 1", n)
	}
	c.restartReady(holder) // the record outlives a start without its manifest
	if _, ok := h.disk.Durable()[string(pinKey)]; !ok || c.metric(holder, MetricPinsLost, "") != 1 {
		t.Fatal("the lost pin did not survive a second restart")
	}
	// A pinned put through the holder restores the copy; the lost pin is
	// forgotten once it commits.
	if res := c.put(holder, data, true); res.Err != nil {
		t.Fatalf("put: %v", res.Err)
	}
	if o := h.st.index.committed(addr); o == nil || !o.pinned || c.metric(holder, MetricPinsLost, "") != 0 {
		t.Fatalf("after the put: held %v, lost pins %v", o != nil, c.metric(holder, MetricPinsLost, ""))
	}
	c.advance(2 * time.Second)
	if !h.st.HasLocal(addr) {
		t.Fatal("restored pinned copy collected")
	}
	// Rot again, restart, and Delete: the lost pin's record goes.
	h.disk.Corrupt(string(diskKey(prefixManifest, addr)))
	c.restartReady(holder)
	if c.metric(holder, MetricPinsLost, "") != 1 {
		t.Fatal("pin not listed as lost")
	}
	del, _ := c.request(holder, Delete{Addr: addr}, time.Second).(DeleteResult)
	if del.Err != nil {
		t.Fatalf("delete of a lost pin: %v", del.Err)
	}
	if _, ok := h.disk.Durable()[string(pinKey)]; ok || c.metric(holder, MetricPinsLost, "") != 0 {
		t.Fatal("the lost pin's record outlived its Delete")
	}
	del, _ = c.request(holder, Delete{Addr: addr}, time.Second).(DeleteResult)
	if !errors.Is(del.Err, ErrNotFound) {
		t.Fatalf("second delete: %v", del.Err)
	}
}

// TestLostPinRestoredFromReplica: a pinned object whose manifest rotted
// on a node that is not placed is dropped at recovery, and the repair
// tick restores it from the placement nodes, pinned: it is then served
// by the node alone and never collected.
func TestLostPinRestoredFromReplica(t *testing.T) {
	c := newCluster(t, 5, 23, smallChunks)
	data := randomData(33, 4*ChunkBytesMin+11)
	addr, holder := pinnedStray(t, c, data)
	h := c.nodes[holder]
	h.disk.Corrupt(string(diskKey(prefixManifest, addr)))
	c.restartReady(holder)
	if h.st.HasLocal(addr) || c.metric(holder, MetricPinsLost, "") != 1 {
		t.Fatalf("after the restart: held %v, lost pins %v", h.st.HasLocal(addr), c.metric(holder, MetricPinsLost, ""))
	}
	c.advance(2 * time.Second) // ticks: the restore, then audits (GC)
	o := h.st.index.committed(addr)
	if o == nil || !o.pinned || c.metric(holder, MetricPinsLost, "") != 0 {
		t.Fatalf("after the ticks: held %v, lost pins %v", o != nil, c.metric(holder, MetricPinsLost, ""))
	}
	if _, ok := h.disk.Durable()[string(diskKey(prefixPin, addr))]; !ok {
		t.Fatal("pin record gone")
	}
	c.cutOthers(holder, true)
	if got := c.get(holder, addr, 0, 0); got.Err != nil || !bytes.Equal(got.Data, data) {
		t.Fatalf("get from the holder alone: %v", got.Err)
	}
	c.cutOthers(holder, false)
	c.restartReady(holder) // the restored copy is durable, with its pin
	if o := h.st.index.committed(addr); o == nil || !o.pinned {
		t.Fatal("restored copy lost at a restart")
	}
}
