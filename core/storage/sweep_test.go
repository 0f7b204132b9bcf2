package storage

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// orphans lists the chunk keys of state that no manifest in state lists.
func orphans(state map[string][]byte) []string {
	listed := map[string]bool{}
	for _, k := range env.SortedKeys(state) {
		addr, ok := addrFromKey(prefixManifest, []byte(k))
		if !ok {
			continue
		}
		raw, err := env.Unseal(state[k])
		if err != nil {
			continue
		}
		m, err := DecodeManifest(raw)
		if err != nil || m.checkFor(addr) != nil {
			continue
		}
		for _, c := range m.Chunks {
			listed[string(diskKey(prefixChunk, c.Addr))] = true
		}
	}
	var out []string
	for _, k := range env.SortedKeys(state) {
		if strings.HasPrefix(k, prefixChunk) && !listed[k] {
			out = append(out, k)
		}
	}
	return out
}

// inject writes key=value on node i's disk, durably, behind the machine's
// back: what a previous incarnation could have left.
func (c *cluster) inject(i int, key string, value []byte) {
	c.nodes[i].disk.Plant(key, bytes.Clone(value))
}

// storeChunkFrom delivers a peer's StoreChunk of data to node i. The
// frame names node i itself as its sender (a member, as a non-member's
// push is refused, and no second node's puts change what the sweep
// finds); the reply matches no request of node i and is dropped.
func (c *cluster) storeChunkFrom(i int, data []byte) {
	peer := c.nodes[i].id
	c.handle(c.nodes[i], env.Message{From: peer, Frame: encodeFrame(1, &message{kind: kindStoreChunk, addr: proto.AddrOf(data), data: data})})
}

// restart crashes node i and starts it again over its disk, with the
// disk's scan counters zeroed; it does not run the cluster.
func (c *cluster) restart(i int) {
	c.crash(i)
	c.nodes[i].disk.keysOnlyScans, c.nodes[i].disk.chunkBytesScanned = 0, 0
	c.start(i)
}

// completeUntilReady completes node i's disk ops one at a time until its
// recovery finished, leaving later ops (the first sweep page) pending.
func (c *cluster) completeUntilReady(i int) {
	h := c.nodes[i]
	if !c.c.RunUntil(time.Minute, h.st.Ready) {
		c.t.Fatalf("node %d: recovery did not finish", i)
	}
}

// TestSweepRemovesOrphansAfterRestart stages chunks through an upload
// session and through a peer's pushes, makes them durable (a later put
// syncs), crashes and restarts: the sweep deletes exactly the staged
// chunks no committed object lists, keeps a staged chunk a committed
// object shares, reads no chunk bytes, and counts what it deleted.
func TestSweepRemovesOrphansAfterRestart(t *testing.T) {
	c := newCluster(t, 1, 41, smallChunks)
	kept := randomData(41, 3*ChunkBytesMin)
	if r := c.put(0, kept, false); r.Err != nil {
		t.Fatal(r.Err)
	}
	s := c.begin(0, false)
	c.stream(0, s, append(bytes.Clone(kept[:ChunkBytesMin]), randomData(42, 2*ChunkBytesMin)...), ChunkBytesMin)
	c.storeChunkFrom(0, randomData(43, ChunkBytesMin))
	c.storeChunkFrom(0, randomData(44, ChunkBytesMin/2))
	c.step()
	later := randomData(45, 2*ChunkBytesMin+7)
	if r := c.put(0, later, true); r.Err != nil {
		t.Fatal(r.Err)
	}
	// The session's first chunk has kept's first chunk's bytes at the
	// same offset, so its chaining-value key is kept's; the other two are
	// orphans (the first chunk is never written under its root key, the
	// address it would have alone, once a second chunk followed).
	if n := len(orphans(c.nodes[0].disk.Durable())); n != 4 {
		t.Fatalf("%d durable orphans before the crash, want 4 (2 of the session, 2 pushed)", n)
	}
	c.restart(0)
	c.settle()
	h := c.nodes[0]
	st := h.st.Stats()
	if left := orphans(h.disk.State()); len(left) != 0 || st.OrphansSwept != 4 || st.Sweeping {
		t.Fatalf("after restart: orphans %q left, %d swept, sweeping %v", left, st.OrphansSwept, st.Sweeping)
	}
	if got := c.metric(0, MetricOrphansSwept, ""); got != 4 {
		t.Fatalf("%s = %v, want 4", MetricOrphansSwept, got)
	}
	if h.disk.chunkBytesScanned != 0 || h.disk.keysOnlyScans != 1 {
		t.Fatalf("the sweep read %d chunk bytes in %d keys-only scans, want 0 bytes in 1 scan", h.disk.chunkBytesScanned, h.disk.keysOnlyScans)
	}
	for _, data := range [][]byte{kept, later} {
		addr := proto.AddrOf(data)
		if got := c.get(0, addr, 0, 0); got.Err != nil || !bytes.Equal(got.Data, data) {
			t.Fatalf("committed object %s after the sweep: %v", addr.Short(), got.Err)
		}
		if !holdsCopy(h.disk.State(), addr) {
			t.Fatalf("committed object %s lost a chunk to the sweep", addr.Short())
		}
	}
}

