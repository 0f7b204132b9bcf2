package storage

import (
	"bytes"
	"testing"
)

// TestCommitSizeLieOverHeldChunk: a node holds an object (three chunks)
// and a liar commits its two-chunk prefix (a distinct object whose chunks
// it already holds, at the same offsets) with a manifest that claims one
// byte less for the last chunk, without pushing anything (the chunks are
// held, so none is missing). The node has not verified that chunk's
// length (no push staged it, no group cache verdict), so it reads the
// chunk, finds the lie and refuses it (statusBad); the honest manifest
// then commits, and nothing counts corruption. The old code committed the
// lie (doc.go's known gap: a held chunk was not judged on its size), and
// the node's own manifest of the prefix then claimed a Size that is not
// the object's.
func TestCommitSizeLieOverHeldChunk(t *testing.T) {
	const cb = 64 << 10
	c, data, res := stored3Chunks(t, 75)
	target := c.placed(res.Addr, 3)[1] // holds the object; not the put's coordinator
	liar := c.notPlaced(res.Addr, 3)[0]
	st := c.nodes[target].st
	st.groups = newGroupCache(GroupCacheBytesMax) // no length verdict cached
	prefix := data[:2*cb]
	addr, honest := Split(prefix, cb)
	lie := lastSizeLie(t, honest, addr, -1)
	for _, ch := range honest.Chunks {
		if !st.index.hasChunk(ch.Addr) {
			t.Fatalf("the prefix's chunk %s is not held through the object", ch.Addr.Short())
		}
	}
	if rep := c.exchange(liar, target, 0xfeed_0001, &message{kind: kindCommit, addr: addr, data: AppendManifest(nil, &lie)}); rep.status != statusBad || st.index.objects[addr] != nil {
		t.Fatalf("commit of the size lie over held chunks: status %d, held %v; want statusBad, not held", rep.status, st.index.objects[addr] != nil)
	}
	// The read's verified length is cached: a retried lie, a range's side
	// check or checkEnd judge the claim without another read.
	lastRef := honest.Chunks[len(honest.Chunks)-1]
	if got := st.groups.verified(lastRef.Addr, honest.chunkOffset(len(honest.Chunks)-1)); got != uint64(lastRef.Size) {
		t.Fatalf("verified length of the last chunk after the commit's read: %d, want %d", got, lastRef.Size)
	}
	if rep := c.exchange(liar, target, 0xfeed_0004, &message{kind: kindCommit, addr: addr, data: AppendManifest(nil, &honest)}); rep.status != statusOK {
		t.Fatalf("commit of the honest manifest: status %d", rep.status)
	}
	if got := c.get(target, addr, 0, 0); got.Err != nil || !bytes.Equal(got.Data, prefix) || got.Size != uint64(len(prefix)) {
		t.Fatalf("get of the prefix: %v, size %d", got.Err, got.Size)
	}
	for n := range c.nodes {
		c.noDamage(n)
	}
}
