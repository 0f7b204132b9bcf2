package storage

import (
	"bytes"
	"testing"
	"time"
)

// TestRepairFlagOffWaitsAndOnRestores: with repair off on every node a
// wiped replica is not restored, while puts and gets stay correct; with it
// back on the replica is restored.
func TestRepairFlagOffWaitsAndOnRestores(t *testing.T) {
	c := newCluster(t, 5, 6, smallChunks)
	data := randomData(13, 5*ChunkBytesMin)
	res := c.put(1, data, false)
	c.advance(time.Second)
	for i := range c.nodes {
		if got := c.request(i, SetRepair{Enabled: false}, time.Second); got != (SetRepair{Enabled: false}) {
			t.Fatalf("node %d: SetRepair replied %#v", i, got)
		}
	}
	lost := c.placed(res.Addr, 3)[1]
	c.crash(lost)
	c.nodes[lost].disk.Wipe() // the disk is gone
	c.start(lost)
	c.step()
	// A restarted machine is built from its config: the node's owner
	// builds it with the flag's current state (io/runtime NodeSpec).
	c.request(lost, SetRepair{Enabled: false}, time.Second)
	c.advance(5 * time.Second)
	if c.nodes[lost].st.HasLocal(res.Addr) {
		t.Fatal("repair off, yet the wiped replica was restored")
	}
	other := randomData(14, 3*ChunkBytesMin)
	if put := c.put(0, other, false); put.Err != nil {
		t.Fatalf("put with repair off: %v", put.Err)
	}
	for i := range c.nodes {
		got, _ := c.request(i, Get{Addr: res.Addr}, 5*time.Second).(GetResult)
		if got.Err != nil || !bytes.Equal(got.Data, data) {
			t.Fatalf("get on node %d with repair off: %v", i, got.Err)
		}
	}
	for i := range c.nodes {
		c.request(i, SetRepair{Enabled: true}, time.Second)
	}
	c.advance(3 * time.Second)
	if !c.nodes[lost].st.HasLocal(res.Addr) || !c.durableCopy(lost, res.Addr) {
		t.Fatal("repair back on did not restore the replica")
	}
}
