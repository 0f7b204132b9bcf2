//go:build canary

package storage

import (
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto"
)

// These tests enable a deliberate bug and show that a hand-driven check
// (the same one the simulator's checkers make) catches it. They pass when
// the check detects the violation.

// TestCanaryServeUnverified: with verification off, a replica whose chunk
// rotted on disk serves the rotten bytes; the integrity check (the bytes
// returned must hash to the address) catches it.
func TestCanaryServeUnverified(t *testing.T) {
	cfg := smallChunks
	cfg.BugServeUnverified = true
	c := newCluster(t, 4, 21, cfg)
	data := randomData(21, 3*ChunkBytesMin)
	res := c.put(0, data, false)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	c.advance(time.Second)
	victim, _, _ := c.rotChunk(res.Addr, data, 1, 7, 0x80)

	got := c.get(victim, res.Addr, 0, 0)
	if got.Err == nil && proto.AddrOf(got.Data) == res.Addr {
		t.Fatal("canary not caught: the bug was enabled but the get returned verified bytes")
	}
	if got.Err == nil && proto.AddrOf(got.Data) != res.Addr {
		t.Logf("caught: get returned %d bytes that do not hash to %s", len(got.Data), res.Addr.Short())
	}
}

// TestCanaryAckBeforeSync: replicas acknowledge before their writes are
// synced; a crash of every node right after the acknowledgement loses the
// acknowledged object, which the durability check catches.
func TestCanaryAckBeforeSync(t *testing.T) {
	cfg := smallChunks
	cfg.BugAckBeforeSync = true
	c := newCluster(t, 3, 22, cfg)
	data := randomData(22, 2*ChunkBytesMin)
	res := c.put(0, data, false)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	for i := range c.nodes {
		c.crash(i)
	}
	lost := 0
	for i := range c.nodes {
		if !c.durableCopy(i, res.Addr) {
			lost++
		}
	}
	if lost < 2 {
		t.Fatalf("canary not caught: %d of 3 nodes still hold the acknowledged object after the crash", 3-lost)
	}
	for i := range c.nodes {
		c.start(i)
	}
	c.step()
	if got := c.get(1, res.Addr, 0, 0); got.Err == nil {
		t.Fatal("canary not caught: the acknowledged object survived")
	}
}
