package storage

import (
	"bytes"
	"testing"

	"github.com/ron-network/ron/internal/golden"
)

// goldenBytes is golden.Bytes: testdata/golden/name.hex, rewritten from
// encoded under -golden-rewrite.
func goldenBytes(t *testing.T, name string, encoded []byte) []byte {
	t.Helper()
	return golden.Bytes(t, name, encoded)
}

// TestGoldenManifest: the on-disk manifest format cannot drift silently.
// The golden decodes and re-encodes byte for byte, and the encoder still
// writes it for the same manifest.
func TestGoldenManifest(t *testing.T) {
	data := bytes.Repeat([]byte("golden manifest "), (3*ChunkBytesDefault+5)/16+1)[:3*ChunkBytesDefault+5]
	addr, m := Split(data, ChunkBytesDefault)
	if len(m.Chunks) != 4 || m.checkFor(addr) != nil {
		t.Fatalf("split: %d chunks", len(m.Chunks))
	}
	want := goldenBytes(t, "manifest", AppendManifest(nil, &m))
	got, err := DecodeManifest(want)
	if err != nil {
		t.Fatalf("golden does not decode: %v", err)
	}
	if again := AppendManifest(nil, &got); !bytes.Equal(again, want) {
		t.Fatalf("golden re-encodes differently:\n got %x\nwant %x", again, want)
	}
	if enc := AppendManifest(nil, &m); !bytes.Equal(enc, want) {
		t.Fatalf("the encoder drifted from the golden:\n got %x\nwant %x", enc, want)
	}
}
