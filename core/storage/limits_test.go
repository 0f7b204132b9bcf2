package storage

import (
	"bytes"
	"testing"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// TestLimitRelations asserts how the limits derive from each other.
func TestLimitRelations(t *testing.T) {
	full := encodeFrame(1<<47, &message{kind: kindReply, status: statusOK, data: make([]byte, ChunkBytesMax)})
	if len(full) > oap.FrameBytesMax {
		t.Fatalf("a full chunk reply is %d bytes, over the frame cap", len(full))
	}
	if ChunkBytesMax > env.DiskValueBytesMax || ChunkBytesDefault > ChunkBytesMax || ChunkBytesMin > ChunkBytesDefault {
		t.Fatal("chunk limits out of order")
	}
	if ChunkBytesMax >= 1<<21 {
		t.Fatal("chunk sizes need more than the 3 varint bytes manifestEntryBytesMax assumes")
	}
	_, m := Split(make([]byte, ObjectBytesMax), ChunkBytesMin)
	enc := AppendManifest(nil, &m)
	if len(m.Chunks) != ManifestChunksMax || len(enc) > ManifestBytesMax || len(env.Seal(enc)) > env.DiskValueBytesMax {
		t.Fatalf("largest manifest: %d chunks, %d bytes", len(m.Chunks), len(enc))
	}
	commit := encodeFrame(1, &message{kind: kindCommit, data: enc})
	missing := encodeFrame(1, &message{kind: kindReply, status: statusMissing, data: appendAddrs(nil, make([]proto.Addr, ManifestChunksMax))})
	if len(commit) > oap.FrameBytesMax || len(missing) > oap.FrameBytesMax {
		t.Fatal("a commit or missing list of the largest object does not fit a frame")
	}
	if tagSweep<<tagKindShift|tagValueMask > 1<<56-1 {
		t.Fatal("tags exceed node.TagMax")
	}
	if err := (Config{Members: []proto.NodeID{{1}}, ChunkBytes: ChunkBytesMax + 1}).Validate(); err == nil {
		t.Fatal("oversize chunk config accepted")
	}
	if err := (Config{}).Validate(); err == nil {
		t.Fatal("config without membership accepted")
	}
	if err := (Config{Members: []proto.NodeID{{1}}, Replicas: 2, WriteQuorum: 3}).Validate(); err == nil {
		t.Fatal("W > R accepted")
	}
}

func TestDiskKeysRoundTrip(t *testing.T) {
	a := proto.AddrOf([]byte("k"))
	got, ok := addrFromKey(prefixManifest, diskKey(prefixManifest, a))
	if !ok || got != a {
		t.Fatal("manifest key round trip")
	}
	if _, ok := addrFromKey(prefixManifest, diskKey(prefixChunk, a)); ok {
		t.Fatal("chunk key parsed as a manifest key")
	}
	if !bytes.HasPrefix(diskKey(prefixPin, a), []byte("s/p/")) {
		t.Fatal("pin prefix")
	}
}
