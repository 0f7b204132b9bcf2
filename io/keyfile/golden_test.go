package keyfile

import (
	"bytes"
	"encoding/hex"
	"flag"
	"os"
	"strings"
	"testing"
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

// TestGoldenCapKey: the capability key file format cannot drift
// silently: the golden (made once by NewCapKey and a rotation, under
// -golden-rewrite) parses and marshals back byte for byte.
func TestGoldenCapKey(t *testing.T) {
	var fresh []byte
	if *goldenRewrite {
		k, err := NewCapKey()
		if err != nil {
			t.Fatal(err)
		}
		fresh = k.Marshal()
	}
	want := goldenBytes(t, "capkey", fresh)
	k, err := ParseCapKey(want)
	if err != nil {
		t.Fatalf("golden does not parse: %v", err)
	}
	if again := k.Marshal(); !bytes.Equal(again, want) {
		t.Fatalf("golden re-encodes differently:\n got %q\nwant %q", again, want)
	}
}
