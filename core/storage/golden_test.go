package storage

import (
	"bytes"
	"encoding/hex"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/ron-network/ron/core/proto"
)

var goldenRewrite = flag.Bool("golden-rewrite", false, "rewrite testdata/golden from the encoder")

// goldenBytes returns the golden record testdata/golden/name.hex, first
// writing encoded there under -golden-rewrite. The file is hex, 32 bytes
// a line, so a diff shows which bytes moved.
func goldenBytes(t *testing.T, name string, encoded []byte) []byte {
	t.Helper()
	path := "testdata/golden/" + name + ".hex"
	if *goldenRewrite {
		var b strings.Builder
		for s := hex.EncodeToString(encoded); len(s) > 0; s = s[min(64, len(s)):] {
			b.WriteString(s[:min(64, len(s))] + "\n")
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (create it with -golden-rewrite)", err)
	}
	want, err := hex.DecodeString(strings.ReplaceAll(string(text), "\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	return want
}

// TestGoldenManifest: the on-disk manifest format cannot drift silently.
// The golden decodes and re-encodes byte for byte, and the encoder still
// writes it for the same manifest.
func TestGoldenManifest(t *testing.T) {
	m := Manifest{Size: 3*ChunkBytesDefault + 5, Chunks: []ChunkRef{
		{Addr: proto.AddrOf([]byte("chunk 0")), Size: ChunkBytesDefault},
		{Addr: proto.AddrOf([]byte("chunk 1")), Size: ChunkBytesDefault},
		{Addr: proto.AddrOf([]byte("chunk 2")), Size: ChunkBytesDefault},
		{Addr: proto.AddrOf([]byte("chunk 3")), Size: 5},
	}}
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