// TestSweepPagesKeysOnly: a store with more chunk keys than several pages
// is swept page by page, each a keys-only scan of SweepPageMax keys; the
// node is ready (serves) before the sweep ends.
func TestSweepPagesKeysOnly(t *testing.T) {
	c := newCluster(t, 1, 46, smallChunks)
	data := randomData(46, 5*ChunkBytesMin)
	if r := c.put(0, data, true); r.Err != nil {
		t.Fatal(r.Err)
	}
	const injected = 2*SweepPageMax + 100
	rand := env.NewRand(46)
	for range injected {
		var a proto.Addr
		rand.Fill(a[:])
		c.inject(0, string(diskKey(prefixChunk, a)), []byte("orphan"))
	}
	c.restart(0)
	c.completeUntilReady(0)
	h := c.nodes[0]
	if !h.st.Stats().Sweeping {
		t.Fatal("the sweep is not running when recovery finished")
	}
	if !h.st.HasLocal(proto.AddrOf(data)) {
		t.Fatal("a ready node does not serve its objects while sweeping")
	}
	var scans []env.DiskOp
	for _, op := range c.c.PendingDisk(0) {
		if op.Kind == env.DiskScan {
			scans = append(scans, op)
		}
	}
	if len(scans) != 1 || !scans[0].KeysOnly || scans[0].Limit != SweepPageMax {
		t.Fatalf("pending scans %+v, want one keys-only page of %d", scans, SweepPageMax)
	}
	c.settle()
	pages := (injected + 5 + SweepPageMax - 1) / SweepPageMax // the object's 5 chunks are keys too
	st := h.st.Stats()
	if left := orphans(h.disk.State()); len(left) != 0 || st.OrphansSwept != injected || st.Sweeping || h.disk.keysOnlyScans != pages {
		t.Fatalf("%d orphans left, %d swept in %d scans (want %d in %d), sweeping %v",
			len(left), st.OrphansSwept, h.disk.keysOnlyScans, injected, pages, st.Sweeping)
	}
	if !holdsCopy(h.disk.State(), proto.AddrOf(data)) {
		t.Fatal("the committed object lost a chunk to the sweep")
	}
}

// TestSweepSparesChunkStoredMeanwhile: a peer pushes a chunk that is on
// disk as an orphan while the sweep page listing it is in flight. The
// page is handled after the push's write was submitted but before it
// completed (the chunk is not staged yet); the sweep must spare it, or the
// commit that follows would make an object without its chunk.
func TestSweepSparesChunkStoredMeanwhile(t *testing.T) {
	c := newCluster(t, 1, 47, smallChunks)
	chunk := randomData(47, ChunkBytesMin)
	addr := proto.AddrOf(chunk) // a one-chunk object: chunk and object share the address
	c.inject(0, string(diskKey(prefixChunk, addr)), chunk)
	c.restart(0)
	c.completeUntilReady(0) // the sweep page listing the orphan is pending
	c.storeChunkFrom(0, bytes.Clone(chunk))
	c.step()
	_, man := Split(chunk, ChunkBytesMin)
	peer := c.nodes[0].id // a member (storeChunkFrom)
	c.handle(c.nodes[0], env.Message{From: peer, Frame: encodeFrame(2, &message{kind: kindCommit, addr: addr, data: AppendManifest(nil, &man)})})
	c.step()
	h := c.nodes[0]
	if !h.st.HasLocal(addr) || !c.durableCopy(0, addr) {
		t.Fatalf("committed %v, durable copy %v: the sweep deleted a chunk being stored", h.st.HasLocal(addr), c.durableCopy(0, addr))
	}
	if st := h.st.Stats(); st.OrphansSwept != 0 || st.Sweeping {
		t.Fatalf("swept %d chunks, sweeping %v; want 0, false", st.OrphansSwept, st.Sweeping)
	}
}

// TestSweepRetriesFailedPage: a page that fails with an I/O error is
// retried from the same key at the next tick, not in a loop.
func TestSweepRetriesFailedPage(t *testing.T) {
	c := newCluster(t, 1, 48, smallChunks)
	var a proto.Addr
	a[0] = 0x42
	c.inject(0, string(diskKey(prefixChunk, a)), []byte("orphan"))
	h := c.nodes[0]
	h.disk.failKeysOnly = 1
	c.restart(0)
	c.settle()
	if st := h.st.Stats(); !st.Sweeping || len(orphans(h.disk.State())) != 1 || h.disk.keysOnlyScans != 1 {
		t.Fatalf("after a failed page: sweeping %v, %d orphans, %d scans; want true, 1, 1", st.Sweeping, len(orphans(h.disk.State())), h.disk.keysOnlyScans)
	}
	c.advance(2 * smallChunks.RepairInterval)
	if st := h.st.Stats(); st.Sweeping || st.OrphansSwept != 1 || len(orphans(h.disk.State())) != 0 || h.disk.keysOnlyScans != 2 {
		t.Fatalf("after the next tick: sweeping %v, swept %d, %d scans; want false, 1, 2", st.Sweeping, st.OrphansSwept, h.disk.keysOnlyScans)
	}
}

// TestSweepSkippedWhenRecoveryIncomplete: when recovery could not index
// every manifest (here a malformed manifest key), the index does not know
// every referenced chunk, so nothing is swept.
func TestSweepSkippedWhenRecoveryIncomplete(t *testing.T) {
	c := newCluster(t, 1, 49, smallChunks)
	var a proto.Addr
	a[0] = 0x43
	c.inject(0, string(diskKey(prefixChunk, a)), []byte("maybe listed"))
	c.inject(0, prefixManifest+"not-hex", []byte("?"))
	c.restart(0)
	c.settle()
	c.advance(time.Second)
	h := c.nodes[0]
	if st := h.st.Stats(); !h.st.Ready() || st.Sweeping || st.OrphansSwept != 0 || h.disk.keysOnlyScans != 0 {
		t.Fatalf("ready %v, sweeping %v, swept %d, %d scans; want ready and no sweep", h.st.Ready(), st.Sweeping, st.OrphansSwept, h.disk.keysOnlyScans)
	}
	if !slices.Contains(orphans(h.disk.State()), string(diskKey(prefixChunk, a))) {
		t.Fatal("a chunk was deleted although the index is incomplete")
	}
}
