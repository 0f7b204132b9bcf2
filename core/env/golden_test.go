package env

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

// TestGoldenSeal: the checksum sealed onto raft entries, hard state,
// registry state and records on disk (CRC-32C, big-endian, appended)
// cannot drift silently: the golden unseals, and sealing its value again
// gives the golden byte for byte.
func TestGoldenSeal(t *testing.T) {
	value := []byte("raft hard state: term 7, vote 2, commit 41")
	want := goldenBytes(t, "seal", Seal(value))
	got, err := Unseal(want)
	if err != nil {
		t.Fatalf("golden does not unseal: %v", err)
	}
	if !bytes.Equal(got, value) || !bytes.Equal(Seal(got), want) {
		t.Fatalf("golden reseals differently: value %q, sealed %x", got, Seal(got))
	}
}
